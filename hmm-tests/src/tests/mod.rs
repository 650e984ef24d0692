//! The 40 tests: the 39 `TEST_F`s of Linux 7.3.4 hmm-tests.c plus the migrate-on-fault
//! series' `migrate_on_fault`, registered here in C source order (which is the run order
//! within a fixture/variant). Each test is a method of its fixture (`self` is the C `self`).
//!
//! | test | file | requests / kernel paths |
//! |---|---|---|
//! | open_close | anon.rs | open/close only |
//! | anon_read, anon_read_prot, anon_read_multiple | anon.rs | READ |
//! | anon_write, anon_write_prot, anon_write_huge, anon_write_hugetlbfs | anon.rs | WRITE (READ) |
//! | anon_teardown | anon.rs | READ racing munmap |
//! | anon_write_child, anon_write_child_shared, hmm_cow_in_device | cow.rs | fork + WRITE / MIGRATE_TO_DEV / SNAPSHOT |
//! | file_read, file_write | file.rs | READ / WRITE on a tmpfile mapping |
//! | migrate, migrate_on_fault, migrate_file_private, migrate_fault, migrate_release, migrate_shared, migrate_multiple | migrate.rs | MIGRATE_TO_DEV, MIGRATE_ON_FAULT_TO_DEV, RELEASE, MIGRATE_TO_SYS |
//! | mixedmap, compound | snapshot.rs | SNAPSHOT (device mmap, hugetlbfs) |
//! | migrate_mixed, snapshot, double_map | hmm2.rs | two devices: MIGRATE_TO_DEV, SNAPSHOT, READ |
//! | exclusive, exclusive_mprotect, exclusive_cow | exclusive.rs | EXCLUSIVE, CHECK_EXCLUSIVE |
//! | hmm_gup_test | gup.rs | gup_test ioctls on device pages |
//! | migrate_anon_huge_*, migrate_partial_unmap_fault, migrate_remap_fault | migrate_huge.rs | THP MIGRATE_TO_DEV/TO_SYS, FLAGS, pagemap |
//! | benchmark_thp_migration | benchmark.rs | MIGRATE_TO_DEV/TO_SYS timing |
//! | userfaultfd_read | userfaultfd.rs | READ_UNLOCKED with a userfaultfd handler |
//! | migrate_second_file_read | regress.rs | hmm-rs regression (not upstream): two files of one device, MIGRATE_TO_DEV, READ |
//! | write_during_migrate | regress.rs | hmm-rs regression (not upstream): one file, WRITE racing MIGRATE_TO_DEV |
//! | near_top_requests, near_top_snapshot, near_top_check_exclusive | near_top.rs | hmm-rs regression (not upstream): every range request on ranges outside user space that do not wrap |
//! | thp_partial_unmap_to_sys | coherent_thp_split.rs | hmm-rs regression (not upstream): THP MIGRATE_TO_DEV, munmap of one page, MIGRATE_TO_SYS + SNAPSHOT of the rest |
//! | migrate_dontneed_race, exclusive_dontneed_race | race_dontneed.rs | hmm-rs regression (not upstream): MIGRATE_TO_DEV / EXCLUSIVE racing MADV_DONTNEED, then READ |
//! | migrate_hole_device_full | device_full.rs | hmm-rs regression (not upstream): 2 MiB holes migrated until the coherent device is full |
//! | migrate_to_sys_alloc_failure | fail_alloc.rs | hmm-rs regression (not upstream): MIGRATE_TO_SYS with a page allocation failing part-way (`fail_page_alloc`; skipped without it) |
//! | release_during_migrate | release_race.rs | hmm-rs regression (not upstream): RELEASE on one file racing MIGRATE_TO_DEV on another |
//! | device_thp_read | device_thp_read.rs | hmm-rs regression (not upstream): a device-private THP READ by other files, in windows starting inside its PMD |
//! | read_after_migrate_to_sys | to_sys_erase.rs | hmm-rs (not upstream): two files' READ after MIGRATE_TO_SYS and after the CPU fault back |

mod anon;
mod benchmark;
mod coherent_thp_split;
mod cow;
mod device_full;
mod device_thp_read;
mod exclusive;
mod fail_alloc;
mod file;
mod gup;
mod hmm2;
mod migrate;
mod migrate_huge;
mod near_top;
mod race_dontneed;
mod regress;
mod release_race;
mod snapshot;
mod to_sys_erase;
mod userfaultfd;

use crate::fixture::{Hmm, Hmm2};
use crate::harness::TestF;

