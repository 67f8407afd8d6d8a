//! Leases and refresh results in PostgreSQL: a batch of leases in one statement, and a
//! group of results in one transaction of two round trips.

use super::accounts::{Sets, WRITE_SETS, account, account_columns};
use super::{Param, Postgres, cookie_set};
use crate::store::StoreError;
use crate::store::backend::{Leases, R, ToRecord};
use crate::store::model::{Account, Claimed, CookieRow, Lease, Recorded};
use futures_util::future::OptionFuture;
use std::collections::{HashMap, HashSet};

/// The owner of a live lease another run holds on a row of `accounts` (`$table` its alias
/// with the dot, or ""), else NULL: `$owner` is this run, `$now` the time, as parameters.
/// One spelling of "held", for every statement that names a holder.
macro_rules! live_holder {
    ($table:literal, $owner:literal, $now:literal) => {
        concat!(
            "CASE WHEN ",
            $table,
            "lease_owner <> ",
            $owner,
            " AND ",
            $table,
            "lease_until > ",
            $now,
            " THEN ",
            $table,
            "lease_owner END"
        )
    };
}

/// A batch of leases in one statement. `SKIP LOCKED`: a row another process is leasing
/// right now is passed over rather than waited for, so hosts claiming overlapping batches
/// never queue behind each other; the lease condition is checked again on the row as it is
/// once locked, so a lease won meanwhile is respected.
const CLAIM: &str = concat!(
    "UPDATE accounts SET lease_owner = $2, lease_until = $3 WHERE id IN \
     (SELECT id FROM accounts WHERE id = ANY($1) AND (lease_owner IS NULL OR lease_owner = $2 \
     OR lease_until IS NULL OR lease_until <= $4) FOR UPDATE SKIP LOCKED) RETURNING ",
    account_columns!()
);
/// Lease one account if it is free, and otherwise say why not, in one statement: whether
/// the row exists, and the owner of an unexpired lease on it. `SKIP LOCKED`: a row another
/// writer has locked is passed over, not waited for (it is then free or ours as read, and
/// busy): the run's store calls all go through one connection, and one row an import holds
/// must not hold up the rest. Everything is read in the statement's snapshot.
const TRY_LEASE: &str = concat!(
    "WITH taken AS (UPDATE accounts SET lease_owner = $2, \
     lease_until = $3 WHERE id = (SELECT id FROM accounts WHERE id = $1 AND \
     (lease_owner IS NULL OR lease_owner = $2 OR lease_until IS NULL OR lease_until <= $4) \
     FOR UPDATE SKIP LOCKED) RETURNING id) \
     SELECT EXISTS (SELECT 1 FROM taken), a.id IS NOT NULL, ",
    live_holder!("a.", "$2", "$4"),
    " FROM (VALUES (1)) AS one (x) LEFT JOIN accounts a ON a.id = $1"
);
/// Take over a gone run's lease, passing over a row another writer has locked.
const STEAL: &str = "UPDATE accounts SET lease_owner = $3, lease_until = $4 WHERE id = \
     (SELECT id FROM accounts WHERE id = $1 AND lease_owner = $2 FOR UPDATE SKIP LOCKED)";
/// Many accounts, brief, each with the owner of a live lease another run holds on it last
/// (`$2`: this run; `$3`: now).
const BRIEF_OF_MANY: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", ",
    live_holder!("", "$2", "$3"),
    " FROM accounts WHERE id = ANY($1)"
);
/// Many accounts' ids, each with the owner of a live lease another run holds on it
/// (`$2`: this run; `$3`: now).
const HOLDERS_OF_MANY: &str = concat!(
    "SELECT id, ",
    live_holder!("", "$2", "$3"),
    " FROM accounts WHERE id = ANY($1)"
);
/// The cookie sets of many accounts.
const SETS_OF_MANY: &str = "SELECT account_id, cookies FROM cookie_sets WHERE account_id = ANY($1)";

