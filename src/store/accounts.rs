//! Accounts and their cookies, as commands see them: reading, saving a login or an
//! import, deleting; and what `refresh` needs (leases, recording a result).

use super::backend::ToSave;
use super::model::{
    Account, AccountSummary, Claimed, CookieRow, Lease, NewAccount, Planned, Saved, SavedAs,
};
use super::sealed::seal_cookies;
use super::{Store, StoreError};
use crate::cookies;

impl Store {
    /// Every account's summary in name order, one at a time, none kept: what `list` shows
    /// of a store of any size in constant memory.
    pub fn list_each(
        &self,
        each: &mut dyn FnMut(AccountSummary) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.db.list(each)
    }

    /// Every account name, for "did you mean" in errors.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        self.db.names()
    }

    /// Every account without its cookies (`cookies` is empty).
    pub fn all_brief(&self) -> Result<Vec<Account>, StoreError> {
        self.db.all_brief()
    }

    /// Every account, by name, as a refresh plans it before it leases the account and
    /// reads it whole.
    pub fn planned(&self) -> Result<Vec<Planned>, StoreError> {
        self.db.planned()
    }

    /// The account with this id without its cookies.
    pub fn brief_by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        self.db.by_id_brief(id)
    }

    /// Every account with its cookies.
    pub fn all(&self) -> Result<Vec<Account>, StoreError> {
        let mut accounts = self.all_brief()?;
        for a in &mut accounts {
            a.cookies = self.cookies_of(a)?;
        }
        Ok(accounts)
    }

    /// The account whose name or unb is `query`, with its cookies.
    pub fn get(&self, query: &str) -> Result<Account, StoreError> {
        match self.find(query)? {
            Some(a) => Ok(a),
            None => Err(StoreError::NotFound {
                query: query.to_owned(),
                known: self.names()?,
            }),
        }
    }

    pub fn find(&self, query: &str) -> Result<Option<Account>, StoreError> {
        self.whole(self.db.find_brief(query)?)
    }

    /// The account with this id, with its cookies as they are now (for a refresh that
    /// just leased it).
    pub fn by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        self.db
            .by_id_with_rows(id)?
            .map(|(a, rows)| self.opened(a, rows))
            .transpose()
    }

    /// `a` with its stored `rows` opened as its cookies, the sealed values kept.
    fn opened(&self, mut a: Account, rows: Vec<CookieRow>) -> Result<Account, StoreError> {
        self.open_keeping_sealed(&mut a, rows)?;
        Ok(a)
    }

    /// Lease each of `ids` that `wanted` accepts (as it is now) and no other run holds
    /// (see `try_lease`), and return the leased accounts with their cookies as they are
    /// now, and the others brief: a refresh's batch of work at once.
    pub fn claim(
        &self,
        ids: &[i64],
        owner: &str,
        until: i64,
        now: i64,
        wanted: &dyn Fn(&Account) -> bool,
    ) -> Result<Claimed<Account>, StoreError> {
        let c = self.db.claim(ids, owner, until, now, wanted)?;
        // One account whose values do not open must not stop the batch, nor the run.
        let mut leased = Vec::with_capacity(c.leased.len());
        let mut unopened = Vec::new();
        for (mut a, rows) in c.leased {
            match self.open_keeping_sealed(&mut a, rows) {
                Ok(()) => leased.push(a),
                Err(e) if e.is_value_unopened() => unopened.push((a, e)),
                Err(e) => return Err(e),
            }
        }
        Ok(Claimed {
            leased,
            passed: c.passed,
            held: c.held,
            unopened,
        })
    }

    fn whole(&self, found: Option<Account>) -> Result<Option<Account>, StoreError> {
        match found {
            Some(mut a) => {
                a.cookies = self.cookies_of(&a)?;
                Ok(Some(a))
            }
            None => Ok(None),
        }
    }

    /// The unb owning `name`, if any: lets add-account warn before a login it could not save.
    pub fn owner_of_name(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.db.owner_of_name(name)
    }

    /// Save a login or an import in one transaction: create the account, or update the
    /// one with the same unb and replace all its cookies. An update keeps the stored name
    /// unless `new.rename`, and keeps the status history of an import (only a login, whose
    /// cookies were just validated, sets the status).
    pub fn save(&self, new: &NewAccount, now: i64) -> Result<(Account, Saved), StoreError> {
        let SavedAs { id, saved, .. } = self.save_one(&self.to_save(new)?, now)?;
        let account = self.by_id(id)?.ok_or_else(|| StoreError::NotFound {
            query: new.unb.clone(),
            known: Vec::new(),
        })?;
        Ok((account, saved))
    }

    /// Save many imports, each as `save` would, but a batch of accounts to a transaction:
    /// an import of thousands is otherwise bound by its commits. `done` gets each batch
    /// back with one result per account, in order, as soon as it is written; its error
    /// stops the import there. Each next batch is read from `batches` and sealed on a
    /// second thread while this one is written: reading the other program's database,
    /// parsing and sealing were half of an import's CPU, and the writes the other half.
    /// When a batch fails as a whole (a store error), its accounts are saved again one at
    /// a time, so the error lands on the account that caused it and the others are kept;
    /// unless the store itself failed (`is_store_wide`: its server went away, its disk is
    /// full), which stops the import there rather than fail every account after it.
    pub fn save_batches<P: Send, E: From<StoreError>>(
        &self,
        batches: impl Iterator<Item = (P, Vec<NewAccount>)> + Send,
        now: i64,
        mut done: impl FnMut(P, &[NewAccount], Vec<Result<SavedAs, StoreError>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let keys = self.sealing_keys()?;
        std::thread::scope(|scope| {
            // A rendezvous: the next batch waits sealed until the writer takes it, so two
            // batches at most are in memory (each of 500 accounts is about 8 MB; a queue
            // of one more took the peak from 40 to 56 MB and saved no time).
            let (ready, readied) = std::sync::mpsc::sync_channel(0);
            let sealer = scope.spawn(move || {
                for (payload, news) in batches {
                    let sealed: Vec<_> = news.iter().map(|new| sealed_parts(keys, new)).collect();
                    if ready.send((payload, news, sealed)).is_err() {
                        break; // the writer stopped
                    }
                }
            });
            for (payload, news, sealed) in readied.iter() {
                let batch: Vec<ToSave<'_>> = news
                    .iter()
                    .zip(sealed)
                    .map(|(new, (cookies, long_login_until))| ToSave {
                        new,
                        cookies,
                        long_login_until,
                    })
                    .collect();
                let saved = match self.db.save_all(&batch, now) {
                    Ok(saved) => saved,
                    Err(e) if batch.len() > 1 && !e.is_store_wide() => {
                        let mut saved = Vec::with_capacity(batch.len());
                        for one in &batch {
                            match self.save_one(one, now) {
                                Err(e) if e.is_store_wide() => return Err(e.into()),
                                result => saved.push(result),
                            }
                        }
                        saved
                    }
                    Err(e) => return Err(e.into()),
                };
                drop(batch);
                done(payload, &news, saved)?;
            }
            if let Err(panic) = sealer.join() {
                std::panic::resume_unwind(panic);
            }
            Ok(())
        })
    }

    fn save_one(&self, one: &ToSave<'_>, now: i64) -> Result<SavedAs, StoreError> {
        self.db
            .save_all(std::slice::from_ref(one), now)?
            .pop()
            .ok_or_else(|| StoreError::NotFound {
                query: one.new.unb.clone(),
                known: Vec::new(),
            })?
    }

    /// An account as a backend saves it: its cookies sealed, its long-login expiry read.
    fn to_save<'a>(&self, new: &'a NewAccount) -> Result<ToSave<'a>, StoreError> {
        Ok(to_save(self.sealing_keys()?, new))
    }

    /// Delete an account and all its cookies in one transaction; no value is left behind
    /// in any file (see `checkpoint`, whose answer this returns).
    pub fn delete(&self, account_id: i64) -> Result<bool, StoreError> {
        self.db.delete(account_id)?;
        self.db.checkpoint()
    }

    /// Take the account's lease until `until` unless another run holds an unexpired one,
    /// which is then named, or another writer has its row locked (`Lease::Busy`).
    pub fn try_lease(
        &self,
        id: i64,
        owner: &str,
        until: i64,
        now: i64,
    ) -> Result<Lease, StoreError> {
        self.db.try_lease(id, owner, until, now)
    }

    /// Take over a lease from `old_owner` (a run that is gone), if it still holds it and
    /// no other writer has the row locked (see `Lease::Busy`).
    pub fn steal_lease(
        &self,
        id: i64,
        old_owner: &str,
        owner: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.db.steal_lease(id, old_owner, owner, until)
    }

    /// Who holds the account's lease, if anyone.
    pub fn lease_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.db.lease_owner(id)
    }

    /// A refresh run begins: registered as under way until `until`; the other runs under
    /// way are returned.
    pub fn begin_run(&self, owner: &str, until: i64, now: i64) -> Result<Vec<String>, StoreError> {
        self.db.begin_run(owner, until, now)
    }

    pub fn extend_run(&self, owner: &str, until: i64) -> Result<(), StoreError> {
        self.db.extend_run(owner, until)
    }

    pub fn end_run(&self, owner: &str) -> Result<(), StoreError> {
        self.db.end_run(owner)
    }

    /// Release `owner`'s lease: `false` when another writer has the row locked (see
    /// `Lease::Busy`), and it is still held.
    pub fn release(&self, id: i64, owner: &str) -> Result<bool, StoreError> {
        self.db.release(id, owner)
    }
}

