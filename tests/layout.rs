//! The crate's layout rules, checked on its own source: the top-level modules of `src/` import
//! each other without cycles, reach each other by module path (never through a root
//! re-export), and the root re-exports only the few names of the main flow.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The most names `lib.rs` may re-export at the root.
const MAX_ROOT_NAMES: usize = 42;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/card/ledger.rs` -> `card`), or `None` for
/// `lib.rs`.
fn top_module(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).expect("a file under src");
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib").then_some(name)
}

/// The identifiers that follow `crate::` in `text`.
fn crate_paths(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .filter(|(i, _)| {
            // `$crate::` in macros and `giftcert_crate::` are not paths of this crate.
            text[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$'))
        })
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Module -> the other top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(&file) else {
            continue;
        };
        let source = fs::read_to_string(&file).expect("a readable source file");
        // Doc links may point anywhere; only code imports.
        let text: String = source
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(&text) {
            if name != module {
                uses.insert(name.to_owned());
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("money", vec![]),
        ("card", vec!["money", "redeem"]),
        ("redeem", vec!["card"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["card".into(), "redeem".into(), "card".into()])
    );
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    assert!(graph.contains_key("redeem") && graph.contains_key("store"));
    assert_eq!(find_cycle(&graph), None, "module graph: {graph:#?}");
}

#[test]
fn modules_reach_each_other_by_module_path_not_through_the_root() {
    let graph = module_graph();
    let modules: BTreeSet<&String> = graph.keys().collect();
    for (module, uses) in &graph {
        for name in uses {
            assert!(
                modules.contains(name),
                "{module} names crate::{name}: use the module path instead of the root re-export"
            );
        }
    }
}

#[test]
fn the_root_re_exports_only_the_main_flow() {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let mut names = 0;
    for statement in lib.split(';') {
        let statement = statement.trim_start();
        if let Some(rest) = statement.strip_prefix("pub use ") {
            let list = rest.split_once('{').map_or(rest, |(_, list)| list);
            names += list
                .split(',')
                .filter(|n| !n.trim().trim_matches('}').is_empty())
                .count();
        } else if statement.starts_with("pub mod ") {
            names += 1;
        } else if let Some((_, tail)) = statement.split_once("\npub mod ") {
            debug_assert!(!tail.is_empty());
            names += 1;
        }
    }
    assert!(names > 10, "counted {names} names: the count is broken");
    assert!(
        names <= MAX_ROOT_NAMES,
        "the root has {names} names, more than {MAX_ROOT_NAMES}"
    );
}
