//! One line per stage with its elapsed time; the full output of each stage goes to a log.
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A stage of a long task: prints `==> name` when it starts and `    done in Ns` at the end.
pub struct Stage {
    name: String,
    start: Instant,
}

impl Stage {
    /// Start a stage (prints one line).
    pub fn start(name: impl Into<String>) -> Self {
        let name = name.into();
        eprintln!("==> {name}");
        Stage {
            name,
            start: Instant::now(),
        }
    }

    /// End the stage (prints its elapsed time).
    pub fn done(self) {
        eprintln!(
            "    {} done in {:.1}s",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Run `cmd` with stdout and stderr appended to `log`; on failure, show the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open log {}", log.display()))?;
    let err = out.try_clone()?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("spawn {:?}", cmd.get_program()))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for l in tail.iter().rev() {
            eprintln!("    | {l}");
        }
        bail!(
            "{:?} failed ({status}); full log: {}",
            cmd.get_program(),
            log.display()
        );
    }
    Ok(())
}
