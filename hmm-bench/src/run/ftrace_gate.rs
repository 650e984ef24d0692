//! The call-graph gate: with ftrace's `function_graph` tracer selected in the guest (a
//! kernel with CONFIG_FUNCTION_GRAPH_TRACER: the lab's trace profile), `hmm-bench run
//! --ftrace-kind KIND` traces its own process (`set_ftrace_pid`) during each timed
//! operation of KIND and nothing else: tracing is switched on right before the operation,
//! off right after, and the call graph is read and folded into per-function totals: calls,
//! time with children (inclusive) and time in the function itself (self). Call counts do
//! not depend on the clock, so they show extra work that TCG's timing noise hides; self
//! times say what dominates. The tracer slows every call; its times rank functions, they
//! are not the benchmark's numbers. Untraced code (the Rust module: rustc gets no
//! `-mfentry`) counts as self time of the nearest traced caller.

use super::timer::Gate;
use crate::ftrace_table::{format, Table};
use crate::row::Kind;
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The gate: tracefs, the output file and the totals so far.
pub struct FtraceGate {
    kind: Kind,
    dir: PathBuf,
    out: PathBuf,
    /// `tracing_on`, kept open so that switching costs one write.
    on: File,
    ops: u64,
    acc: Table,
}

fn write_file(p: &Path, v: &str) -> Result<()> {
    std::fs::write(p, v).with_context(|| format!("write {v:?} to {}", p.display()))
}

impl FtraceGate {
    /// Trace this process's timed operations of `kind`: `dir` is tracefs (the
    /// function_graph tracer selected, tracing off), `out` the file [`Gate::finish`] writes.
    pub fn new(kind: Kind, dir: &Path, out: &Path) -> Result<Self> {
        let tracer = std::fs::read_to_string(dir.join("current_tracer"))
            .with_context(|| format!("read {}/current_tracer", dir.display()))?;
        if tracer.trim() != "function_graph" {
            bail!(
                "{}/current_tracer is {:?}, not function_graph",
                dir.display(),
                tracer.trim()
            );
        }
        write_file(&dir.join("set_ftrace_pid"), &std::process::id().to_string())?;
        let on = OpenOptions::new()
            .write(true)
            .open(dir.join("tracing_on"))
            .with_context(|| format!("open {}/tracing_on", dir.display()))?;
        Ok(FtraceGate {
            kind,
            dir: dir.to_path_buf(),
            out: out.to_path_buf(),
            on,
            ops: 0,
            acc: Table::new(),
        })
    }
}

impl Gate for FtraceGate {
    fn kind(&self) -> Kind {
        self.kind
    }
    /// Empty the buffer, switch tracing on.
    fn open(&mut self) -> Result<()> {
        write_file(&self.dir.join("trace"), "")?;
        self.on.write_all(b"1").context("tracing_on")
    }
    /// Switch tracing off, fold the trace in.
    fn close(&mut self) -> Result<()> {
        self.on.write_all(b"0").context("tracing_off")?;
        let text = std::fs::read_to_string(self.dir.join("trace")).context("read the trace")?;
        let (kept, written) = fold(&text, &mut self.acc);
        if kept != written {
            bail!(
                "the trace buffer overflowed (kept {kept} of {written} entries): raise \
                 buffer_size_kb or trace a smaller size"
            );
        }
        self.ops += 1;
        Ok(())
    }
    /// Write the totals.
    fn finish(&mut self) -> Result<()> {
        std::fs::write(&self.out, format(self.ops, &self.acc))
            .with_context(|| format!("write {}", self.out.display()))
    }
}

/// `… 12.345 us …` in the duration column: the number before `us`.
fn duration(col: &str) -> Option<f64> {
    let w: Vec<&str> = col.split_whitespace().collect();
    let i = w.iter().position(|&t| t == "us")?;
    w.get(i.checked_sub(1)?)?.parse().ok()
}

/// `name() {`, `name();`, `} /* name */` → the name.
fn callee(text: &str) -> &str {
    text.split('(').next().unwrap_or(text).trim()
}

/// Fold a `function_graph` trace (the `trace` file) into `t`. Returns (entries in the
/// buffer, entries written): they differ when the ring buffer overflowed. Calls still open
/// at the end and returns without their call (tracing switched on or off inside a call)
/// are left out.
pub fn fold(trace: &str, t: &mut Table) -> (u64, u64) {
    let mut counts = (0, 0);
    // Open calls: (name, time of the callees seen so far).
    let mut stack: Vec<(String, f64)> = Vec::new();
    let add = |t: &mut Table, name: &str, incl: f64, children: f64| {
        let e = t.entry(name.to_string()).or_default();
        e.calls += 1;
        e.incl_us += incl;
        e.self_us += (incl - children).max(0.0);
    };
    for l in trace.lines() {
        if let Some(rest) = l.strip_prefix("# entries-in-buffer/entries-written:") {
            let mut it = rest.split_whitespace().next().unwrap_or("").split('/');
            let n = |x: Option<&str>| x.and_then(|v| v.parse().ok()).unwrap_or(0);
            counts = (n(it.next()), n(it.next()));
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let Some((col, text)) = l.split_once('|') else {
            continue;
        };
        let text = text.trim();
        let dur = duration(col);
        if text.starts_with('}') {
            let Some((name, children)) = stack.pop() else {
                continue;
            };
            let incl = dur.unwrap_or(children);
            add(t, &name, incl, children);
            if let Some(parent) = stack.last_mut() {
                parent.1 += incl;
            }
        } else if text.ends_with('{') {
            stack.push((callee(text).to_string(), 0.0));
        } else if text.contains(");") {
            let incl = dur.unwrap_or(0.0);
            add(t, callee(text), incl, 0.0);
            if let Some(parent) = stack.last_mut() {
                parent.1 += incl;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftrace_table::Stat;

    const TRACE: &str = "# tracer: function_graph
#
# entries-in-buffer/entries-written: 9/9   #P:2
#
# CPU  DURATION                  FUNCTION CALLS
# |     |   |                     |   |   |   |
 1)   1.000 us    |  } /* ksys_write */
 1)               |  __x64_sys_ioctl() {
 1)   2.000 us    |    fdget();
 1)               |    migrate_vma_setup() {
 1)   3.500 us    |      copy_page();
 1)   3.500 us    |      copy_page();
 1) + 10.000 us   |    } /* migrate_vma_setup */
 1) ! 100.000 us  |  } /* __x64_sys_ioctl */
 1)               |  ksys_write() {
";

    #[test]
    fn folds_a_call_graph() {
        let mut t = Table::new();
        assert_eq!(fold(TRACE, &mut t), (9, 9));
        assert_eq!(
            t.len(),
            4,
            "the unmatched return and the open call are left out: {t:?}"
        );
        assert_eq!(
            t["copy_page"],
            Stat {
                calls: 2,
                incl_us: 7.0,
                self_us: 7.0
            }
        );
        assert_eq!(
            t["migrate_vma_setup"],
            Stat {
                calls: 1,
                incl_us: 10.0,
                self_us: 3.0
            }
        );
        assert_eq!(
            t["__x64_sys_ioctl"],
            Stat {
                calls: 1,
                incl_us: 100.0,
                self_us: 88.0
            }
        );
    }

    #[test]
    fn reports_overflow_counts() {
        let mut t = Table::new();
        assert_eq!(
            fold("# entries-in-buffer/entries-written: 5/70   #P:2\n", &mut t),
            (5, 70)
        );
    }
}
