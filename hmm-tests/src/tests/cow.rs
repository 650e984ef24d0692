//! Copy-on-write across fork(): anon_write_child, anon_write_child_shared,
//! hmm_cow_in_device.

use super::prelude::*;

impl Hmm {
    /// Check that a device writing an anonymous private mapping will copy-on-write if a child
    /// process inherits the mapping. Also verifies after fork() memory the device can be read
    /// by child.
    pub(crate) fn anon_write_child(&mut self, _variant: &HmmVariant) {
        for migrate in 0..2 {
            for use_thp in 0..2 {
                let npages = npages_of(
                    if use_thp != 0 {
                        read_pmd_pagesize()
                    } else {
                        HMM_BUFFER_SIZE
                    },
                    self.page_size,
                    self.page_shift,
                );
                ASSERT_NE!(npages, 0);
                let size = size_of_pages(npages, self.page_shift);

                let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
                    size * 2,
                    size,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS,
                    -1
                ));
                let old_ptr = buffer.ptr;
                if use_thp != 0 {
                    let map = align_ptr(buffer.ptr, size);
                    let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
                    ASSERT_EQ!(ret, 0);
                    buffer.ptr = map;
                }

                // Initialize buffer->ptr so we can tell if it is written.
                let ptr = buffer.ints(size);
                for i in 0..size / 4 {
                    ptr.set(i, i as i32);
                }

                // Initialize data that the device will write to buffer->ptr.
                let ptr = buffer.mirror_ints();
                for i in 0..size / 4 {
                    ptr.set(i, -(i as i32));
                }

                if migrate != 0 {
                    let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
                    ASSERT_EQ!(ret, 0);
                    ASSERT_EQ!(buffer.cpages, npages);
                }

                // SAFETY: the case runs in a process of its own, forked by the harness (which
                // leaves it one thread), and this test starts no thread.
                let pid = unsafe { fork() };
                if pid == -1 {
                    ASSERT_EQ!(pid, 0);
                }
                if pid != 0 {
                    let (_, ret) = waitpid(pid);
                    ASSERT_EQ!(i32::from(libc::WIFEXITED(ret)), 1);

                    // Check that the parent's buffer did not change.
                    let ptr = buffer.ints(size);
                    for i in 0..size / 4 {
                        ASSERT_EQ!(ptr.get(i), i as i32);
                    }

                    buffer.ptr = old_ptr;
                    hmm_buffer_free(buffer);
                    continue;
                }

                // Check that we see the parent's values.
                let ptr = buffer.ints(size);
                for i in 0..size / 4 {
                    ASSERT_EQ!(ptr.get(i), i as i32);
                }
                if migrate == 0 {
                    let ptr = buffer.mirror_ints();
                    for i in 0..size / 4 {
                        ASSERT_EQ!(ptr.get(i), -(i as i32));
                    }
                }

                // The child process needs its own mirror to its own mm.
                let child_fd = ASSERT_HMM_OPEN!(0, "child_fd");

                // Simulate a device writing system memory.
                let ret = hmm_dmirror_cmd(&child_fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
                ASSERT_EQ!(ret, 0);
                ASSERT_EQ!(buffer.cpages, npages);
                ASSERT_EQ!(buffer.faults, 1);

                // Check what the device wrote.
                if migrate == 0 {
                    let ptr = buffer.ints(size);
                    for i in 0..size / 4 {
                        ASSERT_EQ!(ptr.get(i), -(i as i32));
                    }
                }

                drop(child_fd);
                exit_child(0);
            }
        }
    }

    /// Check that a device writing an anonymous shared mapping will not copy-on-write if a
    /// child process inherits the mapping.
    pub(crate) fn anon_write_child_shared(&mut self, _variant: &HmmVariant) {
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

        // Initialize buffer->ptr so we can tell if it is written.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Initialize data that the device will write to buffer->ptr.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, -(i as i32));
        }

        // SAFETY: the case runs in a process of its own, forked by the harness (which leaves
        // it one thread), and this test starts no thread.
        let pid = unsafe { fork() };
        if pid == -1 {
            ASSERT_EQ!(pid, 0);
        }
        if pid != 0 {
            let (_, ret) = waitpid(pid);
            ASSERT_EQ!(i32::from(libc::WIFEXITED(ret)), 1);

            // Check that the parent's buffer did change.
            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), -(i as i32));
            }
            return;
        }

        // Check that we see the parent's values.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), -(i as i32));
        }

        // The child process needs its own mirror to its own mm.
        let child_fd = ASSERT_HMM_OPEN!(0, "child_fd");

        // Simulate a device writing system memory.
        let ret = hmm_dmirror_cmd(&child_fd, HMM_DMIRROR_WRITE, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device wrote.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), -(i as i32));
        }

        drop(child_fd);
        exit_child(0);
    }

    /// Test copy-on-write in device pages. In case of writing to COW private page(s), a page
    /// fault will migrate pages back to system memory first. Then, these pages will be
    /// duplicated. In case of COW device coherent type, pages are duplicated directly from
    /// device memory.
    pub(crate) fn hmm_cow_in_device(&mut self, _variant: &HmmVariant) {
        let npages: u64 = 4;
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

        // SAFETY: the case runs in a process of its own, forked by the harness (which leaves
        // it one thread), and this test starts no thread.
        let pid = unsafe { fork() };
        if pid == -1 {
            ASSERT_EQ!(pid, 0);
        }
        if pid == 0 {
            // Child process waits for SIGKILL from the parent.
            loop {
                std::hint::spin_loop();
            }
        }
        // Parent process writes to COW pages(s) and gets a new copy in system. In case of
        // device private pages, this write causes a migration to system mem first.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Terminate child and wait
        EXPECT_EQ!(0, kill(pid, libc::SIGKILL));
        let (waited, status) = waitpid(pid);
        EXPECT_EQ!(pid, waited);
        EXPECT_NE!(0, i32::from(libc::WIFSIGNALED(status)));
        EXPECT_EQ!(libc::SIGKILL, libc::WTERMSIG(status));

        // Take snapshot to CPU pagetables
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_bytes();
        for i in 0..npages as usize {
            ASSERT_EQ!(HMM_DMIRROR_PROT_WRITE, m.get(i));
        }

        hmm_buffer_free(buffer);
    }
}
