//! Linear-time replacements for SQLite's string functions that take time quadratic in their
//! arguments. SQLite checks for interrupts and its progress handler only between steps of a
//! statement, and `instr`, `replace` and the two-argument `trim`s over multi-megabyte values
//! are one step each that can run for minutes: past the deadline, nothing could stop them.
//! Each replacement gives exactly what SQLite's own gives (unit tests compare them), in time
//! linear in the sizes of its arguments.

use rusqlite::ffi;
use std::{
    collections::HashMap,
    ffi::{c_int, c_void},
    os::raw::c_char,
};

/// Registers the replacements on one connection, in place of the built-ins.
pub fn install(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    type Func =
        unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);
    let functions: [(&std::ffi::CStr, c_int, Func, usize); 5] = [
        (c"instr", 2, instr, 0),
        (c"replace", 3, replace, 0),
        (c"trim", 2, trim, TRIM_LEFT | TRIM_RIGHT),
        (c"ltrim", 2, trim, TRIM_LEFT),
        (c"rtrim", 2, trim, TRIM_RIGHT),
    ];
    for (name, args, func, data) in functions {
        // SAFETY: a live connection; the callbacks only read their arguments and set a result.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                conn.handle(),
                name.as_ptr(),
                args,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
                data as *mut c_void,
                Some(func),
                None,
                None,
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
        }
    }
    Ok(())
}

const TRIM_LEFT: usize = 1;
const TRIM_RIGHT: usize = 2;

/// The value's text (SQLite's own conversion of numbers) or, with `blob`, its bytes; `None` for
/// NULL or when SQLite is out of memory.
///
/// SAFETY: `v` is an argument of the function being called; the slice lives until the value
/// is converted again or the call returns.
unsafe fn bytes<'a>(v: *mut ffi::sqlite3_value, blob: bool) -> Option<&'a [u8]> {
    // SAFETY: `v` is a live argument value (the caller's contract).
    if unsafe { ffi::sqlite3_value_type(v) } == ffi::SQLITE_NULL {
        return None;
    }
    // SAFETY: as above; the length is read after the conversion, as SQLite requires.
    let (p, n) = unsafe {
        let p = if blob {
            ffi::sqlite3_value_blob(v)
        } else {
            ffi::sqlite3_value_text(v) as *const c_void
        };
        (p, usize::try_from(ffi::sqlite3_value_bytes(v)).unwrap_or(0))
    };
    match (p.is_null(), n) {
        (_, 0) => Some(&[]),
        (true, _) => None,
        // SAFETY: SQLite holds `n` bytes at `p` until the value is converted again.
        (false, n) => Some(unsafe { std::slice::from_raw_parts(p as *const u8, n) }),
    }
}

/// SAFETY: `argv` is the argument array of a call registered with `n` arguments.
unsafe fn args<'a>(argv: *mut *mut ffi::sqlite3_value, n: usize) -> &'a [*mut ffi::sqlite3_value] {
    // SAFETY: the caller's contract: `n` live pointers at `argv`.
    unsafe { std::slice::from_raw_parts(argv, n) }
}

/// SAFETY: `ctx` is the context of the call being answered.
unsafe fn result_text(ctx: *mut ffi::sqlite3_context, text: &[u8]) {
    // SAFETY: a live context and its connection; SQLITE_TRANSIENT makes SQLite copy `text`.
    unsafe {
        let db = ffi::sqlite3_context_db_handle(ctx);
        let limit = ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_LENGTH, -1);
        match c_int::try_from(text.len()) {
            Ok(n) if n <= limit => ffi::sqlite3_result_text(
                ctx,
                text.as_ptr() as *const c_char,
                n,
                ffi::SQLITE_TRANSIENT(),
            ),
            _ => ffi::sqlite3_result_error_toobig(ctx),
        }
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xc0 == 0x80
}

/// `instr(X, Y)`: 1 + where Y first starts in X (characters for text, bytes for blobs), 0 if
/// nowhere, NULL if either is NULL.
unsafe extern "C" fn instr(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite calls this with the context and the arguments of a call registered
    // by `install` with this many arguments; each is read before the result is set.
    unsafe {
        let argv = args(argv, 2);
        let (x, y) = (argv[0], argv[1]);
        let blobs = ffi::sqlite3_value_type(x) == ffi::SQLITE_BLOB
            && ffi::sqlite3_value_type(y) == ffi::SQLITE_BLOB;
        let (Some(hay), Some(needle)) = (bytes(x, blobs), bytes(y, blobs)) else {
            return;
        };
        ffi::sqlite3_result_int64(ctx, instr_position(hay, needle, !blobs));
    }
}

