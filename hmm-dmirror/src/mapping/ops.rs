//! The mm operations of a [`Mapping`]: mprotect, munmap of sub-ranges, madvise, mremap
//! (in place, moving, fixed into another mapping) and splitting.

use std::sync::Mutex;

use rustix::io::Errno;
use rustix::mm::MremapFlags;

use super::{check_len, Backing, GONE, LAZY_FREE};
use crate::{Advice, Error, Mapping, Prot, Result};

impl Mapping {
    /// `mprotect` of the whole mapping.
    pub fn protect(&self, prot: Prot) -> Result<()> {
        self.protect_pages(0, self.npages(), prot)
    }

    /// `mprotect` of pages `[first, first + npages)`.
    pub fn protect_pages(&self, first: usize, npages: usize, prot: Prot) -> Result<()> {
        self.check_pages(first, npages)?;
        let mut st = self.lock();
        Self::check_owned(&st, first, npages)?;
        // SAFETY: the range is mapped and owned by `self` (checked under the lock); no Rust
        // reference into it exists (`&mut self` slices cannot coexist with this `&self`), and
        // the accessors check the new protection before every access.
        unsafe {
            rustix::mm::mprotect(
                self.page_ptr(first),
                npages * self.page_size,
                prot.to_mprotect_flags(),
            )
        }
        .map_err(Error::sys("mprotect"))?;
        for s in &mut st[first..first + npages] {
            *s = (*s & LAZY_FREE) | prot.bits();
        }
        Ok(())
    }

    /// `munmap` of pages `[first, first + npages)`; they are no longer owned (accessing them
    /// panics, requests that need them fail with [`Error::Unmapped`], the device still sees
    /// the hole). Takes `&self`, so it may race a device request on another thread, as the
    /// `anon_teardown` test does.
    pub fn unmap_pages(&self, first: usize, npages: usize) -> Result<()> {
        self.check_pages(first, npages)?;
        let mut st = self.lock();
        Self::check_owned(&st, first, npages)?;
        // SAFETY: the range is owned by `self` (checked under the lock, which every content
        // access also holds), no reference into it exists, and it is marked GONE below so it
        // is never touched or unmapped again by this object.
        unsafe { rustix::mm::munmap(self.page_ptr(first), npages * self.page_size) }
            .map_err(Error::sys("munmap"))?;
        for s in &mut st[first..first + npages] {
            *s |= GONE;
        }
        Ok(())
    }

    /// `madvise` of the whole mapping.
    pub fn advise(&self, advice: Advice) -> Result<()> {
        self.advise_pages(0, self.npages(), advice)
    }

    /// `madvise` of pages `[first, first + npages)`.
    ///
    /// After [`Advice::Free`] the kernel may drop a page's contents until it is written
    /// again; the volatile accessors read whatever is there, and
    /// [`Mapping::as_i32_slice_mut`] writes each such page once before it hands out a
    /// reference (so its contents stay put while the reference lives).
    pub fn advise_pages(&self, first: usize, npages: usize, advice: Advice) -> Result<()> {
        self.check_pages(first, npages)?;
        let mut st = self.lock();
        Self::check_owned(&st, first, npages)?;
        let (addr, len) = (self.page_ptr(first), npages * self.page_size);
        if advice == Advice::Free {
            // Marked before the call: if it fails half way, some pages may be lazily freed.
            for s in &mut st[first..first + npages] {
                *s |= LAZY_FREE;
            }
        }
        match advice.to_rustix() {
            // SAFETY: the range is owned by `self` and no Rust reference into it exists, so
            // discarding contents (MADV_DONTNEED/FREE) cannot invalidate anything we read.
            Some(a) => unsafe { rustix::mm::madvise(addr, len, a) }.map_err(Error::sys("madvise")),
            None => {
                // SAFETY: as above; MADV_COLLAPSE only changes how the range is backed.
                let r = unsafe { libc::madvise(addr, len, advice.raw()) };
                if r == 0 {
                    Ok(())
                } else {
                    Err(Error::Sys {
                        op: "madvise",
                        errno: Errno::from_io_error(&std::io::Error::last_os_error())
                            .unwrap_or(Errno::INVAL),
                    })
                }
            }
        }
    }

