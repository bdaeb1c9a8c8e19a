//! The crates' files form layers: no file imports another that imports it
//! back, directly or round a circle. A newcomer can then read a crate from
//! its leaves up (`host/src/lib.rs` lists the layers).
//!
//! A file depends on the files its `mod` lines declare and on the module
//! files its `crate::` and `super::` paths name. Code after
//! `#[cfg(test)] mod tests` and comments are left out: a test module may
//! reach back into its parent. Inside a crate, items are named by their
//! module's path, not by the crate root's re-exports, since the root
//! declares every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's module files, by module path (`[]` is the root file).
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    fn read(src: &Path, root_file: &str) -> Crate {
        let mut files = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut segments: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if segments == [root_file] {
                    segments.clear();
                } else if segments.last().is_some_and(|s| s == "mod") {
                    segments.pop();
                } else if segments.len() == 1 && (segments[0] == "lib" || segments[0] == "main") {
                    continue; // another crate's root in the same folder
                }
                files.insert(segments, path);
            }
        }
        Crate { files }
    }

    /// The file of the longest prefix of `path` that is a module.
    fn resolve(&self, path: &[String]) -> Option<&Vec<String>> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get_key_value(&path[..n]).map(|(k, _)| k))
    }

    /// Each module's dependencies on other modules of the crate.
    fn edges(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut edges = BTreeMap::new();
        for (module, path) in &self.files {
            let text = std::fs::read_to_string(path).unwrap();
            let code = strip(&text);
            // `mod x;` in module `a::b` declares `a::b::x`; `super` of `a::b`
            // is `a`, whether the file is `a/b.rs` or `a/b/mod.rs`.
            let children_of = module.clone();
            let super_of = module[..module.len().saturating_sub(1)].to_vec();
            let mut targets = BTreeSet::new();
            for child in declared_mods(&code) {
                let mut p = children_of.clone();
                p.push(child);
                targets.extend(self.resolve(&p).cloned());
            }
            for (base, rest) in paths(&code) {
                let mut p = match base {
                    "crate" => Vec::new(),
                    _ => super_of.clone(),
                };
                p.extend(rest);
                targets.extend(self.resolve(&p).cloned());
            }
            targets.remove(module);
            edges.insert(module.clone(), targets);
        }
        edges
    }
}

/// The code before the test module, without comments.
fn strip(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `mod x;` lines declare.
fn declared_mods(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or(l.strip_prefix("pub "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Every `crate::a::b` and `super::a` path (each head of a `{a, b::c}`
/// group), as its base and segments.
fn paths(code: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for base in ["crate", "super"] {
        let needle = format!("{base}::");
        let mut from = 0;
        while let Some(i) = code[from..].find(&needle) {
            let start = from + i;
            from = start + needle.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `my_crate::`
            }
            let rest = &code[from..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    let head = item.trim().split("::").next().unwrap_or("").trim();
                    if !head.is_empty() {
                        out.push((
                            if base == "crate" { "crate" } else { "super" },
                            vec![head.to_string()],
                        ));
                    }
                }
                continue;
            }
            // Identifiers joined by `::`; the first piece with anything
            // after its identifier ends the path.
            let mut segments = Vec::new();
            for piece in rest.split("::") {
                let ident: String = piece
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident.is_empty() {
                    break;
                }
                let ends = ident.len() < piece.len();
                segments.push(ident);
                if ends {
                    break;
                }
            }
            out.push((if base == "crate" { "crate" } else { "super" }, segments));
        }
    }
    out
}

/// Every circle of modules, each as its files (Tarjan's strongly connected
/// components of more than one module).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Vec<String>) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.edges[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn assert_no_cycles(src: &str, root_file: &str) {
    let root = crate::common::root();
    let krate = Crate::read(&root.join(src), root_file);
    assert!(
        krate.files.len() > 3,
        "{src}: found {} files",
        krate.files.len()
    );
    let found = cycles(&krate.edges());
    let names: Vec<Vec<String>> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|m| {
                    krate.files[m]
                        .strip_prefix(&root)
                        .unwrap()
                        .display()
                        .to_string()
                })
                .collect()
        })
        .collect();
    assert!(
        names.is_empty(),
        "{src}: files that import each other in a circle: {names:?}"
    );
}

#[test]
fn host_library_files_form_layers() {
    assert_no_cycles("host/src", "lib");
}

#[test]
fn command_line_files_form_layers() {
    assert_no_cycles("host/cli/src", "main");
}

#[test]
fn plugin_files_form_layers() {
    assert_no_cycles("plugin/src", "lib");
}

#[test]
fn the_checker_finds_a_circle() {
    // Two modules that name each other, and a third that only looks on.
    let a = vec!["a".to_string()];
    let b = vec!["b".to_string()];
    let c = vec!["c".to_string()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone()])),
        (c.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(cycles(&edges), [vec![a, b]]);
    // And it reads paths as a file writes them.
    let code = strip(
        "use crate::x::{Y, z::W};\nuse super::q::R; // crate::not_this\nfn f() { crate::m::g() }\n#[cfg(test)]\nmod tests { use crate::t; }",
    );
    let found: Vec<(&str, Vec<String>)> = paths(&code);
    let names: Vec<String> = found
        .iter()
        .map(|(b, p)| format!("{b}::{}", p.join("::")))
        .collect();
    assert_eq!(names, ["crate::x", "crate::m::g", "super::q::R"]);
}
