//! Accounts and their cookies in SQLite: reading, saving a login or an import, deleting.

use super::Sqlite;
use crate::store::backend::{Accounts, R, ToSave};
use crate::store::model::{
    Account, AccountSummary, CookieRow, Planned, SavedAs, Status, last_of_each_key, plan_name,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;

pub(super) const ACCOUNT_COLUMNS: &str = "id, unb, name, nickname, created_at, updated_at, status, \
     last_checked, last_refreshed, consecutive_failures, next_attempt_at, proxy, user_agent, \
     revision, long_login_refused, long_login_until, checked_by";

pub(super) fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        unb: r.get(1)?,
        name: r.get(2)?,
        nickname: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        status: Status::parse(&r.get::<_, String>(6)?),
        last_checked: r.get(7)?,
        last_refreshed: r.get(8)?,
        consecutive_failures: r.get(9)?,
        next_attempt_at: r.get(10)?,
        proxy: r.get(11)?,
        user_agent: r.get(12)?,
        revision: r.get(13)?,
        long_login_refused: r.get(14)?,
        long_login_until: r.get(15)?,
        checked_by: r.get(16)?,
        cookies: Vec::new(),
        sealed: Vec::new(),
    })
}

/// An account's cookie rows, in the order they were written.
pub(super) fn cookie_rows(
    conn: &rusqlite::Connection,
    account_id: i64,
) -> rusqlite::Result<Vec<CookieRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, value, domain, host_only, path, expires, secure, http_only, same_site, \
         key_id FROM cookies WHERE account_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        Ok(CookieRow {
            name: r.get(0)?,
            value: r.get(1)?,
            domain: r.get(2)?,
            host_only: r.get(3)?,
            path: r.get(4)?,
            expires: r.get(5)?,
            secure: r.get(6)?,
            http_only: r.get(7)?,
            same_site: r.get(8)?,
            key_id: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// Replace every cookie of an account. Called inside the account's transaction only, by
/// a caller that also writes the account's readable long-login expiry in its own statement.
pub(super) fn replace_cookies(
    tx: &Connection,
    account_id: i64,
    cookies: &[CookieRow],
) -> rusqlite::Result<()> {
    // Every statement here is cached: an import saves thousands of accounts in a row, and
    // compiling SQL was a visible part of its CPU.
    tx.prepare_cached("DELETE FROM cookies WHERE account_id = ?1")?
        .execute([account_id])?;
    // Several rows a statement: each statement of a transaction keeps a journal of the
    // pages it changes (so that it alone can be undone), and one per cookie was a tenth of
    // an import. Three sizes of statement, so that few are compiled and cached.
    let mut rest: &[&CookieRow] = &last_of_each_key(cookies);
    for (size, sql) in INSERT_SIZES.iter().zip(insert_cookies_sql()) {
        while rest.len() >= *size {
            let (chunk, after) = rest.split_at(*size);
            let mut stmt = tx.prepare_cached(sql)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(size * 11);
            for c in chunk {
                values.extend_from_slice(&[
                    &account_id,
                    &c.name,
                    &c.value,
                    &c.domain,
                    &c.host_only,
                    &c.path,
                    &c.expires,
                    &c.secure,
                    &c.http_only,
                    &c.same_site,
                    &c.key_id,
                ]);
            }
            stmt.execute(values.as_slice())?;
            rest = after;
        }
    }
    Ok(())
}

/// Rows per `INSERT` of `replace_cookies`, largest first; the last must be 1.
const INSERT_SIZES: [usize; 3] = [16, 4, 1];

/// `INSERT INTO cookies` of each of `INSERT_SIZES` rows, made once.
fn insert_cookies_sql() -> &'static [String; 3] {
    static SQL: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        INSERT_SIZES.map(|n| {
            let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            format!(
                "INSERT INTO cookies (account_id, name, value, domain, host_only, path, \
                 expires, secure, http_only, same_site, key_id) VALUES {}",
                vec![row; n].join(", ")
            )
        })
    })
}

