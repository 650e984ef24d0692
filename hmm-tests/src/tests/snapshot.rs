//! SNAPSHOT of the CPU page tables without faulting: mixedmap (the device fd's own mmap),
//! compound (a hugetlbfs page seen at PMD or PUD level).

use super::prelude::*;
use crate::sys::hugetlb::{default_huge_page_size, hugetlb_free_default_pages};

impl Hmm {
    /// Test memory snapshot without faulting in pages accessed by the device.
    pub(crate) fn mixedmap(&mut self, _variant: &HmmVariant) {
        let npages: u64 = 1;
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            npages as usize,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE,
            &self.fd
        ));

        // Simulate a device snapshotting CPU pagetables.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device saw.
        let m = buffer.mirror_bytes();
        ASSERT_EQ!(m.get(0), HMM_DMIRROR_PROT_READ);

        hmm_buffer_free(buffer);
    }

    /// Test the hmm_range_fault() handling of large pages (PMD or PUD) that should be mapped
    /// by a large page table entry.
    pub(crate) fn compound(&mut self, _variant: &HmmVariant) {
        let default_hsize = default_huge_page_size();

        // Skip test if we can't allocate a hugetlbfs page.
        if hugetlb_free_default_pages() == 0 {
            SKIP!(return, "Not enough huge pages");
        }

        let size = align(TWOMEG, default_hsize);
        let npages = (size >> self.page_shift) as u64;

        let Some(mut buffer) = hmm_buffer_alloc(
            size,
            npages as usize,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
            -1,
        ) else {
            SKIP!(return, "Huge page could not be allocated");
        };

        // Initialize the pages the device will snapshot in buffer->ptr.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Simulate a device snapshotting CPU pagetables.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device saw. The region is backed by a single huge page that the
        // device reports either at PMD or at PUD level depending on the configured default
        // hugepage size. Determine that level from the first page and require every page in
        // the range to match it exactly, so that a fragmented mapping mixing levels (or a
        // missing large-page bit) is still caught and reported with its actual value.
        let m = buffer.mirror_bytes();
        let prot = HMM_DMIRROR_PROT_WRITE
            | if m.get(0) & HMM_DMIRROR_PROT_PUD != 0 {
                HMM_DMIRROR_PROT_PUD
            } else {
                HMM_DMIRROR_PROT_PMD
            };
        for i in 0..npages as usize {
            ASSERT_EQ!(m.get(i), prot);
        }

        // Make the region read-only.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Simulate a device snapshotting CPU pagetables.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device saw after mprotect(PROT_READ). Same approach as above:
        // determine the mapping level from the first page and require every page to match
        // it exactly.
        let m = buffer.mirror_bytes();
        let prot = HMM_DMIRROR_PROT_READ
            | if m.get(0) & HMM_DMIRROR_PROT_PUD != 0 {
                HMM_DMIRROR_PROT_PUD
            } else {
                HMM_DMIRROR_PROT_PMD
            };
        for i in 0..npages as usize {
            ASSERT_EQ!(m.get(i), prot);
        }

        let _ = buffer.munmap(buffer.ptr, buffer.size);
        buffer.ptr = std::ptr::null_mut();
        hmm_buffer_free(buffer);
    }
}
