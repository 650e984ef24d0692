//! Tests of the harness itself on a toy fixture: every way a case can end, as the parent
//! sees it, in C order. (One `#[test]`, because the result page is process-wide.)

use super::runner::{run_case, LogMode};
use super::{cases_of, Fixture, TestF, Variant, KSFT_FAIL, KSFT_PASS, KSFT_SKIP};
use crate::{ASSERT_EQ, EXPECT_EQ, SKIP};

struct Toy;

struct ToyVariant {
    skip_setup: bool,
}

static TOY_VARIANTS: [Variant<ToyVariant>; 2] = [
    Variant {
        name: "plain",
        data: ToyVariant { skip_setup: false },
    },
    Variant {
        name: "skipping",
        data: ToyVariant { skip_setup: true },
    },
];

static TOY_TESTS: &[TestF<Toy>] = &[
    TestF::new("pass", Toy::pass),
    TestF::new("assert_fail", Toy::assert_fail),
    TestF::new("expect_fail", Toy::expect_fail),
    TestF::new("segv", Toy::segv),
    TestF::with_timeout("hang", Toy::hang, 1),
    TestF::new("panics", Toy::panics),
    TestF::new("child_fails", Toy::child_fails),
    TestF::new("skip_in_body", Toy::skip_in_body),
];

impl Fixture for Toy {
    const NAME: &'static str = "toy";
    type Variant = ToyVariant;

    fn variants() -> &'static [Variant<ToyVariant>] {
        &TOY_VARIANTS
    }

    fn tests() -> &'static [TestF<Self>] {
        TOY_TESTS
    }

    fn setup(variant: &ToyVariant) -> Option<Self> {
        if variant.skip_setup {
            SKIP!(return None, "toy device not available");
        }
        Some(Toy)
    }

    fn teardown(self, _variant: &ToyVariant) {}
}

impl Toy {
    fn pass(&mut self, _v: &ToyVariant) {
        ASSERT_EQ!(1, 1);
    }

    fn assert_fail(&mut self, _v: &ToyVariant) {
        let ret = -22;
        ASSERT_EQ!(ret, 0);
    }

    fn expect_fail(&mut self, _v: &ToyVariant) {
        let npages: u64 = 5;
        EXPECT_EQ!(npages, 4);
        EXPECT_EQ!(npages, 5);
    }

    fn segv(&mut self, _v: &ToyVariant) {
        // A real fault (Rust's own SIGSEGV handler must hand it on): write to PROT_NONE memory.
        let p = crate::buffer::mmap_new(
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        );
        // SAFETY: not safe at all, on purpose: the write faults and the process dies by
        // SIGSEGV, which is what this case checks.
        unsafe { p.write_volatile(1) };
    }

    fn hang(&mut self, _v: &ToyVariant) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn panics(&mut self, _v: &ToyVariant) {
        let v: Vec<i32> = Vec::new();
        let _ = v[3];
    }

    fn child_fails(&mut self, _v: &ToyVariant) {
        // SAFETY: the case's process is single-threaded.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            ASSERT_EQ!(1, 2);
        }
        let mut status = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }

    fn skip_in_body(&mut self, _v: &ToyVariant) {
        SKIP!(return, "nothing to do here");
    }
}

#[test]
fn every_outcome_is_reported_like_the_c_harness() {
    let cases = cases_of::<Toy>();
    let names: Vec<String> = cases.iter().map(super::Case::full_name).collect();
    assert_eq!(names[0], "toy.plain.pass");
    assert_eq!(names[7], "toy.plain.skip_in_body");
    assert_eq!(names[8], "toy.skipping.pass");
    assert_eq!(names.len(), 16);

    let r: Vec<_> = cases[..8]
        .iter()
        .map(|c| run_case(c, LogMode::Capture))
        .collect();

    assert_eq!(
        (r[0].exit_code, r[0].diagnostic.as_deref()),
        (KSFT_PASS, None)
    );
    assert!(r[0].log.is_empty());

    assert_eq!(r[1].exit_code, KSFT_FAIL);
    assert_eq!(
        r[1].diagnostic.as_deref(),
        Some("Test terminated by assertion")
    );
    assert!(
        r[1].log
            .contains(":assert_fail:Expected ret (-22) == 0 (0)"),
        "{}",
        r[1].log
    );

    assert_eq!(r[2].exit_code, KSFT_FAIL);
    assert_eq!(r[2].diagnostic.as_deref(), Some("Test failed"));
    assert!(
        r[2].log.contains("Expected npages (5) == 4 (4)"),
        "{}",
        r[2].log
    );
    assert_eq!(r[2].log.lines().count(), 1, "{}", r[2].log);

    assert_eq!(r[3].exit_code, KSFT_FAIL);
    assert_eq!(
        r[3].diagnostic.as_deref(),
        Some("Test terminated unexpectedly by signal 11")
    );

    assert_eq!(r[4].exit_code, KSFT_FAIL);
    assert_eq!(
        r[4].diagnostic.as_deref(),
        Some("Test terminated by timeout")
    );

    assert_eq!(r[5].exit_code, KSFT_FAIL);
    assert_eq!(
        r[5].diagnostic.as_deref(),
        Some("Test terminated by assertion")
    );
    assert!(
        r[5].log.contains(":panics:panicked: index out of bounds"),
        "{}",
        r[5].log
    );

    assert_eq!(r[6].exit_code, KSFT_FAIL);
    assert_eq!(r[6].diagnostic.as_deref(), Some("Test failed"));
    assert!(r[6].log.contains("Expected 1 (1) == 2 (2)"), "{}", r[6].log);

    assert_eq!(r[7].exit_code, KSFT_SKIP);
    assert_eq!(r[7].reason, "nothing to do here");
    assert!(r[7].passed());

    let skipped = run_case(&cases[9], LogMode::Capture);
    assert_eq!(skipped.exit_code, KSFT_SKIP);
    assert_eq!(skipped.reason, "toy device not available");
    assert_eq!(skipped.log, "#      SKIP      toy device not available\n");
}
