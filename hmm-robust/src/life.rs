//! Lifecycle helpers for the guest script: `hold` (keeps files, device mappings or device
//! pages alive while the script tries to unload the driver) and `smoke` (a quick
//! migrate-and-verify round trip after each load).
use anyhow::{bail, Context, Result};
use hmm_dmirror::{Abi, Device, DeviceMemory, Mapping, Mirror, Prot, Sharing};
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

fn devices(abi: Abi) -> Result<Vec<Device>> {
    let mut v = Vec::new();
    for n in 0..4 {
        match Device::open_with_abi(n, abi) {
            Ok(d) => v.push(d),
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
            let mut on_dev = 0;
            for (k, d) in devs.iter().enumerate() {
                let r = m.pages(32 * k, 32)?;
                let mut mirror = Mirror::for_pages(32);
                match d.migrate_to_dev(r, &mut mirror) {
                    Ok(c) => on_dev += c.cpages,
                    Err(e) => println!("hold: {e}"),
                }
            }
            let snap = devs[0].snapshot(m.all())?;
            let dev_pages = snap
                .iter()
                .filter(|s| s.device() != DeviceMemory::None)
                .count();
            println!("hold: {npages} pages, {on_dev} migrated, {dev_pages} in device memory per snapshot; files open");
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
    for d in &devs {
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
