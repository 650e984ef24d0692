//! hmm-rs regression case, not in upstream hmm-tests.c: a PMD-sized hole migrated to a
//! coherent device that has single pages left but not enough for the whole hole.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | migrate_hole_device_full | MIGRATE_TO_DEV of 2 MiB holes until the coherent device is full | the split fallback gave the hole's compound entry some single pages and left the rest of its destinations empty; `migrate_vma_pages()` inserts all 512 pages of a hole and took `page_folio(NULL)` (oops) |

use super::prelude::*;

/// Pages migrated first, one by one, so that the single pages left for the holes are not a
/// multiple of 512.
const ODD: usize = 100;
/// Bytes of holes offered: more than the 256 MiB of a coherent device.
const HOLES: usize = 320 << 20;

impl Hmm {
    /// Fills the coherent device with 2 MiB holes after [`ODD`] single pages. The last hole
    /// finds 1..511 free single pages: it must be migrated whole or not at all (here: not at
    /// all, its read-back fails with ENOENT or ENOMEM), and the device and the CPU must both
    /// read it as zeros. A device-private device maps new chunks on demand and cannot be
    /// filled, so the case runs on the coherent variant only.
    pub(crate) fn migrate_hole_device_full(&mut self, variant: &HmmVariant) {
        if !hmm_is_coherent_type(variant.device_number) {
            SKIP!(
                return,
                "a device-private device maps new chunks on demand: it cannot be filled"
            );
        }
        let pmd = read_pmd_pagesize();
        ASSERT_NE!(pmd, 0);
        let per_hole = (pmd >> self.page_shift) as u64;

        // ODD single pages of data in device memory.
        let odd_size = ODD * self.page_size;
        let mut odd = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            odd_size,
            odd_size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        ASSERT_EQ!(odd.madvise(odd.ptr, odd_size, libc::MADV_NOHUGEPAGE), 0);
        let p = odd.ints(odd_size);
        for i in 0..odd_size / 4 {
            p.set(i, i as i32 + 7);
        }
        let ret = hmm_migrate_sys_to_dev(&self.fd, &mut odd, ODD as u64);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(odd.cpages, ODD as u64);

        // Untouched, PMD-aligned holes, one migration each, until the device is full.
        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            HOLES + pmd,
            pmd,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        let map = align_ptr(buffer.ptr, pmd);
        ASSERT_EQ!(buffer.madvise(map, HOLES, libc::MADV_HUGEPAGE), 0);
        let old_ptr = buffer.ptr;
        let mut full = None;
        for k in 0..HOLES / pmd {
            buffer.ptr = map.wrapping_add(k * pmd);
            let ret = hmm_migrate_sys_to_dev(&self.fd, &mut buffer, per_hole);
            if ret != 0 {
                full = Some((k, ret));
                break;
            }
            ASSERT_EQ!(buffer.cpages, per_hole);
        }
        let Some((k, ret)) = full else {
            TH_LOG!("{} MiB of holes all fit in the device", HOLES >> 20);
            ASSERT_TRUE!(false);
            unreachable!()
        };
        TH_LOG!("the device was full at hole {k}: MIGRATE_TO_DEV returned {ret}");
        ASSERT_TRUE!(ret == -libc::ENOENT || ret == -libc::ENOMEM);

        // The hole that did not fit reads as zeros, from the device and from the CPU.
        buffer.mirror_fill(0xAB, pmd);
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, per_hole);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, per_hole);
        let m = buffer.mirror_ints();
        for i in 0..pmd / 4 {
            ASSERT_EQ!(m.get(i), 0);
        }
        let p = buffer.ints(pmd);
        for i in 0..pmd / 4 {
            ASSERT_EQ!(p.get(i), 0);
        }
        // So do the holes that did fit, and the data pages keep their contents.
        buffer.ptr = map;
        let p = buffer.ints(pmd);
        for i in 0..pmd / 4 {
            ASSERT_EQ!(p.get(i), 0);
        }
        let p = odd.ints(odd_size);
        for i in 0..odd_size / 4 {
            ASSERT_EQ!(p.get(i), i as i32 + 7);
        }

        buffer.ptr = old_ptr;
        hmm_buffer_free(buffer);
        hmm_buffer_free(odd);
    }
}
