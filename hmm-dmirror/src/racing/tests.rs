//! Host tests of [`Racing`] over a fake driver that performs WRITE, READ and MIGRATE_TO_DEV
//! copies the way the real one does, and holds every request until a second one is in
//! flight (or a timeout passes), so that whether two requests overlapped is observed, not
//! left to the scheduler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmm_sys::hmm_dmirror_cmd;
use rustix::io::Errno;

use crate::fake::FakeDriver;
use crate::{Abi, Advice, Device, Error, Mapping, Mirror, Request};

/// How long a request waits for a second one to arrive where the test expects it to: long,
/// since the wait ends when it arrives and a loaded host (CI, `cargo test` of the whole
/// workspace on 2 cores) can keep the other thread off the CPU for a while.
const RENDEZVOUS: Duration = Duration::from_secs(10);
/// The same where the test expects no second request (requests serialized by the mapping's
/// lock): every request waits all of it.
const NO_RENDEZVOUS: Duration = Duration::from_millis(500);

/// Mainline numbering; copies whole pages between `cmd.addr` and `cmd.ptr`.
struct Overlapping {
    /// How long [`Overlapping::enter`] waits for a second request.
    wait: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    writes: AtomicUsize,
}

impl Overlapping {
    /// Marks a request in flight and waits until another one is (or the rendezvous passes).
    fn enter(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let start = Instant::now();
        while self.max_in_flight.load(Ordering::SeqCst) < 2 && start.elapsed() < self.wait {
            std::thread::yield_now();
        }
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Copies `len` bytes, volatile.
///
/// # Safety
///
/// `len` bytes at `from` are valid for reads and at `to` for writes, unobserved by any
/// reference.
unsafe fn copy(from: u64, to: u64, len: usize) {
    for i in 0..len {
        // SAFETY: the caller's contract.
        unsafe {
            let b = (from as *const u8).add(i).read_volatile();
            (to as *mut u8).add(i).write_volatile(b);
        }
    }
}

impl FakeDriver for Overlapping {
    unsafe fn ioctl(
        &self,
        code: u32,
        cmd: &mut hmm_dmirror_cmd,
        ptr_len: usize,
    ) -> rustix::io::Result<()> {
        let len = cmd.npages as usize * crate::page_size();
        match Abi::Mainline.decode(code).ok_or(Errno::INVAL)? {
            // The probe: nothing is in device memory.
            Request::MigrateToSys => return Ok(()),
            Request::Write => {
                assert!(len <= ptr_len, "WRITE source too small");
                self.enter();
                // SAFETY: `ptr_len >= len` source bytes and the `npages` pages at `addr`
                // are the request's, valid and unobserved (the trait's contract).
                unsafe { copy(cmd.ptr, cmd.addr, len) };
                self.writes.fetch_add(1, Ordering::SeqCst);
                self.leave();
            }
            Request::Read | Request::MigrateToDev => {
                assert!(len <= ptr_len, "buffer too small");
                self.enter();
                // SAFETY: as above, the other way round.
                unsafe { copy(cmd.addr, cmd.ptr, len) };
                self.leave();
            }
            _ => return Err(Errno::INVAL),
        }
        cmd.cpages = cmd.npages;
        Ok(())
    }
}

/// A fake driver whose requests wait up to `wait` for a second one to be in flight.
fn device_waiting(wait: Duration) -> (Arc<Overlapping>, Device) {
    let fake = Arc::new(Overlapping {
        wait,
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
    });
    let dev = Device::with_fake(fake.clone(), None).unwrap();
    assert_eq!(dev.abi(), Abi::Mainline);
    (fake, dev)
}

/// A fake driver whose requests wait for a second one (up to [`RENDEZVOUS`]).
fn device() -> (Arc<Overlapping>, Device) {
    device_waiting(RENDEZVOUS)
}

/// The regression case's shape (hmm-tests `write_during_migrate`): one thread WRITEs while
/// another migrates the same pages. Through the handle both are in the driver at once, and
/// every page holds the WRITE once the handle is dropped.
#[test]
fn a_write_and_a_migration_of_the_same_pages_overlap() {
    let (fake, dev) = device();
    let ps = crate::page_size();
    let mut buf = Mapping::anon_private(4 * ps).unwrap();
    buf.fill_bytes(1);
    let src = vec![9u8; 4 * ps];
    let mut mirror = Mirror::for_pages(4);
    {
        let race = buf.racing();
        std::thread::scope(|s| {
            let writer = s.spawn(|| race.write(&dev, 0, 4, &src));
            let migrated = race.migrate_to_dev(&dev, 0, 4, &mut mirror).unwrap();
            assert_eq!(migrated.cpages, 4);
            assert_eq!(writer.join().unwrap().unwrap().cpages, 4);
        });
    }
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 2);
    assert!((0..4 * ps).all(|off| buf.read_u8(off) == 9));
    // What the migration copied is one of the two states of each byte.
    assert!(mirror.iter().all(|&b| b == 1 || b == 9));
}

/// Two WRITEs of the same pages overlap through the handle; through [`Device::write`] (which
/// holds the mapping's lock) they never do.
#[test]
fn writes_overlap_through_the_handle_and_not_through_device_write() {
    let ps = crate::page_size();
    let (a, b) = (vec![3u8; ps], vec![4u8; ps]);

    let (fake, dev) = device_waiting(NO_RENDEZVOUS);
    let buf = Mapping::anon_private(ps).unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| dev.write(buf.all(), &a).unwrap());
        dev.write(buf.all(), &b).unwrap();
        t.join().unwrap();
    });
    assert_eq!(fake.writes.load(Ordering::SeqCst), 2);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 1);

    let (fake, dev) = device();
    let mut buf = Mapping::anon_private(ps).unwrap();
    {
        let race = buf.racing();
        std::thread::scope(|s| {
            let t = s.spawn(|| race.write(&dev, 0, 1, &a).unwrap());
            race.write(&dev, 0, 1, &b).unwrap();
            t.join().unwrap();
        });
    }
    assert_eq!(fake.writes.load(Ordering::SeqCst), 2);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 2);
    // Each byte holds one of the two WRITEs (which one is up to the race).
    assert!((0..ps).all(|off| matches!(buf.read_u8(off), 3 | 4)));
}

