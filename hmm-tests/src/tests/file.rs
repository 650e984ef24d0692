//! Device READ/WRITE of a shared file mapping (an `O_TMPFILE` in /tmp): file_read,
//! file_write.

use super::prelude::*;
use hmm_dmirror::TempFile;

use crate::common::hmm_create_file;

/// `pwrite(fd, buffer->mirror, size, 0)`: `size`, or -1.
fn pwrite_mirror(fd: &TempFile, buffer: &mut HmmBuffer, size: usize) -> isize {
    match fd.write_all_at(0, &buffer.mirror()[..size]) {
        Ok(()) => size as isize,
        Err(e) => {
            TH_LOG!("{e}");
            -1
        }
    }
}

/// `pread(fd, buffer->mirror, size, 0)`: `size`, or -1.
fn pread_mirror(fd: &TempFile, buffer: &mut HmmBuffer, size: usize) -> isize {
    match fd.read_exact_at(0, &mut buffer.mirror()[..size]) {
        Ok(()) => size as isize,
        Err(e) => {
            TH_LOG!("{e}");
            -1
        }
    }
}

impl Hmm {
    /// Read mmap'ed file memory.
    pub(crate) fn file_read(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let fd = ASSERT_NOT_NULL!(hmm_create_file(size));

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(size, size, PROT_READ, MAP_SHARED, &fd));

        // Write initial contents of the file.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }
        let len = pwrite_mirror(&fd, &mut buffer, size);
        ASSERT_EQ!(len, size as isize);
        buffer.mirror_fill(0, size);

        // Simulate a device reading system memory.
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);
        ASSERT_EQ!(buffer.faults, 1);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
        // (The C test leaves the file open until the process exits.)
        drop(fd);
    }

    /// Write mmap'ed file memory.
    pub(crate) fn file_write(&mut self, _variant: &HmmVariant) {
        let npages = npages_of(HMM_BUFFER_SIZE, self.page_size, self.page_shift);
        ASSERT_NE!(npages, 0);
        let size = size_of_pages(npages, self.page_shift);

        let fd = ASSERT_NOT_NULL!(hmm_create_file(size));

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_SHARED,
            &fd
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

        // Check that the device also wrote the file.
        let len = pread_mirror(&fd, &mut buffer, size);
        ASSERT_EQ!(len, size as isize);
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        hmm_buffer_free(buffer);
        drop(fd);
    }
}
