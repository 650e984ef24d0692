//! [`Mirror`]: the host buffer a request copies to or from (`cmd.ptr`).

use core::ops::{Deref, DerefMut, Range};

use crate::{Error, Result};

/// An owned, zero-initialised, 8-byte aligned buffer of `len` bytes, viewed as bytes or as
/// `i32` words (the C tests compare int arrays). It derefs to `[u8]`, which is what requests
/// take (`&mut [u8]` where the kernel writes it), so a `Vec<u8>` or any byte slice serves as
/// well; a `Mirror` adds the alignment and the `i32` views.
#[derive(Clone, PartialEq, Eq)]
pub struct Mirror {
    buf: Vec<u64>,
    len: usize,
}

impl core::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mirror")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// `bytes` zero bytes; [`Error::OutOfMemory`] when they cannot be allocated (never an
    /// abort).
    pub fn try_new(bytes: usize) -> Result<Mirror> {
        let words = bytes.div_ceil(8);
        if words == 0 {
            return Ok(Mirror {
                buf: Vec::new(),
                len: 0,
            });
        }
        let layout =
            std::alloc::Layout::array::<u64>(words).map_err(|_| Error::OutOfMemory { bytes })?;
        // SAFETY: `layout` has a non-zero size (words > 0). `alloc_zeroed` (calloc: large
        // buffers come zeroed from the kernel, untouched) instead of `vec![0; n]`, which
        // aborts when the allocation fails.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<u64>();
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes });
        }
        // SAFETY: `ptr` was just allocated by the global allocator with the layout of
        // `[u64; words]`, and all its `words` elements are initialised (zero is a valid u64),
        // so the Vec may own it with length and capacity `words`.
        let buf = unsafe { Vec::from_raw_parts(ptr, words, words) };
        Ok(Mirror { buf, len: bytes })
    }

    /// Room for `npages` pages (READ, WRITE, MIGRATE_*, EXCLUSIVE); [`Error::Overflow`] or
    /// [`Error::OutOfMemory`] when that is too much.
    pub fn try_for_pages(npages: usize) -> Result<Mirror> {
        let bytes = npages
            .checked_mul(crate::page_size())
            .ok_or(Error::Overflow)?;
        Mirror::try_new(bytes)
    }

    /// Room for a SNAPSHOT of `npages` pages (one byte each); errors as [`Mirror::try_new`].
    pub fn try_for_snapshot(npages: usize) -> Result<Mirror> {
        Mirror::try_new(npages)
    }

    /// [`Mirror::try_new`] for sizes known to be small.
    ///
    /// # Panics
    /// When the bytes cannot be allocated (use [`Mirror::try_new`] to get an error instead).
    pub fn new(bytes: usize) -> Mirror {
        Mirror::try_new(bytes).unwrap_or_else(|e| panic!("Mirror::new: {e}"))
    }

    /// [`Mirror::try_for_pages`] for sizes known to be small.
    ///
    /// # Panics
    /// When the size overflows or cannot be allocated.
    pub fn for_pages(npages: usize) -> Mirror {
        Mirror::try_for_pages(npages).unwrap_or_else(|e| panic!("Mirror::for_pages: {e}"))
    }

    /// [`Mirror::try_for_snapshot`] for sizes known to be small.
    ///
    /// # Panics
    /// When the bytes cannot be allocated.
    pub fn for_snapshot(npages: usize) -> Mirror {
        Mirror::try_for_snapshot(npages).unwrap_or_else(|e| panic!("Mirror::for_snapshot: {e}"))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mirror has no byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length in whole `i32` words.
    pub fn words(&self) -> usize {
        self.len / 4
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `buf` holds at least `len` initialised bytes (u64s are plain bytes), and the
        // slice borrows `self`.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len) }
    }

    /// The bytes, mutable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `as_bytes`; every byte pattern is a valid u64, and the borrow is unique.
        unsafe { core::slice::from_raw_parts_mut(self.buf.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// The whole `i32` words.
    pub fn as_i32(&self) -> &[i32] {
        // SAFETY: `buf` is 8-byte aligned and holds at least `words() * 4` initialised bytes;
        // every byte pattern is a valid i32.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<i32>(), self.words()) }
    }

    /// The whole `i32` words, mutable.
    pub fn as_i32_mut(&mut self) -> &mut [i32] {
        let words = self.words();
        // SAFETY: as `as_i32`; every byte pattern is a valid u64, and the borrow is unique.
        unsafe { core::slice::from_raw_parts_mut(self.buf.as_mut_ptr().cast::<i32>(), words) }
    }

    /// Word `idx`. Panics if out of bounds.
    pub fn get_i32(&self, idx: usize) -> i32 {
        self.as_i32()[idx]
    }

    /// Sets word `idx`. Panics if out of bounds.
    pub fn set_i32(&mut self, idx: usize, v: i32) {
        self.as_i32_mut()[idx] = v;
    }

    /// Sets every byte to `byte` (`memset`).
    pub fn fill(&mut self, byte: u8) {
        self.as_bytes_mut().fill(byte);
    }

    /// Sets every word `i` to `f(i)`.
    pub fn fill_i32(&mut self, mut f: impl FnMut(usize) -> i32) {
        for (i, w) in self.as_i32_mut().iter_mut().enumerate() {
            *w = f(i);
        }
    }

    /// The first word `i` in `words` that differs from `expect(i)`, as
    /// `(i, actual, expected)`. Panics if `words` is out of bounds.
    pub fn mismatch_i32(
        &self,
        words: Range<usize>,
        mut expect: impl FnMut(usize) -> i32,
    ) -> Option<(usize, i32, i32)> {
        let w = self.as_i32();
        words.into_iter().find_map(|i| {
            let e = expect(i);
            (w[i] != e).then_some((i, w[i], e))
        })
    }

    /// Start of the buffer.
    pub fn as_ptr(&self) -> *const u8 {
        self.buf.as_ptr().cast()
    }

    /// Start of the buffer, mutable.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr().cast()
    }
}

impl Deref for Mirror {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl DerefMut for Mirror {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_bytes_mut()
    }
}

impl AsRef<[u8]> for Mirror {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsMut<[u8]> for Mirror {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_bytes_mut()
    }
}
