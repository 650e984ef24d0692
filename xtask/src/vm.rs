//! Boot the lab kernel with virtme-ng and run a command in it.
//!
//! virtme-ng (PyPI) exports the host filesystem to the guest, so the checkout, the cache
//! and /tmp are visible at the same paths; we add them read-write. Whether KVM or TCG runs
//! the guest is `crate::accel`'s decision. Every boot has a timeout, and a guest that does
//! not end in time is killed.
use crate::cache;
use crate::progress::Ticker;
use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Guest RAM. The top 512 MiB above 4 GiB are reserved for the coherent devices.
pub const MEMORY: &str = "6G";
/// Guest vCPUs of the lab's boots (the host has 2 cores).
pub const CPUS: u32 = 2;
/// `memmap=` reservation: 512 MiB at 4 GiB, split into dev0 and dev1 (256 MiB each).
pub const MEMMAP: &str = "memmap=512M$0x100000000";
/// Physical addresses of the reserved ranges, as the drivers' `spm_addr_dev*` parameters.
pub const SPM_PAIR: (&str, &str) = ("0x100000000", "0x110000000");

/// [`SPM_PAIR`] as the drivers' module parameters.
pub fn spm_modargs() -> String {
    format!("spm_addr_dev0={} spm_addr_dev1={}", SPM_PAIR.0, SPM_PAIR.1)
}

/// Everything one VM run needs.
pub struct VmRun<'a> {
    /// vng executable.
    pub vng: &'a Path,
    /// Kernel tree (vng --run).
    pub tree: &'a Path,
    /// Use KVM.
    pub kvm: bool,
    /// Directory for params, output, rc and the console log.
    pub dir: PathBuf,
    /// Module to load (empty: none) and its parameters.
    pub ko: Option<PathBuf>,
    /// Module parameters.
    pub modargs: String,
    /// THP mode: madvise or always.
    pub thp: String,
    /// Huge pages to reserve.
    pub hugepages: u32,
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Wall-clock limit for the whole boot.
    pub timeout: Duration,
    /// Print the command's output as it comes.
    pub stream: bool,
    /// Give the guest its own tmpfs /tmp (the suites need O_TMPFILE, which 9p lacks).
    pub private_tmp: bool,
    /// Guest vCPUs.
    pub cpus: u32,
    /// Instruction time: QEMU's `-icount shift=0,sleep=off` (TCG only; single-threaded TCG),
    /// so the guest clock counts executed instructions and the same work measures the same.
    pub icount: bool,
}

/// The QEMU option behind [`VmRun::icount`].
pub const ICOUNT: &str = "-icount shift=0,sleep=off";

/// The outcome of one VM run.
pub struct VmResult {
    /// The command's exit code, or None when the guest did not report one (crash, timeout).
    pub rc: Option<i32>,
    /// Whether the timeout killed the guest.
    pub timed_out: bool,
    /// The whole guest console.
    pub console: PathBuf,
    /// The command's output.
    pub output: PathBuf,
    /// Boot-to-exit wall time.
    pub elapsed: Duration,
}

impl VmResult {
    /// Prints how long the guest ran and where its console log is.
    pub fn print_elapsed(&self) {
        eprintln!(
            "    guest ran {:.1}s; console log: {}",
            self.elapsed.as_secs_f64(),
            self.console.display()
        );
    }

    /// What went wrong with the boot itself, if anything: killed at `timeout_s`, or no exit
    /// code (a crash or an early exit). `None` when the guest reported its exit code.
    pub fn problem(&self, timeout_s: u64) -> Option<String> {
        match (self.rc, self.timed_out) {
            (_, true) => Some(format!(
                "the guest did not finish within {timeout_s} s (killed)"
            )),
            (None, false) => Some("the guest gave no exit code (crash or early exit)".into()),
            (Some(_), false) => None,
        }
    }

