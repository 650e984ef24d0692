//! xtask's own layering, checked by `cargo test -p xtask`: its modules form no cycle. A
//! module depends on the modules it declares (`mod x;`: it dispatches to them) and on those
//! its code names by `crate::…` or `super::…` paths (`use` lines included, test modules at a
//! file's end and comments left out); no module may depend, directly or through others, on
//! one that depends on it.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module path of a source file relative to `src/` (`main.rs` is the crate root, "").
fn module_of(rel: &str) -> String {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    if rel == "main" {
        String::new()
    } else {
        rel.replace('/', "::")
    }
}

/// `a::b` + `c` → `a::b::c` (the crate root is "").
fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}::{name}")
    }
}

/// The parent of a module path ("" for a top-level module).
fn parent(m: &str) -> &str {
    m.rfind("::").map_or("", |i| &m[..i])
}

/// The paths a `use` tree or expression path names, from just after its `crate::` or
/// `super::` (`{a, b::{c, self}}` gives `a`, `b::c`, `b`).
fn paths_at(text: &str, prefix: &str, out: &mut Vec<String>) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    let mut cur = prefix.to_string();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            let seg = &text[start..i];
            if seg != "self" {
                cur = join(&cur, seg);
            }
        }
        if text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        break;
    }
    if text[i..].starts_with('{') {
        i += 1;
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'}' {
                return i + 1;
            }
            i += paths_at(&text[i..], &cur, out);
        }
    }
    out.push(cur);
    i
}

/// The module paths named in `code` of module `m` (relative to the crate root).
fn named(m: &str, code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (anchor, base) in [
        ("crate::", String::new()),
        ("super::", parent(m).to_string()),
    ] {
        for (i, _) in code.match_indices(anchor) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            paths_at(&code[i + anchor.len()..], &base, &mut out);
        }
    }
    out
}

/// A file's code: the test module at its end, comments and the contents of string and
/// character literals dropped (newlines kept).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let c: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    } else if c[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                out.push_str("\"\"");
                i += 1;
            }
            // A character literal ('x', '\n', '\''); a lifetime's quote stays.
            '\'' if c.get(i + 1) == Some(&'\\') => {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if c.get(i + 2) == Some(&'\'') => i += 3,
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Module → the modules it depends on, for the files `(path under src/, text)`.
fn graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut g = BTreeMap::new();
    for (p, text) in files {
        let m = module_of(p);
        let code = code(text);
        let mut deps = BTreeSet::new();
        for l in code.lines() {
            let l = l.trim_start();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            if let Some(name) = l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                deps.insert(join(&m, name.trim()));
            }
        }
        for path in named(&m, &code) {
            // The longest prefix of the path that is a module.
            let mut p = path.as_str();
            while !p.is_empty() && !modules.contains(p) {
                p = parent(p);
            }
            if p != m && modules.contains(p) {
                deps.insert(p.to_string());
            }
        }
        g.insert(m, deps);
    }
    g
}

/// A cycle of `g`, if it has one (first module repeated at the end).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut c = stack[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(m, g, &mut Vec::new(), &mut done))
}

fn sources(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir.join(rel)).expect("read xtask/src") {
        let e = e.expect("a directory entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            sources(dir, &r, out);
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(e.path()).expect("read a source file");
            out.push((r, text));
        }
    }
}

#[test]
fn xtask_modules_form_no_cycle() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut files,
    );
    let g = graph(&files);
    assert!(g.contains_key("lab::test") && g["lab"].contains("lab::test"));
    if let Some(c) = cycle(&g) {
        panic!("xtask's modules form a cycle: {}", c.join(" -> "));
    }
}

#[test]
fn the_layering_check_finds_what_it_must() {
    let f = |p: &str, t: &str| (p.to_string(), t.to_string());
    let files = [
        f("main.rs", "mod lab;\nmod cache;\n// crate::lab::x in a comment\n"),
        f("lab/mod.rs", "pub mod options;\nmod test;\nuse crate::cache;\n"),
        f(
            "lab/test.rs",
            "use super::{options::Driver, env};\nuse crate::{cache, lab::options};\nfn f() { crate::cache::root(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        f("lab/options.rs", "use crate::kernel::Profile;\n"),
        f("lab/env.rs", "let s = \"crate::lab\"; let c = '\"'; // crate::lab\n"),
        f("kernel.rs", ""),
        f("cache.rs", ""),
    ];
    let g = graph(&files);
    let deps = |m: &str| g[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(deps(""), ["cache", "lab"]);
    assert_eq!(deps("lab"), ["cache", "lab::options", "lab::test"]);
    assert_eq!(deps("lab::test"), ["cache", "lab::env", "lab::options"]);
    assert_eq!(deps("lab::options"), ["kernel"]);
    // Strings, characters and comments name nothing.
    assert!(deps("lab::env").is_empty());
    assert_eq!(cycle(&g), None);
    // A command that imports back from its dispatcher.
    let mut back = files.to_vec();
    back[2].1.insert_str(0, "use crate::lab::LabCmd;\n");
    assert_eq!(
        cycle(&graph(&back)).map(|c| c.join(" -> ")),
        Some("lab -> lab::test -> lab".to_string())
    );
}
