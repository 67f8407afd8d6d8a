//! Leases and refresh results in PostgreSQL: a batch of leases in one statement, and a
//! result in one transaction of two round trips.

use super::accounts::{Columns, account, account_columns, cookie_row, insert_cookies};
use super::{Param, Postgres};
use crate::store::backend::{Leases, R};
use crate::store::model::{Account, Claimed, CookieChanges, CookieRow, Recorded, RefreshRecord};
use futures_util::future::OptionFuture;

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
/// Many accounts, brief, each with its lease's owner last.
const BRIEF_OF_MANY: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", lease_owner FROM accounts WHERE id = ANY($1)"
);
/// The cookies of many accounts; the account id last, so `cookie_row` reads the rest.
const COOKIES_OF_MANY: &str = "SELECT name, value, domain, host_only, path, expires, secure, \
     http_only, same_site, key_id, account_id FROM cookies WHERE account_id = ANY($1) \
     ORDER BY account_id, seq";

const RECORD: &str = "UPDATE accounts SET status = $3, last_checked = $4, \
     last_refreshed = CASE WHEN $5 THEN $4 ELSE last_refreshed END, \
     consecutive_failures = $6, next_attempt_at = $7, updated_at = $4, \
     lease_owner = NULL, lease_until = NULL, checked_by = $2, revision = revision + 1, \
     long_login_refused = COALESCE($9, long_login_refused), \
     long_login_until = CASE WHEN $10 THEN $11 ELSE long_login_until END \
     WHERE id = $1 AND lease_owner = $2 AND revision = $8";
const RELEASE: &str = "UPDATE accounts SET lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND lease_owner = $2";

