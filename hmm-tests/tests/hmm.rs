//! `cargo test -p hmm-tests`: every hmm-tests case as libtest-mimic trials, each in its own
//! child process. Without `/dev/hmm_dmirror0` every case is reported
//! `ignored (SKIP: <reason>)`. Settings come from the environment: `HMM_DMIRROR_ABI`,
//! `HMM_TESTS_REQUIRE_DEVICE` (see the crate docs); filters as for any libtest binary.

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    hmm_tests::libtest_main(args).exit();
}
