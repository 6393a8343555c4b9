//! The source tree's rules, checked: no import cycle between modules (files), no cycle between
//! the pipeline's stages (top-level folders), and every file opens with a `//!` line saying
//! what it holds.
//!
//! A module's dependencies are the modules its code names by path (`crate::…`, `textgan::…`,
//! `super::…`, or a child module's name); declaring a child (`mod x;`) is not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file: `lib` for the library root, `bin` for the binary's
/// (`main.rs` and `cli/`), then the folders and file stem (`mod.rs` is its folder).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    let root = if parts[0] == "main" || parts[0] == "cli" {
        "bin"
    } else {
        "lib"
    };
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    let mut m = vec![root.to_string()];
    m.extend(parts);
    m
}

/// The code without comments, string and character literals (so paths in docs and messages
/// do not count), and without `#[cfg(test)]` modules (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (b.get(i + 1) == Some(&'"') || b.get(i + 1) == Some(&'#')) {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime (left alone).
            if b.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path in `code` as its identifiers (`crate::a::{b, c::d}` gives `crate a b` and
/// `crate a c d`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            expand(&chars, &mut i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Read one path from `chars[*i]` on, with `prefix` before it; braces fan out.
fn expand(chars: &[char], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        let start = *i;
        while *i < chars.len() && is_ident(chars[*i]) {
            *i += 1;
        }
        prefix.push(chars[start..*i].iter().collect());
        if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
            *i += 2;
            if chars.get(*i) == Some(&'{') {
                *i += 1;
                loop {
                    while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
                        *i += 1;
                    }
                    if *i >= chars.len() || chars[*i] == '}' {
                        *i += 1;
                        break;
                    }
                    if is_ident(chars[*i]) {
                        expand(chars, i, prefix.clone(), out);
                    } else {
                        *i += 1;
                    }
                }
                return;
            }
            if !chars.get(*i).is_some_and(|&c| is_ident(c)) {
                break;
            }
        } else {
            break;
        }
    }
    if prefix.len() > 1 {
        out.push(prefix);
    }
}

/// The module a path names from module `from` (the longest known module it starts with), if
/// it names one.
fn resolve(
    path: &[String],
    from: &[String],
    children: &BTreeSet<String>,
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let (mut base, rest): (Vec<String>, &[String]) = match path[0].as_str() {
        "crate" => (vec![from[0].clone()], &path[1..]),
        "textgan" => (vec!["lib".to_string()], &path[1..]),
        "self" => (from.to_vec(), &path[1..]),
        "super" => {
            let mut m = from.to_vec();
            let mut k = 0;
            while path.get(k).is_some_and(|p| p == "super") {
                m.pop();
                k += 1;
            }
            (m, &path[k..])
        }
        first if children.contains(first) => (from.to_vec(), path),
        _ => return None,
    };
    for part in rest {
        let mut next = base.clone();
        next.push(part.clone());
        if modules.contains(&next) {
            base = next;
        } else {
            break;
        }
    }
    Some(base)
}

/// Every module of the crate (library and binary) with the modules it names.
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).unwrap()))
        .collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let from = module_of(f.strip_prefix(&src).unwrap());
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        let children: BTreeSet<String> = modules
            .iter()
            .filter(|m| m.len() == from.len() + 1 && m.starts_with(&from))
            .map(|m| m[from.len()].clone())
            .collect();
        let deps: BTreeSet<Vec<String>> = paths(&code)
            .iter()
            .filter_map(|p| resolve(p, &from, &children, &modules))
            .filter(|m| *m != from && m.len() > 1)
            .collect();
        graph.insert(from, deps);
    }
    graph
}

