//! The lab's list of what it expects and excuses, in one place: `xtask/known-failures.txt`.
//!
//! A line is one of
//! ```text
//! DRIVER THP CASE [not-run] # reason           a failing case (not-run: not run at all)
//! DRIVER THP CASE intermittent # reason         a case that fails in some runs (a race of
//!                                               the driver's): excused like a failing case;
//!                                               when it passes, the verdict says so
//! DRIVER THP CASE skip # reason                 a case expected to SKIP
//! DRIVER THP warning FILE:LINE FUNCTION # reason
//!                                               a WARN of the C reference, by signature: the
//!                                               `WARNING: … at FILE:LINE` headline and FUNCTION
//!                                               in its trace
//! ```
//! DRIVER is `c` (always the mainline ABI) or `rust`, optionally `/patched` or `/mainline`;
//! THP is `madvise`, `always` or `*`. Every line needs a reason. Failures and known reports
//! count only with `--known-failures`; skips always (an unlisted SKIP fails the run). Only the
//! C driver may have known reports, and only WARN-level ones: nothing is ever excused for our
//! module, and an Oops, BUG, KASAN, lockdep report or panic is never excused for either.
use crate::cache;
use crate::lab::options::Driver;
use crate::logscan::{Report, Severity};
use anyhow::{bail, Context, Result};
use hmm_sys::Numbering as Abi;

/// A case line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownCase {
    /// Full case name.
    pub case: String,
    /// Why.
    pub reason: String,
    /// A known failure that fails in some runs only (`intermittent`): its passing is
    /// expected, not a sign the list is stale.
    pub intermittent: bool,
}

/// A known WARN of the C reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownReport {
    /// `FILE:LINE` of the headline (`WARNING: FILE:LINE at func…`; older kernels: `WARNING:
    /// CPU: … at FILE:LINE func`).
    pub location: String,
    /// A function of the C driver that must be in the report's trace.
    pub function: String,
    /// Why it happens.
    pub reason: String,
}

impl KnownReport {
    /// Whether this entry excuses `r`: a plain WARN, in the C driver's part of the console,
    /// with this headline location and this function in its trace.
    pub fn matches(&self, r: &Report) -> bool {
        r.severity == Severity::Warning
            && r.kind == "WARNING"
            && r.section == "c"
            && (r
                .headline
                .contains(&format!("WARNING: {} at ", self.location))
                || r.headline.contains(&format!(" at {} ", self.location)))
            && r.text.iter().any(|l| l.contains(&self.function))
    }
}

/// What the list says for one driver, ABI and THP mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// Cases expected to fail.
    pub failures: Vec<KnownCase>,
    /// Cases not run at all (they take the kernel down).
    pub not_run: Vec<KnownCase>,
    /// Cases expected to skip.
    pub skips: Vec<KnownCase>,
    /// Known WARNs of the C reference.
    pub reports: Vec<KnownReport>,
}

impl Known {
    /// The listed failures, not-run cases and reports dropped (skips stay: they are
    /// declarations, not excuses).
    pub fn skips_only(self) -> Known {
        Known {
            skips: self.skips,
            ..Known::default()
        }
    }
}

