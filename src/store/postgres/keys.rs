//! Pending logins and key ids in PostgreSQL.

use super::{Postgres, cookie_set};
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

/// The key ids in use. The cookie sets' are read from their index one `keys` value at a
/// time, each the least above the last (a skip scan): a fleet's sets share a few such
/// values, and a `DISTINCT` would read every entry of the index, a quarter of a second at
/// 100,000 accounts for every process that writes.
const KEY_IDS: &str = "WITH RECURSIVE k(ids) AS ( \
       SELECT min(keys) FROM cookie_sets WHERE keys > '' \
       UNION ALL SELECT (SELECT min(keys) FROM cookie_sets WHERE keys > k.ids) FROM k \
       WHERE k.ids IS NOT NULL) \
     SELECT ids FROM k WHERE ids IS NOT NULL \
     UNION SELECT key_id FROM pending_logins WHERE key_id IS NOT NULL";

/// Values, accounts and pending logins per key id. A set under one key (or none) is
/// counted from its columns; only a set that mixes keys, or keys and plain text, is
/// opened, by the server, to count its values key by key.
const KEY_USAGE: &str = "SELECT key_id, SUM(v)::int8, SUM(a)::int8, SUM(p)::int8 FROM ( \
       SELECT NULLIF(keys, '') AS key_id, SUM(count)::int8 AS v, COUNT(*) AS a, 0::int8 AS p \
       FROM cookie_sets WHERE count > 0 AND keys NOT LIKE '% %' AND NOT (plain AND keys <> '') \
       GROUP BY 1 \
       UNION ALL \
       SELECT e->>9, COUNT(*), COUNT(DISTINCT account_id), 0 \
       FROM cookie_sets, json_array_elements(cookies::json) e \
       WHERE keys LIKE '% %' OR (plain AND keys <> '') GROUP BY 1 \
       UNION ALL \
       SELECT key_id, 0, 0, COUNT(*) FROM pending_logins GROUP BY key_id) u \
     GROUP BY key_id ORDER BY key_id NULLS FIRST";

impl Keys for Postgres {
    fn has_values(&self, sealed: bool) -> R<bool> {
        // Two statements, each answered from an index (`keys`, or the partial one of sets
        // with plain text), where no match would otherwise read every row.
        let sql = if sealed {
            "SELECT EXISTS (SELECT 1 FROM cookie_sets WHERE keys > '') \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NOT NULL)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM cookie_sets WHERE plain) \
             OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NULL)"
        };
        let rows = self.query(sql, &[])?;
        Ok(rows.first().is_some_and(|r| r.get(0)))
    }

    fn key_ids(&self) -> R<Vec<String>> {
        let mut ids = std::collections::BTreeSet::new();
        for r in self.query(KEY_IDS, &[])? {
            let keys: String = r.get(0);
            ids.extend(cookie_set::key_ids(&keys).map(str::to_owned));
        }
        Ok(ids.into_iter().collect())
    }

    fn key_user(&self, key_id: &str) -> R<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT a.name FROM cookie_sets c JOIN accounts a ON a.id = c.account_id \
                 WHERE $1 = ANY(string_to_array(c.keys, ' ')) LIMIT 1",
                &[&key_id],
            )?
            .map(|r| r.get(0)))
    }

    fn key_usage(&self) -> R<Vec<KeyUsage>> {
        let rows = self.query(KEY_USAGE, &[])?;
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
            "SELECT account_id FROM cookie_sets \
             WHERE plain OR ($2 AND keys NOT IN ('', $1)) ORDER BY account_id",
            &[&current, &retired],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn rewrite_cookies(&self, account_id: i64, f: Rewrite<'_>) -> R<()> {
        self.tx(|| {
            // FOR UPDATE: a refresh on another host recording this account waits for the
            // re-sealed values. Its cookie set, written whole after, is sealed whole with
            // the key it holds: a key the file keeps (retired) while any value is under
            // it. The revision stays: the renewal it records is newer than these values.
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
                "SELECT a.id, a.name FROM cookie_sets c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.keys > '' LIMIT 1",
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
