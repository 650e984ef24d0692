//! `struct hmm_buffer` and its helpers, standing on `hmm-dmirror`: the memory is a
//! [`Mapping`] (or several, once a test moved part of it with `mremap`), the host "mirror"
//! the device copies to/from is a [`Mirror`], plus the counters of the last request.
//!
//! The tests manipulate address space exactly as the C ones do (realign `ptr` inside a
//! larger mapping, punch holes, mremap), so the buffer keeps `ptr` as a raw address, and its
//! mm calls take addresses; each is checked to lie inside a mapping the buffer owns and goes
//! through that [`Mapping`] (which tracks, page by page, what it still owns and unmaps only
//! that when dropped). Memory is reached through bounds-checked volatile views ([`Ints`],
//! [`Bytes`]) borrowed from the buffer. A view panics on an access to a page the buffer did
//! not own when the view was made (the C test would fault there), and `munmap`/`mremap`
//! take `&mut HmmBuffer`, so no view outlives a page it may touch; a page the test protected
//! faults the case's process exactly as the C test would (the harness reports the signal).
//! A request needs `&mut HmmBuffer`, so no view is alive while the kernel writes.

use std::marker::PhantomData;

use hmm_dmirror::{Advice, Device, Mapping, Mirror, Prot, Sharing, TempFile};

/// What a buffer's memory is mapped from: the `fd` argument of `hmm_buffer_alloc()`.
#[derive(Clone, Copy)]
pub enum MapFrom<'a> {
    /// `-1`: anonymous memory.
    Anon,
    /// A temporary file (`hmm_create_file()`).
    File(&'a TempFile),
    /// The device file itself (`mixedmap`).
    Device(&'a Device),
}

/// `-1` as in C; a raw descriptor cannot be mapped safely, so any other number panics.
impl From<i32> for MapFrom<'_> {
    fn from(fd: i32) -> Self {
        assert_eq!(
            fd, -1,
            "hmm_buffer_alloc: pass the TempFile or Device, not a raw fd"
        );
        MapFrom::Anon
    }
}

impl<'a> From<&'a TempFile> for MapFrom<'a> {
    fn from(f: &'a TempFile) -> Self {
        MapFrom::File(f)
    }
}

impl<'a> From<&'a Device> for MapFrom<'a> {
    fn from(d: &'a Device) -> Self {
        MapFrom::Device(d)
    }
}

/// `struct hmm_buffer`.
pub struct HmmBuffer {
    /// `buffer->ptr`: the address requests use as `cmd.addr`. Tests move it inside the
    /// mapping (THP alignment, sub-ranges); [`hmm_buffer_free`] unmaps whatever the buffer
    /// still owns, wherever `ptr` points.
    pub ptr: *mut u8,
    /// `buffer->size`: the size asked of `hmm_buffer_alloc()`.
    pub size: usize,
    /// `buffer->cpages` of the last successful request.
    pub cpages: u64,
    /// `buffer->faults` of the last successful request.
    pub faults: u64,
    mirror: Mirror,
    /// The memory this buffer owns: the mapping it was made with, then any range a test
    /// moved with [`HmmBuffer::mremap`].
    mappings: Vec<Mapping>,
}

/// `MAP_FAILED`.
pub const MAP_FAILED: *mut u8 = usize::MAX as *mut u8;

/// `mmap(NULL, len, prot, flags, fd, 0)` of anonymous memory made by hand (never replaces
/// memory); the test adopts it with [`HmmBuffer::adopt_mapping`].
pub fn mmap_new(len: usize, prot: i32, flags: i32) -> *mut u8 {
    assert!(
        flags & libc::MAP_FIXED == 0,
        "mmap_new: MAP_FIXED would replace memory"
    );
    // SAFETY: without MAP_FIXED and with a NULL hint the kernel picks free address space, so
    // no existing memory is affected.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        MAP_FAILED
    } else {
        p.cast()
    }
}

/// `PROT_*` bits as the library's [`Prot`].
pub fn prot_of(prot: i32) -> Prot {
    let mut p = Prot::NONE;
    if prot & libc::PROT_READ != 0 {
        p = p | Prot::READ;
    }
    if prot & libc::PROT_WRITE != 0 {
        p = p | Prot::WRITE;
    }
    p
}

