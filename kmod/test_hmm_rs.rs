// SPDX-License-Identifier: GPL-2.0

//! The HMM test device, in Rust: `/dev/hmm_dmirror0..3` as provided by `lib/test_hmm.c`.
//!
//! Userspace mirrors its own address space with the device and makes the device read,
//! write, snapshot, migrate and take exclusive access to any of its pages, exercising the
//! kernel's HMM (`hmm_range_fault`, mmu interval notifiers) and ZONE_DEVICE migration
//! (`memremap_pages`, `migrate_vma_*`, `make_device_exclusive`) APIs.
//!
//! Layout (a request's handler is in `ioctl/<request>.rs`):
//! - `hmm/`: safe abstractions over the C APIs; the only place with `unsafe`.
//! - `devmem.rs`: device memory (chunks, free lists, allocation, eviction).
//! - `dmirror.rs`: per-open state (the mirror: notifier + device page table `pt.rs`).
//! - `ioctl/`: entry checks and one file per request; `mmap.rs`: the file's mmap.
//! - `range.rs`: address windows that cannot overflow.
//! - `fault.rs`: the CPU fault on device memory (`dev_pagemap_ops.migrate_to_ram`).
//! - `uapi.rs` (from `hmm-sys`): request numbers of both ABIs and the command layout.
//!
//! Lock order: `hmm/mod.rs`.

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

mod devmem;
mod dmirror;
mod fault;
mod hmm;
mod ioctl;
mod migrate;
mod mmap;
mod pt;
mod range;
// The ABI facts are shared with userspace crates, hence `pub` items reachable only here.
#[allow(unreachable_pub)]
#[path = "../hmm-sys/src/uapi.rs"]
mod uapi;

use devmem::{DeviceMem, ZoneType, CHUNK_SIZE};
use dmirror::Dmirror;
use hmm::misc::MiscWithData;
use uapi::Numbering as Abi;
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::VmaNew,
    prelude::*,
    sync::{Arc, ArcBorrow},
};

module! {
    type: DmirrorModule,
    name: "test_hmm_rs",
    authors: ["hmm-rs"],
    description: "HMM (Heterogeneous Memory Management) test module, in Rust",
    license: "GPL",
    params: {
        spm_addr_dev0: u64 {
            default: 0,
            description: "Start address of the SPM (special purpose memory) of device 2; \
                          with spm_addr_dev1, adds the DEVICE_COHERENT devices 2 and 3. \
                          At least 256 MiB, not used by the kernel (e.g. memmap=).",
        },
        spm_addr_dev1: u64 {
            default: 0,
            description: "Start address of the SPM of device 3 (see spm_addr_dev0).",
        },
    },
}

/// The number of devices (C: `DMIRROR_NDEVICES`).
const NDEVICES: usize = 4;

/// Device names (C: `dev_set_name(..., "hmm_dmirror%u", id)`).
const NAMES: [&CStr; NDEVICES] = [
    c"hmm_dmirror0",
    c"hmm_dmirror1",
    c"hmm_dmirror2",
    c"hmm_dmirror3",
];

/// A registered `/dev/hmm_dmirrorN` and its memory.
type Device = MiscWithData<Dmirror, Arc<DeviceMem>>;

/// The ABI chosen at load time.
fn abi() -> Abi {
    if hmm::param::abi() == hmm::param::ABI_MAINLINE {
        Abi::Mainline
    } else {
        Abi::Patched
    }
}

#[vtable]
impl MiscDevice for Dmirror {
    type Ptr = Arc<Dmirror>;

    /// C: `dmirror_fops_open`: mirror the opener's address space.
    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Dmirror>> {
        let dev = Device::data_of(misc).clone();
        let task = kernel::current!();
        let mm = task.mm().ok_or(EINVAL)?;
        let d = Dmirror::new(dev.clone(), mm)?;
        dev.add_mirror(d.clone())?;
        Ok(d)
    }

    /// C: `dmirror_fops_release`: stop mirroring and evict the device's memory.
    fn release(d: Arc<Dmirror>, _file: &File) {
        let dev = d.dev.clone();
        // Also waits for the CPU faults that found the file in the registry, so `d` is the
        // last reference and the file is freed here, not inside a fault handler.
        dev.remove_mirror(&d);
        dev.evict_all();
        drop(d);
    }

    fn ioctl(d: ArcBorrow<'_, Dmirror>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(&d, abi(), cmd, arg)
    }

    fn mmap(_d: ArcBorrow<'_, Dmirror>, _file: &File, vma: &VmaNew) -> Result {
        mmap::mmap(vma)
    }
}

struct DmirrorModule {
    devices: KVec<Pin<KBox<Device>>>,
}

impl DmirrorModule {
    fn add_device(&mut self, id: usize, zone: ZoneType) -> Result {
        let mem = DeviceMem::new(id, zone)?;
        // Build the free list now, as the C driver does: a bad SPM address fails the load.
        if let Err(e) = mem.init_memory() {
            pr_err!(
                "hmm_dmirror{}: cannot map device memory ({:?}){}\n",
                id,
                e,
                match zone {
                    ZoneType::Coherent(_) => ": check spm_addr_dev0/spm_addr_dev1",
                    ZoneType::Private => "",
                }
            );
            mem.remove_chunks();
            return Err(e);
        }
        match KBox::pin_init(Device::register(mem.clone(), NAMES[id]), GFP_KERNEL) {
            Ok(dev) => {
                self.devices
                    .push(dev, GFP_KERNEL)
                    .inspect_err(|_| mem.remove_chunks())?;
                Ok(())
            }
            Err(e) => {
                mem.remove_chunks();
                Err(e)
            }
        }
    }
}

impl kernel::Module for DmirrorModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let spm0 = *module_parameters::spm_addr_dev0.value_ref();
        let spm1 = *module_parameters::spm_addr_dev1.value_ref();
        if (spm0 == 0) != (spm1 == 0) {
            pr_err!("spm_addr_dev0 and spm_addr_dev1 must be given together\n");
            return Err(EINVAL);
        }
        let chunk = CHUNK_SIZE as u64;
        for (name, a) in [("spm_addr_dev0", spm0), ("spm_addr_dev1", spm1)] {
            if a % chunk != 0 && a != 0 {
                pr_err!("{}={:#x}: must be a multiple of 256 MiB\n", name, a);
                return Err(EINVAL);
            }
        }
        if spm0 != 0 && spm0.abs_diff(spm1) < chunk {
            pr_err!("spm_addr_dev0 and spm_addr_dev1 overlap\n");
            return Err(EINVAL);
        }

        let mut m = DmirrorModule {
            devices: KVec::new(),
        };
        m.add_device(0, ZoneType::Private)?;
        m.add_device(1, ZoneType::Private)?;
        if spm0 != 0 {
            m.add_device(2, ZoneType::Coherent(spm0))?;
            m.add_device(3, ZoneType::Coherent(spm1))?;
        }
        let abi_name = abi().name();
        pr_info!(
            "HMM test module loaded ({} devices, {} ABI). This is only for testing HMM.\n",
            m.devices.len(),
            abi_name
        );
        Ok(m)
    }
}

impl Drop for DmirrorModule {
    fn drop(&mut self) {
        while let Some(dev) = self.devices.pop() {
            let mem = dev.data().clone();
            // Deregister /dev/hmm_dmirrorN first; then no file is open (the module is
            // referenced by open files), and the memory can go.
            drop(dev);
            mem.remove_chunks();
        }
    }
}
