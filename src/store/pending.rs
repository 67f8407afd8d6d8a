//! Pending logins: a QR shown by `add-account --no-wait`, to be finished by any later
//! process (on any host sharing the store) with `--resume ID`. They hold the login's
//! cookie jar, `ck` and form, sealed like cookies, and are removed once expired.

use super::model::{PendingLogin, PendingRow, PendingSummary};
use super::{Store, StoreError};
use crate::cookies::{export, import};
use crate::vault;
use std::path::PathBuf;
use url::Url;
use zeroize::Zeroizing;

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
        self.db.save_pending(&PendingRow {
            id: p.id.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            name: p.name.clone(),
            qr_t: p.t.to_string(),
            ck,
            qr_content: p.qr_content.clone(),
            form,
            cookies,
            user_agent: p.user_agent.clone(),
            proxy: p.proxy.clone(),
            passport_url: p.passport_url.to_string(),
            h5api_url: p.h5api_url.to_string(),
            www_url: p.www_url.to_string(),
            qr_png: p.qr_png.as_ref().map(|q| q.to_string_lossy().into_owned()),
            qr_png_mode: Some(i64::from(p.qr_png_mode)),
            key_id: Some(key_id),
        })
    }

    /// Remove expired pending logins; returns how many.
    pub fn purge_pending(&self, now: i64) -> Result<usize, StoreError> {
        let n = self.db.purge_pending(now)?;
        if n > 0 {
            // Best effort: pending logins expire anyway, and the next purge tries again.
            self.db.checkpoint()?;
        }
        Ok(n)
    }

    pub fn delete_pending(&self, id: &str) -> Result<(), StoreError> {
        self.db.delete_pending(id)?;
        self.db.checkpoint().map(|_| ())
    }

    /// Every pending login (without its cookies), oldest first.
    pub fn list_pending(&self) -> Result<Vec<PendingSummary>, StoreError> {
        self.db.list_pending()
    }

    /// The pending login `id`; an unknown id is exit 8, an expired one exit 3 (and removed).
    pub fn pending(&self, id: &str, now: i64) -> Result<PendingLogin, StoreError> {
        let Some(row) = self.db.pending_row(id)? else {
            let known: Vec<String> = self.list_pending()?.into_iter().map(|p| p.id).collect();
            return Err(StoreError::PendingNotFound {
                id: id.to_owned(),
                known,
            });
        };
        if row.expires_at <= now {
            self.delete_pending(id)?;
            return Err(StoreError::PendingExpired {
                id: id.to_owned(),
                at: row.expires_at,
            });
        }
        let corrupt = |what: &str| StoreError::PendingCorrupt {
            id: id.to_owned(),
            what: what.to_owned(),
        };
        let url = |s: &str| Url::parse(s).map_err(|_| corrupt("URL"));
        // Sealed fields open with the attached keys; rows from before v4 are plain text.
        let open = |field: &str, stored: String| -> Result<Zeroizing<String>, StoreError> {
            let Some(key_id) = &row.key_id else {
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
        let form = open("form", row.form.clone())?;
        let cookies = open("cookies", row.cookies.clone())?;
        let ck = open("ck", row.ck.clone())?.to_string();
        Ok(PendingLogin {
            id: id.to_owned(),
            created_at: row.created_at,
            expires_at: row.expires_at,
            name: row.name.clone(),
            t: row.qr_t.parse().map_err(|_| corrupt("QR"))?,
            ck,
            qr_content: row.qr_content.clone(),
            form: serde_json::from_str(&form).map_err(|_| corrupt("form"))?,
            cookies: import::parse_json(&cookies).map_err(|_| corrupt("cookies"))?,
            user_agent: row.user_agent.clone(),
            proxy: row.proxy.clone(),
            passport_url: url(&row.passport_url)?,
            h5api_url: url(&row.h5api_url)?,
            www_url: url(&row.www_url)?,
            qr_png: row.qr_png.clone().map(PathBuf::from),
            qr_png_mode: row
                .qr_png_mode
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(0o600),
        })
    }

    /// Re-seal pending logins in plain text or (with `retired`) under another key.
    pub(super) fn reseal_pending(&self, retired: bool) -> Result<(), StoreError> {
        let current = self.sealing_keys()?.current().id().to_owned();
        for id in self.db.pending_to_reseal(&current, retired)? {
            // Expired ones too: `pending` removes them when asked, not here.
            let p = self.pending(&id, i64::MIN)?;
            self.save_pending(&p)?;
        }
        Ok(())
    }
}