/// `MAP_PRIVATE` / `MAP_SHARED` as the library's [`Sharing`].
pub fn sharing_of(flags: i32) -> Sharing {
    if flags & libc::MAP_SHARED != 0 {
        Sharing::Shared
    } else {
        Sharing::Private
    }
}

/// `madvise()` advice as the library's [`Advice`] (those the tests give).
fn advice_of(advice: i32) -> Advice {
    match advice {
        libc::MADV_HUGEPAGE => Advice::Hugepage,
        libc::MADV_NOHUGEPAGE => Advice::NoHugepage,
        libc::MADV_FREE => Advice::Free,
        libc::MADV_DONTNEED => Advice::DontNeed,
        libc::MADV_WILLNEED => Advice::WillNeed,
        25 => Advice::Collapse, // MADV_COLLAPSE
        other => panic!("madvise advice {other} is not one the tests use"),
    }
}

/// `mmap(NULL, len, prot, flags, fd, 0)` through the library; `None` after `perror("mmap")`.
fn map(len: usize, prot: i32, flags: i32, from: MapFrom<'_>) -> Option<Mapping> {
    let (p, s) = (prot_of(prot), sharing_of(flags));
    let made = match from {
        MapFrom::Anon if flags & libc::MAP_HUGETLB != 0 => Mapping::hugetlb(len, p, s),
        MapFrom::Anon => Mapping::anon(len, p, s),
        MapFrom::File(f) => Mapping::file(f, len, p, s),
        MapFrom::Device(d) => Mapping::device(d, len, p, s),
    };
    made.inspect_err(|e| crate::harness::assert::diag(format_args!("mmap: {e}")))
        .ok()
}

impl HmmBuffer {
    /// A buffer with no mapping yet (the series' `migrate_on_fault` and `userfaultfd_read`
    /// build theirs by hand, then [`HmmBuffer::adopt_mapping`]): a `mirror_size`-byte
    /// mirror and `size` recorded.
    pub fn new_unmapped(size: usize, mirror_size: usize) -> HmmBuffer {
        // Room for at least one page: hmm2.snapshot migrates a page into its npages-byte
        // mirror (a heap overflow in the C test), which must not corrupt anything here.
        let mirror = Mirror::new(mirror_size.max(hmm_dmirror::page_size()));
        HmmBuffer {
            ptr: std::ptr::null_mut(),
            size,
            cpages: 0,
            faults: 0,
            mirror,
            mappings: Vec::new(),
        }
    }

    /// Takes over the mapping `[start, start + len)` a test made by hand (`prot`, `flags`
    /// as given to its `mmap`) and points `ptr` at it. Returns whether it was taken
    /// (not: an address that is not page aligned or a length that is not whole pages).
    ///
    /// # Safety
    ///
    /// As [`Mapping::from_raw_parts`]: the range is mapped with that protection and
    /// sharing, and the test gives up every other way of reaching it (it only uses the
    /// buffer's views and methods from then on; nothing else unmaps, protects or moves it).
    pub unsafe fn adopt_mapping(&mut self, start: *mut u8, len: usize, prot: i32, flags: i32) {
        // SAFETY: forwarded to our caller.
        let m = unsafe { Mapping::from_raw_parts(start, len, prot_of(prot), sharing_of(flags)) };
        let m = m.unwrap_or_else(|e| panic!("adopt_mapping: {e}"));
        self.ptr = start;
        // Mappings the test unmapped whole own nothing any more (and their addresses may
        // be the new one's).
        self.mappings
            .retain(|old| (0..old.npages()).any(|p| old.is_mapped(p)));
        self.mappings.push(m);
    }

    /// `buffer->ptr + off`.
    pub fn at(&self, off: usize) -> *mut u8 {
        self.ptr.wrapping_add(off)
    }

    /// The mirror (`buffer->mirror`), for requests.
    pub fn mirror(&mut self) -> &mut Mirror {
        &mut self.mirror
    }

    /// Start of the mirror, for a request a test issues by hand.
    pub fn mirror_ptr(&mut self) -> *mut u8 {
        self.mirror.as_mut_ptr()
    }

