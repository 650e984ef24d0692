//! The rows where the Rust module is below 0.9× the C driver, each with both drivers'
//! round-to-round spread (`rounds::spreads`): a gap no larger than the spread either driver
//! showed between its own rounds in the same boot is not told apart from noise; a larger
//! one is a difference to explain with a profile (`lab bench --perf`).

use super::ratio::RatioRow;
use crate::row::Key;
use crate::sizes;
use std::collections::BTreeMap;

/// Rust/C below this is a slow row.
pub const THRESHOLD: f64 = 0.9;

/// Whether a slow row's gap is inside the drivers' own round-to-round spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// `1 / ratio` ≤ the larger spread.
    InsideSpread,
    /// Larger than both spreads.
    Outside,
    /// Fewer than two rounds: no spread to compare with.
    NoRounds,
}

/// A slow row: its ratio, C's and Rust's spreads, the verdict.
pub struct Slow {
    /// Configuration.
    pub key: Key,
    /// Rust/C.
    pub ratio: f64,
    /// C's slowest/fastest round (None: one round).
    pub c_spread: Option<f64>,
    /// Rust's.
    pub rust_spread: Option<f64>,
    /// See [`Verdict`].
    pub verdict: Verdict,
}

/// The rows of `table` below [`THRESHOLD`], in table order.
pub fn slow_rows(table: &[RatioRow], spreads: &BTreeMap<(String, Key), f64>) -> Vec<Slow> {
    table
        .iter()
        .filter(|r| r.key.kind != crate::row::Kind::Memcpy)
        .filter_map(|r| {
            let ratio = r.ratio.filter(|x| *x < THRESHOLD)?;
            let get = |d: &str| spreads.get(&(d.to_string(), r.key)).copied();
            let (c_spread, rust_spread) = (get(super::ratio::C), get(super::ratio::RUST));
            let verdict = match c_spread.into_iter().chain(rust_spread).reduce(f64::max) {
                None => Verdict::NoRounds,
                Some(s) if 1.0 / ratio <= s => Verdict::InsideSpread,
                Some(_) => Verdict::Outside,
            };
            Some(Slow {
                key: r.key,
                ratio,
                c_spread,
                rust_spread,
                verdict,
            })
        })
        .collect()
}

/// The report's section for `table`: its slow rows judged against `spreads`.
pub fn section(table: &[RatioRow], spreads: &BTreeMap<(String, Key), f64>) -> String {
    let measured = table
        .iter()
        .filter(|r| r.ratio.is_some() && r.key.kind != crate::row::Kind::Memcpy)
        .count();
    render(&slow_rows(table, spreads), measured)
}

/// The section for `slow` out of `measured` rows with a ratio.
fn render(slow: &[Slow], measured: usize) -> String {
    if slow.is_empty() {
        return format!("\nrows below {THRESHOLD}: none of {measured}\n");
    }
    let show = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.2}"));
    let outside = slow
        .iter()
        .filter(|s| s.verdict == Verdict::Outside)
        .count();
    let mut t = if slow.iter().all(|s| s.verdict == Verdict::NoRounds) {
        format!(
            "\nrows below {THRESHOLD}: {} of {measured} (one round: no round-to-round spread to \
             judge them against)\n",
            slow.len()
        )
    } else {
        format!(
            "\nrows below {THRESHOLD}: {} of {measured}; {outside} with a gap larger than both \
             drivers' own round-to-round spread (slowest/fastest round of the same row)\n",
            slow.len()
        )
    };
    t.push_str(
        "  memory    request                  pages  size  Rust/C  C spread  Rust spread  gap\n",
    );
    for s in slow {
        let verdict = match s.verdict {
            Verdict::InsideSpread => "inside the spread",
            Verdict::Outside => "OUTSIDE the spread",
            Verdict::NoRounds => "one round: no spread",
        };
        t.push_str(&format!(
            "  {:<9} {:<24} {:<6} {:>5}  {:>6.2}  {:>8}  {:>11}  {verdict}\n",
            s.key.memory.to_string(),
            s.key.kind.to_string(),
            s.key.pages.to_string(),
            sizes::show(s.key.size),
            s.ratio,
            show(s.c_spread),
            show(s.rust_spread),
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Kind, Memory, Pages};

    fn key(size: u64) -> Key {
        Key {
            memory: Memory::Private,
            kind: Kind::Read,
            pages: Pages::Small,
            size,
        }
    }

    fn rr(size: u64, ratio: Option<f64>) -> RatioRow {
        RatioRow {
            key: key(size),
            c: None,
            rust: None,
            c_frac: None,
            rust_frac: None,
            ratio,
            spread: None,
            note: String::new(),
        }
    }

    #[test]
    fn gap_is_judged_against_the_larger_spread() {
        let table = [
            rr(1, Some(0.5)),
            rr(2, Some(0.8)),
            rr(3, Some(0.95)),
            rr(4, None),
            rr(5, Some(0.7)),
        ];
        let mut sp = BTreeMap::new();
        sp.insert(("c".to_string(), key(1)), 1.5);
        sp.insert(("rust".to_string(), key(1)), 1.2);
        sp.insert(("c".to_string(), key(2)), 1.1);
        sp.insert(("rust".to_string(), key(2)), 1.3);
        let s = slow_rows(&table, &sp);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].verdict, Verdict::Outside); // 1/0.5 = 2 > 1.5
        assert_eq!(s[1].verdict, Verdict::InsideSpread); // 1/0.8 = 1.25 <= 1.3
        assert_eq!(s[2].verdict, Verdict::NoRounds);
        let text = render(&s, 5);
        assert!(
            text.contains("rows below 0.9: 3 of 5; 1 with a gap larger"),
            "{text}"
        );
        assert!(text.contains("OUTSIDE the spread"));
    }

    #[test]
    fn one_round_says_there_is_nothing_to_judge_against() {
        let s = slow_rows(&[rr(1, Some(0.84))], &BTreeMap::new());
        let text = render(&s, 1);
        // It said "0 with a gap larger than both drivers' own round-to-round spread".
        assert!(
            text.contains("rows below 0.9: 1 of 1 (one round: no round-to-round spread"),
            "{text}"
        );
        assert!(!text.contains("0 with a gap"), "{text}");
    }
}
