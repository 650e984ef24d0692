//! Compiles a small C program against the real kernel header `lib/test_hmm_uapi.h` and
//! compares what it prints (layout, every mainline request number, every constant) with
//! `hmm_sys`. The header comes from `$HMM_KERNEL_SRC` (a kernel tree, or the header file
//! itself), else `/work/linux-7.3` or `/usr/src/linux-source-*`; without one the test says
//! SKIPPED and passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hmm_sys::{hmm_dmirror_cmd, mainline};

const HEADER: &str = "lib/test_hmm_uapi.h";

/// Writes to the real stderr, which libtest does not capture, so a skip shows in `cargo test`.
fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn find_header() -> Option<PathBuf> {
    if let Some(src) = std::env::var_os("HMM_KERNEL_SRC") {
        let p = PathBuf::from(src);
        let h = if p.is_file() { p } else { p.join(HEADER) };
        if !h.is_file() {
            say(&format!(
                "note: HMM_KERNEL_SRC is set but {} does not exist",
                h.display()
            ));
            return None;
        }
        return Some(h);
    }
    let mut candidates = vec![PathBuf::from("/work/linux-7.3").join(HEADER)];
    if let Ok(dir) = std::fs::read_dir("/usr/src") {
        let mut trees: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("linux-source-"))
            })
            .map(|p| p.join(HEADER))
            .collect();
        trees.sort();
        candidates.extend(trees);
    }
    candidates.into_iter().find(|p| p.is_file())
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

#[test]
fn matches_the_kernel_header() {
    let Some(header) = find_header() else {
        say("SKIPPED: test_hmm_uapi.h not found (set HMM_KERNEL_SRC)");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hmm-sys-c-header");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let bin = dir.join("layout");
    std::fs::write(&src, c_program(&header)).unwrap();

    let out = match Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            say("SKIPPED: no C compiler `cc` on PATH");
            return;
        }
        Err(e) => panic!("running cc: {e}"),
    };
    assert!(
        out.status.success(),
        "cc failed on {} (needs linux-libc-dev for <linux/types.h>, <linux/ioctl.h>):\n{}",
        header.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let run = Command::new(&bin)
        .output()
        .expect("run the compiled program");
    assert!(run.status.success());
    let printed: BTreeMap<String, u64> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("NAME VALUE");
            (k.to_owned(), v.parse().expect("number"))
        })
        .collect();

    let want = expected();
    assert_eq!(printed.len(), want.len(), "every value printed once");
    let mut bad = Vec::new();
    for (name, value) in want {
        let got = printed[name];
        if got != value {
            bad.push(format!("{name}: C {got:#x}, hmm_sys {value:#x}"));
        }
    }
    assert!(
        bad.is_empty(),
        "hmm_sys differs from {}:\n{}",
        header.display(),
        bad.join("\n")
    );
    say(&format!(
        "checked {} values against {}",
        printed.len(),
        header.display()
    ));
}