fn to_save<'a>(keys: &crate::vault::Keyring, new: &'a NewAccount) -> ToSave<'a> {
    let (cookies, long_login_until) = sealed_parts(keys, new);
    ToSave {
        new,
        cookies,
        long_login_until,
    }
}

/// What `ToSave` adds to an account: its cookies sealed, its long-login expiry read.
fn sealed_parts(keys: &crate::vault::Keyring, new: &NewAccount) -> (Vec<CookieRow>, Option<i64>) {
    (
        seal_cookies(keys, &new.unb, &new.cookies),
        cookies::long_login_expiry(&new.cookies),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookies::Cookie;
    use crate::store::model::{Recorded, RefreshRecord, Status};

    fn new_account(unb: &str, name: Option<&str>, nick: &str) -> NewAccount {
        NewAccount {
            unb: unb.into(),
            name: name.map(Into::into),
            nickname: Some(nick.into()),
            cookies: vec![Cookie::for_domain("unb", unb, ".goofish.com")],
            proxy: None,
            user_agent: None,
            status: Status::Unknown,
            refreshed: false,
            rename: false,
        }
    }

    #[test]
    fn save_names_and_relogin_keeps_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let (a, created) = s.save(&new_account("1", None, "nick"), 10).unwrap();
        assert_eq!(created, Saved::Created);
        assert_eq!(a.name, "nick");
        // Same nickname, other account: disambiguated.
        let (b, _) = s.save(&new_account("2", None, "nick"), 10).unwrap();
        assert_eq!(b.name, "nick-2");
        // Log in again: the name stays.
        let (a2, created) = s.save(&new_account("1", None, "renamed"), 20).unwrap();
        assert_eq!(created, Saved::Updated);
        assert_eq!(a2.name, "nick");
        assert_eq!(a2.nickname.as_deref(), Some("renamed"));
        // Explicit name of another unb: refused, nothing written.
        let err = s
            .save(&new_account("3", Some("nick"), "x"), 30)
            .unwrap_err();
        assert!(matches!(err, StoreError::NameTaken { .. }));
        assert!(s.find("3").unwrap().is_none());
        assert_eq!(s.get("2").unwrap().name, "nick-2");
        assert!(matches!(
            s.get("nobody").unwrap_err(),
            StoreError::NotFound { .. }
        ));
    }

    #[test]
    fn an_explicit_name_renames_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        s.save(&new_account("1", Some("shop-1"), "n"), 10).unwrap();
        let (a, saved) = s.save(&new_account("1", Some("backup"), "n"), 20).unwrap();
        assert_eq!(a.name, "shop-1");
        assert_eq!(
            saved,
            Saved::KeptName {
                requested: "backup".into()
            }
        );
        let renamed = NewAccount {
            rename: true,
            ..new_account("1", Some("backup"), "n")
        };
        let (a, saved) = s.save(&renamed, 30).unwrap();
        assert_eq!(a.name, "backup");
        assert_eq!(
            saved,
            Saved::Renamed {
                from: "shop-1".into()
            }
        );
    }

    #[test]
    fn default_names_never_clash() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        s.save(&new_account("1", Some("nick"), "x"), 10).unwrap();
        s.save(&new_account("2", Some("nick-3"), "x"), 10).unwrap();
        let (a, _) = s.save(&new_account("3", None, "nick"), 10).unwrap();
        assert_eq!(a.name, "nick-3-2");
    }

    #[test]
    fn an_import_keeps_the_status_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let login = NewAccount {
            status: Status::Ok,
            refreshed: true,
            ..new_account("1", None, "n")
        };
        s.save(&login, 10).unwrap();
        let (a, _) = s.save(&new_account("1", None, "n"), 20).unwrap();
        assert_eq!(
            (a.status, a.last_refreshed, a.last_checked),
            (Status::Ok, Some(10), Some(10))
        );
    }

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
        assert!(s.try_lease(a.id, "run-a", 100, 0).unwrap().taken());
        assert_eq!(
            s.try_lease(a.id, "run-b", 100, 50).unwrap(),
            Lease::Held("run-a".into())
        );
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
            s.record_refresh(&a, "run-b", &rec).unwrap(),
            Recorded::LeaseLost
        );
        assert_eq!(s.get("1").unwrap().cookies.len(), 1);
        // An expired lease can be taken over.
        assert!(s.try_lease(a.id, "run-b", 300, 100).unwrap().taken());
        assert!(s.record_refresh(&a, "run-b", &rec).unwrap().stored());
        let after = s.get("1").unwrap();
        assert_eq!(
            (after.status, after.last_refreshed, after.cookies.len()),
            (Status::Ok, Some(60), 0)
        );
        assert!(s.try_lease(a.id, "run-c", 400, 100).unwrap().taken());
    }

    #[test]
    fn a_claim_leases_what_no_other_run_holds_and_reads_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let ids: Vec<i64> = ["1", "2", "3"]
            .iter()
            .map(|unb| {
                let new = NewAccount::from_cookies(
                    vec![
                        Cookie::for_domain("unb", unb, ".goofish.com"),
                        Cookie::for_domain("cookie2", &format!("v{unb}"), ".goofish.com"),
                    ],
                    None,
                    Status::Unknown,
                );
                s.save(&new, 0).unwrap().0.id
            })
            .collect();
        assert!(s.try_lease(ids[1], "run-a", 100, 0).unwrap().taken());
        let all = |_: &Account| true;
        let got = s.claim(&ids, "run-b", 100, 50, &all).unwrap();
        let unbs: Vec<&str> = got.leased.iter().map(|a| a.unb.as_str()).collect();
        assert_eq!(unbs, ["1", "3"]);
        assert_eq!(got.leased[1].cookies[1].value.expose(), "v3");
        assert_eq!(got.held.len(), 1);
        assert_eq!(got.held[0].0.unb, "2");
        assert_eq!(got.held[0].1.as_deref(), Some("run-a"));
        assert!(got.held[0].0.cookies.is_empty() && got.passed.is_empty());
        // Leased now: a third run gets nothing, run b's own claim is renewed, and once
        // every lease has run out everything is free again.
        let got = s.claim(&ids, "run-c", 100, 60, &all).unwrap();
        assert!(got.leased.is_empty() && got.held.len() == 3);
        assert_eq!(
            s.claim(&ids[..1], "run-b", 200, 60, &all)
                .unwrap()
                .leased
                .len(),
            1
        );
        // What the filter turns down is passed over, not leased, wherever its lease is.
        let not_2 = |a: &Account| a.unb != "2";
        let got = s.claim(&ids, "run-c", 300, 200, &not_2).unwrap();
        assert_eq!(got.leased.len(), 2);
        assert_eq!(got.passed.len(), 1);
        assert_eq!(got.passed[0].unb, "2");
        assert_eq!(s.lease_owner(ids[1]).unwrap().as_deref(), Some("run-a"));
        // Deleted accounts are in none of the lists.
        s.delete(ids[0]).unwrap();
        let got = s.claim(&ids, "run-d", 900, 800, &all).unwrap();
        assert_eq!(got.leased.len() + got.held.len() + got.passed.len(), 2);
    }

    #[test]
    fn a_save_during_a_refresh_wins() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let new = one_account();
        let (read, _) = s.save(&new, 0).unwrap();
        assert!(s.try_lease(read.id, "run", 100, 0).unwrap().taken());
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
            s.record_refresh(&read, "run", &rec).unwrap(),
            Recorded::Superseded
        );
        let after = s.get("1").unwrap();
        assert_eq!((after.status, after.cookies.len()), (Status::Ok, 2));
        assert_eq!(s.lease_owner(read.id).unwrap(), None);
    }

    #[test]
    fn a_save_keeps_every_cookie_in_order_and_the_last_of_a_key() {
        // 23 cookies and a repeat: written 16, 4 and 1 rows a statement.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let mut cookies: Vec<Cookie> = (0..23)
            .map(|i| Cookie::for_domain(&format!("c{i:02}"), &format!("v{i}"), ".goofish.com"))
            .collect();
        cookies.insert(0, Cookie::for_domain("unb", "1", ".goofish.com"));
        cookies.push(Cookie::for_domain("c05", "again", ".goofish.com"));
        let (a, _) = s
            .save(&NewAccount::from_cookies(cookies, None, Status::Unknown), 0)
            .unwrap();
        let got: Vec<String> = a
            .cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value.expose()))
            .collect();
        let mut want: Vec<String> = vec!["unb=1".into()];
        want.extend((0..23).filter(|i| *i != 5).map(|i| format!("c{i:02}=v{i}")));
        want.push("c05=again".into());
        assert_eq!(got, want);
    }
}
