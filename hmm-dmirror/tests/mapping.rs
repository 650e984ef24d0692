//! Every mapping kind that works without the device, exercised for real on the host.

use std::io::Write;

use hmm_dmirror::{Advice, Error, Mapping, Mirror, Prot, Sharing, TempFile, Thp};

fn ps() -> usize {
    hmm_dmirror::page_size()
}

/// Writes to the real stderr, which libtest does not capture, so skips show in `cargo test`.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[test]
fn anon_private_fill_read_check() {
    let m = Mapping::anon_private(8 * ps()).unwrap();
    assert_eq!(
        (m.len(), m.npages(), m.words(), m.page_size()),
        (8 * ps(), 8, 8 * ps() / 4, ps())
    );
    assert_eq!(m.addr() % ps(), 0);
    assert_eq!(m.as_ptr() as usize, m.addr());
    assert_eq!(m.sharing(), Sharing::Private);
    assert!(!m.is_empty());
    // Fresh anonymous memory reads as zero.
    assert_eq!(m.mismatch_i32(0..m.words(), |_| 0), None);
    m.fill_i32(|i| i as i32);
    assert_eq!(m.read_i32(5000), 5000);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), None);
    m.write_i32(7, -1);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), Some((7, -1, 7)));
    assert_eq!(m.to_vec_i32_words(5..9), vec![5, 6, -1, 8]);
    m.fill_i32_words(0..4, |i| -(i as i32));
    assert_eq!(m.to_vec_i32()[..5], [0, -1, -2, -3, 4]);
    m.write_u8(1, 0xAB);
    assert_eq!(m.read_u8(1), 0xAB);
    m.fill_bytes(0x5A);
    assert_eq!(m.read_i32(99) as u32, 0x5A5A_5A5A);
}

#[test]
fn as_i32_slice_mut_on_private_anon() {
    let mut m = Mapping::anon_private(2 * ps()).unwrap();
    let s = m.as_i32_slice_mut();
    assert_eq!(s.len(), 2 * ps() / 4);
    for (i, w) in s.iter_mut().enumerate() {
        *w = 3 * i as i32;
    }
    assert_eq!(m.read_i32(100), 300);
}

#[test]
#[should_panic(expected = "private anonymous")]
fn as_i32_slice_mut_refuses_shared() {
    let mut m = Mapping::anon_shared(ps()).unwrap();
    let _ = m.as_i32_slice_mut();
}

#[test]
fn anon_shared_is_shared_with_a_child() {
    let m = Mapping::anon_shared(2 * ps()).unwrap();
    assert_eq!(m.sharing(), Sharing::Shared);
    m.fill_i32(|i| i as i32);
    // A forked child writes the shared mapping; the parent sees it (anon_write_child_shared).
    // SAFETY: the child only does volatile writes to memory it inherited and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        m.fill_i32(|i| -(i as i32));
        // SAFETY: leave the child without running the parent's destructors or test harness.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| -(i as i32)), None);
}

#[test]
fn anon_private_is_copy_on_write_for_a_child() {
    let m = Mapping::anon_private(ps()).unwrap();
    m.fill_i32(|i| i as i32);
    // SAFETY: as above.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        m.fill_i32(|_| 7);
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), None);
}

#[test]
fn read_only_and_prot_none_mappings() {
    let ro = Mapping::anon(2 * ps(), Prot::READ, Sharing::Private).unwrap();
    assert_eq!(ro.read_i32(3), 0); // the zero page
    assert_eq!(ro.prot_of(0), Some(Prot::READ));
    let none = Mapping::anon(3 * ps(), Prot::NONE, Sharing::Private).unwrap();
    assert_eq!(none.prot_of(2), Some(Prot::NONE));
    // migrate_mixed / snapshot setup: per-page protections.
    none.protect_pages(2, 1, Prot::READ).unwrap();
    assert_eq!(none.read_i32(2 * ps() / 4), 0);
    none.protect_pages(1, 1, Prot::RW).unwrap();
    none.write_i32(ps() / 4, 3);
    none.protect_pages(1, 1, Prot::READ).unwrap();
    assert_eq!(none.read_i32(ps() / 4), 3);
    assert_eq!(none.prot_of(0), Some(Prot::NONE));
    assert_eq!(none.prot_of(1), Some(Prot::READ));
    assert_eq!(none.prot_of(3), None);
    assert!(matches!(
        none.protect_pages(2, 2, Prot::RW),
        Err(Error::OutOfRange { .. })
    ));
}