/// Every `TEST_F(hmm, …)`, in hmm-tests.c source order (`migrate_on_fault` right after
/// `migrate`, where the series adds it).
pub static HMM_TESTS: &[TestF<Hmm>] = &[
    TestF::new("open_close", Hmm::open_close),
    TestF::new("anon_read", Hmm::anon_read),
    TestF::new("anon_read_prot", Hmm::anon_read_prot),
    TestF::new("anon_write", Hmm::anon_write),
    TestF::new("anon_write_prot", Hmm::anon_write_prot),
    TestF::new("anon_write_child", Hmm::anon_write_child),
    TestF::new("anon_write_child_shared", Hmm::anon_write_child_shared),
    TestF::new("anon_write_huge", Hmm::anon_write_huge),
    TestF::new("anon_write_hugetlbfs", Hmm::anon_write_hugetlbfs),
    TestF::new("file_read", Hmm::file_read),
    TestF::new("file_write", Hmm::file_write),
    TestF::new("migrate", Hmm::migrate),
    TestF::new("migrate_on_fault", Hmm::migrate_on_fault),
    TestF::new("migrate_file_private", Hmm::migrate_file_private),
    TestF::new("migrate_fault", Hmm::migrate_fault),
    TestF::new("migrate_release", Hmm::migrate_release),
    TestF::new("migrate_shared", Hmm::migrate_shared),
    TestF::new("migrate_multiple", Hmm::migrate_multiple),
    TestF::new("anon_read_multiple", Hmm::anon_read_multiple),
    TestF::new("anon_teardown", Hmm::anon_teardown),
    TestF::new("mixedmap", Hmm::mixedmap),
    TestF::new("compound", Hmm::compound),
    TestF::new("exclusive", Hmm::exclusive),
    TestF::new("exclusive_mprotect", Hmm::exclusive_mprotect),
    TestF::new("exclusive_cow", Hmm::exclusive_cow),
    TestF::new("hmm_gup_test", Hmm::hmm_gup_test),
    TestF::new("hmm_cow_in_device", Hmm::hmm_cow_in_device),
    TestF::new("migrate_anon_huge_empty", Hmm::migrate_anon_huge_empty),
    TestF::new("migrate_anon_huge_zero", Hmm::migrate_anon_huge_zero),
    TestF::new("migrate_anon_huge_free", Hmm::migrate_anon_huge_free),
    TestF::new("migrate_anon_huge_fault", Hmm::migrate_anon_huge_fault),
    TestF::new(
        "migrate_partial_unmap_fault",
        Hmm::migrate_partial_unmap_fault,
    ),
    TestF::new("migrate_remap_fault", Hmm::migrate_remap_fault),
    TestF::new("migrate_anon_huge_err", Hmm::migrate_anon_huge_err),
    TestF::new(
        "migrate_anon_huge_zero_err",
        Hmm::migrate_anon_huge_zero_err,
    ),
    TestF::with_timeout("benchmark_thp_migration", Hmm::benchmark_thp_migration, 120),
    TestF::new("userfaultfd_read", Hmm::userfaultfd_read),
    // hmm-rs regression cases (regress.rs), after the upstream ones.
    TestF::new("migrate_second_file_read", Hmm::migrate_second_file_read),
    TestF::with_timeout("write_during_migrate", Hmm::write_during_migrate, 120),
    // hmm-rs regression cases (near_top.rs, coherent_thp_split.rs).
    TestF::new("near_top_requests", Hmm::near_top_requests),
    TestF::new("near_top_snapshot", Hmm::near_top_snapshot),
    TestF::new("near_top_check_exclusive", Hmm::near_top_check_exclusive),
    TestF::new("thp_partial_unmap_to_sys", Hmm::thp_partial_unmap_to_sys),
    // Issue #16 regression cases (race_dontneed.rs, device_full.rs, release_race.rs).
    TestF::with_timeout("migrate_dontneed_race", Hmm::migrate_dontneed_race, 60),
    TestF::with_timeout("exclusive_dontneed_race", Hmm::exclusive_dontneed_race, 60),
    TestF::with_timeout(
        "migrate_hole_device_full",
        Hmm::migrate_hole_device_full,
        120,
    ),
    TestF::with_timeout("release_during_migrate", Hmm::release_during_migrate, 60),
    TestF::new(
        "migrate_to_sys_alloc_failure",
        Hmm::migrate_to_sys_alloc_failure,
    ),
    // hmm-rs guard of the module's single erase (to_sys_erase.rs).
    TestF::new("read_after_migrate_to_sys", Hmm::read_after_migrate_to_sys),
    // hmm-rs regression case (device_thp_read.rs).
    TestF::new("device_thp_read", Hmm::device_thp_read),
];

/// Every `TEST_F(hmm2, …)`, in hmm-tests.c source order.
pub static HMM2_TESTS: &[TestF<Hmm2>] = &[
    TestF::new("migrate_mixed", Hmm2::migrate_mixed),
    TestF::new("snapshot", Hmm2::snapshot),
    TestF::new("double_map", Hmm2::double_map),
];

/// What every test file uses.
mod prelude {
    pub(crate) use hmm_dmirror::sys::{
        HMM_DMIRROR_FLAG_FAIL_ALLOC, HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
        HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
        HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD,
        HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_ZERO,
    };
    pub(crate) use libc::{
        MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE,
    };

