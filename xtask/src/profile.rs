//! `lab bench --perf KIND`: the two drivers' perf profiles of the timed KIND operations,
//! side by side (`profile.txt`), Rust symbols demangled.
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// One `perf report --stdio` file: its sample count line and (percent, symbol) rows.
struct Report {
    samples: String,
    rows: Vec<(f64, String)>,
}

/// Parse `perf report --stdio` output: `    12.34%  [k] symbol` rows, `# Samples: …` header.
fn parse(text: &str) -> Report {
    let mut samples = "no samples".to_string();
    let mut rows = Vec::new();
    for l in text.lines() {
        if let Some(s) = l.strip_prefix("# Samples: ") {
            samples = format!("{s} samples");
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let t = l.trim_start();
        let Some((pct, rest)) = t.split_once('%') else {
            continue;
        };
        let Ok(pct) = pct.trim().parse::<f64>() else {
            continue;
        };
        rows.push((pct, demangle(rest.trim())));
    }
    Report { samples, rows }
}

/// `[k] _RNv…` → `[k] crate::path::fn` (legacy and v0 Rust manglings; others unchanged).
fn demangle(sym: &str) -> String {
    let (tag, name) = match sym.split_once(' ') {
        Some((t, n)) if t.starts_with('[') => (t, n.trim()),
        _ => ("", sym),
    };
    let name = match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    };
    format!("{tag} {name}").trim().to_string()
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// `title:` then the first `n` rows of the C and the Rust report side by side.
fn two_columns(
    out: &mut String,
    title: &str,
    c: &Report,
    r: &Report,
    n: usize,
) -> std::fmt::Result {
    writeln!(out, "\n{title}:")?;
    let cell = |v: &Report, i: usize| {
        v.rows
            .get(i)
            .map(|(p, s)| format!("{p:6.2}%  {}", cut(s, 48)))
            .unwrap_or_default()
    };
    for i in 0..c.rows.len().max(r.rows.len()).min(n) {
        writeln!(out, "{:<58}  {}", cell(c, i), cell(r, i))?;
    }
    Ok(())
}

/// The `kind` rows of a run's CSV as "device/memory pages size: median µs per call".
fn timings(csv: &str, kind: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let col = |n: &str| head.split(',').position(|h| h == n);
    let (Some(k), Some(m), Some(p), Some(sz), Some(med), Some(st)) = (
        col("kind"),
        col("memory"),
        col("pages"),
        col("size_bytes"),
        col("median_s"),
        col("status"),
    ) else {
        return Vec::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(k) == Some(&kind))
        .map(|f| {
            let med = f.get(med).and_then(|v| v.parse::<f64>().ok());
            format!(
                "{} {} {} B: {}",
                f.get(m).unwrap_or(&""),
                f.get(p).unwrap_or(&""),
                f.get(sz).unwrap_or(&""),
                med.map_or_else(
                    || f.get(st).unwrap_or(&"").to_string(),
                    |v| format!("{:.1} µs per call", v * 1e6)
                )
            )
        })
        .collect()
}

/// The side-by-side text of `kind` for the run in `dir` (reads `{c,rust}.KIND.perf.txt`,
/// `.perf-dso.txt` and `.csv`).
pub fn side_by_side(dir: &Path, kind: &str) -> Result<String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let (c, r) = (
        parse(&read(&format!("c.{kind}.perf.txt"))),
        parse(&read(&format!("rust.{kind}.perf.txt"))),
    );
    let (cd, rd) = (
        parse(&read(&format!("c.{kind}.perf-dso.txt"))),
        parse(&read(&format!("rust.{kind}.perf-dso.txt"))),
    );
    let mut out = String::new();
    writeln!(
        out,
        "== perf profile of the timed {kind} operations only (cpu-clock at 1 kHz, hmm-bench's \
         own threads, events enabled around each timed call)\n"
    )?;
    let (ct, rt) = (
        timings(&read(&format!("c.{kind}.csv")), kind),
        timings(&read(&format!("rust.{kind}.csv")), kind),
    );
    for i in 0..ct.len().max(rt.len()) {
        writeln!(
            out,
            "{:<58}  {}",
            ct.get(i).map_or("", |s| s),
            rt.get(i).map_or("", |s| s)
        )?;
    }
    let c_head = format!("C driver: {}", c.samples);
    writeln!(out, "{c_head:<58}  Rust module: {}", r.samples)?;
    two_columns(&mut out, "by object", &cd, &rd, 8)?;
    let (cm, rm) = (
        parse(&read(&format!("c.{kind}.perf-mod.txt"))),
        parse(&read(&format!("rust.{kind}.perf-mod.txt"))),
    );
    two_columns(
        &mut out,
        "the driver's own functions (top 12, % of the whole profile)",
        &cm,
        &rm,
        12,
    )?;
    two_columns(&mut out, "by symbol (top 30)", &c, &r, 30)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_stdio_and_demangles() {
        let t = "# Samples: 1K of event 'cpu-clock'\n#\n# Overhead  Symbol\n#\n    \
                 40.50%  [k] copy_page\n     2.00%  [k] _RNvNtCs1234_11test_hmm_rs5fault14migrate_to_ram\n\n";
        let r = parse(t);
        assert_eq!(r.samples, "1K of event 'cpu-clock' samples");
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0], (40.5, "[k] copy_page".to_string()));
        assert_eq!(r.rows[1].1, "[k] test_hmm_rs::fault::migrate_to_ram");
    }
}
