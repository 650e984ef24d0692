//! Migration of base pages to device memory and back: migrate, migrate_on_fault (the
//! migrate-on-fault series), migrate_file_private, migrate_fault, migrate_release,
//! migrate_shared, migrate_multiple.

use hmm_dmirror::Request;

use super::prelude::*;
use crate::buffer::mmap_new;
use crate::common::hmm_create_file;

impl Hmm {
    /// Migrate anonymous memory to device private memory.
    pub(crate) fn migrate(&mut self, _variant: &HmmVariant) {
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

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Fault and migrate anonymous memory to device private memory
    /// (`HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV`, migrate-on-fault series RFC 4/4). Skipped on
    /// a device speaking the mainline ABI, which has no such request.
    pub(crate) fn migrate_on_fault(&mut self, _variant: &HmmVariant) {
        if !self.fd.abi().supports(Request::MigrateOnFaultToDev) {
            SKIP!(
                return,
                "mainline ABI has no HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV"
            );
        }

        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = HmmBuffer::new_unmapped(size, size);

        let p = mmap_new(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        ASSERT_NE!(p, MAP_FAILED);
        // SAFETY: `p` is the anonymous mapping just made above, nothing else refers to it, and
        // from here on the test reaches it only through the buffer.
        unsafe {
            buffer.adopt_mapping(p, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        };

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Fault and migrate memory to device.
        let ret = hmm_migrate_on_fault_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Migrate private file memory to device private memory.
    pub(crate) fn migrate_file_private(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let fd = ASSERT_NOT_NULL!(hmm_create_file(size));

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE,
            &fd
        ));

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
        drop(fd);
    }

    /// Migrate anonymous memory to device private memory and fault some of it back to system
    /// memory, then try migrating the resulting mix of system and device private memory to
    /// the device.
    pub(crate) fn migrate_fault(&mut self, _variant: &HmmVariant) {
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

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Fault half the pages back to system memory and check them.
        let ptr = buffer.ints(size);
        for i in 0..size / (2 * 4) {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Migrate memory to the device again.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Migrate to the device, release the device memory (HMM_DMIRROR_RELEASE) and fault the
    /// pages back.
    pub(crate) fn migrate_release(&mut self, _variant: &HmmVariant) {
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

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Release device memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_RELEASE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);

        // Fault pages back to system memory and check them.
        let ptr = buffer.ints(size);
        for i in 0..size / (2 * 4) {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }

    /// Migrate anonymous shared memory to device private memory.
    pub(crate) fn migrate_shared(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS,
            -1
        ));

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, -libc::ENOENT);

        hmm_buffer_free(buffer);
    }

    /// Migrate anonymous memory to device memory and back to system memory multiple times.
    /// In case of private zone configuration, this is done through fault pages accessed by
    /// CPU. In case of coherent zone configuration, the pages from the device should be
    /// explicitly migrated back to system memory. The reason is Coherent device zone has
    /// coherent access by CPU, therefore it will not generate any page fault.
    pub(crate) fn migrate_multiple(&mut self, variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        for _c in 0..NTIMES {
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

            // Migrate memory to device.
            let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(buffer.cpages, npages);

            // Check what the device read.
            let ptr = buffer.mirror_ints();
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), i as i32);
            }

            // Migrate back to system memory and check them.
            if hmm_is_coherent_type(variant.device_number) {
                let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, npages);
                ASSERT_EQ!(ret, 0);
                ASSERT_EQ!(buffer.cpages, npages);
            }

            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), i as i32);
            }

            hmm_buffer_free(buffer);
        }
    }
}
