//! `struct hmm_buffer` and its helpers: an mmap'd range (`ptr`, `size`), the host "mirror"
//! the device copies to/from, and the counters of the last request.
//!
//! The tests manipulate raw address space exactly as the C ones do (realign `ptr` inside a
//! larger mapping, punch holes, mremap, remap), so the buffer keeps raw addresses. Memory is
//! reached only through bounds-checked volatile views ([`Ints`], [`Bytes`]) borrowed from the
//! buffer, and mm syscalls only through methods that check the address lies inside the
//! mapping the buffer owns; a view may still touch a page the test unmapped or protected,
//! which faults the case's process exactly as the C test would (the harness reports the
//! signal). A request needs `&mut HmmBuffer`, so no view is alive while the kernel writes.

use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::ptr;

use hmm_dmirror::Mirror;

/// `struct hmm_buffer`.
pub struct HmmBuffer {
    /// `buffer->ptr`: the address requests use as `cmd.addr`. Tests move it inside the
    /// mapping (THP alignment, sub-ranges) and put it back before [`hmm_buffer_free`].
    pub ptr: *mut u8,
    /// `buffer->size`: bytes unmapped at `ptr` by [`hmm_buffer_free`].
    pub size: usize,
    /// `buffer->fd`: the fd the range was mapped from (-1 for anonymous memory).
    pub fd: RawFd,
    /// `buffer->cpages` of the last successful request.
    pub cpages: u64,
    /// `buffer->faults` of the last successful request.
    pub faults: u64,
    mirror: *mut u8,
    mirror_len: usize,
    _mirror_buf: Mirror,
    /// The mapping this buffer owns: `[start, end)`.
    region: (usize, usize),
}

/// `MAP_FAILED`.
pub const MAP_FAILED: *mut u8 = usize::MAX as *mut u8;

/// `mmap(NULL, len, prot, flags, fd, 0)`: a new mapping anywhere (never replaces memory).
pub fn mmap_new(len: usize, prot: i32, flags: i32, fd: RawFd) -> *mut u8 {
    assert!(
        flags & libc::MAP_FIXED == 0,
        "mmap_new: MAP_FIXED would replace memory"
    );
    // SAFETY: without MAP_FIXED and with a NULL hint the kernel picks free address space, so
    // no existing memory is affected.
    let p = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        MAP_FAILED
    } else {
        p.cast()
    }
}

impl HmmBuffer {
    /// A buffer with no mapping yet (the series' `migrate_on_fault` and `userfaultfd_read`
    /// build theirs by hand): a `mirror_size`-byte mirror, `size` and `fd` recorded.
    pub fn new_unmapped(size: usize, mirror_size: usize, fd: RawFd) -> HmmBuffer {
        // Room for at least one page: hmm2.snapshot migrates a page into its npages-byte
        // mirror (a heap overflow in the C test), which must not corrupt anything here.
        let mirror_len = mirror_size.max(hmm_dmirror::page_size());
        let mut buf = Mirror::new(mirror_len);
        let mirror = buf.as_mut_ptr();
        HmmBuffer {
            ptr: ptr::null_mut(),
            size,
            fd,
            cpages: 0,
            faults: 0,
            mirror,
            mirror_len,
            _mirror_buf: buf,
            region: (0, 0),
        }
    }

    /// Declares `[start, start + len)` as the mapping this buffer owns and points `ptr` at it.
    pub fn adopt_mapping(&mut self, start: *mut u8, len: usize) {
        self.ptr = start;
        self.region = (start as usize, start as usize + len);
    }

    /// `buffer->ptr + off`.
    pub fn at(&self, off: usize) -> *mut u8 {
        self.ptr.wrapping_add(off)
    }

    /// Start of the mirror (`buffer->mirror`), for `cmd.ptr`.
    pub fn mirror_ptr(&self) -> *mut u8 {
        self.mirror
    }

    /// Bytes in the mirror.
    pub fn mirror_len(&self) -> usize {
        self.mirror_len
    }

    fn check_in_region(&self, addr: usize, len: usize, what: &str) {
        let (start, end) = self.region;
        assert!(
            addr >= start && addr.checked_add(len).is_some_and(|e| e <= end),
            "{what}: {addr:#x}+{len:#x} is outside the buffer's mapping {start:#x}..{end:#x}"
        );
    }

