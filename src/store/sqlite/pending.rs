//! Pending logins in SQLite.

use super::Sqlite;
use crate::store::backend::{Pending, R};
use crate::store::model::{PendingRow, PendingSummary};
use rusqlite::{OptionalExtension, params};

impl Pending for Sqlite {
    fn save_pending(&self, p: &PendingRow) -> R<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO pending_logins (id, created_at, expires_at, name, qr_t, qr_ck, qr_content, \
                 form, cookies, user_agent, proxy, passport_url, h5api_url, www_url, qr_png, \
                 qr_png_mode, key_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    p.id,
                    p.created_at,
                    p.expires_at,
                    p.name,
                    p.qr_t,
                    p.ck,
                    p.qr_content,
                    p.form,
                    p.cookies,
                    p.user_agent,
                    p.proxy,
                    p.passport_url,
                    p.h5api_url,
                    p.www_url,
                    p.qr_png,
                    p.qr_png_mode,
                    p.key_id
                ],
            )?;
            Ok(())
        })
    }

    fn purge_pending(&self, now: i64) -> R<usize> {
        self.write(|tx| tx.execute("DELETE FROM pending_logins WHERE expires_at <= ?1", [now]))
    }

    fn delete_pending(&self, id: &str) -> R<()> {
        self.write(|tx| tx.execute("DELETE FROM pending_logins WHERE id = ?1", [id]))
            .map(|_| ())
    }

    fn list_pending(&self) -> R<Vec<PendingSummary>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, name, created_at, expires_at FROM pending_logins ORDER BY created_at, id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PendingSummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn pending_row(&self, id: &str) -> R<Option<PendingRow>> {
        self.conn()
            .query_row(
                "SELECT created_at, expires_at, name, qr_t, qr_ck, qr_content, form, cookies, user_agent, \
                 proxy, passport_url, h5api_url, www_url, qr_png, qr_png_mode, key_id \
                 FROM pending_logins WHERE id = ?1",
                [id],
                |r| {
                    Ok(PendingRow {
                        id: id.to_owned(),
                        created_at: r.get(0)?,
                        expires_at: r.get(1)?,
                        name: r.get(2)?,
                        qr_t: r.get(3)?,
                        ck: r.get(4)?,
                        qr_content: r.get(5)?,
                        form: r.get(6)?,
                        cookies: r.get(7)?,
                        user_agent: r.get(8)?,
                        proxy: r.get(9)?,
                        passport_url: r.get(10)?,
                        h5api_url: r.get(11)?,
                        www_url: r.get(12)?,
                        qr_png: r.get(13)?,
                        qr_png_mode: r.get(14)?,
                        key_id: r.get(15)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn pending_to_reseal(&self, current: &str, retired: bool) -> R<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT id FROM pending_logins \
                 WHERE key_id IS NULL OR (?2 AND key_id != ?1)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![current, retired], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