    /// The mapping `ptr` lies in and the mirror, borrowed apart (a request on the mapping
    /// while another thread uses it too: `anon_teardown`).
    pub fn split(&mut self) -> (&Mapping, &mut Mirror) {
        let at = self.ptr as usize;
        let m = self
            .mappings
            .iter()
            .rev()
            .find(|m| at >= m.addr() && at < m.addr() + m.len())
            .expect("ptr lies in one of the buffer's mappings");
        (m, &mut self.mirror)
    }

    /// Bytes in the mirror.
    pub fn mirror_len(&self) -> usize {
        self.mirror.len()
    }

    /// The mapping holding `[addr, addr + len)` and the page `addr` is in; panics (naming
    /// `what`) when no mapping of the buffer holds the whole range.
    fn mapping_of(&self, addr: usize, len: usize, what: &str) -> (&Mapping, usize) {
        let end = addr.checked_add(len);
        let found = self
            .mappings
            .iter()
            .rev()
            .find(|m| addr >= m.addr() && end.is_some_and(|e| e <= m.addr() + m.len()));
        match found {
            Some(m) => (m, (addr - m.addr()) / m.page_size()),
            None => panic!("{what}: {addr:#x}+{len:#x} is outside the buffer's mappings"),
        }
    }

    /// The index of the mapping holding `[addr, addr + len)`, page-aligned start and whole
    /// pages, with its first page and page count.
    fn pages_of(&self, addr: *mut u8, len: usize, what: &str) -> Option<(usize, usize, usize)> {
        let (addr, ps) = (addr as usize, hmm_dmirror::page_size());
        if addr % ps != 0 || len == 0 {
            return None;
        }
        let (m, first) = self.mapping_of(addr, len, what);
        let idx = self.mappings.iter().position(|x| std::ptr::eq(x, m))?;
        Some((idx, first, len.div_ceil(ps)))
    }

    /// The buffer's mapping that holds `[addr, addr + len)` (for requests).
    pub fn mapping_at(&self, addr: usize, len: usize) -> Option<&Mapping> {
        let end = addr.checked_add(len)?;
        self.mappings
            .iter()
            .rev()
            .find(|m| addr >= m.addr() && end <= m.addr() + m.len())
    }

