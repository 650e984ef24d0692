//! The lab's verdict on a run: one rule, printed line by line, and the exit code that says it.
//!
//! A run fails when
//! - the console has a kernel report that no known-report line excuses (only WARN-level
//!   reports in the C reference's part of the console can be excused, see `crate::known`);
//! - a case failed that is not a listed known failure (those count only with
//!   `--known-failures`);
//! - a case skipped that is not a listed skip;
//! - fewer cases reported than the suite planned, or the suite printed no result at all;
//! - the suite's exit code says something the results do not (a crash, a timeout, a driver
//!   that would not load or unload: codes other than 0, 1 and 4).
//!
//! Known failures excuse failed cases, never reports.
use crate::known::{Known, KnownCase};
use crate::logscan::Report;
use crate::tap::Outcome;
use std::path::Path;

/// Print the kernel reports of a console, each excused one by its known-report line with its
/// count; returns how many are not excused.
pub fn reports(reports: &[Report], known: &Known, console: &Path) -> usize {
    let mut excused = vec![0usize; known.reports.len()];
    let mut bad = Vec::new();
    for r in reports {
        match known.reports.iter().position(|k| k.matches(r)) {
            Some(i) => excused[i] += 1,
            None => bad.push(r),
        }
    }
    for (k, n) in known.reports.iter().zip(&excused) {
        if *n > 0 {
            println!(
                "lab: KNOWN REPORT x{n} (C reference, WARN at {} in {}): {}",
                k.location, k.function, k.reason
            );
        }
    }
    if !bad.is_empty() {
        println!(
            "lab: {} kernel report(s) in {}:",
            bad.len(),
            console.display()
        );
        for r in bad.iter().take(10) {
            println!(
                "lab: KERNEL REPORT ({}, {:?}, {} part of the console) at console line {}:",
                r.kind, r.severity, r.section, r.line
            );
            for l in r.text.iter().take(8) {
                println!("    {l}");
            }
        }
        if bad.len() > 10 {
            println!("lab: … and {} more (see the console log)", bad.len() - 10);
        }
    }
    bad.len()
}

/// What a suite run produced.
pub struct SuiteRun<'a> {
    /// (case, outcome) in TAP order.
    pub results: &'a [(String, Outcome)],
    /// The cases the suite plans for the chosen filters, when the lab knows them in advance.
    pub planned: Option<&'a [String]>,
    /// The TAP plan line's count (`1..N`), if printed.
    pub tap_plan: Option<usize>,
    /// The suite's exit code (or the lab's: 124 timeout, 125 no exit code, 3 driver load/unload).
    pub rc: i32,
    /// The suite's TAP output (the inner TAP under the kernel's runner): a failed case's
    /// messages are printed again next to the verdict, where a log's tail shows them.
    pub output: &'a str,
}

/// At most this many of a failed case's own lines are printed with the verdict.
const CASE_LINES: usize = 12;

fn listed<'a>(list: &'a [KnownCase], case: &str) -> Option<&'a KnownCase> {
    list.iter().find(|k| k.case == case)
}

