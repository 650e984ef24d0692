//! Opens a device with nothing said about its ABI and snapshots 16 pages: prints which
//! numbering the driver speaks, how the library found out, and the snapshot.
//!
//! ```text
//! cargo run -p hmm-dmirror --example which_abi -- [DEVICE_NUMBER [EXPECTED_ABI]]
//! ```
//! With `EXPECTED_ABI` (`patched` or `mainline`), a different answer is a failure. Exits 0
//! on success, 1 on a failure, 4 when the device does not exist.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use hmm_dmirror::{Abi, Device, Mapping, Result};

const NPAGES: usize = 16;

fn run(unit: u32, expected: Option<Abi>) -> Result<bool> {
    let dev = Device::open(unit)?;
    println!(
        "device   {}: {} ABI (from the {})",
        dev.path().display(),
        dev.abi(),
        dev.abi_evidence()
    );
    let buf = Mapping::anon_private(NPAGES * hmm_dmirror::page_size())?;
    buf.fill_i32(|i| i as i32);
    let snap = dev.snapshot(buf.all())?;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for s in snap.iter() {
        *states.entry(s.to_string()).or_default() += 1;
    }
    println!("snapshot {} entries, cpages {}", snap.len(), snap.cpages());
    for (state, n) in &states {
        println!("         {n:>3} x {state}");
    }
    let mut ok = snap.len() == NPAGES && snap.cpages() == NPAGES as u64;
    if let Some(want) = expected {
        if dev.abi() != want {
            println!("expected the {want} ABI");
            ok = false;
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let unit = args
        .first()
        .map_or(Ok(0), |s| s.parse::<u32>().map_err(drop));
    let expected = args
        .get(1)
        .map(|s| s.parse::<Abi>().map_err(drop))
        .transpose();
    let (Ok(unit), Ok(expected)) = (unit, expected) else {
        eprintln!("usage: which_abi [DEVICE_NUMBER [patched|mainline]]");
        return ExitCode::from(1);
    };
    match run(unit, expected) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.is_no_device() => {
            println!("SKIP which_abi: {e}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("which_abi: {e}");
            ExitCode::from(1)
        }
    }
}