/// SQLite steps through text a character at a time (position 0, then every byte that does not
/// continue a UTF-8 sequence), and counts its steps.
fn instr_position(hay: &[u8], needle: &[u8], text: bool) -> i64 {
    let found = memchr::memmem::find_iter(hay, needle)
        .find(|&i| !text || i == 0 || !is_continuation(hay[i]));
    match found {
        None => 0,
        Some(i) if !text => i as i64 + 1,
        Some(0) => 1,
        Some(i) => 1 + hay[1..=i].iter().filter(|&&b| !is_continuation(b)).count() as i64,
    }
}

/// `replace(X, Y, Z)`: every non-overlapping Y in X, left to right, replaced by Z.
unsafe extern "C" fn replace(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite calls this with the context and the arguments of a call registered
    // by `install` with this many arguments; each is read before the result is set.
    unsafe {
        let argv = args(argv, 3);
        let Some(x) = bytes(argv[0], false) else {
            return;
        };
        let Some(y) = bytes(argv[1], false) else {
            return;
        };
        // SQLite tests its first byte, C-style: a pattern that starts with NUL is empty too.
        if y.first().is_none_or(|&b| b == 0) {
            return result_text(ctx, x);
        }
        let Some(z) = bytes(argv[2], false) else {
            return;
        };
        result_text(ctx, &replace_all(x, y, z));
    }
}

fn replace_all(x: &[u8], y: &[u8], z: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len());
    let mut last = 0;
    for i in memchr::memmem::find_iter(x, y) {
        out.extend_from_slice(&x[last..i]);
        out.extend_from_slice(z);
        last = i + y.len();
    }
    out.extend_from_slice(&x[last..]);
    out
}

/// `trim(X, Y)`, `ltrim(X, Y)`, `rtrim(X, Y)`: X without the characters of Y at its ends.
unsafe extern "C" fn trim(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite calls this with the context and the arguments of a call registered
    // by `install` with this many arguments; each is read before the result is set.
    unsafe {
        let argv = args(argv, 2);
        let Some(x) = bytes(argv[0], false) else {
            return;
        };
        let Some(set) = bytes(argv[1], false) else {
            return;
        };
        let sides = ffi::sqlite3_user_data(ctx) as usize;
        match trim_bytes(x, set, sides) {
            Some(kept) => result_text(ctx, kept),
            None => ffi::sqlite3_result_error(
                ctx,
                c"trim: the character set holds a sequence longer than UTF-8 allows".as_ptr(),
                -1,
            ),
        }
    }
}

/// The characters of a set as SQLite splits them (a lead byte and the continuation bytes that
/// follow it), each with the place it first appears.
fn characters(set: &[u8]) -> Vec<&[u8]> {
    // SQLite reads the set as a C string: it ends at the first NUL.
    let set = &set[..memchr::memchr(0, set).unwrap_or(set.len())];
    let mut out = Vec::new();
    let mut i = 0;
    while i < set.len() {
        let start = i;
        i += 1;
        if set[start] >= 0xc0 {
            while i < set.len() && is_continuation(set[i]) {
                i += 1;
            }
        }
        out.push(&set[start..i]);
    }
    out
}