#[test]
fn mprotect_whole_mapping() {
    let m = Mapping::anon_private(4 * ps()).unwrap();
    m.fill_i32(|i| i as i32);
    m.protect(Prot::READ).unwrap();
    assert_eq!(m.read_i32(ps() / 2), (ps() / 2) as i32);
    m.protect(Prot::NONE).unwrap();
    m.protect(Prot::RW).unwrap();
    m.write_i32(0, 9);
    assert_eq!(m.read_i32(0), 9);
}

#[test]
#[should_panic(expected = "needs Prot(WRITE) but it is Prot(READ)")]
fn writing_a_read_only_page_panics_instead_of_faulting() {
    let m = Mapping::anon_private(2 * ps()).unwrap();
    m.protect_pages(1, 1, Prot::READ).unwrap();
    m.write_i32(0, 1); // page 0 still RW
    m.write_i32(ps() / 4, 1);
}

#[test]
#[should_panic(expected = "needs Prot(READ) but it is Prot(NONE)")]
fn reading_a_prot_none_page_panics_instead_of_faulting() {
    let m = Mapping::anon(ps(), Prot::NONE, Sharing::Private).unwrap();
    let _ = m.read_i32(0);
}

#[test]
#[should_panic(expected = "out of bounds")]
fn reading_past_the_end_panics() {
    let m = Mapping::anon_private(ps()).unwrap();
    let _ = m.read_i32(ps() / 4);
}

#[test]
fn munmap_sub_range() {
    let m = Mapping::anon_private(6 * ps()).unwrap();
    m.fill_i32(|i| i as i32);
    // migrate_partial_unmap_fault: unmap the middle, the rest stays readable.
    m.unmap_pages(2, 2).unwrap();
    assert!(m.is_mapped(1) && !m.is_mapped(2) && !m.is_mapped(3) && m.is_mapped(4));
    let w = ps() / 4;
    assert_eq!(m.mismatch_i32(0..2 * w, |i| i as i32), None);
    assert_eq!(m.mismatch_i32(4 * w..6 * w, |i| i as i32), None);
    assert!(matches!(m.unmap_pages(3, 1), Err(Error::Unmapped { .. })));
    assert!(matches!(
        m.protect_pages(2, 1, Prot::READ),
        Err(Error::Unmapped { .. })
    ));
    // Ranges over the hole can still be made (the device reports it).
    assert_eq!(m.pages(1, 4).unwrap().npages(), 4);
    m.unmap_pages(0, 1).unwrap();
    // Drop unmaps pages 1 and 4..6 only.
}

#[test]
#[should_panic(expected = "no longer owns")]
fn reading_an_unmapped_page_panics_instead_of_faulting() {
    let m = Mapping::anon_private(2 * ps()).unwrap();
    m.unmap_pages(1, 1).unwrap();
    let _ = m.read_i32(ps() / 4);
}

#[test]
fn unmap_races_with_reads_from_another_thread() {
    // anon_teardown: another thread unmaps half of the buffer while it is in use.
    let m = Mapping::anon_private(64 * ps()).unwrap();
    m.fill_i32(|i| i as i32);
    std::thread::scope(|s| {
        s.spawn(|| m.unmap_pages(32, 32).unwrap());
        for i in (0..32 * ps() / 4).step_by(97) {
            assert_eq!(m.read_i32(i), i as i32);
        }
    });
    assert!(!m.is_mapped(40));
}

#[test]
fn file_backed_shared_and_private() {
    let size = 4 * ps();
    let file = TempFile::new(size as u64).unwrap();
    assert_eq!(file.len(), size as u64);
    let mut src = Mirror::for_pages(4);
    src.fill_i32(|i| i as i32);
    file.write_all_at(0, src.as_bytes()).unwrap();

    // file_read: a read-only shared mapping sees the file.
    let ro = Mapping::file(&file, size, Prot::READ, Sharing::Shared).unwrap();
    assert_eq!(ro.mismatch_i32(0..ro.words(), |i| i as i32), None);

    // file_write: writes through a shared mapping reach the file.
    let rw = Mapping::file(&file, size, Prot::RW, Sharing::Shared).unwrap();
    rw.fill_i32(|i| -(i as i32));
    let mut back = Mirror::for_pages(4);
    file.read_exact_at(0, back.as_bytes_mut()).unwrap();
    assert_eq!(back.mismatch_i32(0..back.words(), |i| -(i as i32)), None);
    assert_eq!(ro.read_i32(5), -5);

    // migrate_file_private: a private mapping is copy-on-write.
    let private = Mapping::file(&file, size, Prot::RW, Sharing::Private).unwrap();
    private.fill_i32(|_| 42);
    file.read_exact_at(0, back.as_bytes_mut()).unwrap();
    assert_eq!(back.get_i32(5), -5);
    assert_eq!(private.read_i32(5), 42);

    assert!(matches!(
        Mapping::file(&file, 2 * size, Prot::READ, Sharing::Shared),
        Err(Error::FileTooSmall { .. })
    ));
    assert!(matches!(
        file.write_all_at(size as u64 - 1, &[1, 2]),
        Err(Error::FileTooSmall { .. })
    ));
}

