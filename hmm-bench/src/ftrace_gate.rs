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

use crate::row::Kind;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// One function's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stat {
    /// Calls.
    pub calls: u64,
    /// Time in the function and its callees, microseconds.
    pub incl_us: f64,
    /// Time in the function itself (and in untraced code it runs), microseconds.
    pub self_us: f64,
}

/// Function name → totals.
pub type Table = BTreeMap<String, Stat>;

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

/// The file `hmm-bench run` writes: `# ops N` then `name<TAB>calls<TAB>incl_us<TAB>self_us`.
pub fn format(ops: u64, t: &Table) -> String {
    let mut s = format!("# ops {ops}\n");
    for (name, st) in t {
        let _ = writeln!(
            s,
            "{name}\t{}\t{:.3}\t{:.3}",
            st.calls, st.incl_us, st.self_us
        );
    }
    s
}

/// Read what [`format()`] wrote: (operations, table).
pub fn parse_file(text: &str) -> Result<(u64, Table)> {
    let mut ops = None;
    let mut t = Table::new();
    for l in text.lines() {
        if let Some(n) = l.strip_prefix("# ops ") {
            ops = Some(n.trim().parse::<u64>().context("ftrace file: # ops")?);
            continue;
        }
        if let [name, calls, incl, slf] = l.split('\t').collect::<Vec<_>>()[..] {
            let st = Stat {
                calls: calls.parse().context("ftrace file: calls")?,
                incl_us: incl.parse().context("ftrace file: incl")?,
                self_us: slf.parse().context("ftrace file: self")?,
            };
            t.insert(name.to_string(), st);
        }
    }
    Ok((ops.context("ftrace file: no # ops line")?, t))
}

struct Gate {
    kind: Kind,
    dir: PathBuf,
    out: PathBuf,
    /// `tracing_on`, kept open so that switching costs one write.
    on: File,
    ops: u64,
    acc: Table,
}

static GATE: OnceLock<Mutex<Gate>> = OnceLock::new();

fn write_file(p: &Path, v: &str) -> Result<()> {
    std::fs::write(p, v).with_context(|| format!("write {v:?} to {}", p.display()))
}

/// Trace this process's timed operations of `kind` from now on: `dir` is tracefs (the
/// function_graph tracer selected, tracing off), `out` the file [`finish`] writes.
pub fn install(kind: Kind, dir: &Path, out: &Path) -> Result<()> {
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
    let g = Gate {
        kind,
        dir: dir.to_path_buf(),
        out: out.to_path_buf(),
        on,
        ops: 0,
        acc: Table::new(),
    };
    anyhow::ensure!(
        GATE.set(Mutex::new(g)).is_ok(),
        "ftrace gate installed twice"
    );
    Ok(())
}

fn gated(kind: Kind) -> Option<std::sync::MutexGuard<'static, Gate>> {
    let g = GATE.get()?.lock().unwrap_or_else(|e| e.into_inner());
    (g.kind == kind).then_some(g)
}

/// Before a timed operation of `kind`: empty the buffer, switch tracing on. A failing
/// tracefs access panics: a trace that silently stopped would be read as the wrong code's.
/// Returns whether tracing is on (`kind` is the traced kind).
pub(crate) fn before(kind: Kind) -> bool {
    let Some(mut g) = gated(kind) else {
        return false;
    };
    write_file(&g.dir.join("trace"), "").expect("ftrace gate: clear the trace");
    g.on.write_all(b"1").expect("ftrace gate: tracing_on");
    true
}

/// After a timed operation of `kind`: switch tracing off, fold the trace in.
pub(crate) fn after(kind: Kind) {
    if let Some(mut g) = gated(kind) {
        g.on.write_all(b"0").expect("ftrace gate: tracing_off");
        let text =
            std::fs::read_to_string(g.dir.join("trace")).expect("ftrace gate: read the trace");
        let mut acc = std::mem::take(&mut g.acc);
        let (kept, written) = fold(&text, &mut acc);
        assert_eq!(
            kept, written,
            "ftrace gate: the trace buffer overflowed (kept {kept} of {written} entries): \
             raise buffer_size_kb or trace a smaller size"
        );
        g.acc = acc;
        g.ops += 1;
    }
}

/// Write the totals (when a gate was installed).
pub fn finish() -> Result<()> {
    let Some(g) = GATE.get() else {
        return Ok(());
    };
    let g = g.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::write(&g.out, format(g.ops, &g.acc))
        .with_context(|| format!("write {}", g.out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (ops, back) = parse_file(&format(2, &t)).unwrap();
        assert_eq!(ops, 2);
        assert_eq!(back, t);
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
