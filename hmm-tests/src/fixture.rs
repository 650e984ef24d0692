//! The two fixtures of hmm-tests.c, their variants, setup and teardown, and the constants
//! the tests share.
//!
//! * `hmm`: one device, `self.fd`; variants `hmm_device_private` (device 0) and
//!   `hmm_device_coherent` (device 2);
//! * `hmm2`: two devices, `self.fd0`/`self.fd1`; variants `hmm2_device_private` (0, 1) and
//!   `hmm2_device_coherent` (2, 3).
//!
//! Setup skips with "DEVICE_COHERENT not available" when the first coherent device cannot be
//! opened (as C). A private device whose node does not exist skips too (the module is not
//! loaded) unless `--require-device`/`HMM_TESTS_REQUIRE_DEVICE=1`, where it fails like the C
//! `ASSERT_GE(self->fd, 0)`; any other open failure always fails.

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use hmm_dmirror::Device;

use crate::dmirror::hmm_open;
use crate::harness::{Fixture, TestF, Variant};
use crate::{ASSERT_EQ, SKIP};

/// `HMM_PRIVATE_DEVICE_ONE`.
pub const HMM_PRIVATE_DEVICE_ONE: u32 = 0;
/// `HMM_PRIVATE_DEVICE_TWO`.
pub const HMM_PRIVATE_DEVICE_TWO: u32 = 1;
/// `HMM_COHERENCE_DEVICE_ONE`.
pub const HMM_COHERENCE_DEVICE_ONE: u32 = 2;
/// `HMM_COHERENCE_DEVICE_TWO`.
pub const HMM_COHERENCE_DEVICE_TWO: u32 = 3;

/// `ONEKB`.
pub const ONEKB: usize = 1 << 10;
/// `ONEMEG`.
pub const ONEMEG: usize = 1 << 20;
/// `TWOMEG`.
pub const TWOMEG: usize = 1 << 21;
/// `HMM_BUFFER_SIZE`: 4 MiB.
pub const HMM_BUFFER_SIZE: usize = 1024 << 12;
/// `NTIMES`.
pub const NTIMES: usize = 10;

/// `hmm_is_coherent_type(dev_num)`.
pub const fn hmm_is_coherent_type(dev_num: u32) -> bool {
    dev_num >= HMM_COHERENCE_DEVICE_ONE
}

/// `FIXTURE(hmm)`.
pub struct Hmm {
    /// `self->fd`: the device under test.
    pub fd: Device,
    /// `self->page_size`.
    pub page_size: usize,
    /// `self->page_shift`.
    pub page_shift: u32,
}

/// `FIXTURE_VARIANT(hmm)`.
pub struct HmmVariant {
    /// Which `/dev/hmm_dmirrorN`.
    pub device_number: u32,
}

/// `FIXTURE(hmm2)`.
pub struct Hmm2 {
    /// `self->fd0`.
    pub fd0: Device,
    /// `self->fd1`.
    pub fd1: Device,
    /// `self->page_size`.
    pub page_size: usize,
    /// `self->page_shift`.
    pub page_shift: u32,
}

/// `FIXTURE_VARIANT(hmm2)`.
pub struct Hmm2Variant {
    /// First device.
    pub device_number0: u32,
    /// Second device.
    pub device_number1: u32,
}

static HMM_VARIANTS: [Variant<HmmVariant>; 2] = [
    Variant {
        name: "hmm_device_private",
        data: HmmVariant {
            device_number: HMM_PRIVATE_DEVICE_ONE,
        },
    },
    Variant {
        name: "hmm_device_coherent",
        data: HmmVariant {
            device_number: HMM_COHERENCE_DEVICE_ONE,
        },
    },
];

static HMM2_VARIANTS: [Variant<Hmm2Variant>; 2] = [
    Variant {
        name: "hmm2_device_private",
        data: Hmm2Variant {
            device_number0: HMM_PRIVATE_DEVICE_ONE,
            device_number1: HMM_PRIVATE_DEVICE_TWO,
        },
    },
    Variant {
        name: "hmm2_device_coherent",
        data: Hmm2Variant {
            device_number0: HMM_COHERENCE_DEVICE_ONE,
            device_number1: HMM_COHERENCE_DEVICE_TWO,
        },
    },
];

