//! Counters: errno histogram per request kind, failures with their first examples.
use crate::sys;
use std::collections::BTreeMap;

/// What a run counted.
#[derive(Default)]
pub struct Stats {
    /// kind -> errno name ("ok", "EINVAL", …) -> count.
    pub hist: BTreeMap<String, BTreeMap<String, u64>>,
    /// Requests issued.
    pub requests: u64,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed with a declared errno.
    pub errors: u64,
    /// Requests that failed with an undeclared errno.
    pub undeclared: u64,
    /// Contract violations (a malformed request that succeeded, a bad snapshot byte, …).
    pub violations: u64,
    /// Pages whose contents were compared with the shadow.
    pub pages_verified: u64,
    /// Pages (or canaries) whose contents differed from the shadow.
    pub mismatches: u64,
    /// The first problems, for the report.
    pub problems: Vec<String>,
}

impl Stats {
    /// Count one result of `kind`: `Ok` or the errno.
    pub fn record(&mut self, kind: &str, r: Result<(), i32>) {
        self.requests += 1;
        let name = match r {
            Ok(()) => {
                self.ok += 1;
                "ok".to_string()
            }
            Err(e) => {
                if sys::declared(e) {
                    self.errors += 1;
                } else {
                    self.undeclared += 1;
                    self.problem(format!("{kind}: undeclared errno {}", sys::errno_name(e)));
                }
                sys::errno_name(e)
            }
        };
        *self
            .hist
            .entry(kind.to_string())
            .or_default()
            .entry(name)
            .or_default() += 1;
    }

    /// Note a problem (kept: the first 50).
    pub fn problem(&mut self, s: String) {
        if self.problems.len() < 50 {
            eprintln!("PROBLEM: {s}");
            self.problems.push(s);
        }
    }

    /// A contract violation.
    pub fn violation(&mut self, s: String) {
        self.violations += 1;
        self.problem(format!("violation: {s}"));
    }

    /// A content mismatch.
    pub fn mismatch(&mut self, s: String) {
        self.mismatches += 1;
        self.problem(format!("mismatch: {s}"));
    }

    /// Add another run's counters (the stress threads, the forked child).
    pub fn merge(&mut self, o: Stats) {
        for (k, m) in o.hist {
            let e = self.hist.entry(k).or_default();
            for (n, c) in m {
                *e.entry(n).or_default() += c;
            }
        }
        self.requests += o.requests;
        self.ok += o.ok;
        self.errors += o.errors;
        self.undeclared += o.undeclared;
        self.violations += o.violations;
        self.pages_verified += o.pages_verified;
        self.mismatches += o.mismatches;
        for p in o.problems {
            if self.problems.len() < 50 {
                self.problems.push(p);
            }
        }
    }

    /// The histogram, one line per kind: `kind: ok=N EINVAL=N …`.
    pub fn print_hist(&self) {
        for (k, m) in &self.hist {
            let parts: Vec<String> = m.iter().map(|(n, c)| format!("{n}={c}")).collect();
            println!("  {k:<24} {}", parts.join(" "));
        }
    }

    /// Compact errno totals over all kinds: `ok=N,EINVAL=N,…`.
    pub fn errno_totals(&self) -> String {
        let mut t: BTreeMap<&str, u64> = BTreeMap::new();
        for m in self.hist.values() {
            for (n, c) in m {
                *t.entry(n.as_str()).or_default() += c;
            }
        }
        t.iter()
            .map(|(n, c)| format!("{n}:{c}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.undeclared > 0 || self.violations > 0 || self.mismatches > 0
    }

    /// Serialize the counters (for the forked child's pipe).
    pub fn encode(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {} {} {}\n",
            self.requests,
            self.ok,
            self.errors,
            self.undeclared,
            self.violations,
            self.pages_verified,
            self.mismatches
        );
        for (k, m) in &self.hist {
            for (n, c) in m {
                s.push_str(&format!("H {k} {n} {c}\n"));
            }
        }
        for p in &self.problems {
            s.push_str(&format!("P {}\n", p.replace('\n', " ")));
        }
        s
    }

    /// Inverse of [`Stats::encode`].
    pub fn decode(s: &str) -> Stats {
        let mut st = Stats::default();
        let mut lines = s.lines();
        if let Some(first) = lines.next() {
            let v: Vec<u64> = first
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() == 7 {
                st.requests = v[0];
                st.ok = v[1];
                st.errors = v[2];
                st.undeclared = v[3];
                st.violations = v[4];
                st.pages_verified = v[5];
                st.mismatches = v[6];
            }
        }
        for l in lines {
            if let Some(r) = l.strip_prefix("H ") {
                let p: Vec<&str> = r.split_whitespace().collect();
                if p.len() == 3 {
                    let c = p[2].parse().unwrap_or(0);
                    *st.hist
                        .entry(p[0].into())
                        .or_default()
                        .entry(p[1].into())
                        .or_default() += c;
                }
            } else if let Some(r) = l.strip_prefix("P ") {
                st.problems.push(r.to_string());
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_roundtrip() {
        let mut s = Stats::default();
        s.record("valid:READ", Ok(()));
        s.record("valid:READ", Err(libc::EFAULT));
        s.record("nr", Err(libc::EIO));
        assert_eq!((s.requests, s.ok, s.errors, s.undeclared), (3, 1, 1, 1));
        assert!(s.failed());
        let d = Stats::decode(&s.encode());
        assert_eq!(d.requests, 3);
        assert_eq!(d.hist["valid:READ"]["EFAULT"], 1);
        assert_eq!(d.problems.len(), 1);
        assert_eq!(s.errno_totals(), "EFAULT:1,EIO:1,ok:1");
    }
}
