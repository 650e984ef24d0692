//! The lab kernel: Linux 7.3.4 from the chroot's linux-source-7.3, tinyconfig + fragments,
//! `make LLVM=1`, with the project's kernel patches (kmod/kernel-patches) applied.
//!
//! Tree key: the toolchain and source versions (rustc, rust-src, bindgen, clang-19,
//! linux-source-7.3, as the chroot recorded them) + kernel.sh + the settings of the config
//! fragments (their comments and blank lines are not in the key) + profile. Patches are
//! not in the tree key: kernel.sh syncs them in place and make rebuilds what they touch. A
//! stamp records the patch set of the last successful build, so a warm run runs no make.
use crate::cache;
use crate::chroot::{self, Chroot};
use crate::progress::Stage;
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::path::{Path, PathBuf};

/// Kernel build profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Quick to build and boot.
    Fast,
    /// KASAN, PROVE_LOCKING, DEBUG_VM, DEBUG_LIST and friends.
    Debug,
    /// The fast profile plus ftrace's function_graph tracer (`lab bench --ftrace`): the
    /// kernel's call graph of timed requests; its numbers explain, they are not the
    /// benchmark's.
    Trace,
}

impl Profile {
    /// Name used in paths.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Fast => "fast",
            Profile::Debug => "debug",
            Profile::Trace => "trace",
        }
    }
    fn fragments(self) -> Vec<&'static str> {
        let mut f = vec!["lab-kernel.config", "vm.config"];
        match self {
            Profile::Fast => f.push("optimize.config"),
            Profile::Debug => f.push("debug.config"),
            Profile::Trace => f.extend(["optimize.config", "trace.config"]),
        }
        f
    }
}

/// A built kernel tree.
pub struct Kernel {
    /// The cache directory (`src/` is the tree, bind-mounted at /build in the chroot).
    pub dir: PathBuf,
    /// The kernel tree on the host.
    pub src: PathBuf,
    /// The profile it was built with.
    pub profile: Profile,
}

impl Kernel {
    /// bzImage.
    pub fn image(&self) -> PathBuf {
        self.src.join("arch/x86/boot/bzImage")
    }
    /// The C reference driver.
    pub fn test_hmm_ko(&self) -> PathBuf {
        self.src.join("lib/test_hmm.ko")
    }
    /// One line naming the booted kernel's configuration (its `.config` hash) and the
    /// options every verdict relies on; an error when one of them is off (a kernel without
    /// `CONFIG_BUG` prints no WARN at all).
    pub fn config_summary(&self) -> Result<String> {
        let path = self.src.join(".config");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        for opt in REQUIRED {
            if !text.lines().any(|l| l == format!("{opt}=y")) {
                bail!(
                    "{}: {opt} is not =y; the lab's verdict needs it (rebuild the kernel)",
                    path.display()
                );
            }
        }
        let on: Vec<String> = REQUIRED.iter().map(|o| format!("{o}=y")).collect();
        Ok(format!(
            "kernel .config {} ({})",
            cache::key([text.as_bytes()]),
            on.join(" ")
        ))
    }
}

/// Options the lab's verdict relies on in every profile: without them WARN/BUG print nothing
/// or less.
const REQUIRED: &[&str] = &["CONFIG_BUG", "CONFIG_DEBUG_BUGVERBOSE"];

/// What of a config fragment goes into the kernel's cache key: its settings, one per line
/// (`CONFIG_X=v` and `# CONFIG_X is not set`), without comments and blank lines, so that
/// rewording a comment does not rebuild the kernel.
fn fragment_key_text(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(text).lines() {
        let t = line.trim();
        let setting = !t.is_empty()
            && (!t.starts_with('#') || (t.starts_with("# CONFIG_") && t.ends_with(" is not set")));
        if setting {
            out.extend_from_slice(t.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

fn patches() -> Result<Vec<PathBuf>> {
    let dir = cache::workspace().join("kmod/kernel-patches");
    let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    Ok(v)
}

/// Build (or find) the kernel for `profile`.
pub fn ensure(root: &Path, ch: &Chroot, profile: Profile) -> Result<Kernel> {
    let xt = cache::xtask_dir();
    let script = xt.join("scripts/kernel.sh");
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for pkg in [
        "rustc",
        "rust-src",
        "bindgen",
        "clang-19",
        "linux-source-7.3",
    ] {
        parts.push(format!("{pkg}={}", ch.version(pkg)?).into_bytes());
    }
    parts.push(cache::read(&script)?);
    for f in profile.fragments() {
        parts.push(f.as_bytes().to_vec());
        parts.push(fragment_key_text(&cache::read(&xt.join("config").join(f))?));
    }
    let key = cache::key(&parts);
    let dir = root.join(format!("kernel-{}-{key}", profile.name()));
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("src");
    let kernel = Kernel {
        dir: dir.clone(),
        src,
        profile,
    };

    let patch_files = patches()?;
    let mut pparts = Vec::new();
    for p in &patch_files {
        pparts.push(cache::read(p)?);
    }
    let pkey = cache::key(&pparts);
    let stamp = dir.join("built.patches");
    if kernel.image().exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == pkey) {
        return Ok(kernel);
    }
    let log = dir.join("build.log");
    let stage = Stage::start(format!(
        "kernel 7.3.4 ({} profile, {} patch(es)): make LLVM=1 bzImage modules, log: {}",
        profile.name(),
        patch_files.len(),
        log.display()
    ));
    let patch_dir = cache::workspace().join("kmod/kernel-patches");
    std::fs::create_dir_all(&patch_dir).ok();
    let config_dir = xt.join("config");
    let mut argv = vec!["bash", "/scripts/kernel.sh"];
    argv.extend(profile.fragments());
    let scripts = xt.join("scripts");
    chroot::run(
        ch,
        &[
            (&dir, "/build"),
            (&patch_dir, "/patches"),
            (&config_dir, "/config"),
            (&scripts, "/scripts"),
        ],
        &argv,
        &log,
    )?;
    std::fs::write(&stamp, &pkey).context("write build stamp")?;
    stage.done();
    Ok(kernel)
}

#[cfg(test)]
mod tests {
    use super::fragment_key_text;

    #[test]
    fn fragment_key_ignores_comments_and_blank_lines() {
        let a = b"# a comment\nCONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n";
        let b = b"# reworded comment\n\n#\nCONFIG_A=y\n# CONFIG_B is not set\n  \n# more\nCONFIG_C=\"x\"";
        assert_eq!(fragment_key_text(a), fragment_key_text(b));
        assert_eq!(
            fragment_key_text(a),
            b"CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n".to_vec()
        );
    }

    #[test]
    fn fragment_key_keeps_settings() {
        let on = fragment_key_text(b"CONFIG_A=y\n");
        assert_ne!(on, fragment_key_text(b"CONFIG_A=m\n"));
        assert_ne!(on, fragment_key_text(b"# CONFIG_A is not set\n"));
        assert_ne!(on, fragment_key_text(b"CONFIG_A=y\nCONFIG_B=y\n"));
    }
}
