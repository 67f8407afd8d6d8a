//! SQLite's transactions: each write its own `BEGIN IMMEDIATE` transaction, or, while
//! writes are held (`Backend::hold_commits`: a refresh's store thread), a savepoint of one
//! open transaction that `commit_held` commits for all of them at once.
//!
//! Why savepoints: a write that fails must undo only itself, as it would alone; the writes
//! held beside it belong to other accounts. Why the care about `is_autocommit`: on an I/O
//! error or a full disk SQLite rolls the whole transaction back by itself, and then the
//! writes held before the failing one are gone too, which their callers must hear.

use super::Sqlite;
use crate::store::backend::R;
use crate::store::error::{StoreError, with_causes};
use rusqlite::Connection;

impl Sqlite {
    /// Run `f` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up front so
    /// two writers queue on the busy timeout instead of failing with SQLITE_BUSY halfway.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        self.transact(|c| f(c).map_err(|e| self.err(e)))
    }

    /// `write` for a closure that fails in `StoreError`: everything `f` wrote is undone
    /// when it fails. While writes are held, `f` runs in a savepoint of the held
    /// transaction instead, so a failing write undoes only itself.
    pub(super) fn transact<T>(&self, f: impl FnOnce(&Connection) -> R<T>) -> R<T> {
        if !self.holding.get() {
            self.run("BEGIN IMMEDIATE")?;
            return match f(&self.conn) {
                Ok(out) => {
                    if let Err(e) = self.run("COMMIT") {
                        self.roll_back();
                        return Err(e);
                    }
                    Ok(out)
                }
                Err(e) => {
                    self.roll_back();
                    Err(e)
                }
            };
        }
        if !self.open.get() {
            self.run("BEGIN IMMEDIATE")?;
            self.open.set(true);
        }
        self.run("SAVEPOINT one_write")?;
        match f(&self.conn) {
            Ok(out) => {
                self.run("RELEASE one_write")?;
                Ok(out)
            }
            Err(e) => {
                if self.conn.is_autocommit() {
                    // SQLite rolled the whole transaction back: the writes held before
                    // this one are gone too, and their callers must hear it.
                    self.open.set(false);
                    self.undone.replace(Some(with_causes(&e)));
                } else {
                    let _ = self.run("ROLLBACK TO one_write");
                    let _ = self.run("RELEASE one_write");
                }
                Err(e)
            }
        }
    }

    /// One statement without parameters, compiled once per connection (`BEGIN`, `COMMIT`
    /// and savepoints run for every write: compiling them each time showed in profiles).
    fn run(&self, sql: &str) -> R<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Undo the open transaction, if SQLite has not already.
    fn roll_back(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.run("ROLLBACK");
        }
    }

    /// `Backend::commit_held`.
    pub(super) fn commit_held_writes(&self) -> Result<(), String> {
        if let Some(why) = self.undone.take() {
            return Err(why);
        }
        if !self.open.replace(false) {
            return Ok(());
        }
        self.run("COMMIT").map_err(|e| {
            self.roll_back();
            with_causes(&e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Backend;

    fn runs(c: &Connection) -> Vec<String> {
        let mut s = c
            .prepare("SELECT owner FROM refresh_runs ORDER BY owner")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn add(db: &Sqlite, owner: &str) -> R<usize> {
        db.write(|c| {
            c.execute(
                "INSERT INTO refresh_runs (owner, started, until) VALUES (?1, 0, 0)",
                [owner],
            )
        })
    }

    #[test]
    fn held_writes_are_seen_by_others_only_once_committed_and_a_failing_one_undoes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let db = Sqlite::open(&path).unwrap();
        let other = Connection::open(&path).unwrap();
        add(&db, "alone").unwrap();
        assert_eq!(runs(&other), ["alone"], "not held: committed at once");

        assert!(db.hold_commits());
        add(&db, "a").unwrap();
        // The second insert of "b" fails on the primary key: it alone is undone.
        let failing = db.write(|c| {
            c.execute(
                "INSERT INTO refresh_runs (owner, started, until) VALUES ('c', 0, 0)",
                [],
            )?;
            c.execute(
                "INSERT INTO refresh_runs (owner, started, until) VALUES ('alone', 0, 0)",
                [],
            )
        });
        assert!(failing.is_err());
        add(&db, "b").unwrap();
        assert_eq!(runs(&db.conn), ["a", "alone", "b"], "its own writes, held");
        assert_eq!(runs(&other), ["alone"], "others see nothing held");
        db.commit_held().unwrap();
        assert_eq!(runs(&other), ["a", "alone", "b"]);
        // No checkpoint inside the held transaction (SQLite refuses one): "not yet".
        add(&db, "c").unwrap();
        assert!(!db.checkpoint().unwrap());
        db.commit_held().unwrap();
        assert!(db.checkpoint().unwrap());
    }

    #[test]
    fn a_commit_that_fails_undoes_every_held_write_and_the_next_ones_start_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(&dir.path().join("a.db")).unwrap();
        assert!(db.hold_commits());
        add(&db, "a").unwrap();
        // A cookie of no account, its check deferred to the commit: the commit fails.
        db.write(|c| {
            c.execute_batch(
                "PRAGMA defer_foreign_keys = ON; \
                 INSERT INTO cookies (account_id, name, value, domain, host_only, path, \
                 secure, http_only) VALUES (999, 'n', 'v', 'd', 1, '/', 0, 0);",
            )
        })
        .unwrap();
        let why = db.commit_held().unwrap_err();
        assert!(why.contains("FOREIGN KEY"), "{why}");
        assert!(db.conn.is_autocommit(), "rolled back, not left open");
        assert!(
            runs(&db.conn).is_empty(),
            "the write held beside it is gone"
        );
        add(&db, "b").unwrap();
        db.commit_held().unwrap();
        assert_eq!(runs(&db.conn), ["b"]);
    }
}
