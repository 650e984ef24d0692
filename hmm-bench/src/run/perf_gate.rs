//! The profiling gate: with `perf record -D -1 --control fifo:CTL,ACK`, perf starts with its
//! events disabled and `hmm-bench run --perf-kind KIND` enables them around each timed
//! operation of that kind only (outside the timer: the enable/ack round trip is not
//! measured). The profile then holds the timed request and nothing of the untimed
//! preparation (mprotect, SNAPSHOT checks, the other kinds).

use super::timer::Gate;
use crate::row::Kind;
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

/// perf's control channel (the two FIFOs) and the kind it is open for.
pub struct PerfGate {
    kind: Kind,
    ctl: File,
    ack: File,
}

impl PerfGate {
    /// Open perf's control FIFOs (perf has them open already: it is our parent) to profile
    /// the timed operations of `kind`. perf answers a ping: the channel works before
    /// anything is measured.
    pub fn open(kind: Kind, ctl: &Path, ack: &Path) -> Result<Self> {
        let ctl_f = OpenOptions::new()
            .write(true)
            .open(ctl)
            .with_context(|| format!("open perf control FIFO {}", ctl.display()))?;
        let ack_f =
            File::open(ack).with_context(|| format!("open perf ack FIFO {}", ack.display()))?;
        let mut g = PerfGate {
            kind,
            ctl: ctl_f,
            ack: ack_f,
        };
        g.command("ping")?;
        Ok(g)
    }

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

impl Gate for PerfGate {
    fn kind(&self) -> Kind {
        self.kind
    }
    /// perf's events on.
    fn open(&mut self) -> Result<()> {
        self.command("enable")
    }
    /// perf's events off.
    fn close(&mut self) -> Result<()> {
        self.command("disable")
    }
}