/// `self->page_size` and `self->page_shift` (`ffs(page_size) - 1`).
fn page_geometry() -> (usize, u32) {
    let page_size = hmm_dmirror::page_size();
    (page_size, page_size.trailing_zeros())
}

/// The first device of a fixture: C skips a missing coherent device; the port also skips a
/// private device whose node is absent (module not loaded) unless the run requires devices.
fn open_first(unit: u32, name: &'static str) -> Option<Device> {
    match hmm_open(unit) {
        Ok(dev) => Some(dev),
        Err(e) => {
            if hmm_is_coherent_type(unit) {
                SKIP!(return None, "DEVICE_COHERENT not available");
            }
            if e.is_no_device() && !crate::config::get().require_device {
                SKIP!(
                    return None,
                    "{e} ({}=1 makes this a failure)",
                    crate::config::REQUIRE_DEVICE_ENV
                );
            }
            crate::TH_LOG!("{e}");
            crate::__EXPECT!(-1i32, name, 0i32, "0", >=, true);
            None
        }
    }
}

/// `close(fd)` of a device, returning close's result like C (so teardown can check it).
pub fn close_device(dev: Device) -> i32 {
    let fd = OwnedFd::from(dev).into_raw_fd();
    // SAFETY: `into_raw_fd` just gave up the device's ownership of `fd` to us, and the
    // number is dropped here.
    unsafe { crate::sys::close(fd) }
}

impl Fixture for Hmm {
    const NAME: &'static str = "hmm";
    type Variant = HmmVariant;

    fn variants() -> &'static [Variant<HmmVariant>] {
        &HMM_VARIANTS
    }

    fn tests() -> &'static [TestF<Self>] {
        crate::tests::HMM_TESTS
    }

    /// `FIXTURE_SETUP(hmm)`.
    fn setup(variant: &HmmVariant) -> Option<Self> {
        let (page_size, page_shift) = page_geometry();
        let fd = open_first(variant.device_number, "self->fd")?;
        Some(Hmm {
            fd,
            page_size,
            page_shift,
        })
    }

    /// `FIXTURE_TEARDOWN(hmm)`.
    fn teardown(self, _variant: &HmmVariant) {
        let ret = close_device(self.fd);
        ASSERT_EQ!(ret, 0);
    }
}

impl Fixture for Hmm2 {
    const NAME: &'static str = "hmm2";
    type Variant = Hmm2Variant;

    fn variants() -> &'static [Variant<Hmm2Variant>] {
        &HMM2_VARIANTS
    }

    fn tests() -> &'static [TestF<Self>] {
        crate::tests::HMM2_TESTS
    }

    /// `FIXTURE_SETUP(hmm2)`.
    fn setup(variant: &Hmm2Variant) -> Option<Self> {
        let (page_size, page_shift) = page_geometry();
        let fd0 = open_first(variant.device_number0, "self->fd0")?;
        let fd1 = match hmm_open(variant.device_number1) {
            Ok(dev) => dev,
            Err(e) => {
                crate::TH_LOG!("{e}");
                crate::__EXPECT!(-1i32, "self->fd1", 0i32, "0", >=, true);
                return None;
            }
        };
        debug_assert!(fd0.as_raw_fd() >= 0 && fd1.as_raw_fd() >= 0);
        Some(Hmm2 {
            fd0,
            fd1,
            page_size,
            page_shift,
        })
    }

    /// `FIXTURE_TEARDOWN(hmm2)`.
    fn teardown(self, _variant: &Hmm2Variant) {
        let ret = close_device(self.fd0);
        ASSERT_EQ!(ret, 0);
        let ret = close_device(self.fd1);
        ASSERT_EQ!(ret, 0);
    }
}
