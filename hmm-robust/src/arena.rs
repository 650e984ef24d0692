//! The fuzzer's memory: regions of every kind a request can point at, each laid out as
//! `[guard PROT_NONE][canary][buffer][canary][guard PROT_NONE]`, with a shadow copy of every
//! byte the battery expects (buffers and canaries), so that anything the kernel changed
//! without being asked shows up.
use crate::sys::{self, page_size};
use anyhow::{Context, Result};
use hmm_dmirror::TempFile;
use std::os::fd::{AsRawFd, RawFd};

/// Kind of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Private anonymous, read-write.
    AnonPrivate,
    /// Shared anonymous, read-write.
    AnonShared,
    /// Private anonymous, PMD aligned, MADV_HUGEPAGE.
    Thp,
    /// Private anonymous, read-only.
    ReadOnly,
    /// Private anonymous, PROT_NONE.
    ProtNone,
    /// MAP_HUGETLB.
    Hugetlb,
    /// MAP_SHARED of a temporary file.
    File,
    /// MAP_PRIVATE of the device file itself (mixed map).
    DeviceFd,
    /// Scratch target of odd requests (contents not verified, canaries are).
    Sink,
    /// A mirror buffer (`ptr` of the requests; contents not verified, canaries are).
    Mirror,
    /// Memory no request ever names: it must never change.
    Bystander,
}

impl Kind {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::AnonPrivate => "anon",
            Kind::AnonShared => "shared",
            Kind::Thp => "thp",
            Kind::ReadOnly => "ro",
            Kind::ProtNone => "none",
            Kind::Hugetlb => "hugetlb",
            Kind::File => "file",
            Kind::DeviceFd => "devfd",
            Kind::Sink => "sink",
            Kind::Mirror => "mirror",
            Kind::Bystander => "bystander",
        }
    }
}

/// One region.
pub struct Region {
    /// Its kind.
    pub kind: Kind,
    /// First byte of the buffer.
    pub buf: usize,
    /// Pages in the buffer.
    pub npages: usize,
    /// Current protection of the buffer.
    pub prot: i32,
    /// Expected contents of the buffer (None: scratch, not verified).
    pub shadow: Option<Vec<u8>>,
}

impl Region {
    /// Buffer length in bytes.
    pub fn len(&self) -> usize {
        self.npages * page_size()
    }
    /// One past the buffer.
    pub fn end(&self) -> usize {
        self.buf + self.len()
    }
    /// Low guard page (PROT_NONE).
    pub fn guard_lo(&self) -> usize {
        self.buf - 2 * page_size()
    }
    /// High guard page (PROT_NONE).
    pub fn guard_hi(&self) -> usize {
        self.end() + page_size()
    }
    /// Its canary pages (the sink has none after it: a guard instead).
    pub fn canaries(&self) -> Vec<usize> {
        if self.kind == Kind::Sink {
            vec![self.buf - page_size()]
        } else {
            vec![self.buf - page_size(), self.end()]
        }
    }
    /// Whether the CPU may read the buffer now.
    pub fn readable(&self) -> bool {
        self.prot & libc::PROT_READ != 0
    }
    /// Whether a device WRITE may legitimately change the buffer.
    pub fn dev_writable(&self) -> bool {
        self.shadow.is_some() && self.prot == libc::PROT_READ | libc::PROT_WRITE
    }
}

/// The byte a canary page holds at `addr`.
pub fn canary_byte(addr: usize) -> u8 {
    (((addr >> 12) as u8).wrapping_mul(31)) ^ (addr as u8) ^ 0xA5
}

fn canary_page(page: usize) -> Vec<u8> {
    (0..page_size()).map(|i| canary_byte(page + i)).collect()
}

/// All regions.
pub struct Arena {
    /// The regions.
    pub regions: Vec<Region>,
    /// Unmapped holes (address, pages).
    pub holes: Vec<(usize, usize)>,
    /// The temporary files behind the file regions (kept open for the run).
    _files: Vec<TempFile>,
}

/// Reserve `len` bytes (PROT_NONE) with the buffer at an `align`-aligned address after two
/// pages; returns the buffer address.
fn reserve(npages: usize, align: usize) -> Result<usize> {
    let ps = page_size();
    let total = (npages + 4) * ps + align;
    let base = sys::mmap(
        total,
        libc::PROT_NONE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
    )?;
    let buf = (base + 2 * ps).div_ceil(align) * align;
    Ok(buf)
}

impl Arena {
    /// An empty arena.
    pub fn new() -> Arena {
        Arena {
            regions: Vec::new(),
            holes: Vec::new(),
            _files: Vec::new(),
        }
    }

