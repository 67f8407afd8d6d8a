//! What `refresh` needs from the store: per-account leases, so overlapping runs never work
//! on one account at once, and recording a refresh result in one transaction.

use super::sealed::replace_cookies;
use super::{Account, Status, Store, StoreError};
use crate::cookies::Cookie;
use rusqlite::params;

/// The outcome of one account's refresh, as stored.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub status: Status,
    pub checked_at: i64,
    /// The cookies were renewed and validated.
    pub refreshed: bool,
    pub consecutive_failures: i64,
    pub next_attempt_at: Option<i64>,
    /// The new full cookie set, only when renewal succeeded.
    pub cookies: Option<Vec<Cookie>>,
    /// Whether the service refused long login this run (`None`: not asked).
    pub long_login_refused: Option<bool>,
}

/// What became of a refresh result handed to [`Store::record_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    /// Another run holds the account's lease now; nothing was written.
    LeaseLost,
    /// A login or an import saved the account after this refresh read it: its newer data
    /// was kept, nothing of the refresh was written, and the lease was released.
    Superseded,
}

impl Recorded {
    pub fn stored(self) -> bool {
        self == Recorded::Stored
    }
}

impl Store {
    /// Take the account's lease until `until` unless another run holds an unexpired one.
    pub fn try_lease(
        &self,
        id: i64,
        owner: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.prepare_cached(
                "UPDATE accounts SET lease_owner = ?2, lease_until = ?3 \
                 WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until IS NULL OR lease_until <= ?4)",
            )?
            .execute(params![id, owner, until, now])?;
            Ok(n == 1)
        })
    }

    /// Take over a lease from `old_owner` (a run that is gone), if it still holds it.
    pub fn steal_lease(
        &self,
        id: i64,
        old_owner: &str,
        owner: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.prepare_cached(
                "UPDATE accounts SET lease_owner = ?3, lease_until = ?4 WHERE id = ?1 AND lease_owner = ?2",
            )?
            .execute(params![id, old_owner, owner, until])?;
            Ok(n == 1)
        })
    }

    /// Who holds the account's lease, if anyone.
    pub fn lease_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT lease_owner FROM accounts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    pub fn release(&self, id: i64, owner: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE accounts SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
            )?
            .execute(params![id, owner])?;
            Ok(())
        })
    }

    /// Store a refresh result and release the lease, in one transaction. Nothing is
    /// written when this run no longer holds the lease, or when the account is no longer
    /// at `revision` (the one the refresh read): a newer write is never overwritten.
    pub fn record_refresh(
        &self,
        id: i64,
        owner: &str,
        rec: &RefreshRecord,
        revision: i64,
    ) -> Result<Recorded, StoreError> {
        let keys = match rec.cookies {
            Some(_) => Some(self.sealing_keys()?),
            None => None,
        };
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE accounts SET status = ?3, last_checked = ?4, \
                 last_refreshed = CASE WHEN ?5 THEN ?4 ELSE last_refreshed END, \
                 consecutive_failures = ?6, next_attempt_at = ?7, updated_at = ?4, \
                 lease_owner = NULL, lease_until = NULL, revision = revision + 1, \
                 long_login_refused = COALESCE(?9, long_login_refused) \
                 WHERE id = ?1 AND lease_owner = ?2 AND revision = ?8",
                )?
                .execute(params![
                    id,
                    owner,
                    rec.status.as_str(),
                    rec.checked_at,
                    rec.refreshed,
                    rec.consecutive_failures,
                    rec.next_attempt_at,
                    revision,
                    rec.long_login_refused
                ])?;
            if n == 1 {
                if let (Some(cookies), Some(keys)) = (&rec.cookies, keys) {
                    replace_cookies(tx, keys, id, cookies)?;
                }
                return Ok(Recorded::Stored);
            }
            let released = tx
                .prepare_cached(
                    "UPDATE accounts SET lease_owner = NULL, lease_until = NULL \
                 WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(params![id, owner])?;
            Ok(if released == 1 {
                Recorded::Superseded
            } else {
                Recorded::LeaseLost
            })
        })
    }

    /// The account with this id, with its cookies (fresh, for a refresh that just leased it).
    pub fn by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let found = self
            .conn()
            .prepare_cached("SELECT name FROM accounts WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, String>(0)));
        match found {
            // `find` reads the cookies as they are now, after the lease was taken.
            Ok(name) => self.find(&name),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewAccount;

    /// An account with unb 1 and no other cookie, never checked.
    fn one_account() -> NewAccount {
        NewAccount::from_cookies(
            vec![Cookie::for_domain("unb", "1", ".goofish.com")],
            None,
            Status::Unknown,
        )
    }

    #[test]
    fn leases_exclude_other_runs_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let (a, _) = s.save(&one_account(), 0).unwrap();
        assert!(s.try_lease(a.id, "run-a", 100, 0).unwrap());
        assert!(!s.try_lease(a.id, "run-b", 100, 50).unwrap());
        // Run b cannot record while a holds the lease.
        let rec = RefreshRecord {
            status: Status::Ok,
            checked_at: 60,
            refreshed: true,
            consecutive_failures: 0,
            next_attempt_at: None,
            cookies: Some(vec![]),
            long_login_refused: None,
        };
        assert_eq!(
            s.record_refresh(a.id, "run-b", &rec, a.revision).unwrap(),
            Recorded::LeaseLost
        );
        assert_eq!(s.get("1").unwrap().cookies.len(), 1);
        // An expired lease can be taken over.
        assert!(s.try_lease(a.id, "run-b", 300, 100).unwrap());
        assert!(
            s.record_refresh(a.id, "run-b", &rec, a.revision)
                .unwrap()
                .stored()
        );
        let after = s.get("1").unwrap();
        assert_eq!(
            (after.status, after.last_refreshed, after.cookies.len()),
            (Status::Ok, Some(60), 0)
        );
        assert!(s.try_lease(a.id, "run-c", 400, 100).unwrap());
    }

    #[test]
    fn a_save_during_a_refresh_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let new = one_account();
        let (read, _) = s.save(&new, 0).unwrap();
        assert!(s.try_lease(read.id, "run", 100, 0).unwrap());
        // A login lands while the refresh is talking to the server.
        let login = NewAccount {
            cookies: vec![
                Cookie::for_domain("unb", "1", ".goofish.com"),
                Cookie::for_domain("cookie2", "fresh", ".goofish.com"),
            ],
            status: Status::Ok,
            refreshed: true,
            ..new
        };
        s.save(&login, 10).unwrap();
        let rec = RefreshRecord {
            status: Status::Expired,
            checked_at: 20,
            refreshed: false,
            consecutive_failures: 1,
            next_attempt_at: Some(3620),
            cookies: None,
            long_login_refused: None,
        };
        assert_eq!(
            s.record_refresh(read.id, "run", &rec, read.revision)
                .unwrap(),
            Recorded::Superseded
        );
        let after = s.get("1").unwrap();
        assert_eq!((after.status, after.cookies.len()), (Status::Ok, 2));
        assert_eq!(s.lease_owner(read.id).unwrap(), None);
    }
}
