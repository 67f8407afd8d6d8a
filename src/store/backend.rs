//! The interface between `Store` and a backend (SQLite, PostgreSQL): rows in, rows out.
//!
//! A backend owns its SQL and its transactions and nothing else: secrets reach it sealed
//! (`CookieRow`, `PendingRow`) and leave it sealed, names are planned by `plan_name`, and
//! every error it returns is a `StoreError`. The five traits follow the store's families,
//! so each backend implements each in a file of its own.

use super::StoreError;
use super::model::{
    Account, AccountSummary, Claimed, CookieChanges, CookieRow, KeyUsage, Lease, NewAccount,
    PendingRow, PendingSummary, Planned, Recorded, RefreshRecord, SavedAs,
};
use std::collections::HashMap;

pub(crate) type R<T> = Result<T, StoreError>;

/// What `Keys::rewrite_cookies` does to an account's cookies: (unb, rows) → new rows.
pub(crate) type Rewrite<'a> = &'a mut dyn FnMut(&str, Vec<CookieRow>) -> R<Vec<CookieRow>>;

/// One account for `Accounts::save_all`: its cookies sealed, its long-login expiry read.
pub(crate) struct ToSave<'a> {
    pub new: &'a NewAccount,
    pub cookies: Vec<CookieRow>,
    pub long_login_until: Option<i64>,
}

/// One refresh result for `Leases::record_refreshes`: what renewal changed of the stored
/// cookies (sealed) and the new long-login expiry, when renewal succeeded.
pub(crate) struct ToRecord<'a> {
    pub id: i64,
    pub owner: &'a str,
    pub rec: &'a RefreshRecord,
    /// The account's revision as the refresh read it.
    pub revision: i64,
    pub cookies: Option<(CookieChanges, Option<i64>)>,
}

/// A whole backend: what `Store` holds.
pub(crate) trait Backend: Accounts + Leases + Runs + Pending + Keys + Send {
    fn schema_version(&self) -> R<i64>;
    /// "ok", or the first problem found.
    fn integrity_check(&self) -> R<String>;
    /// Make sure data just removed leaves no copy behind (SQLite's WAL); `Ok(false)`:
    /// another process held that off.
    fn checkpoint(&self) -> R<bool>;
    /// From now on hold writes in one open transaction, each a savepoint of it, until
    /// `commit_held` (see `Store::hold_commits`); `false`: this backend commits each write
    /// by itself anyway.
    fn hold_commits(&self) -> bool {
        false
    }
    /// Commit the writes held so far; `Err(why)`: they were all undone.
    fn commit_held(&self) -> Result<(), String> {
        Ok(())
    }
    /// After a bulk load (`copy`): bring the planner's statistics up to date, where the
    /// backend has a planner that needs them before its own schedule would.
    fn after_bulk_load(&self) -> R<()> {
        Ok(())
    }
    /// The server, for `doctor`; `None` for an embedded store.
    fn probe(&self) -> R<Option<super::Probe>> {
        Ok(None)
    }
}

