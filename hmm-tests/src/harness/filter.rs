//! Which cases run.
//!
//! Two filter languages are combined (a case runs only if both accept it):
//! * the C harness's options, kept in command-line order (`test_enabled()`): `-t/-T name`
//!   include/exclude a test, `-v/-V` a variant, `-f/-F` a fixture, `-r fixture.variant.test`
//!   run one case; the first option that matches decides; if none matches, the case runs
//!   unless some include option (`-t/-v/-f/-r`) was given;
//! * libtest-style positional filters: the case's full name contains any of them (or equals
//!   one with `--exact`), and `--skip X` removes names containing X (equal to X with `--exact`).

use super::Case;

/// One C-style filter option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum COpt {
    /// `-t name`: include test.
    IncludeTest(String),
    /// `-T name`: exclude test.
    ExcludeTest(String),
    /// `-v name`: include variant.
    IncludeVariant(String),
    /// `-V name`: exclude variant.
    ExcludeVariant(String),
    /// `-f name`: include fixture.
    IncludeFixture(String),
    /// `-F name`: exclude fixture.
    ExcludeFixture(String),
    /// `-r fixture.variant.test`: run this case.
    Run(String),
}

/// The complete selection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// C-style options, in command-line order.
    pub c_opts: Vec<COpt>,
    /// Positional name filters.
    pub names: Vec<String>,
    /// `--skip` filters.
    pub skip: Vec<String>,
    /// `--exact`: names and skips must match the whole case name.
    pub exact: bool,
}

impl Filter {
    /// Whether `case` is selected.
    pub fn enabled(&self, case: &Case) -> bool {
        self.c_enabled(case) && self.libtest_enabled(&case.full_name())
    }

    /// `test_enabled()` of kselftest_harness.h.
    fn c_enabled(&self, case: &Case) -> bool {
        let mut has_positive = false;
        for opt in &self.c_opts {
            match opt {
                COpt::IncludeTest(n) => {
                    has_positive = true;
                    if n == case.test {
                        return true;
                    }
                }
                COpt::ExcludeTest(n) => {
                    if n == case.test {
                        return false;
                    }
                }
                COpt::IncludeFixture(n) => {
                    has_positive = true;
                    if n == case.fixture {
                        return true;
                    }
                }
                COpt::ExcludeFixture(n) => {
                    if n == case.fixture {
                        return false;
                    }
                }
                COpt::IncludeVariant(n) => {
                    has_positive = true;
                    if n == case.variant {
                        return true;
                    }
                }
                COpt::ExcludeVariant(n) => {
                    if n == case.variant {
                        return false;
                    }
                }
                COpt::Run(n) => {
                    has_positive = true;
                    if *n == case.full_name() {
                        return true;
                    }
                }
            }
        }
        !has_positive
    }

    fn libtest_enabled(&self, name: &str) -> bool {
        let matches = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.names.is_empty() || self.names.iter().any(matches)) && !self.skip.iter().any(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(filter: &Filter) -> Vec<String> {
        crate::all_cases()
            .iter()
            .filter(|c| filter.enabled(c))
            .map(Case::full_name)
            .collect()
    }

    #[test]
    fn c_options_stop_at_the_first_match() {
        // "to include all tests from variant 'bla' but not test 'foo' specify '-T foo -v bla'"
        let f = Filter {
            c_opts: vec![
                COpt::ExcludeTest("snapshot".into()),
                COpt::IncludeVariant("hmm2_device_private".into()),
            ],
            ..Filter::default()
        };
        assert_eq!(
            selected(&f),
            [
                "hmm2.hmm2_device_private.migrate_mixed",
                "hmm2.hmm2_device_private.double_map"
            ]
        );
        let only_excludes = Filter {
            c_opts: vec![COpt::ExcludeFixture("hmm".into())],
            ..Filter::default()
        };
        assert_eq!(selected(&only_excludes).len(), 6);
        let run = Filter {
            c_opts: vec![COpt::Run("hmm.hmm_device_coherent.migrate_on_fault".into())],
            ..Filter::default()
        };
        assert_eq!(selected(&run), ["hmm.hmm_device_coherent.migrate_on_fault"]);
    }

    #[test]
    fn libtest_filters() {
        let f = Filter {
            names: vec!["migrate_on_fault".into()],
            ..Filter::default()
        };
        assert_eq!(selected(&f).len(), 2);
        let f = Filter {
            names: vec!["hmm.hmm_device_private.migrate".into()],
            exact: true,
            ..Filter::default()
        };
        assert_eq!(selected(&f), ["hmm.hmm_device_private.migrate"]);
        let f = Filter {
            names: vec!["hmm2.".into()],
            skip: vec!["coherent".into()],
            ..Filter::default()
        };
        assert_eq!(selected(&f).len(), 3);
    }

    #[test]
    fn order_and_names_match_the_c_harness() {
        let names = selected(&Filter::default());
        assert_eq!(names.len(), 106);
        assert_eq!(names[0], "hmm.hmm_device_private.open_close");
        assert_eq!(names[11], "hmm.hmm_device_private.migrate");
        assert_eq!(names[12], "hmm.hmm_device_private.migrate_on_fault");
        assert_eq!(names[36], "hmm.hmm_device_private.userfaultfd_read");
        // hmm-rs regression cases follow the upstream ones.
        assert_eq!(names[37], "hmm.hmm_device_private.migrate_second_file_read");
        assert_eq!(names[38], "hmm.hmm_device_private.write_during_migrate");
        assert_eq!(names[39], "hmm.hmm_device_private.near_top_requests");
        assert_eq!(names[42], "hmm.hmm_device_private.thp_partial_unmap_to_sys");
        assert_eq!(names[43], "hmm.hmm_device_private.migrate_dontneed_race");
        assert_eq!(
            names[47],
            "hmm.hmm_device_private.migrate_to_sys_alloc_failure"
        );
        assert_eq!(
            names[48],
            "hmm.hmm_device_private.read_after_migrate_to_sys"
        );
        assert_eq!(names[49], "hmm.hmm_device_private.device_thp_read");
        assert_eq!(names[50], "hmm.hmm_device_coherent.open_close");
        assert_eq!(names[100], "hmm2.hmm2_device_private.migrate_mixed");
        assert_eq!(names[105], "hmm2.hmm2_device_coherent.double_map");
    }
}
