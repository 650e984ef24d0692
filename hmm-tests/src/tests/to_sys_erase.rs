//! hmm-rs case, not in upstream hmm-tests.c: the device page tables after a migration back to
//! system memory.
//!
//! | test | requests | what it guards |
//! |---|---|---|
//! | read_after_migrate_to_sys | MIGRATE_TO_DEV (file A), READ (file B), MIGRATE_TO_SYS (A), CPU write, READ (A and B); then MIGRATE_TO_DEV, a CPU write (device-private: the fault path back), READ (A and B) | no entry of a file's device page table outlives a migration back to system memory. The module erases a window's entries once, in its interval notifier (kmod `Dmirror::notifier_erased`), where C erases each page again in its copy loop; an entry left on a freed device page would make READ return the old contents (the module with its notifier skipping every migration fails it in round 0, file A, both devices) |
//!
//! The stock 7.3.4 C driver erases only the requesting file's entries and its notifier skips
//! every migration of its own device, so file B keeps entries on the freed device pages:
//! coherent, B's READ returns the freed page's contents; private, it oopses (`BUG: unable to
//! handle page fault` in `memcpy_orig` from `dmirror_read`) and leaves the process unkillable.
//! Against that driver the private variant skips unless `HMM_TESTS_RUN_CRASHING=1`.

use hmm_dmirror::Counts;

use super::prelude::*;

impl Hmm {
    /// File A migrates a buffer to device memory and file B of the same device reads it, so
    /// both device page tables map the device pages. Migrated back to system memory (by A's
    /// request, then by the CPU's fault) and written by the CPU, the buffer reads back with
    /// the new contents through both files.
    pub(crate) fn read_after_migrate_to_sys(&mut self, variant: &HmmVariant) {
        if !hmm_is_coherent_type(variant.device_number) {
            if let Some(why) = crate::driver::skip_if_it_crashes_c(
                "file B's READ goes through its entries on the device pages file A's MIGRATE_TO_SYS freed (BUG: unable to handle page fault in dmirror_read) and leaves the case's process unkillable",
            ) {
                SKIP!(return, "{why}");
            }
        }
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);
        let ints = size / 4;

        let file_b = ASSERT_NOT_NULL!(hmm_open(variant.device_number).ok());
        let (buffer, mut mirror) = ASSERT_NOT_NULL!(anon_buffer(size));
        let mut counts = Counts::default();

        for round in 0..2i32 {
            // Round 0 writes i, round 1 i + 1000000 (each value tells its round).
            let old = |i: usize| i as i32 + round * 1_000_000;
            buffer.fill_i32(old);

            // A migrates the buffer to device memory; B reads it (device pages, mapped in
            // B's table too).
            let ret = ret_of(
                self.fd.migrate_to_dev(buffer.all(), &mut mirror),
                &mut counts,
            );
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(counts.cpages, npages);
            let ret = ret_of(file_b.read(buffer.all(), &mut mirror), &mut counts);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(counts.cpages, npages);
            for i in 0..ints {
                ASSERT_EQ!(mirror.get_i32(i), old(i));
            }

            if round == 0 {
                // Back to system memory by A's request.
                let ret = ret_of(self.fd.migrate_to_sys(buffer.all()), &mut counts);
                ASSERT_EQ!(ret, 0);
                ASSERT_EQ!(counts.cpages, npages);
            }
            // The CPU writes new contents (round 1: device-private pages fault back to
            // system memory here; coherent ones are written in place).
            let new = |i: usize| -(old(i)) - 1;
            buffer.fill_i32(new);

            // Both files read the new contents, not those of the freed device pages.
            for (name, file) in [("A", &self.fd), ("B", &file_b)] {
                mirror.fill_i32(|_| 0);
                let ret = ret_of(file.read(buffer.all(), &mut mirror), &mut counts);
                ASSERT_EQ!(ret, 0);
                ASSERT_EQ!(counts.cpages, npages);
                if let Some(i) = (0..ints).find(|&i| mirror.get_i32(i) != new(i)) {
                    TH_LOG!(
                        "round {round}: file {name} READ int {i} as {}, the CPU wrote {}",
                        mirror.get_i32(i),
                        new(i)
                    );
                }
                for i in 0..ints {
                    ASSERT_EQ!(mirror.get_i32(i), new(i));
                }
            }
        }

        drop(buffer);
        ASSERT_EQ!(close_device(file_b), 0);
    }
}
