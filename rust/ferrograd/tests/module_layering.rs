//! Layers that depend only downward: the top-level modules of the engine (and of the bindings)
//! must not import each other in a cycle, so each layer can be read, tested and changed with
//! only the layers below it in mind.
//!
//! The check reads the source files and builds the graph of `crate::<module>` references between
//! top-level modules (a file `src/ops/conv.rs` belongs to `ops`), `use crate::{a, b::c}` groups
//! included, and names re-exported from the crate root (`crate::Tensor`) resolved to the module
//! they come from. Comments are skipped: a doc link is not a dependency. `$crate::` paths in
//! macros are skipped too: they resolve where the macro is expanded, not where it is written.
//! Unit tests inside a module count: a test of `nn` that builds a `model` makes `nn` depend on
//! `model` as surely as its code would.
//!
//! The one cycle the design allows is `tensor` ↔ `autodiff`: a tensor records the op that made
//! it and the backward pass walks tensors. The two are merged into one node before the search.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules that may import each other: each group is one node of the graph.
const ENGINE_MERGED: &[&[&str]] = &[&["tensor", "autodiff"]];

/// Edges tolerated for now, each with the work that removes it (none left).
const ENGINE_TOLERATED: &[(&str, &str, &str)] = &[];

/// Where a reference from one module to another was found.
#[derive(Clone, Debug)]
struct Evidence {
    file: String,
    line: usize,
    path: String,
}

/// `module -> module -> first place the reference occurs`.
type Graph = BTreeMap<String, BTreeMap<String, Evidence>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to, or `None` for the crate root.
fn owning_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_string();
    match first.strip_suffix(".rs") {
        Some("lib") | Some("main") => None,
        Some(stem) => Some(stem.to_string()),
        None => Some(first),
    }
}

