//! House rules checked on the repository's files by `cargo test -p xtask` (as
//! rust-analyzer's `xtask/src/tidy.rs`). Each test lists every violation it finds.
//!
//! - kmod: every `unsafe` is under `kmod/hmm/`, and every `unsafe {` block has a `SAFETY:`
//!   comment in the comment lines right above it (the userspace crates have the workspace's
//!   `clippy::undocumented_unsafe_blocks`, which CI runs).
//! - Every repo path a Markdown file cites in backticks (`kmod/…`, `hmm-tests/…`, …) exists.
//! - Every case `xtask/known-failures.txt` names exists in the suite.
//! - kmod has one lock-order table; every other mention of the lock order points at it.
//! - No Markdown file but the changelog states a case count ("N cases") the suite does not have.
//! - No file (configs and scripts included) cites the development host's scratch directories
//!   (the repo must stand alone).
use std::path::{Path, PathBuf};
use std::process::Command;

/// The top-level directories of the repository: a backticked span starting with one of
/// these and containing a `/` is a repo path.
const TOP_DIRS: [&str; 7] = [
    "hmm-sys/",
    "hmm-dmirror/",
    "hmm-tests/",
    "hmm-robust/",
    "hmm-bench/",
    "kmod/",
    "xtask/",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// The repository's files, relative to the root: `git ls-files` (tracked files; deleted
/// ones left out), or a walk of the tree without `target/` and hidden directories when
/// there is no git checkout.
fn files() -> Vec<String> {
    let root = root();
    let out = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .output();
    let mut list = match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout)
            .expect("git ls-files prints UTF-8 paths")
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        _ => {
            let mut v = Vec::new();
            walk(&root, &root, &mut v);
            v
        }
    };
    list.retain(|p| root.join(p).is_file());
    list.sort();
    list
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read a directory of the repo") {
        let e = e.expect("read a directory entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// The text of a repo file; `None` for a file that is not UTF-8 (binary).
fn text(path: &str) -> Option<String> {
    std::fs::read_to_string(root().join(path)).ok()
}

/// `(path, text)` of every text file `keep` accepts.
fn texts(keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    files()
        .into_iter()
        .filter(|p| keep(p))
        .filter_map(|p| text(&p).map(|t| (p, t)))
        .collect()
}

fn report(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}:\n  {}\n({} found)",
        problems.join("\n  "),
        problems.len()
    );
}

/// The names of the suite's cases, as `hmm-tests --list` prints them.
fn suite_cases() -> Vec<String> {
    hmm_tests::all_cases()
        .iter()
        .map(|c| c.full_name())
        .collect()
}

/// A Rust line without its `//` comment (string literals in kmod hold no `//`).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `code` holds the keyword `unsafe` (not `undocumented_unsafe_blocks` and the like).
fn has_unsafe_keyword(code: &str) -> bool {
    let b = code.as_bytes();
    code.match_indices("unsafe").any(|(i, _)| {
        let before = i == 0 || !is_ident_byte(b[i - 1]);
        let after = b.get(i + 6).is_none_or(|&c| !is_ident_byte(c));
        before && after
    })
}

/// Whether `code` opens an `unsafe` block (`unsafe {`, as opposed to `unsafe fn`/`impl`).
fn opens_unsafe_block(code: &str) -> bool {
    let b = code.as_bytes();
    code.match_indices("unsafe").any(|(i, _)| {
        let before = i == 0 || !is_ident_byte(b[i - 1]);
        before && code[i + 6..].trim_start().starts_with('{')
    })
}

/// Whether the comment lines right above the statement holding line `i` (the contiguous
/// `//` lines, attributes skipped) hold a `SAFETY:` argument. The statement starts at the
/// first line above that ends one (`;`, `{`, `}`) or is blank, so that
/// `let x =\n    unsafe { … };` is argued above its `let`.
fn has_safety_comment(lines: &[&str], i: usize) -> bool {
    let mut j = i;
    let mut in_comment = false;
    while j > 0 {
        j -= 1;
        let t = lines[j].trim();
        if t.starts_with("//") {
            in_comment = true;
            if t.contains("SAFETY:") {
                return true;
            }
        } else if in_comment || t.is_empty() || t.ends_with([';', '{', '}']) {
            return false;
        }
        // An attribute or a line of the same statement: go on up.
    }
    false
}

/// The kmod check on one file: `(line number, problem)` for each violation.
fn kmod_unsafe_problems(path: &str, text: &str) -> Vec<(usize, &'static str)> {
    let in_hmm = path.starts_with("kmod/hmm/");
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let code = code_of(l);
        if !has_unsafe_keyword(code) {
            continue;
        }
        if !in_hmm {
            problems.push((i + 1, "`unsafe` outside kmod/hmm/"));
        }
        if opens_unsafe_block(code) && !has_safety_comment(&lines, i) {
            problems.push((
                i + 1,
                "`unsafe {` with no `// SAFETY:` comment right above it",
            ));
        }
    }
    problems
}