    /// `len` bytes at `ptr` as `int`s.
    pub fn ints(&self, len: usize) -> Ints<'_> {
        self.ints_at(self.ptr, len)
    }

    /// The pages of `[addr, addr + len)` the buffer does not own (unmapped or moved), as
    /// byte offsets from `addr`; panics (naming `what`) outside the buffer's mappings.
    fn holes(&self, addr: usize, len: usize, what: &str) -> Holes {
        let (m, first) = self.mapping_of(addr, len, what);
        let ps = m.page_size();
        let last = (addr + len).div_ceil(ps).saturating_sub(m.addr() / ps);
        let mut holes = Vec::new();
        for page in first..last.min(m.npages()) {
            if !m.is_mapped(page) {
                let page_addr = m.addr() + page * ps;
                holes.push(page_addr.saturating_sub(addr)..page_addr + ps - addr);
            }
        }
        Holes(holes)
    }

    /// `len` bytes at `addr` (inside one of the buffer's mappings) as `int`s.
    pub fn ints_at(&self, addr: *mut u8, len: usize) -> Ints<'_> {
        Ints {
            holes: self.holes(addr as usize, len, "ints view"),
            base: addr.cast(),
            len: len / 4,
            _buf: PhantomData,
        }
    }

    /// `len` bytes at `ptr` as bytes.
    pub fn bytes(&self, len: usize) -> Bytes<'_> {
        Bytes {
            holes: self.holes(self.ptr as usize, len, "bytes view"),
            base: self.ptr,
            len,
            _buf: PhantomData,
        }
    }

    /// The mirror as `int`s (borrowing the buffer exclusively: the view writes it).
    pub fn mirror_ints(&mut self) -> Ints<'_> {
        Ints {
            holes: Holes::default(),
            base: self.mirror.as_mut_ptr().cast(),
            len: self.mirror.len() / 4,
            _buf: PhantomData,
        }
    }

    /// The mirror as bytes (borrowing the buffer exclusively: the view writes it).
    pub fn mirror_bytes(&mut self) -> Bytes<'_> {
        Bytes {
            holes: Holes::default(),
            base: self.mirror.as_mut_ptr(),
            len: self.mirror.len(),
            _buf: PhantomData,
        }
    }

    /// `memset(buffer->mirror, byte, len)`.
    pub fn mirror_fill(&mut self, byte: u8, len: usize) {
        self.mirror[..len].fill(byte);
    }

    /// `mprotect(addr, len, prot)` inside one of the buffer's mappings: 0, or -1.
    pub fn mprotect(&self, addr: *mut u8, len: usize, prot: i32) -> i32 {
        let Some((m, first, n)) = self.pages_of(addr, len, "mprotect") else {
            return -1;
        };
        ret(self.mappings[m].protect_pages(first, n, prot_of(prot)))
    }

    /// `munmap(addr, len)` inside one of the buffer's mappings: 0, or -1. The pages are no
    /// longer the buffer's (a view made afterwards panics on them, where C faults); `&mut`,
    /// so no view made before is still alive.
    pub fn munmap(&mut self, addr: *mut u8, len: usize) -> i32 {
        let Some((m, first, n)) = self.pages_of(addr, len, "munmap") else {
            return -1;
        };
        // As munmap(2), pages already unmapped are no error: unmap the runs still owned.
        let m = &self.mappings[m];
        let mut page = first;
        while page < first + n {
            if !m.is_mapped(page) {
                page += 1;
                continue;
            }
            let start = page;
            while page < first + n && m.is_mapped(page) {
                page += 1;
            }
            if ret(m.unmap_pages(start, page - start)) != 0 {
                return -1;
            }
        }
        0
    }

    /// `madvise(addr, len, advice)` inside one of the buffer's mappings: 0, or -1.
    pub fn madvise(&self, addr: *mut u8, len: usize, advice: i32) -> i32 {
        let Some((m, first, n)) = self.pages_of(addr, len, "madvise") else {
            return -1;
        };
        ret(self.mappings[m].advise_pages(first, n, advice_of(advice)))
    }

    /// `mremap(old, old_size, new_size, flags, new_addr)` with `MREMAP_MAYMOVE |
    /// MREMAP_FIXED` (and maybe `MREMAP_DONTUNMAP`), `old_size == new_size`: moves pages of
    /// one of the buffer's mappings onto pages of the same mapping that the test unmapped
    /// first (`migrate_remap_fault`). The moved pages become a mapping of their own; without
    /// DONTUNMAP the source pages are no longer the buffer's. `MAP_FAILED` on failure.
    ///
    /// # Safety
    ///
    /// Nothing has been mapped at `[new_addr, new_addr + new_size)` since the buffer unmapped
    /// it (the case's process does not map memory on another thread meanwhile):
    /// `MREMAP_FIXED` replaces whatever is there.
    pub unsafe fn mremap(
        &mut self,
        old: *mut u8,
        old_size: usize,
        new_size: usize,
        flags: i32,
        new_addr: *mut u8,
    ) -> *mut u8 {
        assert_eq!(
            old_size, new_size,
            "mremap: the tests move, they do not resize"
        );
        let fixed = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        assert_eq!(
            flags & fixed,
            fixed,
            "mremap: the tests move to a fixed place"
        );
        let Some((m, first, n)) = self.pages_of(old, old_size, "mremap source") else {
            return MAP_FAILED;
        };
        let Some((t, t_first, _)) = self.pages_of(new_addr, new_size, "mremap target") else {
            return MAP_FAILED;
        };
        let ps = hmm_dmirror::page_size();
        let source_owned = (first..first + n).all(|p| self.mappings[m].is_mapped(p));
        let target_free = (t_first..t_first + n).all(|p| !self.mappings[t].is_mapped(p));
        assert!(
            source_owned && target_free,
            "mremap: the source must be the buffer's and the target a hole it unmapped"
        );
        let prot = self.mappings[m].prot_of(first).unwrap_or(Prot::NONE);
        let sharing = self.mappings[m].sharing();
        // SAFETY: the source pages are the buffer's own (checked), reached only through its
        // volatile views (none alive: `&mut self`); the target is a hole the buffer
        // unmapped, which nothing has mapped since (our caller's contract), so MREMAP_FIXED
        // replaces nothing anyone uses.
        let p = unsafe {
            libc::mremap(
                old.cast(),
                old_size,
                new_size,
                flags,
                new_addr.cast::<libc::c_void>(),
            )
        };
        if p == libc::MAP_FAILED {
            return MAP_FAILED;
        }
        if flags & libc::MREMAP_DONTUNMAP == 0 {
            // The kernel unmapped the source: the mapping must neither use nor unmap it.
            self.mappings[m]
                .forget_pages(first, n)
                .expect("source pages owned (checked above)");
        }
        debug_assert_eq!(p as usize, new_addr as usize);
        // SAFETY: the kernel has just moved the buffer's pages there, with the source's
        // protection and sharing, and nothing else refers to them.
        let moved = unsafe { Mapping::from_raw_parts(p.cast(), n * ps, prot, sharing) };
        self.mappings
            .push(moved.unwrap_or_else(|e| panic!("mremap: {e}")));
        p.cast()
    }
}

