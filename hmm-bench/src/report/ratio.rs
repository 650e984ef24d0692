//! The Rust/C table: per configuration, the median throughputs of both drivers and their
//! ratio (> 1: the Rust module is faster), with the reason when there is no ratio.

use crate::row::{Key, Kind, Row};
use crate::sizes;
use crate::stats::sig3;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Driver labels compared.
pub const C: &str = "c";
/// See [`C`].
pub const RUST: &str = "rust";

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioRow {
    /// Configuration.
    pub key: Key,
    /// C driver GiB/s ([`Row::gib_per_s`]: the median, or the minimum time in instruction time).
    pub c: Option<f64>,
    /// Rust module GiB/s (same).
    pub rust: Option<f64>,
    /// C as a fraction of memcpy.
    pub c_frac: Option<f64>,
    /// Rust as a fraction of memcpy.
    pub rust_frac: Option<f64>,
    /// The larger of the two drivers' [`Row::spread`]s.
    pub spread: Option<f64>,
    /// rust / c (None: n/a).
    pub ratio: Option<f64>,
    /// Why a side has no number ("" when both do).
    pub note: String,
}

fn side(label: &str, r: Option<&Row>) -> (Option<f64>, Option<f64>, Option<String>) {
    match r {
        None => (None, None, Some(format!("{label}: not run"))),
        Some(r) if r.status.is_ok() => (r.gib_per_s(), r.memcpy_frac, None),
        Some(r) => (None, None, Some(format!("{label} {}", r.status))),
    }
}

/// Build the table from rows of both drivers (either may be absent). One line per
/// configuration seen for any driver, in [`Key`] order; the first row of a driver wins.
pub fn build(rows: &[Row]) -> Vec<RatioRow> {
    let mut by_key: BTreeMap<Key, (Option<&Row>, Option<&Row>)> = BTreeMap::new();
    for r in rows {
        let e = by_key.entry(r.key()).or_default();
        match r.driver.as_str() {
            C if e.0.is_none() => e.0 = Some(r),
            RUST if e.1.is_none() => e.1 = Some(r),
            _ => {}
        }
    }
    by_key
        .into_iter()
        .map(|(key, (c, rust))| {
            let (cg, cf, cn) = side("C", c);
            let (rg, rf, rn) = side("Rust", rust);
            let ratio = match (cg, rg) {
                (Some(c), Some(r)) if c > 0.0 => Some(r / c),
                _ => None,
            };
            let note = match (cn, rn) {
                // The same reason on both sides (e.g. no faults on coherent memory): say it once.
                (Some(c), Some(r)) if c.strip_prefix("C ") == r.strip_prefix("Rust ") => {
                    format!("both {}", &c[2..])
                }
                (c, r) => [c, r].into_iter().flatten().collect::<Vec<_>>().join("; "),
            };
            RatioRow {
                key,
                c: cg,
                rust: rg,
                c_frac: cf,
                rust_frac: rf,
                spread: [c, rust]
                    .into_iter()
                    .flatten()
                    .filter(|r| r.status.is_ok())
                    .filter_map(Row::spread)
                    .reduce(f64::max),
                ratio,
                note,
            }
        })
        .collect()
}

fn or_na(v: Option<String>) -> String {
    v.unwrap_or_else(|| "n/a".into())
}

fn pct(v: Option<f64>) -> String {
    or_na(v.map(|f| format!("{}%", sig3(100.0 * f))))
}