/// Judge a suite run; prints every line of the verdict and returns the exit code (0 pass).
/// `unexcused_reports` is what [`reports`] returned for the boot.
pub fn suite(run: &SuiteRun, known: &Known, unexcused_reports: usize) -> i32 {
    let mut problems: Vec<String> = Vec::new();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (name, o) in run.results {
        match o {
            Outcome::Pass => pass += 1,
            Outcome::Fail => {
                fail += 1;
                match listed(&known.failures, name) {
                    Some(k) => println!("lab: KNOWN FAILURE {name}: {}", k.reason),
                    None => {
                        println!("lab: FAILED {name}");
                        let lines = crate::tap::case_lines(run.output, name);
                        for l in lines.iter().take(CASE_LINES) {
                            println!("lab:   | {l}");
                        }
                        if lines.len() > CASE_LINES {
                            println!(
                                "lab:   | … {} more line(s) in the output",
                                lines.len() - CASE_LINES
                            );
                        }
                        problems.push(format!("{name} failed"));
                    }
                }
            }
            Outcome::Skip(why) => {
                skip += 1;
                match listed(&known.skips, name) {
                    Some(k) => println!("lab: EXPECTED SKIP {name}: {}", k.reason),
                    None => {
                        println!("lab: UNEXPECTED SKIP {name}: {why}");
                        problems.push(format!("{name} skipped ({why})"));
                    }
                }
            }
        }
    }
    for k in &known.not_run {
        println!(
            "lab: NOT RUN {} (skipped by name, listed not-run): {}",
            k.case, k.reason
        );
    }
    // A listed failure that ran and passed (one a filter left out says nothing).
    for k in &known.failures {
        if run
            .results
            .iter()
            .any(|(n, o)| *n == k.case && *o == Outcome::Pass)
        {
            if k.intermittent {
                println!(
                    "lab: INTERMITTENT known failure passed this time: {}",
                    k.case
                );
            } else {
                println!("lab: listed as known failure but did not fail: {} (update xtask/known-failures.txt)", k.case);
            }
        }
    }
    let ran = run.results.len();
    if let Some(planned) = run.planned {
        let missing: Vec<&String> = planned
            .iter()
            .filter(|p| !run.results.iter().any(|(n, _)| n == *p))
            .collect();
        if !missing.is_empty() {
            println!(
                "lab: {} planned case(s) never reported, first: {}",
                missing.len(),
                missing[0]
            );
            problems.push(format!(
                "{} of {} planned cases never reported",
                missing.len(),
                planned.len()
            ));
        }
    }
    match run.tap_plan {
        Some(n) if n != ran => {
            problems.push(format!("the TAP plan says {n} cases, {ran} reported"))
        }
        Some(_) => {}
        None => problems.push("the suite printed no TAP plan".into()),
    }
    if ran == 0 {
        problems.push("no TAP results in the suite's output".into());
    }
    if unexcused_reports > 0 {
        problems.push(format!("{unexcused_reports} kernel report(s)"));
    }
    match run.rc {
        0 | 1 => {}
        4 => problems.push("the suite skipped every case (exit 4)".into()),
        124 => problems.push("timeout: the guest was killed".into()),
        125 => problems.push("the guest gave no exit code (crash or early exit)".into()),
        c => problems.push(format!(
            "exit code {c} (driver load/unload failure or a crash)"
        )),
    }
    if run.rc == 0 && fail > 0 {
        problems.push("the suite exited 0 with failed cases".into());
    }
    println!(
        "lab: {pass} passed, {fail} failed, {skip} skipped, {} not run, {unexcused_reports} kernel report(s)",
        known.not_run.len()
    );
    if problems.is_empty() {
        if fail > 0 {
            println!("lab: every failure is listed, with its reason, in xtask/known-failures.txt");
        }
        println!("lab: PASS");
        return 0;
    }
    println!("lab: FAIL: {}", problems.join("; "));
    if matches!(run.rc, 0 | 1 | 4) {
        1
    } else {
        run.rc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known::KnownReport;

    fn res(v: &[(&str, Outcome)]) -> Vec<(String, Outcome)> {
        v.iter().map(|(n, o)| (n.to_string(), o.clone())).collect()
    }

    fn known_fail(case: &str) -> Known {
        Known {
            failures: vec![KnownCase {
                case: case.into(),
                reason: "ref bug".into(),
                intermittent: false,
            }],
            ..Known::default()
        }
    }

    fn run<'a>(r: &'a [(String, Outcome)], rc: i32) -> SuiteRun<'a> {
        SuiteRun {
            results: r,
            planned: None,
            tap_plan: Some(r.len()),
            rc,
            output: "",
        }
    }

    #[test]
    fn known_failures_excuse_only_listed_cases() {
        let r = res(&[("a", Outcome::Pass), ("b", Outcome::Fail)]);
        assert_eq!(suite(&run(&r, 1), &known_fail("b"), 0), 0);
        assert_eq!(suite(&run(&r, 1), &Known::default(), 0), 1);
        assert_eq!(suite(&run(&r, 125), &known_fail("b"), 0), 125);
    }

    #[test]
    fn known_failures_never_excuse_a_kernel_report() {
        let r = res(&[("a", Outcome::Pass), ("b", Outcome::Fail)]);
        assert_eq!(suite(&run(&r, 1), &known_fail("b"), 1), 1);
        let ok = res(&[("a", Outcome::Pass)]);
        assert_eq!(suite(&run(&ok, 0), &Known::default(), 3), 1);
    }

    #[test]
    fn an_unlisted_skip_fails_a_listed_one_does_not() {
        let r = res(&[
            ("a", Outcome::Pass),
            ("s", Outcome::Skip("no device".into())),
        ]);
        assert_eq!(suite(&run(&r, 0), &Known::default(), 0), 1);
        let k = Known {
            skips: vec![KnownCase {
                case: "s".into(),
                reason: "mainline".into(),
                intermittent: false,
            }],
            ..Known::default()
        };
        assert_eq!(suite(&run(&r, 0), &k, 0), 0);
    }

    #[test]
    fn fewer_cases_than_planned_fail() {
        let r = res(&[("a", Outcome::Pass)]);
        let planned = vec!["a".to_string(), "b".to_string()];
        let mut s = run(&r, 0);
        s.planned = Some(&planned);
        assert_eq!(suite(&s, &Known::default(), 0), 1);
        let mut s = run(&r, 0);
        s.tap_plan = Some(2);
        assert_eq!(suite(&s, &Known::default(), 0), 1);
        let mut s = run(&r, 0);
        s.tap_plan = None;
        assert_eq!(suite(&s, &Known::default(), 0), 1);
        assert_eq!(suite(&run(&[], 0), &Known::default(), 0), 1);
    }

    #[test]
    fn only_listed_c_warnings_are_excused() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/consoles/c-memremap-warn.log"),
        )
        .unwrap();
        let found = crate::logscan::scan(&text);
        let k = Known {
            reports: vec![KnownReport {
                location: "mm/memremap.c:158".into(),
                function: "dmirror_allocate_chunk".into(),
                reason: "why".into(),
            }],
            ..Known::default()
        };
        assert_eq!(reports(&found, &k, Path::new("console.log")), 0);
        assert_eq!(
            reports(&found, &Known::default(), Path::new("console.log")),
            found.len()
        );
        let oops = crate::logscan::scan(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/consoles/c-oops.log"),
            )
            .unwrap(),
        );
        assert_eq!(reports(&oops, &k, Path::new("console.log")), 1);
    }
}
