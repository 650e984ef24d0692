//! One line per stage with its elapsed time; the full output of each stage goes to a log.
//! A stage that runs long says so once a minute: its elapsed time and what its log says last
//! (with the count of build steps so far, for kbuild's `  CC      mm/memory.o` lines).
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often a running stage prints its progress line.
pub const TICK: Duration = Duration::from_secs(60);

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

/// What a log has said so far: its last line and how many kbuild steps it holds. Fed the
/// log's text in chunks as it grows (a chunk may end inside a line).
#[derive(Default)]
pub struct LogTail {
    /// The unfinished last line of the text fed so far.
    partial: String,
    /// The last complete, non-blank line.
    last: String,
    /// kbuild steps (`  CC      mm/memory.o`, `  RUSTC L rust/core.o`, `  LD [M]  x.ko`).
    steps: u64,
}

/// Whether `line` is a kbuild step: two spaces, an upper-case command, then its target.
fn is_kbuild_step(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let cmd_ok = words.next().is_some_and(|w| {
        w.starts_with(|c: char| c.is_ascii_uppercase())
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    });
    cmd_ok && words.next().is_some()
}

impl LogTail {
    /// Take in the next chunk of the log.
    pub fn feed(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        let Some(end) = self.partial.rfind('\n') else {
            return;
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        for line in done.lines() {
            // Consoles end lines with \r\n and may carry other control characters.
            let line: String = line.chars().filter(|c| !c.is_control()).collect();
            if is_kbuild_step(&line) {
                self.steps += 1;
            }
            if !line.trim().is_empty() {
                self.last = line.trim().to_string();
            }
        }
    }

    /// The progress line of a stage `elapsed` into its run.
    pub fn line(&self, elapsed: Duration) -> String {
        let s = elapsed.as_secs();
        let mut out = format!("{}m{:02}s", s / 60, s % 60);
        if self.steps > 0 {
            out.push_str(&format!(", {} build steps so far", self.steps));
        }
        if self.last.is_empty() {
            out.push_str(", nothing logged yet");
        } else {
            out.push_str(&format!(", last: {}", cut(&self.last, 100)));
        }
        out
    }
}

/// `s` cut to `n` characters (an ellipsis marks the cut).
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut c: String = s.chars().take(n - 1).collect();
    c.push('…');
    c
}

/// Prints a progress line once per [`TICK`] for a stage whose output goes to a log file:
/// the time since the ticker started and what the log (from `offset` on) says last.
pub struct Ticker {
    label: &'static str,
    start: Instant,
    due: Instant,
    path: PathBuf,
    offset: u64,
    tail: LogTail,
}

impl Ticker {
    /// A ticker for `path`, reading it from `offset` (what the stage appends); its lines
    /// start with `label` (e.g. `"guest up "`).
    pub fn new(label: &'static str, path: &Path, offset: u64) -> Self {
        let now = Instant::now();
        Ticker {
            label,
            start: now,
            due: now + TICK,
            path: path.to_path_buf(),
            offset,
            tail: LogTail::default(),
        }
    }

    /// Read what the log gained; print the progress line when one is due.
    pub fn poll(&mut self) {
        if Instant::now() < self.due {
            return;
        }
        if let Ok(mut f) = File::open(&self.path) {
            let mut buf = Vec::new();
            if f.seek(SeekFrom::Start(self.offset)).is_ok() && f.read_to_end(&mut buf).is_ok() {
                self.offset += buf.len() as u64;
                self.tail.feed(&String::from_utf8_lossy(&buf));
            }
        }
        eprintln!(
            "    ... {}{}",
            self.label,
            self.tail.line(self.start.elapsed())
        );
        self.postpone();
    }

    /// Push the next line a whole tick away (the stage has just shown signs of life).
    pub fn postpone(&mut self) {
        self.due = Instant::now() + TICK;
    }
}

/// Run `cmd` with stdout and stderr appended to `log`, a progress line a minute while it
/// runs; on failure, show the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open log {}", log.display()))?;
    let start = out.metadata().map(|m| m.len()).unwrap_or(0);
    let err = out.try_clone()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("spawn {:?}", cmd.get_program()))?;
    let mut ticker = Ticker::new("", log, start);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        ticker.poll();
        std::thread::sleep(Duration::from_millis(500));
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_kbuild_steps_and_keeps_the_last_line() {
        let mut t = LogTail::default();
        t.feed("== build bzImage modules (make LLVM=1 -j2)\n  CC      mm/mem");
        // The step is not complete yet: not counted, not the last line.
        assert_eq!(t.steps, 0);
        assert_eq!(t.last, "== build bzImage modules (make LLVM=1 -j2)");
        t.feed("ory.o\n  RUSTC L rust/core.o\n  LD [M]  lib/test_hmm.ko\n\n");
        assert_eq!(t.steps, 3);
        assert_eq!(
            t.line(Duration::from_secs(125)),
            "2m05s, 3 build steps so far, last: LD [M]  lib/test_hmm.ko"
        );
    }

    #[test]
    fn other_logs_show_their_last_line_only() {
        let mut t = LogTail::default();
        assert_eq!(t.line(Duration::from_secs(60)), "1m00s, nothing logged yet");
        t.feed("I: Retrieving libc6 2.41-12\r\nI: Validating libc6\r\n  \n");
        // Neither "I: …" nor a blank line is a build step.
        assert_eq!(
            t.line(Duration::from_secs(61)),
            "1m01s, last: I: Validating libc6"
        );
        assert!(!is_kbuild_step("  make[1]: Entering directory"));
        assert!(!is_kbuild_step("  CC"));
        assert!(is_kbuild_step("  HOSTCC  scripts/basic/fixdep"));
    }

    #[test]
    fn long_lines_are_cut() {
        let mut t = LogTail::default();
        t.feed(&format!("{}\n", "x".repeat(300)));
        let l = t.line(Duration::ZERO);
        assert!(l.ends_with('…'));
        assert_eq!(l.chars().count(), "0m00s, last: ".len() + 100);
    }
}
