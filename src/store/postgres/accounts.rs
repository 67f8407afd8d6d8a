//! Accounts, their cookies and leases in PostgreSQL.
//!
//! A lease is a conditional `UPDATE` of the account's row: it takes that row's lock only,
//! so processes on many hosts claim different accounts at once, and the one that loses a
//! race finds the condition false after the winner commits (READ COMMITTED re-checks it).
//! A refresh claims a batch at once (`CLAIM`), passing over rows locked by another claim.
//! An account's cookies are one row of `cookie_sets` (see `cookie_set`), written whole.

use super::{Param, Postgres, cookie_set};
use crate::store::StoreError;
use crate::store::backend::{Accounts, R, ToSave};
use crate::store::model::{
    Account, AccountSummary, CookieRow, Planned, SavedAs, Status, plan_name,
};
use std::collections::HashMap;
use tokio_postgres::Row;

/// An account's columns in the order `account` reads them.
macro_rules! account_columns {
    () => {
        "id, unb, name, nickname, created_at, updated_at, status, last_checked, \
         last_refreshed, consecutive_failures, next_attempt_at, proxy, user_agent, revision, \
         long_login_refused, long_login_until, checked_by"
    };
}
pub(super) use account_columns;
const BY_NAME: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts ORDER BY name"
);
const PLANNED: &str = "SELECT id, last_checked, updated_at, proxy FROM accounts ORDER BY name";
const FIND: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE name = $1 OR unb = $1 ORDER BY name = $1 DESC LIMIT 1"
);
const BY_ID: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE id = $1"
);

pub(super) fn account(r: &Row) -> Account {
    Account {
        id: r.get(0),
        unb: r.get(1),
        name: r.get(2),
        nickname: r.get(3),
        created_at: r.get(4),
        updated_at: r.get(5),
        status: Status::parse(r.get(6)),
        last_checked: r.get(7),
        last_refreshed: r.get(8),
        consecutive_failures: r.get(9),
        next_attempt_at: r.get(10),
        proxy: r.get(11),
        user_agent: r.get(12),
        revision: r.get(13),
        long_login_refused: r.get(14),
        long_login_until: r.get(15),
        checked_by: r.get(16),
        cookies: Vec::new(),
        sealed: Vec::new(),
    }
}

/// An account's cookie set (see `cookie_set`); no row: no cookies.
const SET: &str = "SELECT cookies FROM cookie_sets WHERE account_id = $1";

fn summary(r: &Row) -> AccountSummary {
    AccountSummary {
        name: r.get(0),
        unb: r.get(1),
        nickname: r.get(2),
        status: Status::parse(r.get(3)),
        last_checked: r.get(4),
        last_refreshed: r.get(5),
        long_login_expires: r.get(6),
        has_proxy: r.get(7),
    }
}

/// Cookie sets of many accounts, each whole: one statement whatever their number.
pub(super) const WRITE_SETS: &str = "INSERT INTO cookie_sets (account_id, cookies, count, keys, \
     plain) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int4[], $4::text[], $5::bool[]) \
     ON CONFLICT (account_id) DO UPDATE SET cookies = EXCLUDED.cookies, \
     count = EXCLUDED.count, keys = EXCLUDED.keys, plain = EXCLUDED.plain";

const DELETE_BY_UNB: &str = "DELETE FROM accounts WHERE unb = $1";
/// An account copied from another store and its cookies, in one statement.
const COPY_ACCOUNT: &str = "WITH a AS (INSERT INTO accounts (unb, name, nickname, created_at, \
     updated_at, status, last_checked, last_refreshed, consecutive_failures, next_attempt_at, \
     proxy, user_agent, revision, long_login_refused, long_login_until) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id) \
     INSERT INTO cookie_sets (account_id, cookies, count, keys, plain) \
     SELECT a.id, $16, $17, $18, $19 FROM a";

/// Cookie sets as the columns of `WRITE_SETS`.
#[derive(Default)]
pub(super) struct Sets {
    ids: Vec<i64>,
    json: Vec<String>,
    counts: Vec<i32>,
    keys: Vec<String>,
    plain: Vec<bool>,
}