#[test]
fn kmod_unsafe_is_in_hmm_and_argued() {
    let mut problems = Vec::new();
    let sources = texts(|p| p.starts_with("kmod/") && p.ends_with(".rs"));
    assert!(!sources.is_empty(), "no kmod sources found");
    for (path, text) in &sources {
        for (line, what) in kmod_unsafe_problems(path, text) {
            problems.push(format!("{path}:{line}: {what}"));
        }
    }
    report("kmod's unsafe rules (see kmod/README.md)", &problems);
}

#[test]
fn the_unsafe_check_finds_what_it_must() {
    let bad = "fn f() {\n    let x = 1;\n    unsafe { g() };\n}\n";
    assert_eq!(kmod_unsafe_problems("kmod/hmm/a.rs", bad).len(), 1);
    assert_eq!(kmod_unsafe_problems("kmod/a.rs", bad).len(), 2);
    let good =
        "fn f() {\n    // SAFETY: g has no\n    // precondition.\n    let y = unsafe { g() };\n}\n";
    assert!(kmod_unsafe_problems("kmod/hmm/a.rs", good).is_empty());
    let lints = "#![deny(clippy::undocumented_unsafe_blocks)]\n//! `unsafe` only in hmm/\n";
    assert!(kmod_unsafe_problems("kmod/a.rs", lints).is_empty());
    let split = "    // SAFETY: argued.\n    let entry =\n        unsafe { g() };\n";
    assert!(kmod_unsafe_problems("kmod/hmm/a.rs", split).is_empty());
    let stale = "    // SAFETY: argued.\n    f();\n    let entry =\n        unsafe { g() };\n";
    assert_eq!(kmod_unsafe_problems("kmod/hmm/a.rs", stale).len(), 1);
    let item = "/// # Safety\n/// none.\npub unsafe fn f() {}\n";
    assert_eq!(kmod_unsafe_problems("kmod/a.rs", item).len(), 1);
    assert!(kmod_unsafe_problems("kmod/hmm/a.rs", item).is_empty());
}

/// The repo paths a Markdown text cites in backticks, outside fenced code blocks:
/// `(line number, path)`, the path cut at a `:LINE` suffix or an anchor.
fn cited_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (k, span) in l.split('`').enumerate() {
            if k % 2 == 0 {
                continue; // outside backticks
            }
            let Some(first) = span.split_whitespace().next() else {
                continue;
            };
            let p = first.strip_prefix("./").unwrap_or(first);
            if !p.contains('/') || !TOP_DIRS.iter().any(|d| p.starts_with(d)) {
                continue;
            }
            let p = p.split(['#', ':']).next().unwrap_or(p);
            out.push((i + 1, p.to_string()));
        }
    }
    out
}

/// Whether a cited path exists: a file or directory, or for a glob (`kmod/ioctl/*.rs`,
/// `hmm-bench/results/*/`) the directory before its first wildcard.
fn cited_path_exists(p: &str) -> bool {
    let root = root();
    match p.find(['*', '?', '{', '<']) {
        None => root.join(p).exists(),
        Some(w) => {
            let dir = &p[..p[..w].rfind('/').map_or(0, |s| s + 1)];
            root.join(dir).is_dir()
        }
    }
}

#[test]
fn paths_cited_by_docs_exist() {
    let mut problems = Vec::new();
    let mut cited = 0;
    for (path, text) in texts(|p| p.ends_with(".md") && p != "CHANGELOG.md") {
        for (line, p) in cited_paths(&text) {
            cited += 1;
            if !cited_path_exists(&p) {
                problems.push(format!("{path}:{line}: `{p}` does not exist"));
            }
        }
    }
    assert!(cited > 0, "no cited repo path found: is the scan broken?");
    report("repo paths cited by the docs", &problems);
}

#[test]
fn cited_paths_are_found_as_written() {
    let md = "see `kmod/hmm/mod.rs` and `hmm-tests/src/lib.rs:12`, not `cargo test -p xtask`\n\
              ```\nkmod/x\n```\n`./xtask/src/tidy.rs` `kmod/ioctl/*.rs` `target/x` `hmm/mod.rs`\n";
    let got: Vec<String> = cited_paths(md).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        got,
        [
            "kmod/hmm/mod.rs",
            "hmm-tests/src/lib.rs",
            "xtask/src/tidy.rs",
            "kmod/ioctl/*.rs"
        ]
    );
    assert!(cited_path_exists("kmod/ioctl/*.rs"));
    assert!(!cited_path_exists("kmod/nonesuch/*.rs"));
    assert!(!cited_path_exists("kmod/nonesuch.rs"));
}