/// SQLite takes, at each end, the first character of the set (in the set's order) that is
/// there; a map from character to its place finds it without scanning the set. A set with a
/// "character" longer than UTF-8 allows (a lead byte and many continuation bytes) is compared
/// as SQLite does when it is short, and refused (`None`) when it is long enough to be slow.
fn trim_bytes<'x>(x: &'x [u8], set: &[u8], sides: usize) -> Option<&'x [u8]> {
    let chars = characters(set);
    let mut s = x;
    if chars.iter().any(|c| c.len() > 4) {
        if set.len() > 1024 {
            return None;
        }
        if sides & TRIM_LEFT != 0 {
            while let Some(c) = chars.iter().find(|c| s.starts_with(c)) {
                s = &s[c.len()..];
            }
        }
        if sides & TRIM_RIGHT != 0 {
            while let Some(c) = chars.iter().find(|c| s.ends_with(c)) {
                s = &s[..s.len() - c.len()];
            }
        }
        return Some(s);
    }
    if chars.iter().all(|c| c.len() == 1) {
        // The usual set (spaces, punctuation, ASCII letters): one byte each, a table lookup.
        let mut table = [false; 256];
        chars.iter().for_each(|c| table[usize::from(c[0])] = true);
        let keep = |b: &u8| !table[usize::from(*b)];
        let start = if sides & TRIM_LEFT != 0 {
            s.iter().position(keep).unwrap_or(s.len())
        } else {
            0
        };
        s = &s[start..];
        let end = if sides & TRIM_RIGHT != 0 {
            s.iter().rposition(keep).map_or(0, |i| i + 1)
        } else {
            s.len()
        };
        return Some(&s[..end]);
    }
    let mut place: HashMap<&[u8], usize> = HashMap::new();
    for (i, c) in chars.iter().enumerate() {
        place.entry(c).or_insert(i);
    }
    let first = |candidates: &mut dyn Iterator<Item = &[u8]>| {
        candidates
            .filter_map(|c| place.get(c).map(|&i| (i, c.len())))
            .min()
            .map(|(_, len)| len)
    };
    if sides & TRIM_LEFT != 0 {
        while let Some(len) = first(&mut (1..=4.min(s.len())).map(|n| &s[..n])) {
            s = &s[len..];
        }
    }
    if sides & TRIM_RIGHT != 0 {
        while let Some(len) = first(&mut (1..=4.min(s.len())).map(|n| &s[s.len() - n..])) {
            s = &s[..s.len() - len];
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rusqlite::{types::Value, Connection};

    /// A result as it is, invalid UTF-8 included (a blob cast to text can be any bytes).
    #[derive(Debug, PartialEq)]
    enum Raw {
        Null,
        Integer(i64),
        Real(f64),
        Text(Vec<u8>),
        Blob(Vec<u8>),
    }

    /// What a function gives on a connection with SQLite's built-ins and on one with ours.
    fn both(sql: &str, params: &[Value]) -> (rusqlite::Result<Raw>, rusqlite::Result<Raw>) {
        use rusqlite::types::ValueRef;
        let builtin = Connection::open_in_memory().unwrap();
        let ours = Connection::open_in_memory().unwrap();
        super::install(&ours).unwrap();
        let run = |c: &Connection| {
            c.query_row(sql, rusqlite::params_from_iter(params), |r| {
                Ok(match r.get_ref(0)? {
                    ValueRef::Null => Raw::Null,
                    ValueRef::Integer(i) => Raw::Integer(i),
                    ValueRef::Real(f) => Raw::Real(f),
                    ValueRef::Text(t) => Raw::Text(t.to_vec()),
                    ValueRef::Blob(b) => Raw::Blob(b.to_vec()),
                })
            })
        };
        (run(&builtin), run(&ours))
    }

    fn value() -> impl Strategy<Value = Value> {
        let text = proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("é"),
                Just("ab"),
                Just("\u{1F600}"),
                Just(" ")
            ],
            0..12,
        )
        .prop_map(|parts| Value::Text(parts.concat()));
        prop_oneof![
            4 => text,
            1 => proptest::collection::vec(prop_oneof![Just(0u8), Just(0x61), Just(0xc3), Just(0xa9), Just(0x80)], 0..10).prop_map(Value::Blob),
            1 => (-20i64..20).prop_map(Value::Integer),
            1 => prop_oneof![Just(1.5f64), Just(2.0), Just(-0.25), Just(1e20)].prop_map(Value::Real),
            1 => Just(Value::Null),
        ]
    }

    proptest! {
        #[test]
        fn instr_is_sqlites(x in value(), y in value()) {
            let (a, b) = both("SELECT instr(?1, ?2)", &[x, y]);
            prop_assert_eq!(a.ok(), b.ok());
        }

        #[test]
        fn replace_is_sqlites(x in value(), y in value(), z in value()) {
            let (a, b) = both("SELECT replace(?1, ?2, ?3)", &[x, y, z]);
            prop_assert_eq!(a.ok(), b.ok());
        }

        #[test]
        fn trims_are_sqlites(x in value(), y in value(), f in prop_oneof![Just("trim"), Just("ltrim"), Just("rtrim")]) {
            let (a, b) = both(&format!("SELECT {f}(?1, ?2)"), &[x, y]);
            prop_assert_eq!(a.ok(), b.ok());
        }
    }

    #[test]
    fn invalid_utf8_positions_match_sqlite() {
        for (hay, needle) in [
            (vec![0x80, 0x61, 0x80, 0x61], vec![0x61]),
            (vec![0xc3, 0xa9, 0x61], vec![0xa9, 0x61]),
            (vec![0x61, 0xc3, 0xa9, 0xa9, 0x62], vec![0x62]),
        ] {
            // Invalid UTF-8 text reaches a function only through a cast.
            let (a, b) = both(
                "SELECT instr(CAST(?1 AS TEXT), CAST(?2 AS TEXT))",
                &[Value::Blob(hay), Value::Blob(needle)],
            );
            assert_eq!(a.ok(), b.ok());
        }
    }

    #[test]
    fn long_worst_cases_take_linear_time() {
        let ours = Connection::open_in_memory().unwrap();
        super::install(&ours).unwrap();
        // SQLite's own instr compares ~10^12 bytes here; the replacement finishes at once.
        let n: i64 = ours
            .query_row(
                "SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
        let s: String = ours
            .query_row(
                "SELECT trim(printf('%.*c', 1000000, 'a'), printf('%.*c', 100000, 'b') || 'a')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(s, "");
    }
}
