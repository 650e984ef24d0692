//! The per-function totals of `hmm-bench run --ftrace-kind` (see [`crate::run::ftrace_gate`])
//! and the file they are kept in: written in the guest, read on the host by
//! [`crate::report::ftrace`].

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip() {
        let mut t = Table::new();
        t.insert(
            "copy_page".into(),
            Stat {
                calls: 2,
                incl_us: 7.0,
                self_us: 7.0,
            },
        );
        let (ops, back) = parse_file(&format(2, &t)).unwrap();
        assert_eq!(ops, 2);
        assert_eq!(back, t);
    }
}