/// Many refresh results, each written only where its run still holds the lease and the
/// account is at the revision it read; the ids written come back.
const RECORD_MANY: &str = "UPDATE accounts a SET status = t.status, last_checked = t.checked, \
     last_refreshed = CASE WHEN t.refreshed THEN t.checked ELSE a.last_refreshed END, \
     consecutive_failures = t.failures, next_attempt_at = t.next_attempt, updated_at = t.checked, \
     lease_owner = NULL, lease_until = NULL, checked_by = t.owner, revision = a.revision + 1, \
     long_login_refused = COALESCE(t.refused, a.long_login_refused), \
     long_login_until = CASE WHEN t.renewed THEN t.until ELSE a.long_login_until END \
     FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::int8[], \
     $7::int8[], $8::int8[], $9::bool[], $10::bool[], $11::int8[]) AS t(id, owner, status, \
     checked, refreshed, failures, next_attempt, revision, refused, renewed, until) \
     WHERE a.id = t.id AND a.lease_owner = t.owner AND a.revision = t.revision RETURNING a.id";
/// Release a lease, passing over a row another writer has locked: true when it is done,
/// or not this owner's to release.
const RELEASE: &str = "WITH released AS (UPDATE accounts SET lease_owner = NULL, \
     lease_until = NULL WHERE id = (SELECT id FROM accounts WHERE id = $1 \
     AND lease_owner = $2 FOR UPDATE SKIP LOCKED) RETURNING id) \
     SELECT EXISTS (SELECT 1 FROM released) \
     OR NOT EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND lease_owner = $2)";
/// The leases of results not written (superseded, or their lease lost); the ids whose
/// lease this released come back.
const RELEASE_MANY: &str = "UPDATE accounts a SET lease_owner = NULL, lease_until = NULL \
     FROM UNNEST($1::int8[], $2::text[]) AS t(id, owner) \
     WHERE a.id = t.id AND a.lease_owner = t.owner RETURNING a.id";

impl Leases for Postgres {
    fn try_lease(&self, id: i64, owner: &str, until: i64, now: i64) -> R<Lease> {
        let r = self.query_one(TRY_LEASE, &[&id, &owner, &until, &now])?;
        Ok(match (r.get::<_, bool>(0), r.get::<_, bool>(1), r.get(2)) {
            (true, _, _) => Lease::Taken,
            (false, false, _) => Lease::Gone,
            (false, true, Some(holder)) => Lease::Held(holder),
            (false, true, None) => Lease::Busy,
        })
    }

    fn claim(
        &self,
        ids: &[i64],
        owner: &str,
        until: i64,
        now: i64,
        wanted: &dyn Fn(&Account) -> bool,
    ) -> R<Claimed<(Account, Vec<CookieRow>)>> {
        // Read first, lease what is wanted: a round trip more a batch, where leasing and
        // reading whole what another host has just checked cost a fleet of four three
        // times its work.
        // With each, the owner of the live lease another run holds on it, if any.
        let (wanted, passed): (Vec<_>, Vec<_>) = self
            .query(BRIEF_OF_MANY, &[&ids, &owner, &now])?
            .iter()
            .map(|r| (account(r), r.get::<_, Option<String>>(17)))
            .partition(|(a, _)| wanted(a));
        let passed = passed.into_iter().map(|(a, _)| a).collect();
        // What another run holds is not asked for: the lease would not be granted. In a
        // fleet's round the hosts read each batch soon after one of them leased it, and
        // asking for it anyway was three of every four claims the server ran.
        let (held, wanted): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(_, h)| h.is_some());
        let mut claimed = Claimed {
            leased: Vec::new(),
            passed,
            held,
            unopened: Vec::new(),
        };
        if wanted.is_empty() {
            return Ok(claimed);
        }
        let asked: Vec<i64> = wanted.iter().map(|(a, _)| a.id).collect();
        let leased: Vec<Account> = self
            .query(CLAIM, &[&asked, &owner, &until, &now])?
            .iter()
            .map(account)
            .collect();
        let ids: HashSet<i64> = leased.iter().map(|a| a.id).collect();
        let missed: Vec<_> = wanted
            .into_iter()
            .filter(|(a, _)| !ids.contains(&a.id))
            .collect();
        if !missed.is_empty() {
            // Passed over because another run's claim had them locked: that claim has
            // almost always ended by now, and one read of its leases for the batch saves
            // a store call an account (`Run::one` asks again for those still free).
            let asked: Vec<i64> = missed.iter().map(|(a, _)| a.id).collect();
            let mut holders: HashMap<i64, Option<String>> = self
                .query(HOLDERS_OF_MANY, &[&asked, &owner, &now])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            claimed.held.extend(missed.into_iter().map(|(a, _)| {
                let holder = holders.remove(&a.id).flatten();
                (a, holder)
            }));
        }
        if leased.is_empty() {
            return Ok(claimed);
        }
        let leased_ids: Vec<i64> = leased.iter().map(|a| a.id).collect();
        let sets = self.query(SETS_OF_MANY, &[&leased_ids])?;
        let mut sets: HashMap<i64, &str> = sets.iter().map(|r| (r.get(0), r.get(1))).collect();
        claimed.leased = leased
            .into_iter()
            .map(|a| {
                let rows = self.rows_of(a.id, sets.remove(&a.id))?;
                Ok((a, rows))
            })
            .collect::<R<_>>()?;
        Ok(claimed)
    }

    fn steal_lease(&self, id: i64, old_owner: &str, owner: &str, until: i64) -> R<bool> {
        Ok(self.execute(STEAL, &[&id, &old_owner, &owner, &until])? == 1)
    }

    fn lease_owner(&self, id: i64) -> R<Option<String>> {
        Ok(self
            .query_opt("SELECT lease_owner FROM accounts WHERE id = $1", &[&id])?
            .and_then(|r| r.get(0)))
    }

    fn release(&self, id: i64, owner: &str) -> R<bool> {
        Ok(self.query_one(RELEASE, &[&id, &owner])?.get(0))
    }

    fn writes_whole_sets(&self) -> bool {
        true
    }

    fn record_refreshes(&self, batch: &[ToRecord<'_>]) -> Vec<R<Recorded>> {
        if batch.len() > 1 {
            if let Written::Done(recorded) = self.record_all(batch, BEGIN_BRIEFLY) {
                return recorded.into_iter().map(Ok).collect();
            }
        }
        // One by one: one account's write that fails (a constraint, a trigger) or waits
        // on a row another writer holds no longer holds up the others, as on SQLite or
        // alone. Each waits briefly for its row; one still held is answered `RowBusy`,
        // to be tried again later: waiting here as long as it takes would hold up every
        // other store call of the run. A lost connection fails each at once.
        batch
            .iter()
            .map(|one| {
                match self.record_all(std::slice::from_ref(one), BEGIN_BRIEFLY) {
                    // `record_all` answers each of its results: one here. Were it none,
                    // "not written" is the answer that claims nothing.
                    Written::Done(mut r) => Ok(r.pop().unwrap_or(Recorded::LeaseLost)),
                    Written::LockBusy => Err(StoreError::RowBusy {
                        url: self.shown.clone(),
                    }),
                    Written::Failed(e) => Err(e),
                }
            })
            .collect()
    }
}

