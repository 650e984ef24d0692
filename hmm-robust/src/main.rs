//! `hmm-robust`: the robustness battery for the HMM test device (issue #8).
//!
//! - `fuzz --seed S --requests N [--abi patched|mainline]`: random and edge-case requests,
//!   every result a declared errno, the process's memory checked against a shadow copy.
//! - `stress --seed S --seconds T [--threads K]`: concurrent migrations, device reads and
//!   writes, snapshots, exclusive access, mm operations, CPU touches, a forked child,
//!   close-while-busy, two files on one device and RELEASE under load; contents verified.
//! - `hold`, `smoke`: lifecycle helpers for `xtask/scripts/robust-guest.sh`.
//!
//! Every run prints one machine-readable summary line (`hmm-robust fuzz: …` /
//! `hmm-robust stress: …`) and exits 1 on any failure. See README.md.
use anyhow::Result;
use clap::{Parser, Subcommand};
use hmm_dmirror::Abi;
use std::path::PathBuf;
use std::time::Duration;

mod arena;
mod fuzz;
mod life;
mod repro;
mod stats;
mod stress;
mod sys;
mod verdict;

#[derive(Parser)]
#[command(
    name = "hmm-robust",
    about = "Robustness battery for /dev/hmm_dmirrorN"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Seeded request fuzzer; reproducible from its seed.
    Fuzz {
        /// PRNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Requests to issue.
        #[arg(long, default_value_t = 100_000)]
        requests: u64,
        /// ABI the driver speaks (patched, mainline).
        #[arg(long, default_value = "patched")]
        abi: Abi,
        /// Device numbers to fuzz (those of 2 and 3 that do not exist are skipped).
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,3")]
        devices: Vec<u32>,
        /// Fuzz this file instead of the devices (host check: /dev/null).
        #[arg(long)]
        path: Option<String>,
        /// Print every request before issuing it.
        #[arg(long)]
        trace: bool,
        /// Generate but do not issue the first N requests (with --trace: get to a late one
        /// fast; contents checks after a skip still hold, nothing was sent).
        #[arg(long, default_value_t = 0)]
        skip: u64,
        /// Keep the request in flight in this file (overwritten before each request).
        #[arg(long)]
        progress_file: Option<PathBuf>,
        /// Generate but do not send requests whose kind starts with this (repeatable), e.g.
        /// `huge-npages:CHECK_EXCLUSIVE` for the C driver, which spins on it.
        #[arg(long)]
        exclude: Vec<String>,
        /// Check all memory against the shadow every N requests and stop at the first
        /// difference (to find the request that corrupted it; changes where pages live).
        #[arg(long, default_value_t = 0)]
        check_every: u64,
        /// Stop after this many seconds even if fewer requests were sent (0: no limit).
        #[arg(long, default_value_t = 0)]
        max_seconds: u64,
    },
    /// Concurrency stress for a bounded time; contents verified at the end.
    Stress {
        /// PRNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Duration in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Worker threads.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// ABI the driver speaks.
        #[arg(long, default_value = "patched")]
        abi: Abi,
        /// No forked child.
        #[arg(long)]
        no_fork: bool,
        /// No RELEASE thread.
        #[arg(long)]
        no_release: bool,
    },
    /// Keep files / a device mapping / device pages alive (see robust-guest.sh).
    Hold {
        /// What to hold.
        #[arg(long, value_enum)]
        what: life::What,
        /// Handshake directory (ready1, go1, ready2, go2).
        #[arg(long)]
        dir: PathBuf,
        /// ABI.
        #[arg(long, default_value = "patched")]
        abi: Abi,
        /// Seconds to wait for each go file.
        #[arg(long, default_value_t = 300)]
        limit: u64,
    },
    /// Minimal reproducers of the findings (device 0).
    Repro {
        /// Which one.
        #[arg(value_enum)]
        name: repro::Name,
        /// ABI.
        #[arg(long, default_value = "patched")]
        abi: Abi,
        /// Override the npages of the request.
        #[arg(long)]
        npages: Option<u64>,
    },
    /// Migrate, read back and touch 16 pages on every device.
    Smoke {
        /// ABI.
        #[arg(long, default_value = "patched")]
        abi: Abi,
    },
}

fn main() {
    let cli = Cli::parse();
    let r: Result<bool> = match cli.cmd {
        Cmd::Fuzz {
            seed,
            requests,
            abi,
            devices,
            path,
            trace,
            skip,
            progress_file,
            exclude,
            check_every,
            max_seconds,
        } => fuzz::run(&fuzz::Opts {
            seed,
            requests,
            abi,
            devices,
            path,
            trace,
            skip,
            progress: progress_file,
            exclude,
            check_every,
            max_seconds,
        }),
        Cmd::Stress {
            seed,
            seconds,
            threads,
            abi,
            no_fork,
            no_release,
        } => stress::run(&stress::Opts {
            seed,
            seconds,
            threads,
            abi,
            fork: !no_fork,
            release: !no_release,
        }),
        Cmd::Hold {
            what,
            dir,
            abi,
            limit,
        } => life::hold(what, &dir, abi, Duration::from_secs(limit)),
        Cmd::Smoke { abi } => life::smoke(abi),
        Cmd::Repro { name, abi, npages } => repro::run(name, abi, npages),
    };
    match r {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("hmm-robust: error: {e:#}");
            std::process::exit(2);
        }
    }
}
