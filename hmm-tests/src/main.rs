//! `hmm-tests`: the kselftest binary (TAP 13 on stdout, exit 0/1/4). See `hmm-tests --help`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(hmm_tests::kselftest_main(&args));
}
