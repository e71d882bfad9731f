//! Scripts on SQLite files: each handle is opened once, checked by the identity of the file
//! SQLite actually opened, fenced by an authorizer, and kept in a pool; each exec runs on a
//! blocking thread that SQLite itself stops at the deadline.

use super::{
    job::{ExecError, Limits, Outcome},
    sqlite_functions,
    table::Table,
};
use crate::store::FileId;
use rusqlite::{
    ffi,
    hooks::{AuthAction, AuthContext, Authorization},
    limits::Limit,
    types::ValueRef,
    Connection, InterruptHandle, OpenFlags,
};
use std::{
    ffi::{c_int, c_void, CStr},
    mem::ManuallyDrop,
    os::fd::FromRawFd,
    path::{Path, PathBuf},
    time::Instant,
};

/// A SQLite target as a connection names it: a path, with or without a `sqlite:` prefix, and
/// `?mode=ro` for read-only. (`file:` URIs are SQLite's own business: whatever they name, the
/// file is judged once open.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteTarget {
    pub path: String,
    pub read_only: bool,
}

impl SqliteTarget {
    pub fn parse(target: &str) -> Result<Self, String> {
        let target = target.trim();
        let bare = target
            .strip_prefix("sqlite://")
            .or_else(|| target.strip_prefix("sqlite:"))
            .unwrap_or(target);
        let (path, query) = match bare.split_once('?') {
            Some((path, query)) if !bare.starts_with("file:") => (path, Some(query)),
            _ => (bare, None),
        };
        let mut read_only = false;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair {
                "mode=ro" => read_only = true,
                "mode=rw" | "" => {}
                other => {
                    return Err(format!(
                        "unsupported SQLite parameter {other:?} (only mode=ro)"
                    ))
                }
            }
        }
        if path.is_empty() {
            return Err("target must be the path of a SQLite file".into());
        }
        Ok(Self {
            path: path.to_owned(),
            read_only,
        })
    }
}

/// The gateway's own SQLite database: its file and the files SQLite keeps beside it.
#[derive(Debug, Clone)]
pub struct OwnSqlite {
    main: FileId,
    path: PathBuf,
}

impl OwnSqlite {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            main: FileId::of(&std::fs::metadata(path)?),
            path: path.to_owned(),
        })
    }

    /// Whether a path reaches the database or a file beside it (through any link).
    pub fn names(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| self.is(FileId::of(&m)))
    }

    /// Whether `file` is the database or its journal, WAL or shared-memory file.
    fn is(&self, file: FileId) -> bool {
        file == self.main
            || ["-wal", "-shm", "-journal"].iter().any(|suffix| {
                let mut companion = self.path.clone().into_os_string();
                companion.push(suffix);
                std::fs::metadata(companion).is_ok_and(|m| FileId::of(&m) == file)
            })
    }
}

/// One open handle to a target file.
pub struct Handle {
    conn: Connection,
    interrupt: std::sync::Arc<InterruptHandle>,
}

/// Opens a handle (on a blocking thread: SQLite reads the file) and refuses it when the file
/// opened is the gateway's own, or cannot be identified.
pub fn open(
    target: &SqliteTarget,
    own: Option<&OwnSqlite>,
    limits: &Limits,
) -> Result<Handle, ExecError> {
    let mode = if target.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    // Never created: a typo must not make an empty database.
    let conn = Connection::open_with_flags(&target.path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| ExecError::Failed(e.to_string()))?;
    if let Some(own) = own {
        match main_file(&conn) {
            Some(file) if !own.is(file) => {}
            Some(_) => return Err(ExecError::OwnDatabase),
            None => {
                return Err(ExecError::Unidentified(
                    "the SQLite target is not a file the gateway can identify (an in-memory \
                     database or another VFS): use the path of a database file"
                        .into(),
                ))
            }
        }
    }
    // A value as long as the output may be keeps every step of a script short; no ATTACH
    // (VACUUM INTO attaches too) can reach another file; LIKE patterns stay small.
    let max_len = c_int::try_from(limits.max_bytes)
        .unwrap_or(c_int::MAX)
        .max(1024);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, max_len);
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
    conn.set_limit(Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000);
    sqlite_functions::install(&conn).map_err(|e| ExecError::Failed(e.to_string()))?;
    let interrupt = std::sync::Arc::new(conn.get_interrupt_handle());
    Ok(Handle { conn, interrupt })
}

