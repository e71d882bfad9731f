//! The shape the code and the schema keep. Every dependency runs one way: no module of the
//! server, and no file, imports one that imports it back (directly or around a longer loop), read
//! from the source's own paths the way a newcomer reads the code (`use` lines, paths in
//! expressions, macros' `$crate::` alike); no adapter reaches the store. And the two stores'
//! migrations define one schema.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The module a file is (`src/keys/cache.rs` → `keys::cache`, `src/keys/mod.rs` → `keys`); the
/// roots (`lib.rs`, `main.rs`) are the empty path.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut path: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|l| l == "mod") || path == ["lib"] || path == ["main"] {
        path.pop();
    }
    path
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The paths of the use-tree `s` (what follows a `::`), each after `prefix`: `{a::b, c}` →
/// `prefix::a::b`, `prefix::c`.
fn use_tree(prefix: Vec<String>, s: &str, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let (mut depth, mut start) = (0usize, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return use_tree(prefix, &group[start..i], out),
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(prefix.clone(), &group[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let name = ident(s);
    if name.is_empty() {
        return; // the space after a group's trailing comma
    }
    if name == "self" {
        return out.push(prefix);
    }
    let mut path = prefix;
    path.push(name.to_owned());
    match s[name.len()..].strip_prefix("::") {
        Some(rest) => use_tree(path, rest, out),
        None => out.push(path),
    }
}

/// Every path a piece of code names from `crate`, `super`, `self` or one of `children` (the
/// file's own submodules), as segments: in `use` lines, in expressions, in macros' `$crate::`.
fn named_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let roots = ["crate", "super", "self"]
        .into_iter()
        .chain(children.iter().map(String::as_str));
    let mut out = Vec::new();
    for root in roots {
        let needle = format!("{root}::");
        for (at, _) in code.match_indices(&needle) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            use_tree(vec![root.to_owned()], &code[at + needle.len()..], &mut out);
        }
    }
    out
}

/// Code without its comments (a doc link names a module without depending on it) and without
/// its unit tests (`#[cfg(test)] mod tests`, which may reach anywhere).
fn production_code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which files each file names, by module path (the roots left out: `lib.rs` only declares).
fn file_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .into_iter()
        .map(|f| (module_path(src, &f), f))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        if module.is_empty() {
            continue;
        }
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        let code = production_code(&std::fs::read_to_string(file).unwrap());
        let mut edges = BTreeSet::new();
        for path in named_paths(&code, &children) {
            // `crate::` from the root, anything else (`self::`, `super::`, a child) from here.
            let (mut full, start) = match path[0].as_str() {
                "crate" => (Vec::new(), 1),
                "self" => (module.clone(), 1),
                _ => (module.clone(), 0),
            };
            let mut rest = &path[start..];
            while let [first, tail @ ..] = rest {
                if first != "super" {
                    break;
                }
                full.pop();
                rest = tail;
            }
            full.extend(rest.iter().cloned());
            // The file that holds the item: the longest prefix that is a module.
            let target = (0..=full.len())
                .rev()
                .map(|n| &full[..n])
                .find(|m| modules.contains_key(*m));
            if let Some(target) = target.filter(|t| !t.is_empty() && *t != &module[..]) {
                edges.insert(target.to_vec());
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// The same graph between top-level modules (`keys::cache` → `store::keys` is `keys` → `store`).
fn module_graph(
    files: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, edges) in files {
        let edges_of = graph.entry(file[0].clone()).or_default();
        edges_of.extend(edges.iter().map(|e| e[0].clone()).filter(|e| *e != file[0]));
    }
    graph
}

/// A loop of imports, if there is one.
fn a_cycle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        node: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        path: &mut Vec<N>,
        done: &mut BTreeSet<N>,
    ) -> Option<Vec<N>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = module_graph(&file_graph(&src()));
    assert!(graph.len() > 10, "read too little: {graph:?}");
    if let Some(cycle) = a_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

/// Files too: `web::gateway` may not name `web::activity` if `web::activity` names it back,
/// nor a `mod.rs` its child if the child names the `mod.rs`.
#[test]
fn no_file_imports_one_that_imports_it_back() {
    let graph = file_graph(&src());
    assert!(graph.len() > 60, "read too little: {graph:?}");
    if let Some(cycle) = a_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        panic!("import cycle between files: {}", names.join(" → "));
    }
}

