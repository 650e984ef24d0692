//! Kernel reports in a guest console log.
//!
//! The scan knows the kernel's report formats (WARN, BUG, Oops, KASAN, UBSAN, KFENCE, lockdep,
//! RCU stalls, hung tasks, soft lockups, allocation failures, list and page-state corruption,
//! refcount, panics, the Rust kernel crate's panics) and cuts the console into reports: a
//! report starts at its first line (or at the `cut here` line before it) and takes the lines
//! after it up to its `end trace` marker, a KASAN/KFENCE `=====` rule, the next report's first
//! line or the lab's next line, at most [`MAX_LINES`]. Each report is charged to the console
//! section it is in: the guest scripts write where each driver's part starts.
//!
//! How a run is judged by them is `crate::verdict`'s business; this module only reads.
use std::path::Path;

/// At most this many console lines belong to one report.
pub const MAX_LINES: usize = 80;

/// How bad a report is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A plain `WARN()` (`WARNING: CPU: …`) or an allocation-failure splat: the only kind a
    /// known report of the C reference may excuse.
    Warning,
    /// Everything else: BUG, Oops, KASAN, lockdep, panics, stalls …; never excused.
    Fatal,
}

/// One kernel report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Console line number (1-based) of its first line.
    pub line: usize,
    /// What kind of report (the marker that matched, e.g. `"WARNING"`, `"KASAN"`).
    pub kind: &'static str,
    /// How bad.
    pub severity: Severity,
    /// The line that names it (`WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2`).
    pub headline: String,
    /// Its lines, timestamps stripped.
    pub text: Vec<String>,
    /// The console section it is in: `"boot"` before any driver, else the driver's label
    /// (`"c"`, `"rust"`, or a label of the robust/bench scripts).
    pub section: String,
}

/// The first line of a report: (marker, kind, severity). Order matters: the first match wins.
const STARTS: &[(&str, &str, Severity)] = &[
    // Plain WARN(): see `is_warn`. Every other "WARNING: " headline (lockdep: circular or
    // recursive locking, inconsistent lock state, suspicious RCU usage, bad unlock balance,
    // held lock freed …) is a lockdep-class report.
    ("WARNING: ", "lockdep", Severity::Fatal),
    ("kernel BUG at", "BUG", Severity::Fatal),
    ("BUG: KASAN:", "KASAN", Severity::Fatal),
    ("BUG: KFENCE:", "KFENCE", Severity::Fatal),
    ("BUG: soft lockup", "soft lockup", Severity::Fatal),
    ("BUG: Bad page state", "Bad page state", Severity::Fatal),
    (
        "BUG: Bad rss-counter state",
        "Bad rss-counter",
        Severity::Fatal,
    ),
    ("BUG: ", "BUG", Severity::Fatal),
    ("Oops:", "Oops", Severity::Fatal),
    (
        "general protection fault",
        "general protection fault",
        Severity::Fatal,
    ),
    ("UBSAN:", "UBSAN", Severity::Fatal),
    ("KASAN:", "KASAN", Severity::Fatal),
    ("KFENCE:", "KFENCE", Severity::Fatal),
    ("rust_kernel: panicked at", "Rust panic", Severity::Fatal),
    ("panicked at", "Rust panic", Severity::Fatal),
    ("Kernel panic", "panic", Severity::Fatal),
    ("blocked for more than", "hung task", Severity::Fatal),
    ("soft lockup", "soft lockup", Severity::Fatal),
    ("hard LOCKUP", "hard lockup", Severity::Fatal),
    ("list_add corruption", "list corruption", Severity::Fatal),
    ("list_del corruption", "list corruption", Severity::Fatal),
    ("Bad page state", "Bad page state", Severity::Fatal),
    ("Bad page map", "Bad page map", Severity::Fatal),
    ("Bad rss-counter", "Bad rss-counter", Severity::Fatal),
    ("refcount_t:", "refcount", Severity::Fatal),
    (
        "page allocation failure",
        "page allocation failure",
        Severity::Warning,
    ),
];

/// Lines after which a report is over (inclusive).
const ENDS: &[&str] = &["---[ end trace", "---[ end Kernel panic"];

/// A plain `WARN()` headline: `WARNING: mm/memremap.c:158 at memremap_pages+0x4c1/0x690,
/// CPU#0: comm/pid` (7.x), `WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x1/0x2` (older kernels) or,
/// without `DEBUG_BUGVERBOSE`, `WARNING: at f+0x1/0x2, …`.
fn is_warn(line: &str) -> bool {
    let Some(p) = line.find("WARNING: ") else {
        return false;
    };
    let rest = &line[p + 9..];
    if rest.starts_with("CPU:") || rest.starts_with("at ") {
        return true;
    }
    let Some((loc, after)) = rest.split_once(' ') else {
        return false;
    };
    let file_line = loc.rsplit_once(':').is_some_and(|(f, n)| {
        !f.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    });
    file_line && after.starts_with("at ")
}

