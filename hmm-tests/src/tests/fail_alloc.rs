//! hmm-rs regression case, not in upstream hmm-tests.c: a system-page allocation failing
//! part-way through MIGRATE_TO_SYS, with the kernel's fault injection (`fail-nth` on
//! `fail_page_alloc`, `CONFIG_FAIL_PAGE_ALLOC` + `CONFIG_FAULT_INJECTION_DEBUG_FS`: the lab's
//! debug profile). On the module before the fix the case's next CPU access hung in
//! `migration_entry_wait` (WARNING in `softleaf_entry_wait_on_locked`).
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | migrate_to_sys_alloc_failure | MIGRATE_TO_DEV, then MIGRATE_TO_SYS whose 64th-or-so page allocation fails, CPU check | the request gave up after some destinations were set and finalized without `migrate_vma_pages()`: the CPU mappings of those pages stayed migration entries to device pages whose last reference was put |

use std::fs;

use super::prelude::*;

/// Pages migrated.
const NPAGES: usize = 256;
/// The allocations of the case's thread that succeed before the injected failure, in pages.
const SPACE_PAGES: usize = 64;
/// The fault-injection knobs.
const FAIL: &str = "/sys/kernel/debug/fail_page_alloc";

/// Writes `value` to the knob `name` of `fail_page_alloc`.
fn knob(name: &str, value: &str) -> bool {
    fs::write(format!("{FAIL}/{name}"), value).is_ok()
}

/// Arms one failure of an order-0 (or larger) page allocation of this thread, after
/// [`SPACE_PAGES`] page allocations: `fail-nth` (`/proc/thread-self/fail-nth`) fails the
/// N-th fault-injection point the thread reaches, whatever `probability` and `space` say;
/// `fail_page_alloc`'s own filters must let order-0 highmem, reclaiming allocations through.
fn arm(_page_size: usize) -> bool {
    knob("verbose", "0")
        && knob("ignore-gfp-wait", "N")
        && knob("ignore-gfp-highmem", "N")
        && knob("min-order", "0")
        && fs::write("/proc/thread-self/fail-nth", (SPACE_PAGES + 1).to_string()).is_ok()
}

/// Whether the armed failure fired (`fail-nth` counted down to 0).
fn fired() -> (bool, String) {
    let left = fs::read_to_string("/proc/thread-self/fail-nth").unwrap_or_default();
    (left.trim() == "0", left.trim().to_string())
}

/// Disarms it.
fn disarm() {
    let _ = fs::write("/proc/thread-self/fail-nth", "0");
}

impl Hmm {
    /// Moves a buffer of single pages to device memory, then back with one page allocation
    /// failing part-way: the request may fail with ENOMEM, but every page must stay
    /// reachable with its contents (the pages it could not move stay in device memory, as a
    /// CPU fault then moves them).
    pub(crate) fn migrate_to_sys_alloc_failure(&mut self, _variant: &HmmVariant) {
        if fs::metadata(format!("{FAIL}/probability")).is_err() {
            SKIP!(
                return,
                "no {FAIL} (needs CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS: the lab's debug profile)"
            );
        }
        let size = NPAGES * self.page_size;
        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        ASSERT_EQ!(buffer.madvise(buffer.ptr, size, libc::MADV_NOHUGEPAGE), 0);
        let p = buffer.ints(size);
        for i in 0..size / 4 {
            p.set(i, i as i32 ^ 0x5a5a);
        }
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, NPAGES as u64);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, NPAGES as u64);

        if !arm(self.page_size) {
            disarm();
            TH_LOG!("cannot arm {FAIL}");
            ASSERT_TRUE!(false);
        }
        let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, NPAGES as u64);
        let (fired, left) = fired();
        disarm();
        TH_LOG!(
            "MIGRATE_TO_SYS with an allocation failure returned {ret}, cpages {}; fail-nth left: {left}",
            buffer.cpages
        );
        // Without the failure the case tests nothing: a SKIP with the reason, never a pass.
        if !fired {
            hmm_buffer_free(buffer);
            SKIP!(return, "the injected page allocation failure never fired (fail-nth left: {left}): nothing was tested");
        }
        ASSERT_TRUE!(ret == 0 || ret == -libc::ENOMEM);

        // Every page keeps its contents, wherever it is.
        let p = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(p.get(i), i as i32 ^ 0x5a5a);
        }
        // And the device reads them too.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, NPAGES as u64);
        ASSERT_EQ!(ret, 0);
        let m = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(m.get(i), i as i32 ^ 0x5a5a);
        }
        hmm_buffer_free(buffer);
    }
}
