//! Runs one case in a child process with a timeout: `__run_test()` + `__wait_for_test()`.
//!
//! The child puts itself in its own process group (`setpgrp()`), runs setup, the test and
//! teardown, and `_exit()`s with the case's exit code. The parent waits on a pidfd for at most
//! the case's timeout; on timeout it `SIGKILL`s the whole process group. The verdict follows
//! the C harness: exit 0 is a pass, 4 a skip, any other exit a failure ("Test failed"),
//! `SIGABRT` a failed assertion ("Test terminated by assertion"), any other signal
//! "Test terminated unexpectedly by signal N".
//!
//! Two additions to C: once the case is over, whatever is left of its process group (a
//! grandchild a failing test forked and never reaped) is killed, so it cannot outlive the case;
//! and a case killed at its timeout gets [`REAP_GRACE_SECS`] (scaled) to be reaped. C calls
//! `waitpid(WNOHANG)` right after the kill and reports the timeout either way; a child that is
//! still not reaped after the grace period (stuck in the kernel, where SIGKILL does not reach
//! it) fails as `timeout, unkillable: wchan W / stack: …` and is left behind, and the suite
//! goes on with the next case. (And where C gives up on a child it cannot open a pidfd for or
//! poll, leaving it running, this runner kills its group and reaps it within the same grace.)

use std::io::Write as _;
use std::time::{Duration, Instant};

use super::{assert, Case, CaseResult, KSFT_FAIL, KSFT_PASS, KSFT_SKIP, KSFT_XFAIL, KSFT_XPASS};

/// How the child reports: in kselftest mode its log lines go to stderr as they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    /// Log lines are written to stderr as they happen (C behaviour).
    Stderr,
    /// Log lines are only collected into [`CaseResult::log`].
    Capture,
}

/// Runs `case` in a forked child and returns what the parent concluded.
pub fn run_case(case: &Case, mode: LogMode) -> CaseResult {
    assert::reset();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();

    // SAFETY: fork() has no memory-safety preconditions; the harness forks from a
    // single-threaded process (both front ends run cases sequentially on the main thread),
    // so the child's copy of every lock is unlocked.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return finish(
            case,
            mode,
            KSFT_FAIL,
            Some("ERROR SPAWNING TEST CHILD".into()),
        );
    }
    if child == 0 {
        run_child(case, mode);
    }

    let (code, diag) = wait_for_test(case, child);
    // Anything the case left behind in its process group goes with it.
    // SAFETY: plain kill(2) on the case's own process group.
    unsafe { libc::kill(-child, libc::SIGKILL) };
    finish(case, mode, code, diag)
}

fn finish(case: &Case, mode: LogMode, code: i32, diag: Option<String>) -> CaseResult {
    if let Some(d) = &diag {
        if mode == LogMode::Stderr {
            eprintln!("# {}: {d}", case.test);
        }
    }
    CaseResult {
        exit_code: code,
        reason: assert::reason(),
        log: assert::log(),
        diagnostic: diag,
    }
}

fn run_child(case: &Case, mode: LogMode) -> ! {
    // SAFETY: setpgid(0, 0) only changes this process's group; the signals the run may have
    // hooked (to restore settings) get their default action back in the case.
    unsafe {
        libc::setpgid(0, 0);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    assert::enter_case(case.test, mode == LogMode::Stderr);
    case.run_body();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit() ends the process without running the parent's atexit work.
    unsafe { libc::_exit(assert::exit_code()) }
}

/// The environment variable that multiplies every case's timeout (a positive integer; unset
/// or invalid: 1). For slow kernels, e.g. KASAN under TCG, where a case's work takes ten
/// times longer; the lab's `debug` profile sets it.
pub const TIMEOUT_SCALE_ENV: &str = "HMM_TESTS_TIMEOUT_SCALE";

/// The factor from [`TIMEOUT_SCALE_ENV`].
fn timeout_scale() -> u64 {
    std::env::var(TIMEOUT_SCALE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| (1..=1000).contains(&n))
        .unwrap_or(1)
}

/// Seconds a case killed at its timeout gets to be reaped (scaled by [`TIMEOUT_SCALE_ENV`])
/// before the suite gives up on it: a child stuck in the kernel (uninterruptible sleep, e.g.
/// after an oops in a driver) never dies of SIGKILL, and waiting for it would hang the suite.
pub const REAP_GRACE_SECS: u64 = 10;

/// How long the parent waits and how it kills: [`Limits::of`] for a real case; the tests of
/// the harness substitute a harmless `kill_signal` to get a child that outlives its kill.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// The case's timeout.
    timeout: Duration,
    /// How long a killed case may take to be reaped.
    grace: Duration,
    /// The signal sent to the case's process group at its timeout (`SIGKILL`).
    kill_signal: libc::c_int,
}

