//! A Rust kselftest_harness.h: fixtures with variants, `TEST_F`, one child process per case
//! with a timeout, and two front ends (kselftest TAP and libtest-mimic for `cargo test`).
//!
//! * [`assert`](mod@assert): `ASSERT_*`/`EXPECT_*`/`SKIP!`/`TH_LOG!` and the per-case shared result page;
//! * [`runner`]: runs one case in a forked child, with its timeout (`__run_test` +
//!   `__wait_for_test`);
//! * [`filter`]: which cases run (the C `-t/-T/-v/-V/-f/-F/-r` options plus libtest-style
//!   substring filters);
//! * [`tap`]: the kselftest TAP 13 front end (`test_harness_run`, `ksft_*` printing);
//! * [`libtest`]: the `cargo test` front end.
//!
//! Case order is the C order: fixtures in declaration order, for each fixture every variant
//! in declaration order, and for each variant every test of that fixture in source order.

pub mod assert;
pub mod filter;
pub mod libtest;
pub mod runner;
pub mod tap;

#[cfg(test)]
mod selftest;

/// kselftest.h exit codes.
pub const KSFT_PASS: i32 = 0;
/// A failed test.
pub const KSFT_FAIL: i32 = 1;
/// An expected failure.
pub const KSFT_XFAIL: i32 = 2;
/// An unexpected pass.
pub const KSFT_XPASS: i32 = 3;
/// A skipped test.
pub const KSFT_SKIP: i32 = 4;

/// `TEST_TIMEOUT_DEFAULT`, seconds.
pub const TEST_TIMEOUT_DEFAULT: u32 = 30;

/// One `FIXTURE_VARIANT_ADD(fixture, name) { data }`.
pub struct Variant<V: 'static> {
    /// The variant's name (`hmm_device_private`).
    pub name: &'static str,
    /// The variant's data, seen by setup and tests as `variant`.
    pub data: V,
}

/// A `FIXTURE()`: its data type is `Self` (the C `self`), made by `FIXTURE_SETUP`.
pub trait Fixture: Sized + 'static {
    /// The fixture's name (`hmm`).
    const NAME: &'static str;
    /// `FIXTURE_VARIANT(fixture)`.
    type Variant: Sync + 'static;
    /// Every `FIXTURE_VARIANT_ADD`, in declaration order.
    fn variants() -> &'static [Variant<Self::Variant>];
    /// Every `TEST_F(fixture, …)`, in source order.
    fn tests() -> &'static [TestF<Self>];
    /// `FIXTURE_SETUP`: `None` when it skipped (`SKIP!`) or failed an `EXPECT_*`.
    fn setup(variant: &Self::Variant) -> Option<Self>;
    /// `FIXTURE_TEARDOWN`.
    fn teardown(self, variant: &Self::Variant);
}

/// A test body: `TEST_F(fixture, name) { … }` is `fn name(&mut self, variant)`.
pub type TestFn<F> = fn(&mut F, &<F as Fixture>::Variant);

/// One `TEST_F` / `TEST_F_TIMEOUT`.
pub struct TestF<F: Fixture> {
    /// The test's name (`anon_read`).
    pub name: &'static str,
    /// The body.
    pub func: TestFn<F>,
    /// Seconds before the case is killed.
    pub timeout: u32,
}

impl<F: Fixture> TestF<F> {
    /// `TEST_F(fixture, name)`.
    pub const fn new(name: &'static str, func: TestFn<F>) -> Self {
        Self {
            name,
            func,
            timeout: TEST_TIMEOUT_DEFAULT,
        }
    }

    /// `TEST_F_TIMEOUT(fixture, name, timeout)`.
    pub const fn with_timeout(name: &'static str, func: TestFn<F>, timeout: u32) -> Self {
        Self {
            name,
            func,
            timeout,
        }
    }
}

/// One runnable case: a test of a fixture for one variant.
pub struct Case {
    /// Fixture name.
    pub fixture: &'static str,
    /// Variant name (may be empty for fixtures without variants).
    pub variant: &'static str,
    /// Test name.
    pub test: &'static str,
    /// Timeout, seconds.
    pub timeout: u32,
    body: Box<dyn Fn() + Send + Sync>,
}

impl Case {
    /// The name the C harness prints: `fixture.variant.test`.
    pub fn full_name(&self) -> String {
        if self.variant.is_empty() {
            format!("{}.{}", self.fixture, self.test)
        } else {
            format!("{}.{}.{}", self.fixture, self.variant, self.test)
        }
    }

    /// Runs setup, the test and teardown in the current process (the child).
    pub(crate) fn run_body(&self) {
        (self.body)();
    }
}

/// Every case of fixture `F`, variant-major, in C order.
pub fn cases_of<F: Fixture>() -> Vec<Case> {
    let mut out = Vec::new();
    for v in F::variants() {
        for t in F::tests() {
            let func = t.func;
            let variant: &'static F::Variant = &v.data;
            out.push(Case {
                fixture: F::NAME,
                variant: v.name,
                test: t.name,
                timeout: t.timeout,
                body: Box::new(move || run_test_f::<F>(variant, func)),
            });
        }
    }
    out
}

/// The `wrapper_<fixture>_<test>` of `__TEST_F_IMPL`: setup, "let setup failure terminate
/// early", the test, then teardown (also after a `SKIP!` in the test, as in C).
fn run_test_f<F: Fixture>(variant: &F::Variant, func: TestFn<F>) {
    let Some(mut this) = F::setup(variant) else {
        return;
    };
    if assert::exit_code() != 0 {
        return;
    }
    func(&mut this, variant);
    this.teardown(variant);
}

/// What a case ended with, as the parent saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseResult {
    /// `KSFT_PASS`, `KSFT_FAIL`, `KSFT_SKIP` (never XFAIL/XPASS here: no `XFAIL_ADD`).
    pub exit_code: i32,
    /// The reason recorded by `SKIP!`, empty if none.
    pub reason: String,
    /// Lines the case logged (assertion failures, skips, panics).
    pub log: String,
    /// The harness's own verdict line, e.g. `Test terminated by timeout`.
    pub diagnostic: Option<String>,
}

impl CaseResult {
    /// `__test_passed()`: pass or skip.
    pub fn passed(&self) -> bool {
        self.exit_code != KSFT_FAIL && self.exit_code <= KSFT_SKIP
    }
}
