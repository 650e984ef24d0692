//! Reading and writing a [`Mapping`]'s contents.
//!
//! The device (and, for shared mappings, other processes) may change the memory at any time,
//! so every access is a volatile read or write done while holding the mapping's state lock,
//! after checking the page is owned and has the needed protection (closures passed in run
//! outside the lock). A violated check panics,
//! like an out-of-bounds slice index. The only reference-based view,
//! [`Mapping::as_i32_slice_mut`], needs `&mut self` (so no device request can target the
//! mapping meanwhile) and a private anonymous mapping (so no other process can write it).

use core::ops::Range;

use crate::mapping::{Backing, GONE, LAZY_FREE};
use crate::{Mapping, Prot, Sharing};

/// Words handled per lock acquisition by the closure-taking helpers, which never call the
/// closure while holding the lock (so it may use the same mapping).
const CHUNK: usize = 1024;

impl Mapping {
    /// Panics unless bytes `[off, off + len)` are inside the mapping, owned, and have `need`.
    fn assert_access(&self, state: &[u8], off: usize, len: usize, need: Prot) {
        let end = off.checked_add(len).filter(|&e| e <= self.len());
        let Some(end) = end else {
            panic!(
                "access to bytes {off}..{off}+{len} out of bounds of a {}-byte mapping",
                self.len()
            );
        };
        if len == 0 {
            return;
        }
        let ps = self.page_size();
        for (page, s) in state
            .iter()
            .enumerate()
            .take((end - 1) / ps + 1)
            .skip(off / ps)
        {
            if s & GONE != 0 {
                panic!(
                    "access to page {page}, which this mapping no longer owns (unmapped or moved)"
                );
            }
            if !Prot::from_bits(*s).contains(need) {
                panic!(
                    "access to page {page} needs {need:?} but it is {:?}",
                    Prot::from_bits(*s)
                );
            }
        }
    }

    fn word_range(&self, words: &Range<usize>) -> (usize, usize) {
        assert!(words.start <= words.end, "word range {words:?} is reversed");
        let off = words.start.checked_mul(4).expect("word index overflows");
        let len = (words.end - words.start)
            .checked_mul(4)
            .expect("word range overflows");
        (off, len)
    }

    /// Reads `i32` word `idx` (byte offset `4 * idx`), volatile.
    ///
    /// # Panics
    /// If the word is out of bounds, or its page is unmapped or not readable.
    pub fn read_i32(&self, idx: usize) -> i32 {
        let off = idx.checked_mul(4).expect("word index overflows");
        let st = self.lock();
        self.assert_access(&st, off, 4, Prot::READ);
        // SAFETY: checked above under the lock: in bounds, owned, readable; `ptr` is page
        // aligned so `off` (a multiple of 4) is aligned for i32. Volatile: the kernel may
        // change the memory behind our back.
        unsafe { self.as_ptr().add(off).cast::<i32>().read_volatile() }
    }

    /// Writes `i32` word `idx` (byte offset `4 * idx`), volatile.
    ///
    /// # Panics
    /// If the word is out of bounds, or its page is unmapped or not writable.
    pub fn write_i32(&self, idx: usize, v: i32) {
        let off = idx.checked_mul(4).expect("word index overflows");
        let st = self.lock();
        self.assert_access(&st, off, 4, Prot::WRITE);
        // SAFETY: checked above under the lock: in bounds, owned, writable, aligned.
        unsafe { self.as_ptr().add(off).cast::<i32>().write_volatile(v) }
    }

    /// Reads the byte at offset `off`, volatile.
    ///
    /// # Panics
    /// If out of bounds, or the page is unmapped or not readable.
    pub fn read_u8(&self, off: usize) -> u8 {
        let st = self.lock();
        self.assert_access(&st, off, 1, Prot::READ);
        // SAFETY: checked above under the lock: in bounds, owned, readable.
        unsafe { self.as_ptr().add(off).read_volatile() }
    }

