//! The SQLite backend: one file that holds every account and its cookies.
//!
//! It owns the file's life: where it is created and with which permissions (0700 directory,
//! 0600 file from the first byte), the pragmas that let cron and interactive runs share it
//! (WAL, a busy timeout, `BEGIN IMMEDIATE` for every write), `secure_delete` so removed
//! credentials do not linger, and the migrations (`user_version`). Every change to one
//! account is one transaction.

mod accounts;
mod keys;
mod migrations;
mod pending;
mod refresh;
mod runs;
mod transactions;

use super::StoreError;
use super::backend::{Backend, R};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PRAGMA application_id` of every qrlogin store: "QRLG". It tells qrlogin's own file
/// from another program's SQLite database, which is refused untouched.
const APPLICATION_ID: i64 = 0x5152_4C47;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Sqlite {
    conn: Connection,
    path: PathBuf,
    /// Writes are held (`hold_commits`): each is a savepoint of one open transaction that
    /// `commit_held` commits, instead of a transaction of its own.
    holding: Cell<bool>,
    /// The held writes' transaction is open.
    open: Cell<bool>,
    /// Why SQLite itself undid the held writes (an I/O error or a full disk rolls back the
    /// whole transaction, not just the statement): `commit_held` reports it.
    undone: RefCell<Option<String>>,
}

impl Sqlite {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        create_private(path)?;
        // SQLite reads (and may recover or remove) the WAL as soon as it opens the file:
        // a WAL or shared-memory file open to others is refused before that.
        check_private(path, &["-wal", "-shm"])?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e))?;
        let store = Sqlite {
            conn,
            path: path.to_owned(),
            holding: Cell::new(false),
            open: Cell::new(false),
            undone: RefCell::new(None),
        };
        // configure reads the schema version and application id; an up-to-date store needs
        // no second look (this runs at the start of every command).
        if store.configure()? {
            store.migrate()?;
        }
        Ok(store)
    }

    /// Open the database at `path` only if it exists: what read-only commands use, so a
    /// mistyped `--db` creates neither directories nor an empty database.
    pub fn open_existing(path: &Path) -> Result<Option<Sqlite>, StoreError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => Sqlite::open(path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Open {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Check the file is a qrlogin store and private, set the pragmas; returns whether it
    /// needs migrating.
    fn configure(&self) -> Result<bool, StoreError> {
        let c = &self.conn;
        c.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        // Reading the schema first makes a file that is not SQLite fail here, before any
        // pragma could write to it.
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version > migrations::latest() {
            return Err(StoreError::FutureVersion {
                store: self.path.display().to_string(),
                found: version,
                known: migrations::latest(),
            });
        }
        // Before any pragma that writes: another program's database is left untouched.
        let app_id: i64 = c
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let ours = app_id == APPLICATION_ID
            || (app_id == 0 && version == 0 && tables == 0)
            || (app_id == 0 && version > 0 && self.has_qrlogin_tables()?);
        if !ours {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
                what: if app_id != 0 {
                    format!("application_id {app_id:#x}")
                } else {
                    format!("schema version {version}, {tables} objects, no qrlogin tables")
                },
            });
        }
        // Only now, with the file known to be a qrlogin store (or new): is it private?
        check_private(&self.path, &[""])?;
        // WAL lets readers and one writer work at once. Where it cannot be turned on (a
        // read-only file), SQLite keeps the old mode and reads still work.
        let _mode: Result<String, _> = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0));
        // Temporary files (a savepoint's journal of the pages it changed: every held write
        // of a refresh) in memory: they would hold copies of cookie rows outside the 0600
        // file, and writing them cost a refresh a system call per page.
        c.execute_batch(
            "PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(|e| self.err(e))?;
        // Plans that do not depend on bound values. Without it, a statement whose planning
        // looked at a parameter's value (the cookies of an account, `ORDER BY rowid`) is
        // compiled again every time it is used: rusqlite clears a cached statement's
        // bindings, and that expires it. That was 4 % of a refresh's CPU; qrlogin keeps
        // no statistics whose samples a bound value could pick from anyway.
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(|e| self.err(e))?;
        Ok(version < migrations::latest() || app_id != APPLICATION_ID)
    }

    /// Whether the file has the tables every qrlogin schema has: how a store written
    /// before `application_id` was set is recognised.
    fn has_qrlogin_tables(&self) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name IN ('accounts', 'cookies')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 2)
    }

    /// Apply every migration past `user_version` in one transaction; a second process
    /// running this at the same time waits, then finds nothing to do.
    fn migrate(&self) -> Result<(), StoreError> {
        let app_id: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if self.schema_version()? >= migrations::latest() && app_id == APPLICATION_ID {
            return Ok(());
        }
        self.write(|tx| {
            // Read again under the write lock: another process may have just migrated.
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for m in migrations::MIGRATIONS.iter().skip(current.max(0) as usize) {
                tx.execute_batch(m)?;
            }
            tx.execute_batch(&format!(
                "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
                migrations::latest()
            ))?;
            Ok(())
        })
    }

    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }
}

impl Backend for Sqlite {
    fn hold_commits(&self) -> bool {
        self.holding.set(true);
        true
    }

    fn commit_held(&self) -> Result<(), String> {
        self.commit_held_writes()
    }

    /// Move everything the WAL holds into the main file and empty the WAL, so that data
    /// just deleted (and wiped by `secure_delete`) leaves no copy behind in the WAL.
    /// Another process reading the store can hold the checkpoint off: it is retried for
    /// about three seconds (not the 30 s a writer waits), and `Ok(false)` says it could
    /// not finish, so the caller can tell the user instead of claiming the data is gone.
    fn checkpoint(&self) -> R<bool> {
        if self.open.get() {
            // Inside the held writes' transaction SQLite refuses to checkpoint: "not yet".
            return Ok(false);
        }
        let short = Duration::from_millis(250);
        self.conn.busy_timeout(short).map_err(|e| self.err(e))?;
        let mut done = false;
        for _ in 0..6 {
            let busy: i64 = match self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            {
                Ok(b) => b,
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => 1,
                Err(e) => {
                    let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
                    return Err(self.err(e));
                }
            };
            if busy == 0 {
                done = true;
                break;
            }
            std::thread::sleep(short);
        }
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err(e))?;
        Ok(done)
    }

    /// `PRAGMA integrity_check`: "ok", or the first problem found.
    fn integrity_check(&self) -> R<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn schema_version(&self) -> R<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::NotADatabase { path }
        }
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::DiskFull) => StoreError::Full { path },
        Some(ErrorCode::SystemIoFailure) => StoreError::Io { path },
        _ => StoreError::Sqlite { path, source: e },
    }
}

/// Refuse a store that others could read or write: the database, its `-wal` and its
/// `-shm` must belong to this user and have no group or other permission bits (the WAL
/// holds cookie values too).
fn check_private(path: &Path, suffixes: &[&str]) -> Result<(), StoreError> {
    let unsafe_ = |why: String| StoreError::Unsafe {
        path: path.to_owned(),
        why,
    };
    let files =
        files(path, suffixes).map_err(|(file, e)| unsafe_(format!("{}: {e}", file.display())))?;
    for f in files {
        if !f.mine {
            return Err(unsafe_(format!(
                "{} belongs to another user (uid {}): a store holds login cookies and must be your own",
                f.path.display(),
                f.uid
            )));
        }
        if f.open_to_others() {
            return Err(unsafe_(format!(
                "{} is open to others (mode {:o}) and holds login cookies (fix: chmod 600 {})",
                f.path.display(),
                f.mode,
                crate::escape::shell_word(&f.path.to_string_lossy())
            )));
        }
    }
    Ok(())
}

/// The files of a store as they are on disk: the database, its WAL and its shared memory
/// (all three hold cookie values). The store refuses to open when one is not private;
/// `doctor` reports each one.
#[derive(Debug, Clone)]
pub struct StoreFile {
    pub path: PathBuf,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    /// Owned by the user running qrlogin.
    pub mine: bool,
}

impl StoreFile {
    pub fn open_to_others(&self) -> bool {
        self.mode & 0o077 != 0
    }
}

/// The database at `path` and its `-wal`/`-shm` companions (`suffixes` picks which) that
/// exist; a file that cannot be examined is returned as the error.
pub fn files(path: &Path, suffixes: &[&str]) -> Result<Vec<StoreFile>, (PathBuf, std::io::Error)> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut out = Vec::new();
    for suffix in suffixes {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        match std::fs::metadata(&file) {
            Ok(m) => out.push(StoreFile {
                mode: m.mode() & 0o777,
                uid: m.uid(),
                mine: m.uid() == me,
                path: file,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err((file, e)),
        }
    }
    Ok(out)
}

/// The suffixes of every file a store consists of.
pub const ALL_FILES: &[&str] = &["", "-wal", "-shm"];

/// Create the directory (0700) and the empty database file (0600) before SQLite touches
/// them, so the file is never readable by anyone else, not even for an instant. SQLite
/// gives its -wal and -shm files the main file's permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::fs::{DirBuilder, OpenOptions};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // `a/missing/../x.db`: POSIX resolves `..` after a missing directory to nothing,
        // and creating `missing` on the way would leave a stray directory behind.
        if !dir.exists()
            && dir
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "its directory does not exist (and is not created through `..`)",
            )));
        }
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // A dangling symlink also answers "exists": SQLite would create its target with
        // the umask's mode, so it is refused here.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::metadata(path) {
            Err(m) if m.kind() == std::io::ErrorKind::NotFound => Err(StoreError::Unsafe {
                path: path.to_owned(),
                why: format!(
                    "it is a symbolic link to a missing file ({})",
                    std::fs::read_link(path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default()
                ),
            }),
            _ => Ok(()),
        },
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let s = Sqlite::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), migrations::latest());
        drop(s);
        let s = Sqlite::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), migrations::latest());
        s.migrate().unwrap();
    }

    #[test]
    fn creates_private_directory_and_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/a.db");
        Sqlite::open(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn garbage_and_future_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, b"this is not sqlite at all, not even close.......").unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Sqlite::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);

        let path = dir.path().join("future.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA user_version = 999; CREATE TABLE x(y);")
            .unwrap();
        drop(c);
        let err = Sqlite::open(&path).err().unwrap();
        assert!(
            matches!(err, StoreError::FutureVersion { found: 999, .. }),
            "{err}"
        );
    }
}