/// How a transaction of results ended.
enum Written {
    Done(Vec<Recorded>),
    /// It waited for a row lock longer than its `lock_timeout`.
    LockBusy,
    Failed(StoreError),
}

/// A transaction of results that waits at most this long for a row lock, then fails (and
/// its results are written one by one, or later). Locking several rows, a group could
/// otherwise close a deadlock with another writer of several accounts (an import, a
/// copy), and the one PostgreSQL aborts (after `deadlock_timeout`, 1 s by default) could
/// be that other writer; and one account another writer holds would hold up the rest.
const BEGIN_BRIEFLY: &str = "BEGIN; SET LOCAL lock_timeout = '100ms'";

impl Postgres {
    /// `record_refreshes` in one transaction of two round trips, whatever the number of
    /// results: BEGIN with the conditional UPDATE of every row, then the cookies of those
    /// written and the release of the others, with COMMIT. Statements for each account
    /// were most of the server's work in a fleet (a refresh is a few cookies), and the
    /// server's CPU is the fleet's. A statement that fails aborts the transaction, so the
    /// COMMIT sent behind it rolls back; `roll_back` makes sure.
    fn record_all(&self, batch: &[ToRecord<'_>], begin: &str) -> Written {
        let prepared = (|| {
            Ok::<_, StoreError>((
                self.statement(RECORD_MANY)?,
                self.statement(RELEASE_MANY)?,
                self.statement(WRITE_SETS)?,
            ))
        })();
        let (record, release, write) = match prepared {
            Ok(statements) => statements,
            Err(e) => return Written::Failed(e),
        };
        // Each renewed set whole, encoded before the transaction begins. The UPDATE checks,
        // under the row's lock, that the account is at the revision the refresh read.
        // Every write of a cookie set makes a new revision but a key rotation's, which
        // changes no cookie, only the key a value is sealed under (a key the file keeps,
        // retired, while any value is under it). So the set the refresh renewed holds the
        // cookies stored, and writing it whole loses none.
        let mut renewed = HashMap::new();
        for one in batch {
            let Some((changes, _)) = &one.cookies else {
                continue;
            };
            let Some(whole) = &changes.whole else {
                // Never: `writes_whole_sets` asks the store for whole sets.
                return Written::Failed(StoreError::Postgres {
                    url: self.shown.clone(),
                    why: "a renewed cookie set came without its stored part (a bug in qrlogin)"
                        .into(),
                    whole: false,
                });
            };
            match cookie_set::encode(whole) {
                Ok(set) => renewed.insert(one.id, set),
                Err(e) => return Written::Failed(self.unwritable(e)),
            };
        }
        let rows = Results::of(batch);
        let c = &self.client;
        let out: Result<Vec<Recorded>, tokio_postgres::Error> = match self.wait(async {
            let (begun, written) = futures_util::future::join(
                c.batch_execute(begin),
                c.query(&record, &rows.params()),
            )
            .await;
            begun?;
            let written: HashSet<i64> = written?.iter().map(|r| r.get(0)).collect();
            let mut sets = Sets::default();
            let mut others = (Vec::new(), Vec::new());
            for one in batch {
                if !written.contains(&one.id) {
                    others.0.push(one.id);
                    others.1.push(one.owner);
                } else if let Some(set) = renewed.remove(&one.id) {
                    sets.push(one.id, set);
                }
            }
            let sets_params = sets.params();
            let write = (!sets.is_empty()).then(|| c.execute(&write, &sets_params));
            let others_params: [Param<'_>; 2] = [&others.0, &others.1];
            let release = (!others.0.is_empty()).then(|| c.query(&release, &others_params));
            let (wrote, released, committed) = futures_util::future::join3(
                OptionFuture::from(write),
                OptionFuture::from(release),
                c.batch_execute("COMMIT"),
            )
            .await;
            wrote.transpose()?;
            let released: HashSet<i64> = released
                .transpose()?
                .unwrap_or_default()
                .iter()
                .map(|r| r.get(0))
                .collect();
            committed?;
            Ok(batch
                .iter()
                .map(|one| {
                    if written.contains(&one.id) {
                        Recorded::Stored
                    } else if released.contains(&one.id) {
                        Recorded::Superseded
                    } else {
                        Recorded::LeaseLost
                    }
                })
                .collect())
        }) {
            Ok(out) => out,
            Err(e) => return Written::Failed(e),
        };
        if out.is_err() {
            self.roll_back();
        }
        match out {
            Ok(recorded) => Written::Done(recorded),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                Written::LockBusy
            }
            Err(e) => Written::Failed(self.err(e)),
        }
    }
}

/// `ToRecord`s as the columns of `RECORD_MANY`.
struct Results<'a> {
    ids: Vec<i64>,
    owners: Vec<&'a str>,
    statuses: Vec<&'static str>,
    checked: Vec<i64>,
    refreshed: Vec<bool>,
    failures: Vec<i64>,
    next_attempt: Vec<Option<i64>>,
    revisions: Vec<i64>,
    refused: Vec<Option<bool>>,
    renewed: Vec<bool>,
    until: Vec<Option<i64>>,
}

