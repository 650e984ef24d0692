//! Huge page sizes and availability, read the way the selftests' vm_util.c reads them.

use crate::{Error, Result};

const MEMINFO: &str = "/proc/meminfo";
const PMD_SIZE_FILE: &str = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("read {path}"),
        source,
    })
}

/// The value of a `/proc/meminfo`-style line `key: value [kB]`, in the file's unit.
pub(crate) fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The default hugetlb page size in bytes (`Hugepagesize:` of `/proc/meminfo`, like
/// `default_huge_page_size()`), or `None` when the kernel has no hugetlbfs.
pub fn default_huge_page_size() -> Result<Option<usize>> {
    let text = read(MEMINFO)?;
    Ok(meminfo_field(&text, "Hugepagesize").map(|kb| kb as usize * 1024))
}

/// Free default-size huge pages (`HugePages_Free:` of `/proc/meminfo`); 0 without hugetlbfs.
pub fn free_huge_pages() -> Result<u64> {
    let text = read(MEMINFO)?;
    Ok(meminfo_field(&text, "HugePages_Free").unwrap_or(0))
}

/// The pool of default-size huge pages: writing a number to it asks the kernel for that many.
pub const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// Default-size huge pages in the pool (`HugePages_Total:` of `/proc/meminfo`); 0 without
/// hugetlbfs.
pub fn huge_pages_total() -> Result<u64> {
    let text = read(MEMINFO)?;
    Ok(meminfo_field(&text, "HugePages_Total").unwrap_or(0))
}

/// Asks for a pool of `n` default-size huge pages (writes [`NR_HUGEPAGES`]; needs root).
/// The kernel may make fewer than asked (no memory contiguous enough): read
/// [`free_huge_pages`] afterwards.
pub fn set_huge_pages_total(n: u64) -> Result<()> {
    std::fs::write(NR_HUGEPAGES, n.to_string()).map_err(|source| Error::Io {
        what: format!("write {n} to {NR_HUGEPAGES}"),
        source,
    })
}

/// The PMD (THP) size in bytes, from `hpage_pmd_size` like `read_pmd_pagesize()`; when the
/// kernel has no THP sysfs, the PMD span of the page size (`page_size * page_size / 8`,
/// 2 MiB with 4 KiB pages), as the tests' `TWOMEG` fallback.
pub fn pmd_size() -> Result<usize> {
    match std::fs::read_to_string(PMD_SIZE_FILE) {
        Ok(s) => s.trim().parse().map_err(|e| Error::Io {
            what: format!("parse {PMD_SIZE_FILE}"),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ps = crate::page_size();
            Ok(ps * (ps / 8))
        }
        Err(source) => Err(Error::Io {
            what: format!("read {PMD_SIZE_FILE}"),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_fields() {
        let text =
            "MemTotal:       24576000 kB\nHugePages_Total:       4\nHugePages_Free:        3\n\
                    Hugepagesize:       2048 kB\nHugetlb:            8192 kB\n";
        assert_eq!(meminfo_field(text, "Hugepagesize"), Some(2048));
        assert_eq!(meminfo_field(text, "HugePages_Free"), Some(3));
        assert_eq!(meminfo_field(text, "HugePages_Total"), Some(4));
        assert_eq!(meminfo_field(text, "HugePages"), None);
        assert_eq!(meminfo_field(text, "Missing"), None);
    }
}
