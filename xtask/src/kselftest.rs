//! The suite as a kselftest drop-in, run by the kernel's own runner (`lab test --suite
//! kselftest`): `hmm-tests/kselftest/hmm-tests-rs.mk` is built into the mm collection by the
//! lab tree's `lib.mk` (`xtask/scripts/kselftest-mm.mk`), installed next to the tree's
//! `run_kselftest.sh` and `kselftest/` runner as `make install` lays them out, and started in
//! the guest with `run_kselftest.sh -t mm:test_hmm_rs.sh`. `test_hmm_rs.sh` loads the driver
//! itself, with the SPM addresses from the environment, as a kselftest user would.
use crate::cache;
use crate::kernel::Kernel;
use crate::progress::{run_logged, Stage};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The collection and test the runner is asked for.
pub const TEST: &str = "mm:test_hmm_rs.sh";

/// Build and install; returns the install directory (holding `run_kselftest.sh`).
pub fn install(k: &Kernel, log: &Path) -> Result<PathBuf> {
    let ws = cache::workspace();
    let base = ws.join("target/lab/kselftest");
    let install = base.join("install");
    let selftests = k.src.join("tools/testing/selftests");
    let stage = Stage::start(format!(
        "kselftest: hmm-tests-rs.mk through the tree's lib.mk, log: {}",
        log.display()
    ));
    let _ = std::fs::remove_dir_all(&install);
    std::fs::create_dir_all(install.join("kselftest"))?;
    std::fs::create_dir_all(base.join("build"))?;
    let _ = std::fs::remove_file(log);
    run_logged(
        Command::new("make")
            .arg("-C")
            .arg(selftests.join("mm"))
            .arg("-f")
            .arg(cache::xtask_dir().join("scripts/kselftest-mm.mk"))
            .arg(format!("HMM_RS_DIR={}", ws.display()))
            .arg(format!(
                "HMM_RS_TARGET_DIR={}",
                base.join("cargo").display()
            ))
            .arg(format!("OUTPUT={}", base.join("build").display()))
            .arg(format!("INSTALL_PATH={}", install.join("mm").display()))
            .arg("install"),
        log,
    )?;
    // What the top-level selftests Makefile's `install` adds: the runner and the test list.
    std::fs::copy(
        selftests.join("run_kselftest.sh"),
        install.join("run_kselftest.sh"),
    )?;
    for f in [
        "runner.sh",
        "prefix.pl",
        "ktap_helpers.sh",
        "module.sh",
        "ksft.py",
    ] {
        std::fs::copy(
            selftests.join("kselftest").join(f),
            install.join("kselftest").join(f),
        )?;
    }
    let list = Command::new("make")
        .arg("-s")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(selftests.join("mm"))
        .arg("-f")
        .arg(cache::xtask_dir().join("scripts/kselftest-mm.mk"))
        .arg(format!("HMM_RS_DIR={}", ws.display()))
        .arg(format!("OUTPUT={}", base.join("build").display()))
        .arg("COLLECTION=mm")
        .arg("emit_tests")
        .output()?;
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    if !list.lines().any(|l| l.trim() == TEST) {
        bail!("emit_tests did not list {TEST}: {list:?}");
    }
    std::fs::write(install.join("kselftest-list.txt"), list)?;
    for f in ["run_kselftest.sh", "mm/test_hmm_rs.sh", "mm/hmm-tests-rs"] {
        if !install.join(f).exists() {
            bail!("kselftest install has no {f}");
        }
    }
    stage.done();
    Ok(install)
}

/// The nested TAP of one test the runner ran: its lines, with the runner's `# ` prefix off.
pub fn inner_tap(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_tap_is_the_prefixed_part() {
        let t = "TAP version 13\n1..1\n# timeout set to 3600\n# selftests: mm: test_hmm_rs.sh\n\
                 # 1..2\n# ok 1 hmm.a\n# not ok 2 hmm.b\nok 1 selftests: mm: test_hmm_rs.sh\n";
        let inner = inner_tap(t);
        let r = crate::tap::parse(&inner);
        assert_eq!(r.len(), 2);
        assert_eq!(crate::tap::plan(&inner), Some(2));
        assert_eq!(
            crate::tap::parse(t),
            vec![(
                "selftests: mm: test_hmm_rs.sh".to_string(),
                crate::tap::Outcome::Pass
            )]
        );
    }
}
