//! One method per `HMM_DMIRROR_*` request on [`Device`]. Each checks its arguments before
//! the syscall, retries EINTR, and returns the request's [`Counts`].

use std::os::fd::AsFd;

use hmm_sys::hmm_dmirror_cmd;

use crate::{Counts, Device, Error, Flags, Mapping, Mirror, PageRange, Request, Result, Snapshot};

/// Checks that a buffer of `len` bytes can hold `needed`.
fn check_mirror(request: Request, needed: usize, len: usize) -> Result<()> {
    if len < needed {
        return Err(Error::MirrorTooSmall {
            request,
            needed,
            len,
        });
    }
    Ok(())
}

impl Device {
    /// The common path of the range requests that leave the range's memory alone and may
    /// write up to `range.len()` bytes into `mirror` (READ, MIGRATE_*, EXCLUSIVE).
    fn range_to_mirror(
        &self,
        req: Request,
        range: PageRange<'_>,
        mirror: &mut Mirror,
    ) -> Result<Counts> {
        self.request_code(req)?;
        check_mirror(req, range.len(), mirror.len())?;
        // SAFETY: the kernel writes at most `range.len()` bytes at `ptr`, which `mirror` (of at
        // least that size, exclusively borrowed) holds; it does not write the range itself
        // (these requests read it, fault it in, or migrate it with its contents preserved).
        unsafe {
            self.raw_cmd(
                req,
                range.addr() as u64,
                mirror.as_mut_ptr() as u64,
                range.npages() as u64,
            )
        }
    }

    /// The range requests that touch no host buffer (MIGRATE_TO_SYS, CHECK_EXCLUSIVE).
    fn range_only(&self, req: Request, range: PageRange<'_>) -> Result<Counts> {
        self.request_code(req)?;
        // SAFETY: these requests do not use `ptr` (0) and preserve the range's contents.
        unsafe { self.raw_cmd(req, range.addr() as u64, 0, range.npages() as u64) }
    }

    /// `HMM_DMIRROR_READ`: the device reads the range through its page table (faulting it in)
    /// into `mirror` (at least `range.len()` bytes).
    pub fn read(&self, range: PageRange<'_>, mirror: &mut Mirror) -> Result<Counts> {
        self.range_to_mirror(Request::Read, range, mirror)
    }

    /// `HMM_DMIRROR_READ_UNLOCKED`: as [`Device::read`], but the fault may drop the mmap lock
    /// (so userfaultfd can resolve it).
    pub fn read_unlocked(&self, range: PageRange<'_>, mirror: &mut Mirror) -> Result<Counts> {
        self.range_to_mirror(Request::ReadUnlocked, range, mirror)
    }

    /// `HMM_DMIRROR_WRITE`: the device writes `mirror` (at least `range.len()` bytes) into the
    /// range. Every page of the range must still be owned by its mapping
    /// ([`Error::Unmapped`]); the mapping is locked during the request, so a concurrent
    /// `unmap_pages` waits.
    pub fn write(&self, range: PageRange<'_>, mirror: &Mirror) -> Result<Counts> {
        let req = Request::Write;
        self.request_code(req)?;
        check_mirror(req, range.len(), mirror.len())?;
        let mapping: &Mapping = range.mapping();
        let st = mapping.lock();
        Mapping::check_owned(&st, range.first_page(), range.npages())?;
        // SAFETY: the kernel only reads `range.len()` bytes of `mirror` (checked, borrowed).
        // It writes the range, which is owned by `mapping` (checked under its lock, held until
        // the request returns, so no munmap/mprotect/content access races it); that memory is
        // only ever accessed volatile or through `&mut Mapping`, which the borrow in `range`
        // excludes, so no Rust reference observes the write.
        let r = unsafe {
            self.raw_cmd(
                req,
                range.addr() as u64,
                mirror.as_ptr() as u64,
                range.npages() as u64,
            )
        };
        drop(st);
        r
    }

    /// `HMM_DMIRROR_MIGRATE_TO_DEV`: migrates the range to device memory and reads it back
    /// into `mirror` (at least `range.len()` bytes).
    pub fn migrate_to_dev(&self, range: PageRange<'_>, mirror: &mut Mirror) -> Result<Counts> {
        self.range_to_mirror(Request::MigrateToDev, range, mirror)
    }

    /// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched ABI only, else
    /// [`Error::Unsupported`]): faults the range in and migrates it window by window, then
    /// reads it back into `mirror` (at least `range.len()` bytes).
    pub fn migrate_on_fault_to_dev(
        &self,
        range: PageRange<'_>,
        mirror: &mut Mirror,
    ) -> Result<Counts> {
        self.range_to_mirror(Request::MigrateOnFaultToDev, range, mirror)
    }

    /// `HMM_DMIRROR_MIGRATE_TO_SYS`: migrates the range back to system memory.
    pub fn migrate_to_sys(&self, range: PageRange<'_>) -> Result<Counts> {
        self.range_only(Request::MigrateToSys, range)
    }

