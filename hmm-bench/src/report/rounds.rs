//! Several rounds of the same configurations (`lab bench --rounds N`: C, Rust, C, Rust, …
//! in one boot) folded into one row per configuration and driver: the round with the
//! lowest time (its median; in instruction time its minimum, see [`Row::secs`]). Interference on a shared TCG host only ever adds time, so the best
//! round is the least disturbed one; both drivers are treated alike.

use crate::row::{Key, Row};
use std::collections::BTreeMap;

/// Identity of a configuration: driver, device, memory, kind, pages, size.
fn key(r: &Row) -> String {
    format!(
        "{}|{:?}|{}|{}|{}|{}",
        r.driver, r.device, r.memory, r.kind, r.pages, r.size
    )
}

/// Keep, per configuration, the measured row with the lowest [`Row::secs`] (or, when no round
/// measured it, the first row, whose status says why). Order: first appearance. Returns the
/// rows and the largest number of rounds seen for a configuration.
pub fn best_of(rows: Vec<Row>) -> (Vec<Row>, usize) {
    let mut order: Vec<String> = Vec::new();
    let mut best: std::collections::HashMap<String, (Row, usize)> = Default::default();
    for r in rows {
        let k = key(&r);
        match best.get_mut(&k) {
            None => {
                order.push(k.clone());
                best.insert(k, (r, 1));
            }
            Some((b, n)) => {
                *n += 1;
                let better = match (r.secs(), b.secs()) {
                    (Some(t), Some(bt)) => t < bt,
                    (Some(_), None) => true,
                    _ => false,
                };
                if better {
                    *b = r;
                }
            }
        }
    }
    let rounds = best.values().map(|(_, n)| *n).max().unwrap_or(0);
    let rows = order
        .into_iter()
        .filter_map(|k| best.remove(&k).map(|(r, _)| r))
        .collect();
    (rows, rounds)
}

/// Per driver and configuration measured in two rounds or more: slowest round's figure over
/// fastest (1.0: the rounds agree). What the same code on the same host varied by within the
/// boot: a Rust/C gap no larger than this is not a difference between the drivers.
pub fn spreads(rows: &[Row]) -> BTreeMap<(String, Key), f64> {
    let mut range: BTreeMap<(String, Key), (f64, f64, usize)> = BTreeMap::new();
    for r in rows {
        let Some(t) = r.secs() else { continue };
        let e = range
            .entry((r.driver.clone(), r.key()))
            .or_insert((f64::INFINITY, 0.0, 0));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
        e.2 += 1;
    }
    range
        .into_iter()
        .filter(|(_, (lo, _, n))| *n > 1 && *lo > 0.0)
        .map(|(k, (lo, hi, _))| (k, hi / lo))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Status;
    use crate::stats::Spread;

    fn row(driver: &str, size: u64, median: Option<f64>) -> Row {
        let time = median.map(|m| Spread {
            n: 5,
            median: m,
            min: m,
            max: m,
            q1: m,
            q3: m,
        });
        Row {
            reps: 5,
            status: if median.is_some() {
                Status::Ok
            } else {
                Status::Error("x".into())
            },
            ..Row::read_for_test(driver, size, time)
        }
    }

    #[test]
    fn keeps_the_fastest_round_per_configuration_and_driver() {
        let rows = vec![
            row("c", 4096, Some(2.0)),
            row("rust", 4096, Some(3.0)),
            row("c", 8192, None),
            row("c", 4096, Some(1.0)),
            row("rust", 4096, Some(4.0)),
            row("c", 8192, Some(5.0)),
        ];
        let (b, rounds) = best_of(rows);
        assert_eq!(rounds, 2);
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b[0].driver.as_str(), b[0].time.unwrap().median),
            ("c", 1.0)
        );
        assert_eq!(
            (b[1].driver.as_str(), b[1].time.unwrap().median),
            ("rust", 3.0)
        );
        // A round that measured beats one that failed.
        assert_eq!(b[2].time.unwrap().median, 5.0);
    }

    #[test]
    fn spread_is_slowest_over_fastest_round_for_measured_configurations() {
        let rows = vec![
            row("c", 4096, Some(2.0)),
            row("c", 4096, Some(1.0)),
            row("c", 4096, Some(1.5)),
            row("rust", 4096, Some(3.0)),
            row("c", 8192, None),
            row("c", 8192, Some(5.0)),
        ];
        let s = spreads(&rows);
        let k = row("c", 4096, None).key();
        assert_eq!(s.get(&("c".to_string(), k)), Some(&2.0));
        // One measured round: no spread.
        assert_eq!(s.len(), 1);
    }
}
