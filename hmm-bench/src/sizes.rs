//! Buffer sizes: parsing `4K,64K,1M` lists and printing them back.

use anyhow::{bail, Context, Result};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The default sizes of a full run.
pub const FULL: &str = "4K,64K,1M,16M,64M,256M";
/// The default sizes of a quick run.
pub const QUICK: &str = "4K,64K,1M,16M";

/// Parse one size: a number of bytes with an optional K, M or G suffix (binary, case-insensitive).
pub fn parse(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], KIB),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], MIB),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], GIB),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad size {s:?} (e.g. 4K, 16M, 1G)"))?;
    let v = n
        .checked_mul(mul)
        .with_context(|| format!("size {s:?} overflows"))?;
    if v == 0 {
        bail!("size {s:?} is zero");
    }
    Ok(v)
}

/// Parse a comma-separated list, sorted ascending, duplicates removed.
pub fn parse_list(s: &str) -> Result<Vec<u64>> {
    let mut v = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse)
        .collect::<Result<Vec<_>>>()?;
    if v.is_empty() {
        bail!("no sizes in {s:?}");
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// Short form: the largest binary unit that divides the size exactly ("4K", "256M", "3000").
pub fn show(bytes: u64) -> String {
    for (unit, name) in [(GIB, "G"), (MIB, "M"), (KIB, "K")] {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(parse("4K").unwrap(), 4096);
        assert_eq!(parse("64k").unwrap(), 65536);
        assert_eq!(parse("256M").unwrap(), 256 << 20);
        assert_eq!(parse("1G").unwrap(), 1 << 30);
        assert_eq!(parse("8192").unwrap(), 8192);
    }

    #[test]
    fn rejects_garbage_and_zero() {
        assert!(parse("").is_err());
        assert!(parse("K").is_err());
        assert!(parse("0M").is_err());
        assert!(parse("1.5M").is_err());
    }

    #[test]
    fn list_sorted_dedup_and_shown_back() {
        let v = parse_list("1M, 4K,1M,256M").unwrap();
        assert_eq!(v, vec![4096, 1 << 20, 256 << 20]);
        assert_eq!(
            v.iter().map(|&b| show(b)).collect::<Vec<_>>(),
            ["4K", "1M", "256M"]
        );
        assert_eq!(show(3000), "3000");
        assert_eq!(parse_list(FULL).unwrap().len(), 6);
    }
}