    /// The command's exit code, or the lab's for a boot that went wrong (124 killed at
    /// the timeout, 125 no exit code), saying which after `who: `.
    pub fn exit_code(&self, who: &str, timeout_s: u64) -> i32 {
        match (self.problem(timeout_s), self.rc) {
            (None, Some(c)) => c,
            (problem, _) => {
                let problem = problem.unwrap_or_default();
                eprintln!("{who}: {problem}; see the console log");
                if self.timed_out {
                    124
                } else {
                    125
                }
            }
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl VmRun<'_> {
    /// Boot, run, and collect.
    pub fn run(&self) -> Result<VmResult> {
        std::fs::create_dir_all(&self.dir)?;
        let params =
            format!(
            "KO={}\nMODARGS={}\nTHP={}\nHUGEPAGES={}\nPRIVATE_TMP={}\nWS={}\nCWD={}\nCMD=({})\n",
            shell_quote(&self.ko.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
            shell_quote(&self.modargs),
            shell_quote(&self.thp),
            self.hugepages,
            u8::from(self.private_tmp),
            shell_quote(&cache::workspace().display().to_string()),
            shell_quote(&std::env::current_dir()?.display().to_string()),
            self.cmd.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "),
        );
        std::fs::write(self.dir.join("params"), params)?;
        for f in ["rc", "output"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        let console = self.dir.join("console.log");
        let out = std::fs::File::create(&console)?;
        let guest = cache::xtask_dir().join("scripts/guest.sh");
        let ws = cache::workspace();
        let mut cmd = Command::new(self.vng);
        // vng starts virtme-run from PATH: put the virtualenv's bin first.
        let bin = self.vng.parent().context("vng path")?;
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs)?);
        cmd.arg("--run")
            .arg(self.tree)
            .args([
                "--memory",
                MEMORY,
                "--cpus",
                &self.cpus.to_string(),
                "--verbose",
            ])
            .args(["--append", MEMMAP])
            .arg("--rwdir")
            .arg("/tmp")
            .arg("--rwdir")
            .arg(&ws)
            .arg("--rwdir")
            .arg(&self.dir)
            .arg("--exec")
            .arg(format!("bash {} {}", guest.display(), self.dir.display()));
        if !self.kvm {
            cmd.arg("--disable-kvm");
        }
        if self.icount {
            if self.kvm {
                bail!("instruction time (icount) needs TCG");
            }
            cmd.arg(format!("--qemu-opts={ICOUNT}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let start = Instant::now();
        let mut child = cmd.spawn().context("spawn vng")?;
        let output = self.dir.join("output");
        let mut shown = 0u64;
        let mut timed_out = false;
        // A line a minute while the guest shows nothing: how long it has run, the console's
        // last line.
        let mut ticker = Ticker::new("guest up ", &console, 0);
        loop {
            if self.stream {
                let was = shown;
                shown = stream_new(&output, shown);
                if shown != was {
                    ticker.postpone();
                }
            }
            ticker.poll();
            if child.try_wait()?.is_some() {
                break;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                // Kill the whole process group (vng, qemu).
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if self.stream {
            stream_new(&output, shown);
        }
        let rc = std::fs::read_to_string(self.dir.join("rc"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Ok(VmResult {
            rc,
            timed_out,
            console,
            output,
            elapsed: start.elapsed(),
        })
    }
}

/// Print what was appended to `path` since `from`; returns the new offset.
fn stream_new(path: &Path, from: u64) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else {
        return from;
    };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return from;
    }
    let mut buf = Vec::new();
    let n = f.read_to_end(&mut buf).unwrap_or(0) as u64;
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(&buf);
    let _ = so.flush();
    from + n
}

#[cfg(test)]
mod tests {
    use super::VmResult;
    use std::time::Duration;

    fn result(rc: Option<i32>, timed_out: bool) -> VmResult {
        VmResult {
            rc,
            timed_out,
            console: "console.log".into(),
            output: "output".into(),
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn exit_codes_of_a_boot() {
        assert_eq!(result(Some(3), false).exit_code("t", 10), 3);
        assert_eq!(result(Some(0), false).problem(10), None);
        assert_eq!(result(None, true).exit_code("t", 10), 124);
        assert_eq!(result(Some(0), true).exit_code("t", 10), 124);
        assert_eq!(result(None, false).exit_code("t", 10), 125);
        assert!(result(None, true)
            .problem(10)
            .unwrap()
            .contains("within 10 s"));
    }
}