    /// `HMM_DMIRROR_SNAPSHOT`, decoded: one [`crate::PageState`] per page of the range.
    pub fn snapshot(&self, range: PageRange<'_>) -> Result<Snapshot> {
        let mut out = Mirror::for_snapshot(range.npages());
        let counts = self.snapshot_into(range, &mut out)?;
        Snapshot::decode(out.as_bytes(), counts)
    }

    /// `HMM_DMIRROR_SNAPSHOT` into `out` (at least `range.npages()` bytes), undecoded.
    pub fn snapshot_into(&self, range: PageRange<'_>, out: &mut Mirror) -> Result<Counts> {
        let req = Request::Snapshot;
        self.request_code(req)?;
        check_mirror(req, range.npages(), out.len())?;
        // SAFETY: the kernel writes one byte per page, `range.npages()` bytes, into `out`
        // (large enough, exclusively borrowed), and only inspects the range's page tables.
        unsafe {
            self.raw_cmd(
                req,
                range.addr() as u64,
                out.as_mut_ptr() as u64,
                range.npages() as u64,
            )
        }
    }

    /// `HMM_DMIRROR_EXCLUSIVE`: makes the range device-exclusive and reads it into `mirror`
    /// (at least `range.len()` bytes).
    pub fn exclusive(&self, range: PageRange<'_>, mirror: &mut Mirror) -> Result<Counts> {
        self.range_to_mirror(Request::Exclusive, range, mirror)
    }

    /// `HMM_DMIRROR_CHECK_EXCLUSIVE`: checks the range's exclusive access was revoked.
    pub fn check_exclusive(&self, range: PageRange<'_>) -> Result<Counts> {
        self.range_only(Request::CheckExclusive, range)
    }

    /// `HMM_DMIRROR_RELEASE`: evicts all of the device's memory chunks. The driver ignores
    /// the range but still checks it, so `addr = 0, npages = 1` is sent.
    pub fn release(&self) -> Result<Counts> {
        self.request_code(Request::Release)?;
        // SAFETY: RELEASE reads and writes no user memory besides the cmd.
        unsafe { self.raw_cmd(Request::Release, 0, 0, 1) }
    }

    /// `HMM_DMIRROR_FLAGS`: sets the device's flag word (it travels in `npages`, so the
    /// driver rejects an empty word: [`Error::EmptyFlags`]).
    pub fn set_flags(&self, flags: Flags) -> Result<Counts> {
        self.request_code(Request::Flags)?;
        if flags.is_empty() {
            return Err(Error::EmptyFlags);
        }
        // SAFETY: FLAGS reads and writes no user memory besides the cmd.
        unsafe { self.raw_cmd(Request::Flags, 0, 0, flags.bits()) }
    }

    /// Issues `req` with a caller-made `cmd` (EINTR retried); on success the kernel has
    /// written `cmd.cpages`/`cmd.faults`. For tests that pass arbitrary addresses.
    /// Only [`Error::Unsupported`] is checked beforehand.
    ///
    /// # Safety
    ///
    /// The kernel accesses user memory as the request defines: it writes `cmd.npages` pages
    /// at `cmd.addr` for WRITE, and writes the buffer at `cmd.ptr` (`cmd.npages` pages for
    /// READ, READ_UNLOCKED, MIGRATE_TO_DEV, MIGRATE_ON_FAULT_TO_DEV and EXCLUSIVE;
    /// `cmd.npages` bytes for SNAPSHOT) or reads it (WRITE). The caller guarantees every
    /// region so written is valid for writes and not observed through any live Rust
    /// reference, and every region read is valid for reads. Migration requests keep the
    /// contents of `cmd.addr` pages, so they need nothing more.
    pub unsafe fn raw(&self, req: Request, cmd: &mut hmm_dmirror_cmd) -> Result<()> {
        let code = self.request_code(req)?;
        // SAFETY: forwarded: the caller upholds `cmd_ioctl`'s contract (same as ours).
        unsafe { crate::ioctl::cmd_ioctl(self.as_fd(), code, cmd) }.map_err(|errno| {
            Error::Request {
                request: req,
                path: self.path().to_path_buf(),
                errno,
            }
        })
    }

    /// [`Device::raw`] with a fresh cmd `{addr, ptr, npages}`; returns its counters.
    ///
    /// # Safety
    ///
    /// As [`Device::raw`].
    pub unsafe fn raw_cmd(&self, req: Request, addr: u64, ptr: u64, npages: u64) -> Result<Counts> {
        let mut cmd = hmm_dmirror_cmd {
            addr,
            ptr,
            npages,
            ..Default::default()
        };
        // SAFETY: forwarded to our caller.
        unsafe { self.raw(req, &mut cmd) }?;
        Ok(Counts {
            cpages: cmd.cpages,
            faults: cmd.faults,
        })
    }
}
