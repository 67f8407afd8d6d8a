//! Stored secrets, sealed: every cookie value and a pending login's jar and tokens are
//! written encrypted under the current key (`vault`), each with the key's id beside it
//! (`key_id`; NULL only in rows written before encryption existed). Everything else in a
//! row stays readable, so `list`, `show`, `pending` and `doctor` work without the key.
//!
//! The rules: nothing is ever written in plain text (a write without a key is refused);
//! a value that does not open is an error naming the account, never an empty value saved
//! back; a store holding values under a key this process does not have refuses writes
//! (`attach_keys`), so a wrong key never overwrites values sealed with the right one.

use super::{Store, StoreError};
use crate::cookies::{self, Cookie, SameSite};
use crate::redacted::Secret;
use crate::vault::{self, Keyring, OpenError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Makes the first key (see `Store::make_key_on_first_write`).
pub type KeyMaker = Box<dyn Fn() -> Result<Keyring, vault::VaultError> + Send>;

/// How many values (and accounts) are under each key id; `None` is plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: Option<String>,
    pub values: i64,
    pub accounts: i64,
    pub pending: i64,
}

/// Read an account's cookies. With `keys`, sealed values are opened (an error names the
/// account); without, they are withheld as empty values, for commands that show only
/// names and attributes. Plain-text rows (written before encryption) read as they are.
pub(crate) fn load_cookies(
    conn: &Connection,
    keys: Option<&Keyring>,
    account_id: i64,
) -> Result<Vec<Cookie>, LoadError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.name, c.value, c.domain, c.host_only, c.path, c.expires, c.secure, \
         c.http_only, c.same_site, c.key_id, a.unb \
         FROM cookies c JOIN accounts a ON a.id = c.account_id \
         WHERE c.account_id = ?1 ORDER BY c.rowid",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        Ok((
            Cookie {
                name: r.get(0)?,
                value: Secret::new(r.get::<_, String>(1)?),
                domain: r.get(2)?,
                host_only: r.get(3)?,
                path: r.get(4)?,
                expires: r.get(5)?,
                secure: r.get(6)?,
                http_only: r.get(7)?,
                same_site: r
                    .get::<_, Option<String>>(8)?
                    .as_deref()
                    .and_then(SameSite::parse),
            },
            r.get::<_, Option<String>>(9)?,
            r.get::<_, String>(10)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut c, key_id, unb) = row?;
        if let Some(key_id) = key_id {
            c.value = match keys {
                None => Secret::default(),
                Some(ring) => {
                    let aad = vault::cookie_aad(&unb, &c.name, &c.domain, c.host_only, &c.path);
                    match ring.open(&key_id, c.value.expose(), &aad) {
                        Ok(plain) => Secret::new(plain.as_str()),
                        Err(error) => {
                            return Err(LoadError::Open {
                                cookie: c.name,
                                error,
                            });
                        }
                    }
                }
            };
        }
        out.push(c);
    }
    Ok(out)
}

/// Why an account's cookies could not be read; `Store::load_error` adds the account.
#[derive(Debug)]
pub(crate) enum LoadError {
    Sql(rusqlite::Error),
    Open { cookie: String, error: OpenError },
}

impl From<rusqlite::Error> for LoadError {
    fn from(e: rusqlite::Error) -> Self {
        LoadError::Sql(e)
    }
}

