//! [`Mapping`]: an owned mmap'd region, its constructors (anonymous, file, hugetlb,
//! aligned/THP, device) and its mm operations (mprotect, munmap, madvise, mremap).
//! The mm operations are in `mapping/ops.rs`, reading and writing the contents in
//! `contents.rs`, page ranges in `range.rs`.

use core::ffi::c_void;
use core::fmt;
use core::ptr;
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::mm::MapFlags;

use crate::{hugepage, Advice, Device, Error, Prot, Result, Sharing, TempFile, Thp};

mod ops;

/// Per-page state bit: the page is no longer owned by this mapping (unmapped or moved).
pub(crate) const GONE: u8 = 0x80;
/// Per-page state bit: MADV_FREE was given and the page was not written since by a
/// reference-based view, so the kernel may still drop its contents.
pub(crate) const LAZY_FREE: u8 = 0x40;

/// What a mapping is backed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    Anon,
    /// A file; `avail` is how many of its bytes lie from the mapping's start to its end.
    File {
        avail: u64,
    },
    Hugetlb,
    /// The device file: the driver inserts the pages at mmap time, no more.
    Device,
    /// Memory mapped by someone else (e.g. `memmap2`, `Mapping::from_raw_parts`), of
    /// unknown object.
    Foreign,
}

/// An owned `mmap` region of whole pages.
///
/// The memory is treated as *shared with the kernel*: the device may read, write or migrate
/// it at any time a request runs, so the contents are accessed only through volatile reads
/// and writes (`contents.rs`), never through long-lived references. The object tracks, page
/// by page, what it still owns and the protection it set, so safe accessors never touch an
/// unmapped or inaccessible page, and `Drop` unmaps exactly what is still owned.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    page_size: usize,
    sharing: Sharing,
    backing: Backing,
    /// One byte per page: `Prot` bits, [`LAZY_FREE`], [`GONE`]. Held during every content access and
    /// every mm syscall, so those never race each other.
    state: Mutex<Vec<u8>>,
}

// SAFETY: the pointer designates process-wide memory owned by this object (no thread
// affinity); all accesses through `&self` are serialized by the `state` mutex, and `&mut self`
// ones are exclusive by construction.
unsafe impl Send for Mapping {}
// SAFETY: see `Send`: shared access only does syscalls or volatile accesses under the mutex.
unsafe impl Sync for Mapping {}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("addr", &format_args!("{:#x}", self.addr()))
            .field("len", &self.len)
            .field("sharing", &self.sharing)
            .field("backing", &self.backing)
            .finish()
    }
}

/// Checks a mapping length: non-zero, whole pages. Returns the page count.
pub(crate) fn check_len(len: usize, page_size: usize) -> Result<usize> {
    if len == 0 {
        return Err(Error::ZeroPages);
    }
    if len % page_size != 0 {
        return Err(Error::NotPageMultiple { len, page_size });
    }
    Ok(len / page_size)
}

fn map_flags(sharing: Sharing) -> MapFlags {
    match sharing {
        Sharing::Private => MapFlags::PRIVATE,
        Sharing::Shared => MapFlags::SHARED,
    }
}

impl Mapping {
    pub(crate) fn from_raw(
        ptr: *mut c_void,
        len: usize,
        prot: Prot,
        sharing: Sharing,
        backing: Backing,
    ) -> Mapping {
        let page_size = crate::page_size();
        Mapping {
            ptr: ptr.cast(),
            len,
            page_size,
            sharing,
            backing,
            state: Mutex::new(vec![prot.bits(); len / page_size]),
        }
    }

    fn anon_flags(
        len: usize,
        prot: Prot,
        flags: MapFlags,
        sharing: Sharing,
        backing: Backing,
    ) -> Result<Mapping> {
        check_len(len, crate::page_size())?;
        // SAFETY: no address hint and no MAP_FIXED: the kernel picks free address space, so
        // no existing memory is affected.
        let p = unsafe {
            rustix::mm::mmap_anonymous(ptr::null_mut(), len, prot.to_prot_flags(), flags)
        }
        .map_err(Error::sys("mmap"))?;
        Ok(Mapping::from_raw(p, len, prot, sharing, backing))
    }