    /// Writes the byte at offset `off`, volatile.
    ///
    /// # Panics
    /// If out of bounds, or the page is unmapped or not writable.
    pub fn write_u8(&self, off: usize, v: u8) {
        let st = self.lock();
        self.assert_access(&st, off, 1, Prot::WRITE);
        // SAFETY: checked above under the lock: in bounds, owned, writable.
        unsafe { self.as_ptr().add(off).write_volatile(v) }
    }

    /// Copies `dst.len()` bytes starting at byte `off` out of the mapping, volatile.
    ///
    /// # Panics
    /// If the bytes are out of bounds, or a page is unmapped or not readable.
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        let st = self.lock();
        self.assert_access(&st, off, dst.len(), Prot::READ);
        let base = self.as_ptr();
        for (k, d) in dst.iter_mut().enumerate() {
            // SAFETY: the whole byte range was checked above under the (still held) lock.
            *d = unsafe { base.add(off + k).read_volatile() };
        }
    }

    /// Copies `src` into the mapping starting at byte `off`, volatile.
    ///
    /// # Panics
    /// If the bytes are out of bounds, or a page is unmapped or not writable.
    pub fn write_bytes(&self, off: usize, src: &[u8]) {
        let st = self.lock();
        self.assert_access(&st, off, src.len(), Prot::WRITE);
        let base = self.as_ptr();
        for (k, v) in src.iter().enumerate() {
            // SAFETY: the whole byte range was checked above under the (still held) lock.
            unsafe { base.add(off + k).write_volatile(*v) };
        }
    }

    /// Copies `dst.len()` words starting at word `start` out of the mapping, volatile.
    ///
    /// # Panics
    /// If the words are out of bounds, or a page is unmapped or not readable.
    pub fn read_i32_slice(&self, start: usize, dst: &mut [i32]) {
        let end = start.checked_add(dst.len()).expect("word range overflows");
        let (off, len) = self.word_range(&(start..end));
        let st = self.lock();
        self.assert_access(&st, off, len, Prot::READ);
        let base = self.as_ptr().cast::<i32>();
        for (k, d) in dst.iter_mut().enumerate() {
            // SAFETY: the whole word range was checked above under the (still held) lock.
            *d = unsafe { base.add(start + k).read_volatile() };
        }
    }

    /// Copies `src` into the mapping starting at word `start`, volatile.
    ///
    /// # Panics
    /// If the words are out of bounds, or a page is unmapped or not writable.
    pub fn write_i32_slice(&self, start: usize, src: &[i32]) {
        let end = start.checked_add(src.len()).expect("word range overflows");
        let (off, len) = self.word_range(&(start..end));
        let st = self.lock();
        self.assert_access(&st, off, len, Prot::WRITE);
        let base = self.as_ptr().cast::<i32>();
        for (k, v) in src.iter().enumerate() {
            // SAFETY: the whole word range was checked above under the (still held) lock.
            unsafe { base.add(start + k).write_volatile(*v) };
        }
    }

    /// Checks a whole word range once up front, so a bad range panics before any access.
    fn assert_words(&self, words: &Range<usize>, need: Prot) {
        let (off, len) = self.word_range(words);
        let st = self.lock();
        self.assert_access(&st, off, len, need);
    }

    /// Writes `f(i)` to every word `i` of the mapping.
    ///
    /// # Panics
    /// If a page is unmapped or not writable.
    pub fn fill_i32(&self, f: impl FnMut(usize) -> i32) {
        self.fill_i32_words(0..self.words(), f)
    }

    /// Writes `f(i)` to every word `i` in `words`. `f` runs without the lock held, so it may
    /// itself use this mapping.
    ///
    /// # Panics
    /// If the words are out of bounds, or a page is unmapped or not writable.
    pub fn fill_i32_words(&self, words: Range<usize>, mut f: impl FnMut(usize) -> i32) {
        self.assert_words(&words, Prot::WRITE);
        let mut buf = [0i32; CHUNK];
        let mut i = words.start;
        while i < words.end {
            let n = CHUNK.min(words.end - i);
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = f(i + k);
            }
            self.write_i32_slice(i, &buf[..n]);
            i += n;
        }
    }

    /// Writes `byte` to every byte of the mapping.
    ///
    /// # Panics
    /// If a page is unmapped or not writable.
    pub fn fill_bytes(&self, byte: u8) {
        let st = self.lock();
        self.assert_access(&st, 0, self.len(), Prot::WRITE);
        for off in 0..self.len() {
            // SAFETY: the whole mapping was checked above under the (still held) lock.
            unsafe { self.as_ptr().add(off).write_volatile(byte) }
        }
    }

    /// Copies every word of the mapping out.
    ///
    /// # Panics
    /// If a page is unmapped or not readable.
    pub fn to_vec_i32(&self) -> Vec<i32> {
        self.to_vec_i32_words(0..self.words())
    }

    /// Copies the words in `words` out.
    ///
    /// # Panics
    /// If the words are out of bounds, or a page is unmapped or not readable.
    pub fn to_vec_i32_words(&self, words: Range<usize>) -> Vec<i32> {
        self.word_range(&words);
        let mut out = vec![0; words.len()];
        self.read_i32_slice(words.start, &mut out);
        out
    }

    /// The first word `i` in `words` whose value differs from `expect(i)`, as
    /// `(i, actual, expected)`; `None` when all match. Reads in order, volatile, so it also
    /// faults device pages back like the C loops do. `expect` runs without the lock held.
    ///
    /// # Panics
    /// If the words are out of bounds, or a page is unmapped or not readable.
    pub fn mismatch_i32(
        &self,
        words: Range<usize>,
        mut expect: impl FnMut(usize) -> i32,
    ) -> Option<(usize, i32, i32)> {
        self.assert_words(&words, Prot::READ);
        let mut buf = [0i32; CHUNK];
        let mut i = words.start;
        while i < words.end {
            let n = CHUNK.min(words.end - i);
            self.read_i32_slice(i, &mut buf[..n]);
            for (k, &v) in buf[..n].iter().enumerate() {
                let e = expect(i + k);
                if v != e {
                    return Some((i + k, v, e));
                }
            }
            i += n;
        }
        None
    }

    /// The whole mapping as a mutable `i32` slice, for fast fills and checks.
    ///
    /// # Panics
    /// Unless the mapping is private anonymous (or private hugetlb) memory, fully owned and
    /// mapped read-write: only then can nothing but this process change it, and `&mut self`
    /// keeps device requests (which borrow the mapping) away while the slice lives.
    pub fn as_i32_slice_mut(&mut self) -> &mut [i32] {
        assert!(
            self.sharing() == Sharing::Private
                && matches!(self.backing(), Backing::Anon | Backing::Hugetlb),
            "as_i32_slice_mut needs a private anonymous mapping"
        );
        let len = self.len();
        let words = self.words();
        let ps = self.page_size();
        let base = self.as_ptr();
        let st = self.state_mut();
        for (page, s) in st.iter_mut().enumerate() {
            if *s & LAZY_FREE == 0 {
                continue;
            }
            if *s & GONE != 0 || !Prot::from_bits(*s).contains(Prot::RW) {
                continue; // the check below panics: no slice is made
            }
            *s &= !LAZY_FREE;
            // A write makes a lazily freed page dirty again, so the kernel keeps it from then
            // on (reading first keeps its byte if it was not dropped yet).
            // SAFETY: the page is owned and mapped read-write (checked just above), and
            // nothing else accesses it (`&mut self`).
            unsafe {
                let p = base.add(page * ps);
                p.write_volatile(p.read_volatile());
            }
        }
        let st = self.lock();
        self.assert_access(&st, 0, len, Prot::RW);
        drop(st);
        // SAFETY: the mapping is owned, mapped read-write for `len` bytes and page aligned
        // (checked above); it is private anonymous memory, so only this process changes it;
        // no page of it is lazily freed any more (rewritten above), so the kernel keeps every
        // page's contents; and the slice borrows `self` mutably, so no device request (they
        // borrow the mapping through `PageRange`), mprotect, munmap or other accessor can run
        // while it lives.
        unsafe { core::slice::from_raw_parts_mut(self.as_ptr().cast::<i32>(), words) }
    }
}