    /// `len` bytes at `ptr` as `int`s.
    pub fn ints(&self, len: usize) -> Ints<'_> {
        self.ints_at(self.ptr, len)
    }

    /// `len` bytes at `addr` (inside the buffer's mapping) as `int`s.
    pub fn ints_at(&self, addr: *mut u8, len: usize) -> Ints<'_> {
        self.check_in_region(addr as usize, len, "ints view");
        Ints {
            base: addr.cast(),
            len: len / 4,
            _buf: PhantomData,
        }
    }

    /// `len` bytes at `ptr` as bytes.
    pub fn bytes(&self, len: usize) -> Bytes<'_> {
        self.check_in_region(self.ptr as usize, len, "bytes view");
        Bytes {
            base: self.ptr,
            len,
            _buf: PhantomData,
        }
    }

    /// The mirror as `int`s.
    pub fn mirror_ints(&self) -> Ints<'_> {
        Ints {
            base: self.mirror.cast(),
            len: self.mirror_len / 4,
            _buf: PhantomData,
        }
    }

    /// The mirror as bytes.
    pub fn mirror_bytes(&self) -> Bytes<'_> {
        Bytes {
            base: self.mirror,
            len: self.mirror_len,
            _buf: PhantomData,
        }
    }

    /// `memset(buffer->mirror, byte, len)`.
    pub fn mirror_fill(&mut self, byte: u8, len: usize) {
        assert!(len <= self.mirror_len);
        // SAFETY: `len` bytes of the mirror, which the buffer owns and `&mut self` makes
        // exclusive.
        unsafe { ptr::write_bytes(self.mirror, byte, len) };
    }

    /// `mprotect(addr, len, prot)` inside the buffer's mapping.
    pub fn mprotect(&self, addr: *mut u8, len: usize, prot: i32) -> i32 {
        self.check_in_region(addr as usize, len, "mprotect");
        // SAFETY: changes protections of the buffer's own mapping, which no Rust reference
        // points into (it is only reached through volatile views).
        unsafe { libc::mprotect(addr.cast(), len, prot) }
    }

    /// `munmap(addr, len)` inside the buffer's mapping.
    pub fn munmap(&self, addr: *mut u8, len: usize) -> i32 {
        self.check_in_region(addr as usize, len, "munmap");
        // SAFETY: unmaps part of the buffer's own mapping, which no Rust reference points
        // into; a later view access of it faults, as in C.
        unsafe { libc::munmap(addr.cast(), len) }
    }

    /// `madvise(addr, len, advice)` inside the buffer's mapping.
    pub fn madvise(&self, addr: *mut u8, len: usize, advice: i32) -> i32 {
        self.check_in_region(addr as usize, len, "madvise");
        // SAFETY: advice on the buffer's own mapping (MADV_FREE may drop its contents, which
        // only volatile views observe).
        unsafe { libc::madvise(addr.cast(), len, advice) }
    }

    /// `mremap(old, old_size, new_size, flags, new_addr)` with source and target inside the
    /// buffer's mapping (`MREMAP_FIXED`); `MAP_FAILED` on failure.
    pub fn mremap(
        &self,
        old: *mut u8,
        old_size: usize,
        new_size: usize,
        flags: i32,
        new_addr: *mut u8,
    ) -> *mut u8 {
        self.check_in_region(old as usize, old_size, "mremap source");
        self.check_in_region(new_addr as usize, new_size, "mremap target");
        let (old, new_addr) = (old as usize, new_addr as usize);
        // SAFETY: moves pages of the buffer's own mapping to another place of it; no Rust
        // reference points into either.
        let p = unsafe {
            libc::mremap(
                old as *mut libc::c_void,
                old_size,
                new_size,
                flags,
                new_addr as *mut libc::c_void,
            )
        };
        if p == libc::MAP_FAILED {
            MAP_FAILED
        } else {
            p.cast()
        }
    }

    /// A handle another thread can use to `munmap(addr, len)` of this buffer while a request
    /// runs on it (anon_teardown).
    pub fn unmapper(&self, addr: *mut u8, len: usize) -> Unmapper {
        self.check_in_region(addr as usize, len, "unmapper");
        Unmapper {
            addr: addr as usize,
            len,
        }
    }
}

/// `hmm_buffer_alloc(mmap_size, mirror_size, prot, flags, fd)`: `None` (after `perror`) if
/// the mmap fails.
pub fn hmm_buffer_alloc(
    mmap_size: usize,
    mirror_size: usize,
    prot: i32,
    flags: i32,
    fd: RawFd,
) -> Option<HmmBuffer> {
    let mut buffer = HmmBuffer::new_unmapped(mmap_size, mirror_size, fd);
    let p = mmap_new(mmap_size, prot, flags, fd);
    if p == MAP_FAILED {
        crate::sys::perror("mmap");
        return None;
    }
    buffer.adopt_mapping(p, mmap_size);
    Some(buffer)
}

/// `hmm_buffer_free(buffer)`: unmaps `size` bytes at `ptr` (if not NULL) and frees the mirror.
pub fn hmm_buffer_free(buffer: HmmBuffer) {
    if !buffer.ptr.is_null() {
        let _ = buffer.munmap(buffer.ptr, buffer.size);
    }
}

/// See [`HmmBuffer::unmapper`].
#[derive(Clone, Copy, Debug)]
pub struct Unmapper {
    addr: usize,
    len: usize,
}

impl Unmapper {
    /// `munmap()` the range.
    pub fn run(self) -> i32 {
        // SAFETY: the range is part of a buffer's own mapping (checked when the handle was
        // made); no Rust reference points into it.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) }
    }
}

/// A bounds-checked volatile `int *` into a buffer's mapping or mirror.
#[derive(Clone, Copy)]
pub struct Ints<'a> {
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
        // SAFETY: in bounds of memory the borrowed buffer owns (checked when the view was
        // made); volatile because the device changes it behind the compiler's back.
        unsafe { self.base.add(i).read_volatile() }
    }

    /// `ptr[i] = v`.
    pub fn set(&self, i: usize, v: i32) {
        assert!(
            i < self.len,
            "int index {i} out of range ({} ints)",
            self.len
        );
        // SAFETY: as in `get`.
        unsafe { self.base.add(i).write_volatile(v) }
    }

    /// `for (i = 0; i < len; i++) ptr[i] = f(i);` with one bounds check and plain stores,
    /// which the compiler may vectorize as it does the C loop (for the big buffers of the
    /// benchmark; under TCG every guest instruction counts).
    pub fn fill_with(&self, len: usize, f: impl Fn(usize) -> i32) {
        assert!(
            len <= self.len,
            "fill of {len} ints out of range ({} ints)",
            self.len
        );
        // SAFETY: in bounds (checked above) of memory the borrowed buffer owns; no request
        // runs meanwhile (requests take the buffer by `&mut`), so nothing else writes it.
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
#[derive(Clone, Copy)]
pub struct Bytes<'a> {
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