/// The table as text.
pub fn render(t: &[RatioRow]) -> String {
    let head = [
        "memory",
        "request",
        "pages",
        "size",
        "C GiB/s",
        "Rust GiB/s",
        "Rust/C",
        "spread",
        "C %memcpy",
        "Rust %memcpy",
        "note",
    ];
    let mut cells: Vec<[String; 11]> = vec![head.map(String::from)];
    for r in t {
        let kind = if r.key.kind == Kind::Memcpy {
            "MEMCPY (reference)".to_string()
        } else {
            r.key.kind.to_string()
        };
        cells.push([
            r.key.memory.to_string(),
            kind,
            r.key.pages.to_string(),
            sizes::show(r.key.size),
            or_na(r.c.map(sig3)),
            or_na(r.rust.map(sig3)),
            or_na(r.ratio.map(|x| format!("{x:.2}"))),
            or_na(r.spread.map(|x| format!("{:.2}%", 100.0 * x))),
            pct(r.c_frac),
            pct(r.rust_frac),
            r.note.clone(),
        ]);
    }
    let mut w = [0usize; 11];
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.len());
        }
    }
    let mut out = String::new();
    for c in &cells {
        let mut line = String::new();
        for (i, s) in c.iter().enumerate() {
            // Text columns left, numbers right.
            if (4..10).contains(&i) {
                let _ = write!(line, "{s:>width$}  ", width = w[i]);
            } else {
                let _ = write!(line, "{s:<width$}  ", width = w[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Geometric mean of the ratios that exist, per request kind (a one-line summary per kind).
pub fn geomean_by_kind(t: &[RatioRow]) -> Vec<(Kind, f64, usize)> {
    let mut acc: BTreeMap<Kind, (f64, usize)> = BTreeMap::new();
    for r in t {
        if let Some(x) = r.ratio.filter(|x| *x > 0.0) {
            let e = acc.entry(r.key.kind).or_default();
            e.0 += x.ln();
            e.1 += 1;
        }
    }
    acc.into_iter()
        .map(|(k, (s, n))| (k, (s / n as f64).exp(), n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Memory, Pages, Status};
    use crate::stats::Spread;

    fn row(driver: &str, kind: Kind, secs: Option<f64>, status: Status) -> Row {
        Row {
            driver: driver.into(),
            abi: if driver == C { "mainline" } else { "patched" }.into(),
            accel: "tcg".into(),
            device: Some(0),
            memory: Memory::Private,
            kind,
            pages: Pages::Small,
            size: 1 << 30,
            npages: 1 << 18,
            reps: 1,
            status,
            time: secs.and_then(|s| Spread::of(&[s])),
            cpages: None,
            huge_frac: None,
            memcpy_frac: secs.map(|s| 0.5 / s),
        }
    }

    #[test]
    fn ratio_is_rust_over_c() {
        let t = build(&[
            row(C, Kind::Read, Some(2.0), Status::Ok),
            row(RUST, Kind::Read, Some(1.0), Status::Ok),
        ]);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].c, t[0].rust, t[0].ratio),
            (Some(0.5), Some(1.0), Some(2.0))
        );
        assert_eq!(t[0].note, "");
    }

    #[test]
    fn na_rows_have_no_ratio_and_say_why() {
        let t = build(&[
            row(
                C,
                Kind::MigrateOnFaultToDev,
                None,
                Status::Na("not in the mainline ABI".into()),
            ),
            row(RUST, Kind::MigrateOnFaultToDev, Some(1.0), Status::Ok),
            row(C, Kind::Write, Some(1.0), Status::Ok),
        ]);
        let mof = t
            .iter()
            .find(|r| r.key.kind == Kind::MigrateOnFaultToDev)
            .unwrap();
        assert_eq!(mof.ratio, None);
        assert_eq!(mof.rust, Some(1.0));
        assert_eq!(mof.note, "C n/a: not in the mainline ABI");
        let w = t.iter().find(|r| r.key.kind == Kind::Write).unwrap();
        let both = build(&[
            row(C, Kind::FaultBack, None, Status::Na("no faults".into())),
            row(RUST, Kind::FaultBack, None, Status::Na("no faults".into())),
        ]);
        assert_eq!(both[0].note, "both n/a: no faults");
        assert_eq!((w.ratio, w.note.as_str()), (None, "Rust: not run"));
        let text = render(&t);
        assert!(text.contains("n/a"), "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn rows_follow_key_order_and_first_row_wins() {
        let mut dup = row(C, Kind::Read, Some(4.0), Status::Ok);
        dup.device = Some(1);
        let t = build(&[
            row(C, Kind::MigrateToSys, Some(1.0), Status::Ok),
            row(C, Kind::Read, Some(2.0), Status::Ok),
            dup,
        ]);
        assert_eq!(
            t.iter().map(|r| r.key.kind).collect::<Vec<_>>(),
            [Kind::Read, Kind::MigrateToSys]
        );
        assert_eq!(t[0].c, Some(0.5));
    }

    #[test]
    fn geomean_per_kind() {
        let mut rows = vec![
            row(C, Kind::Read, Some(1.0), Status::Ok),
            row(RUST, Kind::Read, Some(0.5), Status::Ok),
        ];
        let mut c2 = row(C, Kind::Read, Some(1.0), Status::Ok);
        c2.size = 1 << 20;
        c2.npages = 256;
        let mut r2 = c2.clone();
        r2.driver = RUST.into();
        r2.time = Spread::of(&[2.0]);
        rows.push(c2);
        rows.push(r2);
        let g = geomean_by_kind(&build(&rows));
        assert_eq!(g.len(), 1);
        assert!((g[0].1 - 1.0).abs() < 1e-12, "{g:?}");
        assert_eq!(g[0].2, 2);
    }

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(1234.5), "1234");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(0.0), "0");
    }
}
