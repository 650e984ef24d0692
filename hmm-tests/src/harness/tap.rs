//! The kselftest front end: TAP 13 on stdout exactly as kselftest_harness.h/kselftest.h print
//! it (`test_harness_run()`, `__run_test()`, `ksft_test_result_code()`, `ksft_print_cnts()`),
//! diagnostics on stderr like `TH_LOG_STREAM`.

use std::io::Write as _;

use super::filter::Filter;
use super::runner::{run_case, LogMode};
use super::{Case, CaseResult, KSFT_FAIL, KSFT_PASS, KSFT_SKIP, KSFT_XFAIL, KSFT_XPASS};

/// `struct ksft_count` plus the plan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Passed.
    pub pass: u32,
    /// Failed.
    pub fail: u32,
    /// Expected failures.
    pub xfail: u32,
    /// Unexpected passes.
    pub xpass: u32,
    /// Skipped.
    pub skip: u32,
    /// Errors.
    pub error: u32,
}

impl Counts {
    /// `ksft_test_num()`.
    pub fn test_num(&self) -> u32 {
        self.pass + self.fail + self.xfail + self.xpass + self.skip + self.error
    }
}

/// Prints one TAP result line (`ksft_test_result_code()`) and counts it.
pub fn result_line(counts: &mut Counts, exit_code: i32, name: &str, msg: Option<&str>) -> String {
    let mut tap_code = "ok";
    let mut directive = "";
    match exit_code {
        KSFT_PASS => counts.pass += 1,
        KSFT_XFAIL => {
            directive = " # XFAIL ";
            counts.xfail += 1;
        }
        KSFT_XPASS => {
            directive = " # XPASS ";
            counts.xpass += 1;
        }
        KSFT_SKIP => {
            directive = " # SKIP ";
            counts.skip += 1;
        }
        _ => {
            tap_code = "not ok";
            counts.fail += 1;
        }
    }
    // "Docs seem to call for double space if directive is absent"
    if directive.is_empty() && msg.is_some() {
        directive = " #  ";
    }
    format!(
        "{tap_code} {} {name}{directive}{}",
        counts.test_num(),
        msg.unwrap_or("")
    )
}

/// `ksft_print_cnts()`.
pub fn totals_lines(counts: &Counts, plan: u32) -> Vec<String> {
    let mut out = Vec::new();
    if counts.skip > 0 {
        out.push(format!(
            "# {} skipped test(s) detected. Consider enabling relevant config options to improve coverage.",
            counts.skip
        ));
    }
    if plan != counts.test_num() {
        out.push(format!(
            "# Planned tests != run tests ({plan} != {})",
            counts.test_num()
        ));
    }
    out.push(format!(
        "# Totals: pass:{} fail:{} xfail:{} xpass:{} skip:{} error:{}",
        counts.pass, counts.fail, counts.xfail, counts.xpass, counts.skip, counts.error
    ));
    out
}

