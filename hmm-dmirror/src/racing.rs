//! [`Racing`]: requests from several threads at once on one [`Mapping`], including requests
//! that make the kernel write it (a WRITE racing another WRITE or a migration), with nothing
//! in the library serializing them.
//!
//! [`Device::write`] holds the mapping's lock for the whole request, so that an
//! [`Mapping::unmap_pages`] on another thread cannot free the pages (and let a new mapping
//! take their addresses) while the kernel writes them; that lock also serializes WRITEs on a
//! mapping with each other and with every CPU access to it. A race test that wants the
//! kernel, not the library, to decide the interleaving borrows the mapping exclusively
//! instead: while a [`Racing`] handle lives, nothing but requests (and `madvise`, which
//! leaves the pages mapped) made through it can reach the mapping, so no lock is needed.

use core::marker::PhantomData;

use hmm_sys::hmm_dmirror_cmd;

use crate::{Advice, Counts, Device, Error, Mapping, Request, Result, Snapshot};

/// A mapping borrowed exclusively for requests that may run at the same time on several
/// threads (share `&Racing` through [`std::thread::scope`]); made by [`Mapping::racing`].
///
/// # Contract
///
/// For as long as the handle lives:
/// - the mapping is reached only through the handle's requests: its `&mut` borrow rules out
///   every CPU access (volatile or by reference), mm operation (`protect_pages`,
///   `unmap_pages`, `advise_pages`, `remap`, ...) and [`crate::PageRange`] of it, and the
///   handle hands out no reference to the mapping;
/// - besides requests, the handle can only `madvise` the mapping ([`Racing::advise`]), e.g.
///   `MADV_DONTNEED` from one thread while another's request runs on the same pages: that
///   changes what the pages hold (a private anonymous page reads back as zero), never
///   whether they are mapped, and nothing observes their contents while the handle lives;
/// - so the kernel may write the mapping's pages from any number of requests at once (WRITE
///   against WRITE, WRITE against MIGRATE_TO_DEV, ...) without any Rust reference or access
///   observing a write, and no page can be unmapped, and its address reused by another
///   mapping, while a request runs on it;
/// - the requests take no lock: the order in which they reach the driver, and what the
///   pages hold when the handle is dropped, are up to the threads and the driver. Read the
///   outcome through the mapping after the handle is gone.
///
/// Each request checks its range (inside the mapping, at least one page), that the pages
/// are still owned ([`Error::Unmapped`]; only [`Racing::write`] needs this) and the size of
/// its host buffer, as the [`Device`] methods do.
///
/// ```no_run
/// use hmm_dmirror::{Device, Mapping, Mirror};
/// # fn main() -> hmm_dmirror::Result<()> {
/// let dev = Device::open(0)?;
/// let ps = hmm_dmirror::page_size();
/// let mut buf = Mapping::anon_private(64 * ps)?;
/// buf.fill_bytes(0);
/// let src = vec![7u8; ps];
/// let mut mirror = Mirror::for_pages(64);
/// {
///     let race = buf.racing();
///     std::thread::scope(|s| {
///         // One thread WRITEs page by page while the other migrates the whole range.
///         let writer = s.spawn(|| -> hmm_dmirror::Result<()> {
///             for page in 0..64 {
///                 race.write(&dev, page, 1, &src)?;
///             }
///             Ok(())
///         });
///         race.migrate_to_dev(&dev, 0, 64, &mut mirror)?;
///         writer.join().expect("writer panicked")
///     })?;
/// } // the handle is gone: the mapping can be read again
/// assert!((0..64 * ps).all(|off| buf.read_u8(off) == 7));
/// # Ok(()) }
/// ```
///
/// While the handle lives the mapping cannot be read, written, unmapped or sliced (these
/// must not compile):
///
/// ```compile_fail
/// # use hmm_dmirror::Mapping;
/// let mut buf = Mapping::anon_private(hmm_dmirror::page_size()).unwrap();
/// let race = buf.racing();
/// let _ = buf.read_u8(0); // `buf` is borrowed by `race`
/// drop(race);
/// ```
///
/// ```compile_fail
/// # use hmm_dmirror::Mapping;
/// let mut buf = Mapping::anon_private(hmm_dmirror::page_size()).unwrap();
/// let race = buf.racing();
/// let _ = buf.unmap_pages(0, 1); // `buf` is borrowed by `race`
/// drop(race);
/// ```
///
/// ```compile_fail
/// # use hmm_dmirror::Mapping;
/// let mut buf = Mapping::anon_private(hmm_dmirror::page_size()).unwrap();
/// let slice = buf.as_i32_slice_mut();
/// let race = buf.racing(); // a live `&mut` slice of the memory rules out a race handle
/// slice[0] = 1;
/// drop(race);
/// ```
#[derive(Debug)]
pub struct Racing<'m> {
    /// Shared inside the handle, but taken from a `&'m mut Mapping`: no one else holds a
    /// reference to the mapping while the handle lives, and this one is never handed out.
    mapping: &'m Mapping,
    _exclusive: PhantomData<&'m mut Mapping>,
}