pub(crate) trait Accounts {
    fn list(&self, each: &mut dyn FnMut(AccountSummary) -> R<()>) -> R<()>;
    fn names(&self) -> R<Vec<String>>;
    /// Every account without cookies, by name.
    fn all_brief(&self) -> R<Vec<Account>>;
    /// Every account as a refresh plans it, by name.
    fn planned(&self) -> R<Vec<Planned>>;
    /// The account whose name (first) or unb is `query`, without cookies.
    fn find_brief(&self, query: &str) -> R<Option<Account>>;
    fn by_id_brief(&self, id: i64) -> R<Option<Account>>;
    fn cookie_rows(&self, account_id: i64) -> R<Vec<CookieRow>>;
    /// The account with this id and its cookie rows: what a refresh reads once it holds
    /// the lease. A backend with round trips to pay sends both queries at once.
    fn by_id_with_rows(&self, id: i64) -> R<Option<(Account, Vec<CookieRow>)>> {
        match self.by_id_brief(id)? {
            Some(a) => {
                let rows = self.cookie_rows(id)?;
                Ok(Some((a, rows)))
            }
            None => Ok(None),
        }
    }
    fn owner_of_name(&self, name: &str) -> R<Option<String>>;
    /// Logins or imports in one transaction (see `Store::save`): each account whole, in
    /// order. An account whose name cannot be given gets its error and nothing of it is
    /// written; any other error writes nothing at all.
    fn save_all(&self, batch: &[ToSave<'_>], now: i64) -> R<Vec<R<SavedAs>>>;
    fn delete(&self, account_id: i64) -> R<()>;
    /// `copy`: accounts as they are in another store (their history, not a new login),
    /// with their cookies, all in one transaction; with `replace`, an account with the same
    /// unb goes first.
    fn insert_copies(&self, batch: &[(&Account, Vec<CookieRow>)], replace: bool) -> R<()>;
    /// Every account's unb and name: what `copy` checks for clashes in one read.
    fn identities(&self) -> R<Vec<(String, String)>>;
    /// How many cookies each account (by unb) has: what `copy` checks afterwards.
    fn cookie_counts(&self) -> R<HashMap<String, usize>>;
}

pub(crate) trait Leases {
    /// Whether `record_refreshes` wants each renewed cookie set whole
    /// (`CookieChanges::whole`): a backend that stores an account's cookies as one value
    /// cannot write only what changed without reading it first.
    fn writes_whole_sets(&self) -> bool {
        false
    }
    /// Lease the account unless another run holds an unexpired lease; if one does, say
    /// whose, in the same round trip: in a fleet most refused leases are then skipped.
    /// Does not wait for a row another writer has locked: that is `Lease::Busy` (on
    /// PostgreSQL; SQLite has one writer at a time and waits its turn, as for any write).
    fn try_lease(&self, id: i64, owner: &str, until: i64, now: i64) -> R<Lease>;
    /// Read each of `ids` brief and lease each that `wanted` accepts and is free, expired
    /// or already `owner`'s, passing over rows another process is leasing at this instant;
    /// return the leased accounts with their cookie rows: a refresh's batch of work in one
    /// call instead of several per account. `wanted` keeps a fleet's runs from leasing and
    /// reading what another has just checked.
    fn claim(
        &self,
        ids: &[i64],
        owner: &str,
        until: i64,
        now: i64,
        wanted: &dyn Fn(&Account) -> bool,
    ) -> R<Claimed<(Account, Vec<CookieRow>)>>;
    /// `false` when `old_owner` no longer holds it, or when another writer has the row
    /// locked (not waited for, as in `try_lease`).
    fn steal_lease(&self, id: i64, old_owner: &str, owner: &str, until: i64) -> R<bool>;
    fn lease_owner(&self, id: i64) -> R<Option<String>>;
    /// `false` only when the lease is still `owner`'s because another writer has the row
    /// locked (not waited for, as in `try_lease`).
    fn release(&self, id: i64, owner: &str) -> R<bool>;
    /// Store refresh results, an answer for each in order. Each account's result is
    /// written whole or not at all, and only while `owner` holds its lease and the account
    /// is at the revision the refresh read (`Store::record_refresh`). A backend with round
    /// trips to pay writes them all in one transaction, and when that fails, each again by
    /// itself: one account whose write fails never costs the others theirs. A result whose
    /// row another writer holds past a short wait is answered `StoreError::RowBusy`,
    /// unwritten: the caller tries it again later rather than wait here.
    fn record_refreshes(&self, batch: &[ToRecord<'_>]) -> Vec<R<Recorded>>;
}

/// The refresh runs under way, so that overlapping runs make one round (see
/// `refresh::checked_this_round`). A run's registration lasts until a time it keeps
/// pushing on, like a lease, so a killed run's ends by itself.
pub(crate) trait Runs {
    /// Register `owner` as under way until `until`, forget registrations that ran out by
    /// `now`, and return the other runs under way.
    fn begin_run(&self, owner: &str, until: i64, now: i64) -> R<Vec<String>>;
    fn extend_run(&self, owner: &str, until: i64) -> R<()>;
    fn end_run(&self, owner: &str) -> R<()>;
}

pub(crate) trait Pending {
    fn save_pending(&self, row: &PendingRow) -> R<()>;
    fn purge_pending(&self, now: i64) -> R<usize>;
    fn delete_pending(&self, id: &str) -> R<()>;
    fn list_pending(&self) -> R<Vec<PendingSummary>>;
    fn pending_row(&self, id: &str) -> R<Option<PendingRow>>;
    /// Pending logins in plain text or (with `retired`) under a key other than `current`.
    fn pending_to_reseal(&self, current: &str, retired: bool) -> R<Vec<String>>;
}

pub(crate) trait Keys {
    /// Whether any value is sealed (`sealed`) or in plain text (`!sealed`).
    fn has_values(&self, sealed: bool) -> R<bool>;
    /// The key ids in use (from the index alone: this runs before every write).
    fn key_ids(&self) -> R<Vec<String>>;
    /// The name of an account with a value under `key_id`.
    fn key_user(&self, key_id: &str) -> R<Option<String>>;
    fn key_usage(&self) -> R<Vec<KeyUsage>>;
    /// Accounts with a value in plain text or (with `retired`) under another key.
    fn accounts_to_reseal(&self, current: &str, retired: bool) -> R<Vec<i64>>;
    /// Replace an account's cookies with `f(unb, its cookies)`, in one transaction.
    fn rewrite_cookies(&self, account_id: i64, f: Rewrite<'_>) -> R<()>;
    /// One account with a sealed value (doctor proves the key on it).
    fn first_sealed_account(&self) -> R<Option<(i64, String)>>;
    fn name_of(&self, account_id: i64) -> R<Option<String>>;
}
