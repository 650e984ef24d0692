//! hmm-rs regression cases, not in upstream hmm-tests.c: what the robustness battery
//! (`hmm-robust`, issue #8) found, one behaviour each.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | migrate_second_file_read | READ on file B, MIGRATE_TO_DEV on file A of the same device, CPU write, READ on B | B's mirror kept entries of the pages A migrated away (freed): B read stale data |

use super::prelude::*;

impl Hmm {
    /// Two files on one device mirror the same buffer. File A migrates it to device memory;
    /// the CPU then writes it (device-private: each page faults back to system memory).
    /// File B, which had read the buffer before, must see the new contents: the migration
    /// must invalidate every other mirror of the range, even one of the same device. (The C
    /// driver skips the invalidation for every file of the migrating device, so B keeps
    /// entries on the freed source pages and reads stale data.)
    pub(crate) fn migrate_second_file_read(&mut self, variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let file_b = ASSERT_NOT_NULL!(hmm_open(variant.device_number).ok());

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // File B mirrors the buffer (its page table now maps the system pages).
        let ret = hmm_dmirror_cmd(&file_b, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(m.get(i), i as i32);
        }

        // File A migrates the buffer to device memory: the system pages are freed.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // The CPU writes new contents.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, -(i as i32));
        }

        // File B reads the new contents, not those of the freed pages.
        let ret = hmm_dmirror_cmd(&file_b, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(m.get(i), -(i as i32));
        }

        hmm_buffer_free(buffer);
        ASSERT_EQ!(close_device(file_b), 0);
    }
}
