//! One method per `HMM_DMIRROR_*` request on [`Device`]. Each checks its arguments before
//! the syscall, retries EINTR, and returns the request's [`Counts`].
//!
//! Host buffers are byte slices: `&mut [u8]` where the kernel writes them (a [`Mirror`]
//! derefs to one, so does a `Vec<u8>`), `&[u8]` where it only reads them. Each is checked to
//! hold what the request, in the device's (established) ABI, copies.

use hmm_sys::hmm_dmirror_cmd;

use crate::range::check_page_run;
use crate::{Abi, Counts, Device, Error, Flags, Mapping, PageRange, Request, Result, Snapshot};

/// Checks that a buffer of `len` bytes can hold `needed`.
fn check_buf(request: Request, needed: usize, len: usize) -> Result<()> {
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
    /// Issues `req` on `{addr, ptr, npages}` through [`Device::submit`].
    ///
    /// # Safety
    ///
    /// As [`Device::raw`], with `ptr_len` the bytes at `ptr` the caller vouches for.
    unsafe fn issue(
        &self,
        req: Request,
        addr: usize,
        ptr: usize,
        ptr_len: usize,
        npages: u64,
    ) -> Result<Counts> {
        let code = self.request_code(req)?;
        let mut cmd = hmm_dmirror_cmd {
            addr: addr as u64,
            ptr: ptr as u64,
            npages,
            ..Default::default()
        };
        // SAFETY: forwarded to our caller.
        unsafe { self.submit(code, &mut cmd, ptr_len) }.map_err(|errno| Error::Request {
            request: req,
            path: self.path().to_path_buf(),
            errno,
        })?;
        Ok(Counts {
            cpages: cmd.cpages,
            faults: cmd.faults,
        })
    }

    /// The common path of the range requests that leave the range's contents alone and may
    /// write up to `range.len()` bytes into `buf` (READ, MIGRATE_*, EXCLUSIVE).
    fn range_to_buf(&self, req: Request, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.request_code(req)?;
        check_buf(req, range.len(), buf.len())?;
        // SAFETY: the kernel writes at most `range.len()` bytes at `ptr`, which `buf` (of at
        // least that size, exclusively borrowed) holds; it does not change the range's
        // contents (these requests read it, fault it in, or migrate it with its contents
        // preserved), which is borrowed for the call.
        unsafe {
            self.issue(
                req,
                range.addr(),
                buf.as_mut_ptr() as usize,
                buf.len(),
                range.npages() as u64,
            )
        }
    }

    /// The range requests that touch no host buffer (MIGRATE_TO_SYS, CHECK_EXCLUSIVE).
    fn range_only(&self, req: Request, range: PageRange<'_>) -> Result<Counts> {
        self.request_code(req)?;
        // SAFETY: these requests do not use `ptr` (0) and preserve the range's contents.
        unsafe { self.issue(req, range.addr(), 0, 0, range.npages() as u64) }
    }

    /// `HMM_DMIRROR_READ`: the device reads the range through its page table (faulting it in)
    /// into `buf` (at least `range.len()` bytes).
    pub fn read(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::Read, range, buf)
    }

    /// `HMM_DMIRROR_READ_UNLOCKED`: as [`Device::read`], but the fault may drop the mmap lock
    /// (so userfaultfd can resolve it).
    pub fn read_unlocked(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::ReadUnlocked, range, buf)
    }

    /// `HMM_DMIRROR_WRITE`: the device writes `src` (at least `range.len()` bytes) into the
    /// range of a [`Mapping`]. Every page of the range must still be owned by its mapping
    /// ([`Error::Unmapped`]); the mapping is locked during the request, so a concurrent
    /// `unmap_pages` waits. A range of borrowed memory is refused ([`Error::SharedBorrow`]):
    /// see [`Device::write_slice`].
    pub fn write(&self, range: PageRange<'_>, src: &[u8]) -> Result<Counts> {
        let req = Request::Write;
        self.request_code(req)?;
        check_buf(req, range.len(), src.len())?;
        let mapping: &Mapping = range.mapping().ok_or(Error::SharedBorrow)?;
        let st = mapping.lock();
        Mapping::check_owned(&st, range.first_page(), range.npages())?;
        // SAFETY: the kernel only reads `range.len()` bytes of `src` (checked, borrowed).
        // It writes the range, which is owned by `mapping` (checked under its lock, held until
        // the request returns, so no munmap/mprotect/content access races it); that memory is
        // only ever accessed volatile or through `&mut Mapping`, which the borrow in `range`
        // excludes, so no Rust reference observes the write.
        let r = unsafe {
            self.issue(
                req,
                range.addr(),
                src.as_ptr() as usize,
                src.len(),
                range.npages() as u64,
            )
        };
        drop(st);
        r
    }

    /// `HMM_DMIRROR_WRITE` into caller memory: the device writes the first `dst.len()` bytes
    /// of `src` into `dst`, which must be whole, page-aligned pages ([`Error::Misaligned`],
    /// [`Error::NotPageMultiple`], [`Error::ZeroPages`]) and is borrowed exclusively.
    pub fn write_slice(&self, dst: &mut [u8], src: &[u8]) -> Result<Counts> {
        let req = Request::Write;
        self.request_code(req)?;
        let npages = check_page_run(dst.as_ptr(), dst.len())?;
        check_buf(req, dst.len(), src.len())?;
        // SAFETY: the kernel writes `dst.len()` bytes at `dst` (exclusively borrowed, so no
        // other reference observes it) and reads as many from `src` (checked, borrowed; it
        // cannot overlap `dst`).
        unsafe {
            self.issue(
                req,
                dst.as_mut_ptr() as usize,
                src.as_ptr() as usize,
                src.len(),
                npages as u64,
            )
        }
    }

    /// `HMM_DMIRROR_MIGRATE_TO_DEV`: migrates the range to device memory and reads it back
    /// into `buf` (at least `range.len()` bytes).
    pub fn migrate_to_dev(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::MigrateToDev, range, buf)
    }

    /// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched ABI only, else
    /// [`Error::Unsupported`]): faults the range in and migrates it window by window, then
    /// reads it back into `buf` (at least `range.len()` bytes).
    pub fn migrate_on_fault_to_dev(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::MigrateOnFaultToDev, range, buf)
    }

    /// `HMM_DMIRROR_MIGRATE_TO_SYS`: migrates the range back to system memory.
    pub fn migrate_to_sys(&self, range: PageRange<'_>) -> Result<Counts> {
        self.range_only(Request::MigrateToSys, range)
    }

    /// `HMM_DMIRROR_SNAPSHOT`, decoded: one [`crate::PageState`] per page of the range.
    pub fn snapshot(&self, range: PageRange<'_>) -> Result<Snapshot> {
        let mut out = crate::Mirror::try_for_snapshot(range.npages())?;
        let counts = self.snapshot_into(range, &mut out)?;
        Snapshot::decode(&out, counts)
    }

    /// `HMM_DMIRROR_SNAPSHOT` into `out` (at least `range.npages()` bytes), undecoded.
    ///
    /// In the patched ABI the kernel writes into a scratch mapping of `range.len()` bytes,
    /// then the bytes are copied to `out`: the patched SNAPSHOT number is mainline's
    /// EXCLUSIVE, which writes whole pages, so even a driver that had passed for patched
    /// could not write past what the library allocated (only the pages it touches get
    /// memory).
    pub fn snapshot_into(&self, range: PageRange<'_>, out: &mut [u8]) -> Result<Counts> {
        let req = Request::Snapshot;
        self.request_code(req)?;
        let n = range.npages();
        check_buf(req, n, out.len())?;
        if self.abi() == Abi::Mainline {
            // SAFETY: the kernel writes one byte per page, `n` bytes, into `out` (large
            // enough, exclusively borrowed), and only inspects the range's page tables. The
            // mainline SNAPSHOT number (0x04) is patched MIGRATE_TO_SYS, which writes no
            // buffer at all.
            return unsafe {
                self.issue(
                    req,
                    range.addr(),
                    out.as_mut_ptr() as usize,
                    out.len(),
                    n as u64,
                )
            };
        }
        let scratch = Mapping::anon_private(range.len())?;
        // SAFETY: the kernel writes `n` bytes (as SNAPSHOT), at most `range.len()` (were the
        // number read as mainline EXCLUSIVE), at the start of `scratch`, which owns that many
        // bytes; `scratch` is a fresh private mapping nothing else refers to, read below
        // only through its volatile accessors.
        let counts =
            unsafe { self.issue(req, range.addr(), scratch.addr(), scratch.len(), n as u64) }?;
        scratch.read_bytes(0, &mut out[..n]);
        Ok(counts)
    }

    /// `HMM_DMIRROR_EXCLUSIVE`: makes the range device-exclusive and reads it into `buf`
    /// (at least `range.len()` bytes).
    pub fn exclusive(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::Exclusive, range, buf)
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
        unsafe { self.issue(Request::Release, 0, 0, 0, 1) }
    }

    /// `HMM_DMIRROR_FLAGS`: sets the device's flag word (it travels in `npages`, so the
    /// driver rejects an empty word: [`Error::EmptyFlags`]).
    pub fn set_flags(&self, flags: Flags) -> Result<Counts> {
        self.request_code(Request::Flags)?;
        if flags.is_empty() {
            return Err(Error::EmptyFlags);
        }
        // SAFETY: FLAGS reads and writes no user memory besides the cmd.
        unsafe { self.issue(Request::Flags, 0, 0, 0, flags.bits()) }
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
        // SAFETY: forwarded: the caller upholds `cmd_ioctl`'s contract (same as ours); no
        // buffer size is vouched for (0).
        unsafe { self.submit(code, cmd, 0) }.map_err(|errno| Error::Request {
            request: req,
            path: self.path().to_path_buf(),
            errno,
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
