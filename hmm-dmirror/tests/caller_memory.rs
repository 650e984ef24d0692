//! Requests on memory the caller owns (argument checks; the requests themselves run against
//! /dev/null, which answers ENOTTY, so reaching it proves the checks passed), bulk byte
//! access, and (feature `memmap2`) taking over a `memmap2::MmapMut`.

use hmm_dmirror::{Abi, Device, Errno, Error, Mapping, PageRange, Request};

fn ps() -> usize {
    hmm_dmirror::page_size()
}

fn devnull() -> Device {
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap()
        .into();
    // SAFETY: /dev/null gives no ioctl number a meaning: every request is ENOTTY.
    unsafe { Device::from_fd_unchecked(fd, Abi::Mainline) }
}

/// Page-aligned memory of our own, in safe code (4 KiB pages).
#[repr(C, align(4096))]
struct Pages([u8; 4 * 4096]);

#[test]
fn page_ranges_of_caller_memory_are_checked() {
    if ps() != 4096 {
        return; // `Pages` assumes 4 KiB pages
    }
    let own = Box::new(Pages([1; 4 * 4096]));
    let r = PageRange::from_slice(&own.0).unwrap();
    assert_eq!(
        (r.addr(), r.npages(), r.len()),
        (own.0.as_ptr() as usize, 4, 4 * ps())
    );
    assert!(r.mapping().is_none());
    let r = PageRange::from_slice(&own.0[ps()..3 * ps()]).unwrap();
    assert_eq!(r.npages(), 2);

    assert!(matches!(
        PageRange::from_slice(&own.0[1..ps() + 1]),
        Err(Error::Misaligned { .. })
    ));
    assert!(matches!(
        PageRange::from_slice(&own.0[..100]),
        Err(Error::NotPageMultiple { len: 100, .. })
    ));
    assert!(matches!(
        PageRange::from_slice(&own.0[..0]),
        Err(Error::ZeroPages)
    ));
}

#[test]
fn host_buffers_are_byte_slices_and_vecs() {
    if ps() != 4096 {
        return;
    }
    let dev = devnull();
    let mut own = Box::new(Pages([1; 4 * 4096]));
    let r = PageRange::from_slice(&own.0).unwrap();
    // A Vec<u8> one byte short: refused before the syscall.
    let mut short = vec![0u8; 4 * ps() - 1];
    let err = dev.read(r, &mut short).unwrap_err();
    assert!(
        matches!(err, Error::MirrorTooSmall { request: Request::Read, needed, len }
            if needed == 4 * ps() && len == 4 * ps() - 1),
        "{err:?}"
    );
    // Big enough: reaches the file.
    let mut out = vec![0u8; 4 * ps()];
    assert_eq!(
        dev.read(r, &mut out).unwrap_err().errno(),
        Some(Errno::NOTTY)
    );
    assert_eq!(
        dev.exclusive(r, &mut out[..]).unwrap_err().errno(),
        Some(Errno::NOTTY)
    );
    assert_eq!(dev.snapshot(r).unwrap_err().errno(), Some(Errno::NOTTY));

    // The kernel may not write a range borrowed shared.
    let err = dev.write(r, &out).unwrap_err();
    assert!(matches!(err, Error::SharedBorrow), "{err:?}");
    // write_slice borrows it exclusively; its checks come first.
    let err = dev.write_slice(&mut own.0[1..ps() + 1], &out).unwrap_err();
    assert!(matches!(err, Error::Misaligned { .. }), "{err:?}");
    let err = dev.write_slice(&mut own.0, &out[..ps()]).unwrap_err();
    assert!(matches!(err, Error::MirrorTooSmall { .. }), "{err:?}");
    let err = dev.write_slice(&mut own.0, &out).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::NOTTY));
}

#[test]
fn bulk_byte_access() {
    let m = Mapping::anon_private(2 * ps()).unwrap();
    let src: Vec<u8> = (0..ps() + 10).map(|i| i as u8).collect();
    m.write_bytes(ps() - 5, &src[..ps() + 5]);
    let mut back = vec![0u8; ps() + 5];
    m.read_bytes(ps() - 5, &mut back);
    assert_eq!(back[..], src[..ps() + 5]);
    assert_eq!(m.read_u8(ps() - 5), 0);
    assert_eq!(m.read_u8(ps() - 4), 1);
}

#[test]
#[should_panic(expected = "out of bounds")]
fn bulk_read_past_the_end_panics() {
    let m = Mapping::anon_private(ps()).unwrap();
    let mut back = vec![0u8; 2];
    m.read_bytes(ps() - 1, &mut back);
}

#[cfg(feature = "memmap2")]
mod memmap2_feature {
    use super::ps;
    use hmm_dmirror::{Error, Mapping, Prot};
    use memmap2::MmapMut;

    #[test]
    fn a_memmap2_map_becomes_a_mapping() {
        let mut map = MmapMut::map_anon(3 * ps()).unwrap();
        map[..4].copy_from_slice(&7i32.to_ne_bytes());
        let addr = map.as_ptr() as usize;
        let mut m = Mapping::try_from(map).unwrap();
        assert_eq!((m.addr(), m.npages()), (addr, 3));
        assert_eq!(m.read_i32(0), 7);
        assert_eq!(m.prot_of(2), Some(Prot::RW));
        m.write_i32(m.words() - 1, 9);
        // Its object is unknown: it does not grow, and gives no reference to its contents.
        assert!(matches!(
            m.remap(4 * ps(), true),
            Err(Error::RemapPastObject { .. })
        ));
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.as_i32_slice_mut().len()));
        assert!(r.is_err());
        m.remap(ps(), true).unwrap();
        assert_eq!(m.read_i32(0), 7);
    }

    #[test]
    fn a_map_of_partial_pages_is_handed_back() {
        let map = MmapMut::map_anon(100).unwrap();
        let err = Mapping::try_from(map).unwrap_err();
        assert!(
            matches!(err.reason, Error::NotPageMultiple { len: 100, .. }),
            "{err}"
        );
        assert_eq!(err.mmap.len(), 100);
    }
}
