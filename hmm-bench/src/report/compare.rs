//! `hmm-bench compare A B`: two runs of the same configurations (two boots, or before and
//! after a change) row by row: how far each driver's figure and each Rust/C ratio moved
//! from A to B, and a summary over the rows of `min_size` and more (the reproducibility
//! goal: ratios that move less than 1% between boots).

use super::ratio::{self, RatioRow};
use crate::row::{Key, Row};
use crate::sizes;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One configuration in both runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Moved {
    /// Configuration.
    pub key: Key,
    /// Rust/C in A and in B.
    pub ratio: (Option<f64>, Option<f64>),
    /// Each driver's figure (seconds), B over A minus 1: (C, Rust).
    pub time: (Option<f64>, Option<f64>),
}

impl Moved {
    /// The ratio's movement, B over A minus 1.
    pub fn ratio_moved(&self) -> Option<f64> {
        match self.ratio {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a - 1.0),
            _ => None,
        }
    }
}

/// Each driver's figure per configuration.
fn figures(rows: &[Row]) -> BTreeMap<(String, Key), f64> {
    rows.iter()
        .filter(|r| r.status.is_ok())
        .filter_map(|r| Some(((r.driver.clone(), r.key()), r.secs()?)))
        .collect()
}

/// The configurations of A and B, in key order (those in either run).
pub fn moved(a: &[Row], b: &[Row]) -> Vec<Moved> {
    let (ta, tb) = (ratio::build(a), ratio::build(b));
    let (fa, fb) = (figures(a), figures(b));
    let rb: BTreeMap<Key, &RatioRow> = tb.iter().map(|r| (r.key, r)).collect();
    let mut keys: Vec<Key> = ta.iter().chain(&tb).map(|r| r.key).collect();
    keys.sort();
    keys.dedup();
    let ra: BTreeMap<Key, &RatioRow> = ta.iter().map(|r| (r.key, r)).collect();
    let time = |d: &str, k: Key| {
        let key = (d.to_string(), k);
        match (fa.get(&key), fb.get(&key)) {
            (Some(x), Some(y)) if *x > 0.0 => Some(y / x - 1.0),
            _ => None,
        }
    };
    keys.into_iter()
        .map(|k| Moved {
            key: k,
            ratio: (
                ra.get(&k).and_then(|r| r.ratio),
                rb.get(&k).and_then(|r| r.ratio),
            ),
            time: (time(ratio::C, k), time(ratio::RUST, k)),
        })
        .collect()
}

/// Median, largest and how many over `limit`, of the absolute values of `v`.
fn summary(v: &[f64], limit: f64) -> Option<(f64, f64, usize)> {
    let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    a.sort_by(f64::total_cmp);
    let max = *a.last()?;
    Some((
        crate::stats::quantile(&a, 0.5),
        max,
        a.iter().filter(|x| **x > limit).count(),
    ))
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:+.2}%", 100.0 * x))
        .unwrap_or_else(|| "n/a".into())
}