/// A library result as C's: 0 or -1.
fn ret(r: hmm_dmirror::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            crate::TH_LOG!("{e}");
            -1
        }
    }
}

/// `hmm_buffer_alloc(mmap_size, mirror_size, prot, flags, fd)`: `None` (after `perror`) if
/// the mmap fails. `fd` is `-1` (anonymous memory), a [`TempFile`] or a [`Device`].
pub fn hmm_buffer_alloc<'a>(
    mmap_size: usize,
    mirror_size: usize,
    prot: i32,
    flags: i32,
    fd: impl Into<MapFrom<'a>>,
) -> Option<HmmBuffer> {
    let mut buffer = HmmBuffer::new_unmapped(mmap_size, mirror_size);
    let m = map(mmap_size, prot, flags, fd.into())?;
    buffer.ptr = m.as_ptr();
    buffer.mappings.push(m);
    Some(buffer)
}

/// `hmm_buffer_free(buffer)`: unmaps what the buffer still owns and frees the mirror.
pub fn hmm_buffer_free(buffer: HmmBuffer) {
    drop(buffer);
}

/// Byte ranges of a view that lie on pages the buffer did not own when it was made.
#[derive(Clone, Default)]
struct Holes(Vec<std::ops::Range<usize>>);

impl Holes {
    /// Panics if any byte of `[off, off + len)` lies in a hole.
    fn check(&self, off: usize, len: usize) {
        for h in &self.0 {
            if off < h.end && h.start < off + len {
                panic!("access to byte {off} of a view: its page is not the buffer's (unmapped or moved; C would fault)");
            }
        }
    }
}

/// A bounds-checked volatile `int *` into a buffer's mapping or mirror.
#[derive(Clone)]
pub struct Ints<'a> {
    holes: Holes,
    base: *mut i32,
    len: usize,
    _buf: PhantomData<&'a HmmBuffer>,
}

impl Ints<'_> {
    /// `ptr[i]`.
    pub fn get(&self, i: usize) -> i32 {
        assert!(
            i < self.len,
            "int index {i} out of range ({} ints)",
            self.len
        );
        self.holes.check(4 * i, 4);
        // SAFETY: in bounds of memory the borrowed buffer owned when the view was made
        // (checked then, and above: not in a hole), which it keeps while the view lives
        // (unmapping takes the buffer by `&mut`); volatile because the device changes it
        // behind the compiler's back.
        unsafe { self.base.add(i).read_volatile() }
    }

    /// `ptr[i] = v`.
    pub fn set(&self, i: usize, v: i32) {
        assert!(
            i < self.len,
            "int index {i} out of range ({} ints)",
            self.len
        );
        self.holes.check(4 * i, 4);
        // SAFETY: as in `get`.
        unsafe { self.base.add(i).write_volatile(v) }
    }

    /// `for (i = 0; i < len; i++) ptr[i] = f(i);` with one bounds check and plain stores,
    /// which the compiler may vectorize as it does the C loop (for the big buffers of the
    /// benchmark; under TCG every guest instruction counts).
    /// `f` is a plain function (no captures), so it cannot read the memory being filled
    /// through another view while the fill holds it as a slice.
    pub fn fill_with(&self, len: usize, f: fn(usize) -> i32) {
        assert!(
            len <= self.len,
            "fill of {len} ints out of range ({} ints)",
            self.len
        );
        self.holes.check(0, 4 * len);
        // SAFETY: in bounds (checked above) of memory the borrowed buffer owns; no request
        // runs meanwhile (requests take the buffer by `&mut`), so nothing else writes it, and
        // `f` captures no view through which the slice could be aliased.
        let ints = unsafe { std::slice::from_raw_parts_mut(self.base, len) };
        for (i, v) in ints.iter_mut().enumerate() {
            *v = f(i);
        }
    }

    /// `ptr[i]++` (returns the old value).
    pub fn post_inc(&self, i: usize) -> i32 {
        let v = self.get(i);
        self.set(i, v.wrapping_add(1));
        v
    }

    /// Number of ints in view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A bounds-checked volatile `unsigned char *` into a buffer's mapping or mirror.