impl Leases for Postgres {
    fn try_lease(&self, id: i64, owner: &str, until: i64, now: i64) -> R<bool> {
        Ok(self.execute(
            "UPDATE accounts SET lease_owner = $2, lease_until = $3 WHERE id = $1 \
             AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until IS NULL OR lease_until <= $4)",
            &[&id, &owner, &until, &now],
        )? == 1)
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
        // With each, its lease's owner as read, for the accounts another run holds.
        let (wanted, passed): (Vec<_>, Vec<_>) = self
            .query(BRIEF_OF_MANY, &[&ids])?
            .iter()
            .map(|r| (account(r), r.get::<_, Option<String>>(17)))
            .partition(|(a, _)| wanted(a));
        let passed = passed.into_iter().map(|(a, _)| a).collect();
        let mut claimed = Claimed {
            leased: Vec::new(),
            passed,
            held: Vec::new(),
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
        let ids: std::collections::HashSet<i64> = leased.iter().map(|a| a.id).collect();
        claimed.held = wanted
            .into_iter()
            .filter(|(a, _)| !ids.contains(&a.id))
            .collect();
        if leased.is_empty() {
            return Ok(claimed);
        }
        let leased_ids: Vec<i64> = leased.iter().map(|a| a.id).collect();
        let mut rows: std::collections::HashMap<i64, Vec<CookieRow>> = Default::default();
        for r in self.query(COOKIES_OF_MANY, &[&leased_ids])? {
            rows.entry(r.get(10)).or_default().push(cookie_row(&r));
        }
        claimed.leased = leased
            .into_iter()
            .map(|a| {
                let cookies = rows.remove(&a.id).unwrap_or_default();
                (a, cookies)
            })
            .collect();
        Ok(claimed)
    }

    fn steal_lease(&self, id: i64, old_owner: &str, owner: &str, until: i64) -> R<bool> {
        Ok(self.execute(
            "UPDATE accounts SET lease_owner = $3, lease_until = $4 WHERE id = $1 AND lease_owner = $2",
            &[&id, &old_owner, &owner, &until],
        )? == 1)
    }

    fn lease_owner(&self, id: i64) -> R<Option<String>> {
        Ok(self
            .query_opt("SELECT lease_owner FROM accounts WHERE id = $1", &[&id])?
            .and_then(|r| r.get(0)))
    }

    fn release(&self, id: i64, owner: &str) -> R<()> {
        self.execute(RELEASE, &[&id, &owner])?;
        Ok(())
    }

    fn record_refresh(
        &self,
        id: i64,
        owner: &str,
        rec: &RefreshRecord,
        revision: i64,
        cookies: Option<(&CookieChanges, Option<i64>)>,
    ) -> R<Recorded> {
        // One transaction in two round trips: BEGIN with the conditional UPDATE, then the
        // cookies (or the lease's release) with COMMIT. A statement that fails aborts the
        // transaction, so the COMMIT sent behind it rolls back; ROLLBACK makes sure.
        let status = rec.status.as_str();
        let renewed = cookies.is_some();
        let until = cookies.and_then(|(_, until)| until);
        let record = self.statement(RECORD)?;
        let release = self.statement(RELEASE)?;
        let (delete, upsert) = (
            self.statement(DELETE_SOME_COOKIES)?,
            self.statement(UPSERT_COOKIES)?,
        );
        let changes =
            cookies.map(|(changes, _)| (Removed::of(changes), Columns::of(&changes.write)));
        let c = &self.client;
        let outcome = self.block(async {
            let (begun, n) = futures_util::future::join(
                c.batch_execute("BEGIN"),
                c.execute(
                    &record,
                    &[
                        &id,
                        &owner,
                        &status,
                        &rec.checked_at,
                        &rec.refreshed,
                        &rec.consecutive_failures,
                        &rec.next_attempt_at,
                        &revision,
                        &rec.long_login_refused,
                        &renewed,
                        &until,
                    ],
                ),
            )
            .await;
            begun?;
            if n? == 1 {
                // Only the statements with something to do: most renewals drop no cookie,
                // and PostgreSQL plans that DELETE anew each time it is sent.
                let params = changes
                    .as_ref()
                    .map(|(removed, written)| (removed.params(&id), written.params(&id)));
                let (delete, upsert) = match (&changes, &params) {
                    (Some((removed, written)), Some((gone, kept))) => (
                        (!removed.names.is_empty()).then(|| c.execute(&delete, gone)),
                        (!written.is_empty()).then(|| c.execute(&upsert, kept)),
                    ),
                    _ => (None, None),
                };
                let (deleted, inserted, committed) = futures_util::future::join3(
                    OptionFuture::from(delete),
                    OptionFuture::from(upsert),
                    c.batch_execute("COMMIT"),
                )
                .await;
                deleted.transpose()?;
                inserted.transpose()?;
                committed?;
                return Ok(Recorded::Stored);
            }
            let (released, committed) = futures_util::future::join(
                c.execute(&release, &[&id, &owner]),
                c.batch_execute("COMMIT"),
            )
            .await;
            committed?;
            Ok(if released? == 1 {
                Recorded::Superseded
            } else {
                Recorded::LeaseLost
            })
        });
        if outcome.is_err() {
            let _ = self.block(c.batch_execute("ROLLBACK"));
        }
        outcome
    }
}

/// The stored cookies a renewal dropped, by key (`CookieChanges::remove`).
const DELETE_SOME_COOKIES: &str = "DELETE FROM cookies c \
     USING UNNEST($2::text[], $3::text[], $4::bool[], $5::text[]) AS t(name, domain, host_only, path) \
     WHERE c.account_id = $1 AND c.name = t.name AND c.domain = t.domain \
     AND c.host_only = t.host_only AND c.path = t.path";
/// What a renewal changed: a changed cookie is updated in its row (which keeps its `seq`,
/// its place in the account's order), a new one inserted after the rest.
const UPSERT_COOKIES: &str = concat!(
    insert_cookies!(),
    " ON CONFLICT (account_id, domain, host_only, path, name) DO UPDATE SET \
     value = EXCLUDED.value, expires = EXCLUDED.expires, secure = EXCLUDED.secure, \
     http_only = EXCLUDED.http_only, same_site = EXCLUDED.same_site, key_id = EXCLUDED.key_id"
);

/// `CookieChanges::remove` as the columns of `DELETE_SOME_COOKIES`.
struct Removed {
    names: Vec<String>,
    domains: Vec<String>,
    host_only: Vec<bool>,
    paths: Vec<String>,
}

impl Removed {
    fn of(changes: &CookieChanges) -> Removed {
        let keys = &changes.remove;
        Removed {
            names: keys.iter().map(|k| k.name.clone()).collect(),
            domains: keys.iter().map(|k| k.domain.clone()).collect(),
            host_only: keys.iter().map(|k| k.host_only).collect(),
            paths: keys.iter().map(|k| k.path.clone()).collect(),
        }
    }

    fn params<'a>(&'a self, account_id: &'a i64) -> [Param<'a>; 5] {
        [
            account_id,
            &self.names,
            &self.domains,
            &self.host_only,
            &self.paths,
        ]
    }
}
