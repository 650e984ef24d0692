//! Summary statistics of repeated timings: median and spread (min/max, quartiles).

/// The summary of a set of samples (seconds, or any unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Number of samples.
    pub n: usize,
    /// Median (mean of the two middle samples when `n` is even).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// First quartile (linear interpolation between order statistics, "type 7").
    pub q1: f64,
    /// Third quartile (same method).
    pub q3: f64,
}

impl Spread {
    /// Summarize `samples`; `None` when empty or when a sample is not finite.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Spread {
            n: v.len(),
            median: quantile(&v, 0.5),
            min: v[0],
            max: v[v.len() - 1],
            q1: quantile(&v, 0.25),
            q3: quantile(&v, 0.75),
        })
    }

    /// Interquartile range.
    pub fn iqr(&self) -> f64 {
        self.q3 - self.q1
    }
}

/// Quantile `q` in [0, 1] of sorted, non-empty `sorted`, interpolating linearly between
/// the two nearest order statistics (R's default, "type 7"; q = 0.5 is the usual median).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no samples");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Throughput in units per second for `amount` units done in `secs` seconds (0 → infinity).
pub fn rate(amount: f64, secs: f64) -> f64 {
    amount / secs
}

/// Three significant digits.
pub fn sig3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).clamp(0, 9) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_median_is_middle() {
        let s = Spread::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 3.0, 1.0, 5.0));
        assert_eq!((s.q1, s.q3), (2.0, 4.0));
    }

    #[test]
    fn even_count_median_is_mean_of_middle_two() {
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(s.q1, 1.75);
        assert_eq!(s.q3, 3.25);
        assert_eq!(s.iqr(), 1.5);
    }

    #[test]
    fn single_sample() {
        let s = Spread::of(&[7.0]).unwrap();
        assert_eq!(
            (s.median, s.min, s.max, s.q1, s.q3),
            (7.0, 7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn empty_or_nan_is_none() {
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn outlier_moves_max_not_median() {
        let s = Spread::of(&[1.0, 1.0, 1.0, 1.0, 100.0]).unwrap();
        assert_eq!(s.median, 1.0);
        assert_eq!(s.max, 100.0);
    }

    #[test]
    fn rate_is_amount_over_time() {
        assert_eq!(rate(1024.0, 2.0), 512.0);
    }
}
