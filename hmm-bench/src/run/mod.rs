//! The guest side: `hmm-bench run` measures the loaded driver's devices (in the lab guest)
//! and writes a CSV, one row per configuration, rewritten after each.

mod args;
pub mod ftrace_gate;
pub mod measure;
pub mod perf_gate;
pub mod timer;
pub mod workloads;

pub use args::{DriverLabel, PagesArg, RunArgs};

use crate::row::{Kind, Pages, Row};
use crate::stats::sig3;
use crate::{csv, sizes};
use anyhow::{bail, Context, Result};
use ftrace_gate::FtraceGate;
use hmm_dmirror::{Abi, Device};
use perf_gate::PerfGate;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use timer::Timer;
use workloads::Config;

/// `--perf-kind` / `--ftrace-kind`: the request kind named `k`.
fn kind_named(opt: &str, k: &str) -> Result<Kind> {
    Kind::ALL
        .into_iter()
        .find(|x| x.name().eq_ignore_ascii_case(k))
        .with_context(|| format!("{opt} {k}: no such request kind"))
}

/// `hmm-bench run`: measure the loaded driver's devices, write the CSV.
pub fn run(a: RunArgs) -> Result<()> {
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
    let mut timer = Timer::new().settle(Duration::from_millis(a.settle_ms));
    if let (Some(k), Some(ctl), Some(ack)) = (&a.perf_kind, &a.perf_ctl, &a.perf_ack) {
        let kind = kind_named("--perf-kind", k)?;
        timer = timer.gate(Box::new(PerfGate::open(kind, ctl, ack)?));
        println!(
            "[{driver}] perf: profiling the timed {} operations only",
            kind.name()
        );
    }
    if let (Some(k), Some(out)) = (&a.ftrace_kind, &a.ftrace_out) {
        let kind = kind_named("--ftrace-kind", k)?;
        timer = timer.gate(Box::new(FtraceGate::new(kind, &a.tracefs, out)?));
        println!(
            "[{driver}] ftrace: tracing the kernel calls of the timed {} operations only",
            kind.name()
        );
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
    let start = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut memcpy: HashMap<(Pages, u64), f64> = HashMap::new();
    for pages in a.pages.iter().map(|p| match p {
        PagesArg::Small => Pages::Small,
        PagesArg::Thp => Pages::Thp,
    }) {
        for &size in &sizes {
            let m = workloads::memcpy(&mut timer, &cfg, pages, size);
            if let Some(g) = m.gib_per_s() {
                memcpy.insert((pages, size), g);
            }
            emit(&mut rows, m, &a.out)?;
            for (n, dev) in &devs {
                for mut r in workloads::device_group(&mut timer, &cfg, dev, *n, pages, size) {
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
        .filter(|r| matches!(r.status, crate::row::Status::Error(_)))
        .count();
    timer.finish()?;
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
    println!("{}", progress_line(&r));
    let _ = std::io::stdout().flush();
    rows.push(r);
    let tmp = out.with_extension("csv.tmp");
    csv::write(std::io::BufWriter::new(std::fs::File::create(&tmp)?), rows)?;
    std::fs::rename(&tmp, out).with_context(|| format!("write {}", out.display()))?;
    Ok(())
}

/// One line describing a row, for progress output.
pub fn progress_line(r: &Row) -> String {
    let dev = r
        .device
        .map(|d| format!("dev{d}"))
        .unwrap_or_else(|| "host".into());
    let head = format!(
        "[{}] {dev} {} {} {} {}",
        r.driver,
        r.memory,
        r.pages,
        sizes::show(r.size),
        r.kind
    );
    match (r.gib_per_s(), r.gib_spread(), r.pages_per_s()) {
        (Some(g), Some((min, _, _, max)), Some(pps)) => {
            let frac = r
                .memcpy_frac
                .map(|f| format!(", {}% of memcpy", sig3(100.0 * f)))
                .unwrap_or_default();
            let huge = r
                .huge_frac
                .map(|h| format!(", {:.0}% PMD-mapped", 100.0 * h))
                .unwrap_or_default();
            format!(
                "{head}: {} GiB/s, {} pages/s (min {} max {}, {} reps{frac}{huge})",
                sig3(g),
                sig3(pps),
                sig3(min),
                sig3(max),
                r.reps
            )
        }
        _ => format!("{head}: {}", r.status),
    }
}
