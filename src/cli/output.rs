//! Tables for humans, JSON for scripts.

use comfy_table::{presets::NOTHING, Table};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// A type the CLI shows as table rows: its columns, and each one's text.
pub trait Columns: Serialize {
    /// Named as the JSON fields, so the table and `-o json` read alike.
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// One cell, from the value's JSON: null is `-`, a list is joined with commas, a time reads as
/// it does in the JSON.
pub fn cell(value: &impl Serialize) -> String {
    fn text(v: &Value) -> String {
        match v {
            Value::Null => "-".into(),
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
            other => other.to_string(),
        }
    }
    serde_json::to_value(value).map_or_else(|_| "?".into(), |v| text(&v))
}

/// The answer as the gateway sent it, pretty-printed (fields in alphabetical order).
pub fn print_json(value: &impl Serialize) {
    // Through `Value`, whose map sorts its keys: the order `-o json` has always had.
    let json = serde_json::to_value(value).and_then(|v| serde_json::to_string_pretty(&v));
    println!("{}", json.unwrap_or_default());
}

pub fn print_list<T: Columns>(rows: &[T], format: Format) {
    match format {
        Format::Json => print_json(&rows),
        Format::Table => println!("{}", table(T::COLUMNS, rows.iter().map(T::cells))),
    }
}

pub fn print_one<T: Columns>(row: &T, format: Format) {
    match format {
        Format::Json => print_json(row),
        Format::Table => println!("{}", table(T::COLUMNS, [row.cells()])),
    }
}

/// Rows whose columns are chosen at run time (a resource that shows some only when they apply).
pub fn print_table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    println!("{}", table(columns, rows));
}

/// Upper-case headers, columns two spaces apart, no lines: easy to read and to `grep` or `awk`.
fn table(columns: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_header(columns.iter().map(|c| c.to_uppercase()))
        .add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_aligned_columns_and_no_trailing_space() {
        let rows = [
            vec!["eng-bot".to_owned(), "-".to_owned()],
            vec!["a".to_owned(), "admin,ops".to_owned()],
        ];
        assert_eq!(
            table(&["name", "groups"], rows),
            "NAME     GROUPS\neng-bot  -\na        admin,ops"
        );
        assert_eq!(table(&["name"], []), "NAME");
    }

    #[test]
    fn cells_read_as_the_json_does() {
        assert_eq!(cell(&None::<String>), "-");
        assert_eq!(cell(&vec!["a", "b"]), "a,b");
        assert_eq!(cell(&true), "true");
        assert_eq!(cell(&42), "42");
        let at = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:00:00.5Z").unwrap();
        assert_eq!(cell(&at.to_utc()), "2024-05-01T12:00:00.500Z");
    }
}
