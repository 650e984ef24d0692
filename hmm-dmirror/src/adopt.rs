//! Memory mapped by hand, taken over by a [`Mapping`]: [`Mapping::from_raw_parts`], and
//! giving pages up without unmapping them ([`Mapping::forget_pages`]), for code that moves
//! pages with its own `mremap`.

use crate::mapping::{Backing, GONE};
use crate::range::check_page_run;
use crate::{Mapping, Prot, Result, Sharing};

impl Mapping {
    /// Takes over `len` bytes of memory at `ptr` that the caller mapped itself (an `mmap`
    /// it made, the result of an `mremap`): the [`Mapping`] tracks it from then on and
    /// unmaps it when dropped. `ptr` must be page aligned and `len` whole pages
    /// ([`crate::Error::Misaligned`], [`crate::Error::NotPageMultiple`],
    /// [`crate::Error::ZeroPages`]).
    ///
    /// The object behind the memory is not known to the mapping: [`Mapping::remap`] does not
    /// grow it and [`Mapping::as_i32_slice_mut`] refuses it, as for a `memmap2` map.
    ///
    /// # Safety
    ///
    /// `[ptr, ptr + len)` is mapped, with protection `prot` and sharing `sharing` on every
    /// page, and the caller gives up every other way of reaching it: nothing else reads,
    /// writes, unmaps, protects or moves it (no live reference into it, no other owner such
    /// as another `Mapping` or a `memmap2` map). If the memory is a file's, the file keeps
    /// its size while the mapping lives.
    pub unsafe fn from_raw_parts(
        ptr: *mut u8,
        len: usize,
        prot: Prot,
        sharing: Sharing,
    ) -> Result<Mapping> {
        check_page_run(ptr, len)?;
        Ok(Mapping::from_raw(
            ptr.cast(),
            len,
            prot,
            sharing,
            Backing::Foreign,
        ))
    }

    /// Gives up pages `[first, first + npages)` without unmapping them: the mapping no
    /// longer reads, writes, protects or unmaps them (as after [`Mapping::unmap_pages`]), and
    /// whatever is mapped there is left alone. For pages that someone moved away with their
    /// own `mremap` (take the moved pages over with [`Mapping::from_raw_parts`]). Errors: as
    /// [`Mapping::pages`], and [`crate::Error::Unmapped`] for pages already given up.
    pub fn forget_pages(&mut self, first: usize, npages: usize) -> Result<()> {
        self.check_pages(first, npages)?;
        let st = self.state_mut();
        Mapping::check_owned(st, first, npages)?;
        for s in &mut st[first..first + npages] {
            *s |= GONE;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Mapping, Prot, Sharing};

    fn ps() -> usize {
        crate::page_size()
    }

    #[test]
    fn a_hand_made_map_is_adopted_used_and_unmapped_once() {
        let mm = memmap_anon(4 * ps());
        // SAFETY: `mm` is a fresh private anonymous read-write map of 4 pages that nothing
        // else refers to; ownership passes to the mapping.
        let m =
            unsafe { Mapping::from_raw_parts(mm, 4 * ps(), Prot::RW, Sharing::Private) }.unwrap();
        m.fill_i32(|i| i as i32);
        assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), None);
        m.unmap_pages(1, 1).unwrap();
        assert!(!m.is_mapped(1));
        drop(m); // unmaps pages 0, 2, 3 only
    }

    #[test]
    fn from_raw_parts_checks_alignment_and_length() {
        let mm = memmap_anon(2 * ps());
        // SAFETY: refused before anything is taken over (misaligned / not whole pages).
        let err = unsafe {
            Mapping::from_raw_parts(mm.wrapping_add(1), ps(), Prot::RW, Sharing::Private)
        }
        .unwrap_err();
        assert!(matches!(err, Error::Misaligned { .. }), "{err:?}");
        // SAFETY: as above.
        let err = unsafe { Mapping::from_raw_parts(mm, ps() + 1, Prot::RW, Sharing::Private) }
            .unwrap_err();
        assert!(matches!(err, Error::NotPageMultiple { .. }), "{err:?}");
        // SAFETY: the whole map, taken over once (and unmapped when dropped).
        drop(unsafe { Mapping::from_raw_parts(mm, 2 * ps(), Prot::RW, Sharing::Private) });
    }

    #[test]
    fn forgotten_pages_are_left_alone() {
        let mut m = Mapping::anon_private(3 * ps()).unwrap();
        m.forget_pages(1, 2).unwrap();
        assert!(m.is_mapped(0) && !m.is_mapped(1) && !m.is_mapped(2));
        let err = m.forget_pages(2, 1).unwrap_err();
        assert!(matches!(err, Error::Unmapped { .. }), "{err:?}");
        let tail = m.as_ptr().wrapping_add(ps());
        drop(m);
        // The forgotten pages are still mapped: take them over again, and write them.
        // SAFETY: the pages were given up by `m` without unmapping; nothing else refers to
        // them.
        let t =
            unsafe { Mapping::from_raw_parts(tail, 2 * ps(), Prot::RW, Sharing::Private) }.unwrap();
        t.fill_bytes(5);
        assert_eq!(t.read_u8(2 * ps() - 1), 5);
    }

    /// A private anonymous read-write map made without the library.
    fn memmap_anon(len: usize) -> *mut u8 {
        // SAFETY: no hint and no MAP_FIXED: the kernel picks free address space.
        unsafe {
            rustix::mm::mmap_anonymous(
                core::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .unwrap()
        .cast()
    }
}