impl Sets {
    pub(super) fn push(&mut self, account_id: i64, set: cookie_set::Encoded) {
        self.ids.push(account_id);
        self.json.push(set.json);
        self.counts.push(set.count);
        self.keys.push(set.keys);
        self.plain.push(set.plain);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(super) fn params(&self) -> [Param<'_>; 5] {
        [&self.ids, &self.json, &self.counts, &self.keys, &self.plain]
    }
}

impl Postgres {
    /// Run a statement without parameters and hand `each` its rows as the server sends
    /// them, none kept.
    fn each_row(
        &self,
        stmt: &tokio_postgres::Statement,
        each: &mut dyn FnMut(&Row) -> R<()>,
    ) -> R<()> {
        self.wait(async {
            use futures_util::TryStreamExt;
            let rows = self
                .client
                .query_raw(stmt, std::iter::empty::<i32>())
                .await
                .map_err(|e| self.err(e))?;
            let mut rows = std::pin::pin!(rows);
            while let Some(r) = rows.try_next().await.map_err(|e| self.err(e))? {
                each(&r)?;
            }
            Ok(())
        })?
    }

    /// One value per account, by `sql` (a query over every account): sized by a count,
    /// and row by row as the server sends them, neither a doubling vector nor every raw
    /// row at once (see SQLite's `every_account`).
    fn every_account<T>(&self, sql: &'static str, each: impl Fn(&Row) -> T) -> R<Vec<T>> {
        let n: i64 = self
            .query_opt("SELECT count(*) FROM accounts", &[])?
            .map(|r| r.get(0))
            .unwrap_or(0);
        let mut all = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let stmt = self.statement(sql)?;
        self.each_row(&stmt, &mut |r| {
            all.push(each(r));
            Ok(())
        })?;
        Ok(all)
    }

    pub(super) fn cookie_rows_of(&self, account_id: i64) -> R<Vec<CookieRow>> {
        let row = self.query_opt(SET, &[&account_id])?;
        self.rows_of(account_id, row.as_ref().map(|r| r.get(0)))
    }

    /// An account's cookie set as read (`None`: it has no row, so no cookies) as rows.
    pub(super) fn rows_of(&self, account_id: i64, json: Option<&str>) -> R<Vec<CookieRow>> {
        let Some(json) = json else {
            return Ok(Vec::new());
        };
        cookie_set::decode(json).map_err(|e| StoreError::Postgres {
            url: self.shown.clone(),
            why: format!("the stored cookies of account #{account_id} are not readable ({e})"),
            whole: false,
        })
    }

    /// A cookie set that could not be written as JSON. Never: its parts are strings,
    /// numbers and flags; this keeps it an error rather than a panic were that to change.
    pub(super) fn unwritable(&self, e: serde_json::Error) -> StoreError {
        StoreError::Postgres {
            url: self.shown.clone(),
            why: format!("a cookie set could not be written ({e})"),
            whole: false,
        }
    }

    /// Replace every cookie of an account (one row). Inside the account's transaction
    /// only, by a caller that writes the long-login expiry itself.
    pub(super) fn replace_cookies(&self, account_id: i64, cookies: &[CookieRow]) -> R<()> {
        let mut sets = Sets::default();
        let set = cookie_set::encode(cookies).map_err(|e| self.unwritable(e))?;
        sets.push(account_id, set);
        self.execute(WRITE_SETS, &sets.params())?;
        Ok(())
    }

    fn first(&self, sql: &'static str, params: &[Param<'_>]) -> R<Option<Account>> {
        Ok(self.query_opt(sql, params)?.as_ref().map(account))
    }
}

impl Accounts for Postgres {
    fn list(&self, each: &mut dyn FnMut(AccountSummary) -> R<()>) -> R<()> {
        let list = self.statement(
            "SELECT name, unb, nickname, status, last_checked, last_refreshed, \
             long_login_until, COALESCE(proxy, '') != '' FROM accounts ORDER BY name",
        )?;
        // Row by row as the server sends them, none kept: `list` of any size.
        self.each_row(&list, &mut |r| each(summary(r)))
    }

