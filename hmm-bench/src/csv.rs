//! results.csv: one [`Row`] per line, a fixed header, no quoting (free text is cleaned of
//! commas, quotes and newlines on the way out). The derived throughput columns are written
//! for readers (spreadsheets, plotting tools) and recomputed, not parsed, on the way in.

use crate::row::{Row, Status};
use crate::stats::Spread;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, Write};

/// The header line.
pub const HEADER: &str = "driver,abi,accel,device,memory,kind,pages,size_bytes,npages,reps,status,\
median_s,min_s,max_s,q1_s,q3_s,pages_per_s,gib_per_s,gib_per_s_min,gib_per_s_q1,gib_per_s_q3,\
gib_per_s_max,memcpy_frac,huge_frac,cpages";

const NCOLS: usize = 25;

/// Make free text safe for an unquoted CSV field.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ',' => ';',
            '"' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One line (no newline).
pub fn line(r: &Row) -> String {
    let t = r.time;
    let spread = r.gib_spread();
    let f = [
        clean(&r.driver),
        clean(&r.abi),
        clean(&r.accel),
        opt(r.device),
        r.memory.to_string(),
        r.kind.to_string(),
        r.pages.to_string(),
        r.size.to_string(),
        r.npages.to_string(),
        r.reps.to_string(),
        clean(&r.status.to_string()),
        opt(t.map(|t| t.median)),
        opt(t.map(|t| t.min)),
        opt(t.map(|t| t.max)),
        opt(t.map(|t| t.q1)),
        opt(t.map(|t| t.q3)),
        opt(r.pages_per_s()),
        opt(r.gib_per_s()),
        opt(spread.map(|s| s.0)),
        opt(spread.map(|s| s.1)),
        opt(spread.map(|s| s.2)),
        opt(spread.map(|s| s.3)),
        opt(r.memcpy_frac),
        opt(r.huge_frac),
        opt(r.cpages),
    ];
    debug_assert_eq!(f.len(), NCOLS);
    f.join(",")
}

/// Write the header and the rows.
pub fn write(mut w: impl Write, rows: &[Row]) -> Result<()> {
    writeln!(w, "{HEADER}")?;
    for r in rows {
        writeln!(w, "{}", line(r))?;
    }
    w.flush()?;
    Ok(())
}

fn parse_opt<T: std::str::FromStr>(s: &str, what: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<T>()
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{what}: {s:?}: {e}"))
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    parse_opt(s, what)?.with_context(|| format!("{what} is empty"))
}

/// Parse one line.
pub fn parse_line(l: &str) -> Result<Row> {
    let f: Vec<&str> = l.split(',').collect();
    if f.len() != NCOLS {
        bail!("{} fields, expected {NCOLS}", f.len());
    }
    let reps: u32 = parse(f[9], "reps")?;
    let status: Status = f[10].parse().map_err(anyhow::Error::msg)?;
    let times: [Option<f64>; 5] = [
        parse_opt(f[11], "median_s")?,
        parse_opt(f[12], "min_s")?,
        parse_opt(f[13], "max_s")?,
        parse_opt(f[14], "q1_s")?,
        parse_opt(f[15], "q3_s")?,
    ];
    let time = match times {
        [Some(median), Some(min), Some(max), Some(q1), Some(q3)] => Some(Spread {
            n: reps as usize,
            median,
            min,
            max,
            q1,
            q3,
        }),
        [None, None, None, None, None] => None,
        _ => bail!("partial timing columns"),
    };
    Ok(Row {
        driver: f[0].to_string(),
        abi: f[1].to_string(),
        accel: f[2].to_string(),
        device: parse_opt(f[3], "device")?,
        memory: parse(f[4], "memory")?,
        kind: parse(f[5], "kind")?,
        pages: parse(f[6], "pages")?,
        size: parse(f[7], "size_bytes")?,
        npages: parse(f[8], "npages")?,
        reps,
        status,
        time,
        memcpy_frac: parse_opt(f[22], "memcpy_frac")?,
        huge_frac: parse_opt(f[23], "huge_frac")?,
        cpages: parse_opt(f[24], "cpages")?,
    })
}

/// Read rows (the header line is required and checked).
pub fn read(r: impl BufRead) -> Result<Vec<Row>> {
    let mut lines = r.lines();
    let header = lines.next().transpose()?.unwrap_or_default();
    if header.trim_end() != HEADER {
        bail!("not an hmm-bench CSV (header missing or different)");
    }
    let mut rows = Vec::new();
    for (i, l) in lines.enumerate() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        rows.push(parse_line(l.trim_end()).with_context(|| format!("line {}", i + 2))?);
    }
    Ok(rows)
}

/// Read a CSV file.
pub fn read_file(path: &std::path::Path) -> Result<Vec<Row>> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    read(std::io::BufReader::new(f)).with_context(|| format!("read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Kind, Memory, Pages};

    fn sample() -> Vec<Row> {
        let base = Row {
            driver: "c".into(),
            abi: "mainline".into(),
            accel: "tcg".into(),
            device: Some(0),
            memory: Memory::Private,
            kind: Kind::MigrateToDev,
            pages: Pages::Thp,
            size: 16 << 20,
            npages: 4096,
            reps: 5,
            status: Status::Ok,
            time: Spread::of(&[0.1, 0.12, 0.3, 0.11, 0.125]),
            cpages: Some(4096),
            huge_frac: Some(1.0),
            memcpy_frac: Some(0.0123),
        };
        vec![
            base.clone(),
            Row {
                kind: Kind::MigrateOnFaultToDev,
                status: Status::Na("not in the mainline ABI".into()),
                time: None,
                cpages: None,
                memcpy_frac: None,
                ..base.clone()
            },
            Row {
                driver: "rust".into(),
                device: None,
                memory: Memory::Host,
                kind: Kind::Memcpy,
                time: Spread::of(&[1e-7, 3.5e-7]),
                reps: 2,
                cpages: None,
                huge_frac: None,
                memcpy_frac: Some(1.0),
                ..base
            },
        ]
    }

    #[test]
    fn round_trip() {
        let rows = sample();
        let mut buf = Vec::new();
        write(&mut buf, &rows).unwrap();
        let back = read(&buf[..]).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn derived_columns_are_written() {
        let l = line(&sample()[0]);
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), NCOLS);
        // median 0.12 s for 16 MiB: 1/64 GiB / 0.12 s
        let g: f64 = f[17].parse().unwrap();
        assert!((g - (1.0 / 64.0) / 0.12).abs() < 1e-12);
        let pps: f64 = f[16].parse().unwrap();
        assert!((pps - 4096.0 / 0.12).abs() < 1e-6);
    }

    #[test]
    fn free_text_is_cleaned() {
        let mut r = sample()[0].clone();
        r.status = Status::Error("a, \"b\"\nc".into());
        r.time = None;
        let l = line(&r);
        assert_eq!(l.split(',').count(), NCOLS);
        assert_eq!(
            parse_line(&l).unwrap().status,
            Status::Error("a; 'b' c".into())
        );
    }

    #[test]
    fn rejects_foreign_files() {
        assert!(read(&b"a,b\n1,2\n"[..]).is_err());
        let bad = format!("{HEADER}\nc,mainline\n");
        assert!(read(bad.as_bytes()).is_err());
    }
}
