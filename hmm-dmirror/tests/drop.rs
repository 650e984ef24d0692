//! Drop unmaps exactly what a mapping still owns (its own binary: one test, one thread, so
//! nothing else maps memory into the checked ranges meanwhile).

use hmm_dmirror::{Mapping, Prot, Sharing};

fn ps() -> usize {
    hmm_dmirror::page_size()
}

/// Whether `addr` (page aligned) is mapped: `mincore` fails with ENOMEM on unmapped pages.
fn is_mapped(addr: usize) -> bool {
    let mut vec = [0u8; 1];
    // SAFETY: mincore only reads the page tables and writes one byte into `vec`.
    unsafe { libc::mincore(addr as *mut libc::c_void, ps(), vec.as_mut_ptr()) == 0 }
}

#[test]
fn drop_unmaps_what_is_owned_and_nothing_else() {
    // Plain drop.
    let m = Mapping::anon_private(4 * ps()).unwrap();
    let a = m.addr();
    assert!((0..4).all(|i| is_mapped(a + i * ps())));
    drop(m);
    assert!((0..4).all(|i| !is_mapped(a + i * ps())));

    // With a hole.
    let m = Mapping::anon_private(4 * ps()).unwrap();
    let a = m.addr();
    m.unmap_pages(1, 2).unwrap();
    assert!(
        is_mapped(a) && !is_mapped(a + ps()) && !is_mapped(a + 2 * ps()) && is_mapped(a + 3 * ps())
    );
    drop(m);
    assert!((0..4).all(|i| !is_mapped(a + i * ps())));

    // After a move, the destination mapping no longer owns the moved pages: dropping it
    // leaves them to the moved mapping, and dropping that unmaps them.
    let mut src = Mapping::anon_private(2 * ps()).unwrap();
    src.fill_i32(|i| i as i32);
    let mut dest = Mapping::anon(6 * ps(), Prot::NONE, Sharing::Private).unwrap();
    let d = dest.addr();
    let moved = src.move_to(&mut dest, 2, false).unwrap();
    drop(src);
    drop(dest);
    assert!(
        !is_mapped(d)
            && !is_mapped(d + ps())
            && !is_mapped(d + 4 * ps())
            && !is_mapped(d + 5 * ps())
    );
    assert!(is_mapped(d + 2 * ps()) && is_mapped(d + 3 * ps()));
    assert_eq!(moved.read_i32(ps() / 4 + 1), (ps() / 4 + 1) as i32);
    drop(moved);
    assert!(!is_mapped(d + 2 * ps()) && !is_mapped(d + 3 * ps()));

    // aligned() keeps only the aligned window.
    let align = 64 * ps();
    let m = Mapping::aligned(4 * ps(), align, Prot::RW).unwrap();
    let a = m.addr();
    assert_eq!(a % align, 0);
    drop(m);
    assert!((0..4).all(|i| !is_mapped(a + i * ps())));
}
