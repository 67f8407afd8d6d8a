//! Key ids in SQLite: which keys the stored values are under, and re-sealing an account.

use super::Sqlite;
use super::accounts::{cookie_rows, replace_cookies};
use crate::store::backend::{Keys, R, Rewrite};
use crate::store::model::KeyUsage;
use rusqlite::OptionalExtension;

/// The key ids in use, the cookies' read from their index one id at a time (a skip scan,
/// as PostgreSQL's `KEY_IDS`): a `DISTINCT` read every entry of the index before every
/// write.
const KEY_IDS: &str = "WITH RECURSIVE k(id) AS ( \
       SELECT min(key_id) FROM cookies \
       UNION ALL SELECT (SELECT min(key_id) FROM cookies WHERE key_id > k.id) FROM k \
       WHERE k.id IS NOT NULL) \
     SELECT id FROM k WHERE id IS NOT NULL \
     UNION SELECT key_id FROM pending_logins WHERE key_id IS NOT NULL";

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
        let mut stmt = self.conn().prepare(KEY_IDS).map_err(|e| self.err(e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The skip scan finds every key id, not only the least, and none for plain text.
    #[test]
    fn key_ids_are_every_distinct_id_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = Sqlite::open(&dir.path().join("a.db")).unwrap();
        db.conn()
            .execute_batch(
                "INSERT INTO accounts (id, unb, name, created_at, updated_at) VALUES (1, 'u', 'n', 0, 0);
                 INSERT INTO cookies (account_id, name, value, domain, host_only, path, secure, http_only, key_id)
                 VALUES (1, 'a', 'v', 'd', 0, '/', 0, 0, 'k2'), (1, 'b', 'v', 'd', 0, '/', 0, 0, NULL),
                        (1, 'c', 'v', 'd', 0, '/', 0, 0, 'k1'), (1, 'd', 'v', 'd', 0, '/', 0, 0, 'k2'),
                        (1, 'e', 'v', 'd', 0, '/', 0, 0, 'k3');",
            )
            .unwrap();
        let mut ids = db.key_ids().unwrap();
        ids.sort();
        assert_eq!(ids, ["k1", "k2", "k3"]);
    }
}