/// The handle checks what the [`Device`] methods check, before any request.
#[test]
fn the_handle_checks_ranges_buffers_and_holes_first() {
    let (fake, dev) = device_waiting(NO_RENDEZVOUS);
    let ps = crate::page_size();
    let mut buf = Mapping::anon_private(4 * ps).unwrap();
    buf.unmap_pages(3, 1).unwrap();
    let src = vec![0u8; 4 * ps];
    let race = buf.racing();
    assert_eq!(race.npages(), 4);
    let err = race.write(&dev, 2, 2, &src).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unmapped {
                first: 2,
                npages: 2
            }
        ),
        "{err:?}"
    );
    let err = race.write(&dev, 0, 2, &src[..ps]).unwrap_err();
    assert!(matches!(err, Error::MirrorTooSmall { .. }), "{err:?}");
    let err = race.write(&dev, 3, 2, &src).unwrap_err();
    assert!(matches!(err, Error::OutOfRange { .. }), "{err:?}");
    let err = race.write(&dev, 0, 0, &src).unwrap_err();
    assert!(matches!(err, Error::ZeroPages), "{err:?}");
    let err = race.read(&dev, 0, 2, &mut [0u8; 8]).unwrap_err();
    assert!(matches!(err, Error::MirrorTooSmall { .. }), "{err:?}");
    assert_eq!(fake.writes.load(Ordering::SeqCst), 0);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 0);
    // The pages it owns are written.
    race.write(&dev, 0, 3, &src).unwrap();
    let mut out = Mirror::for_pages(3);
    assert_eq!(race.read(&dev, 0, 3, &mut out).unwrap().cpages, 3);
}

/// Mainline numbering; a READ stays in the driver until the test says the other thread's
/// `madvise` returned (or [`RENDEZVOUS`] passes), and records whether it did.
#[derive(Default)]
struct HoldsRead {
    in_read: AtomicBool,
    advised: AtomicBool,
    advised_during_read: AtomicBool,
}

