//! Lifecycle helpers for the guest script: `hold` (keeps files, device mappings or device
//! pages alive while the script tries to unload the driver) and `smoke` (a quick
//! migrate-and-verify round trip after each load).
use anyhow::{bail, Context, Result};
use hmm_dmirror::{Abi, Device, DeviceMemory, Mapping, Mirror, PageState, Prot, Sharing};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `hold` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// Open files on every device.
    Fd,
    /// A mapping of the device file (the file itself closed).
    Mmap,
    /// Device pages in the process: first with the files open (stage 1), then with the files
    /// closed (stage 2); at the end the pages are read back and checked.
    Pages,
}

fn wait_for(dir: &Path, name: &str, limit: Duration) -> Result<()> {
    let t0 = Instant::now();
    while !dir.join(name).exists() {
        if t0.elapsed() > limit {
            bail!(
                "{} did not appear within {:?}",
                dir.join(name).display(),
                limit
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn say(dir: &Path, name: &str) -> Result<()> {
    std::fs::write(dir.join(name), b"")
        .with_context(|| format!("write {}", dir.join(name).display()))
}

/// Every device there is, with its number (0 and 1 must exist; 2 and 3 may not).
fn devices(abi: Abi) -> Result<Vec<(u32, Device)>> {
    let mut v = Vec::new();
    for n in 0..4 {
        match Device::open_with_abi(n, abi) {
            Ok(d) => v.push((n, d)),
            Err(e) if n >= 2 && e.is_no_device() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(v)
}

/// `hold`: set up, write DIR/ready1, wait for DIR/go1; for `pages` then close the files,
/// write DIR/ready2, wait for DIR/go2 and check the pages. Exit status: whether the contents
/// came back right.
pub fn hold(what: What, dir: &Path, abi: Abi, limit: Duration) -> Result<bool> {
    match what {
        What::Fd => {
            let devs = devices(abi)?;
            println!("hold: {} files open", devs.len());
            say(dir, "ready1")?;
            wait_for(dir, "go1", limit)?;
            drop(devs);
            Ok(true)
        }
        What::Mmap => {
            let dev = Device::open_with_abi(0, abi)?;
            let ps = hmm_dmirror::page_size();
            let m = Mapping::device(&dev, 4 * ps, Prot::RW, Sharing::Private)?;
            drop(dev);
            m.write_i32(0, 7);
            println!("hold: device file mapped (4 pages), file closed");
            say(dir, "ready1")?;
            wait_for(dir, "go1", limit)?;
            let ok = m.read_i32(0) == 7;
            drop(m);
            Ok(ok)
        }
        What::Pages => {
            let devs = devices(abi)?;
            let ps = hmm_dmirror::page_size();
            let npages = 32 * devs.len();
            let m = Mapping::anon_private(npages * ps)?;
            m.fill_i32(|i| (i as i32) ^ 0x5a5a_0000);
            // Each device takes its 32 pages; a SNAPSHOT through that device must then show
            // every one of them in its memory, or the checks below prove nothing.
            for (k, (n, d)) in devs.iter().enumerate() {
                let r = m.pages(32 * k, 32)?;
                let mut mirror = Mirror::for_pages(32);
                let c = d
                    .migrate_to_dev(r, &mut mirror)
                    .with_context(|| format!("hold: MIGRATE_TO_DEV on device {n}"))?;
                if c.cpages != 32 {
                    bail!(
                        "hold: MIGRATE_TO_DEV on device {n} moved {} of 32 pages",
                        c.cpages
                    );
                }
                let snap = d
                    .snapshot(m.pages(32 * k, 32)?)
                    .with_context(|| format!("hold: SNAPSHOT on device {n}"))?;
                on_device(*n, &snap).map_err(|e| anyhow::anyhow!("hold: {e}"))?;
            }
            println!("hold: {npages} pages, all in device memory per SNAPSHOT (32 on each of {} devices); files open", devs.len());
            say(dir, "ready1")?;
            wait_for(dir, "go1", limit)?;
            drop(devs);
            println!("hold: files closed, pages still mapped");
            say(dir, "ready2")?;
            wait_for(dir, "go2", limit)?;
            let bad = m.mismatch_i32(0..m.words(), |i| (i as i32) ^ 0x5a5a_0000);
            match bad {
                None => {
                    println!("hold: pages verified: {npages} pages OK");
                    Ok(true)
                }
                Some((i, got, exp)) => {
                    println!("hold: pages verified: MISMATCH at word {i}: {got:#x} != {exp:#x}");
                    Ok(false)
                }
            }
        }
    }
}

/// `smoke`: on every device, 16 pages: migrate to the device, read back through the device,
/// touch by the CPU; all must hold what was written.
pub fn smoke(abi: Abi) -> Result<bool> {
    let devs = devices(abi)?;
    let ps = hmm_dmirror::page_size();
    let mut ok = true;
    for (_, d) in &devs {
        let m = Mapping::anon_private(16 * ps)?;
        m.fill_i32(|i| i as i32 + 1);
        let mut mirror = Mirror::for_pages(16);
        let c = d.migrate_to_dev(m.all(), &mut mirror)?;
        let mut back = Mirror::for_pages(16);
        d.read(m.all(), &mut back)?;
        let dev_ok = back
            .mismatch_i32(0..back.words(), |i| i as i32 + 1)
            .is_none();
        let cpu_ok = m.mismatch_i32(0..m.words(), |i| i as i32 + 1).is_none();
        println!(
            "smoke {}: migrated {} pages, device read {}, cpu read {}",
            d.path().display(),
            c.cpages,
            if dev_ok { "ok" } else { "MISMATCH" },
            if cpu_ok { "ok" } else { "MISMATCH" }
        );
        ok &= dev_ok && cpu_ok;
    }
    Ok(ok)
}

/// Whether every page of a SNAPSHOT taken through device `n` is in that device's own memory:
/// device-private for devices 0 and 1, device-coherent for 2 and 3. The error names the
/// first page that is not and counts them.
fn on_device(n: u32, snap: &[PageState]) -> std::result::Result<(), String> {
    let want = if n < 2 {
        DeviceMemory::PrivateLocal
    } else {
        DeviceMemory::CoherentLocal
    };
    let bad: Vec<(usize, &PageState)> = snap
        .iter()
        .enumerate()
        .filter(|(_, s)| s.device() != want)
        .collect();
    match bad.first() {
        None => Ok(()),
        Some((i, s)) => Err(format!(
            "device {n}: {} of {} pages not in its memory ({want:?}) per SNAPSHOT; first: page {i} is {s}",
            bad.len(),
            snap.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmm_dmirror::sys::{
        HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
        HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE, HMM_DMIRROR_PROT_WRITE,
    };

    fn states(bytes: &[u8]) -> Vec<PageState> {
        bytes
            .iter()
            .map(|b| PageState::from_byte(*b).unwrap())
            .collect()
    }

    #[test]
    fn pages_must_be_in_the_snapshotting_device_s_memory() {
        let w = HMM_DMIRROR_PROT_WRITE;
        let private = HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | w;
        let coherent = HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | w;
        assert_eq!(on_device(0, &states(&[private; 32])), Ok(()));
        assert_eq!(on_device(3, &states(&[coherent; 32])), Ok(()));
        // A device-private page on a coherent device's list, system pages, another device's.
        assert!(on_device(2, &states(&[private; 4])).is_err());
        let mut mixed = vec![private; 32];
        mixed[5] = w;
        mixed[9] = HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE | w;
        let e = on_device(1, &states(&mixed)).unwrap_err();
        assert!(e.starts_with("device 1: 2 of 32 pages not in its memory (PrivateLocal) per SNAPSHOT; first: page 5 is "), "{e}");
    }
}
