// SPDX-License-Identifier: GPL-2.0

//! `struct mmu_interval_notifier`: a subscription to invalidations of a range of an mm, and
//! the driver's table that it keeps coherent.
//!
//! The notifier protocol is enforced here: the callback takes the table's lock and calls
//! `mmu_interval_set_seq()` before the driver erases anything ([`Invalidate::invalidate`]),
//! and a guard through which the driver may *add* entries ([`Validated`]) exists only after
//! `mmu_interval_read_retry()` found no invalidation since `mmu_interval_read_begin()`
//! ([`IntervalNotifier::lock_checked`]), under that same lock.

use super::Owner;
use core::ops::{Deref, DerefMut};
use kernel::{
    bindings,
    error::to_result,
    ffi::c_ulong,
    mm::Mm,
    prelude::*,
    sync::{Mutex, MutexGuard},
    types::Opaque, //
};

/// The driver side of an interval notifier (C: `struct mmu_interval_notifier_ops`): a table
/// of mappings under a mutex, whose entries an invalidation erases.
pub(crate) trait Invalidate: Send + Sync + Sized {
    /// What the lock protects (C: the device page table under `dmirror->mutex`).
    type Table: Send + Unpin;

    /// The lock around the table: the callback holds it while it calls
    /// `mmu_interval_set_seq()` and [`Self::invalidate`]; [`IntervalNotifier::lock_checked`]
    /// holds it while it calls `mmu_interval_read_retry()`.
    fn table(&self) -> &Mutex<Self::Table>;

    /// Whether the invalidation is one the driver runs itself and updates the table for
    /// (its own migration or device-exclusive conversion): then the table is neither locked
    /// nor touched and the sequence is not advanced.
    fn skip(&self, range: &NotifierRange<'_>) -> bool;

    /// Erases the table's entries of `range`, under the lock, after the sequence advanced.
    fn invalidate(table: &mut Self::Table, range: &NotifierRange<'_>);
}

/// A sequence number from [`IntervalNotifier::read_begin`].
#[derive(Clone, Copy)]
pub(crate) struct ReadSeq(c_ulong);

impl ReadSeq {
    /// A sequence number taken by the core (`hmm_range_fault_unlocked_timeout()` fills
    /// `range->notifier_seq` itself).
    pub(super) fn from_raw(seq: c_ulong) -> Self {
        ReadSeq(seq)
    }

    /// The raw number, for `hmm_range::notifier_seq`.
    pub(super) fn raw(self) -> c_ulong {
        self.0
    }
}

/// The locked table, after no invalidation ran since a [`ReadSeq`] was taken: entries for
/// pages looked up (or migrated) since then may be stored through it. Derefs to the table.
pub(crate) struct Validated<'a, L> {
    guard: MutexGuard<'a, L>,
}

impl<L> Deref for Validated<'_, L> {
    type Target = L;
    fn deref(&self) -> &L {
        &self.guard
    }
}

impl<L: Unpin> DerefMut for Validated<'_, L> {
    fn deref_mut(&mut self) -> &mut L {
        &mut self.guard
    }
}

/// The range passed to an invalidation callback (`struct mmu_notifier_range`).
pub(crate) struct NotifierRange<'a> {
    raw: &'a bindings::mmu_notifier_range,
}

impl NotifierRange<'_> {
    /// First byte of the invalidated range.
    pub(crate) fn start(&self) -> usize {
        self.raw.start
    }

    /// One past the last byte of the invalidated range.
    pub(crate) fn end(&self) -> usize {
        self.raw.end
    }

    /// `mmu_notifier_range_blockable()`.
    pub(crate) fn blockable(&self) -> bool {
        // SAFETY: `raw` is a valid range for the duration of the callback.
        unsafe { bindings::mmu_notifier_range_blockable(self.raw) }
    }

    /// `range->event == MMU_NOTIFY_MIGRATE && range->owner == owner`: the invalidation is
    /// part of a migration that the device with this owner cookie drives.
    pub(crate) fn is_migration_by(&self, owner: Owner) -> bool {
        self.raw.event == bindings::mmu_notifier_event_MMU_NOTIFY_MIGRATE
            && self.raw.owner == owner.as_ptr()
    }

    /// `range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == owner`: the conversion of a
    /// page to device-exclusive that `make_device_exclusive(.., owner, ..)` makes.
    pub(crate) fn is_exclusive_by(&self, owner: Owner) -> bool {
        self.raw.event == bindings::mmu_notifier_event_MMU_NOTIFY_EXCLUSIVE
            && self.raw.owner == owner.as_ptr()
    }
}

/// An `mmu_interval_notifier` inserted on an mm, together with the driver data `T` that
/// its callback works on.
///
/// # Invariants
///
/// `sub` was inserted with `mmu_interval_notifier_insert()` (which holds an `mmgrab`
/// reference on the mm) and is removed exactly once, on drop.
#[pin_data(PinnedDrop)]
pub(crate) struct IntervalNotifier<T: Invalidate> {
    #[pin]
    data: T,
    #[pin]
    sub: Opaque<bindings::mmu_interval_notifier>,
}