impl FakeDriver for HoldsRead {
    unsafe fn ioctl(
        &self,
        code: u32,
        cmd: &mut hmm_dmirror_cmd,
        _ptr_len: usize,
    ) -> rustix::io::Result<()> {
        match Abi::Mainline.decode(code).ok_or(Errno::INVAL)? {
            Request::MigrateToSys => return Ok(()),
            Request::Read => {
                self.in_read.store(true, Ordering::SeqCst);
                let start = Instant::now();
                while !self.advised.load(Ordering::SeqCst) && start.elapsed() < RENDEZVOUS {
                    std::thread::yield_now();
                }
                let during = self.advised.load(Ordering::SeqCst);
                self.advised_during_read.store(during, Ordering::SeqCst);
            }
            _ => return Err(Errno::INVAL),
        }
        cmd.cpages = cmd.npages;
        Ok(())
    }
}

/// `MADV_DONTNEED` through the handle from one thread while a request of the handle is in
/// the driver on the same pages (hmm-tests `migrate_dontneed_race`): the advice does not wait
/// for the request, and it zaps the pages (private anonymous: they read back as zero once
/// the handle is gone).
#[test]
fn advise_runs_while_a_request_is_in_the_driver() {
    let fake = Arc::new(HoldsRead::default());
    let dev = Device::with_fake(fake.clone(), None).unwrap();
    let ps = crate::page_size();
    let mut buf = Mapping::anon_private(4 * ps).unwrap();
    buf.fill_bytes(0x5A);
    let mut mirror = Mirror::for_pages(4);
    {
        let race = buf.racing();
        std::thread::scope(|s| {
            let zapper = s.spawn(|| {
                while !fake.in_read.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                let r = race.advise(Advice::DontNeed);
                fake.advised.store(true, Ordering::SeqCst);
                r
            });
            assert_eq!(race.read(&dev, 0, 4, &mut mirror).unwrap().cpages, 4);
            zapper.join().unwrap().unwrap();
        });
    }
    assert!(fake.advised_during_read.load(Ordering::SeqCst));
    assert!((0..4 * ps).all(|off| buf.read_u8(off) == 0));
}

/// [`Racing::advise_pages`] checks its range as [`Mapping::advise_pages`] does, and zaps
/// only the pages it names.
#[test]
fn advise_pages_checks_the_range_and_zaps_only_it() {
    let ps = crate::page_size();
    let mut buf = Mapping::anon_private(4 * ps).unwrap();
    buf.fill_bytes(7);
    buf.unmap_pages(3, 1).unwrap();
    {
        let race = buf.racing();
        let err = race.advise_pages(2, 2, Advice::DontNeed).unwrap_err();
        assert!(matches!(err, Error::Unmapped { .. }), "{err:?}");
        let err = race.advise_pages(3, 2, Advice::DontNeed).unwrap_err();
        assert!(matches!(err, Error::OutOfRange { .. }), "{err:?}");
        let err = race.advise_pages(0, 0, Advice::DontNeed).unwrap_err();
        assert!(matches!(err, Error::ZeroPages), "{err:?}");
        race.advise_pages(1, 1, Advice::DontNeed).unwrap();
    }
    assert!((0..ps).all(|off| buf.read_u8(off) == 7));
    assert!((ps..2 * ps).all(|off| buf.read_u8(off) == 0));
    assert!((2 * ps..3 * ps).all(|off| buf.read_u8(off) == 7));
}

/// Pages lazily freed through the handle are rewritten before `as_i32_slice_mut` hands out a
/// reference, as after [`Mapping::advise`]: the slice reads what was there.
#[test]
fn free_through_the_handle_is_tracked() {
    let ps = crate::page_size();
    let mut buf = Mapping::anon_private(2 * ps).unwrap();
    buf.fill_i32(|i| i as i32);
    buf.racing().advise(Advice::Free).unwrap();
    assert!(buf
        .lock()
        .iter()
        .all(|&s| s & crate::mapping::LAZY_FREE != 0));
    let words = buf.words();
    let slice = buf.as_i32_slice_mut();
    assert_eq!(slice.len(), words);
    // Each page holds what was written or, if the kernel dropped it first, zeros.
    assert!(slice
        .iter()
        .enumerate()
        .all(|(i, &v)| v == i as i32 || v == 0));
    slice[0] = -1;
    assert!(buf
        .lock()
        .iter()
        .all(|&s| s & crate::mapping::LAZY_FREE == 0));
    assert_eq!(buf.read_i32(0), -1);
}
