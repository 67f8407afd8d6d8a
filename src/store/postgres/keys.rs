//! Pending logins and key ids in PostgreSQL.

use super::Postgres;
use crate::store::backend::{Keys, Pending, R, Rewrite};
use crate::store::model::{KeyUsage, PendingRow, PendingSummary};

impl Pending for Postgres {
    fn save_pending(&self, p: &PendingRow) -> R<()> {
        self.execute(
            "INSERT INTO pending_logins (id, created_at, expires_at, name, qr_t, qr_ck, qr_content, \
             form, cookies, user_agent, proxy, passport_url, h5api_url, www_url, qr_png, \
             qr_png_mode, key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, \
             expires_at = EXCLUDED.expires_at, name = EXCLUDED.name, qr_t = EXCLUDED.qr_t, \
             qr_ck = EXCLUDED.qr_ck, qr_content = EXCLUDED.qr_content, form = EXCLUDED.form, \
             cookies = EXCLUDED.cookies, user_agent = EXCLUDED.user_agent, \
             proxy = EXCLUDED.proxy, passport_url = EXCLUDED.passport_url, \
             h5api_url = EXCLUDED.h5api_url, www_url = EXCLUDED.www_url, \
             qr_png = EXCLUDED.qr_png, qr_png_mode = EXCLUDED.qr_png_mode, \
             key_id = EXCLUDED.key_id",
            &[
                &p.id,
                &p.created_at,
                &p.expires_at,
                &p.name,
                &p.qr_t,
                &p.ck,
                &p.qr_content,
                &p.form,
                &p.cookies,
                &p.user_agent,
                &p.proxy,
                &p.passport_url,
                &p.h5api_url,
                &p.www_url,
                &p.qr_png,
                &p.qr_png_mode,
                &p.key_id,
            ],
        )?;
        Ok(())
    }

    fn purge_pending(&self, now: i64) -> R<usize> {
        let n = self.execute("DELETE FROM pending_logins WHERE expires_at <= $1", &[&now])?;
        Ok(n as usize)
    }

    fn delete_pending(&self, id: &str) -> R<()> {
        self.execute("DELETE FROM pending_logins WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn list_pending(&self) -> R<Vec<PendingSummary>> {
        let rows = self.query(
            "SELECT id, name, created_at, expires_at FROM pending_logins ORDER BY created_at, id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| PendingSummary {
                id: r.get(0),
                name: r.get(1),
                created_at: r.get(2),
                expires_at: r.get(3),
            })
            .collect())
    }

    fn pending_row(&self, id: &str) -> R<Option<PendingRow>> {
        let row = self.query_opt(
            "SELECT created_at, expires_at, name, qr_t, qr_ck, qr_content, form, cookies, \
             user_agent, proxy, passport_url, h5api_url, www_url, qr_png, qr_png_mode, key_id \
             FROM pending_logins WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| PendingRow {
            id: id.to_owned(),
            created_at: r.get(0),
            expires_at: r.get(1),
            name: r.get(2),
            qr_t: r.get(3),
            ck: r.get(4),
            qr_content: r.get(5),
            form: r.get(6),
            cookies: r.get(7),
            user_agent: r.get(8),
            proxy: r.get(9),
            passport_url: r.get(10),
            h5api_url: r.get(11),
            www_url: r.get(12),
            qr_png: r.get(13),
            qr_png_mode: r.get(14),
            key_id: r.get(15),
        }))
    }

    fn pending_to_reseal(&self, current: &str, retired: bool) -> R<Vec<String>> {
        let rows = self.query(
            "SELECT id FROM pending_logins WHERE key_id IS NULL OR ($2 AND key_id != $1)",
            &[&current, &retired],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// The key ids in use. The cookies' are read from their index one id at a time, each the
/// least above the last (a skip scan): a `DISTINCT` read every row of the index, a
/// quarter of a second at 100,000 accounts for every process that writes.
const KEY_IDS: &str = "WITH RECURSIVE k(id) AS ( \
       SELECT min(key_id) FROM cookies \
       UNION ALL SELECT (SELECT min(key_id) FROM cookies WHERE key_id > k.id) FROM k \
       WHERE k.id IS NOT NULL) \
     SELECT id FROM k WHERE id IS NOT NULL \
     UNION SELECT key_id FROM pending_logins WHERE key_id IS NOT NULL";

impl Keys for Postgres {
    fn has_values(&self, sealed: bool) -> R<bool> {
        // Two statements, not `(key_id IS NOT NULL) = $1`: only a plain IS [NOT] NULL can
        // be answered from the index, where no match would otherwise read every row.
        let sql = if sealed {
            "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NOT NULL)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NULL) \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NULL)"
        };
        let rows = self.query(sql, &[])?;
        Ok(rows.first().is_some_and(|r| r.get(0)))
    }

    fn key_ids(&self) -> R<Vec<String>> {
        let rows = self.query(KEY_IDS, &[])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn key_user(&self, key_id: &str) -> R<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.key_id = $1 LIMIT 1",
                &[&key_id],
            )?
            .map(|r| r.get(0)))
    }

    fn key_usage(&self) -> R<Vec<KeyUsage>> {
        let rows = self.query(
            "SELECT key_id, SUM(v)::int8, SUM(a)::int8, SUM(p)::int8 FROM ( \
               SELECT key_id, COUNT(*) AS v, COUNT(DISTINCT account_id) AS a, 0 AS p \
               FROM cookies GROUP BY key_id \
               UNION ALL \
               SELECT key_id, 0, 0, COUNT(*) FROM pending_logins GROUP BY key_id) u \
             GROUP BY key_id ORDER BY key_id NULLS FIRST",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| KeyUsage {
                key_id: r.get(0),
                values: r.get(1),
                accounts: r.get(2),
                pending: r.get(3),
            })
            .collect())
    }

    fn accounts_to_reseal(&self, current: &str, retired: bool) -> R<Vec<i64>> {
        let rows = self.query(
            "SELECT DISTINCT account_id FROM cookies \
             WHERE key_id IS NULL OR ($2 AND key_id != $1)",
            &[&current, &retired],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn rewrite_cookies(&self, account_id: i64, f: Rewrite<'_>) -> R<()> {
        self.tx(|| {
            // FOR UPDATE: a refresh on another host recording this account waits for the
            // re-sealed values instead of writing over them with the old key's.
            let Some(row) = self.query_opt(
                "SELECT unb FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account_id],
            )?
            else {
                return Ok(());
            };
            let unb: String = row.get(0);
            let rows = self.cookie_rows_of(account_id)?;
            // The same cookies re-sealed: the long-login expiry stays as it is.
            let new = f(&unb, rows)?;
            self.replace_cookies(account_id, &new)
        })
    }

    fn first_sealed_account(&self) -> R<Option<(i64, String)>> {
        Ok(self
            .query_opt(
                "SELECT a.id, a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.key_id IS NOT NULL LIMIT 1",
                &[],
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn name_of(&self, account_id: i64) -> R<Option<String>> {
        Ok(self
            .query_opt("SELECT name FROM accounts WHERE id = $1", &[&account_id])?
            .map(|r| r.get(0)))
    }
}