/// The list for `driver`, `abi`, `thp`, read from `xtask/known-failures.txt`.
pub fn load(driver: Driver, abi: Abi, thp: &str) -> Result<Known> {
    let path = cache::xtask_dir().join("known-failures.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    parse(&text, driver, abi, thp).with_context(|| format!("in {}", path.display()))
}

/// What the lab expects of a run of this driver, ABI and THP mode: its listed skips always,
/// its known failures and reports only `with_failures` (`--known-failures`).
pub fn expected(driver: Driver, abi: Abi, thp: &str, with_failures: bool) -> Result<Known> {
    let k = load(driver, abi, thp)?;
    Ok(if with_failures { k } else { k.skips_only() })
}

fn driver_matches(field: &str, driver: Driver, abi: Abi) -> bool {
    let (d, a) = field.split_once('/').unwrap_or((field, ""));
    let d_ok = matches!((d, driver), ("c", Driver::C) | ("rust", Driver::Rust));
    let a_ok = matches!(
        (a, abi),
        ("", _) | ("patched", Abi::Patched) | ("mainline", Abi::Mainline)
    );
    d_ok && a_ok
}

/// The lines of a list that apply to `driver`, `abi`, `thp`; an error names a malformed line.
pub fn parse(text: &str, driver: Driver, abi: Abi, thp: &str) -> Result<Known> {
    let mut k = Known::default();
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let (spec, reason) = l.split_once('#').unwrap_or((l, ""));
        let reason = reason.trim().to_string();
        let f: Vec<&str> = spec.split_whitespace().collect();
        if reason.is_empty() {
            bail!("line {}: no reason given: {l}", i + 1);
        }
        let shape_ok = match f.as_slice() {
            [_, _, _] => true,
            [_, _, _, "not-run" | "skip" | "intermittent"] => true,
            [d, _, "warning", _, _] => {
                if !d.starts_with("c") {
                    bail!(
                        "line {}: only the C reference may have known reports: {l}",
                        i + 1
                    );
                }
                true
            }
            _ => false,
        };
        if !shape_ok || !matches!(f[0].split('/').next(), Some("c" | "rust")) {
            bail!("line {}: not `DRIVER THP CASE [not-run|skip|intermittent] # reason` or `c THP warning FILE:LINE FUNCTION # reason`: {l}", i + 1);
        }
        if !driver_matches(f[0], driver, abi) || !(f[1] == thp || f[1] == "*") {
            continue;
        }
        let case = || KnownCase {
            case: f[2].to_string(),
            reason: reason.clone(),
            intermittent: f.get(3) == Some(&"intermittent"),
        };
        match f.as_slice() {
            [_, _, _] | [_, _, _, "intermittent"] => k.failures.push(case()),
            [_, _, _, "not-run"] => k.not_run.push(case()),
            [_, _, _, _] => k.skips.push(case()),
            [_, _, _, loc, func] => k.reports.push(KnownReport {
                location: loc.to_string(),
                function: func.to_string(),
                reason: reason.clone(),
            }),
            _ => unreachable!("shape checked above"),
        }
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logscan;

    const LIST: &str = "# comment\n\
        c madvise a.b.x # fails\n\
        c madvise a.b.i intermittent # fails in some runs\n\
        c * a.b.y not-run # oopses\n\
        c * a.b.s skip # mainline has no such request\n\
        rust/mainline * a.b.s skip # mainline has no such request\n\
        rust madvise a.b.z # ours\n\
        c always a.b.w # other mode\n\
        c * warning mm/memremap.c:158 dmirror_allocate_chunk # second chunk over one SPM range\n";

    #[test]
    fn lines_by_driver_abi_and_thp() {
        let k = parse(LIST, Driver::C, Abi::Mainline, "madvise").unwrap();
        assert_eq!(
            k.failures
                .iter()
                .map(|c| c.case.as_str())
                .collect::<Vec<_>>(),
            ["a.b.x", "a.b.i"]
        );
        assert!(!k.failures[0].intermittent && k.failures[1].intermittent);
        assert_eq!(k.not_run[0].case, "a.b.y");
        assert_eq!(k.skips[0].reason, "mainline has no such request");
        assert_eq!(k.reports[0].location, "mm/memremap.c:158");
        let r = parse(LIST, Driver::Rust, Abi::Patched, "madvise").unwrap();
        assert_eq!(
            (r.failures.len(), r.skips.len(), r.reports.len()),
            (1, 0, 0)
        );
        let m = parse(LIST, Driver::Rust, Abi::Mainline, "always").unwrap();
        assert_eq!((m.failures.len(), m.skips.len()), (0, 1));
    }

    #[test]
    fn the_repos_list_is_well_formed() {
        let text = std::fs::read_to_string(cache::xtask_dir().join("known-failures.txt")).unwrap();
        for d in [Driver::C, Driver::Rust] {
            for a in [Abi::Patched, Abi::Mainline] {
                for t in ["madvise", "always"] {
                    parse(&text, d, a, t).unwrap();
                }
            }
        }
        for t in ["madvise", "always"] {
            let ours = parse(&text, Driver::Rust, Abi::Patched, t).unwrap();
            assert!(
                ours.failures.is_empty() && ours.not_run.is_empty() && ours.reports.is_empty(),
                "nothing but expected skips is listed for our module on its own ABI: {ours:?}"
            );
        }
    }

    #[test]
    fn malformed_lines_and_reports_for_our_module_are_refused() {
        for bad in [
            "c madvise a.b.x\n",
            "rust * warning mm/x.c:1 f # never for ours\n",
            "c * a.b.x maybe # ?\n",
            "gpu * a.b.x # ?\n",
        ] {
            assert!(
                parse(bad, Driver::C, Abi::Mainline, "madvise").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_known_report_excuses_only_that_warn_of_the_c_driver() {
        let k = parse(LIST, Driver::C, Abi::Mainline, "madvise").unwrap();
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/consoles/c-memremap-warn.log"),
        )
        .unwrap();
        let reports = logscan::scan(&text);
        assert!(!reports.is_empty());
        assert!(reports.iter().all(|r| k.reports[0].matches(r)));
        // The same WARN in our module's part of the console, or as an Oops, is not excused.
        let mut ours = reports[0].clone();
        ours.section = "rust".into();
        assert!(!k.reports[0].matches(&ours));
        let mut oops = reports[0].clone();
        oops.severity = Severity::Fatal;
        assert!(!k.reports[0].matches(&oops));
    }
}
