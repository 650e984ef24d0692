//! Kernel reports in a guest console log: any of these fails a run, even when the command
//! passed.
use std::path::Path;

/// Markers of a kernel report (WARN, BUG, Oops, KASAN, lockdep, …).
const MARKERS: &[&str] = &[
    "WARNING: CPU:",
    "------------[ cut here ]------------",
    "BUG:",
    "kernel BUG at",
    "Oops:",
    "general protection fault",
    "Kernel panic",
    "KASAN:",
    "UBSAN:",
    "possible circular locking dependency",
    "possible recursive locking detected",
    "inconsistent lock state",
    "WARNING: possible",
    "INFO: task",
    "list_add corruption",
    "list_del corruption",
    "refcount_t:",
    "rcu: INFO: rcu_sched detected stalls",
    "Bad page state",
    "Bad page map",
    "rust_panic",
    "panicked at",
];

/// The console lines that carry a kernel report (with their line numbers).
pub fn reports(console: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read(console).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| MARKERS.iter().any(|m| l.contains(m)))
        .map(|(i, l)| (i + 1, l.trim_end().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_oops_and_warn_not_normal_lines() {
        let dir = std::env::temp_dir().join(format!("logscan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.log");
        std::fs::write(
            &p,
            "[    1.0] test_hmm: loaded\n[    2.0] BUG: kernel NULL pointer dereference, address: 0\n\
             [    2.1] Oops: 0000 [#1] SMP\nok 1 hmm.x\n[ 3.0] WARNING: CPU: 1 PID: 5 at mm/x.c:1 f+0x1\n",
        )
        .unwrap();
        let r = reports(&p);
        assert_eq!(r.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![2, 3, 5]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
