//! Runs one case in a child process with a timeout: `__run_test()` + `__wait_for_test()`.
//!
//! The child puts itself in its own process group (`setpgrp()`), runs setup, the test and
//! teardown, and `_exit()`s with the case's exit code. The parent waits on a pidfd for at most
//! the case's timeout; on timeout it `SIGKILL`s the whole process group. The verdict follows
//! the C harness: exit 0 is a pass, 4 a skip, any other exit a failure ("Test failed"),
//! `SIGABRT` a failed assertion ("Test terminated by assertion"), any other signal
//! "Test terminated unexpectedly by signal N".
//!
//! One addition to C: once the case is over, whatever is left of its process group (a
//! grandchild a failing test forked and never reaped) is killed, so it cannot outlive the case.

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

/// `__wait_for_test()`: returns the case's exit code and the harness's diagnostic, if any.
fn wait_for_test(case: &Case, pid: libc::pid_t) -> (i32, Option<String>) {
    // SAFETY: pidfd_open(2) on our own child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if pidfd < 0 {
        kill_and_reap(pid);
        return (KSFT_FAIL, Some("unable to open pidfd".into()));
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(case.timeout) * timeout_scale());
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ret < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // SAFETY: closing the pidfd we opened.
            unsafe { libc::close(pidfd) };
            kill_and_reap(pid);
            return (KSFT_FAIL, Some("unable to wait on child pidfd".into()));
        }
        if ret == 0 {
            timed_out = true;
            // SAFETY: kill(2) on the case's process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        break;
    }
    // SAFETY: closing the pidfd we opened.
    unsafe { libc::close(pidfd) };

    let mut status: libc::c_int = KSFT_FAIL << 8;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return (
                KSFT_FAIL,
                Some(format!(
                    "Failed to wait for PID {pid} (errno: {})",
                    err.raw_os_error().unwrap_or(0)
                )),
            );
        }
    }

    if timed_out {
        return (KSFT_FAIL, Some("Test terminated by timeout".into()));
    }
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

fn kill_and_reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: kill/waitpid on our own child.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}
