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

    /// `HMM_DMIRROR_READ`: the device reads the range into `buf` (at least `range.len()`
    /// bytes) through its own page table, faulting in (`hmm_range_fault()`) every page it has no
    /// entry for, as a device would on a page-table miss.
    ///
    /// The range's contents are left as they are: pages in system memory stay there, pages in
    /// this device's memory are read there, pages in another device's private memory are migrated
    /// back to system memory by the fault. On success `cpages` is `range.npages()` and `faults`
    /// the number of fault rounds the driver needed (0 when every page was already mirrored).
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::MirrorTooSmall`] when `buf` is shorter than `range.len()`.
    /// From the driver ([`Error::Request`]; both drivers unless said):
    ///
    /// - `EFAULT`: a page cannot be faulted in for reading: unmapped (a hole, e.g. after
    ///   [`Mapping::unmap_pages`]), `PROT_NONE`, or in a mapping without read permission.
    /// - `EBUSY`: the range kept being invalidated while the driver faulted it in, for longer
    ///   than `HMM_RANGE_DEFAULT_TIMEOUT` (1 s).
    /// - `ENOMEM`: the driver's bounce buffer (`range.len()` bytes) cannot be allocated. The C
    ///   driver also logs a `vmalloc error` warning with a stack dump; our module does not.
    ///
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(16 * page_size())?;
    /// buf.fill_i32(|i| i as i32);
    /// let mut mirror = Mirror::for_pages(buf.npages());
    /// let counts = dev.read(buf.all(), &mut mirror)?;
    /// assert_eq!(counts.cpages, 16);
    /// assert_eq!(mirror.get_i32(5), 5);
    /// # Ok(()) }
    /// ```
    pub fn read(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::Read, range, buf)
    }

    /// `HMM_DMIRROR_READ_UNLOCKED`: as [`Device::read`], but the driver faults pages in with
    /// `hmm_range_fault_unlocked_timeout()`, which may drop the mmap lock and wait, so a
    /// fault that needs userspace (a `userfaultfd`-registered range: the request blocks until
    /// the handler resolves it) completes instead of failing.
    ///
    /// # Errors
    ///
    /// As [`Device::read`], except that the fault retries without a time limit instead of
    /// failing with `EBUSY` (`EINTR`, from waiting for the mmap lock, is retried by the
    /// library). Drivers that stop at RELEASE (some recent kernels) answer this number with
    /// `EINVAL`. [`Error::Unsupported`] cannot happen: both ABIs number it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(4 * page_size())?;
    /// let mut mirror = Mirror::for_pages(4);
    /// let counts = dev.read_unlocked(buf.all(), &mut mirror)?;
    /// assert_eq!(counts.cpages, 4);
    /// # Ok(()) }
    /// ```
    pub fn read_unlocked(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::ReadUnlocked, range, buf)
    }

    /// `HMM_DMIRROR_WRITE`: the device writes `src` (at least `range.len()` bytes) into the
    /// range of a [`Mapping`], faulting every page in for writing first (a copy-on-write page is
    /// copied; a page in another device's private memory is migrated back).
    ///
    /// Every page of the range must still be owned by its mapping ([`Error::Unmapped`]); the
    /// mapping is locked during the request, so a concurrent [`Mapping::unmap_pages`] waits. A
    /// range of borrowed memory is refused ([`Error::SharedBorrow`]): see [`Device::write_slice`].
    /// On success `cpages` is `range.npages()`.
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::MirrorTooSmall`] (`src` shorter than `range.len()`),
    /// [`Error::SharedBorrow`], [`Error::Unmapped`]. From the driver ([`Error::Request`]):
    ///
    /// - `EPERM`: a page of the range is mapped without write permission (a read-only mapping,
    ///   or [`Mapping::protect`] to [`crate::Prot::READ`]). Both drivers.
    /// - `EFAULT`: a page cannot be faulted in at all (`PROT_NONE`). Both drivers. Our module
    ///   also answers `EFAULT` when the device meets its own read-only copy of a private page
    ///   (copy-on-write after `fork`); the C driver returns the same errno but logs a `WARNING`
    ///   with a stack dump, which any user can trigger.
    /// - `EBUSY`, `ENOMEM`: as [`Device::read`].
    ///
    /// Pages before the failing one may already hold `src`'s bytes; `cpages` is not returned on
    /// failure. And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(2 * page_size())?;
    /// let mut src = Mirror::for_pages(2);
    /// src.fill_i32(|i| 3 * i as i32);
    /// dev.write(buf.all(), &src)?;
    /// assert_eq!(buf.read_i32(7), 21);
    /// # Ok(()) }
    /// ```
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
    /// of `src` into `dst`, which must be whole, page-aligned pages and is borrowed exclusively
    /// (so no other reference sees the kernel's write).
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::Misaligned`] (`dst` does not start on a page),
    /// [`Error::NotPageMultiple`], [`Error::ZeroPages`], [`Error::MirrorTooSmall`] (`src`
    /// shorter than `dst`). From the driver: as [`Device::write`] (`EPERM` for memory mapped
    /// read-only, `EFAULT`, `EBUSY`, `ENOMEM`).
    ///
    /// # Examples
    ///
    /// With the `memmap2` feature, or any page-aligned allocation:
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// // A Vec is not page aligned in general: take the page-aligned part of a larger one.
    /// let mut own = vec![0u8; 5 * page_size()];
    /// let off = own.as_ptr().align_offset(page_size());
    /// let dst = &mut own[off..off + 4 * page_size()];
    /// dev.write_slice(dst, &vec![0xab; 4 * page_size()])?;
    /// assert!(dst.iter().all(|&b| b == 0xab));
    /// # Ok(()) }
    /// ```
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

    /// `HMM_DMIRROR_MIGRATE_TO_DEV`: migrates the range to this device's memory
    /// (`migrate_vma_setup()` with `MIGRATE_VMA_SELECT_SYSTEM`, 512 pages at a time) and reads it
    /// back through the device page table into `buf` (at least `range.len()` bytes).
    ///
    /// Only private anonymous memory migrates (including never-touched pages and THPs; a
    /// 2 MiB-aligned THP may move as one device folio). On success every page of the range was
    /// read back from this device's memory: `cpages` is `range.npages()`. The pages' contents are
    /// kept: a CPU access faults them back to system memory.
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::MirrorTooSmall`]. From the driver ([`Error::Request`]; both
    /// drivers unless said):
    ///
    /// - `EINVAL`: a page of the range lies in no mapping, or in one without read permission
    ///   (`PROT_NONE`); the migration loop stops there.
    /// - `ENOENT`: the read-back met a page that is not in this device's memory, so it did not
    ///   migrate: shared or file-backed memory, a page in another device's memory, a page the
    ///   device could not allocate (armed with [`Flags::FAIL_ALLOC`], or a coherent device that
    ///   is full), or a page invalidated meanwhile (e.g. `MADV_DONTNEED` from another thread).
    ///   Pages before it may have migrated.
    /// - `ENOMEM`: the bounce buffer cannot be allocated; also, on our module, a coherent device
    ///   whose memory chunk is still being unmapped after a [`Device::release`] cannot allocate.
    ///
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror, PageState};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(16 * page_size())?;
    /// buf.fill_i32(|i| i as i32);
    /// let mut mirror = Mirror::for_pages(buf.npages());
    /// let counts = dev.migrate_to_dev(buf.all(), &mut mirror)?;
    /// assert_eq!(counts.cpages, 16);
    /// let snap = dev.snapshot(buf.all())?;
    /// assert!(snap.iter().all(|s| s.device() != hmm_dmirror::DeviceMemory::None));
    /// assert_eq!(buf.read_i32(3), 3); // the CPU access faults the page back
    /// # let _ = PageState::NONE;
    /// # Ok(()) }
    /// ```
    pub fn migrate_to_dev(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::MigrateToDev, range, buf)
    }

    /// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched ABI only, the migrate-on-fault series):
    /// faults the range in for the device and migrates it to device memory window by window (64
    /// pages), then reads it back into `buf` (at least `range.len()` bytes) as [`Device::read`].
    ///
    /// Our module faults and migrates each window under a single mmap read lock; the series' own
    /// C implementation takes the lock again inside its fault path (a recursive read lock, which
    /// can deadlock against a writer queued in between; `ABI.md`). The stock C driver of 7.3.4
    /// speaks mainline only, so this request does not exist there.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on a mainline device (checked before the syscall);
    /// [`Error::MirrorTooSmall`]. From our module ([`Error::Request`]):
    ///
    /// - `EFAULT`: a page cannot be faulted in for reading (unmapped, `PROT_NONE`), as READ.
    /// - `EINVAL`: a page lies in no readable mapping when the window migrates.
    /// - `ENOENT`: the read-back met a page that is not mirrored (did not migrate and was
    ///   invalidated, e.g. by another thread's `MADV_DONTNEED`).
    /// - `EBUSY`, `ENOMEM`: as [`Device::read`].
    ///
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Abi, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(64 * page_size())?;
    /// let mut mirror = Mirror::for_pages(buf.npages());
    /// if dev.abi() == Abi::Patched {
    ///     let counts = dev.migrate_on_fault_to_dev(buf.all(), &mut mirror)?;
    ///     assert_eq!(counts.cpages, 64);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn migrate_on_fault_to_dev(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::MigrateOnFaultToDev, range, buf)
    }

    /// `HMM_DMIRROR_MIGRATE_TO_SYS`: migrates the pages of the range that are in this device's
    /// memory back to system memory; other pages are left alone. `cpages` counts the pages
    /// migrated. Our module counts every page of a THP; the C driver counts a THP as one.
    ///
    /// # Errors
    ///
    /// From the driver ([`Error::Request`]):
    ///
    /// - `EINVAL`: a page of the range lies in no mapping, or in one without read permission.
    ///   Both drivers.
    /// - `ENOMEM`: no system page could be allocated for a device page (or
    ///   [`Flags::FAIL_ALLOC`] was armed). The C driver fails the request then; our module fails
    ///   it for a private device, and for a coherent device leaves the page in device memory
    ///   (which the CPU can address) and goes on, not counting it.
    ///
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(8 * page_size())?;
    /// let mut mirror = Mirror::for_pages(8);
    /// dev.migrate_to_dev(buf.all(), &mut mirror)?;
    /// let counts = dev.migrate_to_sys(buf.all())?;
    /// assert_eq!(counts.cpages, 8);
    /// # Ok(()) }
    /// ```
    pub fn migrate_to_sys(&self, range: PageRange<'_>) -> Result<Counts> {
        self.range_only(Request::MigrateToSys, range)
    }

    /// `HMM_DMIRROR_SNAPSHOT`, decoded: one [`crate::PageState`] per page of the range, what
    /// the CPU page table holds (`hmm_range_fault()` without faulting): not present, read-only,
    /// writable, zero page, mapped by a PMD or PUD, in which device's memory.
    ///
    /// A page outside any mapping, or in one without read permission (`PROT_NONE`), reads as
    /// [`crate::PageState::ERROR`] in both drivers; a page never touched as
    /// [`crate::PageState::NONE`]. The snapshot faults nothing in and moves nothing.
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::OutOfMemory`] (the byte buffer), [`Error::Sys`] (`mmap` of
    /// the patched ABI's scratch buffer, see [`Device::snapshot_into`]). From the driver
    /// ([`Error::Request`]): `EBUSY` when the range kept being invalidated for longer than
    /// `HMM_RANGE_DEFAULT_TIMEOUT` (1 s). After it: [`Error::InvalidSnapshot`] when a byte is no
    /// defined `HMM_DMIRROR_PROT_*` encoding. And the errors every request can return (see
    /// [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, PageState};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(4 * page_size())?;
    /// buf.write_i32(0, 1); // page 0 present and writable, the rest untouched
    /// let snap = dev.snapshot(buf.all())?;
    /// assert_eq!(snap.len(), 4);
    /// assert_eq!(snap[0], PageState::WRITE);
    /// assert_eq!(snap[1], PageState::NONE);
    /// for state in &snap {
    ///     println!("{state}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn snapshot(&self, range: PageRange<'_>) -> Result<Snapshot> {
        let mut out = crate::Mirror::try_for_snapshot(range.npages())?;
        let counts = self.snapshot_into(range, &mut out)?;
        Snapshot::decode(&out, counts)
    }

    /// `HMM_DMIRROR_SNAPSHOT` into `out` (at least `range.npages()` bytes), undecoded: the
    /// driver's `HMM_DMIRROR_PROT_*` bytes.
    ///
    /// In the patched ABI the kernel writes into a scratch mapping of `range.len()` bytes,
    /// then the bytes are copied to `out`: the patched SNAPSHOT number is mainline's
    /// EXCLUSIVE, which writes whole pages, so even a driver that had passed for patched
    /// could not write past what the library allocated (only the pages it touches get
    /// memory).
    ///
    /// # Errors
    ///
    /// As [`Device::snapshot`], without the decoding: [`Error::MirrorTooSmall`] when `out` is
    /// shorter than `range.npages()`, [`Error::Sys`] for the scratch mapping, and the driver's
    /// `EBUSY`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, sys, Device, Mapping};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(2 * page_size())?;
    /// let mut bytes = [0u8; 2];
    /// dev.snapshot_into(buf.all(), &mut bytes)?;
    /// assert_eq!(bytes, [sys::HMM_DMIRROR_PROT_NONE; 2]);
    /// # Ok(()) }
    /// ```
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

    /// `HMM_DMIRROR_EXCLUSIVE`: takes device-exclusive (atomic) access to every page of the
    /// range (`make_device_exclusive()`: the CPU page table entry is replaced by a
    /// device-exclusive entry, so the next CPU access faults and revokes it) and reads the range
    /// into `buf` (at least `range.len()` bytes). The contents are kept; `cpages` is
    /// `range.npages()` on success.
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::MirrorTooSmall`]. From the driver ([`Error::Request`]; both
    /// drivers unless said):
    ///
    /// - `EFAULT`: a page cannot be faulted in for writing: unmapped, `PROT_NONE` or mapped
    ///   read-only.
    /// - `EOPNOTSUPP`: a page is not private anonymous memory (file-backed, shared, hugetlb):
    ///   only anonymous folios can be made exclusive.
    /// - `EBUSY`: our module only: another thread kept invalidating a page while it was being
    ///   made exclusive (it retries for 1 s and at least 16 times). The C driver has no such
    ///   check and maps the page regardless.
    /// - `ENOENT`: the C driver only: the read-back met a page whose exclusive entry was
    ///   invalidated meanwhile.
    /// - `ENOMEM`: the bounce buffer cannot be allocated.
    ///
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(4 * page_size())?;
    /// buf.fill_i32(|i| i as i32);
    /// let mut mirror = Mirror::for_pages(4);
    /// dev.exclusive(buf.all(), &mut mirror)?;
    /// dev.check_exclusive(buf.all()).expect_err("still exclusive: EPERM");
    /// buf.write_i32(0, 7); // the CPU write revokes page 0's exclusive access
    /// # Ok(()) }
    /// ```
    pub fn exclusive(&self, range: PageRange<'_>, buf: &mut [u8]) -> Result<Counts> {
        self.range_to_buf(Request::Exclusive, range, buf)
    }

    /// `HMM_DMIRROR_CHECK_EXCLUSIVE`: checks that the CPU has revoked the device's exclusive
    /// access to every page of the range (after [`Device::exclusive`], a CPU access or an
    /// invalidation does). Nothing is copied; `cpages` stays 0.
    ///
    /// Our module visits only the entries its page table holds; the C driver loads every page
    /// index of the range under its mutex, so a huge range keeps it busy (2^40 pages: minutes,
    /// unkillably), which a [`crate::PageRange`] of real memory cannot reach.
    ///
    /// # Errors
    ///
    /// From the driver ([`Error::Request`]): `EPERM` when a page of the range is still mapped
    /// exclusive in the device's page table. Both drivers. And the errors every request can
    /// return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Errno, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(page_size())?;
    /// let mut mirror = Mirror::for_pages(1);
    /// dev.exclusive(buf.all(), &mut mirror)?;
    /// let err = dev.check_exclusive(buf.all()).unwrap_err();
    /// assert_eq!(err.errno(), Some(Errno::PERM));
    /// let _ = buf.read_i32(0); // a CPU access revokes it
    /// dev.check_exclusive(buf.all())?;
    /// # Ok(()) }
    /// ```
    pub fn check_exclusive(&self, range: PageRange<'_>) -> Result<Counts> {
        self.range_only(Request::CheckExclusive, range)
    }

    /// `HMM_DMIRROR_RELEASE`: evicts all of the device's memory: every page of it, whichever
    /// open file migrated it, is migrated back to system memory, and the memory chunks are
    /// unmapped. The driver ignores the range but still checks it, so `addr = 0, npages = 1` is
    /// sent.
    ///
    /// # Errors
    ///
    /// Neither driver fails it: only the errors every request can return (see [`Device`]). On a
    /// mainline driver this number is FLAGS in the patched ABI, which is why the ABI is never
    /// guessed (`ABI.md`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Mirror, PageState};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(4 * page_size())?;
    /// buf.fill_i32(|i| i as i32);
    /// let mut mirror = Mirror::for_pages(4);
    /// dev.migrate_to_dev(buf.all(), &mut mirror)?;
    /// dev.release()?;
    /// let snap = dev.snapshot(buf.all())?;
    /// assert!(snap.iter().all(|s| s.device() == hmm_dmirror::DeviceMemory::None));
    /// assert_eq!(buf.read_i32(2), 2);
    /// # let _ = PageState::NONE;
    /// # Ok(()) }
    /// ```
    pub fn release(&self) -> Result<Counts> {
        self.request_code(Request::Release)?;
        // SAFETY: RELEASE reads and writes no user memory besides the cmd.
        unsafe { self.issue(Request::Release, 0, 0, 0, 1) }
    }

    /// `HMM_DMIRROR_FLAGS`: sets the flag word of this open file. [`Flags::FAIL_ALLOC`] makes
    /// the file's next device page allocation fail (in a migration to the device, or of a system
    /// page in a migration back), once: the driver clears the flag when it has failed one
    /// allocation. The word travels in `npages`, so it cannot be cleared by sending 0.
    ///
    /// # Errors
    ///
    /// Before the syscall: [`Error::EmptyFlags`] (both drivers reject `npages = 0` as an empty
    /// range: `EINVAL`). From the driver ([`Error::Request`]): `EINVAL` from our module for a
    /// word whose page count overflows (`npages * PAGE_SIZE` past 2^64: bits 52 and up with
    /// 4 KiB pages); the C driver accepts such a word unless its byte count wraps to exactly 0.
    /// And the errors every request can return (see [`Device`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Flags, Mapping, Mirror};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(page_size())?;
    /// let mut mirror = Mirror::for_pages(1);
    /// dev.set_flags(Flags::FAIL_ALLOC)?;
    /// // The device cannot allocate the page: it is not migrated, the read-back says ENOENT.
    /// assert!(dev.migrate_to_dev(buf.all(), &mut mirror).is_err());
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when `req` does not exist in the device's ABI; otherwise
    /// [`Error::Request`] with the driver's errno: the request's own (see its method), and the
    /// entry checks the safe methods rule out: `EINVAL` for an `addr` that is not page aligned,
    /// `npages = 0`, or a range whose end wraps (the C driver checks the end in 64 bits, so an
    /// `npages` whose byte count wraps past 2^64 to a small value is accepted and acts on that
    /// small range; our module refuses any `npages * PAGE_SIZE` or `addr + size` that
    /// overflows), `EFAULT` for a `cmd.ptr` the kernel cannot copy to or from. Our module also
    /// refuses a range that does not end below the process's `TASK_SIZE` (`EINVAL` for the
    /// migrations, `EFAULT` for the others; the C driver answers SNAPSHOT there with
    /// `HMM_DMIRROR_PROT_ERROR` bytes and CHECK_EXCLUSIVE with success).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, sys::hmm_dmirror_cmd, Device, Errno, Request};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// // An unaligned address: refused by the entry check before the driver looks further.
    /// let mut cmd = hmm_dmirror_cmd { addr: 1, ptr: 0, npages: 1, ..Default::default() };
    /// // SAFETY: MIGRATE_TO_SYS writes no buffer, and `cmd.addr` is refused anyway.
    /// let err = unsafe { dev.raw(Request::MigrateToSys, &mut cmd) }.unwrap_err();
    /// assert_eq!(err.errno(), Some(Errno::INVAL));
    /// # let _ = page_size();
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Errors
    ///
    /// As [`Device::raw`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use hmm_dmirror::{page_size, Device, Mapping, Request};
    ///
    /// # fn main() -> hmm_dmirror::Result<()> {
    /// let dev = Device::open(0)?;
    /// let buf = Mapping::anon_private(2 * page_size())?;
    /// // SAFETY: MIGRATE_TO_SYS writes no buffer (`ptr` 0) and keeps the contents of the two
    /// // pages of `buf`, which outlives the call.
    /// let counts = unsafe { dev.raw_cmd(Request::MigrateToSys, buf.addr() as u64, 0, 2) }?;
    /// assert_eq!(counts.cpages, 0); // nothing was on the device
    /// # Ok(()) }
    /// ```
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
