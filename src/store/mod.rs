//! The account store: every account, its cookies and pending logins, in SQLite (one file,
//! the default) or PostgreSQL (one database many hosts share).
//!
//! `Store` is the one interface commands and `refresh` use, and it is the same on both
//! backends: it seals and opens secrets (`sealed`), plans names (`model::plan_name`) and
//! shapes errors, and hands rows to a `backend::Backend`, which owns its SQL and its
//! transactions. Every change to one account is one transaction on either backend.

mod accounts;
mod backend;
mod changes;
mod copy;
mod error;
mod location;
mod model;
mod pending;
mod postgres;
mod sealed;
mod sqlite;

pub use copy::Copied;
pub use error::{StoreError, Undone};
pub use location::{Location, PgUrl};
pub use model::{
    Account, AccountSummary, Claimed, KeyUsage, Lease, NewAccount, PendingLogin, PendingSummary,
    Planned, Recorded, RefreshRecord, Saved, SavedAs, Status,
};
pub use postgres::Probe;
pub use sealed::KeyMaker;
pub use sqlite::{ALL_FILES, StoreFile, files};

use backend::Backend;

pub struct Store {
    db: Box<dyn Backend>,
    location: Location,
    /// The keys that seal and open stored secrets (`attach_keys`); empty for commands
    /// that read no value, or until `make_key` makes the first key.
    keys: std::cell::OnceCell<crate::vault::Keyring>,
    /// Makes the first key when the first secret is written (`make_key_on_first_write`),
    /// or finds it when a reader meets a sealed value it had no key for
    /// (`load_key_when_sealed`).
    make_key: Option<sealed::KeyMaker>,
}

impl Store {
    /// Open the store (a SQLite file is created if needed) and bring its schema up to date.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let db: Box<dyn Backend> = match location {
            Location::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            Location::Postgres(url) => Box::new(postgres::Postgres::open(url)?),
        };
        Ok(Store::over(db, location))
    }

    /// Open the store only if it exists: what read-only commands use, so a mistyped `--db`
    /// creates neither directories nor an empty database. A PostgreSQL database always
    /// exists (qrlogin never creates one); its tables are made on first use.
    pub fn open_existing(location: &Location) -> Result<Option<Store>, StoreError> {
        Ok(match location {
            Location::Sqlite(path) => {
                sqlite::Sqlite::open_existing(path)?.map(|db| Store::over(Box::new(db), location))
            }
            Location::Postgres(_) => Some(Store::open(location)?),
        })
    }

    fn over(db: Box<dyn Backend>, location: &Location) -> Store {
        Store {
            db,
            location: location.clone(),
            keys: std::cell::OnceCell::new(),
            make_key: None,
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Make sure data just removed leaves no copy behind (SQLite's WAL emptied). Another
    /// process reading the store can hold that off for a while: `Ok(false)` says it could
    /// not finish, so the caller can tell the user instead of claiming the data is gone.
    pub fn checkpoint(&self) -> Result<bool, StoreError> {
        self.db.checkpoint()
    }

    /// From now on, hold this store's writes in one open transaction (each write a
    /// savepoint of it, so one that fails undoes only itself) until `commit_held`: a
    /// refresh's store thread commits the results that reach it together at once instead
    /// of one commit, with its WAL write, per account. `false`: the backend commits each
    /// write by itself anyway (PostgreSQL, where a commit is the server's work).
    pub fn hold_commits(&self) -> bool {
        self.db.hold_commits()
    }

    /// Commit the writes held so far; `Err`: they were all undone, and each of their
    /// callers must be told.
    pub fn commit_held(&self) -> Result<(), Undone> {
        self.db.commit_held().map_err(|why| Undone {
            store: self.location.to_string(),
            why,
        })
    }

    /// "ok", or the first problem found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.db.integrity_check()
    }

    /// The PostgreSQL server as `doctor` shows it; `None` for SQLite.
    pub fn probe(&self) -> Result<Option<Probe>, StoreError> {
        self.db.probe()
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.db.schema_version()
    }
}