impl Limits {
    fn of(case: &Case) -> Self {
        let scale = timeout_scale();
        Self {
            timeout: Duration::from_secs(u64::from(case.timeout) * scale),
            grace: Duration::from_secs(REAP_GRACE_SECS * scale),
            kill_signal: libc::SIGKILL,
        }
    }
}

/// `__wait_for_test()`: returns the case's exit code and the harness's diagnostic, if any.
fn wait_for_test(case: &Case, pid: libc::pid_t) -> (i32, Option<String>) {
    wait_for_child(pid, Limits::of(case))
}

/// The body of `__wait_for_test()`, with one difference: a child killed at its timeout is
/// given `limits.grace` to be reaped (C does not wait at all: `waitpid(WNOHANG)`); if it still
/// is not, it is left behind and the case fails with where it is stuck in the kernel.
fn wait_for_child(pid: libc::pid_t, limits: Limits) -> (i32, Option<String>) {
    // SAFETY: pidfd_open(2) on our own child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if pidfd < 0 {
        kill_group(pid, limits.kill_signal);
        let _ = reap_polling(pid, limits.grace);
        return (KSFT_FAIL, Some("unable to open pidfd".into()));
    }
    let exited = pidfd_readable(pidfd, limits.timeout);
    let timed_out = matches!(exited, Ok(false));
    if exited.is_err() || timed_out {
        // Signal the process group.
        kill_group(pid, limits.kill_signal);
    }
    let reaped = match exited {
        Err(_) => None,
        // A readable pidfd: the child is a zombie already.
        Ok(true) => Some(true),
        Ok(false) => pidfd_readable(pidfd, limits.grace).ok(),
    };
    // SAFETY: closing the pidfd we opened.
    unsafe { libc::close(pidfd) };
    if exited.is_err() {
        let _ = reap_polling(pid, limits.grace);
        return (KSFT_FAIL, Some("unable to wait on child pidfd".into()));
    }

    let status = match reaped.map(|_| reap_now(pid)) {
        Some(Ok(Some(status))) => status,
        Some(Err(errno)) => {
            return (
                KSFT_FAIL,
                Some(format!("Failed to wait for PID {pid} (errno: {errno})")),
            )
        }
        // Not reaped within the grace period, or (never seen) readable but not reapable.
        Some(Ok(None)) | None => {
            let what = if timed_out {
                "timeout, unkillable"
            } else {
                "not reapable"
            };
            return (KSFT_FAIL, Some(format!("{what}: {}", stuck_report(pid))));
        }
    };

    if timed_out {
        return (KSFT_FAIL, Some("Test terminated by timeout".into()));
    }
    verdict(status)
}

/// The verdict of a reaped child's wait status, as `__wait_for_test()`.
fn verdict(status: libc::c_int) -> (i32, Option<String>) {
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        return match code {
            KSFT_SKIP | KSFT_XPASS | KSFT_XFAIL => (code, None),
            KSFT_PASS => (KSFT_PASS, None),
            _ => (KSFT_FAIL, Some("Test failed".into())),
        };
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        if sig == libc::SIGABRT {
            return (KSFT_FAIL, Some("Test terminated by assertion".into()));
        }
        return (
            KSFT_FAIL,
            Some(format!("Test terminated unexpectedly by signal {sig}")),
        );
    }
    (
        KSFT_FAIL,
        Some(format!("Test ended in some other way [{status}]")),
    )
}

