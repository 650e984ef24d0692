//! Which driver provides the devices, for the regression cases that crash the stock C one.
//!
//! `write_during_migrate` oopses the stock 7.3 C driver (`lib/test_hmm.c`: a WRITE copies into
//! a page the racing migration freed, `BUG: unable to handle page fault` in `dmirror_write`)
//! and leaves the case's process unkillable. Against that driver such cases skip with the
//! reason, unless [`RUN_CRASHING_ENV`]`=1` asks for them.
//!
//! The driver is told by `/sys/module`: the C driver's module directory `test_hmm` (present
//! when it is loaded, and when it is built in, since it has parameters) without
//! `test_hmm_rs` (this project's module). Both cannot provide the devices at once: the second
//! to load fails to register the `hmm_dmirrorN` names.

use std::path::Path;

/// Set to `1` to run the cases that crash the stock C driver against it anyway.
pub const RUN_CRASHING_ENV: &str = "HMM_TESTS_RUN_CRASHING";

/// The driver behind `/dev/hmm_dmirrorN`, as far as `/sys/module` tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// `lib/test_hmm.c` (module `test_hmm`).
    StockC,
    /// This project's Rust module (`test_hmm_rs`).
    Rust,
    /// Neither module is known to the kernel (no devices, or another driver).
    Unknown,
}

/// The driver according to the `/sys/module` directory `sys_module`.
pub fn driver_in(sys_module: &Path) -> Driver {
    if sys_module.join("test_hmm_rs").is_dir() {
        Driver::Rust
    } else if sys_module.join("test_hmm").is_dir() {
        Driver::StockC
    } else {
        Driver::Unknown
    }
}

/// The running kernel's driver.
pub fn driver() -> Driver {
    driver_in(Path::new("/sys/module"))
}

/// Why a case known to crash the stock C driver must not run now (`None`: run it): the
/// driver is the stock C one and [`RUN_CRASHING_ENV`] is not set. `what` says how it crashes.
pub fn crashing_skip(driver: Driver, run_crashing: bool, what: &str) -> Option<String> {
    (driver == Driver::StockC && !run_crashing).then(|| {
        format!("crashes the stock C driver (test_hmm): {what}; set {RUN_CRASHING_ENV}=1 to run it")
    })
}

/// [`crashing_skip`] for the running kernel's driver and the environment's
/// [`RUN_CRASHING_ENV`]: what a case that crashes the stock C driver calls first.
pub fn skip_if_it_crashes_c(what: &str) -> Option<String> {
    crashing_skip(driver(), crate::config::env_flag(RUN_CRASHING_ENV), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_is_told_by_its_module_directory() {
        let d = std::env::temp_dir().join(format!("hmm-tests-driver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(driver_in(&d), Driver::Unknown);
        std::fs::create_dir(d.join("test_hmm")).unwrap();
        assert_eq!(driver_in(&d), Driver::StockC);
        std::fs::create_dir(d.join("test_hmm_rs")).unwrap();
        assert_eq!(driver_in(&d), Driver::Rust);
        std::fs::remove_dir(d.join("test_hmm")).unwrap();
        assert_eq!(driver_in(&d), Driver::Rust);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_the_stock_driver_skips_and_only_unless_asked() {
        let s = crashing_skip(Driver::StockC, false, "oops in dmirror_write").unwrap();
        assert_eq!(
            s,
            "crashes the stock C driver (test_hmm): oops in dmirror_write; set HMM_TESTS_RUN_CRASHING=1 to run it"
        );
        assert_eq!(crashing_skip(Driver::StockC, true, "x"), None);
        assert_eq!(crashing_skip(Driver::Rust, false, "x"), None);
        assert_eq!(crashing_skip(Driver::Unknown, false, "x"), None);
    }
}