/// The cases `known-failures.txt` names: `(line number, case)`. The format is checked by
/// `known::parse`; here only the case field (the third, unless it is a `warning` line).
fn known_cases(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let spec = l.split('#').next().unwrap_or("");
        let f: Vec<&str> = spec.split_whitespace().collect();
        if f.len() >= 3 && f[2] != "warning" {
            out.push((i + 1, f[2].to_string()));
        }
    }
    out
}

#[test]
fn known_failures_name_cases_of_the_suite() {
    let cases = suite_cases();
    let text = text("xtask/known-failures.txt").expect("xtask/known-failures.txt");
    let listed = known_cases(&text);
    assert!(!listed.is_empty(), "no case found in known-failures.txt");
    let problems: Vec<String> = listed
        .iter()
        .filter(|(_, c)| !cases.contains(c))
        .map(|(line, c)| format!("xtask/known-failures.txt:{line}: {c} is not a case of the suite"))
        .collect();
    report("known failures of cases the suite does not have", &problems);
}

#[test]
fn kmod_has_one_lock_order_table() {
    // The table: a Markdown heading "Lock order" (in a doc comment or a README). Every other
    // line that speaks of the lock order must name the file that holds the table.
    let mut tables = Vec::new();
    let mut mentions = Vec::new();
    for (path, text) in texts(|p| p.starts_with("kmod/")) {
        for (i, l) in text.lines().enumerate() {
            if !l.to_lowercase().contains("lock order") {
                continue;
            }
            let t = l
                .trim_start()
                .trim_start_matches(['/', '!'])
                .trim_start()
                .to_lowercase();
            if t.starts_with('#')
                && t.trim_start_matches('#')
                    .trim_start()
                    .starts_with("lock order")
            {
                tables.push(path.clone());
            } else {
                mentions.push((path.clone(), i + 1, l.to_string()));
            }
        }
    }
    tables.dedup();
    assert_eq!(
        tables.len(),
        1,
        "kmod must have exactly one lock-order table (a `# Lock order` heading); found in: {tables:?}"
    );
    let table = tables[0].strip_prefix("kmod/").expect("a kmod file");
    let problems: Vec<String> = mentions
        .iter()
        .filter(|(path, _, l)| path != &tables[0] && !l.contains(table))
        .map(|(path, line, l)| format!("{path}:{line}: does not point at {table}: {}", l.trim()))
        .collect();
    report("mentions of the lock order besides its table", &problems);
}

/// The case counts a text states ("102 cases", "the 84 hmm-tests cases"): `(line, count)`.
/// A number right after `#` is an issue, not a count.
fn stated_case_counts(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let words: Vec<&str> = l.split_whitespace().collect();
        for (k, w) in words.iter().enumerate() {
            let w = w.trim_end_matches(['.', ',', ';', ':', ')']);
            if w != "cases" {
                continue;
            }
            // The number is the word before, or the one before a single qualifier.
            for back in [1, 2] {
                let Some(n) = k.checked_sub(back).map(|j| words[j]) else {
                    continue;
                };
                let n = n.trim_start_matches(['(', '`']);
                if let Ok(n) = n.parse::<usize>() {
                    out.push((i + 1, n));
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn docs_state_the_suites_case_count() {
    let total = suite_cases().len();
    let mut problems = Vec::new();
    for (path, text) in texts(|p| p.ends_with(".md") && p != "CHANGELOG.md") {
        for (line, n) in stated_case_counts(&text) {
            if n != total {
                problems.push(format!(
                    "{path}:{line}: states {n} cases; the suite has {total}"
                ));
            }
        }
    }
    report("case counts the suite does not have", &problems);
}

#[test]
fn case_counts_are_found_as_written() {
    let md = "all 102 cases\nthe 84 hmm-tests cases.\nthe issue #16 cases\n(92 cases)\n3 tests\n";
    assert_eq!(stated_case_counts(md), [(1, 102), (2, 84), (4, 92)]);
}

#[test]
fn nothing_cites_the_hosts_scratch_directories() {
    // Every file, configs and scripts included (a comment in a config fragment is not in the
    // kernel's cache key). Built from parts so that this file does not cite it either.
    let needle = ["shared", ""].join("/");
    let mut problems = Vec::new();
    for (path, text) in texts(|_| true) {
        for (i, l) in text.lines().enumerate() {
            if l.contains(needle.as_str()) {
                problems.push(format!("{path}:{}: {}", i + 1, l.trim()));
            }
        }
    }
    report(
        "citations of files outside the repository (hmm-dmirror/ABI.md states the ABI)",
        &problems,
    );
}
