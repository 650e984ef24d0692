//! `hmm-bench`: `run` measures the loaded driver's devices (in the lab guest), `report`
//! merges CSVs, draws plots and prints the Rust/C table (on the host). See README.md.

use anyhow::{bail, Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use hmm_bench::row::{Kind, Pages, Row};
use hmm_bench::workloads::{self, Config};
use hmm_bench::{csv, ftrace_report, report, sizes};
use hmm_bench::{ftrace_gate, perf_gate};
use hmm_dmirror::{Abi, Device};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hmm-bench",
    about = "Throughput of the HMM test device: C driver vs Rust module"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing would buy nothing
enum Cmd {
    /// Measure the loaded driver's devices and write a CSV.
    Run(RunArgs),
    /// Merge CSVs into OUT_DIR/results.csv, draw OUT_DIR/plots/*.svg, print the ratio table.
    Report {
        /// Input CSVs (one per driver run).
        #[arg(long = "csv", required = true)]
        csv: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Print the C and Rust kernel call counts of `run --ftrace-kind` side by side (reads
    /// DIR/{c,rust}.KIND.ftrace.txt).
    FtraceReport {
        /// The bench directory.
        #[arg(long)]
        dir: PathBuf,
        /// Request kinds, e.g. FAULT_BACK,MIGRATE_TO_SYS.
        #[arg(long, value_delimiter = ',', required = true)]
        kinds: Vec<String>,
        /// Functions per list.
        #[arg(long, default_value_t = 40)]
        top: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DriverLabel {
    /// lib/test_hmm.ko.
    C,
    /// test_hmm_rs.ko.
    Rust,
}

#[derive(Clone, Copy, ValueEnum)]
enum PagesArg {
    /// MADV_NOHUGEPAGE.
    #[value(name = "4k")]
    Small,
    /// MADV_HUGEPAGE.
    Thp,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Device numbers (repeatable). Default: 0, and 2 when /dev/hmm_dmirror2 exists.
    #[arg(long = "device")]
    device: Vec<u32>,
    /// ABI the driver speaks (default: $HMM_DMIRROR_ABI, else patched).
    #[arg(long, value_parser = PossibleValuesParser::new(Abi::ALL.map(Abi::name))
        .try_map(|s| s.parse::<Abi>()))]
    abi: Option<Abi>,
    /// Label of the loaded driver, written in every row.
    #[arg(long, value_enum)]
    driver_label: DriverLabel,
    /// Buffer sizes, e.g. 4K,64K,1M (default: the full or quick set).
    #[arg(long)]
    sizes: Option<String>,
    /// Timed repetitions per configuration (buffers under 1 MiB get up to 8x more).
    #[arg(long)]
    reps: Option<u32>,
    /// Quick mode: sizes 4K,64K,1M,16M and 3 repetitions (unless given).
    #[arg(long)]
    quick: bool,
    /// Page modes.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "4k,thp")]
    pages: Vec<PagesArg>,
    /// Accelerator label written in every row (the lab passes tcg or kvm).
    #[arg(long, default_value = "unknown")]
    accel: String,
    /// Output CSV (rewritten after every configuration, so a partial run leaves its rows).
    #[arg(long)]
    out: PathBuf,
    /// Profile this request kind: under `perf record -D -1 --control fifo:CTL,ACK`, perf's
    /// events are enabled around each timed operation of the kind and nothing else
    /// (READ, WRITE, MIGRATE_TO_DEV, MIGRATE_ON_FAULT_TO_DEV, MIGRATE_TO_SYS, FAULT_BACK, MEMCPY).
    #[arg(long, requires_all = ["perf_ctl", "perf_ack"])]
    perf_kind: Option<String>,
    /// perf's control FIFO (with --perf-kind).
    #[arg(long)]
    perf_ctl: Option<PathBuf>,
    /// perf's ack FIFO (with --perf-kind).
    #[arg(long)]
    perf_ack: Option<PathBuf>,
    /// Trace the kernel calls of this request kind: ftrace's function_graph tracer must be
    /// selected (tracing off); this process is traced during each timed operation of the
    /// kind only, and the call graphs are summed into --ftrace-out (see
    /// hmm_bench::ftrace_gate).
    #[arg(long, requires = "ftrace_out")]
    ftrace_kind: Option<String>,
    /// Where --ftrace-kind's totals go.
    #[arg(long)]
    ftrace_out: Option<PathBuf>,
    /// Sleep this many milliseconds before every timed operation (outside the timer), so
    /// that work the untimed preparation left pending (RCU callbacks, kworkers) runs before
    /// the timer starts, not inside it. For instruction time (`--accel tcg-icount`), where
    /// idle time costs nothing and every instruction of another task counts.
    #[arg(long, default_value_t = 0)]
    settle_ms: u64,
    /// tracefs (with --ftrace-kind).
    #[arg(long, default_value = "/sys/kernel/tracing")]
    tracefs: PathBuf,
}

/// `--perf-kind` / `--ftrace-kind`: the request kind named `k`.
fn kind_named(opt: &str, k: &str) -> Result<Kind> {
    Kind::ALL
        .into_iter()
        .find(|x| x.name().eq_ignore_ascii_case(k))
        .with_context(|| format!("{opt} {k}: no such request kind"))
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(a) => run(a),
        Cmd::Report { csv, out_dir } => {
            let r = report::report(&csv, &out_dir)?;
            print!("{}", r.text);
            println!("\nCSV:   {}", r.csv.display());
            for p in &r.plots {
                println!("plot:  {}", p.display());
            }
            Ok(())
        }
        Cmd::FtraceReport { dir, kinds, top } => {
            for k in kinds {
                let (c, r) = (
                    ftrace_report::Counts::read(&dir, "c", &k)?,
                    ftrace_report::Counts::read(&dir, "rust", &k)?,
                );
                println!("{}", ftrace_report::side_by_side(&k, &c, &r, top)?);
            }
            Ok(())
        }
    }
}

fn run(a: RunArgs) -> Result<()> {
    let abi = match a.abi {
        Some(abi) => abi,
        None => Abi::from_env()?,
    };
    let driver = match a.driver_label {
        DriverLabel::C => "c",
        DriverLabel::Rust => "rust",
    };
    if driver == "c" && abi == Abi::Patched {
        bail!("the C driver speaks the mainline ABI only: pass --abi mainline");
    }
    let sizes = sizes::parse_list(a.sizes.as_deref().unwrap_or(if a.quick {
        sizes::QUICK
    } else {
        sizes::FULL
    }))?;
    let page = hmm_dmirror::page_size() as u64;
    if let Some(s) = sizes.iter().find(|&&s| s % page != 0) {
        bail!("size {s} is not a multiple of the page size {page}");
    }
    if let (Some(k), Some(ctl), Some(ack)) = (&a.perf_kind, &a.perf_ctl, &a.perf_ack) {
        let kind = kind_named("--perf-kind", k)?;
        perf_gate::install(kind, ctl, ack)?;
        println!(
            "[{driver}] perf: profiling the timed {} operations only",
            kind.name()
        );
    }
    if let (Some(k), Some(out)) = (&a.ftrace_kind, &a.ftrace_out) {
        let kind = kind_named("--ftrace-kind", k)?;
        ftrace_gate::install(kind, &a.tracefs, out)?;
        println!(
            "[{driver}] ftrace: tracing the kernel calls of the timed {} operations only",
            kind.name()
        );
    }
    if a.settle_ms > 0 {
        perf_gate::settle(std::time::Duration::from_millis(a.settle_ms));
    }
    let reps = a.reps.unwrap_or(if a.quick { 3 } else { 5 });
    if reps == 0 {
        bail!("--reps must be at least 1");
    }
    let devnos = if a.device.is_empty() {
        let mut v = vec![0];
        if Device::path_of(2).exists() {
            v.push(2);
        } else {
            println!("[{driver}] /dev/hmm_dmirror2 absent: no coherent device, private only");
        }
        v
    } else {
        a.device.clone()
    };
    let mut devs = Vec::new();
    for n in devnos {
        devs.push((
            n,
            Device::open_with_abi(n, abi).with_context(|| format!("open device {n}"))?,
        ));
    }
    let cfg = Config {
        driver: driver.into(),
        abi,
        accel: a.accel.clone(),
        reps,
        warmup: 1,
    };
    println!(
        "[{driver}] hmm-bench: ABI {}, accel {}, devices {:?}, sizes {}, {reps} reps (+1 warm-up)",
        abi.name(),
        cfg.accel,
        devs.iter().map(|d| d.0).collect::<Vec<_>>(),
        sizes
            .iter()
            .map(|&s| sizes::show(s))
            .collect::<Vec<_>>()
            .join(",")
    );
    let start = std::time::Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut memcpy: HashMap<(Pages, u64), f64> = HashMap::new();
    for pages in a.pages.iter().map(|p| match p {
        PagesArg::Small => Pages::Small,
        PagesArg::Thp => Pages::Thp,
    }) {
        for &size in &sizes {
            let m = workloads::memcpy(&cfg, pages, size);
            if let Some(g) = m.gib_per_s() {
                memcpy.insert((pages, size), g);
            }
            emit(&mut rows, m, &a.out)?;
            for (n, dev) in &devs {
                for mut r in workloads::device_group(&cfg, dev, *n, pages, size) {
                    r.memcpy_frac = r
                        .gib_per_s()
                        .zip(memcpy.get(&(pages, size)))
                        .map(|(g, m)| g / m);
                    emit(&mut rows, r, &a.out)?;
                }
            }
        }
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r.status, hmm_bench::row::Status::Error(_)))
        .count();
    ftrace_gate::finish()?;
    println!(
        "[{driver}] done in {:.1}s: {} rows, {failed} failed; CSV {}",
        start.elapsed().as_secs_f64(),
        rows.len(),
        a.out.display()
    );
    Ok(())
}

/// Print a row, keep it, rewrite the CSV.
fn emit(rows: &mut Vec<Row>, r: Row, out: &PathBuf) -> Result<()> {
    println!("{}", report::progress_line(&r));
    let _ = std::io::stdout().flush();
    rows.push(r);
    let tmp = out.with_extension("csv.tmp");
    csv::write(std::io::BufWriter::new(std::fs::File::create(&tmp)?), rows)?;
    std::fs::rename(&tmp, out).with_context(|| format!("write {}", out.display()))?;
    Ok(())
}
