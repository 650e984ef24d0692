// SPDX-License-Identifier: GPL-2.0

//! The bounds of a process's user address space (`mm->task_size`).

use kernel::mm::Mm;

/// `mm->task_size`: one past the last byte of `mm`'s user address space. On x86-64 it is
/// `TASK_SIZE` as of the process's `exec()`: `TASK_SIZE_MAX` for a 64-bit process
/// (`2^47 - PAGE_SIZE` with 4-level paging, `2^56 - PAGE_SIZE` with 5-level paging) and
/// `IA32_PAGE_OFFSET` for a 32-bit one. No mapping of the mm, hence no page a request can
/// reach, lies at or above it.
pub(crate) fn task_size(mm: &Mm) -> usize {
    // SAFETY: `mm` is a live `mm_struct` for the borrow. `task_size` is a plain word that
    // `setup_new_exec()` writes before the process can open the device, and nothing on
    // x86-64 writes it afterwards, so the read does not race with a writer.
    unsafe { (*mm.as_raw()).__bindgen_anon_1.task_size }
}
