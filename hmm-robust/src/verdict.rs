//! The stress's verdict: every way a stress run can fall short is a FAIL with its reason —
//! a content mismatch or contract violation, a block whose mapping could not be restored
//! (it ends the stress early), a panicked thread, a run shorter than 95% of `--seconds`, and
//! a request kind the stress issued that never once succeeded.
use crate::stats::Stats;
use std::collections::BTreeMap;
use std::time::Duration;

/// The share of `--seconds` the stress must run, in percent.
pub const MIN_RUN_PERCENT: u128 = 95;

/// What one stress process (the parent or the forked child) reports besides its counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    /// From the stress's start to the moment its last worker stopped issuing operations.
    pub ran: Duration,
    /// Why the stress stopped early: blocks whose mapping could not be restored.
    pub lost: Vec<String>,
    /// Threads that panicked, with the message (their counters are kept).
    pub panics: Vec<String>,
}

impl Run {
    /// Lines for the forked child's pipe, after [`Stats::encode`] (whose decoder skips them).
    pub fn encode(&self) -> String {
        let mut s = format!("R {}\n", self.ran.as_millis());
        for l in &self.lost {
            s.push_str(&format!("L {}\n", l.replace('\n', " ")));
        }
        for p in &self.panics {
            s.push_str(&format!("X {}\n", p.replace('\n', " ")));
        }
        s
    }

    /// Inverse of [`Run::encode`], from the whole pipe text. `None` when no `R` line came
    /// (the child died before reporting).
    pub fn decode(s: &str) -> Option<Run> {
        let mut run = Run::default();
        let mut seen = false;
        for l in s.lines() {
            if let Some(ms) = l.strip_prefix("R ") {
                run.ran = Duration::from_millis(ms.trim().parse().ok()?);
                seen = true;
            } else if let Some(r) = l.strip_prefix("L ") {
                run.lost.push(r.to_string());
            } else if let Some(r) = l.strip_prefix("X ") {
                run.panics.push(r.to_string());
            }
        }
        seen.then_some(run)
    }
}

/// The request a histogram label counts for: `READ(unmapped)` → `READ`,
/// `busy-close:MIGRATE_TO_DEV` → `MIGRATE_TO_DEV`.
pub fn request_kind(label: &str) -> &str {
    let k = label.rsplit_once(':').map_or(label, |(_, k)| k);
    k.split_once('(').map_or(k, |(k, _)| k)
}

/// Per request kind the stress issued: (times issued, times it succeeded).
pub fn per_kind(hist: &BTreeMap<String, BTreeMap<String, u64>>) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (label, m) in hist {
        let e = out.entry(request_kind(label).to_string()).or_default();
        e.0 += m.values().sum::<u64>();
        e.1 += m.get("ok").copied().unwrap_or(0);
    }
    out
}

/// Every reason the stress fails (empty: PASS). `runs`: the parent's and, when there is
/// one, the forked child's, with a label each.
pub fn failures(st: &Stats, seconds: u64, runs: &[(&str, Option<&Run>)]) -> Vec<String> {
    let mut f = Vec::new();
    if st.undeclared > 0 {
        f.push(format!(
            "{} requests failed with an undeclared errno",
            st.undeclared
        ));
    }
    if st.violations > 0 {
        f.push(format!("{} contract violations", st.violations));
    }
    if st.mismatches > 0 {
        f.push(format!("{} content mismatches", st.mismatches));
    }
    let want = Duration::from_secs(seconds);
    for (label, run) in runs {
        let Some(run) = run else {
            f.push(format!(
                "{label}: reported no run (it died before its report)"
            ));
            continue;
        };
        for l in &run.lost {
            f.push(format!("{label}: the stress stopped early: {l}"));
        }
        for p in &run.panics {
            f.push(format!("{label}: {p}"));
        }
        if run.ran.as_millis() * 100 < want.as_millis() * MIN_RUN_PERCENT {
            f.push(format!(
                "{label}: the stress ran {:.1} s of {seconds} s (less than {MIN_RUN_PERCENT}%)",
                run.ran.as_secs_f64()
            ));
        }
    }
    let never: Vec<String> = per_kind(&st.hist)
        .into_iter()
        .filter(|(_, (issued, ok))| *issued > 0 && *ok == 0)
        .map(|(k, (issued, _))| format!("{k} (issued {issued} times)"))
        .collect();
    if !never.is_empty() {
        f.push(format!(
            "request kinds that never succeeded: {}",
            never.join(", ")
        ));
    }
    f
}

