//! The output of a script as tab-separated text: a header row per result set, then its rows,
//! bounded in rows and in bytes so no script can make the gateway hold an answer of any size.

/// Where the output was cut, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Rows(usize),
    Bytes(usize),
}

pub struct Table {
    out: String,
    rows: usize,
    rows_in_statement: usize,
    max_rows: usize,
    max_bytes: usize,
    cut: Option<Cut>,
}

impl Table {
    pub fn new(max_rows: usize, max_bytes: usize) -> Self {
        Self {
            out: String::new(),
            rows: 0,
            rows_in_statement: 0,
            max_rows,
            max_bytes,
            cut: None,
        }
    }

    /// Adds a row (`None` is SQL NULL), with the header first in its result set. False once
    /// the output is cut: the caller stops reading, and the row is not in the output.
    pub fn push<'a, N, C>(&mut self, names: N, cells: C) -> bool
    where
        N: IntoIterator<Item = &'a str>,
        C: IntoIterator<Item = Option<&'a str>>,
    {
        if self.rows >= self.max_rows {
            self.cut = Some(Cut::Rows(self.max_rows));
            return false;
        }
        let start = self.out.len();
        if self.rows_in_statement == 0 {
            self.line(names.into_iter().map(Some));
        }
        self.line(cells);
        if self.out.len() > self.max_bytes {
            self.out.truncate(start);
            self.cut = Some(Cut::Bytes(self.max_bytes));
            return false;
        }
        self.rows += 1;
        self.rows_in_statement += 1;
        true
    }

    fn line<'a>(&mut self, cells: impl IntoIterator<Item = Option<&'a str>>) {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push('\t');
            }
            match cell {
                Some(value) => escape_into(&mut self.out, value),
                None => self.out.push_str("NULL"),
            }
        }
        self.out.push('\n');
    }

    /// A statement ended; one that returned no rows says how many it changed.
    pub fn statement_done(&mut self, affected: u64) {
        if self.rows_in_statement == 0 {
            self.out.push_str(&format!("({affected} rows affected)\n"));
        }
        self.rows_in_statement = 0;
    }

    /// The text, ending with where it was cut.
    pub fn finish(mut self) -> String {
        match self.cut {
            Some(Cut::Rows(n)) => self
                .out
                .push_str(&format!("(output cut at {n} rows: HOOP_EXEC_MAX_ROWS)\n")),
            Some(Cut::Bytes(n)) => self
                .out
                .push_str(&format!("(output cut at {n} bytes: HOOP_EXEC_MAX_BYTES)\n")),
            None => {}
        }
        self.out
    }

    /// The text so far, then the database's error.
    pub fn fail(mut self, message: &str) -> String {
        self.out.push_str(message);
        self.out
    }
}

/// Tabs and newlines inside a value would break the table.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_escaped_and_headed_once_per_result_set() {
        let mut t = Table::new(10, 1 << 20);
        assert!(t.push(["a", "b"], [Some("x\ty"), None]));
        assert!(t.push(["a", "b"], [Some("line\nbreak"), Some("back\\slash")]));
        t.statement_done(2);
        t.statement_done(3);
        assert_eq!(
            t.finish(),
            "a\tb\nx\\ty\tNULL\nline\\nbreak\tback\\\\slash\n(3 rows affected)\n"
        );
    }

    #[test]
    fn output_stops_at_the_last_whole_row_that_fits() {
        let mut t = Table::new(10, 12);
        assert!(t.push(["c"], [Some("12345")]));
        assert!(!t.push(["c"], [Some("123456")]));
        assert_eq!(
            t.finish(),
            "c\n12345\n(output cut at 12 bytes: HOOP_EXEC_MAX_BYTES)\n"
        );
    }

    #[test]
    fn output_stops_at_the_row_limit() {
        let mut t = Table::new(1, 1 << 20);
        assert!(t.push(["c"], [Some("1")]));
        assert!(!t.push(["c"], [Some("2")]));
        assert_eq!(
            t.finish(),
            "c\n1\n(output cut at 1 rows: HOOP_EXEC_MAX_ROWS)\n"
        );
    }
}