#[derive(Clone)]
pub struct Bytes<'a> {
    holes: Holes,
    base: *mut u8,
    len: usize,
    _buf: PhantomData<&'a HmmBuffer>,
}

impl Bytes<'_> {
    /// `m[i]`.
    pub fn get(&self, i: usize) -> u8 {
        assert!(
            i < self.len,
            "byte index {i} out of range ({} bytes)",
            self.len
        );
        self.holes.check(i, 1);
        // SAFETY: as in `Ints::get`.
        unsafe { self.base.add(i).read_volatile() }
    }

    /// `m[i] = v`.
    pub fn set(&self, i: usize, v: u8) {
        assert!(
            i < self.len,
            "byte index {i} out of range ({} bytes)",
            self.len
        );
        self.holes.check(i, 1);
        // SAFETY: as in `Ints::get`.
        unsafe { self.base.add(i).write_volatile(v) }
    }

    /// Number of bytes in view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ps() -> usize {
        hmm_dmirror::page_size()
    }

    fn anon(pages: usize) -> HmmBuffer {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        hmm_buffer_alloc(
            pages * ps(),
            ps(),
            rw,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        )
        .unwrap()
    }

    #[test]
    fn a_view_refuses_the_pages_the_buffer_unmapped() {
        let mut buffer = anon(4);
        let ints_per_page = ps() / 4;
        let page1 = buffer.at(ps());
        assert_eq!(buffer.munmap(page1, ps()), 0);
        let view = buffer.ints(4 * ps());
        view.set(0, 7);
        view.set(2 * ints_per_page, 9);
        assert_eq!((view.get(0), view.get(2 * ints_per_page)), (7, 9));
        let hole = std::panic::catch_unwind(|| view.get(ints_per_page + 1));
        assert!(hole.is_err(), "read of an unmapped page");
        // A view starting inside the hole, misaligned: the hole ends where the page does.
        let view = buffer.ints_at(buffer.at(ps() + 8), 2 * ps());
        assert!(std::panic::catch_unwind(|| view.get(0)).is_err());
        assert_eq!(view.get((ps() - 8) / 4), 9);
        // As munmap(2), a range with pages already unmapped is no error.
        assert_eq!(buffer.munmap(buffer.ptr, 2 * ps()), 0);
        assert_eq!(buffer.munmap(page1, ps()), 0);
        hmm_buffer_free(buffer);
    }

    #[test]
    fn mremap_moves_pages_into_a_hole_and_the_buffer_follows() {
        let mut buffer = anon(4);
        let base = buffer.ptr;
        buffer.ints(ps()).set(0, 42);
        assert_eq!(buffer.munmap(buffer.at(2 * ps()), 2 * ps()), 0);
        let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        // SAFETY: the target is the hole just unmapped; this test maps nothing meanwhile.
        let p = unsafe { buffer.mremap(base, ps(), ps(), flags, base.wrapping_add(2 * ps())) };
        assert_eq!(p, base.wrapping_add(2 * ps()));
        buffer.ptr = p;
        assert_eq!(buffer.ints(ps()).get(0), 42);
        // The source is gone (no DONTUNMAP): a view of it refuses it.
        let view = buffer.ints_at(base, ps());
        assert!(std::panic::catch_unwind(|| view.get(0)).is_err());
        hmm_buffer_free(buffer);
    }
}