    /// `mmap(NULL, len, prot, MAP_ANONYMOUS | sharing)`.
    pub fn anon(len: usize, prot: Prot, sharing: Sharing) -> Result<Mapping> {
        Self::anon_flags(len, prot, map_flags(sharing), sharing, Backing::Anon)
    }

    /// Private anonymous read-write memory (`MAP_PRIVATE | MAP_ANONYMOUS`).
    pub fn anon_private(len: usize) -> Result<Mapping> {
        Self::anon(len, Prot::RW, Sharing::Private)
    }

    /// Shared anonymous read-write memory (`MAP_SHARED | MAP_ANONYMOUS`).
    pub fn anon_shared(len: usize) -> Result<Mapping> {
        Self::anon(len, Prot::RW, Sharing::Shared)
    }

    /// `MAP_HUGETLB` anonymous memory; `len` must be a multiple of the default huge page
    /// size. Fails with the kernel's errno (typically ENOMEM) when no huge page is free.
    pub fn hugetlb(len: usize, prot: Prot, sharing: Sharing) -> Result<Mapping> {
        check_len(len, crate::page_size())?;
        if let Some(hs) = hugepage::default_huge_page_size()? {
            if len % hs != 0 {
                return Err(Error::Misaligned {
                    what: "hugetlb length",
                    value: len,
                    align: hs,
                });
            }
        }
        Self::anon_flags(
            len,
            prot,
            map_flags(sharing) | MapFlags::HUGETLB,
            sharing,
            Backing::Hugetlb,
        )
    }

