//! [`PageRange`]: `(addr, npages)` inside one [`Mapping`], the target of a device request.

use crate::{Error, Mapping, Result};

/// A non-empty run of whole pages inside one [`Mapping`], borrowed from it, so it cannot
/// outlive the mapping. Made only by the checked methods [`Mapping::all`],
/// [`Mapping::pages`] and [`Mapping::byte_range`]. Pages may have been unmapped since (the
/// device then sees the hole), but [`crate::Device::write`] refuses such a range.
#[derive(Clone, Copy, Debug)]
pub struct PageRange<'a> {
    mapping: &'a Mapping,
    first: usize,
    npages: usize,
}

impl<'a> PageRange<'a> {
    /// Start address (`cmd.addr`).
    pub fn addr(&self) -> usize {
        self.mapping.addr() + self.first * self.mapping.page_size()
    }

    /// Index of the first page inside the mapping.
    pub fn first_page(&self) -> usize {
        self.first
    }

    /// Number of pages (`cmd.npages`).
    pub fn npages(&self) -> usize {
        self.npages
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.npages * self.mapping.page_size()
    }

    /// Always `false`: a range has at least one page.
    pub fn is_empty(&self) -> bool {
        self.npages == 0
    }

    /// The mapping the range lies in.
    pub fn mapping(&self) -> &'a Mapping {
        self.mapping
    }
}

impl Mapping {
    /// The whole mapping as a range.
    pub fn all(&self) -> PageRange<'_> {
        PageRange {
            mapping: self,
            first: 0,
            npages: self.npages(),
        }
    }

    /// Pages `[first, first + npages)`, like `buffer->ptr = p + first * page_size` in C.
    /// Errors: [`Error::ZeroPages`], [`Error::Overflow`], [`Error::OutOfRange`].
    pub fn pages(&self, first: usize, npages: usize) -> Result<PageRange<'_>> {
        self.check_pages(first, npages)?;
        Ok(PageRange {
            mapping: self,
            first,
            npages,
        })
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
