//! Run-wide settings: which ABI the devices speak and whether a missing device is a failure.
//!
//! * ABI: `--abi patched|mainline` (kselftest binary) or `HMM_DMIRROR_ABI=patched|mainline`
//!   (both front ends): each device is opened with that numbering, and a driver that speaks
//!   the other one is an error (hmm-dmirror checks). Neither given: each device finds out
//!   which numbering its driver speaks (`Device::open`). The stock 7.3 `test_hmm` module
//!   speaks `mainline`.
//! * Missing device: by default a case whose `/dev/hmm_dmirrorN` node does not exist is
//!   skipped with a reason (so the suite can run on a machine without the module); with
//!   `--require-device` or `HMM_TESTS_REQUIRE_DEVICE=1` it fails, as the C `ASSERT_GE(fd, 0)`
//!   does. A coherent device (2, 3) that cannot be opened is always a skip, as in C.

use std::sync::OnceLock;

use hmm_dmirror::Abi;

/// Environment variable that makes a missing private device a failure.
pub const REQUIRE_DEVICE_ENV: &str = "HMM_TESTS_REQUIRE_DEVICE";

/// The settings of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Request numbering every device is opened with; `None`: the driver's own, found out
    /// when the device is opened.
    pub abi: Option<Abi>,
    /// Fail (instead of skip) when `/dev/hmm_dmirror0`/`1` is absent.
    pub require_device: bool,
}

impl Config {
    /// From the environment: `HMM_DMIRROR_ABI` and `HMM_TESTS_REQUIRE_DEVICE`.
    pub fn from_env() -> Result<Config, String> {
        let abi = Abi::from_env_var().map_err(|e| e.to_string())?;
        Ok(Config {
            abi,
            require_device: env_flag(REQUIRE_DEVICE_ENV),
        })
    }
}

/// `1`, `true`, `yes` (any case) are true.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Sets the run's settings (once, before any case runs).
pub fn set(config: Config) {
    let _ = CONFIG.set(config);
}

/// The run's settings (from the environment if never set).
pub fn get() -> Config {
    *CONFIG.get_or_init(|| Config::from_env().unwrap_or_default())
}
