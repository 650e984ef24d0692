//! get_user_pages on device pages through the gup_test debugfs driver: hmm_gup_test.

use super::prelude::*;
use crate::sys::close;
use crate::sys::gup_test::{
    gup_test_exec, FOLL_LONGTERM, GUP_BASIC_TEST, GUP_FAST_BENCHMARK, GUP_TEST_PATH,
    PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK,
};

/// `open(path, O_RDWR)`.
fn open_rdwr(path: &str) -> i32 {
    let Ok(c) = std::ffi::CString::new(path) else {
        return -1;
    };
    // SAFETY: open(2) with a NUL-terminated path.
    unsafe { libc::open(c.as_ptr(), libc::O_RDWR) }
}

impl Hmm {
    /// Test get user device pages through gup_test. Setting PIN_LONGTERM flag. This should
    /// trigger a migration back to system memory for both, private and coherent type pages.
    /// This test makes use of gup_test module. Make sure GUP_TEST_CONFIG is added to your
    /// configuration before you run it.
    pub(crate) fn hmm_gup_test(&mut self, variant: &HmmVariant) {
        let gup_fd = open_rdwr(GUP_TEST_PATH);
        if gup_fd == -1 {
            SKIP!(return, "Skipping test, could not find gup_test driver");
        }

        let npages: u64 = 4;
        let size = size_of_pages(npages, self.page_shift);
        let ps = self.page_size;

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

        let base = buffer.ptr as usize;
        let gup = |fd, addr, cmd, npages, size, flags| {
            // SAFETY: `fd` is `gup_fd`, opened on GUP_TEST_PATH above.
            unsafe { gup_test_exec(fd, addr, cmd, npages, size, flags) }
        };
        ASSERT_EQ!(gup(gup_fd, base, GUP_BASIC_TEST, 1, ps, 0), 0);
        ASSERT_EQ!(gup(gup_fd, base + ps, GUP_FAST_BENCHMARK, 1, ps, 0), 0);
        ASSERT_EQ!(
            gup(
                gup_fd,
                base + 2 * ps,
                PIN_FAST_BENCHMARK,
                1,
                ps,
                FOLL_LONGTERM
            ),
            0
        );
        ASSERT_EQ!(
            gup(gup_fd, base + 3 * ps, PIN_LONGTERM_BENCHMARK, 1, ps, 0),
            0
        );

        // Take snapshot to CPU pagetables
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        let m = buffer.mirror_bytes();
        if hmm_is_coherent_type(variant.device_number) {
            ASSERT_EQ!(
                HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE,
                m.get(0)
            );
            ASSERT_EQ!(
                HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE,
                m.get(1)
            );
        } else {
            ASSERT_EQ!(HMM_DMIRROR_PROT_WRITE, m.get(0));
            ASSERT_EQ!(HMM_DMIRROR_PROT_WRITE, m.get(1));
        }
        ASSERT_EQ!(HMM_DMIRROR_PROT_WRITE, m.get(2));
        ASSERT_EQ!(HMM_DMIRROR_PROT_WRITE, m.get(3));
        // Check again the content on the pages. Make sure there's no corrupted data.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        // SAFETY: `gup_fd` is the raw fd this test opened, not used after this.
        let _ = unsafe { close(gup_fd) };
        hmm_buffer_free(buffer);
    }
}
