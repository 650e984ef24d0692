//! `hmm-bench run`'s options.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use hmm_dmirror::Abi;
use std::path::PathBuf;

/// Which driver is loaded (the label written in every row).
#[derive(Clone, Copy, ValueEnum)]
pub enum DriverLabel {
    /// lib/test_hmm.ko.
    C,
    /// test_hmm_rs.ko.
    Rust,
}

/// A page mode of the buffers.
#[derive(Clone, Copy, ValueEnum)]
pub enum PagesArg {
    /// MADV_NOHUGEPAGE.
    #[value(name = "4k")]
    Small,
    /// MADV_HUGEPAGE.
    Thp,
}

/// `hmm-bench run`'s options.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Device numbers (repeatable). Default: 0, and 2 when /dev/hmm_dmirror2 exists.
    #[arg(long = "device")]
    pub device: Vec<u32>,
    /// ABI the driver speaks (default: $HMM_DMIRROR_ABI, else patched).
    #[arg(long, value_parser = PossibleValuesParser::new(Abi::ALL.map(Abi::name))
        .try_map(|s| s.parse::<Abi>()))]
    pub abi: Option<Abi>,
    /// Label of the loaded driver, written in every row.
    #[arg(long, value_enum)]
    pub driver_label: DriverLabel,
    /// Buffer sizes, e.g. 4K,64K,1M (default: the full or quick set).
    #[arg(long)]
    pub sizes: Option<String>,
    /// Timed repetitions per configuration (buffers under 4 MiB get up to 8x more, see
    /// `run::measure::reps_for`).
    #[arg(long)]
    pub reps: Option<u32>,
    /// Quick mode: sizes 4K,64K,1M,16M and 3 repetitions (unless given).
    #[arg(long)]
    pub quick: bool,
    /// Page modes.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "4k,thp")]
    pub pages: Vec<PagesArg>,
    /// Accelerator label written in every row (the lab passes tcg or kvm).
    #[arg(long, default_value = "unknown")]
    pub accel: String,
    /// Output CSV (rewritten after every configuration, so a partial run leaves its rows).
    #[arg(long)]
    pub out: PathBuf,
    /// Profile this request kind: under `perf record -D -1 --control fifo:CTL,ACK`, perf's
    /// events are enabled around each timed operation of the kind and nothing else
    /// (READ, WRITE, MIGRATE_TO_DEV, MIGRATE_ON_FAULT_TO_DEV, MIGRATE_TO_SYS, FAULT_BACK, MEMCPY).
    #[arg(long, requires_all = ["perf_ctl", "perf_ack"])]
    pub perf_kind: Option<String>,
    /// perf's control FIFO (with --perf-kind).
    #[arg(long)]
    pub perf_ctl: Option<PathBuf>,
    /// perf's ack FIFO (with --perf-kind).
    #[arg(long)]
    pub perf_ack: Option<PathBuf>,
    /// Trace the kernel calls of this request kind: ftrace's function_graph tracer must be
    /// selected (tracing off); this process is traced during each timed operation of the
    /// kind only, and the call graphs are summed into --ftrace-out (see
    /// hmm_bench::ftrace_gate).
    #[arg(long, requires = "ftrace_out")]
    pub ftrace_kind: Option<String>,
    /// Where --ftrace-kind's totals go.
    #[arg(long)]
    pub ftrace_out: Option<PathBuf>,
    /// Sleep this many milliseconds before every timed operation (outside the timer), so
    /// that work the untimed preparation left pending (RCU callbacks, kworkers) runs before
    /// the timer starts, not inside it. For instruction time (`--accel tcg-icount`), where
    /// idle time costs nothing and every instruction of another task counts.
    #[arg(long, default_value_t = 0)]
    pub settle_ms: u64,
    /// tracefs (with --ftrace-kind).
    #[arg(long, default_value = "/sys/kernel/tracing")]
    pub tracefs: PathBuf,
}
