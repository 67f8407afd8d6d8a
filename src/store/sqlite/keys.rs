//! Key ids in SQLite: which keys the stored values are under, and re-sealing an account.

use super::Sqlite;
use super::accounts::{cookie_rows, replace_cookies};
use crate::store::backend::{Keys, R, Rewrite};
use crate::store::model::KeyUsage;
use rusqlite::OptionalExtension;

impl Keys for Sqlite {
    fn has_values(&self, sealed: bool) -> R<bool> {
        let sql = if sealed {
            "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NOT NULL)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NULL) \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NULL)"
        };
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn key_ids(&self) -> R<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT DISTINCT key_id FROM cookies WHERE key_id IS NOT NULL \
                 UNION SELECT DISTINCT key_id FROM pending_logins WHERE key_id IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn key_user(&self, key_id: &str) -> R<Option<String>> {
        self.conn()
            .query_row(
                "SELECT a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.key_id = ?1 LIMIT 1",
                [key_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn key_usage(&self) -> R<Vec<KeyUsage>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT key_id, SUM(v), SUM(a), SUM(p) FROM ( \
                   SELECT key_id, COUNT(*) AS v, COUNT(DISTINCT account_id) AS a, 0 AS p \
                   FROM cookies GROUP BY key_id \
                   UNION ALL \
                   SELECT key_id, 0, 0, COUNT(*) FROM pending_logins GROUP BY key_id) \
                 GROUP BY key_id ORDER BY key_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(KeyUsage {
                    key_id: r.get(0)?,
                    values: r.get(1)?,
                    accounts: r.get(2)?,
                    pending: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn accounts_to_reseal(&self, current: &str, retired: bool) -> R<Vec<i64>> {
        let sql = if retired {
            "SELECT DISTINCT account_id FROM cookies WHERE key_id IS NULL OR key_id != ?1"
        } else {
            "SELECT DISTINCT account_id FROM cookies WHERE key_id IS NULL AND ?1 IS NOT NULL"
        };
        let mut stmt = self.conn().prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([current], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn rewrite_cookies(&self, account_id: i64, f: Rewrite<'_>) -> R<()> {
        // `transact`, not `write`: `f` refuses in StoreError, and that undoes the rest.
        // The same cookies re-sealed: the long-login expiry stays.
        let err = |e| self.err(e);
        self.transact(|tx| {
            let unb: String = tx
                .query_row(
                    "SELECT unb FROM accounts WHERE id = ?1",
                    [account_id],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let rows = cookie_rows(tx, account_id).map_err(err)?;
            let new = f(&unb, rows)?;
            replace_cookies(tx, account_id, &new).map_err(err)
        })
    }

    fn first_sealed_account(&self) -> R<Option<(i64, String)>> {
        self.conn()
            .query_row(
                "SELECT a.id, a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.key_id IS NOT NULL LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn name_of(&self, account_id: i64) -> R<Option<String>> {
        self.conn()
            .query_row(
                "SELECT name FROM accounts WHERE id = ?1",
                [account_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
