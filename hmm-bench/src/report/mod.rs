//! Human-readable output: one progress line per measured row, and the final report
//! (merged CSV, plots, ratio table).

pub mod below;
pub mod compare;
pub mod ftrace;
pub mod plot;
pub mod ratio;
pub mod rounds;

use crate::csv;
use crate::row::{Kind, Row};
use anyhow::Result;
use ratio::{C, RUST};
use std::path::{Path, PathBuf};

/// What `report` produced.
pub struct Report {
    /// The merged CSV.
    pub csv: PathBuf,
    /// The plots.
    pub plots: Vec<PathBuf>,
    /// The table and summary, as printed.
    pub text: String,
}

/// Merge `inputs` into `out_dir/results.csv`, draw `out_dir/plots/*.svg`, build the text.
pub fn report(inputs: &[PathBuf], out_dir: &Path) -> Result<Report> {
    let mut all = Vec::new();
    for p in inputs {
        all.extend(csv::read_file(p)?);
    }
    let spreads = rounds::spreads(&all);
    let (rows, rounds) = rounds::best_of(all);
    std::fs::create_dir_all(out_dir)?;
    let csv_path = out_dir.join("results.csv");
    csv::write(
        std::io::BufWriter::new(std::fs::File::create(&csv_path)?),
        &rows,
    )?;
    let accels: Vec<String> = {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| format!("{} ({})", r.accel, r.driver))
            .collect();
        v.dedup();
        v
    };
    let accel = {
        let mut a: Vec<&str> = rows.iter().map(|r| r.accel.as_str()).collect();
        a.sort_unstable();
        a.dedup();
        a.join("+")
    };
    let note = if accel.is_empty() {
        String::new()
    } else {
        format!(" ({})", accel.to_uppercase())
    };
    let plots = plot::write_all(&rows, &out_dir.join("plots"), &note)?;

    let mut text = String::new();
    if rounds > 1 {
        text.push_str(&format!(
            "rounds: {rounds} per driver, alternating C and Rust in the boot; each row is the \
             round with the lowest median (best of {rounds}, both drivers alike)\n"
        ));
    }
    text.push_str(&format!(
        "accel: {}\n",
        if accels.is_empty() {
            "unknown".into()
        } else {
            accels.join(", ")
        }
    ));
    if let Some(r) = rows.iter().find(|r| r.time.is_some()) {
        text.push_str(if r.instruction_time() {
            "figure: each row's minimum time over its repetitions (instruction time: other work \
             only ever adds instructions); spread: the first quartile's distance from it\n"
        } else {
            "figure: each row's median time over its repetitions; spread: the interquartile \
             range over the median\n"
        });
    }
    for (label, name) in [
        (C, "C driver (test_hmm.ko)"),
        (RUST, "Rust module (test_hmm_rs.ko)"),
    ] {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.driver == label).collect();
        let ok = mine.iter().filter(|r| r.status.is_ok()).count();
        match mine.first() {
            None => text.push_str(&format!(
                "{name}: no results (not loaded or not run): its ratios are n/a\n"
            )),
            Some(r) => text.push_str(&format!(
                "{name}: {ok}/{} rows measured, ABI {}\n",
                mine.len(),
                r.abi
            )),
        }
    }
    let table = ratio::build(&rows);
    text.push('\n');
    text.push_str(&ratio::render(&table));
    let noise: Vec<f64> = table
        .iter()
        .filter(|r| r.key.kind == Kind::Memcpy)
        .filter_map(|r| r.ratio)
        .collect();
    if let (Some(lo), Some(hi)) = (
        noise.iter().copied().reduce(f64::min),
        noise.iter().copied().reduce(f64::max),
    ) {
        text.push_str(&format!(
            "\nnoise gauge: MEMCPY (identical code in both runs) Rust/C ranges {lo:.2}..{hi:.2}; \
             ratios inside that band are not differences between the drivers\n"
        ));
    }
    text.push_str(&below::section(&table, &spreads));
    let g = ratio::geomean_by_kind(&table);
    if !g.is_empty() {
        text.push_str("\nRust/C geometric mean per request (over the rows with a ratio):\n");
        for (k, m, n) in g {
            let what = if k == Kind::Memcpy {
                " (reference: same code in both runs, shows the run-to-run noise)"
            } else {
                ""
            };
            text.push_str(&format!("  {:<24} {m:.2}  ({n} rows){what}\n", k.name()));
        }
    }
    Ok(Report {
        csv: csv_path,
        plots,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Memory, Pages, Status};
    use crate::run::progress_line;
    use crate::stats::Spread;

    fn row(driver: &str, memory: Memory, kind: Kind, secs: f64) -> Row {
        Row {
            driver: driver.into(),
            abi: if driver == C { "mainline" } else { "patched" }.into(),
            accel: "tcg".into(),
            device: if memory == Memory::Host {
                None
            } else {
                Some(0)
            },
            memory,
            kind,
            pages: Pages::Small,
            size: 1 << 20,
            npages: 256,
            reps: 3,
            status: Status::Ok,
            time: Spread::of(&[secs, secs * 1.1, secs * 0.9]),
            cpages: Some(256),
            huge_frac: Some(0.0),
            memcpy_frac: Some(0.5),
        }
    }

    #[test]
    fn merges_plots_and_tabulates_both_drivers() {
        let dir = std::env::temp_dir().join(format!("hmm-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, r) = (dir.join("c.csv"), dir.join("rust.csv"));
        let cf = std::fs::File::create(&c).unwrap();
        csv::write(
            cf,
            &[
                row(C, Memory::Private, Kind::Read, 0.01),
                row(C, Memory::Host, Kind::Memcpy, 0.001),
            ],
        )
        .unwrap();
        let rf = std::fs::File::create(&r).unwrap();
        csv::write(
            rf,
            &[
                row(RUST, Memory::Private, Kind::Read, 0.02),
                row(RUST, Memory::Host, Kind::Memcpy, 0.001),
            ],
        )
        .unwrap();
        let rep = report(&[c, r], &dir.join("out")).unwrap();
        assert_eq!(csv::read_file(&rep.csv).unwrap().len(), 4);
        assert_eq!(rep.plots, vec![dir.join("out/plots/read.svg")]);
        assert!(
            rep.text.contains("accel: tcg (c), tcg (rust)"),
            "{}",
            rep.text
        );
        assert!(
            rep.text.contains("0.50"),
            "Rust at half C's speed: {}",
            rep.text
        );
        assert!(rep.text.contains(
            "noise gauge: MEMCPY (identical code in both runs) Rust/C ranges 1.00..1.00"
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rust_missing_is_said() {
        let dir = std::env::temp_dir().join(format!("hmm-bench-report-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join("c.csv");
        csv::write(
            std::fs::File::create(&c).unwrap(),
            &[row(C, Memory::Private, Kind::Read, 0.01)],
        )
        .unwrap();
        let rep = report(&[c], &dir).unwrap();
        assert!(
            rep.text
                .contains("Rust module (test_hmm_rs.ko): no results"),
            "{}",
            rep.text
        );
        assert!(rep.text.contains("Rust: not run"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn progress_line_shows_rate_or_status() {
        let r = row(C, Memory::Private, Kind::Read, 0.01);
        let l = progress_line(&r);
        assert!(
            l.starts_with("[c] dev0 private 4k 1M READ: 0.0977 GiB/s, 25600 pages/s"),
            "{l}"
        );
        let mut na = r;
        na.status = Status::Na("x".into());
        na.time = None;
        assert!(progress_line(&na).ends_with("READ: n/a: x"));
    }
}
