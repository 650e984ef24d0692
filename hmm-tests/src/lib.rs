//! Rust port of the kernel's `tools/testing/selftests/mm/hmm-tests.c` (Linux 7.3.4: 39
//! tests) plus the migrate-on-fault series' `migrate_on_fault`, for the HMM test device
//! (`/dev/hmm_dmirrorN`, `lib/test_hmm.c` or the hmm-rs module).
//!
//! The 40 tests on both fixture variants, named and ordered exactly as the C harness prints
//! them (`hmm.hmm_device_private.open_close` … `hmm2.hmm2_device_coherent.double_map`), plus
//! the hmm-rs regression tests (the table in [`tests`] names them) after each variant's `hmm`
//! tests; `hmm-tests --list` prints them all. Each case
//! runs in its own child process with a timeout (30 s, 120 s for `benchmark_thp_migration`).
//!
//! Two front ends share the cases:
//! * `hmm-tests` (src/main.rs): kselftest mode, TAP 13 exactly as kselftest_harness.h prints
//!   it, C-compatible options (see `hmm-tests --help`);
//! * `cargo test -p hmm-tests` (tests/hmm.rs): libtest-mimic; skipped cases show as
//!   `ignored (SKIP: <reason>)`.
//!
//! Layout: [`harness`] (the kselftest_harness.h equivalent), [`fixture`] (the `hmm`/`hmm2`
//! fixtures), [`tests`] (one file per area; the table in its docs maps tests and ioctls to
//! files), [`buffer`] (`struct hmm_buffer`), [`dmirror`] (requests through `hmm-dmirror`),
//! [`sys`] (vm_util/hugetlb/gup_test/userfaultfd stand-ins), [`cli`] (the binary's options).

pub mod buffer;
pub mod cli;
pub mod common;
pub mod config;
pub mod dmirror;
pub mod driver;
pub mod fixture;
pub mod harness;
pub mod sys;
pub mod tests;

use harness::Case;

/// Every case, in the order the C harness runs them: fixture `hmm` (variant
/// `hmm_device_private`, then `hmm_device_coherent`), then fixture `hmm2`.
pub fn all_cases() -> Vec<Case> {
    let mut cases = harness::cases_of::<fixture::Hmm>();
    cases.extend(harness::cases_of::<fixture::Hmm2>());
    cases
}

/// Run-wide preparation the C binary does in constructors: `HUGETLB_SETUP_DEFAULT_PAGES(1)`.
/// Done only when the device exists (so a host without it is left untouched). Returns
/// whether something must be restored afterwards with [`global_teardown`].
pub fn global_setup() -> bool {
    if !hmm_dmirror::Device::path_of(fixture::HMM_PRIVATE_DEVICE_ONE).exists() {
        return false;
    }
    sys::hugetlb::hugetlb_setup_default(1);
    true
}

/// Undoes [`global_setup`] (the C atexit handler).
pub fn global_teardown() {
    sys::hugetlb::hugetlb_restore_settings();
}

/// The kselftest binary: parses `args` (including argv\[0\]), runs, returns the exit code.
pub fn kselftest_main(args: &[String]) -> i32 {
    let opts = match cli::parse(args) {
        Ok(cli::Parsed::Run(opts)) => opts,
        Ok(cli::Parsed::Exit(code)) => return code,
        Err(cli::CliError::Usage(msg)) => {
            eprintln!("{msg}");
            eprint!(
                "{}",
                cli::usage(args.first().map_or("hmm-tests", String::as_str))
            );
            return harness::KSFT_FAIL;
        }
        Err(cli::CliError::Config(msg)) => {
            // ksft_exit_fail_msg(): the run cannot start.
            println!("Bail out! {msg}");
            return harness::KSFT_FAIL;
        }
    };
    config::set(opts.config);
    let cases = all_cases();
    let restore = global_setup();
    let code = harness::tap::run(&cases, &opts.filter);
    if restore {
        global_teardown();
    }
    code
}

/// The `cargo test` front end (tests/hmm.rs).
pub fn libtest_main(args: libtest_mimic::Arguments) -> libtest_mimic::Conclusion {
    match config::Config::from_env() {
        Ok(c) => config::set(c),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(harness::KSFT_FAIL);
        }
    }
    let restore = !args.list && global_setup();
    let conclusion = harness::libtest::run(args, all_cases());
    if restore {
        global_teardown();
    }
    conclusion
}
