//! Refresh results into the store: `Store::record_refreshes` seals and writes only what a
//! renewal changed of an account's stored cookies (`CookieChanges`), since a renewal
//! changes a few cookies of many.

use super::backend::ToRecord;
use super::model::last_of_each_key;
use super::model::{Account, CookieChanges, CookieKey, Recorded, RefreshRecord, RowKey};
use super::sealed::seal_cookies;
use super::{Store, StoreError};
use crate::cookies;

impl Store {
    /// Store a refresh result of `a` (as the refresh read it) and release the lease, in
    /// one transaction. Nothing is written when this run no longer holds the lease, or when
    /// the account is no longer at the revision the refresh read: a newer write is never
    /// overwritten.
    pub fn record_refresh(
        &self,
        a: &Account,
        owner: &str,
        rec: &RefreshRecord,
    ) -> Result<Recorded, StoreError> {
        let mut answers = self.record_refreshes(&[(a, owner, rec)]);
        answers.pop().unwrap_or_else(|| Err(self.unanswered()))
    }

    /// `record_refresh` for many results, an answer each in order: the backend may write
    /// them in one transaction (each account's result still whole or not at all). An
    /// answer `StoreError::RowBusy` wrote nothing and may be tried again.
    pub fn record_refreshes(
        &self,
        batch: &[(&Account, &str, &RefreshRecord)],
    ) -> Vec<Result<Recorded, StoreError>> {
        let mut answers: Vec<Option<Result<Recorded, StoreError>>> =
            Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for &(a, owner, rec) in batch {
            match self.changes(a, rec) {
                Ok(cookies) => {
                    answers.push(None);
                    rows.push(ToRecord {
                        id: a.id,
                        owner,
                        rec,
                        revision: a.revision,
                        cookies,
                    });
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let mut written = self.db.record_refreshes(&rows).into_iter();
        answers
            .into_iter()
            .map(|a| match a {
                Some(failed) => failed,
                None => written.next().unwrap_or_else(|| Err(self.unanswered())),
            })
            .collect()
    }

    /// A result the backend gave no answer for. Never: a backend answers each result
    /// (`Leases::record_refreshes`); this keeps a broken one from passing as stored.
    fn unanswered(&self) -> StoreError {
        StoreError::Undone(super::Undone {
            store: self.location.to_string(),
            why: "the database gave no answer for it".into(),
        })
    }

    /// What renewal changed of `a`'s stored cookies, sealed, with the new long-login
    /// expiry; `None` when renewal did not succeed. Only that is written: the rest of the
    /// stored rows hold the same values already (the revision check makes sure nothing
    /// else wrote them since `a` was read).
    fn changes(
        &self,
        a: &Account,
        rec: &RefreshRecord,
    ) -> Result<Option<(CookieChanges, Option<i64>)>, StoreError> {
        let Some(cookies) = &rec.cookies else {
            return Ok(None);
        };
        let (write, remove) = changed_cookies(&a.cookies, cookies);
        let changes = CookieChanges {
            write: seal_cookies(self.sealing_keys()?, &a.unb, write),
            remove,
        };
        Ok(Some((changes, cookies::long_login_expiry(cookies))))
    }
}

/// What storing the cookie set `new` over the stored `old` writes: the cookies of `new`
/// that are not stored as they are (new, or with another value or attribute), in `new`'s
/// order, and the keys of stored cookies gone from `new`. Of cookies with one key, the
/// last in `new` is the one kept, as a write of the whole set keeps it.
pub(super) fn changed_cookies<'a>(
    old: &[cookies::Cookie],
    new: &'a [cookies::Cookie],
) -> (Vec<&'a cookies::Cookie>, Vec<CookieKey>) {
    use std::collections::{HashMap, HashSet};
    let stored: HashMap<_, &cookies::Cookie> = old.iter().map(|c| (c.row_key(), c)).collect();
    let kept = last_of_each_key(new);
    let kept_keys: HashSet<_> = kept.iter().map(|c| c.row_key()).collect();
    let write = kept
        .into_iter()
        .filter(|c| stored.get(&c.row_key()).is_none_or(|o| !same_cookie(o, c)))
        .collect();
    let remove = old
        .iter()
        .filter(|c| !kept_keys.contains(&c.row_key()))
        .map(|c| CookieKey {
            name: c.name.clone(),
            domain: c.domain.clone(),
            host_only: c.host_only,
            path: c.path.clone(),
        })
        .collect();
    (write, remove)
}

fn same_cookie(a: &cookies::Cookie, b: &cookies::Cookie) -> bool {
    a.row_key() == b.row_key()
        && a.value.expose() == b.value.expose()
        && (a.expires, a.secure, a.http_only, a.same_site)
            == (b.expires, b.secure, b.http_only, b.same_site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::Cookie;
    use crate::store::Store;
    use crate::store::model::{NewAccount, RefreshRecord, Status};

    #[test]
    fn a_renewal_writes_only_what_changed_and_keeps_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let cookie = |n: &str, v: &str| Cookie::for_domain(n, v, ".goofish.com");
        let new = NewAccount::from_cookies(
            vec![
                cookie("unb", "1"),
                cookie("cookie2", "old"),
                cookie("t", "same"),
                cookie("sgcookie", "dropped"),
            ],
            None,
            Status::Unknown,
        );
        let (a, _) = s.save(&new, 0).unwrap();
        let before = s.db.cookie_rows(a.id).unwrap();
        assert!(s.try_lease(a.id, "run", 100, 0).unwrap().taken());
        let mut longer = cookie("t", "same");
        longer.expires = Some(2_000_000_000);
        let rec = RefreshRecord {
            status: Status::Ok,
            checked_at: 60,
            refreshed: true,
            consecutive_failures: 0,
            next_attempt_at: None,
            cookies: Some(vec![
                cookie("xlly_s", "new"),
                cookie("unb", "1"),
                cookie("cookie2", "first"),
                cookie("cookie2", "renewed"),
                longer,
            ]),
            long_login_refused: None,
        };
        assert!(s.record_refresh(&a, "run", &rec).unwrap().stored());
        let after = s.get("1").unwrap();
        let got: Vec<(&str, &str, Option<i64>)> = after
            .cookies
            .iter()
            .map(|c| (c.name.as_str(), c.value.expose(), c.expires))
            .collect();
        // Changed cookies stay in their place, new ones come last, dropped ones go.
        assert_eq!(
            got,
            [
                ("unb", "1", None),
                ("cookie2", "renewed", None),
                ("t", "same", Some(2_000_000_000)),
                ("xlly_s", "new", None),
            ]
        );
        // What did not change was not rewritten: the same ciphertext, not a new seal.
        let rows = s.db.cookie_rows(a.id).unwrap();
        assert_eq!(rows[0], before[0]);
        assert_ne!(rows[1].value, before[1].value);
    }

    #[test]
    fn changed_cookies_are_the_new_the_different_and_the_gone() {
        let cookie = |n: &str, v: &str, d: &str| Cookie::for_domain(n, v, d);
        let old = vec![
            cookie("a", "1", ".goofish.com"),
            cookie("b", "2", ".goofish.com"),
            cookie("c", "3", ".goofish.com"),
        ];
        let mut secure_b = cookie("b", "2", ".goofish.com");
        secure_b.secure = true;
        let new = vec![
            cookie("a", "1", ".goofish.com"),
            secure_b,
            // Same name, another domain: another row.
            cookie("c", "3", ".taobao.com"),
        ];
        let (write, remove) = changed_cookies(&old, &new);
        let written: Vec<(&str, &str)> = write
            .iter()
            .map(|c| (c.name.as_str(), c.domain.as_str()))
            .collect();
        assert_eq!(written, [("b", "goofish.com"), ("c", "taobao.com")]);
        assert_eq!(remove.len(), 1);
        assert_eq!(
            (remove[0].name.as_str(), remove[0].domain.as_str()),
            ("c", "goofish.com")
        );
        // Nothing changed: nothing to write.
        let (write, remove) = changed_cookies(&old, &old);
        assert!(write.is_empty() && remove.is_empty());
    }
}