impl<'a> Results<'a> {
    fn of(batch: &[ToRecord<'a>]) -> Results<'a> {
        Results {
            ids: batch.iter().map(|r| r.id).collect(),
            owners: batch.iter().map(|r| r.owner).collect(),
            statuses: batch.iter().map(|r| r.rec.status.as_str()).collect(),
            checked: batch.iter().map(|r| r.rec.checked_at).collect(),
            refreshed: batch.iter().map(|r| r.rec.refreshed).collect(),
            failures: batch.iter().map(|r| r.rec.consecutive_failures).collect(),
            next_attempt: batch.iter().map(|r| r.rec.next_attempt_at).collect(),
            revisions: batch.iter().map(|r| r.revision).collect(),
            refused: batch.iter().map(|r| r.rec.long_login_refused).collect(),
            renewed: batch.iter().map(|r| r.cookies.is_some()).collect(),
            until: batch
                .iter()
                .map(|r| r.cookies.as_ref().and_then(|(_, until)| *until))
                .collect(),
        }
    }

    fn params(&self) -> [Param<'_>; 11] {
        [
            &self.ids,
            &self.owners,
            &self.statuses,
            &self.checked,
            &self.refreshed,
            &self.failures,
            &self.next_attempt,
            &self.revisions,
            &self.refused,
            &self.renewed,
            &self.until,
        ]
    }
}
