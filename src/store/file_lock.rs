//! One gateway process per SQLite file.
//!
//! Each gateway trusts its own key cache, and on SQLite nothing tells one process about another's
//! changes: two gateways on one file would each keep serving a key the other deactivated. So the
//! gateway holds an exclusive `flock` on the database file for as long as it serves it, and a
//! second one refuses to start.
//!
//! `flock` locks belong to an open file description and are taken on the inode, so every name for
//! the file (a symbolic or hard link, a relative path, `./x/../x.db`) conflicts, and they are
//! independent of SQLite's own POSIX (`fcntl`) locks on Linux. They go away with the process, so a
//! gateway that was killed leaves nothing to clean up.
//!
//! The descriptor is never closed while this process may have SQLite connections on the file:
//! closing *any* descriptor of a file drops *every* POSIX lock the process holds on it, SQLite's
//! included. Hence the order in [`super::Store::connect`] (lock, then open the pools) and in
//! [`super::Store::close`] (close the pools, then [`DatabaseLock::release`]); anywhere else the
//! descriptor is left open until the process ends.

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::Mutex,
};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the SQLite database {path} is already served by another hoop gateway: SQLite serves \
         one gateway process at a time (each would keep serving keys the other revoked); stop \
         the other one, or use PostgreSQL (DATABASE_URL=postgres://…) to run several replicas"
    )]
    InUse { path: PathBuf },
    #[error("cannot open the SQLite database {path} to lock it: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock the SQLite database {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "SQLite opened another file than {path}, the one the gateway locked: give DATABASE_URL as \
         a plain sqlite:// path"
    )]
    NotTheLockedFile { path: PathBuf },
}

/// The exclusive lock on the gateway's SQLite file, held from before the first connection until
/// after the last one closed.
#[derive(Debug)]
pub struct DatabaseLock {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DatabaseLock {
    /// Opens `path` (creating it as SQLite would, so the lock exists before SQLite does) and
    /// takes the lock without waiting.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            // Never: it is the database.
            .truncate(false)
            .mode(0o644)
            .open(path)
            .or_else(|e| match e.kind() {
                // A database the gateway may only read can still be locked.
                std::io::ErrorKind::PermissionDenied => File::open(path),
                _ => Err(e),
            })
            .map_err(|source| LockError::Open {
                path: path.to_owned(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                path: path.to_owned(),
                file: Mutex::new(Some(file)),
            }),
            Err(e) => {
                // Not closed: if this process already serves the file (a program that builds
                // the gateway twice, as the tests can), closing a descriptor of it would drop
                // SQLite's locks there. One descriptor per refused start-up, which then ends.
                std::mem::forget(file);
                Err(match e {
                    std::fs::TryLockError::WouldBlock => LockError::InUse {
                        path: path.to_owned(),
                    },
                    std::fs::TryLockError::Error(source) => LockError::Lock {
                        path: path.to_owned(),
                        source,
                    },
                })
            }
        }
    }

    /// Whether `opened` (the path SQLite reports for its main database) is the locked file: the
    /// URL may spell a file SQLite reads differently (a `file:` URI, say), and a lock on another
    /// file would protect nothing.
    pub fn check_is(&self, opened: &Path) -> Result<(), LockError> {
        let not_it = || LockError::NotTheLockedFile {
            path: self.path.clone(),
        };
        let guard = self.file.lock().map_err(|_| not_it())?;
        let locked = guard
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .ok_or_else(not_it)?;
        let opened = std::fs::metadata(opened).map_err(|_| not_it())?;
        if FileId::of(&locked) == FileId::of(&opened) {
            Ok(())
        } else {
            Err(not_it())
        }
    }

    /// Closes the descriptor, which ends the lock. Only once every SQLite connection of this
    /// store is closed (see the module comment).
    pub fn release(&self) {
        if let Ok(mut file) = self.file.lock() {
            file.take();
        }
    }
}

/// A store dropped without [`super::Store::close`] (a start-up that failed half-way, say) may
/// still have connections closing in the background: the descriptor is left open, so the lock
/// lasts until the process ends rather than SQLite's locks ending early.
impl Drop for DatabaseLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.get_mut().ok().and_then(Option::take) {
            std::mem::forget(file);
        }
    }
}

/// A file as the kernel knows it (device and inode), whatever path reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}
