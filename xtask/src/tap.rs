//! Reading the suite's TAP (kselftest_harness.h format). Judging it is `crate::verdict`'s.

/// Outcome of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// ok
    Pass,
    /// not ok
    Fail,
    /// ok … # SKIP reason
    Skip(String),
}

/// (case name, outcome) in TAP order.
pub fn parse(text: &str) -> Vec<(String, Outcome)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("ok ") {
            (true, r)
        } else {
            continue;
        };
        // "N name[ # SKIP reason]"
        let Some((_, rest)) = rest.split_once(' ') else {
            continue;
        };
        let (name, directive) = match rest.split_once(" # ") {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (rest.trim(), None),
        };
        let outcome = match directive {
            Some(d) if d.to_ascii_uppercase().starts_with("SKIP") => {
                Outcome::Skip(d[4..].trim().to_string())
            }
            _ if ok => Outcome::Pass,
            _ => Outcome::Fail,
        };
        v.push((name.to_string(), outcome));
    }
    v
}

/// What the suite printed for `case` between its `#  RUN` line and its result line (its
/// `TH_LOG` and assertion messages), without those two lines and the harness's own
/// `OK`/`FAIL` marker. Empty when the output has no `RUN` line for the case.
pub fn case_lines<'a>(text: &'a str, case: &str) -> Vec<&'a str> {
    let mut lines = text.lines();
    let is_run = |l: &str| {
        l.strip_prefix("#  RUN")
            .is_some_and(|r| r.trim().trim_end_matches("...").trim() == case)
    };
    if !lines.any(is_run) {
        return Vec::new();
    }
    let is_result = |l: &str| {
        let rest = l.strip_prefix("not ok ").or_else(|| l.strip_prefix("ok "));
        rest.and_then(|r| r.split_once(' '))
            .is_some_and(|(_, r)| r.split(" # ").next().unwrap_or("").trim() == case)
    };
    lines
        .take_while(|l| !is_result(l))
        .filter(|l| {
            let marker = l.trim_start_matches('#').trim();
            marker != format!("OK  {case}") && marker != format!("FAIL  {case}")
        })
        .collect()
}

/// The plan line's count (`1..N`), if the output has one.
pub fn plan(text: &str) -> Option<usize> {
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("1..")
            .and_then(|n| n.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kselftest_lines() {
        let t = "TAP version 13\n1..3\n# Starting 3 tests from 2 test cases.\n\
                 ok 1 hmm.hmm_device_private.open_close\n\
                 not ok 2 hmm.hmm_device_coherent.migrate\n\
                 ok 3 hmm.hmm_device_coherent.open_close # SKIP DEVICE_COHERENT not available\n\
                 # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n";
        let r = parse(t);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            ("hmm.hmm_device_private.open_close".into(), Outcome::Pass)
        );
        assert_eq!(r[1].1, Outcome::Fail);
        assert_eq!(
            r[2].1,
            Outcome::Skip("DEVICE_COHERENT not available".into())
        );
    }

    #[test]
    fn case_lines_are_those_between_run_and_result() {
        let t = "#  RUN           hmm.a.x ...\n#            OK  hmm.a.x\nok 1 hmm.a.x\n\
                 #  RUN           hmm.a.y ...\n\
                 # regress.rs:243:y:0 of 32 rounds raced\n\
                 # regress.rs:249:y:Expected raced_rounds (0) != 0 (0)\n\
                 # y: Test terminated by assertion\n\
                 #          FAIL  hmm.a.y\nnot ok 2 hmm.a.y\n\
                 #  RUN           hmm.a.z ...\n# z says\nnot ok 3 hmm.a.z\n";
        assert_eq!(case_lines(t, "hmm.a.x"), Vec::<&str>::new());
        assert_eq!(
            case_lines(t, "hmm.a.y"),
            [
                "# regress.rs:243:y:0 of 32 rounds raced",
                "# regress.rs:249:y:Expected raced_rounds (0) != 0 (0)",
                "# y: Test terminated by assertion",
            ]
        );
        assert_eq!(case_lines(t, "hmm.a.z"), ["# z says"]);
        assert_eq!(case_lines(t, "hmm.a.w"), Vec::<&str>::new());
    }

    #[test]
    fn plan_line() {
        assert_eq!(plan("TAP version 13\n1..84\n"), Some(84));
        assert_eq!(plan("TAP version 13\n"), None);
    }
}
