//! Fake drivers for host tests: a [`Device`] whose requests go to an object that answers as
//! the C driver (mainline numbering), our module (patched), an older kernel, or a file that
//! is no HMM device. A fake performs the buffer writes the real driver would, but only
//! within the `ptr_len` bytes the library vouched for; a write beyond them is recorded as an
//! overflow instead (where the kernel would have corrupted memory).

use std::sync::{Arc, Mutex};

use hmm_sys::hmm_dmirror_cmd;
use rustix::io::Errno;

use crate::{Abi, AbiEvidence, Device, Error, Mapping, Mirror, Request};

/// A driver behind a fake [`Device`].
pub(crate) trait FakeDriver: Send + Sync {
    /// Handles ioctl `code`; `ptr_len` bytes at `cmd.ptr` are the caller's.
    ///
    /// # Safety
    ///
    /// The accesses the request makes as the real driver defines them are valid and observed
    /// by no reference ([`Device::submit`]'s contract): `ptr_len` bytes at `cmd.ptr` (written,
    /// or read for WRITE) and `cmd.npages` pages at `cmd.addr` (read, or written for WRITE).
    unsafe fn ioctl(
        &self,
        code: u32,
        cmd: &mut hmm_dmirror_cmd,
        ptr_len: usize,
    ) -> rustix::io::Result<()>;
}

/// One request a fake saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub code: u32,
    pub npages: u64,
    pub ptr_len: usize,
    /// Bytes the real driver would have written at `ptr`.
    pub writes: usize,
    /// Whether that is more than `ptr_len`.
    pub overflow: bool,
}

/// How a fake numbers its requests.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Speaks {
    /// One of the two numberings.
    Hmm(Abi),
    /// Linux 5.x: 0x03 is SNAPSHOT (no MIGRATE_TO_SYS yet).
    Old,
    /// Not an HMM device: every ioctl is ENOTTY.
    Nothing,
}

pub(crate) struct Fake {
    speaks: Speaks,
    pub calls: Mutex<Vec<Call>>,
    /// The FLAGS word, as the driver keeps it.
    pub flags: Mutex<u64>,
}