/// The identity of the file SQLite holds open as the main database: asked of the descriptor,
/// not of any name, so no spelling, link or later rename can hide it. `None` if the database
/// is not a file of the unix VFS.
fn main_file(conn: &Connection) -> Option<FileId> {
    // The head of SQLite's `unixFile` (os_unix.c), the same in every unix VFS variant since
    // 3.7: the descriptor follows three pointers.
    #[repr(C)]
    struct UnixFileHead {
        methods: *const c_void,
        vfs: *const c_void,
        inode: *const c_void,
        fd: c_int,
    }
    // SAFETY: file controls on a live connection's main database write one pointer each; the
    // VFS name is a C string SQLite owns for the process's life; `file` points to a unixFile
    // when (and only when) the VFS is a unix one, checked first; the descriptor is borrowed,
    // never closed (ManuallyDrop).
    unsafe {
        let db = conn.handle();
        let vfs: *mut ffi::sqlite3_vfs = main_pointer(db, ffi::SQLITE_FCNTL_VFS_POINTER)?;
        if (*vfs).zName.is_null() {
            return None;
        }
        if !CStr::from_ptr((*vfs).zName).to_bytes().starts_with(b"unix") {
            return None;
        }
        let file: *mut ffi::sqlite3_file = main_pointer(db, ffi::SQLITE_FCNTL_FILE_POINTER)?;
        if (*file).pMethods.is_null() {
            return None;
        }
        let fd = (*(file as *const UnixFileHead)).fd;
        if fd < 0 {
            return None;
        }
        let borrowed = ManuallyDrop::new(std::fs::File::from_raw_fd(fd));
        let meta = borrowed.metadata().ok()?;
        // The layout above is SQLite's, not a promise: check that the descriptor is the file
        // SQLite says it opened, and refuse if not.
        let named = CStr::from_ptr(ffi::sqlite3_db_filename(db, c"main".as_ptr()));
        let named = std::fs::metadata(named.to_str().ok()?).ok()?;
        (FileId::of(&meta) == FileId::of(&named) && meta.is_file()).then(|| FileId::of(&meta))
    }
}

/// The pointer a file control `op` writes for the main database; `None` on failure or null.
///
/// SAFETY: `db` is a live connection, and `op` is one that writes a pointer to a `T`.
unsafe fn main_pointer<T>(db: *mut ffi::sqlite3, op: c_int) -> Option<*mut T> {
    let mut out: *mut T = std::ptr::null_mut();
    // SAFETY: the caller's contract: a live `db`, and an `op` that writes a `*mut T`.
    let rc = unsafe {
        ffi::sqlite3_file_control(db, c"main".as_ptr(), op, &mut out as *mut _ as *mut c_void)
    };
    (rc == ffi::SQLITE_OK && !out.is_null()).then_some(out)
}

impl Handle {
    pub fn interrupter(&self) -> std::sync::Arc<InterruptHandle> {
        self.interrupt.clone()
    }

    /// Runs the script to its end, its deadline or its output limit, then leaves the handle
    /// as it found it. Returns whether the handle may serve another caller.
    pub fn run(
        &mut self,
        script: &str,
        admin: bool,
        deadline: Instant,
        limits: &Limits,
    ) -> (Outcome, bool) {
        let conn = &self.conn;
        conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(&ctx, admin)));
        conn.progress_handler(1000, Some(move || Instant::now() >= deadline));
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = conn.busy_timeout(wait);
        let mut table = Table::new(limits.max_rows, limits.max_bytes);
        let result = run_script(conn, script, &mut table);
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        conn.progress_handler(0, None::<fn() -> bool>);
        let outcome = match result {
            Ok(()) => Outcome::done(table.finish()),
            Err(_) if Instant::now() >= deadline => Outcome::timed_out(limits),
            Err(e) => Outcome::failed(table.fail(&e.to_string())),
        };
        let reusable = !outcome.timed_out && self.reset();
        (outcome, reusable)
    }

    /// No transaction, no temporary object, no insert id is left for the next caller. False
    /// when that cannot be done: the handle is then closed instead of reused.
    fn reset(&mut self) -> bool {
        let conn = &self.conn;
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return false;
        }
        let temp: rusqlite::Result<i64> =
            conn.query_row("SELECT count(*) FROM temp.sqlite_schema", [], |r| r.get(0));
        if temp != Ok(0) {
            return false;
        }
        // SAFETY: a live connection we hold exclusively.
        unsafe { ffi::sqlite3_set_last_insert_rowid(conn.handle(), 0) };
        conn.is_autocommit()
    }
}