impl Sqlite {
    /// One value per account, by `sql` (a query over every account), in a vector sized by
    /// a count first: a vector of 100,000 accounts grown by doubling holds two copies at
    /// its last doubling, which was the peak of a refresh's memory.
    fn every_account<T>(
        &self,
        sql: &str,
        each: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> R<Vec<T>> {
        let c = self.conn();
        let n: i64 = c
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut all = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut stmt = c.prepare(sql).map_err(|e| self.err(e))?;
        for row in stmt.query_map([], each).map_err(|e| self.err(e))? {
            all.push(row.map_err(|e| self.err(e))?);
        }
        Ok(all)
    }
}

impl Accounts for Sqlite {
    fn list(&self, each: &mut dyn FnMut(AccountSummary) -> R<()>) -> R<()> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT a.name, a.unb, a.nickname, a.status, a.last_checked, a.last_refreshed, \
                 a.long_login_until, \
                 a.proxy IS NOT NULL AND a.proxy != '' \
                 FROM accounts a ORDER BY a.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AccountSummary {
                    name: r.get(0)?,
                    unb: r.get(1)?,
                    nickname: r.get(2)?,
                    status: Status::parse(&r.get::<_, String>(3)?),
                    last_checked: r.get(4)?,
                    last_refreshed: r.get(5)?,
                    long_login_expires: r.get(6)?,
                    has_proxy: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            each(row.map_err(|e| self.err(e))?)?;
        }
        Ok(())
    }

    fn names(&self) -> R<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT name FROM accounts ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn all_brief(&self) -> R<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
        self.every_account(&sql, account_from_row)
    }

    fn planned(&self) -> R<Vec<Planned>> {
        self.every_account(
            "SELECT id, last_checked, updated_at, proxy FROM accounts ORDER BY name",
            |r| {
                Ok(Planned {
                    id: r.get(0)?,
                    last_checked: r.get(1)?,
                    updated_at: r.get(2)?,
                    proxy: r.get(3)?,
                })
            },
        )
    }

    fn find_brief(&self, query: &str) -> R<Option<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1 OR unb = ?1 \
             ORDER BY name = ?1 DESC LIMIT 1"
        );
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([query], account_from_row).optional())
            .map_err(|e| self.err(e))
    }

    fn by_id_brief(&self, id: i64) -> R<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1");
        // Cached: a refresh reads every account it leases by id, once each.
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id], account_from_row).optional())
            .map_err(|e| self.err(e))
    }

    fn cookie_rows(&self, account_id: i64) -> R<Vec<CookieRow>> {
        cookie_rows(self.conn(), account_id).map_err(|e| self.err(e))
    }

    fn owner_of_name(&self, name: &str) -> R<Option<String>> {
        self.conn()
            .query_row("SELECT unb FROM accounts WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    fn save_all(&self, batch: &[ToSave<'_>], now: i64) -> R<Vec<R<SavedAs>>> {
        self.write(|tx| batch.iter().map(|item| save_one(tx, item, now)).collect())
    }

    fn delete(&self, account_id: i64) -> R<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM cookies WHERE account_id = ?1", [account_id])?;
            tx.execute("DELETE FROM accounts WHERE id = ?1", [account_id])?;
            Ok(())
        })
    }

    fn insert_copies(&self, batch: &[(&Account, Vec<CookieRow>)], replace: bool) -> R<()> {
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO accounts (unb, name, nickname, created_at, updated_at, status, \
                 last_checked, last_refreshed, consecutive_failures, next_attempt_at, proxy, \
                 user_agent, revision, long_login_refused, long_login_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            for (a, cookies) in batch {
                if replace {
                    tx.execute(
                        "DELETE FROM cookies WHERE account_id IN (SELECT id FROM accounts WHERE unb = ?1)",
                        [&a.unb],
                    )?;
                    tx.execute("DELETE FROM accounts WHERE unb = ?1", [&a.unb])?;
                }
                insert.execute(params![
                    a.unb,
                    a.name,
                    a.nickname,
                    a.created_at,
                    a.updated_at,
                    a.status.as_str(),
                    a.last_checked,
                    a.last_refreshed,
                    a.consecutive_failures,
                    a.next_attempt_at,
                    a.proxy,
                    a.user_agent,
                    a.revision,
                    a.long_login_refused,
                    a.long_login_until
                ])?;
                replace_cookies(tx, tx.last_insert_rowid(), cookies)?;
            }
            Ok(())
        })
    }

    fn identities(&self) -> R<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT unb, name FROM accounts")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn cookie_counts(&self) -> R<HashMap<String, usize>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT a.unb, (SELECT count(*) FROM cookies c WHERE c.account_id = a.id) \
                 FROM accounts a",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// One account of `save_all`, in the caller's transaction. `Ok(Err(_))`: its name cannot