#[test]
fn aligned_and_thp_aligned_without_advice() {
    let pmd = hmm_dmirror::pmd_size().unwrap();
    assert!(pmd.is_power_of_two() && pmd >= ps());
    let m = Mapping::aligned(3 * ps(), 16 * ps(), Prot::RW).unwrap();
    assert_eq!(m.addr() % (16 * ps()), 0);
    m.fill_i32(|i| i as i32);
    assert_eq!(m.read_i32(3 * ps() / 4 - 1), (3 * ps() / 4 - 1) as i32);

    // Without a THP advice (the advices need transparent huge pages: tests/thp.rs).
    let m = Mapping::thp_aligned(pmd, Prot::RW, Thp::Unset).unwrap();
    assert_eq!(m.addr() % pmd, 0);
    assert_eq!(m.len(), pmd);
    m.fill_i32(|i| i as i32);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), None);
}

/// The advices that need no transparent huge pages (those that do: tests/thp.rs).
#[test]
fn madvise_kinds() {
    let pmd = hmm_dmirror::pmd_size().unwrap();
    let m = Mapping::thp_aligned(pmd, Prot::RW, Thp::Unset).unwrap();
    m.fill_i32(|i| i as i32);
    m.advise(Advice::WillNeed).unwrap();
    // MADV_FREE keeps or zeroes; then MADV_DONTNEED zeroes private anonymous memory.
    m.advise_pages(0, 1, Advice::Free).unwrap();
    m.advise(Advice::DontNeed).unwrap();
    assert_eq!(m.mismatch_i32(0..m.words(), |_| 0), None);
    m.unmap_pages(0, 1).unwrap();
    assert!(matches!(
        m.advise(Advice::DontNeed),
        Err(Error::Unmapped { .. })
    ));
}

#[test]
fn mremap_grow_shrink_and_move() {
    let mut m = Mapping::anon_private(2 * ps()).unwrap();
    m.fill_i32(|i| i as i32);
    m.remap(4 * ps(), true).unwrap();
    assert_eq!(m.npages(), 4);
    assert_eq!(m.mismatch_i32(0..2 * ps() / 4, |i| i as i32), None);
    assert_eq!(m.read_i32(3 * ps() / 4), 0);
    assert_eq!(m.prot_of(3), Some(Prot::RW));
    m.remap(ps(), false).unwrap();
    assert_eq!(m.npages(), 1);
    assert_eq!(m.read_i32(10), 10);
    assert!(matches!(m.remap(0, true), Err(Error::ZeroPages)));
}

#[test]
fn mremap_fixed_move_as_in_migrate_remap_fault() {
    for dont_unmap in [false, true] {
        for offset_pages in [0usize, 1, 3] {
            let mut src = Mapping::anon_private(4 * ps()).unwrap();
            src.fill_i32(|i| i as i32);
            let old_addr = src.addr();
            let mut dest = Mapping::anon(8 * ps(), Prot::NONE, Sharing::Private).unwrap();
            let moved = src.move_to(&mut dest, offset_pages, dont_unmap).unwrap();
            assert_eq!(moved.addr(), dest.addr() + offset_pages * ps());
            assert_eq!(moved.mismatch_i32(0..moved.words(), |i| i as i32), None);
            // dest gave those pages up; the others are still its own.
            assert!(!dest.is_mapped(offset_pages) && !dest.is_mapped(offset_pages + 3));
            assert!(dest.is_mapped(offset_pages + 4));
            if dont_unmap {
                // MREMAP_DONTUNMAP leaves the old range mapped and empty.
                assert_eq!(src.addr(), old_addr);
                assert!(src.is_mapped(0));
                assert_eq!(src.mismatch_i32(0..src.words(), |_| 0), None);
            } else {
                assert!(!src.is_mapped(0));
            }
            // The target must be owned by dest.
            let mut again = Mapping::anon_private(4 * ps()).unwrap();
            let err = again.move_to(&mut dest, offset_pages, false).unwrap_err();
            assert!(matches!(err, Error::Unmapped { .. }), "{err:?}");
            let err = again.move_to(&mut dest, 6, false).unwrap_err();
            assert!(matches!(err, Error::OutOfRange { .. }), "{err:?}");
        }
    }
}

