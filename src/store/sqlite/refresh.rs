//! Leases and refresh results in SQLite: each a short `BEGIN IMMEDIATE` transaction.

use super::Sqlite;
use super::accounts::{ACCOUNT_COLUMNS, account_from_row, cookie_rows};
use crate::store::backend::{Leases, R, ToRecord};
use crate::store::model::{Account, Claimed, CookieChanges, CookieRow, Lease, Recorded};
use rusqlite::{Connection, OptionalExtension, params};

const TRY_LEASE: &str = "UPDATE accounts SET lease_owner = ?2, lease_until = ?3 \
     WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until IS NULL OR lease_until <= ?4)";

impl Leases for Sqlite {
    fn try_lease(&self, id: i64, owner: &str, until: i64, now: i64) -> R<Lease> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(TRY_LEASE)?
                .execute(params![id, owner, until, now])?;
            if n == 1 {
                return Ok(Lease::Taken);
            }
            // In the same write transaction: nothing has changed since the update.
            let holder = tx
                .prepare_cached("SELECT lease_owner FROM accounts WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, Option<String>>(0))
                .optional()?;
            Ok(match holder {
                None => Lease::Gone,
                Some(Some(holder)) => Lease::Held(holder),
                // Refused yet free: not in one transaction. Asking again is the answer
                // that cannot go wrong.
                Some(None) => Lease::Busy,
            })
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
        // One write transaction for the batch: SQLite has one writer anyway, so there is
        // nothing to pass over, and the rows are read in the snapshot that leased them.
        self.write(|tx| {
            let mut lease = tx.prepare_cached(TRY_LEASE)?;
            // Each row with its lease's owner last, for the accounts another run holds.
            let mut read = tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS}, lease_owner FROM accounts WHERE id = ?1"
            ))?;
            let mut claimed = Claimed {
                leased: Vec::with_capacity(ids.len()),
                passed: Vec::new(),
                held: Vec::new(),
                unopened: Vec::new(),
            };
            for &id in ids {
                let row = read.query_row([id], |r| {
                    Ok((account_from_row(r)?, r.get::<_, Option<String>>(17)?))
                });
                let Some((a, holder)) = row.optional()? else {
                    continue;
                };
                if !wanted(&a) {
                    claimed.passed.push(a);
                } else if lease.execute(params![id, owner, until, now])? == 1 {
                    // The lease is not among an account's fields: `a` is the row as leased.
                    claimed.leased.push((a, cookie_rows(tx, id)?));
                } else {
                    claimed.held.push((a, holder));
                }
            }
            Ok(claimed)
        })
    }

    fn steal_lease(&self, id: i64, old_owner: &str, owner: &str, until: i64) -> R<bool> {
        self.write(|tx| {
            let n = tx.prepare_cached(
                "UPDATE accounts SET lease_owner = ?3, lease_until = ?4 WHERE id = ?1 AND lease_owner = ?2",
            )?
            .execute(params![id, old_owner, owner, until])?;
            Ok(n == 1)
        })
    }

    fn lease_owner(&self, id: i64) -> R<Option<String>> {
        // A deleted account has no lease: `None`, as on PostgreSQL.
        self.conn()
            .query_row(
                "SELECT lease_owner FROM accounts WHERE id = ?1",
                [id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    fn release(&self, id: i64, owner: &str) -> R<bool> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE accounts SET lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
            )?
            .execute(params![id, owner])?;
            Ok(true)
        })
    }

    fn record_refreshes(&self, batch: &[ToRecord<'_>]) -> Vec<R<Recorded>> {
        // Each its own transaction, or its own savepoint while commits are held: one write
        // costs no round trip here, and a failed one undoes only itself.
        batch.iter().map(|one| self.record_one(one)).collect()
    }
}

impl Sqlite {
    fn record_one(&self, one: &ToRecord<'_>) -> R<Recorded> {
        let ToRecord {
            id,
            owner,
            rec,
            revision,
            ref cookies,
        } = *one;
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE accounts SET status = ?3, last_checked = ?4, \
                 last_refreshed = CASE WHEN ?5 THEN ?4 ELSE last_refreshed END, \
                 consecutive_failures = ?6, next_attempt_at = ?7, updated_at = ?4, \
                 lease_owner = NULL, lease_until = NULL, checked_by = ?2, \
                 revision = revision + 1, \
                 long_login_refused = COALESCE(?9, long_login_refused), \
                 long_login_until = CASE WHEN ?10 THEN ?11 ELSE long_login_until END \
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
                    rec.long_login_refused,
                    cookies.is_some(),
                    cookies.as_ref().and_then(|(_, until)| *until)
                ])?;
            if n == 1 {
                if let Some((changes, _)) = cookies {
                    apply_cookie_changes(tx, id, changes)?;
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
}

/// Write what a renewal changed of an account's cookies. A changed cookie is updated in
/// its row (which keeps its place in the account's order, as a browser's jar keeps a
/// cookie's creation time), a new one inserted after the rest.
fn apply_cookie_changes(
    tx: &Connection,
    account_id: i64,
    changes: &CookieChanges,
) -> rusqlite::Result<()> {
    if !changes.remove.is_empty() {
        let mut delete = tx.prepare_cached(
            "DELETE FROM cookies WHERE account_id = ?1 AND domain = ?2 AND host_only = ?3 \
             AND path = ?4 AND name = ?5",
        )?;
        for k in &changes.remove {
            delete.execute(params![account_id, k.domain, k.host_only, k.path, k.name])?;
        }
    }
    if !changes.write.is_empty() {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO cookies (account_id, name, value, domain, host_only, path, expires, \
             secure, http_only, same_site, key_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (account_id, domain, host_only, path, name) DO UPDATE SET \
             value = excluded.value, expires = excluded.expires, secure = excluded.secure, \
             http_only = excluded.http_only, same_site = excluded.same_site, \
             key_id = excluded.key_id",
        )?;
        for c in &changes.write {
            upsert.execute(params![
                account_id,
                c.name,
                c.value,
                c.domain,
                c.host_only,
                c.path,
                c.expires,
                c.secure,
                c.http_only,
                c.same_site,
                c.key_id,
            ])?;
        }
    }
    Ok(())
}