    /// Add a region of `kind` with `npages` pages; random initial contents from `rng`.
    /// `dev_fd`: the device to map for [`Kind::DeviceFd`]. Returns false when the kernel
    /// refuses the kind (no hugetlb pages), which is not an error.
    pub fn add(
        &mut self,
        kind: Kind,
        npages: usize,
        rng: &mut fastrand::Rng,
        dev_fd: RawFd,
    ) -> Result<bool> {
        let ps = page_size();
        let align = match kind {
            Kind::Thp => hmm_dmirror::pmd_size()?,
            Kind::Hugetlb => match hmm_dmirror::default_huge_page_size()? {
                Some(size) => size,
                None => {
                    eprintln!("hmm-robust: no hugetlb region (no hugetlbfs); skipped");
                    return Ok(false);
                }
            },
            _ => ps,
        };
        let buf = reserve(npages, align)?;
        let len = npages * ps;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // Canaries.
        for c in [buf - ps, buf + len] {
            // SAFETY: c is a page of the reservation just made.
            unsafe { sys::mmap_fixed(c, ps, rw, anon, -1, 0)? };
            // SAFETY: just mapped read-write, arena memory.
            unsafe { sys::write_mem(c, &canary_page(c)) };
        }
        // The buffer.
        let mapped = match kind {
            // SAFETY: [buf, buf+len) lies inside the reservation made above.
            Kind::AnonShared => unsafe {
                sys::mmap_fixed(buf, len, rw, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0)
            },
            // SAFETY: inside the reservation.
            Kind::Hugetlb => unsafe {
                sys::mmap_fixed(buf, len, rw, anon | libc::MAP_HUGETLB, -1, 0)
            },
            Kind::File => {
                let file = TempFile::new(len as u64)?;
                let fd = file.as_raw_fd();
                self._files.push(file);
                // SAFETY: inside the reservation; the file (kept open in `_files`, its size
                // never changed) has `len` bytes, so the whole mapping is backed.
                unsafe { sys::mmap_fixed(buf, len, rw, libc::MAP_SHARED, fd, 0) }
            }
            // SAFETY: inside the reservation.
            Kind::DeviceFd => unsafe {
                sys::mmap_fixed(buf, len, rw, libc::MAP_PRIVATE, dev_fd, 0)
            },
            // SAFETY: inside the reservation.
            _ => unsafe { sys::mmap_fixed(buf, len, rw, anon, -1, 0) },
        };
        if let Err(e) = mapped {
            if matches!(kind, Kind::Hugetlb | Kind::DeviceFd) {
                eprintln!("hmm-robust: no {} region ({e:#}); skipped", kind.name());
                return Ok(false);
            }
            return Err(e);
        }
        if kind == Kind::Thp {
            // SAFETY: MADV_HUGEPAGE leaves the contents as they are (and the buffer, just
            // mapped in the arena's reservation, holds no Rust object anyway).
            let _ = unsafe { sys::madvise(buf, len, libc::MADV_HUGEPAGE) };
        }
        let mut data = vec![0u8; len];
        rng.fill(&mut data);
        // SAFETY: the buffer is mapped read-write and is arena memory.
        unsafe { sys::write_mem(buf, &data) };
        let prot = match kind {
            Kind::ReadOnly => libc::PROT_READ,
            Kind::ProtNone => libc::PROT_NONE,
            _ => rw,
        };
        if prot != rw {
            // SAFETY: the buffer was just mapped in the arena's reservation: no Rust object
            // lives there, it is accessed only through read_mem/write_mem and requests.
            unsafe { sys::mprotect(buf, len, prot) }
                .map_err(|e| anyhow::anyhow!("mprotect: errno {e}"))?;
        }
        if kind == Kind::Sink {
            // Requests with a huge npages write through the sink as far as they get: what
            // follows it must be a guard, not a canary the kernel may legitimately overwrite.
            // SAFETY: the canary page after the buffer, mapped above in the reservation:
            // no Rust object lives there, and a sink's `canaries()` leave it out.
            unsafe { sys::mprotect(buf + len, ps, libc::PROT_NONE) }
                .map_err(|e| anyhow::anyhow!("mprotect: errno {e}"))?;
        }
        let shadow = match kind {
            Kind::Sink | Kind::Mirror => None,
            _ => Some(data),
        };
        self.regions.push(Region {
            kind,
            buf,
            npages,
            prot,
            shadow,
        });
        Ok(true)
    }