/// be given, and nothing of it was written.
fn save_one(tx: &Connection, item: &ToSave<'_>, now: i64) -> rusqlite::Result<R<SavedAs>> {
    let ToSave {
        new,
        cookies,
        long_login_until,
    } = item;
    let (new, long_login_until) = (*new, *long_login_until);
    // Cached statements: an import saves thousands of accounts in a row.
    let existing: Option<(i64, String)> = tx
        .prepare_cached("SELECT id, name FROM accounts WHERE unb = ?1")?
        .query_row([&new.unb], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut owner = |name: &str| {
        tx.prepare_cached("SELECT unb FROM accounts WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()
    };
    let (name, saved) = match plan_name(new, existing.as_ref(), &mut owner)? {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let refreshed = new.refreshed.then_some(now);
    let id = match existing {
        Some((id, _)) if new.refreshed => {
            // A login: the cookies were just validated, the slate is clean.
            tx.prepare_cached(
                "UPDATE accounts SET name = ?2, nickname = COALESCE(?3, nickname), \
                     updated_at = ?4, status = ?5, last_refreshed = ?6, last_checked = ?6, \
                     consecutive_failures = 0, next_attempt_at = NULL, proxy = ?7, \
                     user_agent = COALESCE(?8, user_agent), revision = revision + 1, \
                     long_login_refused = 0, long_login_until = ?9 WHERE id = ?1",
            )?
            .execute(params![
                id,
                name,
                new.nickname,
                now,
                new.status.as_str(),
                refreshed,
                new.proxy,
                new.user_agent,
                long_login_until
            ])?;
            id
        }
        Some((id, _)) => {
            // An import: the history stays; the new cookies are checked on the
            // next refresh, whatever cooldown the old ones had earned.
            tx.prepare_cached(
                "UPDATE accounts SET name = ?2, nickname = COALESCE(?3, nickname), \
                     updated_at = ?4, consecutive_failures = 0, next_attempt_at = NULL, \
                     proxy = COALESCE(?5, proxy), user_agent = COALESCE(?6, user_agent), \
                     revision = revision + 1, long_login_refused = 0, long_login_until = ?7 \
                     WHERE id = ?1",
            )?
            .execute(params![
                id,
                name,
                new.nickname,
                now,
                new.proxy,
                new.user_agent,
                long_login_until
            ])?;
            id
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO accounts (unb, name, nickname, created_at, updated_at, status, \
                     last_checked, last_refreshed, proxy, user_agent, long_login_until) \
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                new.unb,
                name,
                new.nickname,
                now,
                new.status.as_str(),
                refreshed,
                new.proxy,
                new.user_agent,
                long_login_until
            ])?;
            tx.last_insert_rowid()
        }
    };
    replace_cookies(tx, id, cookies)?;
    Ok(Ok(SavedAs { id, name, saved }))
}