/// A cycle in `graph`, as the list of its nodes, if there is one.
fn find_cycle<T: Ord + Clone>(graph: &BTreeMap<T, BTreeSet<T>>) -> Option<Vec<T>> {
    fn visit<T: Ord + Clone>(
        n: &T,
        graph: &BTreeMap<T, BTreeSet<T>>,
        stack: &mut Vec<T>,
        done: &mut BTreeSet<T>,
    ) -> Option<Vec<T>> {
        if let Some(pos) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(n.clone());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_names_a_module_that_names_it_back() {
    let g = graph();
    // The reader sees what it should: the stages depend on each other in pipeline order.
    let deps = |m: &str| g[&m.split("::").map(String::from).collect::<Vec<_>>()].clone();
    let named = |m: &str| m.split("::").map(String::from).collect::<Vec<_>>();
    assert!(deps("lib::train::engine").contains(&named("lib::cpu_step::adapter")));
    assert!(deps("lib::data::batches").contains(&named("lib::streams")));
    assert!(deps("lib::experiments::sweep::report")
        .contains(&named("lib::experiments::sweep::options")));
    if let Some(cycle) = find_cycle(&g) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        panic!("import cycle: {}", names.join(" → "));
    }
}

#[test]
fn the_pipeline_stages_depend_on_each_other_in_one_direction() {
    // Folders of the library (and its top-level files) as nodes.
    let mut stages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in graph() {
        if m[0] != "lib" || m.len() < 2 {
            continue;
        }
        let stage = m[1].clone();
        let entry = stages.entry(stage.clone()).or_default();
        for d in deps {
            if d[0] == "lib" && d.len() > 1 && d[1] != stage {
                entry.insert(d[1].clone());
            }
        }
    }
    if let Some(cycle) = find_cycle(&stages) {
        panic!("stage cycle: {}", cycle.join(" → "));
    }
    // Spot checks that the graph is read at all: training uses the model and the data.
    assert!(stages["train"].contains("model") && stages["train"].contains("data"));
    assert!(!stages["model"].contains("train"));
}

#[test]
fn a_cycle_is_found_where_there_is_one() {
    let g: BTreeMap<u8, BTreeSet<u8>> = [
        (1, BTreeSet::from([2])),
        (2, BTreeSet::from([3])),
        (3, BTreeSet::from([1])),
        (4, BTreeSet::new()),
    ]
    .into();
    assert_eq!(find_cycle(&g), Some(vec![1, 2, 3, 1]));
    let acyclic: BTreeMap<u8, BTreeSet<u8>> = [
        (1, BTreeSet::from([2, 3])),
        (2, BTreeSet::from([3])),
        (3, BTreeSet::new()),
    ]
    .into();
    assert_eq!(find_cycle(&acyclic), None);
}

#[test]
fn paths_are_read_through_braces_and_past_comments_and_strings() {
    let code = code_of(
        "use crate::a::{self, b::C, d};\n// crate::x::y\nlet s = \"crate::q::r\";\nsuper::e::f();",
    );
    let got: Vec<String> = paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "crate::a::self",
            "crate::a::b::C",
            "crate::a::d",
            "super::e::f"
        ]
    );
}

#[test]
fn every_source_file_opens_with_a_line_saying_what_it_holds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} has no //! opening line",
            f.display()
        );
    }
}

/// Where `text` scales something by the literal 0.3 (`0.3·x`, `0.3 * x`, `x·0.3`,
/// `affine(0.3, …)`): the residual scale written out instead of named.
fn scales_by_0_3(text: &str) -> Vec<usize> {
    let mut hits = Vec::new();
    for (no, line) in text.lines().enumerate() {
        for (i, _) in line.match_indices("0.3") {
            let before = line[..i].trim_end();
            let after = &line[i + 3..];
            // 0.3 itself, not 10.3 or 0.35.
            let whole = !before.ends_with(|c: char| c.is_ascii_digit() || c == '.')
                && !after.starts_with(|c: char| c.is_ascii_digit());
            let after = after.trim_start();
            let product = after.starts_with(['·', '*'])
                || before.ends_with(['·', '*'])
                || before.ends_with("affine(");
            if whole && product {
                hits.push(no + 1);
            }
        }
    }
    hits
}

#[test]
fn the_residual_scale_is_stated_once() {
    // `RESIDUAL_SCALE` in src/model/mod.rs is its one statement; code and comments elsewhere
    // name it, so that changing it cannot leave a stale 0.3 behind.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let home = src.join("model/mod.rs");
    for f in files.iter().filter(|f| **f != home) {
        let hits = scales_by_0_3(&std::fs::read_to_string(f).unwrap());
        assert!(
            hits.is_empty(),
            "{}: lines {hits:?} scale by 0.3; name RESIDUAL_SCALE instead",
            f.display()
        );
    }
    assert!(std::fs::read_to_string(home)
        .unwrap()
        .contains("pub const RESIDUAL_SCALE: f64 = 0.3;"));
    // The check finds what it is for.
    let stale =
        "// h ← h + 0.3·f(h)\nlet y = x.affine(0.3, 0.0)?;\nlet z = w * 0.3;\nv0.35, 10.3 · x";
    assert_eq!(scales_by_0_3(stale), [1, 2, 3]);
}
