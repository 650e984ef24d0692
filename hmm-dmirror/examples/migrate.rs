//! Migrate a buffer to an HMM mirror device and back, printing what the device saw.
//!
//! ```text
//! cargo run -p hmm-dmirror --example migrate -- [DEVICE_NUMBER] [NPAGES]
//! ```
//! `DEVICE_NUMBER` defaults to 0 (`/dev/hmm_dmirror0`), `NPAGES` to 16. The ABI comes from
//! `HMM_DMIRROR_ABI` (`patched`, the default, or `mainline`). Exits 2 when the device does
//! not exist, 1 on any other failure.

use std::collections::BTreeMap;
use std::process::ExitCode;

use hmm_dmirror::{Device, Mapping, Mirror, Result};

fn arg(n: usize, default: u32, what: &str) -> std::result::Result<u32, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("{what} must be a number, not {s:?}")),
    }
}

fn run(unit: u32, npages: usize) -> Result<bool> {
    let dev = Device::open(unit)?;
    println!("device   {} ({} ABI)", dev.path().display(), dev.abi());

    let buf = Mapping::anon_private(npages * hmm_dmirror::page_size())?;
    buf.fill_i32(|i| i as i32);
    println!(
        "buffer   {npages} pages at {:#x}, filled with i",
        buf.addr()
    );

    let mut mirror = Mirror::for_pages(npages);
    let c = dev.migrate_to_dev(buf.all(), &mut mirror)?;
    let copied_ok = mirror
        .mismatch_i32(0..mirror.words(), |i| i as i32)
        .is_none();
    println!(
        "to dev   cpages {} faults {}; device copy {}",
        c.cpages,
        c.faults,
        if copied_ok { "matches" } else { "DIFFERS" }
    );

    let snap = dev.snapshot(buf.all())?;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for s in snap.iter() {
        *states.entry(s.to_string()).or_default() += 1;
    }
    println!("snapshot cpages {}:", snap.cpages());
    for (state, count) in &states {
        println!("         {count:>6} x {state}");
    }

    let c = dev.migrate_to_sys(buf.all())?;
    let back_ok = buf.mismatch_i32(0..buf.words(), |i| i as i32).is_none();
    println!(
        "to sys   cpages {} faults {}; contents {}",
        c.cpages,
        c.faults,
        if back_ok { "intact" } else { "CORRUPTED" }
    );
    Ok(copied_ok && back_ok)
}

fn main() -> ExitCode {
    let (unit, npages) = match (arg(1, 0, "DEVICE_NUMBER"), arg(2, 16, "NPAGES")) {
        (Ok(u), Ok(n)) if n > 0 => (u, n as usize),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("migrate: {e}\nusage: migrate [DEVICE_NUMBER] [NPAGES]");
            return ExitCode::from(1);
        }
        _ => {
            eprintln!("migrate: NPAGES must be at least 1");
            return ExitCode::from(1);
        }
    };
    match run(unit, npages) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("migrate: data check failed");
            ExitCode::from(1)
        }
        Err(e) if e.is_no_device() => {
            eprintln!("migrate: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("migrate: {e}");
            ExitCode::from(1)
        }
    }
}
