//! Compiles a small C program against the real kernel header `lib/test_hmm_uapi.h` and
//! compares what it prints (layout, every mainline request number, every constant) with
//! `hmm_sys`.
//!
//! The header comes from `$HMM_KERNEL_SRC` (a kernel tree, or the header file itself), else
//! a tree in `/usr/src/linux-source-*`, else the lab's: a kernel tree it built
//! (`<lab cache>/kernel-*/src`), else the chroot's `linux-source-7.3` tarball (the header is
//! extracted once into Cargo's test tmpdir). The lab cache is `$HMM_LAB_CACHE`, else
//! `$XDG_CACHE_HOME/hmm-rs`, else `~/.cache/hmm-rs`, as `cargo xtask lab` has it.
//!
//! Without a header or a C compiler the test is reported as ignored, with the reason (its
//! own harness: libtest-mimic), never as passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hmm_sys::{hmm_dmirror_cmd, mainline};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

const HEADER: &str = "lib/test_hmm_uapi.h";

/// Why the comparison could not run (the test is then ignored with this reason).
type Missing = String;

/// The lab's cache root, as xtask's `cache::root()`.
fn lab_cache() -> PathBuf {
    if let Some(p) = std::env::var_os("HMM_LAB_CACHE") {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"))
        .join("hmm-rs")
}

/// Entries of `dir` whose name starts with `prefix`, sorted.
fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// The header out of the lab chroot's `linux-source-7.3.tar.xz`, extracted once.
fn from_tarball(cache: &Path) -> Option<PathBuf> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hmm-sys-c-header/test_hmm_uapi.h");
    for chroot in entries(cache, "chroot-") {
        for tarball in entries(&chroot.join("usr/src"), "linux-source-") {
            if !tarball.to_string_lossy().ends_with(".tar.xz") {
                continue;
            }
            if out.is_file() {
                return Some(out);
            }
            let extracted = Command::new("tar")
                .arg("-xJf")
                .arg(&tarball)
                .args(["-O", "--wildcards", "*/lib/test_hmm_uapi.h"])
                .output()
                .ok()?;
            if extracted.status.success() && !extracted.stdout.is_empty() {
                std::fs::create_dir_all(out.parent()?).ok()?;
                std::fs::write(&out, extracted.stdout).ok()?;
                return Some(out);
            }
        }
    }
    None
}

fn find_header() -> Result<PathBuf, Missing> {
    if let Some(src) = std::env::var_os("HMM_KERNEL_SRC") {
        let p = PathBuf::from(src);
        let h = if p.is_file() { p } else { p.join(HEADER) };
        if !h.is_file() {
            return Err(format!(
                "HMM_KERNEL_SRC is set but {} does not exist",
                h.display()
            ));
        }
        return Ok(h);
    }
    let cache = lab_cache();
    let trees = entries(Path::new("/usr/src"), "linux-source-")
        .into_iter()
        .chain(
            entries(&cache, "kernel-")
                .into_iter()
                .map(|k| k.join("src")),
        );
    if let Some(h) = trees.map(|t| t.join(HEADER)).find(|h| h.is_file()) {
        return Ok(h);
    }
    from_tarball(&cache).ok_or_else(|| {
        format!(
            "{HEADER} not found: set HMM_KERNEL_SRC to a kernel tree (none in /usr/src or the lab cache {})",
            cache.display()
        )
    })
}