    /// Splits the mapping at page `at`: `self` keeps pages `[0, at)` and the returned mapping
    /// owns `[at, npages)`, with no syscall. For layouts made of one contiguous reservation,
    /// e.g. a buffer followed by the hole `migrate_remap_fault` moves it into.
    pub fn split_off(&mut self, at: usize) -> Result<Mapping> {
        let npages = self.npages();
        if at == 0 || at >= npages {
            return Err(Error::OutOfRange {
                first: at,
                npages: npages.saturating_sub(at),
                mapping_pages: npages,
            });
        }
        let tail = self.state_mut().split_off(at);
        let page_size = self.page_size;
        let backing = match self.backing {
            // The tail starts `at` pages further into the file.
            Backing::File { avail } => Backing::File {
                avail: avail.saturating_sub((at * page_size) as u64),
            },
            other => other,
        };
        self.len = at * page_size;
        Ok(Mapping {
            ptr: self.ptr.wrapping_add(at * page_size),
            len: (npages - at) * page_size,
            page_size,
            sharing: self.sharing,
            backing,
            state: Mutex::new(tail),
        })
    }

    /// `mremap` of the whole mapping to `new_len` bytes, in place or (with `may_move`,
    /// `MREMAP_MAYMOVE`) wherever the kernel chooses. Pages added take the protection of the
    /// last page.
    ///
    /// Growing past the object behind the mapping is refused
    /// ([`Error::RemapPastObject`]): past the end of a file, or at all for a device-file
    /// mapping (its driver inserts its pages at mmap time) or memory mapped elsewhere; the
    /// added pages would have no backing, and touching them would raise SIGBUS.
    pub fn remap(&mut self, new_len: usize, may_move: bool) -> Result<()> {
        let new_pages = check_len(new_len, self.page_size)?;
        let object_len = match self.backing() {
            Backing::Anon | Backing::Hugetlb => None,
            Backing::File { avail } => Some(avail),
            Backing::Device | Backing::Foreign => Some(self.len as u64),
        };
        if let Some(object_len) = object_len {
            if new_len as u64 > object_len {
                return Err(Error::RemapPastObject {
                    new_len,
                    object_len,
                });
            }
        }
        let npages = self.npages();
        Self::check_owned(self.state_mut(), 0, npages)?;
        let flags = if may_move {
            MremapFlags::MAYMOVE
        } else {
            MremapFlags::empty()
        };
        // SAFETY: the whole old range is owned (checked) and `&mut self` rules out any other
        // access; without MREMAP_FIXED the kernel only grows into free address space.
        let p = unsafe { rustix::mm::mremap(self.ptr.cast(), self.len, new_len, flags) }
            .map_err(Error::sys("mremap"))?;
        self.ptr = p.cast();
        self.len = new_len;
        let st = self.state_mut();
        let last = st[npages - 1];
        st.resize(new_pages, last);
        Ok(())
    }

    /// `mremap(MREMAP_MAYMOVE | MREMAP_FIXED [| MREMAP_DONTUNMAP])` of the whole mapping onto
    /// pages `[dest_first, dest_first + self.npages())` of `dest` (as `migrate_remap_fault`
    /// does). Returns the mapping at the new place, which takes those pages over from `dest`.
    /// Without `dont_unmap` the old range is unmapped and `self` owns nothing afterwards; with
    /// it, `self` keeps its (now empty) range.
    pub fn move_to(
        &mut self,
        dest: &mut Mapping,
        dest_first: usize,
        dont_unmap: bool,
    ) -> Result<Mapping> {
        let npages = self.npages();
        Self::check_owned(self.state_mut(), 0, npages)?;
        dest.check_pages(dest_first, npages)?;
        Self::check_owned(dest.state_mut(), dest_first, npages)?;
        let target = dest.page_ptr(dest_first);
        let mut flags = MremapFlags::MAYMOVE;
        if dont_unmap {
            flags |= MremapFlags::DONTUNMAP;
        }
        // SAFETY: the old range is owned by `self` and the target range by `dest` (checked),
        // both exclusively borrowed so nothing else accesses them; the target's previous
        // mapping is replaced, and `dest` gives up those pages below.
        let p =
            unsafe { rustix::mm::mremap_fixed(self.ptr.cast(), self.len, self.len, flags, target) }
                .map_err(Error::sys("mremap"))?;
        let moved = Mapping {
            ptr: p.cast(),
            len: self.len,
            page_size: self.page_size,
            sharing: self.sharing,
            backing: self.backing,
            state: Mutex::new(self.state_mut().clone()),
        };
        for s in &mut dest.state_mut()[dest_first..dest_first + npages] {
            *s |= GONE;
        }
        if !dont_unmap {
            for s in self.state_mut().iter_mut() {
                *s |= GONE;
            }
        }
        Ok(moved)
    }
}
