// SPDX-License-Identifier: GPL-2.0

//! `struct mmu_interval_notifier`: a subscription to invalidations of a range of an mm.

use super::Owner;
use kernel::{
    bindings,
    error::to_result,
    ffi::c_ulong,
    mm::Mm,
    prelude::*,
    types::Opaque, //
};

/// The driver side of an interval notifier (C: `struct mmu_interval_notifier_ops`).
pub(crate) trait Invalidate: Send + Sync + Sized {
    /// Called before the range is invalidated. Must call [`IntervalNotifier::set_seq`]
    /// under the lock that readers hold around [`IntervalNotifier::read_retry`].
    /// Return `false` only if sleeping was required but `range.blockable()` is false.
    fn invalidate(
        notifier: &IntervalNotifier<Self>,
        range: &NotifierRange<'_>,
        cur_seq: usize,
    ) -> bool;
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
        T::invalidate(this, &range, cur_seq)
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

    /// `mmu_interval_read_begin()`.
    pub(crate) fn read_begin(&self) -> usize {
        // SAFETY: By the type invariant the notifier is inserted.
        unsafe { bindings::mmu_interval_read_begin(self.sub.get()) as usize }
    }

    /// `mmu_interval_read_retry()`: must be called under the lock that the callback holds
    /// around [`Self::set_seq`].
    pub(crate) fn read_retry(&self, seq: usize) -> bool {
        // SAFETY: By the type invariant the notifier is inserted.
        unsafe { bindings::mmu_interval_read_retry(self.sub.get(), seq as c_ulong) }
    }

    /// `mmu_interval_set_seq()`: for the invalidation callback.
    pub(crate) fn set_seq(&self, cur_seq: usize) {
        // SAFETY: By the type invariant the notifier is inserted.
        unsafe { bindings::mmu_interval_set_seq(self.sub.get(), cur_seq as c_ulong) }
    }
}