/// REST handlers, server functions, MCP tools and the CLI authenticate, call a service and
/// answer with its wire type: the store, its rows and its queries are the services' business.
#[test]
fn no_adapter_reaches_the_store() {
    let graph = file_graph(&src());
    let adapters = ["api", "web", "cli"];
    let mut reaching = Vec::new();
    for (file, edges) in &graph {
        if !adapters.contains(&file[0].as_str()) {
            continue;
        }
        for edge in edges.iter().filter(|e| e[0] == "store") {
            reaching.push(format!("{} → {}", file.join("::"), edge.join("::")));
        }
    }
    let mut files = Vec::new();
    for adapter in adapters {
        rust_files(&src().join(adapter), &mut files);
    }
    for file in files {
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        // `state.store`: the pool itself, reached through the services' struct.
        let by_field = code.match_indices(".store").any(|(at, m)| {
            !code[at + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        });
        if by_field {
            reaching.push(format!("{} → .store", file.display()));
        }
    }
    assert!(
        reaching.is_empty(),
        "adapters reaching the store: {reaching:#?}"
    );
}

#[test]
fn the_reader_sees_grouped_inline_and_relative_paths() {
    let code = "use crate::{a::b, c, d::{e, f,},};\nlet x = crate::g::h();\n$crate::i::j!();\n\
                use super::{k, l};\nuse child::m;\nstd::child::n();";
    let children = BTreeSet::from(["child".to_owned()]);
    let mut names: Vec<String> = named_paths(code, &children)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "child::m",
            "crate::a::b",
            "crate::c",
            "crate::d::e",
            "crate::d::f",
            "crate::g::h",
            "crate::i::j",
            "super::k",
            "super::l"
        ]
    );
    let mut graph = BTreeMap::new();
    graph.insert("x".to_owned(), BTreeSet::from(["y".to_owned()]));
    graph.insert("y".to_owned(), BTreeSet::from(["x".to_owned()]));
    assert_eq!(a_cycle(&graph).unwrap(), ["x", "y", "x"]);
}

/// What only the store may name: the backends' variants, pools, connections and listeners,
/// and the session store built on them. SQLite and PostgreSQL differ inside `src/store/` alone,
/// behind what it offers the rest (`Store::feed`, `Store::own_identity`, `sessions::SessionTable`).
/// The databases scripts run on are not the store: exec and the demo seed open those with
/// drivers of their own.
const BACKEND_NAMES: [&str; 7] = [
    "Store::Sqlite",
    "Store::Postgres",
    "SqlitePool",
    "PgPool",
    "PgConnection",
    "PgListener",
    "tower_sessions_sqlx_store",
];

#[test]
fn only_the_store_names_a_backend() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = src.join("store");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let (mut inside, mut outside) = (BTreeSet::new(), Vec::new());
    for file in files {
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        for name in BACKEND_NAMES.into_iter().filter(|n| code.contains(n)) {
            if file.starts_with(&store) {
                inside.insert(name);
            } else {
                outside.push(format!(
                    "{}: {name}",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    // The store itself names each: the scan reads what it should.
    assert_eq!(inside, BTreeSet::from(BACKEND_NAMES), "read too little");
    assert!(
        outside.is_empty(),
        "a backend named outside src/store/: {outside:?}"
    );
}

/// The two stores are one schema: the SQLite and PostgreSQL migration trees must define the same
/// tables with the same columns (types differ by backend, names may not), or a query written
/// once for both breaks on one of them.
#[tokio::test]
async fn both_migration_trees_define_the_same_tables_and_columns() {
    use crate::helpers::{drop_database, fresh_database, Backend};
    use hoop::store::Store;
    let mut schemas = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let (url, _) = fresh_database(backend, dir.path()).await;
        let store = Store::connect(&url).await.unwrap();
        let columns: Vec<(String, String)> = match &store {
            Store::Sqlite(sqlite) => sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
            )
            .fetch_all(&sqlite.pool)
            .await
            .unwrap(),
            Store::Postgres(pool) => sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        store.close().await;
        drop_database(backend, &url).await;
        schemas.push(columns.into_iter().collect::<BTreeSet<_>>());
    }
    assert!(schemas[0].len() > 20, "read too little: {:?}", schemas[0]);
    let only_sqlite: Vec<_> = schemas[0].difference(&schemas[1]).collect();
    let only_postgres: Vec<_> = schemas[1].difference(&schemas[0]).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "SQLite alone has {only_sqlite:?}; PostgreSQL alone has {only_postgres:?}"
    );
}