/// Replace every cookie of an account, sealed under the current key, and keep the
/// readable long-login expiry beside them. Called inside the account's transaction only.
pub(crate) fn replace_cookies(
    tx: &Transaction<'_>,
    keys: &Keyring,
    account_id: i64,
    cookies: &[Cookie],
) -> rusqlite::Result<()> {
    // Every statement here is cached: a refresh of many accounts runs them once each, and
    // compiling SQL was a visible part of its CPU.
    let unb: String = tx
        .prepare_cached("SELECT unb FROM accounts WHERE id = ?1")?
        .query_row([account_id], |r| r.get(0))?;
    tx.prepare_cached("DELETE FROM cookies WHERE account_id = ?1")?
        .execute([account_id])?;
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO cookies \
         (account_id, name, value, domain, host_only, path, expires, secure, http_only, same_site, key_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for c in cookies {
        let aad = vault::cookie_aad(&unb, &c.name, &c.domain, c.host_only, &c.path);
        let (key_id, sealed) = keys.seal(c.value.expose().as_bytes(), &aad);
        stmt.execute(params![
            account_id,
            c.name,
            sealed,
            c.domain,
            c.host_only,
            c.path,
            c.expires,
            c.secure,
            c.http_only,
            c.same_site.map(SameSite::as_str),
            key_id,
        ])?;
    }
    tx.prepare_cached("UPDATE accounts SET long_login_until = ?2 WHERE id = ?1")?
        .execute(params![account_id, cookies::long_login_expiry(cookies)])?;
    Ok(())
}

impl Store {
    /// Use `keys` for this store's secrets. A writer (`write`) is refused when the store
    /// holds values under a key `keys` lacks: writing beside them under another key would
    /// leave a store no single key opens, and is the mark of a wrong key.
    pub fn attach_keys(&mut self, keys: Keyring, write: bool) -> Result<(), StoreError> {
        if write {
            if let Some((id, account)) = self.first_unknown_key(&keys)? {
                return Err(StoreError::WrongKey {
                    account,
                    key_id: id,
                    using: describe(&keys),
                });
            }
        }
        self.keys = std::cell::OnceCell::from(keys);
        Ok(())
    }

    /// No key exists yet: `make` makes one when the first secret is written, so a command
    /// that ends up writing nothing (a failed login) leaves no key behind.
    pub fn make_key_on_first_write(&mut self, make: KeyMaker) {
        self.make_key = Some(make);
    }

    /// A store with a throwaway key attached: unit tests of what is stored.
    #[cfg(test)]
    pub(crate) fn open_sealed_for_tests(path: &std::path::Path) -> Store {
        let mut s = Store::open(path).unwrap();
        s.attach_keys(Keyring::ephemeral(), true).unwrap();
        s
    }

    pub fn keys(&self) -> Option<&Keyring> {
        self.keys.get()
    }

    /// The keyring for a write, made now if this is the first one; a write without one
    /// would store plain text, and is refused.
    pub(crate) fn sealing_keys(&self) -> Result<&Keyring, StoreError> {
        if self.keys.get().is_none() {
            if let Some(make) = &self.make_key {
                let _ = self.keys.set(make()?);
            }
        }
        self.keys
            .get()
            .ok_or(StoreError::Vault(vault::VaultError::NoKey {
                default: None,
            }))
    }

    /// Whether any value in the store is sealed (so a command that needs values needs a key).
    pub fn has_sealed(&self) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NOT NULL) \
                 OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Whether any value is still in plain text (written before encryption).
    pub fn has_plaintext(&self) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM cookies WHERE key_id IS NULL) \
                 OR EXISTS (SELECT 1 FROM pending_logins WHERE key_id IS NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// A key id in use by the store that `keys` does not hold, with an account (or pending
    /// login) that uses it.
    fn first_unknown_key(&self, keys: &Keyring) -> Result<Option<(String, String)>, StoreError> {
        // The key ids in use, read from the key_id index alone: this runs at the start of
        // every writing command, and counting values per key (`key_usage`) scanned them all.
        let ids: Vec<String> = {
            let mut stmt = self
                .conn()
                .prepare(
                    "SELECT DISTINCT key_id FROM cookies WHERE key_id IS NOT NULL \
                     UNION SELECT DISTINCT key_id FROM pending_logins WHERE key_id IS NOT NULL",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        for id in ids {
            if keys.knows(&id) {
                continue;
            }
            let who: Option<String> = self
                .conn()
                .query_row(
                    "SELECT a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                     WHERE c.key_id = ?1 LIMIT 1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let who = match who {
                Some(name) => format!("account {}", crate::escape::for_terminal(&name)),
                None => "a pending login".into(),
            };
            return Ok(Some((id, who)));
        }
        Ok(None)
    }

    /// Values per key id (and plain text), accounts and pending logins included.
    pub fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
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

    /// Re-seal under the current key every account with a value in plain text or (with
    /// `retired`) under another key: each account in a transaction of its own, so a kill
    /// at any moment leaves every account readable with the old key or the new one.
    /// `progress` hears each account done; returns how many were re-sealed.
    pub fn reseal(
        &self,
        retired: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, StoreError> {
        let keys = self.sealing_keys()?;
        let current = keys.current().id().to_owned();
        let sql = if retired {
            "SELECT DISTINCT account_id FROM cookies WHERE key_id IS NULL OR key_id != ?1"
        } else {
            "SELECT DISTINCT account_id FROM cookies WHERE key_id IS NULL AND ?1 IS NOT NULL"
        };
        let ids: Vec<i64> = {
            let mut stmt = self.conn().prepare(sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([&current], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        let mut done = 0;
        for id in ids {
            let outcome = self.write(|tx| {
                Ok(match load_cookies(tx, Some(keys), id) {
                    Ok(cookies) => replace_cookies(tx, keys, id, &cookies).map(|_| None)?,
                    Err(LoadError::Sql(e)) => return Err(e),
                    Err(other) => Some(other),
                })
            })?;
            if let Some(e) = outcome {
                return Err(self.load_error(id, e));
            }
            done += 1;
            progress(done);
        }
        self.reseal_pending(retired)?;
        if done > 0 {
            // The old forms (plain text, or under a retired key) are wiped from freed pages
            // by secure_delete; emptying the WAL leaves no copy of them there either.
            self.checkpoint()?;
        }
        Ok(done)
    }

    /// Open one sealed account's values with the attached keys (for `doctor`): the name of
    /// the account proven, or `None` when nothing is sealed.
    pub fn prove_key(&self) -> Result<Option<String>, StoreError> {
        let found: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT a.id, a.name FROM cookies c JOIN accounts a ON a.id = c.account_id \
                 WHERE c.key_id IS NOT NULL LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, name)) = found else {
            return Ok(None);
        };
        load_cookies(self.conn(), Some(self.sealing_keys()?), id)
            .map_err(|e| self.load_error(id, e))?;
        Ok(Some(name))
    }

    /// `LoadError` with the account it concerns.
    pub(crate) fn load_error(&self, account_id: i64, e: LoadError) -> StoreError {
        let account = self
            .conn()
            .query_row(
                "SELECT name FROM accounts WHERE id = ?1",
                [account_id],
                |r| r.get::<_, String>(0),
            )
            .map(|n| crate::escape::for_terminal(&n).into_owned())
            .unwrap_or_else(|_| format!("#{account_id}"));
        match e {
            LoadError::Sql(e) => self.err(e),
            LoadError::Open { cookie, error } => open_failed(
                error,
                self.keys.get(),
                &format!("account {account}"),
                &format!("cookie {}", crate::escape::for_terminal(&cookie)),
            ),
        }
    }
}

/// A sealed value of `owner` (an account, a pending login) that did not open: under a key
/// not in `keys`, or changed or moved (`what` names the value).
pub(super) fn open_failed(
    error: OpenError,
    keys: Option<&Keyring>,
    owner: &str,
    what: &str,
) -> StoreError {
    match error {
        OpenError::UnknownKey(key_id) => StoreError::WrongKey {
            account: owner.to_owned(),
            key_id,
            using: keys.map(describe).unwrap_or_default(),
        },
        OpenError::Corrupt => StoreError::Undecryptable {
            what: format!("{owner}: {what}"),
        },
    }
}

/// "SOURCE (key ID)" for messages: never the key.
fn describe(keys: &Keyring) -> String {
    format!("{}, key {}", keys.source, keys.current().id())
}