    fn names(&self) -> R<Vec<String>> {
        let rows = self.query("SELECT name FROM accounts ORDER BY name", &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn all_brief(&self) -> R<Vec<Account>> {
        self.every_account(BY_NAME, account)
    }

    fn planned(&self) -> R<Vec<Planned>> {
        self.every_account(PLANNED, |r| Planned {
            id: r.get(0),
            last_checked: r.get(1),
            updated_at: r.get(2),
            proxy: r.get(3),
        })
    }

    fn find_brief(&self, query: &str) -> R<Option<Account>> {
        self.first(FIND, &[&query])
    }

    fn by_id_brief(&self, id: i64) -> R<Option<Account>> {
        self.first(BY_ID, &[&id])
    }

    fn cookie_rows(&self, account_id: i64) -> R<Vec<CookieRow>> {
        self.cookie_rows_of(account_id)
    }

    fn by_id_with_rows(&self, id: i64) -> R<Option<(Account, Vec<CookieRow>)>> {
        // Both queries in one round trip (tokio-postgres pipelines what is sent at once).
        let (by_id, cookies) = (self.statement(BY_ID)?, self.statement(SET)?);
        let (a, rows) = self.block(async {
            let (a, rows) = futures_util::future::join(
                self.client.query_opt(&by_id, &[&id]),
                self.client.query_opt(&cookies, &[&id]),
            )
            .await;
            Ok((a?, rows?))
        })?;
        match a {
            Some(a) => {
                let rows = self.rows_of(id, rows.as_ref().map(|r| r.get(0)))?;
                Ok(Some((account(&a), rows)))
            }
            None => Ok(None),
        }
    }

    fn owner_of_name(&self, name: &str) -> R<Option<String>> {
        Ok(self
            .query_opt("SELECT unb FROM accounts WHERE name = $1", &[&name])?
            .map(|r| r.get(0)))
    }

    fn save_all(&self, batch: &[ToSave<'_>], now: i64) -> R<Vec<R<SavedAs>>> {
        self.tx(|| batch.iter().map(|item| self.save_one(item, now)).collect())
    }

    fn delete(&self, account_id: i64) -> R<()> {
        // Its cookie set goes with it (ON DELETE CASCADE), in the same statement.
        self.execute("DELETE FROM accounts WHERE id = $1", &[&account_id])?;
        Ok(())
    }

    fn insert_copies(&self, batch: &[(&Account, Vec<CookieRow>)], replace: bool) -> R<()> {
        let (delete, insert) = (
            self.statement(DELETE_BY_UNB)?,
            self.statement(COPY_ACCOUNT)?,
        );
        let statuses: Vec<&str> = batch.iter().map(|(a, _)| a.status.as_str()).collect();
        let sets = batch
            .iter()
            .map(|(_, rows)| cookie_set::encode(rows).map_err(|e| self.unwritable(e)))
            .collect::<R<Vec<_>>>()?;
        self.tx(|| {
            // Every statement of the batch sent at once, run in order by the server: one
            // round trip where one an account took a minute for 10,000.
            type Sent<'a> = std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + 'a>,
            >;
            let mut sent: Vec<Sent<'_>> = Vec::with_capacity(batch.len() * 2);
            for (((a, _), status), set) in batch.iter().zip(&statuses).zip(&sets) {
                if replace {
                    let delete = &delete;
                    sent.push(Box::pin(async move {
                        self.client.execute(delete, &[&a.unb]).await
                    }));
                }
                let params: [Param<'_>; 19] = [
                    &a.unb,
                    &a.name,
                    &a.nickname,
                    &a.created_at,
                    &a.updated_at,
                    status,
                    &a.last_checked,
                    &a.last_refreshed,
                    &a.consecutive_failures,
                    &a.next_attempt_at,
                    &a.proxy,
                    &a.user_agent,
                    &a.revision,
                    &a.long_login_refused,
                    &a.long_login_until,
                    &set.json,
                    &set.count,
                    &set.keys,
                    &set.plain,
                ];
                let insert = &insert;
                sent.push(Box::pin(async move {
                    self.client.execute(insert, &params).await
                }));
            }
            self.block(futures_util::future::try_join_all(sent))?;
            Ok(())
        })
    }

    fn identities(&self) -> R<Vec<(String, String)>> {
        let rows = self.query("SELECT unb, name FROM accounts", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn cookie_counts(&self) -> R<HashMap<String, usize>> {
        let rows = self.query(
            "SELECT a.unb, COALESCE(s.count, 0)::int8 FROM accounts a \
             LEFT JOIN cookie_sets s ON s.account_id = a.id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as usize))
            .collect())
    }
}

impl Postgres {
    /// One account of `save_all`, in the caller's transaction. `Ok(Err(_))`: its name
    /// cannot be given, and nothing of it was written.
    fn save_one(&self, item: &ToSave<'_>, now: i64) -> R<R<SavedAs>> {
        let ToSave {
            new,
            cookies,
            long_login_until,
        } = item;
        let (new, long_login_until) = (*new, *long_login_until);
        // Two hosts saving the same new account at once: the second waits here and
        // then updates what the first created, instead of failing on the unique unb.
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtext('qrlogin-save:' || $1))",
            &[&new.unb],
        )?;
        let existing: Option<(i64, String)> = self
            .query_opt("SELECT id, name FROM accounts WHERE unb = $1", &[&new.unb])?
            .map(|r| (r.get(0), r.get(1)));
        let mut owner = |name: &str| self.owner_of_name(name);
        let (name, saved) = match plan_name(new, existing.as_ref(), &mut owner)? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let refreshed = new.refreshed.then_some(now);
        let status = new.status.as_str();
        let id: i64 = match existing {
            Some((id, _)) if new.refreshed => {
                // A login: the cookies were just validated, the slate is clean.
                self.execute(
                    "UPDATE accounts SET name = $2, nickname = COALESCE($3, nickname), \
                     updated_at = $4, status = $5, last_refreshed = $6, last_checked = $6, \
                     consecutive_failures = 0, next_attempt_at = NULL, proxy = $7, \
                     user_agent = COALESCE($8, user_agent), revision = revision + 1, \
                     long_login_refused = FALSE, long_login_until = $9 WHERE id = $1",
                    &[
                        &id,
                        &name,
                        &new.nickname,
                        &now,
                        &status,
                        &refreshed,
                        &new.proxy,
                        &new.user_agent,
                        &long_login_until,
                    ],
                )?;
                id
            }
            Some((id, _)) => {
                // An import: the history stays; the new cookies are checked next refresh.
                self.execute(
                    "UPDATE accounts SET name = $2, nickname = COALESCE($3, nickname), \
                     updated_at = $4, consecutive_failures = 0, next_attempt_at = NULL, \
                     proxy = COALESCE($5, proxy), user_agent = COALESCE($6, user_agent), \
                     revision = revision + 1, long_login_refused = FALSE, \
                     long_login_until = $7 WHERE id = $1",
                    &[
                        &id,
                        &name,
                        &new.nickname,
                        &now,
                        &new.proxy,
                        &new.user_agent,
                        &long_login_until,
                    ],
                )?;
                id
            }
            None => self
                .query(
                    "INSERT INTO accounts (unb, name, nickname, created_at, updated_at, \
                     status, last_checked, last_refreshed, proxy, user_agent, \
                     long_login_until) \
                     VALUES ($1, $2, $3, $4, $4, $5, $6, $6, $7, $8, $9) RETURNING id",
                    &[
                        &new.unb,
                        &name,
                        &new.nickname,
                        &now,
                        &status,
                        &refreshed,
                        &new.proxy,
                        &new.user_agent,
                        &long_login_until,
                    ],
                )?
                .first()
                .map(|r| r.get(0))
                .unwrap_or_default(),
        };
        self.replace_cookies(id, cookies)?;
        Ok(Ok(SavedAs { id, name, saved }))
    }
}