/// The names the C program prints, with the values hmm_sys claims for them.
fn expected() -> Vec<(&'static str, u64)> {
    vec![
        ("sizeof", core::mem::size_of::<hmm_dmirror_cmd>() as u64),
        ("alignof", core::mem::align_of::<hmm_dmirror_cmd>() as u64),
        (
            "offsetof_addr",
            core::mem::offset_of!(hmm_dmirror_cmd, addr) as u64,
        ),
        (
            "offsetof_ptr",
            core::mem::offset_of!(hmm_dmirror_cmd, ptr) as u64,
        ),
        (
            "offsetof_npages",
            core::mem::offset_of!(hmm_dmirror_cmd, npages) as u64,
        ),
        (
            "offsetof_cpages",
            core::mem::offset_of!(hmm_dmirror_cmd, cpages) as u64,
        ),
        (
            "offsetof_faults",
            core::mem::offset_of!(hmm_dmirror_cmd, faults) as u64,
        ),
        ("HMM_DMIRROR_READ", mainline::HMM_DMIRROR_READ.into()),
        ("HMM_DMIRROR_WRITE", mainline::HMM_DMIRROR_WRITE.into()),
        (
            "HMM_DMIRROR_MIGRATE_TO_DEV",
            mainline::HMM_DMIRROR_MIGRATE_TO_DEV.into(),
        ),
        (
            "HMM_DMIRROR_MIGRATE_TO_SYS",
            mainline::HMM_DMIRROR_MIGRATE_TO_SYS.into(),
        ),
        (
            "HMM_DMIRROR_SNAPSHOT",
            mainline::HMM_DMIRROR_SNAPSHOT.into(),
        ),
        (
            "HMM_DMIRROR_EXCLUSIVE",
            mainline::HMM_DMIRROR_EXCLUSIVE.into(),
        ),
        (
            "HMM_DMIRROR_CHECK_EXCLUSIVE",
            mainline::HMM_DMIRROR_CHECK_EXCLUSIVE.into(),
        ),
        ("HMM_DMIRROR_RELEASE", mainline::HMM_DMIRROR_RELEASE.into()),
        ("HMM_DMIRROR_FLAGS", mainline::HMM_DMIRROR_FLAGS.into()),
        (
            "HMM_DMIRROR_READ_UNLOCKED",
            mainline::HMM_DMIRROR_READ_UNLOCKED.into(),
        ),
        (
            "HMM_DMIRROR_FLAG_FAIL_ALLOC",
            hmm_sys::HMM_DMIRROR_FLAG_FAIL_ALLOC,
        ),
        (
            "HMM_DMIRROR_PROT_ERROR",
            hmm_sys::HMM_DMIRROR_PROT_ERROR.into(),
        ),
        (
            "HMM_DMIRROR_PROT_NONE",
            hmm_sys::HMM_DMIRROR_PROT_NONE.into(),
        ),
        (
            "HMM_DMIRROR_PROT_READ",
            hmm_sys::HMM_DMIRROR_PROT_READ.into(),
        ),
        (
            "HMM_DMIRROR_PROT_WRITE",
            hmm_sys::HMM_DMIRROR_PROT_WRITE.into(),
        ),
        ("HMM_DMIRROR_PROT_PMD", hmm_sys::HMM_DMIRROR_PROT_PMD.into()),
        ("HMM_DMIRROR_PROT_PUD", hmm_sys::HMM_DMIRROR_PROT_PUD.into()),
        (
            "HMM_DMIRROR_PROT_ZERO",
            hmm_sys::HMM_DMIRROR_PROT_ZERO.into(),
        ),
        (
            "HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL",
            hmm_sys::HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL.into(),
        ),
        (
            "HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE",
            hmm_sys::HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE.into(),
        ),
        (
            "HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL",
            hmm_sys::HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL.into(),
        ),
        (
            "HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE",
            hmm_sys::HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE.into(),
        ),
        (
            "HMM_DMIRROR_MEMORY_DEVICE_PRIVATE",
            hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_PRIVATE.into(),
        ),
        (
            "HMM_DMIRROR_MEMORY_DEVICE_COHERENT",
            hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_COHERENT.into(),
        ),
    ]
}

fn c_program(header: &Path) -> String {
    let mut s = String::new();
    s.push_str("#include <stdio.h>\n#include <stddef.h>\n");
    s.push_str(&format!("#include \"{}\"\n", header.display()));
    s.push_str("#define P(name, v) printf(\"%s %llu\\n\", name, (unsigned long long)(v))\n");
    s.push_str("int main(void) {\n");
    s.push_str("  P(\"sizeof\", sizeof(struct hmm_dmirror_cmd));\n");
    s.push_str("  P(\"alignof\", _Alignof(struct hmm_dmirror_cmd));\n");
    for f in ["addr", "ptr", "npages", "cpages", "faults"] {
        s.push_str(&format!(
            "  P(\"offsetof_{f}\", offsetof(struct hmm_dmirror_cmd, {f}));\n"
        ));
    }
    for (name, _) in expected()
        .into_iter()
        .filter(|(n, _)| n.starts_with("HMM_"))
    {
        s.push_str(&format!("  P(\"{name}\", {name});\n"));
    }
    s.push_str("  return 0;\n}\n");
    s
}

fn main() {
    let args = Arguments::from_args();
    let trial =
        Trial::ignorable_test(
            "matches_the_kernel_header",
            || match matches_the_kernel_header()? {
                Ok(()) => Ok(Completion::Completed),
                Err(missing) => Ok(Completion::ignored_with(missing)),
            },
        );
    libtest_mimic::run(&args, vec![trial]).exit();
}

/// Compares; `Ok(Err(why))` when it cannot run (no header, no `cc`).
fn matches_the_kernel_header() -> Result<Result<(), Missing>, Failed> {
    let header = match find_header() {
        Ok(h) => h,
        Err(missing) => return Ok(Err(missing)),
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hmm-sys-c-header");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = dir.join("layout.c");
    let bin = dir.join("layout");
    std::fs::write(&src, c_program(&header)).map_err(|e| format!("{}: {e}", src.display()))?;

    let out = match Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("no C compiler `cc` on PATH".into()));
        }
        Err(e) => return Err(format!("running cc: {e}").into()),
    };
    if !out.status.success() {
        return Err(format!(
            "cc failed on {} (needs linux-libc-dev for <linux/types.h>, <linux/ioctl.h>):\n{}",
            header.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }

    let run = Command::new(&bin)
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    if !run.status.success() {
        return Err(format!("{} exited with {}", bin.display(), run.status).into());
    }
    let printed: BTreeMap<String, u64> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("NAME VALUE");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect();

    let want = expected();
    if printed.len() != want.len() {
        return Err(format!("{} values printed, {} expected", printed.len(), want.len()).into());
    }
    let mut bad = Vec::new();
    for (name, value) in want {
        let got = printed[name];
        if got != value {
            bad.push(format!("{name}: C {got:#x}, hmm_sys {value:#x}"));
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "hmm_sys differs from {}:\n{}",
            header.display(),
            bad.join("\n")
        )
        .into());
    }
    // libtest captures nothing of a custom harness: say what was compared.
    println!(
        "checked {} values against {}",
        printed.len(),
        header.display()
    );
    Ok(Ok(()))
}