// SAFETY: The C structure is only touched through the mmu notifier API, which is
// thread-safe; `T` is `Send`.
unsafe impl<T: Invalidate> Send for IntervalNotifier<T> {}
// SAFETY: All `&self` methods call thread-safe C functions or read `T`, which is `Sync`.
unsafe impl<T: Invalidate> Sync for IntervalNotifier<T> {}

#[pinned_drop]
impl<T: Invalidate> PinnedDrop for IntervalNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant `sub` is inserted and removed only here. Removal
        // waits for running callbacks, so none uses `data` after this returns.
        unsafe { bindings::mmu_interval_notifier_remove(self.sub.get()) };
    }
}

impl<T: Invalidate> IntervalNotifier<T> {
    const OPS: bindings::mmu_interval_notifier_ops = bindings::mmu_interval_notifier_ops {
        invalidate: Some(Self::invalidate_callback),
        invalidate_start: None,
        invalidate_finish: None,
    };

    const fn ops() -> &'static bindings::mmu_interval_notifier_ops {
        &Self::OPS
    }

    /// `mmu_interval_notifier_insert(sub, mm, start, length, ops)` with `data` for the
    /// callback. `data` is initialised first: the callback may run as soon as the
    /// notifier is inserted.
    pub(crate) fn new<'a>(
        data: impl PinInit<T, Error> + 'a,
        mm: &'a Mm,
        start: usize,
        length: usize,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        try_pin_init!(Self {
            data <- data,
            sub <- Opaque::try_ffi_init(move |slot: *mut bindings::mmu_interval_notifier| {
                // SAFETY: `slot` is valid for writes; an all-zero notifier is what
                // `mmu_interval_notifier_insert` expects to fill in.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is pinned (it is dropped by `PinnedDrop`, which removes
                // it first), `mm` is a live mm, and the ops table is static.
                // INVARIANT: On success the notifier is inserted.
                to_result(unsafe {
                    bindings::mmu_interval_notifier_insert(
                        slot,
                        mm.as_raw(),
                        start,
                        length,
                        Self::ops(),
                    )
                })
            }),
        })
    }

    /// # Safety
    ///
    /// Called by the core mm with a notifier inserted by [`Self::new`] and a valid range.
    unsafe extern "C" fn invalidate_callback(
        sub: *mut bindings::mmu_interval_notifier,
        range: *const bindings::mmu_notifier_range,
        cur_seq: c_ulong,
    ) -> bool {
        let field = sub.cast::<Opaque<bindings::mmu_interval_notifier>>();
        // SAFETY: Only `Self::new` inserts notifiers with `Self::OPS`, and it embeds them
        // in a `Self` at field `sub`; the notifier is removed before `Self` is freed.
        let this = unsafe { &*kernel::container_of!(field, Self, sub) };
        // SAFETY: The core mm passes a range that is valid for the duration of the call.
        let raw = unsafe { &*range };
        let range = NotifierRange { raw };
        let data = &this.data;
        if data.skip(&range) {
            return true;
        }
        let mut table = if range.blockable() {
            data.table().lock()
        } else {
            match data.table().try_lock() {
                Some(g) => g,
                None => return false,
            }
        };
        // SAFETY: By the type invariant the notifier is inserted; `cur_seq` is the value the
        // core passed to this callback, set under the table's lock as the protocol requires.
        unsafe { bindings::mmu_interval_set_seq(this.sub.get(), cur_seq) };
        T::invalidate(&mut table, &range);
        true
    }

    /// The driver data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// The mm the notifier is inserted on (`interval_sub->mm`).
    pub(crate) fn mm(&self) -> &Mm {
        // SAFETY: By the type invariant the notifier is inserted, so `mm` is set and holds
        // an `mmgrab` reference until removal, which happens after `self` is borrowed.
        unsafe { Mm::from_raw((*self.sub.get()).mm) }
    }

    /// The raw notifier, for `hmm_range::notifier`.
    pub(super) fn as_raw(&self) -> *mut bindings::mmu_interval_notifier {
        self.sub.get()
    }

    /// `mmu_interval_read_begin()`: waits for a running invalidation of the range to end.
    /// Call it before looking up (or migrating) what the table will map, holding no lock
    /// that an invalidation may wait for (the table's lock, a folio lock).
    pub(crate) fn read_begin(&self) -> ReadSeq {
        // SAFETY: By the type invariant the notifier is inserted.
        ReadSeq(unsafe { bindings::mmu_interval_read_begin(self.sub.get()) })
    }

    /// Locks the table, then `mmu_interval_read_retry(seq)`: `Ok` with a guard that may
    /// store entries if no invalidation ran since `seq` was taken, else `Err` with a plain
    /// guard (erase what the table may hold of the range, then retry or give up).
    pub(crate) fn lock_checked(
        &self,
        seq: ReadSeq,
    ) -> core::result::Result<Validated<'_, T::Table>, MutexGuard<'_, T::Table>> {
        let guard = self.data.table().lock();
        // SAFETY: By the type invariant the notifier is inserted. The callback advances the
        // sequence under the same lock, which is held.
        if unsafe { bindings::mmu_interval_read_retry(self.sub.get(), seq.0) } {
            Err(guard)
        } else {
            Ok(Validated { guard })
        }
    }
}