#[test]
fn hugetlb_rejects_a_length_that_is_not_a_huge_page_multiple() {
    let hs = hmm_dmirror::default_huge_page_size()
        .unwrap()
        .expect("Hugepagesize in /proc/meminfo");
    assert!(hs > ps());
    assert!(matches!(
        Mapping::hugetlb(ps(), Prot::RW, Sharing::Private),
        Err(Error::Misaligned { .. })
    ));
}

#[test]
#[ignore = "needs free huge pages (the lab reserves them: cargo xtask lab run -- cargo test -p hmm-dmirror --test mapping -- --ignored)"]
fn hugetlb_maps_a_free_huge_page() {
    let free = hmm_dmirror::free_huge_pages().unwrap();
    let hs = hmm_dmirror::default_huge_page_size()
        .unwrap()
        .expect("Hugepagesize");
    assert!(free > 0, "HugePages_Free is 0 in /proc/meminfo");
    let m = Mapping::hugetlb(hs, Prot::RW, Sharing::Private).unwrap();
    m.fill_i32(|i| i as i32);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| i as i32), None);
    m.protect(Prot::READ).unwrap();
    assert_eq!(m.read_i32(m.words() - 1), (m.words() - 1) as i32);
    say(&format!("hugetlb: tested one {hs}-byte page"));
}

#[test]
fn mapping_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mapping>();
    check::<hmm_dmirror::Device>();
}

#[test]
fn closures_may_use_the_same_mapping() {
    // The closure-taking helpers never hold the lock while calling back.
    let m = Mapping::anon_private(3 * ps()).unwrap();
    m.fill_i32(|i| i as i32);
    m.fill_i32(|i| m.read_i32(i) + 1);
    assert_eq!(m.mismatch_i32(0..m.words(), |i| m.read_i32(i)), None);
    assert_eq!(m.read_i32(2000), 2001);
}

#[test]
fn slice_copies() {
    let m = Mapping::anon_private(2 * ps()).unwrap();
    m.write_i32_slice(10, &[1, 2, 3]);
    let mut out = [0; 5];
    m.read_i32_slice(9, &mut out);
    assert_eq!(out, [0, 1, 2, 3, 0]);
    // Across a page boundary.
    let edge = ps() / 4 - 1;
    m.write_i32_slice(edge, &[7, 8]);
    assert_eq!(m.to_vec_i32_words(edge..edge + 2), vec![7, 8]);
}

#[test]
fn split_off_and_a_contiguous_remap_layout() {
    // migrate_remap_fault's layout: a PMD-aligned buffer of `size` followed by a hole it is
    // moved into at offsets 0, size/4 and size/2.
    let pmd = hmm_dmirror::pmd_size().unwrap();
    let size_pages = pmd / ps();
    for offset_pages in [0, size_pages / 4, size_pages / 2] {
        let mut buf = Mapping::aligned(3 * pmd, pmd, Prot::RW).unwrap();
        let mut hole = buf.split_off(size_pages).unwrap();
        assert_eq!((buf.len(), hole.len()), (pmd, 2 * pmd));
        assert_eq!(hole.addr(), buf.addr() + pmd);
        hole.protect(Prot::NONE).unwrap();
        buf.fill_i32(|i| i as i32);
        let moved = buf.move_to(&mut hole, offset_pages, false).unwrap();
        assert_eq!(moved.addr(), buf.addr() + pmd + offset_pages * ps());
        assert_eq!(moved.mismatch_i32(0..moved.words(), |i| i as i32), None);
    }
    let mut m = Mapping::anon_private(2 * ps()).unwrap();
    assert!(matches!(m.split_off(0), Err(Error::OutOfRange { .. })));
    assert!(matches!(m.split_off(2), Err(Error::OutOfRange { .. })));
}