/// The source with comments blanked out (line breaks kept, so line numbers stay right).
/// String literals are kept as they are: `"//"` inside one would end the line early, which only
/// hides a reference, and no source file here writes `crate::` paths after such a string.
fn strip_comments(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let mut block_depth = 0usize;
    while i < bytes.len() {
        let rest = &source[i..];
        if block_depth > 0 {
            if rest.starts_with("*/") {
                block_depth -= 1;
                i += 2;
            } else if rest.starts_with("/*") {
                block_depth += 1;
                i += 2;
            } else {
                if bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += rest.chars().next().unwrap().len_utf8();
            }
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            block_depth = 1;
            i += 2;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn leading_ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c| !is_ident_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first path segments after each `crate::` in `source`, with the line they are on and
/// the path as written (for the failure message).
fn crate_references(source: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    let mut search_from = 0;
    while let Some(offset) = source[search_from..].find("crate::") {
        let start = search_from + offset;
        search_from = start + "crate::".len();
        let before = source[..start].chars().next_back();
        if before.is_some_and(|c| is_ident_char(c) || c == '$') {
            continue; // `$crate::` (macro) or a longer identifier ending in `crate`
        }
        let line = source[..start].matches('\n').count() + 1;
        let after = &source[search_from..];
        if let Some(group) = after.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e}`: the items at the group's top level.
            let mut depth = 0usize;
            let mut item_start = 0;
            let mut items = Vec::new();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[item_start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[item_start..i]);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            for item in items {
                let name = leading_ident(item);
                if !name.is_empty() {
                    found.push((
                        line,
                        name.to_string(),
                        format!("crate::{{{}}}", item.trim()),
                    ));
                }
            }
        } else {
            let name = leading_ident(after);
            let written = after
                .split(|c: char| !(is_ident_char(c) || c == ':'))
                .next()
                .unwrap_or("");
            let shown = if written.ends_with("::") {
                format!("crate::{written}{{..}}")
            } else {
                format!("crate::{written}")
            };
            found.push((line, name.to_string(), shown));
        }
    }
    found
}

/// Names the crate root re-exports (`pub use tensor::{DType, Tensor};`) with their module.
fn root_reexports(root_source: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let source = strip_comments(root_source);
    for statement in source.split(';') {
        let statement = statement.trim();
        let Some(path) = statement.strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim().trim_start_matches("crate::");
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        let rest = rest.trim();
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.trim_end_matches('}').split(',').collect(),
            None => vec![rest],
        };
        for item in items {
            // `a::b as c` exports `c`; `a::b` exports `b`.
            let exported = match item.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => item.rsplit("::").next().unwrap().trim(),
            };
            if !exported.is_empty() {
                names.insert(exported.to_string(), module.trim().to_string());
            }
        }
    }
    names
}

/// The module graph of the crate whose sources are in `src` (root file `root`).
fn module_graph(src: &Path, root: &str) -> Graph {
    let root_source = fs::read_to_string(src.join(root)).unwrap();
    let reexports = root_reexports(&root_source);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|file| owning_module(src, file))
        .collect();
    let mut graph = Graph::new();
    let mut unknown = Vec::new();
    for file in &files {
        let Some(from) = owning_module(src, file) else {
            continue;
        };
        let source = strip_comments(&fs::read_to_string(file).unwrap());
        for (line, name, path) in crate_references(&source) {
            let to = if modules.contains(&name) {
                name.clone()
            } else if let Some(module) = reexports.get(&name) {
                module.clone()
            } else {
                let shown = file.strip_prefix(src).unwrap().display();
                unknown.push(format!("{shown}:{line}: {path}"));
                continue;
            };
            if to != from {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| Evidence {
                        file: file.strip_prefix(src).unwrap().display().to_string(),
                        line,
                        path,
                    });
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "crate:: paths this check cannot place in a module (teach root_reexports about them):\n{}",
        unknown.join("\n")
    );
    graph
}

/// The cycles of `graph` once each group of `merged` is one node and `tolerated` edges are
/// dropped: one line per cycle, each edge with the file and line that makes it.
fn cycles(graph: &Graph, merged: &[&[&str]], tolerated: &[(&str, &str, &str)]) -> Vec<String> {
    let node = |module: &str| -> String {
        merged
            .iter()
            .find(|group| group.contains(&module))
            .map(|group| group.join("+"))
            .unwrap_or_else(|| module.to_string())
    };
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (from, targets) in graph {
        for (to, evidence) in targets {
            if tolerated.iter().any(|(a, b, _)| a == from && b == to) {
                continue;
            }
            let (from_node, to_node) = (node(from), node(to));
            if from_node != to_node {
                edges
                    .entry(from_node)
                    .or_default()
                    .entry(to_node)
                    .or_insert_with(|| {
                        format!(
                            "{from} -> {to} ({}:{}: {})",
                            evidence.file, evidence.line, evidence.path
                        )
                    });
            }
        }
    }
    // Depth-first search; a back edge to a node on the stack closes a cycle.
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        stack.push(node.to_string());
        for (next, _) in edges.get(node).into_iter().flatten() {
            if let Some(at) = stack.iter().position(|n| n == next) {
                let mut cycle: Vec<&str> = stack[at..].iter().map(String::as_str).collect();
                cycle.push(next);
                let described: Vec<&str> = cycle
                    .windows(2)
                    .map(|pair| edges[pair[0]][pair[1]].as_str())
                    .collect();
                found.push(described.join("\n    "));
            } else if !done.contains(next) {
                visit(next, edges, stack, done, found);
            }
        }
        stack.pop();
        done.insert(node.to_string());
    }
    for start in edges.keys() {
        if !done.contains(start) {
            visit(start, &edges, &mut Vec::new(), &mut done, &mut found);
        }
    }
    found
}

fn assert_acyclic(
    what: &str,
    src: &Path,
    root: &str,
    merged: &[&[&str]],
    tolerated: &[(&str, &str, &str)],
) {
    // A tolerated edge that has gone is not an error here: the work that removes it lands on
    // its own branch, and should delete its line from the list when it does.
    let graph = module_graph(src, root);
    let cycles = cycles(&graph, merged, tolerated);
    assert!(
        cycles.is_empty(),
        "{what}: modules import each other in a cycle; move the shared piece down a layer:\n  {}",
        cycles.join("\n  ")
    );
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn engine_modules_depend_only_downward() {
    assert_acyclic(
        "ferrograd",
        &manifest_dir().join("src"),
        "lib.rs",
        ENGINE_MERGED,
        ENGINE_TOLERATED,
    );
}

#[test]
fn binding_modules_depend_only_downward() {
    // The bindings crate sits beside the engine in the workspace; its `crate::` is its own.
    let src = manifest_dir().join("../ferrograd-py/src");
    assert_acyclic("ferrograd-py", &src, "lib.rs", &[], &[]);
}

#[test]
fn the_checker_sees_groups_reexports_and_cycles() {
    let source = strip_comments(
        "use crate::{ops::{a, b}, Tensor};\n// crate::model::Graph\nlet x = crate::nn::f();\n\
         $crate::saving::x\n/* crate::metrics */",
    );
    let names: Vec<String> = crate_references(&source)
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    assert_eq!(names, ["ops", "Tensor", "nn"]);
    let exports = root_reexports("pub use tensor::{DType, Tensor};\npub use error::Result;");
    assert_eq!(exports["Tensor"], "tensor");
    assert_eq!(exports["Result"], "error");

    let evidence = Evidence {
        file: "f.rs".into(),
        line: 1,
        path: "crate::x".into(),
    };
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "a"), ("b", "c")] {
        graph
            .entry(from.into())
            .or_default()
            .insert(to.into(), evidence.clone());
    }
    assert_eq!(cycles(&graph, &[], &[]).len(), 1);
    assert!(cycles(&graph, &[&["a", "b"]], &[]).is_empty());
    assert!(cycles(&graph, &[], &[("b", "a", "being removed")]).is_empty());
}