    /// Maps the first `len` bytes of `file` (`len` at most the file size).
    pub fn file(file: &TempFile, len: usize, prot: Prot, sharing: Sharing) -> Result<Mapping> {
        check_len(len, crate::page_size())?;
        if len as u64 > file.len() {
            return Err(Error::FileTooSmall {
                len,
                file_len: file.len(),
            });
        }
        // SAFETY: no hint and no MAP_FIXED, so no existing memory is affected. The file is
        // a `TempFile`: unlinked, its size fixed at creation and not changeable through this
        // crate's API, so the mapped pages stay backed (no SIGBUS).
        let p = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                prot.to_prot_flags(),
                map_flags(sharing),
                file.fd(),
                0,
            )
        }
        .map_err(Error::sys("mmap"))?;
        Ok(Mapping::from_raw(
            p,
            len,
            prot,
            sharing,
            Backing::File { avail: file.len() },
        ))
    }

    /// Maps the device file itself (the driver inserts zeroed pages; hmm-tests.c `mixedmap`).
    pub fn device(dev: &Device, len: usize, prot: Prot, sharing: Sharing) -> Result<Mapping> {
        check_len(len, crate::page_size())?;
        // SAFETY: no hint and no MAP_FIXED, so no existing memory is affected.
        let p = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                prot.to_prot_flags(),
                map_flags(sharing),
                dev.as_fd(),
                0,
            )
        }
        .map_err(Error::sys("mmap"))?;
        Ok(Mapping::from_raw(p, len, prot, sharing, Backing::Device))
    }

    /// Private anonymous memory whose start is a multiple of `align` (a power of two, at least
    /// a page): maps `len + align` bytes and unmaps the excess on both sides, like the THP
    /// tests' `ALIGN(ptr, size)` over a doubled buffer.
    pub fn aligned(len: usize, align: usize, prot: Prot) -> Result<Mapping> {
        let ps = crate::page_size();
        check_len(len, ps)?;
        if !align.is_power_of_two() || align < ps {
            return Err(Error::Misaligned {
                what: "alignment",
                value: align,
                align: ps,
            });
        }
        let total = len.checked_add(align).ok_or(Error::Overflow)?;
        let big = Self::anon(total, prot, Sharing::Private)?;
        let base = big.addr();
        let start = base
            .checked_next_multiple_of(align)
            .ok_or(Error::Overflow)?;
        let head = (start - base) / ps;
        let tail_first = head + len / ps;
        let tail = big.npages() - tail_first;
        if head > 0 {
            big.unmap_pages(0, head)?;
        }
        if tail > 0 {
            big.unmap_pages(tail_first, tail)?;
        }
        // Hand the middle over to a new object; `big` now owns nothing.
        let mut st = big.lock();
        for s in &mut st[head..tail_first] {
            *s |= GONE;
        }
        drop(st);
        Ok(Mapping::from_raw(
            start as *mut c_void,
            len,
            prot,
            Sharing::Private,
            Backing::Anon,
        ))
    }

    /// [`Mapping::aligned`] to the PMD size ([`hugepage::pmd_size`]), then the `thp` madvise.
    pub fn thp_aligned(len: usize, prot: Prot, thp: Thp) -> Result<Mapping> {
        let m = Self::aligned(len, hugepage::pmd_size()?, prot)?;
        match thp {
            Thp::Huge => m.advise(Advice::Hugepage)?,
            Thp::NoHuge => m.advise(Advice::NoHugepage)?,
            Thp::Unset => {}
        }
        Ok(m)
    }

    /// Start address.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// Start address as a raw pointer (for tests that must touch memory by hand).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false` (a mapping has at least one page); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length in pages.
    pub fn npages(&self) -> usize {
        self.len / self.page_size
    }

    /// Length in `i32` words.
    pub fn words(&self) -> usize {
        self.len / 4
    }

    /// The base page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// `MAP_PRIVATE` or `MAP_SHARED`.
    pub fn sharing(&self) -> Sharing {
        self.sharing
    }

    pub(crate) fn backing(&self) -> Backing {
        self.backing
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn state_mut(&mut self) -> &mut Vec<u8> {
        self.state.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this object still owns `page` (false after `unmap_pages` or `move_to`).
    pub fn is_mapped(&self, page: usize) -> bool {
        self.lock().get(page).is_some_and(|s| s & GONE == 0)
    }

    /// The protection this object last set on `page`; `None` if out of range or not owned.
    pub fn prot_of(&self, page: usize) -> Option<Prot> {
        match self.lock().get(page) {
            Some(s) if s & GONE == 0 => Some(Prot::from_bits(*s)),
            _ => None,
        }
    }

    /// Checks `[first, first + npages)` is inside the mapping and non-empty.
    pub(crate) fn check_pages(&self, first: usize, npages: usize) -> Result<()> {
        if npages == 0 {
            return Err(Error::ZeroPages);
        }
        let end = first.checked_add(npages).ok_or(Error::Overflow)?;
        if end > self.npages() {
            return Err(Error::OutOfRange {
                first,
                npages,
                mapping_pages: self.npages(),
            });
        }
        Ok(())
    }

    /// Checks the range and that every page of it is still owned; `state` is the locked state.
    pub(crate) fn check_owned(state: &[u8], first: usize, npages: usize) -> Result<()> {
        if state[first..first + npages].iter().any(|s| s & GONE != 0) {
            return Err(Error::Unmapped { first, npages });
        }
        Ok(())
    }

    fn page_ptr(&self, first: usize) -> *mut c_void {
        self.ptr.wrapping_add(first * self.page_size).cast()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let ps = self.page_size;
        let base = self.ptr;
        let st = self.state_mut();
        let mut i = 0;
        while i < st.len() {
            if st[i] & GONE != 0 {
                i += 1;
                continue;
            }
            let start = i;
            while i < st.len() && st[i] & GONE == 0 {
                i += 1;
            }
            // SAFETY: pages [start, i) are owned by this object, which is being dropped, so
            // nothing can access them any more.
            let _ = unsafe {
                rustix::mm::munmap(base.wrapping_add(start * ps).cast(), (i - start) * ps)
            };
        }
    }
}
