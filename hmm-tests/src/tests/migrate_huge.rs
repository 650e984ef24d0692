//! Migration of THP-sized (PMD) ranges: migrate_anon_huge_empty, migrate_anon_huge_zero,
//! migrate_anon_huge_free, migrate_anon_huge_fault (SNAPSHOT + /proc/self/pagemap),
//! migrate_partial_unmap_fault, migrate_remap_fault (mremap with/without
//! MREMAP_DONTUNMAP), migrate_anon_huge_err and migrate_anon_huge_zero_err (FLAGS
//! FAIL_ALLOC).

use super::prelude::*;
use crate::buffer::mmap_new;
use crate::sys::close;
use crate::sys::vm_util::{pagemap_get_entry, pagemap_present, PM_SWAP};

impl Hmm {
    /// Migrate private anonymous huge empty page.
    pub(crate) fn migrate_anon_huge_empty(&mut self, _variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            size,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, size);

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(buffer.ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        let old_ptr = buffer.ptr;
        buffer.ptr = map;

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Migrate private anonymous huge zero page.
    pub(crate) fn migrate_anon_huge_zero(&mut self, _variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            size,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, size);

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(buffer.ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        let old_ptr = buffer.ptr;
        buffer.ptr = map;

        // Initialize a read-only zero huge page.
        let val = buffer.ints(4).get(0);
        ASSERT_EQ!(val, 0);

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
        }

        // Fault pages back to system memory and check them.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
            // If it asserts once, it probably will 500,000 times
            if ptr.get(i) != 0 {
                break;
            }
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Migrate private anonymous huge page and free.
    pub(crate) fn migrate_anon_huge_free(&mut self, _variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, size);

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(buffer.ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        let old_ptr = buffer.ptr;
        buffer.ptr = map;

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

        // Try freeing it.
        let ret = buffer.madvise(map, size, libc::MADV_FREE);
        ASSERT_EQ!(ret, 0);

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Migrate private anonymous huge page and fault back to sysmem.
    pub(crate) fn migrate_anon_huge_fault(&mut self, variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, size);

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(buffer.ptr, size);
        let old_ptr = buffer.ptr;
        buffer.ptr = map;

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        let ret = buffer.madvise(map, size, MADV_COLLAPSE);
        ASSERT_EQ!(ret, 0);

        // Migrate memory to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        if !hmm_is_coherent_type(variant.device_number) {
            let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_SNAPSHOT, &mut buffer, npages);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(buffer.cpages, npages);

            let m = buffer.mirror_bytes();
            for i in 0..npages as usize {
                ASSERT_EQ!(
                    m.get(i),
                    HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL
                        | HMM_DMIRROR_PROT_WRITE
                        | HMM_DMIRROR_PROT_PMD
                );
            }

            // SAFETY: open(2) with a NUL-terminated path.
            let pagemap_fd = unsafe { libc::open(c"/proc/self/pagemap".as_ptr(), libc::O_RDONLY) };
            ASSERT_GE!(pagemap_fd, 0);

            for i in 0..npages as usize {
                let Some(entry) =
                    pagemap_get_entry(pagemap_fd, buffer.ptr as usize + i * self.page_size)
                else {
                    TH_LOG!("reading pagemap failed");
                    crate::harness::assert::set_exit_code(crate::harness::KSFT_FAIL);
                    crate::harness::assert::bail();
                };

                ASSERT_NE!(entry & PM_SWAP, 0);
                ASSERT_FALSE!(pagemap_present(entry));
            }

            // SAFETY: `pagemap_fd` is the raw fd opened above, not used after this.
            let _ = unsafe { close(pagemap_fd) };
        }

