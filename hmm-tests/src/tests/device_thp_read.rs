//! hmm-rs regression case, not in upstream hmm-tests.c: a device-private THP read through
//! `hmm_range_fault()` in windows that start inside it.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | device_thp_read | MIGRATE_TO_DEV of a 2 MiB THP (file A), READ of all of it (file B), READ of 100 pages from page 37 (file C) | Linux 7.3.4's `hmm_vma_handle_absent_pmd()` reports every page of a device-private PMD from the folio's first page, whatever the range's start: the module's READ walks in 32-page windows, so from the second window on file B read (and WRITE wrote) the wrong pages of the device folio (found by `read_after_migrate_to_sys` with THP `always`). The module now takes a large mapping's page from its folio by address |
//!
//! The stock 7.3.4 C driver oopses on the private variant (`BUG: unable to handle page fault`
//! in `dmirror_read`, at the direct-map address of a device-private page) and leaves the
//! process unkillable: against that driver it skips unless `HMM_TESTS_RUN_CRASHING=1`. The
//! coherent variant (no device THP) passes on both drivers.

use super::prelude::*;

impl Hmm {
    /// File A migrates a THP to device memory (the private device keeps it as one device
    /// folio, mapped by one PMD); file B of the same device, which has no entries for it,
    /// READs it whole, and file C reads 100 pages of it from page 37: every page reads its
    /// own contents.
    pub(crate) fn device_thp_read(&mut self, variant: &HmmVariant) {
        if !hmm_is_coherent_type(variant.device_number) {
            if let Some(why) = crate::driver::skip_if_it_crashes_c(
                "file B's READ of the device THP copies from the device page's own address (BUG: unable to handle page fault in dmirror_read) and leaves the case's process unkillable",
            ) {
                SKIP!(return, "{why}");
            }
        }
        let (mut buffer, old_ptr, size) = ASSERT_NOT_NULL!(thp_range());
        let map = buffer.ptr;
        let npages = (size >> self.page_shift) as u64;
        let file_b = ASSERT_HMM_OPEN!(variant.device_number, "file_b");

        // File A migrates it to device memory.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // On the private device it is one device folio, mapped by one PMD (what the case is
        // about; the coherent device makes no THP unless `coherent_thp` is set).
        if !hmm_is_coherent_type(variant.device_number) {
            let ret = hmm_dmirror_cmd(&file_b, HMM_DMIRROR_SNAPSHOT, &mut buffer, 1);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(
                buffer.mirror_bytes().get(0),
                HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_WRITE
            );
        }

        // File B reads all of it (32-page windows: all but the first start inside the PMD).
        buffer.mirror_fill(0xFF, size);
        let ret = hmm_dmirror_cmd(&file_b, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_ints();
        if let Some(i) = (0..size / 4).find(|&i| m.get(i) != i as i32) {
            TH_LOG!("READ of the whole THP: int {i} holds {}", m.get(i));
        }
        for i in 0..size / 4 {
            ASSERT_EQ!(m.get(i), i as i32);
        }

        // A fresh file C (no entries) reads 100 pages from page 37: its first window starts
        // inside the PMD.
        let file_c = ASSERT_HMM_OPEN!(variant.device_number, "file_c");
        let (first, n) = (37usize, 100u64);
        let ints_per_page = self.page_size / 4;
        buffer.ptr = map.wrapping_add(first * self.page_size);
        buffer.mirror_fill(0xFF, size);
        let ret = hmm_dmirror_cmd(&file_c, HMM_DMIRROR_READ, &mut buffer, n);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, n);
        let m = buffer.mirror_ints();
        for i in 0..n as usize * ints_per_page {
            ASSERT_EQ!(m.get(i), (first * ints_per_page + i) as i32);
        }

        ASSERT_EQ!(close_device(file_c), 0);
        ASSERT_EQ!(close_device(file_b), 0);
        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }
}
