//! `cargo xtask lab test --suite lib`: hmm-dmirror's device tests (`cargo test -p
//! hmm-dmirror -- --ignored`) in the guest, judged by their exit code, the kernel's
//! reports and their `test result:` lines (every test ran and passed).
use super::boot::boot;
use super::env::Built;
use super::options::VmOpts;
use crate::{cache, known, suite};
use anyhow::Result;

/// Run the library's device tests in one boot; returns the exit code.
pub fn run(b: &Built, vm: &VmOpts, known_failures: bool, args: &[String]) -> Result<i32> {
    let abi = vm.abi()?;
    let exes = suite::build_lib_tests(&cache::root().join("suite.log"))?;
    let abi_name = abi.name();
    let extra: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let runs: Vec<String> = exes
        .iter()
        .map(|e| {
            format!(
                "{} --ignored --test-threads=1 {} || rc=1",
                e.display(),
                extra.join(" ")
            )
        })
        .collect();
    let cmd = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "export HMM_DMIRROR_ABI={abi_name}; rc=0; {}; exit $rc",
            runs.join("; ")
        ),
    ];
    let known = known::expected(vm.driver, abi, vm.thp(), known_failures)?;
    let boot = boot(b, vm, cmd, true, true)?;
    let rc = boot.judged(&known);
    let text = std::fs::read_to_string(&boot.output).unwrap_or_default();
    Ok(verdict(&Totals::of(&text), rc))
}

/// The `test result:` lines of the test binaries' output, added up.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    binaries: usize,
    passed: usize,
    failed: usize,
    ignored: usize,
}

impl Totals {
    fn of(text: &str) -> Self {
        let mut t = Totals::default();
        for l in text.lines() {
            let Some(rest) = l.strip_prefix("test result: ") else {
                continue;
            };
            t.binaries += 1;
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(what), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = n.parse::<usize>() else {
                    continue;
                };
                match what {
                    "passed" => t.passed += n,
                    "failed" => t.failed += n,
                    "ignored" => t.ignored += n,
                    _ => {}
                }
            }
        }
        t
    }
}

/// Prints the counts and the verdict; returns the exit code (`rc`: the boot's, judged by its
/// reports). A test reported ignored in the guest (asked for with `--ignored`) could not run
/// there: a skip, which fails the run like an unlisted skip of the suite; so does a run with
/// no test passed.
fn verdict(t: &Totals, rc: i32) -> i32 {
    println!(
        "lab: {} passed, {} failed, {} ignored in {} test binaries",
        t.passed, t.failed, t.ignored, t.binaries
    );
    let mut problems = Vec::new();
    if t.failed > 0 {
        problems.push(format!("{} failed", t.failed));
    }
    if t.ignored > 0 {
        problems.push(format!("{} ignored in the guest", t.ignored));
    }
    if t.passed == 0 {
        problems.push("no test passed".to_string());
    }
    if rc != 0 {
        problems.push(format!("exit code {rc}"));
    }
    if problems.is_empty() {
        println!("lab: PASS");
        return 0;
    }
    println!("lab: FAIL: {}", problems.join("; "));
    if rc != 0 {
        rc
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "running 6 tests\ntest flags ... ok\n\
        test result: ok. 6 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.28s\n\
        running 0 tests\n\
        test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out; finished in 0.01s\n\
        test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.92s\n";

    #[test]
    fn totals_add_up_every_binary() {
        let want = Totals {
            binaries: 3,
            passed: 7,
            failed: 2,
            ignored: 1,
        };
        assert_eq!(Totals::of(OUT), want);
    }

    #[test]
    fn failures_ignores_and_empty_runs_fail() {
        let ok = Totals {
            binaries: 1,
            passed: 3,
            ..Totals::default()
        };
        assert_eq!(verdict(&ok, 0), 0);
        assert_eq!(verdict(&ok, 125), 125);
        assert_eq!(verdict(&Totals { failed: 1, ..ok }, 0), 1);
        assert_eq!(verdict(&Totals { ignored: 1, ..ok }, 0), 1);
        assert_eq!(verdict(&Totals::default(), 0), 1);
    }
}
