//! The timing harness: warm-up, then repetitions of (untimed prepare, timed operation,
//! untimed restore), on the monotonic clock.

use super::timer::Timer;
use crate::row::Kind;
use anyhow::Result;
use hmm_dmirror::Counts;

/// Timings of one operation.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Seconds per timed repetition.
    pub secs: Vec<f64>,
    /// Counts the request returned in the last repetition (None for CPU-only operations).
    pub counts: Option<Counts>,
}

/// `warmup` untimed then `reps` timed repetitions of `prep` (untimed), `op` (timed by `t`,
/// with its gates of `kind` around it), `restore` (untimed). The first error stops the loop.
pub fn repeat(
    t: &mut Timer,
    kind: Kind,
    warmup: u32,
    reps: u32,
    mut prep: impl FnMut() -> Result<()>,
    mut op: impl FnMut() -> Result<Option<Counts>>,
    mut restore: impl FnMut() -> Result<()>,
) -> Result<Samples> {
    let mut s = Samples {
        secs: Vec::with_capacity(reps as usize),
        counts: None,
    };
    for i in 0..warmup + reps {
        prep()?;
        let (r, dt) = t.timed(kind, i >= warmup, &mut op);
        s.counts = r?;
        restore()?;
        if i >= warmup {
            s.secs.push(dt);
        }
    }
    Ok(s)
}

/// Repetitions for a buffer of `size` bytes: small buffers (under 4 MiB) finish in
/// microseconds to a few milliseconds, where a timer tick or another task's time slice is
/// a large share of a sample, so they get up to 8x more (1 MiB: 4x);
/// buffers of 64 MiB and more take seconds each under TCG and dominate the run's time, so
/// they get 3/5 as many (at least 3).
pub fn reps_for(size: u64, reps: u32) -> u32 {
    if size >= 64 << 20 {
        return (reps * 3).div_ceil(5).max(3).min(reps.max(1));
    }
    let scale = ((4u64 << 20) / size.max(1)).clamp(1, 8) as u32;
    reps.saturating_mul(scale)
}

/// Says yes on the first and on the last of `total` calls: for checks too costly to run
/// after every repetition (a SNAPSHOT of a 256 MiB buffer), still run on the warm-up,
/// which is where a driver that moves nothing shows it, and on the last repetition.
#[derive(Clone, Copy, Debug)]
pub struct FirstAndLast {
    calls: u32,
    total: u32,
}

impl FirstAndLast {
    /// For `total` calls.
    pub fn new(total: u32) -> Self {
        FirstAndLast { calls: 0, total }
    }
    /// Count a call; whether it is the first or the last.
    pub fn due(&mut self) -> bool {
        self.calls += 1;
        self.calls == 1 || self.calls == self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_not_recorded_and_phases_alternate() {
        let log = std::cell::RefCell::new(Vec::new());
        let s = repeat(
            &mut Timer::new(),
            Kind::Read,
            1,
            3,
            || {
                log.borrow_mut().push('p');
                Ok(())
            },
            || {
                log.borrow_mut().push('o');
                Ok(Some(Counts {
                    cpages: 7,
                    faults: 0,
                }))
            },
            || {
                log.borrow_mut().push('r');
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(s.secs.len(), 3);
        assert_eq!(s.counts.unwrap().cpages, 7);
        assert_eq!(log.into_inner().iter().collect::<String>(), "porporporpor");
    }

    #[test]
    fn error_stops() {
        let mut n = 0;
        let r = repeat(
            &mut Timer::new(),
            Kind::Read,
            0,
            5,
            || Ok(()),
            || {
                n += 1;
                if n == 2 {
                    anyhow::bail!("boom")
                } else {
                    Ok(None)
                }
            },
            || Ok(()),
        );
        assert!(r.is_err());
        assert_eq!(n, 2);
    }

    #[test]
    fn small_sizes_get_more_reps() {
        assert_eq!(reps_for(4096, 5), 40);
        assert_eq!(reps_for(256 << 10, 5), 40);
        assert_eq!(reps_for(1 << 20, 5), 20);
        assert_eq!(reps_for(2 << 20, 5), 10);
        assert_eq!(reps_for(16 << 20, 5), 5);
        assert_eq!(reps_for(64 << 20, 5), 3);
        assert_eq!(reps_for(256 << 20, 5), 3);
        assert_eq!(reps_for(256 << 20, 10), 6);
        assert_eq!(reps_for(256 << 20, 2), 2);
        assert_eq!(reps_for(256 << 20, 1), 1);
    }

    #[test]
    fn first_and_last() {
        let mut c = FirstAndLast::new(4);
        assert_eq!(
            (0..4).map(|_| c.due()).collect::<Vec<_>>(),
            [true, false, false, true]
        );
        let mut one = FirstAndLast::new(1);
        assert!(one.due());
    }
}
