//! Device-exclusive access (HMM_DMIRROR_EXCLUSIVE / CHECK_EXCLUSIVE): exclusive,
//! exclusive_mprotect, exclusive_cow.

use super::prelude::*;

impl Hmm {
    /// Basic check of exclusive faulting.
    pub(crate) fn exclusive(&mut self, _variant: &HmmVariant) {
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

        // Map memory exclusively for device access.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_EXCLUSIVE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // Fault pages back to system memory and check them.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.post_inc(i), i as i32);
        }

        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), (i + 1) as i32);
        }

        // Check atomic access revoked
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);

        hmm_buffer_free(buffer);
    }

    /// Exclusive access, then mprotect(PROT_READ): a device write must fail with EPERM.
    pub(crate) fn exclusive_mprotect(&mut self, _variant: &HmmVariant) {
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

        // Map memory exclusively for device access.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_EXCLUSIVE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        let ret = buffer.mprotect(buffer.ptr, size, PROT_READ);
        ASSERT_EQ!(ret, 0);

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, -libc::EPERM);

        hmm_buffer_free(buffer);
    }

    /// Check copy-on-write works.
    pub(crate) fn exclusive_cow(&mut self, _variant: &HmmVariant) {
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

        // Map memory exclusively for device access.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_EXCLUSIVE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // SAFETY: the case runs in a process of its own, forked by the harness (which leaves
        // it one thread), and this test starts no thread.
        let pid = unsafe { fork() };
        if pid == -1 {
            ASSERT_EQ!(pid, 0);
        }

        if pid == 0 {
            // Child verifies COW independently, then _exit(0)s so it does not run the test
            // teardown. A failed ASSERT_* here aborts the child, so the parent sees
            // !WIFEXITED(status) below and fails in turn.
            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.post_inc(i), i as i32);
            }

            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), (i + 1) as i32);
            }

            exit_child(0);
        }

        // Parent: also increment to verify COW works for both processes.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.post_inc(i), i as i32);
        }

        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), (i + 1) as i32);
        }

        // Parent: wait for child and then free the buffer.
        let (waited, status) = waitpid(pid);
        ASSERT_EQ!(waited, pid);
        ASSERT_TRUE!(libc::WIFEXITED(status));
        ASSERT_EQ!(libc::WEXITSTATUS(status), 0);

        hmm_buffer_free(buffer);
    }
}
