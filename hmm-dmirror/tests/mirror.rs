//! The host-side mirror buffer.

use hmm_dmirror::Mirror;

#[test]
fn sizes_and_views() {
    let ps = hmm_dmirror::page_size();
    let mut m = Mirror::for_pages(2);
    assert_eq!((m.len(), m.words(), m.is_empty()), (2 * ps, ps / 2, false));
    assert!(m.as_bytes().iter().all(|&b| b == 0));
    assert_eq!(m.as_ptr() as usize % 8, 0);
    m.fill_i32(|i| -(i as i32));
    assert_eq!(m.get_i32(10), -10);
    assert_eq!(m.as_i32()[11], -11);
    m.set_i32(3, 7);
    assert_eq!(
        m.mismatch_i32(0..m.words(), |i| -(i as i32)),
        Some((3, 7, -3))
    );
    m.fill(0xFF);
    assert_eq!(m.get_i32(0), -1);
    assert_eq!(m.as_bytes_mut()[5], 0xFF);
    m.as_i32_mut()[0] = 0x0102_0304;
    assert_eq!(&m.as_bytes()[..4], &0x0102_0304i32.to_ne_bytes());

    let s = Mirror::for_snapshot(7);
    assert_eq!((s.len(), s.words()), (7, 1));
    assert_eq!(s.as_bytes().len(), 7);
    assert!(Mirror::new(0).is_empty());
    assert_eq!(format!("{:?}", Mirror::new(3)), "Mirror { len: 3, .. }");
}
