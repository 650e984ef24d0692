//! The profiling gate: with `perf record -D -1 --control fifo:CTL,ACK`, perf starts with its
//! events disabled and `hmm-bench run --perf-kind KIND` enables them around each timed
//! operation of that kind only (outside the timer: the enable/ack round trip is not
//! measured). The profile then holds the timed request and nothing of the untimed
//! preparation (mprotect, SNAPSHOT checks, the other kinds).

use crate::row::Kind;
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// perf's control channel (the two FIFOs) and the kind it is open for.
struct Gate {
    kind: Kind,
    ctl: File,
    ack: File,
}

static GATE: OnceLock<Mutex<Gate>> = OnceLock::new();
static SETTLE: OnceLock<std::time::Duration> = OnceLock::new();

/// Sleep this long before every timed operation.
pub fn settle(d: std::time::Duration) {
    let _ = SETTLE.set(d);
}

impl Gate {
    /// Send one control command and wait for perf's "ack".
    fn command(&mut self, cmd: &str) -> Result<()> {
        self.ctl
            .write_all(format!("{cmd}\n").as_bytes())
            .with_context(|| format!("perf control: write {cmd}"))?;
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        // perf answers "ack\n" (followed by a NUL) once the command took effect.
        while !got.ends_with(b"ack\n") {
            if self.ack.read(&mut b).context("perf control: read ack")? == 0 {
                bail!("perf control: the ack FIFO closed (perf exited?)");
            }
            if b[0] != 0 {
                got.push(b[0]);
            }
        }
        Ok(())
    }
}

/// Open perf's control FIFOs (perf has them open already: it is our parent) and profile the
/// timed operations of `kind` from now on.
pub fn install(kind: Kind, ctl: &Path, ack: &Path) -> Result<()> {
    let ctl_f = OpenOptions::new()
        .write(true)
        .open(ctl)
        .with_context(|| format!("open perf control FIFO {}", ctl.display()))?;
    let ack_f = File::open(ack).with_context(|| format!("open perf ack FIFO {}", ack.display()))?;
    let mut g = Gate {
        kind,
        ctl: ctl_f,
        ack: ack_f,
    };
    // perf answers a ping: the channel works before anything is measured.
    g.command("ping")?;
    if GATE.set(Mutex::new(g)).is_err() {
        bail!("perf gate installed twice");
    }
    Ok(())
}

/// Whether the operations of `kind` are being profiled.
fn gated(kind: Kind) -> Option<std::sync::MutexGuard<'static, Gate>> {
    let g = GATE.get()?.lock().unwrap_or_else(|e| e.into_inner());
    (g.kind == kind).then_some(g)
}

/// Run `f` timed (monotonic clock), with perf's events enabled around it when `kind` is the
/// profiled kind. A failing control channel panics: a profile that silently stopped would
/// be read as one of the wrong code.
/// The ftrace call-graph gate ([`crate::ftrace_gate`]) traces around it too. `recorded`:
/// the timing is kept (not a warm-up); warm-ups (first device allocations and the like)
/// are profiled by neither gate, as they are not timed.
pub fn timed<T>(kind: Kind, recorded: bool, f: impl FnOnce() -> T) -> (T, f64) {
    if let Some(d) = SETTLE.get() {
        std::thread::sleep(*d);
    }
    let mut gate = gated(kind).filter(|_| recorded);
    if let Some(g) = gate.as_mut() {
        g.command("enable").expect("perf gate: enable");
    }
    let traced = recorded && crate::ftrace_gate::before(kind);
    let r = crate::measure::time(f);
    if traced {
        crate::ftrace_gate::after(kind);
    }
    if let Some(g) = gate.as_mut() {
        g.command("disable").expect("perf gate: disable");
    }
    r
}