fn run_script(conn: &Connection, script: &str, table: &mut Table) -> rusqlite::Result<()> {
    let mut batch = rusqlite::Batch::new(conn, script);
    while let Some(mut stmt) = batch.next()? {
        let names: Vec<String> = stmt
            .column_names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let before = conn.total_changes();
        let mut rows = stmt.raw_query();
        let mut cells: Vec<Option<String>> = Vec::with_capacity(names.len());
        while let Some(row) = rows.next()? {
            cells.clear();
            for i in 0..names.len() {
                cells.push(cell(row.get_ref(i)?));
            }
            let names = names.iter().map(String::as_str);
            if !table.push(names, cells.iter().map(Option::as_deref)) {
                return Ok(());
            }
        }
        drop(rows);
        // changes() keeps the count of the last statement that changed anything, however old:
        // only a statement that changed rows reports it.
        let affected = if conn.total_changes() != before {
            conn.changes()
        } else {
            0
        };
        table.statement_done(affected);
    }
    Ok(())
}

fn cell(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
    }
}

/// Deny by default: reading and writing the target's own tables, transactions and harmless
/// functions pass; nothing that reaches another file, loads code, changes the connection or
/// the process for the next caller, or (for non-admins) shows file paths.
fn authorize(ctx: &AuthContext<'_>, admin: bool) -> Authorization {
    use AuthAction::*;
    let allowed = match ctx.action {
        Select | Read { .. } | Insert { .. } | Update { .. } | Delete { .. } | Recursive => true,
        Transaction { .. } | Savepoint { .. } => true,
        CreateTable { .. } | CreateIndex { .. } | CreateView { .. } | CreateTrigger { .. } => true,
        DropTable { .. } | DropIndex { .. } | DropView { .. } | DropTrigger { .. } => true,
        // Temporary objects live on the handle: the handle is closed after such an exec.
        CreateTempTable { .. }
        | CreateTempIndex { .. }
        | CreateTempView { .. }
        | CreateTempTrigger { .. } => true,
        DropTempTable { .. }
        | DropTempIndex { .. }
        | DropTempView { .. }
        | DropTempTrigger { .. } => true,
        AlterTable { .. } | Reindex { .. } | Analyze { .. } => true,
        Function { function_name } => {
            !DENIED_FUNCTIONS.contains(&function_name.to_ascii_lowercase().as_str())
        }
        Pragma {
            pragma_name,
            pragma_value,
        } => pragma_allowed(pragma_name, pragma_value, admin),
        Attach { .. } | Detach { .. } | CreateVtable { .. } | DropVtable { .. } => false,
        _ => false,
    };
    if allowed {
        Authorization::Allow
    } else {
        Authorization::Deny
    }
}

const DENIED_FUNCTIONS: &[&str] = &["load_extension", "fts3_tokenizer"];

/// Pragmas that only read. One with a value set is refused: on a pooled handle it would carry
/// over to the next caller, and some (`temp_store_directory`) change the whole process.
fn pragma_allowed(name: &str, value: Option<&str>, admin: bool) -> bool {
    const READ_WITH_ARGUMENT: &[&str] = &[
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    ];
    const READ_ONLY: &[&str] = &[
        "user_version",
        "schema_version",
        "application_id",
        "page_count",
        "page_size",
        "freelist_count",
        "encoding",
        "journal_mode",
        "auto_vacuum",
        "foreign_keys",
        "compile_options",
        "function_list",
        "pragma_list",
        "module_list",
        "collation_list",
        "table_list",
        "data_version",
        "max_page_count",
    ];
    let name = name.to_ascii_lowercase();
    if READ_WITH_ARGUMENT.contains(&name.as_str()) {
        return true;
    }
    if name == "database_list" {
        // It shows the file's path on the gateway's host.
        return admin && value.is_none();
    }
    READ_ONLY.contains(&name.as_str()) && value.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_or_without_the_url_prefix() {
        let t = SqliteTarget::parse("sqlite:///data/x.db?mode=ro").unwrap();
        assert_eq!((t.path.as_str(), t.read_only), ("/data/x.db", true));
        let t = SqliteTarget::parse(" /data/x.db ").unwrap();
        assert_eq!((t.path.as_str(), t.read_only), ("/data/x.db", false));
        assert!(SqliteTarget::parse("sqlite:/x.db?vfs=memdb").is_err());
        assert!(SqliteTarget::parse("sqlite://").is_err());
        // A file: URI goes to SQLite whole; the file it opens is judged by its identity.
        assert_eq!(
            SqliteTarget::parse("file:/x.db?mode=rw").unwrap().path,
            "file:/x.db?mode=rw"
        );
    }

    #[test]
    fn pragmas_that_set_anything_are_refused() {
        assert!(pragma_allowed("table_info", Some("items"), false));
        assert!(pragma_allowed("user_version", None, false));
        assert!(!pragma_allowed("user_version", Some("3"), true));
        assert!(!pragma_allowed("temp_store_directory", Some("/tmp"), true));
        assert!(!pragma_allowed("database_list", None, false));
        assert!(pragma_allowed("database_list", None, true));
        assert!(!pragma_allowed("writable_schema", Some("1"), true));
    }
}
