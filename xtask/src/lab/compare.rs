//! `cargo xtask lab compare`: the upstream C hmm-tests and the Rust port against the C
//! driver in ONE boot, case by case, side by side.
use super::boot::boot;
use super::env;
use super::options::{Driver, VmOpts};
use crate::known::Known;
use crate::tap::{self, Outcome};
use crate::{cache, suite};
use anyhow::{bail, Result};
use clap::Args;
use std::collections::HashMap;
use std::path::Path;

/// Options of `lab compare`.
#[derive(Args, Clone)]
pub struct CompareOpts {
    #[command(flatten)]
    vm: VmOpts,
    /// Arguments for both suites (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

/// Run `lab compare`; returns 1 when a case differs or the kernel reported a problem.
pub fn run(o: CompareOpts) -> Result<i32> {
    let CompareOpts { vm, args } = o;
    if vm.driver != Driver::C {
        bail!("compare runs both suites against the C driver (--driver c)");
    }
    let b = env::build(vm.profile, false)?;
    let bin = suite::build(&cache::root().join("suite.log"))?;
    let dir = dir()?;
    let cmd = command(&b.c_suite, &bin, &dir, &args);
    let boot = boot(&b, &vm, cmd, true, true)?;
    let code = report(&dir);
    // A kernel report or a crash is a failure whatever the suites said.
    let rc = boot.judged(&Known::default());
    Ok(if rc != 0 { rc } else { code })
}

/// The guest command: both suites, each writing its TAP to its own file in `dir`.
fn command(c_suite: &Path, rust_suite: &Path, dir: &Path, args: &[String]) -> Vec<String> {
    let extra = args
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "{c} {extra} > {d}/c.tap 2>&1; HMM_DMIRROR_ABI=mainline HMM_TESTS_REQUIRE_DEVICE=1 {r} {extra} > {d}/rust.tap 2>&1; echo compare done",
            c = c_suite.display(),
            r = rust_suite.display(),
            d = dir.display()
        ),
    ]
}

/// A fresh directory for the two TAP files.
fn dir() -> Result<std::path::PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let d = cache::workspace()
        .join("target/lab/compare")
        .join(format!("{stamp}"));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn word(o: Option<&Outcome>) -> &'static str {
    match o {
        Some(Outcome::Pass) => "pass",
        Some(Outcome::Fail) => "FAIL",
        Some(Outcome::Skip(_)) => "skip",
        None => "-",
    }
}

/// Print the table; returns 0 when every case the C suite has got the same result from
/// the Rust port (cases only the port has, such as migrate_on_fault, are listed apart).
fn report(dir: &Path) -> i32 {
    let c = tap::parse(&std::fs::read_to_string(dir.join("c.tap")).unwrap_or_default());
    let r = tap::parse(&std::fs::read_to_string(dir.join("rust.tap")).unwrap_or_default());
    let cm: HashMap<&str, &Outcome> = c.iter().map(|(n, o)| (n.as_str(), o)).collect();
    let count =
        |v: &[(String, Outcome)], w: &str| v.iter().filter(|(_, o)| word(Some(o)) == w).count();
    println!("{:<58} {:>6} {:>6}", "case", "C", "Rust");
    let mut differ = 0;
    for (name, o) in &r {
        let co = cm.get(name.as_str()).copied();
        let same = co.map(|c| word(Some(c)) == word(Some(o)));
        let mark = match same {
            Some(true) => "",
            Some(false) => {
                differ += 1;
                "  <- differs"
            }
            None => "  (Rust port only)",
        };
        println!("{:<58} {:>6} {:>6}{mark}", name, word(co), word(Some(o)));
    }
    for (name, _) in &c {
        if !r.iter().any(|(n, _)| n == name) {
            differ += 1;
            println!(
                "{name:<58} {:>6} {:>6}  <- missing from the port",
                word(cm.get(name.as_str()).copied()),
                "-"
            );
        }
    }
    println!(
        "compare: C suite {} passed, {} failed, {} skipped; Rust port {} passed, {} failed, {} skipped; {differ} case(s) differ",
        count(&c, "pass"), count(&c, "FAIL"), count(&c, "skip"),
        count(&r, "pass"), count(&r, "FAIL"), count(&r, "skip"),
    );
    if c.is_empty() || r.is_empty() {
        println!("compare: a suite printed no TAP (see {})", dir.display());
        return 1;
    }
    i32::from(differ != 0)
}
