//! The parts of the mapping API that need transparent huge pages: `thp_aligned` with
//! `MADV_HUGEPAGE`/`MADV_NOHUGEPAGE`, those advices on their own, and `MADV_COLLAPSE`
//! (Linux 6.1+).
//!
//! Each test finds out at run time whether the host has the feature. Without it the test is
//! reported as ignored, with the reason (its own harness: libtest-mimic, as hmm-sys's
//! `c_header` test), never as passed; with it, the test passes or fails for real.

use std::path::Path;

use hmm_dmirror::{Advice, Errno, Mapping, Prot, Thp};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Present when the kernel has `CONFIG_TRANSPARENT_HUGEPAGE`.
const THP_SYSFS: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Why a test could not run (it is then ignored with this reason).
type Missing = String;

/// A test's outcome: `Ok(Err(why))` when the host lacks what it needs.
type Outcome = Result<Result<(), Missing>, Failed>;

fn main() {
    let args = Arguments::from_args();
    let trial = |name: &'static str, f: fn() -> Outcome| {
        Trial::ignorable_test(name, move || match f()? {
            Ok(()) => Ok(Completion::Completed),
            Err(missing) => Ok(Completion::ignored_with(missing)),
        })
    };
    let trials = vec![
        trial("thp_aligned_huge_and_nohuge", thp_aligned_huge_and_nohuge),
        trial(
            "madvise_hugepage_and_nohugepage",
            madvise_hugepage_and_nohugepage,
        ),
        trial("madvise_collapse", madvise_collapse),
    ];
    libtest_mimic::run(&args, trials).exit();
}

/// `Err(why)` unless the kernel has transparent huge pages.
fn thp() -> Result<(), Missing> {
    if Path::new(THP_SYSFS).exists() {
        Ok(())
    } else {
        Err(format!(
            "no transparent huge pages ({THP_SYSFS} absent: CONFIG_TRANSPARENT_HUGEPAGE=n)"
        ))
    }
}

/// `Err(Failed)` from a library error.
fn fail(what: &str, e: hmm_dmirror::Error) -> Failed {
    format!("{what}: {e}").into()
}

/// `Mapping::thp_aligned` with each THP advice: PMD aligned, one PMD long, read and written.
fn thp_aligned_huge_and_nohuge() -> Outcome {
    if let Err(missing) = thp() {
        return Ok(Err(missing));
    }
    let pmd = hmm_dmirror::pmd_size().map_err(|e| fail("pmd_size", e))?;
    for advice in [Thp::Huge, Thp::NoHuge] {
        let m = Mapping::thp_aligned(pmd, Prot::RW, advice)
            .map_err(|e| fail(&format!("thp_aligned({advice:?})"), e))?;
        if m.addr() % pmd != 0 || m.len() != pmd {
            return Err(format!(
                "{advice:?}: {:#x}+{:#x}, want PMD aligned and long",
                m.addr(),
                m.len()
            )
            .into());
        }
        m.fill_i32(|i| i as i32);
        if let Some(bad) = m.mismatch_i32(0..m.words(), |i| i as i32) {
            return Err(format!("{advice:?}: word {bad:?} after fill").into());
        }
    }
    Ok(Ok(()))
}

/// `MADV_HUGEPAGE` and `MADV_NOHUGEPAGE` on a mapping made without either.
fn madvise_hugepage_and_nohugepage() -> Outcome {
    if let Err(missing) = thp() {
        return Ok(Err(missing));
    }
    let pmd = hmm_dmirror::pmd_size().map_err(|e| fail("pmd_size", e))?;
    let m = Mapping::thp_aligned(pmd, Prot::RW, Thp::Unset).map_err(|e| fail("thp_aligned", e))?;
    m.advise(Advice::Hugepage)
        .map_err(|e| fail("MADV_HUGEPAGE", e))?;
    m.advise(Advice::NoHugepage)
        .map_err(|e| fail("MADV_NOHUGEPAGE", e))?;
    Ok(Ok(()))
}

/// `AnonHugePages` of the vma holding `addr`, in kB (`/proc/self/smaps`).
fn anon_huge_kb(addr: usize) -> Result<u64, Failed> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| Failed::from(format!("/proc/self/smaps: {e}")))?;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if inside {
            if let Some(v) = line.strip_prefix("AnonHugePages:") {
                let kb = v.trim().trim_end_matches("kB").trim();
                return kb
                    .parse()
                    .map_err(|e| format!("AnonHugePages {v:?}: {e}").into());
            }
        }
    }
    Err(format!("no AnonHugePages line for the vma at {addr:#x}").into())
}

/// `MADV_COLLAPSE` (hmm-tests `migrate_anon_huge_fault`) keeps the contents and leaves the
/// PMD-aligned range backed by a huge page.
fn madvise_collapse() -> Outcome {
    if let Err(missing) = thp() {
        return Ok(Err(missing));
    }
    let pmd = hmm_dmirror::pmd_size().map_err(|e| fail("pmd_size", e))?;
    let m = Mapping::thp_aligned(pmd, Prot::RW, Thp::Unset).map_err(|e| fail("thp_aligned", e))?;
    m.fill_i32(|i| i as i32);
    let mut tries = 0;
    loop {
        match m.advise(Advice::Collapse) {
            Ok(()) => break,
            Err(e) if e.errno() == Some(Errno::INVAL) => {
                return Ok(Err(format!(
                    "MADV_COLLAPSE not supported by this kernel (Linux 6.1+): {e}"
                )))
            }
            Err(e) if e.errno() == Some(Errno::NOMEM) => {
                return Ok(Err(format!(
                    "no huge page could be allocated for MADV_COLLAPSE: {e}"
                )))
            }
            // Transient (a page was locked or isolated meanwhile).
            Err(e) if e.errno() == Some(Errno::AGAIN) && tries < 5 => tries += 1,
            Err(e) => return Err(fail("MADV_COLLAPSE", e)),
        }
    }
    if let Some(bad) = m.mismatch_i32(0..m.words(), |i| i as i32) {
        return Err(format!("word {bad:?} after MADV_COLLAPSE").into());
    }
    let kb = anon_huge_kb(m.addr())?;
    if kb < (pmd / 1024) as u64 {
        return Err(format!(
            "AnonHugePages {kb} kB after MADV_COLLAPSE, want at least {} kB",
            pmd / 1024
        )
        .into());
    }
    Ok(Ok(()))
}
