//! The lab's cache: outside the checkout, keyed by content, shared by every clone.
//!
//! `$HMM_LAB_CACHE`, else `$XDG_CACHE_HOME/hmm-rs`, else `~/.cache/hmm-rs`.
//! Each artefact lives in a directory named after a hash of what it is built from, so a
//! changed input gets a new directory and a warm run finds the old one untouched.
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Root of the cache.
pub fn root() -> PathBuf {
    if let Some(p) = std::env::var_os("HMM_LAB_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache")
        });
    base.join("hmm-rs")
}

/// A content key: the first 16 hex digits of the SHA-256 of the parts, each length-prefixed.
pub fn key<I, B>(parts: I) -> String
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut h = Sha256::new();
    for p in parts {
        let p = p.as_ref();
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Read a file for keying.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {}", path.display()))
}

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// xtask's own data files (scripts, config fragments).
pub fn xtask_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// UTC `YYYYmmdd-HHMMSS` for run directories (the pid if `date` fails).
pub fn timestamp() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y%m%d-%H%M%S"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{}", std::process::id()))
}
