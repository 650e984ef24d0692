//! Safe code that tried to break the library's promises: memory behind a live `&mut` that
//! the kernel may drop, mappings grown past their object, huge buffers.

use hmm_dmirror::{Advice, Error, Mapping, Mirror, Prot, Sharing, TempFile};

fn ps() -> usize {
    hmm_dmirror::page_size()
}

/// `MADV_PAGEOUT`: reclaim now, as memory pressure would (clean lazily freed pages are
/// dropped, their contents lost).
const MADV_PAGEOUT: i32 = 21;

/// After `Advice::Free` the kernel may drop a page until it is written again. A slice
/// handed out afterwards must not see its contents vanish: here the kernel reclaims the
/// range while the slice lives, and every word must still be 7 (before the fix: zeros).
#[test]
fn lazily_freed_pages_keep_their_contents_behind_a_mut_slice() {
    let mut m = Mapping::anon_private(4 * ps()).unwrap();
    m.fill_i32(|_| 7);
    m.advise(Advice::Free).unwrap();
    let s = m.as_i32_slice_mut();
    let (p, len) = (s.as_mut_ptr(), s.len() * 4);
    // SAFETY: madvise only asks the kernel to reclaim this range of our own mapping; it
    // must not change what the slice sees, which is what is checked.
    let r = unsafe { libc::madvise(p.cast(), len, MADV_PAGEOUT) };
    assert_eq!(r, 0, "MADV_PAGEOUT: {}", std::io::Error::last_os_error());
    let zeros = s.iter().filter(|&&v| v == 0).count();
    assert!(
        s.iter().all(|&v| v == 7),
        "{zeros} words dropped behind the slice"
    );
    // Protection changes keep the mark: free, mprotect, then a slice.
    m.advise(Advice::Free).unwrap();
    m.protect(Prot::READ).unwrap();
    m.protect(Prot::RW).unwrap();
    let s = m.as_i32_slice_mut();
    // SAFETY: as above.
    let r = unsafe { libc::madvise(s.as_mut_ptr().cast(), len, MADV_PAGEOUT) };
    assert_eq!(r, 0);
    assert!(s.iter().all(|&v| v == 7));
}

/// Growing a file mapping past the end of its file would leave pages with no backing (the
/// next access raises SIGBUS); `remap` refuses, and still grows up to the file's end.
#[test]
fn remap_does_not_grow_a_file_mapping_past_its_file() {
    let f = TempFile::new(3 * ps() as u64).unwrap();
    let mut m = Mapping::file(&f, 2 * ps(), Prot::RW, Sharing::Shared).unwrap();
    let err = m.remap(4 * ps(), true).unwrap_err();
    assert!(
        matches!(err, Error::RemapPastObject { new_len, object_len }
            if new_len == 4 * ps() && object_len == 3 * ps() as u64),
        "{err:?}"
    );
    assert_eq!(m.len(), 2 * ps());
    m.remap(3 * ps(), true).unwrap();
    m.write_i32(m.words() - 1, 5);
    assert_eq!(m.read_i32(m.words() - 1), 5);
    m.remap(ps(), true).unwrap();
    assert_eq!(m.npages(), 1);
    // Anonymous memory has no such end.
    let mut a = Mapping::anon_private(ps()).unwrap();
    a.remap(8 * ps(), true).unwrap();
    a.write_i32(a.words() - 1, 1);
}

#[test]
fn huge_mirrors_are_errors_not_aborts() {
    assert!(matches!(
        Mirror::try_for_pages(usize::MAX),
        Err(Error::Overflow)
    ));
    assert!(matches!(
        Mirror::try_new(usize::MAX),
        Err(Error::OutOfMemory { bytes: usize::MAX })
    ));
    // 64 TiB: more than any machine commits to one allocation.
    let err = Mirror::try_new(1 << 46).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot allocate {} bytes", 1u64 << 46)
    );
    // A large one that fits is lazily zeroed, not touched page by page.
    let m = Mirror::try_for_pages(1 << 18).unwrap();
    assert_eq!(m.len(), (1 << 18) * ps());
    assert_eq!(m[m.len() - 1], 0);
}

/// `Mirror::new` keeps its infallible signature: a size it cannot allocate is a panic
/// (before: `vec!` aborted the process).
#[test]
#[should_panic(expected = "cannot allocate")]
fn mirror_new_of_64_tib_panics_instead_of_aborting() {
    let _ = Mirror::new(1 << 46);
}

/// The second half of a split file mapping starts inside the file: it may grow only to the
/// file's end from there.
#[test]
fn remap_of_a_split_file_mapping_counts_from_its_offset() {
    let f = TempFile::new(4 * ps() as u64).unwrap();
    let mut m = Mapping::file(&f, 4 * ps(), Prot::RW, Sharing::Shared).unwrap();
    let mut tail = m.split_off(2).unwrap();
    tail.remap(ps(), true).unwrap();
    let err = tail.remap(3 * ps(), true).unwrap_err();
    assert!(
        matches!(err, Error::RemapPastObject { object_len, .. } if object_len == 2 * ps() as u64),
        "{err:?}"
    );
    tail.remap(2 * ps(), true).unwrap();
    tail.write_i32(tail.words() - 1, 4);
    assert_eq!(tail.read_i32(tail.words() - 1), 4);
}
