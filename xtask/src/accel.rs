//! KVM or TCG: whether the lab's guests can use KVM. Nested guests hang on some machines
//! although `/dev/kvm` answers, so the answer comes from a short boot with KVM (cut at 60 s),
//! and when that fails from a TCG boot that tells a KVM problem from a broken setup.
//!
//! The answer is kept in the cache twice:
//! - per host boot and kernel tree (`accel-KEY`, KEY from `/proc/sys/kernel/random/boot_id`
//!   and the tree): either answer, for the rest of that host boot;
//! - per host (`accel-host-KEY`, KEY from the host kernel's release, the CPU model and the
//!   QEMU version): only "KVM does not work", so a fresh boot of the same host skips the
//!   82 s probe. "KVM works" is never carried over a host reboot: its probe takes seconds,
//!   and a stale "works" would hang the guest. A lab boot under KVM that ends without an exit
//!   code forgets this boot's answer too ([`forget`]), so the next boot probes again.
//!   Delete `accel-host-*` to probe a host again; `HMM_LAB_ACCEL=kvm|tcg` skips it all.
use crate::cache;
use crate::progress::Stage;
use crate::vm::{VmResult, VmRun, CPUS};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// This host boot's memo for `tree`.
fn boot_memo(tree: &Path, root: &Path) -> PathBuf {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let key = cache::key([
        boot_id.trim().as_bytes(),
        tree.as_os_str().as_encoded_bytes(),
    ]);
    root.join(format!("accel-{key}"))
}

/// The CPU model of `/proc/cpuinfo`'s text (its first `model name`).
fn cpu_model(cpuinfo: &str) -> &str {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim())
        })
        .unwrap_or("")
}

/// What names a host for the per-host memo: kernel release, CPU model, QEMU version.
fn host_id() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let qemu = std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    format!(
        "{} | {} | {}",
        release.trim(),
        cpu_model(&cpuinfo),
        qemu.trim()
    )
}

/// The per-host memo of `host_id`.
fn host_memo(host_id: &str, root: &Path) -> PathBuf {
    root.join(format!("accel-host-{}", cache::key([host_id.as_bytes()])))
}

/// The answer the memos give (true: KVM), if any: this boot's answer, else the host's when it
/// says TCG (a per-host "kvm" is not trusted, see the module's documentation).
fn remembered(boot: Option<&str>, host: Option<&str>) -> Option<bool> {
    let first = |s: &str| s.lines().next().unwrap_or("").trim().to_string();
    match (boot.map(first), host.map(first)) {
        (Some(b), _) => Some(b == "kvm"),
        (None, Some(h)) if h == "tcg" => Some(false),
        _ => None,
    }
}

/// Whether the lab's guests of `tree` use KVM (else TCG); probes when no memo answers.
pub fn kvm(vng: &Path, tree: &Path, root: &Path) -> Result<bool> {
    if let Ok(v) = std::env::var("HMM_LAB_ACCEL") {
        return match v.as_str() {
            "kvm" => Ok(true),
            "tcg" => Ok(false),
            _ => bail!("HMM_LAB_ACCEL must be kvm or tcg, not {v:?}"),
        };
    }
    if !Path::new("/dev/kvm").exists() {
        return Ok(false);
    }
    let memo = boot_memo(tree, root);
    let host = host_id();
    let hmemo = host_memo(&host, root);
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let (b, h) = (read(&memo), read(&hmemo));
    if let Some(kvm) = remembered(b.as_deref(), h.as_deref()) {
        if b.is_none() {
            eprintln!(
                "    KVM did not work on this host before ({}); using TCG",
                hmemo.display()
            );
            std::fs::write(&memo, "tcg")?;
        } else if !kvm && h.is_none() {
            std::fs::write(&hmemo, format!("tcg\n{host}\n"))?;
        }
        return Ok(kvm);
    }
    let key = memo
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("accel")
        .to_string();
    let stage = Stage::start("KVM probe: boot with KVM, 60 s limit");
    // KVM that hangs is cut at 60 s; the TCG check gets 600 s (a debug kernel with KASAN on
    // a loaded host takes minutes to reach init under TCG).
    let probe = |kvm: bool| -> Result<VmResult> {
        VmRun {
            vng,
            tree,
            kvm,
            dir: root.join(format!("{key}.probe-{}", if kvm { "kvm" } else { "tcg" })),
            ko: None,
            modargs: String::new(),
            thp: "madvise".into(),
            hugepages: 0,
            cmd: vec!["true".into()],
            timeout: Duration::from_secs(if kvm { 60 } else { 600 }),
            stream: false,
            private_tmp: false,
            cpus: CPUS,
            icount: false,
        }
        .run()
    };
    let r = probe(true)?;
    let kvm = r.rc == Some(0);
    if !kvm {
        // Tell a KVM problem from a broken setup: TCG must boot, or nothing will.
        let t = probe(false)?;
        if t.rc != Some(0) {
            bail!(
                "the lab VM does not boot even under TCG; console: {}",
                t.console.display()
            );
        }
    }
    eprintln!(
        "    KVM {} ({:.1}s{}); using {}",
        if kvm { "works" } else { "does not work" },
        r.elapsed.as_secs_f64(),
        if r.timed_out { ", timed out" } else { "" },
        if kvm { "KVM" } else { "TCG" }
    );
    std::fs::write(&memo, if kvm { "kvm" } else { "tcg" })?;
    if !kvm {
        std::fs::write(&hmemo, format!("tcg\n{host}\n"))?;
    }
    stage.done();
    Ok(kvm)
}

/// Forget this host boot's answer for `tree` (a guest under KVM ended without an exit code:
/// the next boot probes again rather than trusting KVM).
pub fn forget(tree: &Path, root: &Path) {
    let _ = std::fs::remove_file(boot_memo(tree, root));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_memo_is_trusted_only_when_it_says_tcg() {
        assert_eq!(remembered(None, None), None);
        assert_eq!(
            remembered(None, Some("tcg\nrelease | cpu | qemu\n")),
            Some(false)
        );
        // "KVM works" is re-probed on every host boot.
        assert_eq!(remembered(None, Some("kvm\n")), None);
        // This boot's own answer wins, either way.
        assert_eq!(remembered(Some("kvm"), Some("tcg\n")), Some(true));
        assert_eq!(remembered(Some("tcg"), None), Some(false));
    }

    #[test]
    fn host_keys_name_the_cpu_model() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(cpu_model(cpuinfo), "Intel(R) Xeon(R) Processor");
        assert_eq!(cpu_model(""), "");
        let root = Path::new("/c");
        assert_ne!(
            host_memo("6.1 | A | q", root),
            host_memo("6.2 | A | q", root)
        );
        assert_ne!(
            host_memo("6.1 | A | q", root),
            host_memo("6.1 | B | q", root)
        );
        assert!(host_memo("x", root)
            .to_string_lossy()
            .starts_with("/c/accel-host-"));
    }
}
