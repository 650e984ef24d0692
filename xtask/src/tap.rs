//! Reading the suite's TAP (kselftest_harness.h format) and judging it, with the reference
//! driver's known failures listed in one place (`xtask/known-failures.txt`).
use crate::cache;
use crate::lab::Driver;
use anyhow::{Context, Result};

/// Outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// ok
    Pass,
    /// not ok
    Fail,
    /// ok … # SKIP reason
    Skip(String),
}

/// (case name, outcome) in TAP order.
pub fn parse(text: &str) -> Vec<(String, Outcome)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("ok ") {
            (true, r)
        } else {
            continue;
        };
        // "N name[ # SKIP reason]"
        let Some((_, rest)) = rest.split_once(' ') else { continue };
        let (name, directive) = match rest.split_once(" # ") {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (rest.trim(), None),
        };
        let outcome = match directive {
            Some(d) if d.to_ascii_uppercase().starts_with("SKIP") => {
                Outcome::Skip(d[4..].trim().to_string())
            }
            _ if ok => Outcome::Pass,
            _ => Outcome::Fail,
        };
        v.push((name.to_string(), outcome));
    }
    v
}

/// A failure of the reference driver we know about.
#[derive(Debug)]
pub struct Known {
    /// Case name.
    pub case: String,
    /// Why it fails.
    pub reason: String,
    /// Listed `not-run`: it takes the kernel down with it (an Oops in the driver leaves the
    /// case's process unkillable and the suite hung), so it is skipped by name, not run.
    pub not_run: bool,
}

/// Known failures for this driver and THP mode.
/// Format of a line: `DRIVER THP CASE [not-run] # reason` (`*` matches any THP mode).
pub fn known_failures(driver: Driver, thp: &str) -> Result<Vec<Known>> {
    let path = cache::xtask_dir().join("known-failures.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let d = match driver {
        Driver::C => "c",
        Driver::Rust => "rust",
        Driver::None => "none",
    };
    Ok(parse_known(&text, d, thp))
}

/// The lines of a known-failures file for driver `d` and THP mode `thp`.
fn parse_known(text: &str, d: &str, thp: &str) -> Vec<Known> {
    text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (spec, reason) = l.split_once('#').unwrap_or((l, ""));
            let f: Vec<&str> = spec.split_whitespace().collect();
            let not_run = f.len() == 4 && f[3] == "not-run";
            ((f.len() == 3 || not_run) && f[0] == d && (f[1] == thp || f[1] == "*")).then(|| Known {
                case: f[2].to_string(),
                reason: reason.trim().to_string(),
                not_run,
            })
        })
        .collect()
}

/// Print the summary and return the exit code: the suite's own code, except that failures
/// all listed as known turn a 1 into 0 (each is printed with its reason). A kernel report or
/// a crash (codes other than 0/1/4) is never excused.
pub fn verdict(results: &[(String, Outcome)], known: &[Known], rc: i32) -> i32 {
    let pass = results.iter().filter(|(_, o)| *o == Outcome::Pass).count();
    let fail: Vec<&String> =
        results.iter().filter(|(_, o)| *o == Outcome::Fail).map(|(n, _)| n).collect();
    let skip = results.iter().filter(|(_, o)| matches!(o, Outcome::Skip(_))).count();
    let mut unexpected = 0;
    for n in &fail {
        match known.iter().find(|k| &k.case == *n) {
            Some(k) => println!("lab: KNOWN FAILURE {n}: {}", k.reason),
            None => {
                println!("lab: FAILED {n}");
                unexpected += 1;
            }
        }
    }
    for k in known.iter().filter(|k| k.not_run) {
        println!("lab: NOT RUN {} (skipped by name, listed not-run): {}", k.case, k.reason);
    }
    for k in known.iter().filter(|k| !k.not_run) {
        if !fail.iter().any(|n| **n == k.case) {
            println!("lab: listed as known failure but did not fail: {} (update xtask/known-failures.txt)", k.case);
        }
    }
    let not_run = known.iter().filter(|k| k.not_run).count();
    println!("lab: {pass} passed, {} failed, {skip} skipped, {not_run} not run", fail.len());
    if results.is_empty() {
        println!("lab: no TAP results in the suite's output");
        return if rc == 0 { 1 } else { rc };
    }
    if rc == 1 && unexpected == 0 && !fail.is_empty() {
        println!("lab: every failure is listed, with its reason, in xtask/known-failures.txt: exit 0");
        return 0;
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_failures_by_driver_thp_and_not_run() {
        let t = "# comment\nc madvise a.b.x # fails\nc * a.b.y not-run # oopses\nrust madvise a.b.z # ours\nc always a.b.w # other mode\n";
        let k = parse_known(t, "c", "madvise");
        assert_eq!(k.len(), 2);
        assert_eq!((k[0].case.as_str(), k[0].not_run, k[0].reason.as_str()), ("a.b.x", false, "fails"));
        assert_eq!((k[1].case.as_str(), k[1].not_run), ("a.b.y", true));
    }

    #[test]
    fn parses_kselftest_lines() {
        let t = "TAP version 13\n1..3\n# Starting 3 tests from 2 test cases.\n\
                 ok 1 hmm.hmm_device_private.open_close\n\
                 not ok 2 hmm.hmm_device_coherent.migrate\n\
                 ok 3 hmm.hmm_device_coherent.open_close # SKIP DEVICE_COHERENT not available\n\
                 # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n";
        let r = parse(t);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], ("hmm.hmm_device_private.open_close".into(), Outcome::Pass));
        assert_eq!(r[1].1, Outcome::Fail);
        assert_eq!(r[2].1, Outcome::Skip("DEVICE_COHERENT not available".into()));
    }

    #[test]
    fn known_failures_excuse_only_listed_cases() {
        let r = vec![("a".to_string(), Outcome::Pass), ("b".to_string(), Outcome::Fail)];
        let k = vec![Known { case: "b".into(), reason: "ref bug".into(), not_run: false }];
        assert_eq!(verdict(&r, &k, 1), 0);
        assert_eq!(verdict(&r, &[], 1), 1);
        // A kernel report (rc stays 1 with nothing failing) or a crash is never excused.
        assert_eq!(verdict(&[("a".to_string(), Outcome::Pass)], &k, 1), 1);
        assert_eq!(verdict(&r, &k, 125), 125);
    }
}