/// The message of a panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(secs: u64) -> Run {
        Run {
            ran: Duration::from_millis(secs * 1000 + 300),
            ..Run::default()
        }
    }

    fn stats(records: &[(&str, Result<(), i32>)]) -> Stats {
        let mut st = Stats::default();
        for (k, r) in records {
            st.record(k, *r);
        }
        st
    }

    #[test]
    fn a_clean_full_run_passes() {
        let st = stats(&[
            ("READ", Ok(())),
            ("READ(unmapped)", Err(libc::EFAULT)),
            ("busy-close:MIGRATE_TO_DEV", Err(libc::ENOTTY)),
            ("MIGRATE_TO_DEV", Ok(())),
        ]);
        let (p, c) = (full(20), full(20));
        assert_eq!(
            failures(&st, 20, &[("parent", Some(&p)), ("child", Some(&c))]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_early_exit_is_a_failure_with_its_reason() {
        let mut st = stats(&[("READ", Ok(()))]);
        st.mismatch("page 3 differs".into());
        let parent = Run {
            ran: Duration::from_millis(4_200),
            lost: vec!["stress thread 1: re-map of block 5: ENOMEM".into()],
            panics: vec!["stress thread 2 panicked: index out of bounds".into()],
        };
        let f = failures(&st, 20, &[("parent", Some(&parent)), ("child", None)]);
        assert_eq!(
            f,
            vec![
                "1 content mismatches".to_string(),
                "parent: the stress stopped early: stress thread 1: re-map of block 5: ENOMEM"
                    .into(),
                "parent: stress thread 2 panicked: index out of bounds".into(),
                "parent: the stress ran 4.2 s of 20 s (less than 95%)".into(),
                "child: reported no run (it died before its report)".into(),
            ]
        );
    }

    #[test]
    fn ninety_five_percent_is_enough_and_less_is_not() {
        let st = stats(&[("READ", Ok(()))]);
        let at = |ms| Run {
            ran: Duration::from_millis(ms),
            ..Run::default()
        };
        assert!(failures(&st, 20, &[("parent", Some(&at(19_000)))]).is_empty());
        assert_eq!(failures(&st, 20, &[("parent", Some(&at(18_999)))]).len(), 1);
    }

    #[test]
    fn a_kind_that_never_succeeded_is_listed() {
        let st = stats(&[
            ("READ", Ok(())),
            ("READ(unmapped)", Err(libc::EFAULT)),
            ("CHECK_EXCLUSIVE", Err(libc::EPERM)),
            ("busy-close:MIGRATE_TO_DEV", Err(libc::ENOTTY)),
            ("MIGRATE_TO_DEV(moved)", Err(libc::EFAULT)),
            ("SNAPSHOT", Ok(())),
        ]);
        let p = full(20);
        assert_eq!(
            failures(&st, 20, &[("parent", Some(&p))]),
            vec!["request kinds that never succeeded: CHECK_EXCLUSIVE (issued 1 times), MIGRATE_TO_DEV (issued 2 times)".to_string()]
        );
    }

    #[test]
    fn run_roundtrips_through_the_pipe_text() {
        let r = Run {
            ran: Duration::from_millis(20_123),
            lost: vec!["a\nb".into()],
            panics: vec!["p".into()],
        };
        let mut st = Stats::default();
        st.record("READ", Ok(()));
        let text = format!("{}{}", st.encode(), r.encode());
        let back = Run::decode(&text).unwrap();
        assert_eq!(back.ran, r.ran);
        assert_eq!(back.lost, vec!["a b".to_string()]);
        assert_eq!(back.panics, r.panics);
        assert_eq!(Stats::decode(&text).requests, 1);
        assert_eq!(Run::decode(&st.encode()), None);
        assert_eq!(request_kind("busy-close:READ"), "READ");
        assert_eq!(request_kind("MIGRATE_TO_DEV(moved)"), "MIGRATE_TO_DEV");
    }
}
