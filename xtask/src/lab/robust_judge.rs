//! What `lab robust` reads back from a run: the per-driver summaries `robust-guest.sh`
//! writes, the kernel reports of each driver's console section, and one driver's verdict.
use crate::logscan;
use std::collections::BTreeMap;
use std::path::Path;

/// `key=value` lines of a summary file.
pub fn summary(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// `field=value` of a `hmm-robust …:` summary line.
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("-")
}

/// Kernel reports per console section ("boot", "c", "rust"): (console line, headline).
pub fn reports_by_driver(console: &Path) -> BTreeMap<String, Vec<(usize, String)>> {
    let mut by: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for r in logscan::scan_file(console) {
        by.entry(r.section.clone())
            .or_default()
            .push((r.line, format!("{}: {}", r.kind, r.headline)));
    }
    by
}

/// One driver's verdict: (failures, table rows).
pub fn judge(s: &BTreeMap<String, String>, reports: usize) -> Vec<String> {
    let mut fails = Vec::new();
    let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
    if get("load") != "ok" {
        fails.push(format!(
            "load: {}",
            if get("load").is_empty() {
                "not attempted"
            } else {
                get("load")
            }
        ));
        return fails;
    }
    if get("fuzz_rc") != "0" {
        fails.push(format!("fuzz exit code {}", get("fuzz_rc")));
    }
    if s.contains_key("repro_rc") && get("repro_rc") != "0" {
        fails.push(format!(
            "repro check-exclusive-huge exit code {}",
            get("repro_rc")
        ));
    }
    if get("stress_rc") != "0" {
        fails.push(format!("stress exit code {}", get("stress_rc")));
    }
    for (k, want) in [
        ("life_fd", "refused"),
        ("life_mmap", "refused"),
        ("life_pages_open", "refused"),
        ("life_pages_verify", "ok"),
        ("life_release", "ok"),
    ] {
        if get(k) != want {
            fails.push(format!(
                "{k}={}",
                if get(k).is_empty() { "missing" } else { get(k) }
            ));
        }
    }
    if !matches!(get("life_pages_closed"), "unloaded" | "refused") {
        fails.push(format!("life_pages_closed={}", get("life_pages_closed")));
    }
    let cyc = get("life_cycles");
    if cyc.split_once('/').is_none_or(|(a, b)| a != b) {
        fails.push(format!("load/unload cycles {cyc}"));
    }
    if get("unload") != "ok" {
        fails.push(format!("unload: {}", get("unload")));
    }
    if reports > 0 {
        fails.push(format!("{reports} kernel report(s)"));
    }
    fails
}
