//! [`PageRange`]: `(addr, npages)` the device requests target: pages of a [`Mapping`], or of
//! memory the caller borrows.

use core::marker::PhantomData;

use crate::{Error, Mapping, Result};

/// Who the pages of a range belong to.
#[derive(Clone, Copy, Debug)]
enum Owner<'a> {
    /// Pages `[first, first + npages)` of a [`Mapping`].
    Mapping { mapping: &'a Mapping, first: usize },
    /// Caller memory borrowed shared ([`PageRange::from_slice`]).
    Borrowed(PhantomData<&'a [u8]>),
}

/// A non-empty run of whole pages the device is asked to read, snapshot, migrate or take
/// exclusive access to, borrowed for `'a`, so it cannot outlive its memory. Made by the
/// checked methods [`Mapping::all`], [`Mapping::pages`], [`Mapping::byte_range`], or from
/// caller memory with [`PageRange::from_slice`]. Pages of a mapping may have been unmapped
/// since (the device then sees the hole), but [`crate::Device::write`] refuses such a range.
#[derive(Clone, Copy, Debug)]
pub struct PageRange<'a> {
    owner: Owner<'a>,
    addr: usize,
    npages: usize,
    page_size: usize,
}

/// Checks that `ptr..ptr+len` is a non-empty run of whole, page-aligned pages.
pub(crate) fn check_page_run(ptr: *const u8, len: usize) -> Result<usize> {
    let ps = crate::page_size();
    if ptr as usize % ps != 0 {
        return Err(Error::Misaligned {
            what: "buffer address",
            value: ptr as usize,
            align: ps,
        });
    }
    crate::mapping::check_len(len, ps)
}

impl<'a> PageRange<'a> {
    /// The pages of caller memory `pages` (start page aligned, whole pages, at least one:
    /// [`Error::Misaligned`], [`Error::NotPageMultiple`], [`Error::ZeroPages`]), e.g. a
    /// `memmap2::MmapMut` or a page-aligned allocation. Requests that leave the range's
    /// contents as they are (READ, SNAPSHOT, MIGRATE_*, EXCLUSIVE) take it; the kernel
    /// moving such pages to device memory and back keeps their contents, and CPU accesses
    /// fault them back. [`crate::Device::write`] refuses it ([`Error::SharedBorrow`]): use
    /// [`crate::Device::write_slice`], which borrows the memory exclusively.
    pub fn from_slice(pages: &'a [u8]) -> Result<PageRange<'a>> {
        let npages = check_page_run(pages.as_ptr(), pages.len())?;
        Ok(PageRange {
            owner: Owner::Borrowed(PhantomData),
            addr: pages.as_ptr() as usize,
            npages,
            page_size: crate::page_size(),
        })
    }

    /// Start address (`cmd.addr`).
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Index of the first page inside its mapping (0 for borrowed memory).
    pub fn first_page(&self) -> usize {
        match self.owner {
            Owner::Mapping { first, .. } => first,
            Owner::Borrowed(_) => 0,
        }
    }

    /// Number of pages (`cmd.npages`).
    pub fn npages(&self) -> usize {
        self.npages
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.npages * self.page_size
    }

    /// Always `false`: a range has at least one page.
    pub fn is_empty(&self) -> bool {
        self.npages == 0
    }

    /// The mapping the range lies in; `None` for borrowed memory.
    pub fn mapping(&self) -> Option<&'a Mapping> {
        match self.owner {
            Owner::Mapping { mapping, .. } => Some(mapping),
            Owner::Borrowed(_) => None,
        }
    }
}

impl Mapping {
    fn range(&self, first: usize, npages: usize) -> PageRange<'_> {
        PageRange {
            owner: Owner::Mapping {
                mapping: self,
                first,
            },
            addr: self.addr() + first * self.page_size(),
            npages,
            page_size: self.page_size(),
        }
    }

    /// The whole mapping as a range.
    pub fn all(&self) -> PageRange<'_> {
        self.range(0, self.npages())
    }

    /// Pages `[first, first + npages)`, like `buffer->ptr = p + first * page_size` in C.
    /// Errors: [`Error::ZeroPages`], [`Error::Overflow`], [`Error::OutOfRange`].
    pub fn pages(&self, first: usize, npages: usize) -> Result<PageRange<'_>> {
        self.check_pages(first, npages)?;
        Ok(self.range(first, npages))
    }

    /// The range of `len` bytes at byte `offset`; both must be whole pages
    /// ([`Error::NotPageMultiple`]), then as [`Mapping::pages`].
    pub fn byte_range(&self, offset: usize, len: usize) -> Result<PageRange<'_>> {
        let ps = self.page_size();
        for v in [offset, len] {
            if v % ps != 0 {
                return Err(Error::NotPageMultiple {
                    len: v,
                    page_size: ps,
                });
            }
        }
        self.pages(offset / ps, len / ps)
    }
}