impl Mapping {
    /// Borrows the mapping exclusively for requests that may run at the same time, from
    /// several threads, with no lock between them ([`Racing`], whose docs state the
    /// contract).
    pub fn racing(&mut self) -> Racing<'_> {
        Racing {
            mapping: self,
            _exclusive: PhantomData,
        }
    }
}

impl Racing<'_> {
    /// Pages of the mapping.
    pub fn npages(&self) -> usize {
        self.mapping.npages()
    }

    /// `HMM_DMIRROR_WRITE` of pages `[first, first + npages)` from `src` (at least that many
    /// bytes), with no lock: it may run at the same time as any other request of the handle.
    /// Errors: as [`Mapping::pages`], [`Error::Unmapped`] for a page the mapping no longer
    /// owns, [`Error::MirrorTooSmall`], [`Error::Unsupported`], [`Error::Request`].
    pub fn write(&self, dev: &Device, first: usize, npages: usize, src: &[u8]) -> Result<Counts> {
        let req = Request::Write;
        let code = dev.request_code(req)?;
        let range = self.mapping.pages(first, npages)?;
        if src.len() < range.len() {
            return Err(Error::MirrorTooSmall {
                request: req,
                needed: range.len(),
                len: src.len(),
            });
        }
        // Ownership cannot change while the handle lives (nothing can unmap or move pages of
        // an exclusively borrowed mapping), so checking once under the lock is enough.
        Mapping::check_owned(&self.mapping.lock(), first, npages)?;
        let mut cmd = hmm_dmirror_cmd {
            addr: range.addr() as u64,
            ptr: src.as_ptr() as u64,
            npages: npages as u64,
            ..Default::default()
        };
        // SAFETY: the kernel reads `range.len()` bytes of `src` (checked, borrowed) and
        // writes the range's pages, which the mapping owns (checked) and keeps mapped while
        // the handle lives: the handle holds the mapping's exclusive borrow and does nothing
        // to the mapping but device requests, so no Rust reference or CPU access observes
        // the pages, and none can be unmapped (its address taken by another mapping) during
        // the request. Other requests of the handle running meanwhile only change what the
        // pages hold (or move them with their contents), which nothing observes either.
        unsafe { dev.submit(code, &mut cmd, src.len()) }.map_err(|errno| Error::Request {
            request: req,
            path: dev.path().to_path_buf(),
            errno,
        })?;
        Ok(Counts {
            cpages: cmd.cpages,
            faults: cmd.faults,
        })
    }

    /// `madvise(advice)` of the whole mapping, with no lock held across any request: it may
    /// run while requests of the handle run on the same pages (`MADV_DONTNEED` racing a
    /// migration). As [`Mapping::advise`].
    pub fn advise(&self, advice: Advice) -> Result<()> {
        self.mapping.advise(advice)
    }

    /// `madvise(advice)` of pages `[first, first + npages)`, as [`Racing::advise`]. Errors:
    /// as [`Mapping::advise_pages`].
    pub fn advise_pages(&self, first: usize, npages: usize, advice: Advice) -> Result<()> {
        // Sound through a shared handle: madvise changes at most what the pages hold (or
        // how they are backed), never whether they are mapped, and the handle exposes no
        // reference to them; Advice::Free marks the pages, so `as_i32_slice_mut` re-dirties
        // them once the handle is gone. The mapping's lock is held only for the madvise
        // itself, and no request of the handle waits for it but Racing::write's brief
        // ownership check.
        self.mapping.advise_pages(first, npages, advice)
    }

    /// [`Device::read`] of pages `[first, first + npages)`.
    pub fn read(
        &self,
        dev: &Device,
        first: usize,
        npages: usize,
        buf: &mut [u8],
    ) -> Result<Counts> {
        dev.read(self.mapping.pages(first, npages)?, buf)
    }

    /// [`Device::migrate_to_dev`] of pages `[first, first + npages)`.
    pub fn migrate_to_dev(
        &self,
        dev: &Device,
        first: usize,
        npages: usize,
        buf: &mut [u8],
    ) -> Result<Counts> {
        dev.migrate_to_dev(self.mapping.pages(first, npages)?, buf)
    }

    /// [`Device::migrate_to_sys`] of pages `[first, first + npages)`.
    pub fn migrate_to_sys(&self, dev: &Device, first: usize, npages: usize) -> Result<Counts> {
        dev.migrate_to_sys(self.mapping.pages(first, npages)?)
    }

    /// [`Device::snapshot`] of pages `[first, first + npages)`.
    pub fn snapshot(&self, dev: &Device, first: usize, npages: usize) -> Result<Snapshot> {
        dev.snapshot(self.mapping.pages(first, npages)?)
    }

    /// [`Device::exclusive`] of pages `[first, first + npages)`.
    pub fn exclusive(
        &self,
        dev: &Device,
        first: usize,
        npages: usize,
        buf: &mut [u8],
    ) -> Result<Counts> {
        dev.exclusive(self.mapping.pages(first, npages)?, buf)
    }
}

#[cfg(test)]
#[path = "racing/tests.rs"]
mod tests;