    pub(crate) use crate::buffer::{hmm_buffer_alloc, hmm_buffer_free, HmmBuffer, MAP_FAILED};
    pub(crate) use crate::dmirror::*;
    pub(crate) use crate::fixture::*;
    pub(crate) use crate::sys::vm_util::{align, align_ptr, read_pmd_pagesize};
    pub(crate) use crate::{
        ASSERT_EQ, ASSERT_FALSE, ASSERT_GE, ASSERT_NE, ASSERT_NOT_NULL, ASSERT_TRUE, EXPECT_EQ,
        EXPECT_NE, SKIP, TH_LOG,
    };

    /// `MADV_COLLAPSE` (not in every libc flavour).
    pub(crate) const MADV_COLLAPSE: i32 = 25;

    /// `npages = ALIGN(bytes, page_size) >> page_shift`.
    pub(crate) fn npages_of(bytes: usize, page_size: usize, page_shift: u32) -> u64 {
        (align(bytes, page_size) >> page_shift) as u64
    }

    /// `size = npages << page_shift`.
    pub(crate) fn size_of_pages(npages: u64, page_shift: u32) -> usize {
        usize::try_from(npages).expect("npages fits usize") << page_shift
    }

    /// A request's result as the C harness sees it: 0 (the counters stored in `counts`) or
    /// `-errno` (or [`LIBRARY_REFUSED`]).
    pub(crate) fn ret_of(
        res: hmm_dmirror::Result<hmm_dmirror::Counts>,
        counts: &mut hmm_dmirror::Counts,
    ) -> i32 {
        match res {
            Ok(c) => {
                *counts = c;
                0
            }
            Err(e) => neg_errno(&e),
        }
    }

    /// `hmm_buffer_alloc(size, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1)`
    /// on the library: the mapping and a mirror of as many bytes (`None` after logging why).
    pub(crate) fn anon_buffer(size: usize) -> Option<(hmm_dmirror::Mapping, hmm_dmirror::Mirror)> {
        let made = hmm_dmirror::Mapping::anon_private(size)
            .and_then(|m| Ok((m, hmm_dmirror::Mirror::try_new(size)?)));
        made.inspect_err(|e| TH_LOG!("{e}")).ok()
    }

    /// One THP-sized, THP-aligned range with `MADV_HUGEPAGE` in a fresh private anonymous
    /// buffer of twice that size (its mirror filled with 0xFF), each int of the range holding
    /// its index: the buffer with `ptr` on the range, the buffer's own `ptr` (put it back
    /// before [`hmm_buffer_free`]) and the THP size (`None` after logging why).
    pub(crate) fn thp_range() -> Option<(HmmBuffer, *mut u8, usize)> {
        let size = match read_pmd_pagesize() {
            0 => crate::fixture::TWOMEG,
            s => s,
        };
        let Some(mut buffer) = hmm_buffer_alloc(
            2 * size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
        ) else {
            TH_LOG!("hmm_buffer_alloc of {} bytes failed", 2 * size);
            return None;
        };
        buffer.mirror_fill(0xFF, size);
        let own = buffer.ptr;
        let map = align_ptr(own, size);
        if buffer.madvise(map, size, libc::MADV_HUGEPAGE) != 0 {
            TH_LOG!("MADV_HUGEPAGE: {}", std::io::Error::last_os_error());
            hmm_buffer_free(buffer);
            return None;
        }
        buffer.ptr = map;
        let ints = buffer.ints(size);
        for i in 0..size / 4 {
            ints.set(i, i as i32);
        }
        Some((buffer, own, size))
    }

    /// `fork()`.
    ///
    /// # Safety
    /// The calling process must have a single thread. The child is a copy with only the
    /// calling thread: a lock another thread holds (the allocator's, stdout's) stays held in
    /// the child forever, and what that thread was changing stays half-changed.
    pub(crate) unsafe fn fork() -> libc::pid_t {
        // SAFETY: the caller guarantees the process has no other thread.
        unsafe { libc::fork() }
    }

    /// `waitpid(pid, &status, 0)`: returns (waitpid's result, status).
    pub(crate) fn waitpid(pid: libc::pid_t) -> (libc::pid_t, i32) {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        (r, status)
    }

    /// `kill(pid, sig)`.
    pub(crate) fn kill(pid: libc::pid_t, sig: i32) -> i32 {
        // SAFETY: plain kill(2) of the test's own child.
        unsafe { libc::kill(pid, sig) }
    }

    /// `_exit(code)` of a process the test forked.
    pub(crate) fn exit_child(code: i32) -> ! {
        // SAFETY: _exit ends the process immediately, as the C test's `_exit(0)`.
        unsafe { libc::_exit(code) }
    }

    /// `child_fd = hmm_open(unit); ASSERT_GE(child_fd, 0);`
    macro_rules! ASSERT_HMM_OPEN {
        ($unit:expr, $name:literal) => {
            match $crate::dmirror::hmm_open($unit) {
                Ok(dev) => dev,
                Err(e) => {
                    $crate::TH_LOG!("{e}");
                    $crate::__EXPECT!(-1i32, $name, 0i32, "0", >=, true);
                    unreachable!()
                }
            }
        };
    }
    pub(crate) use ASSERT_HMM_OPEN;
}