/// The process exit code for a finished run.
///
/// kselftest convention: 1 if anything failed, 4 (`KSFT_SKIP`) if cases ran but every one of
/// them was skipped, 0 otherwise. (The C `test_harness_run()` exits 0 in the all-skipped case
/// too; this port reports it as a skip so that a kselftest runner shows the binary as SKIP
/// instead of PASS when no device is there.)
pub fn exit_code(counts: &Counts) -> i32 {
    if counts.fail > 0 || counts.error > 0 {
        KSFT_FAIL
    } else if counts.pass == 0 && counts.xfail == 0 && counts.xpass == 0 && counts.skip > 0 {
        KSFT_SKIP
    } else {
        KSFT_PASS
    }
}

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// `test_harness_run()`: runs the selected cases and returns the exit code.
pub fn run(cases: &[Case], filter: &Filter) -> i32 {
    let selected: Vec<&Case> = cases.iter().filter(|c| filter.enabled(c)).collect();
    let test_count = u32::try_from(selected.len()).unwrap_or(u32::MAX);
    let mut groups: Vec<(&str, &str)> = selected.iter().map(|c| (c.fixture, c.variant)).collect();
    groups.dedup();
    let case_count = groups.len();

    if std::env::var_os("KSFT_TAP_LEVEL").is_none() {
        out("TAP version 13");
    }
    out(&format!("1..{test_count}"));
    out(&format!(
        "# Starting {test_count} tests from {case_count} test cases."
    ));

    let mut counts = Counts::default();
    let mut pass_count = 0u32;
    let mut failed = false;
    for case in selected {
        let name = case.full_name();
        out(&format!("#  RUN           {name} ..."));
        let res: CaseResult = run_case(case, LogMode::Stderr);
        out(&format!(
            "#          {:>4}  {name}",
            if res.passed() { "OK" } else { "FAIL" }
        ));
        let diagnostic = if !res.reason.is_empty() {
            Some(res.reason.as_str())
        } else if res.exit_code == KSFT_PASS || res.exit_code == KSFT_FAIL {
            None
        } else {
            Some("unknown")
        };
        out(&result_line(&mut counts, res.exit_code, &name, diagnostic));
        if res.passed() {
            pass_count += 1;
        } else {
            failed = true;
        }
    }

    out(&format!(
        "# {}: {pass_count} / {test_count} tests passed.",
        if failed { "FAILED" } else { "PASSED" }
    ));
    for l in totals_lines(&counts, test_count) {
        out(&l);
    }
    exit_code(&counts)
}

/// `test_harness_list_tests()` (`-l`): the fixture/variant/test table, on stderr.
pub fn list_table(fixtures: &[(&str, Vec<&str>, Vec<&str>)]) -> String {
    let mut s = format!("{:<20} {:<25} {}\n", "# FIXTURE", "VARIANT", "TEST");
    // The C list always starts with the (empty) global fixture.
    s.push_str(&format!("{:<20} {:<25} {}\n", "global", "", ""));
    for (fixture, variants, tests) in fixtures {
        s.push_str(
            "--------------------------------------------------------------------------------\n",
        );
        let rows = variants.len().max(tests.len()).max(1);
        for i in 0..rows {
            s.push_str(&format!(
                "{:<20} {:<25} {}\n",
                if i == 0 { *fixture } else { "" },
                variants.get(i).copied().unwrap_or(""),
                tests.get(i).copied().unwrap_or("")
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_match_kselftest() {
        let mut c = Counts::default();
        assert_eq!(result_line(&mut c, KSFT_PASS, "a.b.c", None), "ok 1 a.b.c");
        assert_eq!(
            result_line(&mut c, KSFT_SKIP, "a.b.d", Some("why")),
            "ok 2 a.b.d # SKIP why"
        );
        assert_eq!(
            result_line(&mut c, KSFT_FAIL, "a.b.e", None),
            "not ok 3 a.b.e"
        );
        assert_eq!(
            result_line(&mut c, KSFT_FAIL, "a.b.f", Some("r")),
            "not ok 4 a.b.f #  r"
        );
        assert_eq!(
            c,
            Counts {
                pass: 1,
                fail: 2,
                skip: 1,
                ..Counts::default()
            }
        );
        assert_eq!(exit_code(&c), KSFT_FAIL);
        assert_eq!(
            totals_lines(&c, 4).last().unwrap(),
            "# Totals: pass:1 fail:2 xfail:0 xpass:0 skip:1 error:0"
        );
    }

    #[test]
    fn exit_codes() {
        let skip_only = Counts {
            skip: 3,
            ..Counts::default()
        };
        assert_eq!(exit_code(&skip_only), KSFT_SKIP);
        let mixed = Counts {
            skip: 3,
            pass: 1,
            ..Counts::default()
        };
        assert_eq!(exit_code(&mixed), KSFT_PASS);
        assert_eq!(exit_code(&Counts::default()), KSFT_PASS);
    }
}