impl Fake {
    pub(crate) fn new(speaks: Speaks) -> Arc<Fake> {
        Arc::new(Fake {
            speaks,
            calls: Mutex::new(Vec::new()),
            flags: Mutex::new(0),
        })
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Writes `len` bytes made by `byte` at `cmd.ptr` if the caller vouched for them.
    fn write_ptr(
        &self,
        code: u32,
        cmd: &hmm_dmirror_cmd,
        ptr_len: usize,
        len: usize,
        byte: impl Fn(usize) -> u8,
    ) {
        let overflow = len > ptr_len;
        if !overflow {
            let p = cmd.ptr as *mut u8;
            for i in 0..len {
                // SAFETY: `ptr_len` >= `len` bytes at `ptr` are valid for writes and
                // unobserved (`ioctl`'s contract, which `Device::submit` forwards).
                unsafe { p.add(i).write_volatile(byte(i)) };
            }
        }
        self.calls.lock().unwrap().push(Call {
            code,
            npages: cmd.npages,
            ptr_len,
            writes: len,
            overflow,
        });
    }
}

impl FakeDriver for Fake {
    unsafe fn ioctl(
        &self,
        code: u32,
        cmd: &mut hmm_dmirror_cmd,
        ptr_len: usize,
    ) -> rustix::io::Result<()> {
        let ps = crate::page_size();
        let n = cmd.npages as usize;
        let req = match self.speaks {
            Speaks::Nothing => return Err(Errno::NOTTY),
            Speaks::Old if code == hmm_sys::mainline::HMM_DMIRROR_MIGRATE_TO_SYS => {
                // 5.x SNAPSHOT: one byte per page (HMM_DMIRROR_PROT_WRITE).
                self.write_ptr(code, cmd, ptr_len, n, |_| 2);
                cmd.cpages = cmd.npages;
                return Ok(());
            }
            Speaks::Old => return Err(Errno::INVAL),
            Speaks::Hmm(abi) => abi.decode(code).ok_or(Errno::INVAL)?,
        };
        let addr = cmd.addr as *const u8;
        match req {
            // Copies of the range: the page contents (the fakes only copy ranges the tests
            // made, all resident and readable).
            Request::Read
            | Request::ReadUnlocked
            | Request::MigrateToDev
            | Request::MigrateOnFaultToDev
            | Request::Exclusive => {
                // SAFETY: `npages` pages at `addr` are valid for reads (`ioctl`'s contract).
                self.write_ptr(code, cmd, ptr_len, n * ps, |i| unsafe {
                    addr.add(i).read_volatile()
                });
                cmd.cpages = cmd.npages;
            }
            Request::Snapshot => {
                self.write_ptr(code, cmd, ptr_len, n, |_| hmm_sys::HMM_DMIRROR_PROT_WRITE);
                cmd.cpages = cmd.npages;
            }
            // Nothing of the tests' ranges is in device memory.
            Request::MigrateToSys => self.write_ptr(code, cmd, ptr_len, 0, |_| 0),
            Request::Flags => {
                *self.flags.lock().unwrap() = cmd.npages;
                self.write_ptr(code, cmd, ptr_len, 0, |_| 0);
            }
            Request::Write | Request::CheckExclusive | Request::Release => {
                self.write_ptr(code, cmd, ptr_len, 0, |_| 0)
            }
        }
        Ok(())
    }
}

fn ps() -> usize {
    crate::page_size()
}

/// Only the probe's number (0x03), on one page with a one-page buffer, reached the driver.
fn only_the_probe(fake: &Fake) {
    let calls = fake.calls();
    assert!(
        calls.iter().all(|c| c.code == crate::abi::PROBE_CODE
            && c.npages == 1
            && c.ptr_len == ps()
            && !c.overflow),
        "{calls:x?}"
    );
    assert_eq!(*fake.flags.lock().unwrap(), 0, "FAIL_ALLOC armed");
}

#[test]
fn a_mainline_driver_is_found_out_and_a_snapshot_gets_one_byte_per_page() {
    let fake = Fake::new(Speaks::Hmm(Abi::Mainline));
    let dev = Device::with_fake(fake.clone(), None).unwrap();
    assert_eq!(dev.abi(), Abi::Mainline);
    assert_eq!(dev.abi_evidence(), AbiEvidence::Probe);
    only_the_probe(&fake);
    assert_eq!(fake.calls()[0].writes, 0, "mainline 0x03 writes no buffer");

    let buf = Mapping::anon_private(16 * ps()).unwrap();
    let snap = dev.snapshot(buf.all()).unwrap();
    assert_eq!(snap.len(), 16);
    assert_eq!(snap.cpages(), 16);
    let last = *fake.calls().last().unwrap();
    assert_eq!(last.code, hmm_sys::mainline::HMM_DMIRROR_SNAPSHOT);
    assert_eq!((last.writes, last.overflow), (16, false));
}

/// The scenario: `HMM_DMIRROR_ABI` unset used to mean patched, and the patched
/// SNAPSHOT number is mainline EXCLUSIVE, which writes 16 pages where the library had
/// allocated 16 bytes. The fake shows that request overflowing, and that the library now
/// sends nothing but the probe before refusing the patched ABI on this driver.
#[test]
fn the_patched_abi_on_a_mainline_driver_is_refused_before_the_kernel_can_write() {
    let fake = Fake::new(Speaks::Hmm(Abi::Mainline));

    // What the old `Device::open(0)?.snapshot(16 pages)` sent: 0xc0284805 with a 16-byte
    // buffer. The mainline driver writes 64 KiB there.
    let buf = Mapping::anon_private(16 * ps()).unwrap();
    let mut sixteen = Mirror::for_snapshot(16);
    let mut cmd = hmm_dmirror_cmd {
        addr: buf.addr() as u64,
        ptr: sixteen.as_mut_ptr() as u64,
        npages: 16,
        ..Default::default()
    };
    let code = Abi::Patched.request_code(Request::Snapshot).unwrap();
    // SAFETY: `sixteen` holds the 16 bytes vouched for and `buf` the 16 pages; the fake
    // writes nothing beyond what is vouched for (it records the rest).
    unsafe { fake.ioctl(code, &mut cmd, 16) }.unwrap();
    let c = fake.calls()[0];
    assert_eq!(c.code, hmm_sys::HMM_DMIRROR_SNAPSHOT);
    assert_eq!(c.code, hmm_sys::mainline::HMM_DMIRROR_EXCLUSIVE);
    assert!(c.overflow && c.writes == 16 * ps(), "{c:?}");

    // Now: asking for patched (in code or with HMM_DMIRROR_ABI) is an error after the probe.
    let fake = Fake::new(Speaks::Hmm(Abi::Mainline));
    let err = Device::with_fake(fake.clone(), Some(Abi::Patched)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AbiMismatch {
                requested: Abi::Patched,
                detected: Abi::Mainline,
                evidence: AbiEvidence::Probe,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "/dev/null: the driver speaks the mainline ABI (probe), not the patched ABI asked for"
    );
    only_the_probe(&fake);
    assert_eq!(fake.calls().len(), 1);
}

/// Even a device whose ABI was wrongly given as patched (the unsafe constructor) cannot make
/// a mainline driver write past the library's buffer through `snapshot`: the patched
/// SNAPSHOT goes through a scratch mapping of one page per page.
#[test]
fn a_patched_snapshot_is_sized_for_the_colliding_mainline_exclusive() {
    let fake = Fake::new(Speaks::Hmm(Abi::Mainline));
    // SAFETY: the requests go to the fake (set next, before any request), which writes
    // nothing past what the library vouches for.
    let mut dev = unsafe { Device::from_fd_unchecked(fake_fd(), Abi::Patched) };
    dev.set_fake(fake.clone());
    let buf = Mapping::anon_private(16 * ps()).unwrap();
    buf.fill_bytes(hmm_sys::HMM_DMIRROR_PROT_READ);
    let snap = dev.snapshot(buf.all()).unwrap();
    assert_eq!(snap.len(), 16);
    let c = fake.calls()[0];
    assert_eq!(c.code, hmm_sys::mainline::HMM_DMIRROR_EXCLUSIVE);
    assert_eq!(
        (c.writes, c.ptr_len, c.overflow),
        (16 * ps(), 16 * ps(), false)
    );
}

#[test]
fn our_patched_module_is_found_out_and_mainline_asked_for_is_refused() {
    let fake = Fake::new(Speaks::Hmm(Abi::Patched));
    let dev = Device::with_fake(fake.clone(), None).unwrap();
    assert_eq!(
        (dev.abi(), dev.abi_evidence()),
        (Abi::Patched, AbiEvidence::Probe)
    );
    only_the_probe(&fake);
    assert_eq!(
        fake.calls()[0].writes,
        ps(),
        "patched 0x03 reads the page back"
    );

    let buf = Mapping::anon_private(16 * ps()).unwrap();
    assert_eq!(dev.snapshot(buf.all()).unwrap().len(), 16);
    assert_eq!(fake.calls()[1].code, hmm_sys::HMM_DMIRROR_SNAPSHOT);

    let fake = Fake::new(Speaks::Hmm(Abi::Patched));
    let err = Device::with_fake(fake.clone(), Some(Abi::Mainline)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AbiMismatch {
                requested: Abi::Mainline,
                detected: Abi::Patched,
                ..
            }
        ),
        "{err:?}"
    );
    only_the_probe(&fake);
}

#[test]
fn a_file_that_is_no_hmm_device_is_refused() {
    let fake = Fake::new(Speaks::Nothing);
    let err = Device::with_fake(fake.clone(), None).unwrap_err();
    assert!(matches!(err, Error::AbiUnknown { .. }), "{err:?}");
    assert_eq!(err.errno(), Some(Errno::NOTTY));
    // Nor is an ABI given for it trusted.
    let err = Device::with_fake(fake, Some(Abi::Mainline)).unwrap_err();
    assert!(matches!(err, Error::AbiUnknown { .. }), "{err:?}");
}

/// Linux 5.x numbered SNAPSHOT 0x03: one byte into the probe's buffer, cpages 1. That is
/// neither answer (the buffer is not the page), so the library refuses the device.
#[test]
fn an_older_numbering_is_not_taken_for_patched() {
    let fake = Fake::new(Speaks::Old);
    let err = Device::with_fake(fake.clone(), None).unwrap_err();
    assert!(
        matches!(err, Error::AbiUnknown { errno: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cpages 1"), "{err}");
    only_the_probe(&fake);
}

/// A descriptor for devices built by hand in these tests.
fn fake_fd() -> std::os::fd::OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

impl Device {
    /// Routes this device's requests to `fake` (tests only).
    pub(crate) fn set_fake(&mut self, fake: Arc<dyn FakeDriver>) {
        self.fake = Some(fake);
    }
}
