//! The timer of the measured operations, and the gates it opens around them: a [`Gate`]
//! switches an observer (perf's events, ftrace's call graph) on right before a timed
//! operation of the kind it watches and off right after, outside the timed interval.
//! The gates are the [`Timer`]'s own (no process-wide state): `run` builds one timer with
//! the gates its options ask for and hands it down to every measurement.

use crate::row::Kind;
use anyhow::Result;
use std::time::{Duration, Instant};

/// An observer switched on around the timed operations of one request kind.
pub trait Gate {
    /// The kind whose timed operations this gate watches.
    fn kind(&self) -> Kind;
    /// Right before a timed operation of [`Gate::kind`] (outside the timer).
    fn open(&mut self) -> Result<()>;
    /// Right after it (outside the timer).
    fn close(&mut self) -> Result<()>;
    /// At the end of the run: write what was gathered.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Times operations on the monotonic clock, with its gates around them.
#[derive(Default)]
pub struct Timer {
    gates: Vec<Box<dyn Gate>>,
    settle: Duration,
}

impl Timer {
    /// A timer with no gates and no settling time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sleep `d` before every timed operation (outside the timer): work the untimed
    /// preparation left pending (RCU callbacks, kworkers) then runs before the timer starts
    /// rather than inside it. Meant for instruction time, where idle time costs nothing.
    pub fn settle(mut self, d: Duration) -> Self {
        self.settle = d;
        self
    }

    /// Add a gate: gates open in the order they were added and close in reverse order.
    pub fn gate(mut self, g: Box<dyn Gate>) -> Self {
        self.gates.push(g);
        self
    }

    /// Run `f` timed. When `recorded` (a timed repetition, not a warm-up), the gates of
    /// `kind` are opened right before and closed right after, outside the timed interval.
    /// A failing gate panics: a profile or trace that silently stopped would be read as
    /// one of the wrong code.
    pub fn timed<T>(&mut self, kind: Kind, recorded: bool, f: impl FnOnce() -> T) -> (T, f64) {
        if !self.settle.is_zero() {
            std::thread::sleep(self.settle);
        }
        let watch = |g: &&mut Box<dyn Gate>| recorded && g.kind() == kind;
        for g in self.gates.iter_mut().filter(watch) {
            g.open()
                .unwrap_or_else(|e| panic!("gate of {}: open: {e:#}", kind.name()));
        }
        let t0 = Instant::now();
        let v = f();
        let dt = t0.elapsed().as_secs_f64();
        for g in self.gates.iter_mut().rev().filter(watch) {
            g.close()
                .unwrap_or_else(|e| panic!("gate of {}: close: {e:#}", kind.name()));
        }
        (v, dt)
    }

    /// Let every gate write what it gathered.
    pub fn finish(&mut self) -> Result<()> {
        for g in &mut self.gates {
            g.finish()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Log(Kind, &'static str, Rc<RefCell<Vec<String>>>);

    impl Gate for Log {
        fn kind(&self) -> Kind {
            self.0
        }
        fn open(&mut self) -> Result<()> {
            self.2.borrow_mut().push(format!("{} open", self.1));
            Ok(())
        }
        fn close(&mut self) -> Result<()> {
            self.2.borrow_mut().push(format!("{} close", self.1));
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.2.borrow_mut().push(format!("{} finish", self.1));
            Ok(())
        }
    }

    #[test]
    fn gates_open_around_recorded_operations_of_their_kind_only() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut t = Timer::new()
            .gate(Box::new(Log(Kind::Read, "perf", log.clone())))
            .gate(Box::new(Log(Kind::Read, "ftrace", log.clone())))
            .gate(Box::new(Log(Kind::Write, "other", log.clone())));
        let (v, dt) = t.timed(Kind::Read, true, || {
            log.borrow_mut().push("op".into());
            7
        });
        assert_eq!((v, dt >= 0.0), (7, true));
        t.timed(Kind::Read, false, || {
            log.borrow_mut().push("warm-up".into())
        });
        t.timed(Kind::Memcpy, true, || {
            log.borrow_mut().push("memcpy".into())
        });
        t.finish().unwrap();
        assert_eq!(
            *log.borrow(),
            [
                "perf open",
                "ftrace open",
                "op",
                "ftrace close",
                "perf close",
                "warm-up",
                "memcpy",
                "perf finish",
                "ftrace finish",
                "other finish"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "gate of READ: open: perf gone")]
    fn a_failing_gate_panics() {
        struct Broken;
        impl Gate for Broken {
            fn kind(&self) -> Kind {
                Kind::Read
            }
            fn open(&mut self) -> Result<()> {
                anyhow::bail!("perf gone")
            }
            fn close(&mut self) -> Result<()> {
                Ok(())
            }
        }
        Timer::new()
            .gate(Box::new(Broken))
            .timed(Kind::Read, true, || ());
    }
}
