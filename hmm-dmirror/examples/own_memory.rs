//! Device requests on memory the program owns: a `memmap2` map, a `Vec<u8>`, a descriptor
//! opened with `std`. Only safe code.
//!
//! ```text
//! cargo run -p hmm-dmirror --features memmap2 --example own_memory -- [DEVICE_NUMBER]
//! ```
//! Exits 0 when every check passes, 1 on a failure, 4 (the kselftest skip code) when the
//! device does not exist.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use hmm_dmirror::{Device, DeviceMemory, Kind, Mapping, PageRange, Result};
use memmap2::MmapMut;

const NPAGES: usize = 16;

fn check(what: &str, ok: bool, failed: &mut bool) {
    println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    *failed |= !ok;
}

fn run(unit: u32) -> Result<bool> {
    let mut failed = false;
    // A descriptor opened elsewhere; the library finds out which ABI its driver speaks.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(Device::path_of(unit))
        .map_err(|e| hmm_dmirror::Error::NoDevice {
            path: Device::path_of(unit),
            errno: hmm_dmirror::Errno::from_io_error(&e).unwrap_or(hmm_dmirror::Errno::NOENT),
        })?;
    let dev = Device::from_fd(file.into())?;
    println!(
        "device   {} ({} ABI, from the {})",
        dev.path().display(),
        dev.abi(),
        dev.abi_evidence()
    );

    let ps = hmm_dmirror::page_size();
    let len = NPAGES * ps;
    let pattern = |i: usize| (i % 251) as u8;

    // memmap2: private anonymous, page aligned.
    let mut map = MmapMut::map_anon(len).map_err(|e| hmm_dmirror::Error::Io {
        what: "memmap2 map_anon".into(),
        source: e,
    })?;
    for (i, b) in map.iter_mut().enumerate() {
        *b = pattern(i);
    }

    // READ into a Vec<u8>.
    let mut out = vec![0u8; len];
    let c = dev.read(PageRange::from_slice(&map)?, &mut out)?;
    check(
        &format!(
            "read {NPAGES} pages of a memmap2 map into a Vec<u8> (cpages {})",
            c.cpages
        ),
        c.cpages == NPAGES as u64 && out[..] == map[..],
        &mut failed,
    );

    // WRITE from a Vec<u8> into the map (borrowed exclusively for the request).
    let src: Vec<u8> = (0..len).map(|i| !pattern(i)).collect();
    let c = dev.write_slice(&mut map, &src)?;
    check(
        &format!("write a Vec<u8> into the map (cpages {})", c.cpages),
        c.cpages == NPAGES as u64 && map[..] == src[..],
        &mut failed,
    );

    // MIGRATE_TO_DEV, SNAPSHOT, MIGRATE_TO_SYS on the map.
    let c = dev.migrate_to_dev(PageRange::from_slice(&map)?, &mut out)?;
    check(
        &format!("migrate the map to the device (cpages {})", c.cpages),
        c.cpages == NPAGES as u64 && out == src,
        &mut failed,
    );
    let snap = dev.snapshot(PageRange::from_slice(&map)?)?;
    let on_device = snap
        .iter()
        .filter(|s| s.kind() == Kind::Write && s.device() != DeviceMemory::None)
        .count();
    check(
        &format!(
            "snapshot: {} entries, {on_device} in device memory",
            snap.len()
        ),
        snap.len() == NPAGES && on_device == NPAGES,
        &mut failed,
    );
    let c = dev.migrate_to_sys(PageRange::from_slice(&map)?)?;
    check(
        &format!("migrate back (cpages {}), contents intact", c.cpages),
        c.cpages == NPAGES as u64 && map[..] == src[..],
        &mut failed,
    );

    // The map handed over to a Mapping: its page ranges and bulk byte access.
    let mapping = Mapping::try_from(map).map_err(|e| e.reason)?;
    let mut bytes = vec![0u8; len];
    mapping.read_bytes(0, &mut bytes);
    let snap = dev.snapshot(mapping.all())?;
    check(
        &format!(
            "the map as a Mapping: {} pages, snapshot of {} entries",
            mapping.npages(),
            snap.len()
        ),
        bytes == src && snap.len() == NPAGES,
        &mut failed,
    );
    Ok(!failed)
}

fn main() -> ExitCode {
    let unit = match std::env::args().nth(1).map(|s| s.parse::<u32>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: own_memory [DEVICE_NUMBER]");
            return ExitCode::from(1);
        }
    };
    match run(unit) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.is_no_device() => {
            println!("SKIP own_memory: {e}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("own_memory: {e}");
            ExitCode::from(1)
        }
    }
}
