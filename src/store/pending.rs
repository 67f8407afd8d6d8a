//! Pending logins: a QR shown by `add-account --no-wait`, to be finished by any later
//! process with `--resume ID`. They hold the login's cookie jar, so they get the same
//! protection as accounts and are removed once expired.

use super::{Store, StoreError};
use crate::cookies::{Cookie, export, import};
use crate::vault;
use rusqlite::{OptionalExtension, params};
use std::path::PathBuf;
use url::Url;
use zeroize::Zeroizing;

#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub name: Option<String>,
    pub t: u64,
    pub ck: String,
    pub qr_content: String,
    pub form: Vec<(String, String)>,
    pub cookies: Vec<Cookie>,
    pub user_agent: String,
    pub proxy: Option<String>,
    pub passport_url: Url,
    pub h5api_url: Url,
    pub www_url: Url,
    /// `--qr-png` of the `--no-wait` run and its file mode: `--resume` writes every new QR
    /// there too, so whoever scans from that file never sees a dead code.
    pub qr_png: Option<PathBuf>,
    pub qr_png_mode: u32,
}

/// A pending login as `qrlogin pending` lists it.
#[derive(Debug, Clone)]
pub struct PendingSummary {
    pub id: String,
    pub name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Save (or replace) a pending login, its jar, form and `ck` sealed under the current key.
    pub fn save_pending(&self, p: &PendingLogin) -> Result<(), StoreError> {
        let keys = self.sealing_keys()?;
        let form = Zeroizing::new(serde_json::to_string(&p.form).unwrap_or_else(|_| "[]".into()));
        // The jar in qrlogin's JSON export format: every attribute, read back by `import`.
        let cookies = Zeroizing::new(export::render(
            export::Format::Json,
            &p.cookies,
            &p.www_url,
            0,
        ));
        let seal = |field: &str, plain: &str| {
            keys.seal(plain.as_bytes(), &vault::pending_aad(&p.id, field))
        };
        let (key_id, form) = seal("form", &form);
        let (_, cookies) = seal("cookies", &cookies);
        let (_, ck) = seal("ck", &p.ck);
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
                    p.t.to_string(),
                    ck,
                    p.qr_content,
                    form,
                    cookies,
                    p.user_agent,
                    p.proxy,
                    p.passport_url.as_str(),
                    p.h5api_url.as_str(),
                    p.www_url.as_str(),
                    p.qr_png.as_ref().map(|q| q.to_string_lossy().into_owned()),
                    p.qr_png_mode,
                    key_id
                ],
            )?;
            Ok(())
        })
    }

    /// Remove expired pending logins; returns how many.
    pub fn purge_pending(&self, now: i64) -> Result<usize, StoreError> {
        let n = self
            .write(|tx| tx.execute("DELETE FROM pending_logins WHERE expires_at <= ?1", [now]))?;
        if n > 0 {
            // Best effort: pending logins expire anyway, and the next purge tries again.
            self.checkpoint()?;
        }
        Ok(n)
    }

    pub fn delete_pending(&self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| tx.execute("DELETE FROM pending_logins WHERE id = ?1", [id]))?;
        self.checkpoint().map(|_| ())
    }

    /// Every pending login (without its cookies), oldest first.
    pub fn list_pending(&self) -> Result<Vec<PendingSummary>, StoreError> {
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

    /// The pending login `id`; an unknown id is exit 8, an expired one exit 3 (and removed).
    pub fn pending(&self, id: &str, now: i64) -> Result<PendingLogin, StoreError> {
        type Row = (
            i64,
            i64,
            Option<String>,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            String,
            String,
            Option<String>,
            Option<u32>,
            Option<String>,
        );
        let row: Option<Row> = self
            .conn()
            .query_row(
                "SELECT created_at, expires_at, name, qr_t, qr_ck, qr_content, form, cookies, user_agent, \
                 proxy, passport_url, h5api_url, www_url, qr_png, qr_png_mode, key_id \
                 FROM pending_logins WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?,
                        r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?,
                        r.get(13)?, r.get(14)?, r.get(15)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((
            created_at,
            expires_at,
            name,
            t,
            ck,
            qr_content,
            form,
            cookies,
            user_agent,
            proxy,
            pp,
            h5,
            www,
            qr_png,
            qr_png_mode,
            key_id,
        )) = row
        else {
            let known: Vec<String> = self.list_pending()?.into_iter().map(|p| p.id).collect();
            return Err(StoreError::PendingNotFound {
                id: id.to_owned(),
                known,
            });
        };
        if expires_at <= now {
            self.delete_pending(id)?;
            return Err(StoreError::PendingExpired {
                id: id.to_owned(),
                at: expires_at,
            });
        }
        let corrupt = |what: &str| StoreError::PendingCorrupt {
            id: id.to_owned(),
            what: what.to_owned(),
        };
        let url = |s: &str| Url::parse(s).map_err(|_| corrupt("URL"));
        // Sealed fields open with the attached keys; rows from before v4 are plain text.
        let open = |field: &str, stored: String| -> Result<Zeroizing<String>, StoreError> {
            let Some(key_id) = &key_id else {
                return Ok(Zeroizing::new(stored));
            };
            let keys = self.sealing_keys()?;
            keys.open(key_id, &stored, &vault::pending_aad(id, field))
                .map_err(|e| {
                    super::sealed::open_failed(
                        e,
                        Some(keys),
                        &format!("pending login {id}"),
                        &format!("its {field}"),
                    )
                })
        };
        let form = open("form", form)?;
        let cookies = open("cookies", cookies)?;
        let ck = open("ck", ck)?.to_string();
        Ok(PendingLogin {
            id: id.to_owned(),
            created_at,
            expires_at,
            name,
            t: t.parse().map_err(|_| corrupt("QR"))?,
            ck,
            qr_content,
            form: serde_json::from_str(&form).map_err(|_| corrupt("form"))?,
            cookies: import::parse_json(&cookies).map_err(|_| corrupt("cookies"))?,
            user_agent,
            proxy,
            passport_url: url(&pp)?,
            h5api_url: url(&h5)?,
            www_url: url(&www)?,
            qr_png: qr_png.map(PathBuf::from),
            qr_png_mode: qr_png_mode.unwrap_or(0o600),
        })
    }

    /// Re-seal pending logins in plain text or (with `retired`) under another key.
    pub(super) fn reseal_pending(&self, retired: bool) -> Result<(), StoreError> {
        let current = self.sealing_keys()?.current().id().to_owned();
        let ids: Vec<String> = {
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
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        for id in ids {
            // Expired ones too: `pending` removes them when asked, not here.
            let p = self.pending(&id, i64::MIN)?;
            self.save_pending(&p)?;
        }
        Ok(())
    }
}
