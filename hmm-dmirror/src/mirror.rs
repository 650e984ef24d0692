//! [`Mirror`]: the host buffer a request copies to or from (`cmd.ptr`).

use core::ops::Range;

/// An owned, zero-initialised, 8-byte aligned buffer of `len` bytes, viewed as bytes or as
/// `i32` words (the C tests compare int arrays). Requests that make the kernel write it take
/// `&mut Mirror`, so it is plain memory with safe slice views.
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
    /// `bytes` zero bytes.
    pub fn new(bytes: usize) -> Mirror {
        Mirror {
            buf: vec![0; bytes.div_ceil(8)],
            len: bytes,
        }
    }

    /// Room for `npages` pages (READ, WRITE, MIGRATE_*, EXCLUSIVE).
    pub fn for_pages(npages: usize) -> Mirror {
        Mirror::new(
            npages
                .checked_mul(crate::page_size())
                .expect("mirror size overflows"),
        )
    }

    /// Room for a SNAPSHOT of `npages` pages (one byte each).
    pub fn for_snapshot(npages: usize) -> Mirror {
        Mirror::new(npages)
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