        // Fault pages back to system memory and check them.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Migrate memory and fault back to sysmem after partially unmapping.
    pub(crate) fn migrate_partial_unmap_fault(&mut self, _variant: &HmmVariant) {
        let mut size = read_pmd_pagesize();
        if size == 0 {
            size = TWOMEG;
        }

        let unmap_size = size / 2;
        let offsets = [0, size / 4, size / 2];

        for use_thp in 0..2 {
            for offset in offsets {
                let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
                    2 * size,
                    size,
                    PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS,
                    -1
                ));
                buffer.mirror_fill(0xFF, size);
                let npages = (size >> self.page_shift) as u64;
                let map = align_ptr(buffer.ptr, size);
                let ret = if use_thp != 0 {
                    buffer.madvise(map, size, libc::MADV_HUGEPAGE)
                } else {
                    buffer.madvise(map, size, libc::MADV_NOHUGEPAGE)
                };
                ASSERT_EQ!(ret, 0);
                let old_ptr = buffer.ptr;
                buffer.ptr = map;

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

                let _ = buffer.munmap(buffer.at(offset), unmap_size);

                // Fault pages back to system memory and check them.
                let ptr = buffer.ints(size);
                for i in 0..size / 4 {
                    if i * 4 < offset || i * 4 >= offset + unmap_size {
                        ASSERT_EQ!(ptr.get(i), i as i32);
                    }
                }

                buffer.ptr = old_ptr;
                hmm_buffer_free(buffer);
            }
        }
    }

    /// Migrate memory and fault it back after mremap()ing it elsewhere, before or after the
    /// migration, with and without MREMAP_DONTUNMAP, with and without THP.
    pub(crate) fn migrate_remap_fault(&mut self, _variant: &HmmVariant) {
        let mut size = read_pmd_pagesize();
        if size == 0 {
            size = TWOMEG;
        }

        let offsets = [0, size / 4, size / 2];

        for before in 0..2 {
            for dont_unmap in 0..2 {
                for use_thp in 0..2 {
                    for offset in offsets {
                        let mut flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;

                        if dont_unmap != 0 {
                            flags |= libc::MREMAP_DONTUNMAP;
                        }

                        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
                            8 * size,
                            size,
                            PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS,
                            -1
                        ));
                        buffer.mirror_fill(0xFF, size);
                        let npages = (size >> self.page_shift) as u64;
                        let map = align_ptr(buffer.ptr, size);
                        let ret = if use_thp != 0 {
                            buffer.madvise(map, size, libc::MADV_HUGEPAGE)
                        } else {
                            buffer.madvise(map, size, libc::MADV_NOHUGEPAGE)
                        };
                        ASSERT_EQ!(ret, 0);
                        let old_ptr = buffer.ptr;
                        let _ = buffer.munmap(map.wrapping_add(size), size * 2);
                        buffer.ptr = map;

                        // Initialize buffer in system memory.
                        let ptr = buffer.ints(size);
                        for i in 0..size / 4 {
                            ptr.set(i, i as i32);
                        }

                        let mut new_ptr = std::ptr::null_mut();
                        if before != 0 {
                            // SAFETY: the target lies in the hole this case unmapped above
                            // (`munmap(map + size, size * 2)`), and the case maps nothing
                            // else meanwhile.
                            new_ptr = unsafe {
                                buffer.mremap(
                                    map,
                                    size,
                                    size,
                                    flags,
                                    map.wrapping_add(size + offset),
                                )
                            };
                            ASSERT_NE!(new_ptr, MAP_FAILED);
                            buffer.ptr = new_ptr;
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

                        if before == 0 {
                            // SAFETY: the target lies in the hole this case unmapped above
                            // (`munmap(map + size, size * 2)`), and the case maps nothing
                            // else meanwhile.
                            new_ptr = unsafe {
                                buffer.mremap(
                                    map,
                                    size,
                                    size,
                                    flags,
                                    map.wrapping_add(size + offset),
                                )
                            };
                            ASSERT_NE!(new_ptr, MAP_FAILED);
                            buffer.ptr = new_ptr;
                        }

                        // Fault pages back to system memory and check them.
                        let ptr = buffer.ints(size);
                        for i in 0..size / 4 {
                            ASSERT_EQ!(ptr.get(i), i as i32);
                        }

                        let _ = buffer.munmap(new_ptr, size);
                        buffer.ptr = old_ptr;
                        hmm_buffer_free(buffer);
                    }
                }
            }
        }
    }

    /// Migrate private anonymous huge page with allocation errors.
    pub(crate) fn migrate_anon_huge_err(&mut self, _variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            2 * size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, 2 * size);

        let old_ptr = buffer.ptr;

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(old_ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        buffer.ptr = map;

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Migrate memory to device but force a THP allocation error.
        let ret = hmm_dmirror_cmd(
            &self.fd,
            HMM_DMIRROR_FLAGS,
            &mut buffer,
            HMM_DMIRROR_FLAG_FAIL_ALLOC,
        );
        ASSERT_EQ!(ret, 0);
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), i as i32);
            if ptr.get(i) != i as i32 {
                break;
            }
        }

        // Try faulting back a single (PAGE_SIZE) page.
        let ptr = buffer.ints(size);
        ASSERT_EQ!(ptr.get(2048), 2048);

        // unmap and remap the region to reset things.
        let ret = buffer.munmap(old_ptr, 2 * size);
        ASSERT_EQ!(ret, 0);
        let old_ptr = mmap_new(
            2 * size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
        );
        ASSERT_NE!(old_ptr, MAP_FAILED);
        // SAFETY: `old_ptr` is the anonymous mapping just made above, nothing else refers to it, and
        // from here on the test reaches it only through the buffer.
        unsafe {
            buffer.adopt_mapping(
                old_ptr,
                2 * size,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
            )
        };
        let map = align_ptr(old_ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        buffer.ptr = map;

        // Initialize buffer in system memory.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, i as i32);
        }

        // Migrate THP to device.
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Force an allocation error when faulting back a THP resident in the device.
        let ret = hmm_dmirror_cmd(
            &self.fd,
            HMM_DMIRROR_FLAGS,
            &mut buffer,
            HMM_DMIRROR_FLAG_FAIL_ALLOC,
        );
        ASSERT_EQ!(ret, 0);

        let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        let ptr = buffer.ints(size);
        ASSERT_EQ!(ptr.get(2048), 2048);

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }

    /// Migrate private anonymous huge zero page with allocation errors.
    pub(crate) fn migrate_anon_huge_zero_err(&mut self, _variant: &HmmVariant) {
        let size = read_pmd_pagesize();

        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            2 * size,
            2 * size,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        buffer.mirror_fill(0xFF, 2 * size);

        let old_ptr = buffer.ptr;

        let npages = (size >> self.page_shift) as u64;
        let map = align_ptr(old_ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        buffer.ptr = map;

        // Migrate memory to device but force a THP allocation error.
        let ret = hmm_dmirror_cmd(
            &self.fd,
            HMM_DMIRROR_FLAGS,
            &mut buffer,
            HMM_DMIRROR_FLAG_FAIL_ALLOC,
        );
        ASSERT_EQ!(ret, 0);
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Check what the device read.
        let ptr = buffer.mirror_ints();
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
        }

        // Try faulting back a single (PAGE_SIZE) page.
        let ptr_addr = buffer.ptr;
        ASSERT_EQ!(buffer.ints(size).get(2048), 0);

        // unmap and remap the region to reset things.
        let ret = buffer.munmap(old_ptr, 2 * size);
        ASSERT_EQ!(ret, 0);
        let old_ptr = mmap_new(2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
        ASSERT_NE!(old_ptr, MAP_FAILED);
        // SAFETY: `old_ptr` is the anonymous mapping just made above, nothing else refers to it, and
        // from here on the test reaches it only through the buffer.
        unsafe { buffer.adopt_mapping(old_ptr, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) };
        let map = align_ptr(old_ptr, size);
        let ret = buffer.madvise(map, size, libc::MADV_HUGEPAGE);
        ASSERT_EQ!(ret, 0);
        buffer.ptr = map;

        // Initialize buffer in system memory (zero THP page). As in C this reads through
        // the pointer taken before the remap (the new mapping normally lands at the same
        // address; if it does not, C faults and the port's view check fails the case).
        let ret = buffer.ints_at(ptr_addr, 4).get(0);
        ASSERT_EQ!(ret, 0);

        // Migrate memory to device but force a THP allocation error.
        let ret = hmm_dmirror_cmd(
            &self.fd,
            HMM_DMIRROR_FLAGS,
            &mut buffer,
            HMM_DMIRROR_FLAG_FAIL_ALLOC,
        );
        ASSERT_EQ!(ret, 0);
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, npages);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, npages);

        // Fault the device memory back and check it.
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ASSERT_EQ!(ptr.get(i), 0);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
    }
}
