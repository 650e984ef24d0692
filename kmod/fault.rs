// SPDX-License-Identifier: GPL-2.0

//! The CPU touched a device page that it cannot access directly (DEVICE_PRIVATE), or a
//! DEVICE_COHERENT page the core wants back: migrate it to system memory
//! (C: `dmirror_devmem_fault`, `dev_pagemap_ops.migrate_to_ram`).

use crate::devmem::Chunk;
use crate::hmm::migrate_vma::{MigrateArrays, MigrateVma, Select};
use crate::hmm::page::PAGE_SIZE;
use crate::hmm::pagemap::CpuFault;
use crate::migrate::{alloc_and_copy_to_sys, select_device};
use kernel::bindings;

/// `dev_pagemap_ops.migrate_to_ram`; returns a `vm_fault_t`.
pub(crate) fn migrate_to_ram(chunk: &Chunk, fault: &CpuFault<'_>) -> u32 {
    let Some(page) = fault.page() else {
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    };
    let data = chunk.data();
    let dev = data.dev();
    // The open file that migrated the page, if it is still open: its device page table
    // is updated and its FAIL_ALLOC flag honoured.
    let owner = data.owner_of(page.pfn() - chunk.first_pfn());

    // When the folio is mapped through PTEs it may be only partially mapped (not fully
    // split yet): migrate just the faulting page.
    let order = if fault.has_pte() {
        0
    } else {
        page.folio_order()
    };
    let size = PAGE_SIZE << order;
    let start = fault.address() & !(size - 1);
    let mut select = select_device(dev);
    if order > 0 {
        select = select.with(Select::COMPOUND);
    }
    // In practice setup only fails if the test is wrong: it checks static vma properties.
    let mut room = MigrateArrays::new();
    let Ok(mut m) =
        MigrateVma::setup_fault(&mut room, fault, start, start + size, dev.owner(), select)
    else {
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    };
    if alloc_and_copy_to_sys(dev, owner.as_deref(), &mut m, fault.vma()).is_err() {
        // Finalized without `pages()`: the destinations given so far are released first,
        // so the source stays mapped (see `MigrateVma`).
        m.finalize();
        return bindings::vm_fault_reason_VM_FAULT_OOM;
    }
    // No device finalize step: alloc_and_copy_to_sys already erased the device page
    // table entries.
    m.pages().finalize();
    0
}
