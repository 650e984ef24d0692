//! `hmm-bench`: `run` measures the loaded driver's devices (in the lab guest), `report`
//! merges CSVs, draws plots and prints the Rust/C table, `compare` sets two runs side by
//! side (on the host). See README.md.

use anyhow::Context;
use anyhow::Result;
use clap::{Parser, Subcommand};
use hmm_bench::report::{self, compare, ftrace};
use hmm_bench::run::{self, RunArgs};
use hmm_bench::{csv, sizes};
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
    /// Two runs row by row (two boots, or before and after a change): how far each Rust/C
    /// ratio and each driver's figure moved from A to B, and a summary for the rows of
    /// --min-size and more.
    Compare {
        /// Run A: a results.csv, or a bench directory holding one.
        a: PathBuf,
        /// Run B (same).
        b: PathBuf,
        /// The rows the summary's first lines are about.
        #[arg(long, default_value = "64K")]
        min_size: String,
        /// Movement that counts as too much, in percent.
        #[arg(long, default_value_t = 1.0)]
        limit_pct: f64,
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

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Report { csv, out_dir } => {
            let r = report::report(&csv, &out_dir)?;
            print!("{}", r.text);
            // Where the files went, on stderr: the text on stdout is what `lab bench` keeps
            // as table.txt, which names no path of the machine that ran it.
            eprintln!("\nCSV:   {}", r.csv.display());
            for p in &r.plots {
                eprintln!("plot:  {}", p.display());
            }
            Ok(())
        }
        Cmd::Compare {
            a,
            b,
            min_size,
            limit_pct,
        } => {
            let read = |p: PathBuf| {
                let f = if p.is_dir() { p.join("results.csv") } else { p };
                csv::read_file(&f).with_context(|| format!("read {}", f.display()))
            };
            let m = compare::moved(&read(a)?, &read(b)?);
            let min = sizes::parse(&min_size)?;
            print!("{}", compare::render(&m, min, limit_pct / 100.0));
            Ok(())
        }
        Cmd::FtraceReport { dir, kinds, top } => {
            for k in kinds {
                let (c, r) = (
                    ftrace::Counts::read(&dir, "c", &k)?,
                    ftrace::Counts::read(&dir, "rust", &k)?,
                );
                println!("{}", ftrace::side_by_side(&k, &c, &r, top)?);
            }
            Ok(())
        }
    }
}
