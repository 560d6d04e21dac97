//! The modules of `crates/shmem/src` form a DAG (issue 11, item 1): no module reaches itself through
//! `crate::` paths, and the raw API (`api`) is a leaf that nothing else in the crate uses.
//!
//! The check reads the sources: every `crate::name` (and `crate::{a, b}`) outside comment lines is an edge
//! from the file's top-level module to `name`'s top-level module; names re-exported by `lib.rs` resolve to the
//! module they come from. Submodules belong to their top-level module (`runtime/rma.rs` is `runtime`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Source text without comment lines (doc comments name modules without depending on them).
fn code(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The names following `crate::` in `src`: single names and the first name of each item of a group.
fn crate_refs(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `shmem_crate::`, `$crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident_at(item.trim());
                if !name.is_empty() && name != "self" {
                    out.push(name.to_string());
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Names `lib.rs` re-exports from one of the crate's modules: name -> module.
fn reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in code(lib).split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else { continue };
        let path = path.trim();
        let Some((module, items)) = path.split_once("::") else { continue };
        if !modules.contains(module) {
            continue;
        }
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let last = item.trim().rsplit("::").next().unwrap_or_default().trim();
            if !last.is_empty() {
                map.insert(last.to_string(), module.to_string());
            }
        }
    }
    map
}

fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let top = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("non-empty").as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| top(p)).filter(|m| m != "lib").collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexported = reexports(&lib, &modules);
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for f in &files {
        let from = top(f);
        if from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        for name in crate_refs(&code(&text)) {
            let to = if modules.contains(&name) { Some(name) } else { reexported.get(&name).cloned() };
            if let Some(to) = to.filter(|t| *t != from) {
                graph.get_mut(&from).expect("known module").insert(to);
            }
        }
    }
    graph
}

/// A cycle of `graph` as a path `a -> b -> ... -> a`, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(n: &str, g: &Graph, mark: &mut BTreeMap<String, Mark>, path: &mut Vec<String>) -> Option<Vec<String>> {
        mark.insert(n.to_string(), Mark::Open);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match mark.get(m).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let at = path.iter().position(|p| p == m).expect("open nodes are on the path");
                    let mut cycle = path[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, g, mark, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        mark.insert(n.to_string(), Mark::Done);
        None
    }
    let mut mark = BTreeMap::new();
    for n in graph.keys() {
        if mark.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(n, graph, &mut mark, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn modules_form_a_dag() {
    let graph = module_graph();
    assert!(graph.len() > 10, "too few modules found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle among the modules of crates/shmem: {}\ngraph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn api_is_a_leaf_and_runtime_is_below_the_process_state() {
    let graph = module_graph();
    let users: Vec<&String> = graph.iter().filter(|(_, deps)| deps.contains("api")).map(|(m, _)| m).collect();
    assert!(users.is_empty(), "modules that use `api` (it must only convert and forward): {users:?}");
    let runtime = &graph["runtime"];
    for above in ["current", "api", "team", "waits", "ctx", "lock", "amo", "collectives", "uid", "handle", "sym"] {
        assert!(!runtime.contains(above), "runtime depends on {above}: {runtime:?}");
    }
}

/// The checker itself finds what it must: a cycle in a made-up graph, edges through groups and re-exports.
#[test]
fn the_checker_sees_cycles_groups_and_reexports() {
    let g: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec![])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let refs = crate_refs("use crate::{current::with_current, runtime::Runtime};\nlet x = crate::api::f(); $crate::no");
    assert_eq!(refs, ["current", "runtime", "api"]);
    let modules: BTreeSet<String> = ["handle", "sym"].into_iter().map(String::from).collect();
    let r = reexports("pub use handle::Shmem;\npub use sym::{SymVec, Other};\npub use shmem_core::Result;", &modules);
    assert_eq!(r.get("Shmem").map(String::as_str), Some("handle"));
    assert_eq!(r.get("Other").map(String::as_str), Some("sym"));
    assert!(!r.contains_key("Result"));
}