/// A line that starts a report, as (kind, severity).
fn start(line: &str) -> Option<(&'static str, Severity)> {
    if is_warn(line) {
        return Some(("WARNING", Severity::Warning));
    }
    if is_rcu_stall(line) {
        return Some(("RCU stall", Severity::Fatal));
    }
    STARTS
        .iter()
        .find(|(m, _, _)| line.contains(m))
        .map(|&(_, k, s)| (k, s))
}

/// `rcu: INFO: rcu_sched detected stalls on CPUs/tasks:`, `… self-detected stall on CPU`.
fn is_rcu_stall(line: &str) -> bool {
    line.contains("rcu: INFO:") && line.contains("stall")
}

/// Lines that continue an open report although they would start one: the later parts of a
/// single crash (`BUG: unable to handle …` is followed by `Oops:` and maybe `Kernel panic`;
/// a Rust panic by the `kernel BUG at` or `Oops` of the trap it ends in).
fn continues(kind: &str, line: &str) -> bool {
    let tail = [
        "Oops:",
        "Kernel panic",
        "general protection fault",
        "kernel BUG at",
        "KASAN:",
        "UBSAN:",
    ];
    matches!(
        kind,
        "BUG" | "Rust panic" | "KASAN" | "KFENCE" | "Oops" | "general protection fault" | "UBSAN"
    ) && tail.iter().any(|t| line.contains(t))
}

/// Strip the printk timestamp (`[   12.345678] `) and a caller id (`[ T123] `).
fn strip(line: &str) -> &str {
    let mut l = line.trim_end();
    for _ in 0..2 {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix('[') {
            if let Some((inside, after)) = rest.split_once(']') {
                let inside = inside.trim();
                let stamp = !inside.is_empty()
                    && inside
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == 'T' || c == 'C');
                if stamp {
                    l = after.strip_prefix(' ').unwrap_or(after);
                    continue;
                }
            }
        }
        break;
    }
    l
}

/// The section a lab-script line opens, if it opens one: `[lab] insmod …/test_hmm.ko` (c),
/// `… test_hmm_rs.ko` (rust); `[robust] === LABEL: begin`, `[bench] === LABEL: insmod`.
fn section(line: &str) -> Option<String> {
    if let Some(p) = line.find("[lab] insmod ") {
        let ko = line[p + 13..].split_whitespace().next().unwrap_or("");
        let name = ko.rsplit('/').next().unwrap_or(ko).trim_end_matches(".ko");
        return Some(match name {
            "test_hmm" => "c".to_string(),
            "test_hmm_rs" => "rust".to_string(),
            other => other.to_string(),
        });
    }
    for tag in ["[robust] === ", "[bench] === "] {
        if let Some(p) = line.find(tag) {
            if let Some((label, _)) = line[p + tag.len()..].split_once(':') {
                return Some(label.trim().to_string());
            }
        }
    }
    None
}

/// Whether a line comes from the lab's own scripts (ends an open report).
fn lab_line(line: &str) -> bool {
    ["[lab] ", "[robust] ", "[bench] "]
        .iter()
        .any(|t| line.contains(t))
}

/// Lines after a report's first line within which another headline still belongs to it: the
/// `cut here` line comes before the message of a `WARN(cond, fmt)` and then its
/// `WARNING: CPU:` line; `list_add corruption …` comes before the `cut here` and the
/// `kernel BUG at` of the `BUG()` it ends in.
const HEAD_WINDOW: usize = 4;

/// A report being read.
struct Open {
    report: Report,
    /// Lines still in the head window.
    window: usize,
}

const UNKNOWN: &str = "unknown (cut here)";

/// Every report in a console text.
pub fn scan(text: &str) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    let mut open: Option<Open> = None;
    let mut sect = "boot".to_string();
    let close = |open: &mut Option<Open>, out: &mut Vec<Report>| {
        if let Some(o) = open.take() {
            out.push(o.report);
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let l = strip(raw);
        // Sections are opened by the scripts' lines to /dev/kmsg (timestamped); the same
        // lines also reach the console unstamped, out of order, from the command's output.
        let stamped = l.len() != raw.trim_end().len();
        if let Some(s) = section(l).filter(|_| stamped) {
            close(&mut open, &mut out);
            sect = s;
            continue;
        }
        if lab_line(l) {
            close(&mut open, &mut out);
            continue;
        }
        let cut = l.contains("------------[ cut here ]------------");
        let head = if cut {
            Some((UNKNOWN, Severity::Fatal))
        } else {
            start(l)
        };
        if let Some(o) = open.as_mut() {
            let r = &mut o.report;
            let in_head = o.window > 0;
            let merge = match head {
                None => true,
                Some(_) if in_head => true,
                Some(_) => !cut && continues(r.kind, l),
            };
            if merge && r.text.len() < MAX_LINES {
                r.text.push(l.to_string());
                if let (true, Some((k, s))) = (in_head, head) {
                    // The most severe headline names the report; a `cut here` names nothing.
                    if k != UNKNOWN && (r.kind == UNKNOWN || s > r.severity) {
                        r.kind = k;
                        r.severity = s;
                        r.headline = l.to_string();
                    }
                    if cut {
                        o.window = HEAD_WINDOW;
                    }
                }
                o.window = o.window.saturating_sub(1);
                let rule = l.starts_with("=====") && r.text.len() > 1;
                if ENDS.iter().any(|e| l.contains(e))
                    || (rule && matches!(r.kind, "KASAN" | "KFENCE" | "UBSAN"))
                {
                    close(&mut open, &mut out);
                }
                continue;
            }
            close(&mut open, &mut out);
        }
        if let Some((kind, severity)) = head {
            let report = Report {
                line: n,
                kind,
                severity,
                headline: l.to_string(),
                text: vec![l.to_string()],
                section: sect.clone(),
            };
            open = Some(Open {
                report,
                window: HEAD_WINDOW,
            });
        }
    }
    close(&mut open, &mut out);
    out
}

