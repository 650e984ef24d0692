//! `hmm-bench ftrace-report`: the two drivers' kernel call graphs per timed operation of a
//! kind ([`crate::run::ftrace_gate`] files), side by side.

use crate::ftrace_table::{parse_file, Stat, Table};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One driver's totals: timed operations and the table.
pub struct Counts {
    /// Timed operations the table covers.
    pub ops: u64,
    /// Function → totals over those operations.
    pub table: Table,
}

impl Counts {
    /// Read `LABEL.KIND.ftrace.txt` of `dir`.
    pub fn read(dir: &Path, label: &str, kind: &str) -> Result<Counts> {
        let p = dir.join(format!("{label}.{kind}.ftrace.txt"));
        let text = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        let (ops, table) = parse_file(&text).with_context(|| format!("parse {}", p.display()))?;
        Ok(Counts { ops, table })
    }

    /// `name`'s totals per operation (zero when it never ran).
    fn per_op(&self, name: &str) -> Stat {
        let s = self.table.get(name).copied().unwrap_or_default();
        let ops = self.ops.max(1) as f64;
        Stat {
            calls: s.calls,
            incl_us: s.incl_us / ops,
            self_us: s.self_us / ops,
        }
    }

    fn calls_per_op(&self, name: &str) -> f64 {
        self.per_op(name).calls as f64 / self.ops.max(1) as f64
    }

    /// Self time of all functions, per operation.
    fn total_us(&self) -> f64 {
        self.table.values().map(|s| s.self_us).sum::<f64>() / self.ops.max(1) as f64
    }
}

/// Functions of the C driver itself (the Rust module is not instrumented).
fn is_driver_fn(name: &str) -> bool {
    name.starts_with("dmirror_")
}

const HEAD: &str = "  function                            C calls  Rust calls   C self µs  Rust self µs   C incl µs  Rust incl µs\n";

fn line(out: &mut String, name: &str, c: &Counts, r: &Counts) -> std::fmt::Result {
    let (cs, rs) = (c.per_op(name), r.per_op(name));
    let mark = if is_driver_fn(name) { " (C)" } else { "" };
    writeln!(
        out,
        "  {:<34} {:>8.2} {:>11.2} {:>11.1} {:>13.1} {:>11.1} {:>13.1}",
        format!("{name}{mark}"),
        c.calls_per_op(name),
        r.calls_per_op(name),
        cs.self_us,
        rs.self_us,
        cs.incl_us,
        rs.incl_us
    )
}

/// The side-by-side text for `kind`: the functions with the most self time per operation,
/// then the largest differences in calls per operation.
pub fn side_by_side(kind: &str, c: &Counts, r: &Counts, top: usize) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "== ftrace function_graph: the kernel's work per timed {kind} operation (hmm-bench's own \
         process only; C driver: {} operations, {:.0} µs traced per operation; Rust module: {} \
         operations, {:.0} µs; the Rust module is not instrumented: its own code counts as self \
         time of its nearest traced caller; tracer overhead included)",
        c.ops,
        c.total_us(),
        r.ops,
        r.total_us()
    )?;
    let mut names: Vec<&String> = c.table.keys().chain(r.table.keys()).collect();
    names.sort();
    names.dedup();
    let by = |f: &dyn Fn(&str) -> f64| {
        let mut v: Vec<&String> = names.clone();
        v.sort_by(|a, b| f(b).total_cmp(&f(a)));
        v
    };
    write!(out, "\nmost self time per operation (top {top}):\n{HEAD}")?;
    for n in by(&|n| c.per_op(n).self_us.max(r.per_op(n).self_us))
        .into_iter()
        .take(top)
    {
        line(&mut out, n, c, r)?;
    }
    write!(
        out,
        "\nlargest differences in calls per operation (top {top}; the C driver's own functions left out):\n{HEAD}"
    )?;
    let diff = |n: &str| (c.calls_per_op(n) - r.calls_per_op(n)).abs();
    for n in by(&|n| diff(n))
        .into_iter()
        .filter(|n| !is_driver_fn(n) && diff(n) >= 0.5)
        .take(top)
    {
        line(&mut out, n, c, r)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(calls: u64, incl_us: f64, self_us: f64) -> Stat {
        Stat {
            calls,
            incl_us,
            self_us,
        }
    }

    #[test]
    fn per_op_and_differences() {
        let mut c = Table::new();
        c.insert("copy_page".into(), st(32, 64.0, 64.0));
        c.insert("dmirror_devmem_fault".into(), st(32, 640.0, 100.0));
        let mut r = Table::new();
        r.insert("copy_page".into(), st(32, 70.0, 70.0));
        r.insert("lru_add_drain_all".into(), st(2, 900.0, 900.0));
        let t = side_by_side(
            "FAULT_BACK",
            &Counts { ops: 2, table: c },
            &Counts { ops: 2, table: r },
            10,
        )
        .unwrap();
        assert!(t.contains("C driver: 2 operations, 82 µs"), "{t}");
        let (top, diffs) = t.split_once("largest differences").unwrap();
        assert!(
            top.find("lru_add_drain_all") < top.find("copy_page"),
            "ranked by self time: {t}"
        );
        assert!(diffs.contains("lru_add_drain_all"), "{t}");
        assert!(!diffs.contains("copy_page"), "same calls per op: {t}");
        assert!(!diffs.contains("dmirror_devmem_fault"), "{t}");
        assert!(t.contains("16.00"), "32 calls over 2 operations: {t}");
    }
}
