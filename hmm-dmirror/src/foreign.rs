//! Memory mapped by someone else, taken over by a [`Mapping`]: `memmap2::MmapMut` (feature
//! `memmap2`).

use crate::mapping::Backing;
use crate::range::check_page_run;
use crate::{Error, Mapping, Prot, Sharing};

/// A `memmap2::MmapMut` that cannot become a [`Mapping`] (not whole, page-aligned pages),
/// handed back with the reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot take over the memory map: {reason}")]
pub struct MmapRejected {
    /// Why.
    #[source]
    pub reason: Error,
    /// The map, unchanged.
    pub mmap: memmap2::MmapMut,
}

/// Takes over a read-write memory map: the [`Mapping`] unmaps it when dropped. Its start
/// and length must be whole pages (a map of a file from an offset that is not a page
/// multiple, or of a length that is not, is handed back). What backs it is not known to
/// the mapping, so it reports [`Sharing::Shared`] (whether or not it is),
/// [`Mapping::as_i32_slice_mut`] refuses it and [`Mapping::remap`] does not grow it. A
/// file behind it must keep its size while it is mapped, as `memmap2` requires.
impl TryFrom<memmap2::MmapMut> for Mapping {
    type Error = MmapRejected;
    fn try_from(mut mmap: memmap2::MmapMut) -> Result<Mapping, MmapRejected> {
        if let Err(reason) = check_page_run(mmap.as_ptr(), mmap.len()) {
            return Err(MmapRejected { reason, mmap });
        }
        let (ptr, len) = (mmap.as_mut_ptr(), mmap.len());
        // The pages pass to the mapping: `MmapMut` owns nothing else, and its drop would
        // unmap them.
        core::mem::forget(mmap);
        Ok(Mapping::from_foreign(ptr, len))
    }
}

impl Mapping {
    /// A mapping owning `len` bytes (whole pages) of read-write memory at `ptr`, mapped
    /// by someone else who gave up ownership.
    pub(crate) fn from_foreign(ptr: *mut u8, len: usize) -> Mapping {
        Mapping::from_raw(ptr.cast(), len, Prot::RW, Sharing::Shared, Backing::Foreign)
    }
}
