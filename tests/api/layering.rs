//! The shape the code and the schema keep. Every dependency runs one way: no top-level module of
//! the server imports one that imports it back (directly or around a longer loop), read from the
//! source's own `crate::` paths the way a newcomer reads the code (`use` lines, paths in
//! expressions, macros' `$crate::` alike). And the two stores' migrations define one schema.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The top-level module a file belongs to (`src/keys/cache.rs` → `keys`); none for the roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    let name = name.strip_suffix(".rs").unwrap_or(name);
    (name != "lib" && name != "main").then(|| name.to_owned())
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

/// The top-level modules a piece of code names through `crate::`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.insert(ident(rest));
            continue;
        };
        // `crate::{a::b, c, d::{e, f}}`: the first name of each item at the outer level.
        let (mut depth, mut item_start) = (0usize, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                c if item_start && (c.is_alphanumeric() || c == '_') => {
                    names.insert(ident(&group[i..]));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Code without its comments: a doc link names a module without depending on it.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let code = without_comments(&std::fs::read_to_string(&file).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(named_modules(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

/// A loop of imports, if there is one.
fn a_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
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
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(graph.len() > 10, "read too little: {graph:?}");
    if let Some(cycle) = a_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_reader_sees_grouped_and_inline_paths() {
    let code = "use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h();\n$crate::i::j!();";
    let names: Vec<String> = named_modules(code).into_iter().collect();
    assert_eq!(names, ["a", "c", "d", "g", "i"]);
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
        let code = without_comments(&std::fs::read_to_string(&file).unwrap());
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