    /// Add an unmapped hole of `npages` pages (mapped, then unmapped).
    pub fn add_hole(&mut self, npages: usize) -> Result<()> {
        let ps = page_size();
        let a = sys::mmap(
            npages * ps,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        )?;
        // SAFETY: `a` is the mapping just made for this hole; nothing else uses it.
        unsafe { sys::munmap(a, npages * ps) }.map_err(|e| anyhow::anyhow!("munmap: errno {e}"))?;
        self.holes.push((a, npages));
        Ok(())
    }

    /// The region whose buffer or canaries hold `addr`.
    pub fn find(&self, addr: usize) -> Option<&Region> {
        let ps = page_size();
        self.regions
            .iter()
            .find(|r| addr >= r.buf - ps && addr < r.end() + ps)
    }

    /// Index of the region whose buffer holds `addr`.
    pub fn find_buf(&self, addr: usize) -> Option<usize> {
        self.regions
            .iter()
            .position(|r| addr >= r.buf && addr < r.end())
    }

    /// The expected contents of the page at `addr` (page aligned), when known: a verified
    /// buffer's shadow or a canary.
    pub fn expected_page(&self, addr: usize) -> Option<Vec<u8>> {
        let ps = page_size();
        let r = self.find(addr)?;
        if addr < r.buf || addr >= r.end() {
            return r
                .canaries()
                .contains(&(addr & !(ps - 1)))
                .then(|| canary_page(addr));
        }
        let off = addr - r.buf;
        r.shadow.as_ref().map(|s| s[off..off + ps].to_vec())
    }

    /// Whether the CPU can read the page at `addr` now (without a fault).
    pub fn cpu_readable(&self, addr: usize) -> bool {
        match self.find(addr) {
            Some(r) if addr >= r.buf && addr < r.end() => r.readable(),
            Some(r) => r.canaries().contains(&(addr & !(page_size() - 1))),
            None => false,
        }
    }

    /// The page at `addr`, read by the CPU, when it is readable.
    pub fn read_page(&self, addr: usize) -> Option<Vec<u8>> {
        if !self.cpu_readable(addr) {
            return None;
        }
        let mut v = vec![0u8; page_size()];
        // SAFETY: the page is mapped and readable (cpu_readable).
        unsafe { sys::read_mem(addr, &mut v) };
        Some(v)
    }

    /// Compare every buffer with its shadow and every canary with its pattern; PROT_NONE
    /// and read-only buffers are made readable for that. Returns (pages verified, list of
    /// mismatching pages).
    pub fn verify_all(&mut self) -> Result<(u64, Vec<String>)> {
        self.verify(false)
    }

    /// [`Arena::verify_all`]; with `restore`, protections are put back afterwards (a check in
    /// the middle of a run).
    pub fn verify(&mut self, restore: bool) -> Result<(u64, Vec<String>)> {
        let ps = page_size();
        let mut n = 0u64;
        let mut bad = Vec::new();
        for r in &mut self.regions {
            for c in r.canaries() {
                let mut v = vec![0u8; ps];
                // SAFETY: canary pages stay mapped read-write for the whole run.
                unsafe { sys::read_mem(c, &mut v) };
                n += 1;
                if v != canary_page(c) {
                    bad.push(format!(
                        "{} region {:#x}: canary page {c:#x} overwritten",
                        r.kind.name(),
                        r.buf
                    ));
                }
            }
            let Some(shadow) = &r.shadow else { continue };
            let was = r.prot;
            if !r.readable() {
                // SAFETY: a region's buffer holds no Rust object (arena memory, accessed only
                // through read_mem/write_mem and requests); read access is only added.
                unsafe { sys::mprotect(r.buf, r.len(), libc::PROT_READ) }
                    .map_err(|e| anyhow::anyhow!("mprotect: errno {e}"))
                    .context("make a region readable for the final check")?;
                r.prot = libc::PROT_READ;
            }
            let mut v = vec![0u8; r.len()];
            // SAFETY: the buffer is mapped and readable now.
            unsafe { sys::read_mem(r.buf, &mut v) };
            for p in 0..r.npages {
                n += 1;
                if v[p * ps..(p + 1) * ps] != shadow[p * ps..(p + 1) * ps] {
                    bad.push(format!(
                        "{} region {:#x}: page {p} differs from its shadow",
                        r.kind.name(),
                        r.buf
                    ));
                }
            }
            if restore && was != r.prot {
                // SAFETY: as above: arena memory, no Rust object; the copy in `v` was made
                // before the protection goes back.
                unsafe { sys::mprotect(r.buf, r.len(), was) }
                    .map_err(|e| anyhow::anyhow!("mprotect: errno {e}"))?;
                r.prot = was;
            }
        }
        Ok((n, bad))
    }
}
