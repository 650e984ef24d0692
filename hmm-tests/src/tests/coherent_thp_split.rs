//! hmm-rs regression case, not in upstream hmm-tests.c: a THP migrated to device memory,
//! partly unmapped, then migrated back.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | thp_partial_unmap_to_sys | MIGRATE_TO_DEV (2 MiB THP), munmap of its first 4 KiB, MIGRATE_TO_SYS and SNAPSHOT of the rest | the module made a device-coherent THP, and Linux 7.3.4 cannot split one: MIGRATE_TO_SYS of the rest splits it (NULL pointer dereference Oops on the fast profile; WARNING in `__folio_freeze_and_split_unmapped`, then list corruption, on the debug profile). Coherent THPs are now opt-in (`coherent_thp`); the private device keeps its THPs, which split fine |

use super::prelude::*;

impl Hmm {
    /// Migrate a THP to the device, unmap its first page, migrate the rest back to system
    /// memory: every remaining page comes back (SNAPSHOT: a writable system page) with its
    /// contents.
    pub(crate) fn thp_partial_unmap_to_sys(&mut self, _variant: &HmmVariant) {
        // The THP in system memory, each int holding its index.
        let (mut buffer, old_ptr, size) = ASSERT_NOT_NULL!(thp_range());
        let map = buffer.ptr;
        let ps = self.page_size;
        let npages = (size >> self.page_shift) as u64;

        // Migrate it to the device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(m.get(i), i as i32);
        }

        // Unmap its first page: the device folio is now partly mapped.
        let ret = buffer.munmap(map, ps);
        ASSERT_EQ!(ret, 0);

        // Migrate the rest back to system memory.
        buffer.ptr = map.wrapping_add(ps);
        let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, npages - 1);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages - 1);

        // Every remaining page is a writable system page again.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages - 1);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages - 1);
        let m = buffer.mirror_bytes();
        for i in 0..(npages - 1) as usize {
            if m.get(i) != HMM_DMIRROR_PROT_WRITE {
                TH_LOG!("page {} of the rest: snapshot {:#x}", i + 1, m.get(i));
            }
            ASSERT_EQ!(m.get(i), HMM_DMIRROR_PROT_WRITE);
        }

        // With their contents.
        let rest = buffer.ints_at(map.wrapping_add(ps), size - ps);
        let skip = ps / 4;
        for i in 0..(size - ps) / 4 {
            ASSERT_EQ!(rest.get(i), (i + skip) as i32);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }
}