fn kill_group(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: plain kill(2) on the case's own process group.
    unsafe { libc::kill(-pid, sig) };
}

/// Waits at most `wait` for `pidfd` to become readable (the process has exited and can be
/// reaped). `Ok(false)`: not within `wait`.
fn pidfd_readable(pidfd: libc::c_int, wait: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Rounded up: a wait never ends before `wait`.
        let ms = libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
        match ret {
            0 => return Ok(false),
            r if r > 0 => return Ok(true),
            _ => {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EINTR) {
                    return Err(err);
                }
            }
        }
    }
}

/// `waitpid(pid, WNOHANG)`: the status if the child was reaped, `None` if it has not ended,
/// the errno on failure.
fn reap_now(pid: libc::pid_t) -> Result<Option<libc::c_int>, i32> {
    loop {
        let mut status: libc::c_int = KSFT_FAIL << 8;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(Some(status));
        }
        if r == 0 {
            return Ok(None);
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno != libc::EINTR {
            return Err(errno);
        }
    }
}

/// Reaps `pid` if it ends within `wait` (polling, for when there is no pidfd).
fn reap_polling(pid: libc::pid_t, wait: Duration) -> Option<libc::c_int> {
    let deadline = Instant::now() + wait;
    loop {
        match reap_now(pid) {
            Ok(Some(status)) => return Some(status),
            Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// How many lines of a stuck thread's kernel stack the diagnostic quotes.
const STACK_LINES: usize = 4;

/// Where a process that does not die is stuck: `wchan W / stack: f1 <- f2 … / syscall N ARG0
/// ARG1 (pid P tid T state S, left unreaped)`, for its thread in uninterruptible sleep (`D`)
/// if any, else its first thread with a wait channel. `/proc/PID/task/TID/stack` needs root
/// and `CONFIG_STACKTRACE`; without them the error is quoted instead. The system call (its
/// number and first two arguments: for an ioctl the fd and the request) is what is left to
/// tell when the thread spins in the kernel (state R, wchan 0).
pub(crate) fn stuck_report(pid: libc::pid_t) -> String {
    let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
            .map(|tid| {
                let dir = format!("/proc/{pid}/task/{tid}");
                let state = std::fs::read_to_string(format!("{dir}/stat"))
                    .ok()
                    .and_then(|s| stat_state(&s))
                    .unwrap_or('?');
                let wchan = std::fs::read_to_string(format!("{dir}/wchan"))
                    .map(|w| w.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                (tid, state, wchan)
            })
            .collect::<Vec<_>>(),
        Err(e) => return format!("wchan ? / /proc/{pid}/task: {e} (pid {pid}, left unreaped)"),
    };
    let waiting = |w: &str| !w.is_empty() && w != "0" && w != "?";
    let Some((tid, state, wchan)) = tasks
        .iter()
        .find(|t| t.1 == 'D')
        .or_else(|| tasks.iter().find(|t| waiting(&t.2)))
        .or_else(|| tasks.first())
        .cloned()
    else {
        return format!("wchan ? / no threads left (pid {pid}, left unreaped)");
    };
    let stack = match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stack")) {
        Ok(s) => {
            let frames = stack_frames(&s, STACK_LINES);
            if frames.is_empty() {
                "stack: empty".to_string()
            } else {
                format!("stack: {frames}")
            }
        }
        Err(e) => format!("stack unreadable: {e}"),
    };
    // For a thread spinning in the kernel (state R, wchan 0, no stack): which system call.
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unreadable: {e}"));
    format!(
        "wchan {wchan} / {stack} / syscall {syscall} (pid {pid} tid {tid} state {state}, left unreaped)"
    )
}

/// The state letter of a `/proc/…/stat` line (after the parenthesised command name, which
/// may itself hold spaces and parentheses).
fn stat_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The first `n` frames of a `/proc/…/stack` text, without their `[<0>] ` prefixes, joined
/// by ` <- ` (callee first, as the file lists them).
fn stack_frames(stack: &str, n: usize) -> String {
    stack
        .lines()
        .map(|l| match l.split_once("] ") {
            Some((_, f)) => f.trim(),
            None => l.trim(),
        })
        .filter(|f| !f.is_empty())
        .take(n)
        .collect::<Vec<_>>()
        .join(" <- ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forks a child that sleeps until killed (async-signal-safe only: the test process is
    /// multi-threaded).
    fn sleeping_child() -> libc::pid_t {
        // SAFETY: the child only calls setpgid, pause and _exit, which are async-signal-safe.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: as above: async-signal-safe calls only.
            unsafe {
                libc::setpgid(0, 0);
                loop {
                    libc::pause();
                }
            }
        }
        // As the child does, so the group exists when the parent signals it.
        // SAFETY: setpgid on our own child (EACCES after its exec is impossible: it never execs).
        unsafe { libc::setpgid(pid, pid) };
        pid
    }

    /// The real waiting path with one substitution: the "kill" at the timeout is signal 0,
    /// which the child survives, as a child stuck in the kernel survives SIGKILL.
    #[test]
    fn a_child_that_outlives_its_kill_fails_the_case_and_is_left_behind() {
        let pid = sleeping_child();
        let limits = Limits {
            timeout: Duration::from_millis(300),
            grace: Duration::from_millis(500),
            kill_signal: 0,
        };
        let t0 = Instant::now();
        let (code, diag) = wait_for_child(pid, limits);
        let took = t0.elapsed();
        // The child is still there: the harness did not reap it.
        assert_eq!(reap_now(pid), Ok(None));
        kill_group(pid, libc::SIGKILL);
        // SAFETY: waitpid on our own (now killed) child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };

        assert_eq!(code, KSFT_FAIL);
        let diag = diag.expect("a diagnostic");
        assert!(diag.starts_with("timeout, unkillable: wchan "), "{diag}");
        // pause(2) sleeps interruptibly in the kernel: a real wait channel, state S.
        let wchan = diag["timeout, unkillable: wchan ".len()..]
            .split(' ')
            .next()
            .unwrap();
        assert!(!wchan.is_empty() && wchan != "0" && wchan != "?", "{diag}");
        assert!(
            diag.contains(&format!("(pid {pid} tid {pid} state S, left unreaped)")),
            "{diag}"
        );
        assert!(diag.contains(" / stack"), "{diag}");
        assert!(diag.contains(" / syscall "), "{diag}");
        assert!(
            took >= Duration::from_millis(800) && took < Duration::from_secs(5),
            "waited {took:?}"
        );
    }

    #[test]
    fn a_child_that_dies_of_its_kill_is_a_timeout() {
        let pid = sleeping_child();
        let limits = Limits {
            timeout: Duration::from_millis(200),
            grace: Duration::from_secs(10),
            kill_signal: libc::SIGKILL,
        };
        let t0 = Instant::now();
        let (code, diag) = wait_for_child(pid, limits);
        assert_eq!(code, KSFT_FAIL);
        assert_eq!(diag.as_deref(), Some("Test terminated by timeout"));
        assert!(t0.elapsed() < Duration::from_secs(5));
        // Reaped by the harness.
        assert_eq!(reap_now(pid), Err(libc::ECHILD));
    }

    #[test]
    fn stack_and_stat_parsing() {
        let stack = "[<0>] dmirror_write+0x1a/0x2b0 [test_hmm]\n[<0>] dmirror_fops_unlocked_ioctl+0x99/0x120 [test_hmm]\n[<0>] __x64_sys_ioctl+0x8b/0xc0\n[<0>] do_syscall_64+0x55/0x100\n[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n";
        assert_eq!(
            stack_frames(stack, 3),
            "dmirror_write+0x1a/0x2b0 [test_hmm] <- dmirror_fops_unlocked_ioctl+0x99/0x120 [test_hmm] <- __x64_sys_ioctl+0x8b/0xc0"
        );
        assert_eq!(stack_frames("", 3), "");
        assert_eq!(stat_state("123 (hmm (tests) x) D 1 2 3"), Some('D'));
        assert_eq!(stat_state("garbage"), None);
    }
}
