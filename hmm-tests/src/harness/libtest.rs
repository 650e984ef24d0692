//! The `cargo test` front end: every case is a libtest-mimic trial, still run in its own
//! child process with its timeout. A case that skips is reported as `ignored (<reason>)`
//! (never as passed); a failure carries the case's log and the harness verdict.
//!
//! Cases always run one at a time on the main thread, whatever `--test-threads` says: the
//! device, huge pages and the benchmark must not be shared with a concurrent case (the C
//! harness is sequential too) and forking is only safe from a single-threaded process.

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use super::runner::{run_case, LogMode};
use super::{Case, KSFT_PASS, KSFT_SKIP};

/// Turns the cases into trials.
pub fn trials(cases: Vec<Case>) -> Vec<Trial> {
    cases
        .into_iter()
        .map(|case| {
            let name = case.full_name();
            Trial::ignorable_test(name, move || {
                let res = run_case(&case, LogMode::Capture);
                match res.exit_code {
                    KSFT_PASS => Ok(Completion::Completed),
                    KSFT_SKIP => Ok(Completion::ignored_with(if res.reason.is_empty() {
                        "SKIP: unknown".to_string()
                    } else {
                        format!("SKIP: {}", res.reason)
                    })),
                    code => {
                        let mut msg = String::new();
                        msg.push_str(res.log.trim_end());
                        if let Some(d) = &res.diagnostic {
                            if !msg.is_empty() {
                                msg.push('\n');
                            }
                            msg.push_str(&format!("# {}: {d}", case.test));
                        }
                        if msg.is_empty() {
                            msg = format!("case exited with code {code}");
                        }
                        Err(Failed::from(msg))
                    }
                }
            })
        })
        .collect()
}

/// Runs `cases` under libtest-mimic with `args` (forced to one test thread).
pub fn run(mut args: Arguments, cases: Vec<Case>) -> libtest_mimic::Conclusion {
    args.test_threads = Some(1);
    libtest_mimic::run(&args, trials(cases))
}
