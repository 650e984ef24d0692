//! Two devices on one address space (`hmm2` fixture): migrate_mixed, snapshot, double_map.

use super::prelude::*;

impl Hmm2 {
    /// Try to migrate various memory types to device private memory.
    pub(crate) fn migrate_mixed(&mut self, _variant: &Hmm2Variant) {
        let npages: u64 = 6;
        let size = size_of_pages(npages, self.page_shift);
        let ps = self.page_size;

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        let p = buffer.ptr;

        // Migrating a protected area should be an error.
        let ret = hmm_migrate_sys_to_dev(&self.fd1, &mut buffer, npages);
        ASSERT_EQ!(ret, -libc::EINVAL);

        // Punch a hole after the first page address.
        let ret = buffer.munmap(buffer.at(ps), ps);
        ASSERT_EQ!(ret, 0);

        // We expect an error if the vma doesn't cover the range.
        let ret = hmm_migrate_sys_to_dev(&self.fd1, &mut buffer, 3);
        ASSERT_EQ!(ret, -libc::EINVAL);

        // Page 2 will be a read-only zero page.
        let ret = buffer.mprotect(buffer.at(2 * ps), ps, PROT_READ);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(2 * ps), 4);
        let val = ptr.get(0) + 3;
        ASSERT_EQ!(val, 3);

        // Page 3 will be read-only.
        let ret = buffer.mprotect(buffer.at(3 * ps), ps, PROT_READ | PROT_WRITE);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(3 * ps), 4);
        ptr.set(0, val);
        let ret = buffer.mprotect(buffer.at(3 * ps), ps, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Page 4-5 will be read-write.
        let ret = buffer.mprotect(buffer.at(4 * ps), 2 * ps, PROT_READ | PROT_WRITE);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(4 * ps), 4);
        ptr.set(0, val);
        let ptr = buffer.ints_at(buffer.at(5 * ps), 4);
        ptr.set(0, val);

        // Now try to migrate pages 2-5 to device 1.
        buffer.ptr = p.wrapping_add(2 * ps);
        let ret = hmm_migrate_sys_to_dev(&self.fd1, &mut buffer, 4);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, 4);

        // Page 5 won't be migrated to device 0 because it's on device 1.
        buffer.ptr = p.wrapping_add(5 * ps);
        let ret = hmm_migrate_sys_to_dev(&self.fd0, &mut buffer, 1);
        ASSERT_EQ!(ret, -libc::ENOENT);

        buffer.ptr = p;
        hmm_buffer_free(buffer);
    }

    /// Test memory snapshot without faulting in pages accessed by the device.
    pub(crate) fn snapshot(&mut self, variant: &Hmm2Variant) {
        let npages: u64 = 7;
        let size = size_of_pages(npages, self.page_shift);
        let ps = self.page_size;

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            npages as usize,
            PROT_NONE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        let p = buffer.ptr;

        // Punch a hole after the first page address.
        let ret = buffer.munmap(buffer.at(ps), ps);
        ASSERT_EQ!(ret, 0);

        // Page 2 will be read-only zero page.
        let ret = buffer.mprotect(buffer.at(2 * ps), ps, PROT_READ);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(2 * ps), 4);
        let val = ptr.get(0) + 3;
        ASSERT_EQ!(val, 3);

        // Page 3 will be read-only.
        let ret = buffer.mprotect(buffer.at(3 * ps), ps, PROT_READ | PROT_WRITE);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(3 * ps), 4);
        ptr.set(0, val);
        let ret = buffer.mprotect(buffer.at(3 * ps), ps, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Page 4-6 will be read-write.
        let ret = buffer.mprotect(buffer.at(4 * ps), 3 * ps, PROT_READ | PROT_WRITE);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints_at(buffer.at(4 * ps), 4);
        ptr.set(0, val);

        // Page 5 will be migrated to device 0.
        buffer.ptr = p.wrapping_add(5 * ps);
        let ret = hmm_migrate_sys_to_dev(&self.fd0, &mut buffer, 1);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, 1);

        // Page 6 will be migrated to device 1.
        buffer.ptr = p.wrapping_add(6 * ps);
        let ret = hmm_migrate_sys_to_dev(&self.fd1, &mut buffer, 1);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, 1);

        // Simulate a device snapshotting CPU pagetables.
        buffer.ptr = p;
        let ret = hmm_dmirror_cmd(&self.fd0, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device saw.
        let m = buffer.mirror_bytes();
        ASSERT_EQ!(m.get(0), HMM_DMIRROR_PROT_ERROR);
        ASSERT_EQ!(m.get(1), HMM_DMIRROR_PROT_ERROR);
        ASSERT_EQ!(m.get(2), HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
        ASSERT_EQ!(m.get(3), HMM_DMIRROR_PROT_READ);
        ASSERT_EQ!(m.get(4), HMM_DMIRROR_PROT_WRITE);
        if !hmm_is_coherent_type(variant.device_number0) {
            ASSERT_EQ!(
                m.get(5),
                HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE
            );
            ASSERT_EQ!(m.get(6), HMM_DMIRROR_PROT_NONE);
        } else {
            ASSERT_EQ!(
                m.get(5),
                HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE
            );
            ASSERT_EQ!(
                m.get(6),
                HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE
            );
        }

        hmm_buffer_free(buffer);
    }

    /// Test two devices reading the same memory (double mapped).
    pub(crate) fn double_map(&mut self, _variant: &Hmm2Variant) {
        let npages: u64 = 6;
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

        // Make region read-only.
        let ret = buffer.mprotect(buffer.ptr, size, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Simulate device 0 reading system memory.
        let ret = hmm_dmirror_cmd(&self.fd0, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Simulate device 1 reading system memory.
        let ret = hmm_dmirror_cmd(&self.fd1, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Migrate pages to device 1 and try to read from device 0.
        let ret = hmm_migrate_sys_to_dev(&self.fd1, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        let ret = hmm_dmirror_cmd(&self.fd0, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what device 0 read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
    }
}
