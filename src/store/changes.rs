//! Refresh results into the store: `Store::record_refreshes` seals and writes only what a
//! renewal changed of an account's stored cookies (`CookieChanges`), since a renewal
//! changes a few cookies of many.

use super::backend::ToRecord;
use super::model::last_of_each_key;
use super::model::{Account, CookieChanges, CookieKey, CookieRow, Recorded, RefreshRecord, RowKey};
use super::sealed::{row_of, seal_cookie, seal_cookies};
use super::{Store, StoreError};
use crate::cookies;
use crate::vault::Keyring;

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
        let keys = self.sealing_keys()?;
        let whole = self
            .db
            .writes_whole_sets()
            .then(|| sealed_set(keys, a, renewed_set(&a.cookies, cookies)));
        let (write, remove) = match whole {
            // What changed is in the whole set already, sealed once.
            Some(_) => (Vec::new(), Vec::new()),
            None => {
                let (write, remove) = changed_cookies(&a.cookies, cookies);
                (seal_cookies(keys, &a.unb, write), remove)
            }
        };
        let changes = CookieChanges {
            write,
            remove,
            whole,
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

/// The cookie set `new` stored over `old` whole, in the order writing only what changed
/// (`changed_cookies`) leaves it: the stored cookies still in `new` in their places, with
/// `new`'s values, then the cookies `new` adds, in its order. Each with the index in `old`
/// of the stored cookie it replaces (`None`: new).
pub(super) fn renewed_set<'a>(
    old: &[cookies::Cookie],
    new: &'a [cookies::Cookie],
) -> Vec<(&'a cookies::Cookie, Option<usize>)> {
    use std::collections::{HashMap, HashSet};
    let kept = last_of_each_key(new);
    let by_key: HashMap<_, &cookies::Cookie> = kept.iter().map(|c| (c.row_key(), *c)).collect();
    let mut placed = HashSet::with_capacity(kept.len());
    let mut set = Vec::with_capacity(kept.len());
    for (i, o) in old.iter().enumerate() {
        if let Some(c) = by_key.get(&o.row_key()) {
            if placed.insert(o.row_key()) {
                set.push((*c, Some(i)));
            }
        }
    }
    set.extend(
        kept.into_iter()
            .filter(|c| !placed.contains(&c.row_key()))
            .map(|c| (c, None)),
    );
    set
}

/// `set` (a `renewed_set` over `a.cookies`) sealed for storing, as `seal_cookies` does,
/// except that a cookie stored as it is keeps the value `a` read, sealed as it was: no
/// cipher work for what did not change.
fn sealed_set(
    keys: &Keyring,
    a: &Account,
    set: Vec<(&cookies::Cookie, Option<usize>)>,
) -> Vec<CookieRow> {
    // Only beside the cookies they were read with (an account read otherwise has none).
    let kept = a.sealed.len() == a.cookies.len();
    set.into_iter()
        .map(|(c, stored)| {
            let same = stored
                .filter(|&i| kept && same_cookie(&a.cookies[i], c))
                .and_then(|i| a.sealed[i].clone());
            match same {
                Some(s) => row_of(c, Some(s.key_id), s.value),
                None => seal_cookie(keys, &a.unb, c),
            }
        })
        .collect()
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

    fn cookie(name: &str, value: &str) -> Cookie {
        Cookie::for_domain(name, value, ".goofish.com")
    }

    /// A sealed store (in `dir`) holding one account with these cookies (name, value).
    fn store_with(dir: &tempfile::TempDir, cookies: &[(&str, &str)]) -> (Store, Account) {
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let new = NewAccount::from_cookies(
            cookies.iter().map(|(n, v)| cookie(n, v)).collect(),
            None,
            Status::Unknown,
        );
        let (a, _) = s.save(&new, 0).unwrap();
        (s, a)
    }

    #[test]
    fn a_renewal_writes_only_what_changed_and_keeps_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let (s, a) = store_with(
            &dir,
            &[
                ("unb", "1"),
                ("cookie2", "old"),
                ("t", "same"),
                ("sgcookie", "dropped"),
            ],
        );
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
    fn a_whole_set_keeps_the_sealed_values_of_what_did_not_change() {
        let dir = tempfile::tempdir().unwrap();
        let (s, a) = store_with(&dir, &[("unb", "1"), ("cookie2", "old"), ("t", "same")]);
        let stored = s.db.cookie_rows(a.id).unwrap();
        // As a refresh reads it: the sealed values beside the cookies.
        let a = s.by_id(a.id).unwrap().unwrap();
        assert_eq!(a.sealed.len(), 3);
        let renewed = vec![
            cookie("unb", "1"),
            cookie("cookie2", "new"),
            cookie("t", "same"),
        ];
        let keys = s.sealing_keys().unwrap();
        let rows = sealed_set(keys, &a, renewed_set(&a.cookies, &renewed));
        assert_eq!((&rows[0], &rows[2]), (&stored[0], &stored[2]));
        assert_ne!(rows[1].value, stored[1].value);
        // What it wrote opens to the renewed values.
        let opened = crate::store::sealed::open_cookies(Some(keys), &a.unb, rows).unwrap();
        let values: Vec<&str> = opened.iter().map(|c| c.value.expose()).collect();
        assert_eq!(values, ["1", "new", "same"]);
        // Read without them (as `find` reads), every value is sealed anew.
        let brief = s.find("1").unwrap().unwrap();
        assert!(brief.sealed.is_empty());
        let rows = sealed_set(keys, &brief, renewed_set(&brief.cookies, &renewed));
        assert_ne!(rows[0].value, stored[0].value);
    }

    #[test]
    fn a_whole_renewed_set_is_what_writing_only_the_changes_leaves() {
        let old = vec![cookie("a", "1"), cookie("b", "2"), cookie("c", "3")];
        let new = vec![
            cookie("d", "new"),
            cookie("c", "3"),
            cookie("a", "first"),
            cookie("a", "renewed"),
        ];
        // The changes made to the stored order by hand: b gone, a in its place, d last.
        let (write, remove) = changed_cookies(&old, &new);
        let mut by_hand: Vec<&Cookie> = old
            .iter()
            .filter(|o| !remove.iter().any(|k| k.name == o.name))
            .map(|o| {
                write
                    .iter()
                    .find(|w| w.name == o.name)
                    .copied()
                    .unwrap_or(o)
            })
            .collect();
        by_hand.extend(
            write
                .iter()
                .filter(|w| !old.iter().any(|o| o.name == w.name)),
        );
        let whole: Vec<&Cookie> = renewed_set(&old, &new)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let names = |set: &[&Cookie]| -> Vec<(String, String)> {
            set.iter()
                .map(|c| (c.name.clone(), c.value.expose().to_owned()))
                .collect()
        };
        assert_eq!(names(&whole), names(&by_hand));
        assert_eq!(
            names(&whole),
            [("a", "renewed"), ("c", "3"), ("d", "new")].map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert!(renewed_set(&old, &[]).is_empty());
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