/// The comparison as text: one line per configuration (`*`: a movement over `limit`,
/// ratio or either driver's figure, on a row of `min_size` or more), then the summary.
pub fn render(m: &[Moved], min_size: u64, limit: f64) -> String {
    let mut out = format!(
        "{:<9} {:<24} {:<5} {:>5}  {:>8} {:>8} {:>9}  {:>9} {:>9}\n",
        "memory",
        "request",
        "pages",
        "size",
        "Rust/C A",
        "Rust/C B",
        "moved",
        "C time",
        "Rust time"
    );
    for r in m {
        let over = r.key.size >= min_size
            && [r.ratio_moved(), r.time.0, r.time.1]
                .into_iter()
                .flatten()
                .any(|x| x.abs() > limit);
        let _ = writeln!(
            out,
            "{:<9} {:<24} {:<5} {:>5}  {:>8} {:>8} {:>9}  {:>9} {:>9}{}",
            r.key.memory.to_string(),
            r.key.kind.to_string(),
            r.key.pages.to_string(),
            sizes::show(r.key.size),
            r.ratio.0.map(|x| format!("{x:.3}")).unwrap_or("n/a".into()),
            r.ratio.1.map(|x| format!("{x:.3}")).unwrap_or("n/a".into()),
            pct(r.ratio_moved()),
            pct(r.time.0),
            pct(r.time.1),
            if over { "  *" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "\n(B over A minus 1; time: each driver's figure, the minimum in instruction time, else \
         the median; * over {}%)",
        100.0 * limit
    );
    let big: Vec<&Moved> = m.iter().filter(|r| r.key.size >= min_size).collect();
    let small: Vec<&Moved> = m.iter().filter(|r| r.key.size < min_size).collect();
    for (what, rows) in [
        (format!("rows of {} and more", sizes::show(min_size)), big),
        (format!("rows under {}", sizes::show(min_size)), small),
    ] {
        let ratios: Vec<f64> = rows.iter().filter_map(|r| r.ratio_moved()).collect();
        let times: Vec<f64> = rows
            .iter()
            .flat_map(|r| [r.time.0, r.time.1])
            .flatten()
            .collect();
        for (name, v) in [("Rust/C ratio", &ratios), ("driver time", &times)] {
            match summary(v, limit) {
                Some((med, max, n)) => {
                    let _ = writeln!(
                        out,
                        "{what}, {name}: moved {:.2}% (median), {:.2}% (max); {n} of {} over {}%",
                        100.0 * med,
                        100.0 * max,
                        v.len(),
                        100.0 * limit
                    );
                }
                None => {
                    let _ = writeln!(out, "{what}, {name}: none in both runs");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Row;
    use crate::stats::Spread;

    fn row(driver: &str, size: u64, secs: f64) -> Row {
        Row {
            accel: "tcg-icount".into(),
            // The figure is the minimum (instruction time): the median must not count.
            ..Row::read_for_test(driver, size, Spread::of(&[secs, 9.0 * secs, 9.0 * secs]))
        }
    }

    #[test]
    fn movement_of_ratios_and_times_row_by_row() {
        let a = [
            row("c", 4096, 1.0),
            row("rust", 4096, 2.0),
            row("c", 1 << 20, 1.0),
            row("rust", 1 << 20, 1.0),
        ];
        let b = [
            row("c", 4096, 1.0),
            row("rust", 4096, 2.0),
            row("c", 1 << 20, 1.0),
            row("rust", 1 << 20, 1.02),
        ];
        let m = moved(&a, &b);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].ratio, (Some(0.5), Some(0.5)));
        assert_eq!(m[0].ratio_moved(), Some(0.0));
        let moved_1m = m[1].ratio_moved().unwrap();
        assert!((moved_1m - (1.0 / 1.02 - 1.0)).abs() < 1e-12, "{moved_1m}");
        assert_eq!(m[1].time.0, Some(0.0));
        assert!((m[1].time.1.unwrap() - 0.02).abs() < 1e-12);
        let text = render(&m, 64 << 10, 0.01);
        assert!(text.contains("-1.96%"), "{text}");
        assert!(
            text.contains("rows of 64K and more, Rust/C ratio: moved 1.96% (median), 1.96% (max); 1 of 1 over 1%"),
            "{text}"
        );
        assert!(
            text.contains(
                "rows under 64K, Rust/C ratio: moved 0.00% (median), 0.00% (max); 0 of 1 over 1%"
            ),
            "{text}"
        );
        assert_eq!(text.matches("  *").count(), 1, "{text}");
    }

    #[test]
    fn a_row_in_one_run_only_has_no_movement() {
        let m = moved(&[row("c", 4096, 1.0)], &[]);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].ratio_moved(), m[0].time), (None, (None, None)));
        assert!(
            render(&m, 64 << 10, 0.01).contains("rows under 64K, Rust/C ratio: none in both runs")
        );
    }
}
