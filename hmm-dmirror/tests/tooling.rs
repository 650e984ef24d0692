//! Helpers for tools: printable, ordered snapshot states, histograms, device listing.

use hmm_dmirror::{
    devices, Counts, Device, DeviceMemory, Huge, Kind, MemoryType, PageState, Snapshot,
};

#[test]
fn snapshot_states_print_and_order() {
    assert_eq!(Kind::Write.to_string(), "WRITE");
    assert_eq!(Huge::Pmd.to_string(), "PMD");
    assert_eq!(Huge::None.to_string(), "-");
    assert_eq!(
        DeviceMemory::CoherentRemote.to_string(),
        "DEV_COHERENT_REMOTE"
    );
    assert!(Kind::None < Kind::Write);
    assert!(PageState::NONE < PageState::READ && PageState::READ < PageState::ERROR);
    let mut v = vec![PageState::ERROR, PageState::WRITE, PageState::NONE];
    v.sort();
    assert_eq!(v, [PageState::NONE, PageState::WRITE, PageState::ERROR]);
}

#[test]
fn histogram_and_iteration() {
    let bytes = [0x02, 0x02, 0x22, 0x00, 0x02];
    let snap = Snapshot::decode(&bytes, Counts::default()).unwrap();
    let h = snap.histogram();
    let local = PageState::WRITE.with_device(DeviceMemory::PrivateLocal);
    assert_eq!(
        h.into_iter().collect::<Vec<_>>(),
        [(PageState::NONE, 1), (PageState::WRITE, 3), (local, 1)]
    );
    let mut n = 0;
    for s in &snap {
        n += usize::from(s.is_writable());
    }
    assert_eq!(n, 4);
}

#[test]
fn device_listing() {
    assert_eq!(MemoryType::of_unit(1), MemoryType::Private);
    assert_eq!(MemoryType::of_unit(2), MemoryType::Coherent);
    assert_eq!(
        MemoryType::Coherent.raw(),
        hmm_dmirror::sys::HMM_DMIRROR_MEMORY_DEVICE_COHERENT
    );
    assert_eq!(MemoryType::Private.to_string(), "private");
    let found = devices().unwrap();
    // Every node listed exists, in unit order.
    assert!(found.windows(2).all(|w| w[0].unit < w[1].unit));
    for d in &found {
        assert!(d.path.exists(), "{d:?}");
        assert_eq!(d.memory, MemoryType::of_unit(d.unit));
    }
    if found.is_empty() {
        assert!(Device::open_if_present(0).unwrap().is_none());
    }
}