/// Every report in a console log file (none when it cannot be read).
pub fn scan_file(console: &Path) -> Vec<Report> {
    let text = std::fs::read(console).unwrap_or_default();
    scan(&String::from_utf8_lossy(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/consoles")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn kinds(r: &[Report]) -> Vec<(&'static str, Severity, String)> {
        r.iter()
            .map(|r| (r.kind, r.severity, r.section.clone()))
            .collect()
    }

    #[test]
    fn quiet_console_has_no_report() {
        let r = scan(&data("quiet.log"));
        assert!(r.is_empty(), "{r:#?}");
    }

    #[test]
    fn warn_with_trace_is_one_warning_in_the_drivers_section() {
        let r = scan(&data("c-memremap-warn.log"));
        assert_eq!(r.len(), 2, "{r:#?}");
        assert!(r
            .iter()
            .all(|r| r.kind == "WARNING" && r.severity == Severity::Warning && r.section == "c"));
        assert!(r[0]
            .headline
            .contains("WARNING: mm/memremap.c:158 at memremap_pages+0x4c1/0x690, CPU#0"));
        assert!(r[0]
            .text
            .iter()
            .any(|l| l.contains("dmirror_allocate_chunk")));
        assert!(r[0].text.last().unwrap().contains("end trace"));
    }

    #[test]
    fn null_deref_oops_is_one_fatal_report() {
        let r = scan(&data("c-oops.log"));
        assert_eq!(
            kinds(&r),
            vec![("BUG", Severity::Fatal, "c".to_string())],
            "{r:#?}"
        );
        assert!(r[0].text.iter().any(|l| l.starts_with("Oops:")));
        assert!(r[0]
            .text
            .iter()
            .any(|l| l.contains("dmirror_migrate_to_device")));
    }

    #[test]
    fn rust_panic_and_its_trap_are_one_report_of_ours() {
        let r = scan(&data("rust-panic.log"));
        assert_eq!(
            kinds(&r),
            vec![("Rust panic", Severity::Fatal, "rust".to_string())],
            "{r:#?}"
        );
    }

    #[test]
    fn every_kind_of_report_is_found() {
        let r = scan(&data("kinds.log"));
        let got: Vec<&str> = r.iter().map(|r| r.kind).collect();
        assert_eq!(
            got,
            vec![
                "lockdep",
                "lockdep",
                "RCU stall",
                "hung task",
                "page allocation failure",
                "KASAN",
                "UBSAN",
                "KFENCE",
                "list corruption",
                "Bad page state",
                "Bad rss-counter",
                "soft lockup",
                "refcount",
                "unknown (cut here)",
                "general protection fault",
                "panic",
            ],
            "{r:#?}"
        );
        assert_eq!(
            r.iter().filter(|r| r.severity == Severity::Warning).count(),
            1
        );
        assert_eq!(r[0].section, "boot");
        assert_eq!(r[1].section, "rust");
    }

    #[test]
    fn warn_headlines_of_both_formats_but_not_lockdeps() {
        assert!(is_warn(
            "WARNING: mm/memremap.c:158 at memremap_pages+0x4c1/0x690, CPU#0: hmm-tests/164"
        ));
        assert!(is_warn("WARNING: CPU: 1 PID: 5 at mm/x.c:1 f+0x1/0x2"));
        assert!(is_warn("WARNING: at f+0x1/0x2, CPU#0: x/1"));
        assert!(!is_warn(
            "WARNING: possible circular locking dependency detected"
        ));
        assert!(!is_warn("WARNING: suspicious RCU usage"));
        assert!(!is_warn("WARNING: bad unlock balance detected!"));
    }

    #[test]
    fn timestamps_and_caller_ids_are_stripped() {
        assert_eq!(strip("[   12.345678] [    T1] Oops: x"), "Oops: x");
        assert_eq!(strip("[   12.345678] ok"), "ok");
        assert_eq!(strip("[lab] insmod x"), "[lab] insmod x");
    }
}
