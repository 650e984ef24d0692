//! Device READ/WRITE of private anonymous memory: open_close, anon_read, anon_read_prot,
//! anon_write, anon_write_prot, anon_write_huge, anon_write_hugetlbfs, anon_read_multiple,
//! anon_teardown.

use super::prelude::*;
use crate::sys::hugetlb::{default_huge_page_size, hugetlb_free_default_pages};

/// `unmap_buffer()`: delay for a bit, then unmap the second half of the buffer while the
/// device reads it. (The C thread also sets `buffer->ptr = NULL` without synchronisation;
/// the port keeps `ptr` and lets `hmm_buffer_free` unmap what is left.) The mapping's
/// `unmap_pages` takes `&self`, so it may race the request on the other thread.
fn unmap_buffer(mapping: &hmm_dmirror::Mapping) {
    crate::common::hmm_nanosleep(crate::common::hmm_random() % 32000);
    let half = mapping.npages() / 2;
    let _ = mapping.unmap_pages(half, mapping.npages() - half);
}

/// `hmm_dmirror_cmd(fd, HMM_DMIRROR_READ, buffer, npages)` while `unmap_buffer` runs on
/// another thread (`pthread_create`, then `pthread_join`): 0 or `-errno`, the counters
/// stored in the buffer on success.
fn read_while_unmapping(dev: &hmm_dmirror::Device, buffer: &mut HmmBuffer, npages: u64) -> i32 {
    let (mapping, mirror) = buffer.split();
    let res = std::thread::scope(|s| {
        let thread = std::thread::Builder::new().spawn_scoped(s, || unmap_buffer(mapping));
        let rc = i32::from(thread.is_err());
        ASSERT_EQ!(rc, 0);
        // Simulate a device reading system memory.
        let range = mapping.pages(0, npages as usize);
        range.and_then(|r| dev.read(r, mirror))
    });
    match res {
        Ok(counts) => {
            buffer.cpages = counts.cpages;
            buffer.faults = counts.faults;
            0
        }
        Err(e) => neg_errno(&e),
    }
}

impl Hmm {
    /// Simple NULL test of device open/close.
    pub(crate) fn open_close(&mut self, _variant: &HmmVariant) {}

    /// Read private anonymous memory.
    pub(crate) fn anon_read(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));

        // Initialize buffer in system memory but leave the first two pages zero (pte_none
        // and pfn_zero).
        let ptr = buffer.ints(size);
        for i in 2 * self.page_size / 4..size / 4 {
            ptr.set(i, i as i32);
        }

        // Set buffer permission to read-only.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Populate the CPU page table with a special zero page.
        let val = buffer.ints_at(buffer.at(self.page_size), 4).get(0);
        ASSERT_EQ!(val, 0);

        // Simulate a device reading system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        let zero_ints = 2 * self.page_size / 4;
        for i in 0..zero_ints {
            ASSERT_EQ!(ptr.get(i), 0);
        }
        for i in zero_ints..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Read private anonymous memory which has been protected with mprotect() PROT_NONE.
    pub(crate) fn anon_read_prot(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Initialize mirror buffer so we can verify it isn't written.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, -(i as i32));
        }

        // Protect buffer from reading.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_NONE);
        ASSERT_EQ!(ret, 0);

        // Simulate a device reading system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, -libc::EFAULT);

        // Allow CPU to read the buffer so we can check it.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_READ);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), -(i as i32));
        }

        hmm_buffer_free(buffer);
    }

    /// Write private anonymous memory.
    pub(crate) fn anon_write(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));

        // Initialize data that the device will write to buffer->ptr.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Write private anonymous memory which has been protected with mprotect() PROT_READ.
    pub(crate) fn anon_write_prot(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));

        // Simulate a device reading a zero page of memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, 1);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, 1);
        ASSERT_EQ!(buffer.faults, 1);

        // Initialize data that the device will write to buffer->ptr.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, -libc::EPERM);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
        }

        // Now allow writing and see that the zero page is replaced.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_WRITE | PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Write private anonymous huge page.
    pub(crate) fn anon_write_huge(&mut self, _variant: &HmmVariant) {
        let mut size = 2 * read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        size /= 2;
        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(buffer.ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        let old_ptr = buffer.ptr;
        buffer.ptr = map;

        // Initialize data that the device will write to buffer->ptr.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Write huge TLBFS page.
    pub(crate) fn anon_write_hugetlbfs(&mut self, _variant: &HmmVariant) {
        let default_hsize = default_huge_page_size();

        if hugetlb_free_default_pages() == 0 {
            SKIP!(return, "Not enough huge pages");
        }

        let size = align(TWOMEG, default_hsize);
        let npages = (size >> self.page_shift) as u64;

        let Some(mut buffer) = hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
            -1,
        ) else {
            SKIP!(return, "Huge page could not be allocated");
        };

        // Initialize data that the device will write to buffer->ptr.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        let _ = buffer.munmap(buffer.ptr, buffer.size);
        buffer.ptr = std::ptr::null_mut();
        hmm_buffer_free(buffer);
    }

    /// Read anonymous memory multiple times.
    pub(crate) fn anon_read_multiple(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        for c in 0..NTIMES {
            let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
                size,
                size,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1
            ));

            // Initialize buffer in system memory.
            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ptr.set(i, (i + c) as i32);
            }

            // Simulate a device reading system memory.
            let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, npages);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(buffer.cpages, npages);
            ASSERT_EQ!(buffer.faults, 1);

            // Check what the device read.
            let ptr = buffer.mirror_ints();
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), (i + c) as i32);
            }

            hmm_buffer_free(buffer);
        }
    }

    /// Try reading anonymous memory while it is being unmapped.
    pub(crate) fn anon_teardown(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        for c in 0..NTIMES {
            let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
                size,
                size,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1
            ));

            // Initialize buffer in system memory.
            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ptr.set(i, (i + c) as i32);
            }

            let rc = read_while_unmapping(&self.fd, &mut buffer, npages);
            if rc == 0 {
                ASSERT_EQ!(buffer.cpages, npages);
                ASSERT_EQ!(buffer.faults, 1);

                // Check what the device read.
                let ptr = buffer.mirror_ints();
                for i in 0..size / 4 {
                    ASSERT_EQ!(ptr.get(i), (i + c) as i32);
                }
            }

            hmm_buffer_free(buffer);
        }
    }
}
