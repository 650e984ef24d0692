// SPDX-License-Identifier: GPL-2.0

//! `mmap()` of the device file: every page of the mapping is a fresh zeroed kernel page
//! inserted with `vm_insert_page()` (C: `dmirror_fops_mmap`; the `mixedmap` test).

use crate::hmm::page::PAGE_SIZE;
use kernel::{mm::virt::VmaNew, page::Page, prelude::*};

/// The device file's `mmap`.
pub(crate) fn mmap(vma: &VmaNew) -> Result {
    let vma = vma.set_mixedmap();
    let mut addr = vma.start();
    while addr < vma.end() {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        // `vm_insert_page` takes its own reference; ours is dropped with `page`.
        vma.vm_insert_page(addr, &page)?;
        addr += PAGE_SIZE;
    }
    Ok(())
}
