//! Options of the `hmm-tests` kselftest binary: the C harness's getopt options plus
//! libtest-style filters and the device settings.

use hmm_dmirror::Abi;

use crate::config::{Config, REQUIRE_DEVICE_ENV};
use crate::harness::filter::{COpt, Filter};
use crate::harness::{Fixture, KSFT_PASS, KSFT_SKIP};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Case selection.
    pub filter: Filter,
    /// Device settings.
    pub config: Config,
}

/// Why the command line cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// Bad usage (unknown option, missing argument): usage goes to stderr.
    Usage(String),
    /// A bad setting (`--abi`, `HMM_DMIRROR_ABI`): reported as a TAP "Bail out!".
    Config(String),
}

/// The outcome of parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run the suite.
    Run(Options),
    /// Exit at once with this code (help, list).
    Exit(i32),
}

/// The help text.
pub fn usage(argv0: &str) -> String {
    format!(
        "Usage: {argv0} [-h|-l|-d] [-t|-T|-v|-V|-f|-F|-r name] [OPTIONS] [FILTER...]
\t-h       print help (exit 4, as the C harness)
\t-l       list all tests (fixture/variant/test table on stderr, exit 4)
\t-d       enable debug prints (accepted, no effect)

\t-t name  include test
\t-T name  exclude test
\t-v name  include variant
\t-V name  exclude variant
\t-f name  include fixture
\t-F name  exclude fixture
\t-r name  run specified test (fixture.variant.test)

Test filter options can be specified multiple times. The filtering stops
at the first match. For example to include all tests from variant 'bla'
but not test 'foo' specify '-T foo -v bla'.

Rust port options:
  FILTER...             run cases whose full name contains one of FILTER
                        (e.g. hmm.hmm_device_private.anon_read, migrate_, hmm2.)
  --exact               FILTER and --skip must equal the full case name
  --skip NAME           do not run cases whose name contains NAME (repeatable)
  --list                print the full names of the cases the other options select,
                        one per line, on stdout (exit 0)
  --abi patched|mainline
                        request numbering the devices speak (default: $HMM_DMIRROR_ABI,
                        else the one each device's driver is found to speak).
                        Stock Linux 7.3 test_hmm speaks mainline; with mainline,
                        migrate_on_fault is skipped.
  --require-device      fail (instead of skip) when /dev/hmm_dmirror0/1 does not exist
                        (also: {REQUIRE_DEVICE_ENV}=1)
  --tap                 accepted for clarity: TAP 13 is always the output
  --help                print this help (exit 0)

Environment:
  HMM_DMIRROR_ABI=patched|mainline   as --abi
  {REQUIRE_DEVICE_ENV}=1          as --require-device
  KSFT_TAP_LEVEL=<any>               omit the 'TAP version 13' header (nested TAP)
  HMM_TESTS_RUN_CRASHING=1           also run, against the stock C driver (/sys/module/test_hmm
                                     without test_hmm_rs), the regression cases known to crash
                                     it (write_during_migrate); by default they skip there

Output: TAP 13 on stdout exactly as kselftest_harness.h; logs on stderr.
Exit: 0 all passed (skips allowed, at least one pass), 1 any failure,
      4 every case skipped (e.g. no device).
"
    )
}

/// The C `-l` table of both fixtures.
pub fn list_table() -> String {
    fn entry<F: Fixture>() -> (&'static str, Vec<&'static str>, Vec<&'static str>) {
        (
            F::NAME,
            F::variants().iter().map(|v| v.name).collect(),
            F::tests().iter().map(|t| t.name).collect(),
        )
    }
    crate::harness::tap::list_table(&[
        entry::<crate::fixture::Hmm>(),
        entry::<crate::fixture::Hmm2>(),
    ])
}

/// Parses `args` (argv\[0\] first).
pub fn parse(args: &[String]) -> Result<Parsed, CliError> {
    let argv0 = args.first().map_or("hmm-tests", String::as_str);
    let mut filter = Filter::default();
    let mut abi: Option<Abi> = None;
    let mut require_device = crate::config::env_flag(REQUIRE_DEVICE_ENV);
    let mut it = args.iter().skip(1);
    let mut only_positional = false;
    let mut list = false;

    while let Some(arg) = it.next() {
        if only_positional || !arg.starts_with('-') || arg == "-" {
            filter.names.push(arg.clone());
            continue;
        }
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if arg.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, CliError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            it.next().cloned().ok_or_else(|| {
                CliError::Usage(format!("{argv0}: option requires an argument -- '{name}'"))
            })
        };
        match key.as_str() {
            "--" => only_positional = true,
            "--help" => {
                print!("{}", usage(argv0));
                return Ok(Parsed::Exit(KSFT_PASS));
            }
            "--list" => list = true,
            "--exact" => filter.exact = true,
            "--skip" => filter.skip.push(value("skip")?),
            "--tap" => {}
            "--require-device" => require_device = true,
            "--abi" => {
                let v = value("abi")?;
                abi = Some(
                    v.parse()
                        .map_err(|e| CliError::Config(format!("--abi: {e}")))?,
                );
            }
            k if k.starts_with("--") => {
                return Err(CliError::Usage(format!(
                    "{argv0}: unrecognized option '{k}'"
                )))
            }
            _ => {
                // getopt-style short options: "-t name", "-tname", "-l", "-dl".
                for (pos, c) in arg[1..].char_indices() {
                    match c {
                        'h' => {
                            eprint!("{}", usage(argv0));
                            return Ok(Parsed::Exit(KSFT_SKIP));
                        }
                        'l' => {
                            eprint!("{}", list_table());
                            return Ok(Parsed::Exit(KSFT_SKIP));
                        }
                        'd' => {}
                        't' | 'T' | 'v' | 'V' | 'f' | 'F' | 'r' => {
                            let rest = &arg[1 + pos + 1..];
                            let v = if rest.is_empty() {
                                it.next().cloned().ok_or_else(|| {
                                    CliError::Usage(format!(
                                        "{argv0}: option requires an argument -- '{c}'"
                                    ))
                                })?
                            } else {
                                rest.to_string()
                            };
                            filter.c_opts.push(match c {
                                't' => COpt::IncludeTest(v),
                                'T' => COpt::ExcludeTest(v),
                                'v' => COpt::IncludeVariant(v),
                                'V' => COpt::ExcludeVariant(v),
                                'f' => COpt::IncludeFixture(v),
                                'F' => COpt::ExcludeFixture(v),
                                _ => COpt::Run(v),
                            });
                            break;
                        }
                        other => {
                            return Err(CliError::Usage(format!(
                                "{argv0}: invalid option -- '{other}'"
                            )))
                        }
                    }
                }
            }
        }
    }

    if list {
        for c in crate::all_cases().iter().filter(|c| filter.enabled(c)) {
            println!("{}", c.full_name());
        }
        return Ok(Parsed::Exit(KSFT_PASS));
    }
    let abi = match abi {
        Some(a) => Some(a),
        None => Abi::from_env_var().map_err(|e| CliError::Config(e.to_string()))?,
    };
    Ok(Parsed::Run(Options {
        filter,
        config: Config {
            abi,
            require_device,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("hmm-tests")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn parses_c_and_rust_options() {
        let Parsed::Run(o) = parse(&args(&[
            "-T",
            "foo",
            "-vbla",
            "--abi=mainline",
            "--require-device",
            "anon_",
            "--exact",
        ]))
        .unwrap() else {
            panic!("expected a run")
        };
        assert_eq!(
            o.filter.c_opts,
            vec![
                COpt::ExcludeTest("foo".into()),
                COpt::IncludeVariant("bla".into())
            ]
        );
        assert_eq!(o.filter.names, vec!["anon_".to_string()]);
        assert!(o.filter.exact);
        assert_eq!(
            o.config,
            Config {
                abi: Some(Abi::Mainline),
                require_device: true
            }
        );
    }

    #[test]
    fn rejects_unknown_options() {
        assert!(parse(&args(&["-x"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
        assert!(parse(&args(&["--abi", "v9"])).is_err());
        assert!(parse(&args(&["-t"])).is_err());
    }
}
