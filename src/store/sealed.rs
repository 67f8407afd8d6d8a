//! Stored secrets, sealed: every cookie value and a pending login's jar and tokens are
//! written encrypted under the current key (`vault`), each with the key's id beside it
//! (`key_id`; NULL only in rows written before encryption existed). Everything else in a
//! row stays readable, so `list`, `show`, `pending` and `doctor` work without the key.
//! Sealing happens here, above the backends: no backend ever sees a plain value.
//!
//! The rules: nothing is ever written in plain text (a write without a key is refused);
//! a value that does not open is an error naming the account, never an empty value saved
//! back; a store holding values under a key this process does not have refuses writes
//! (`attach_keys`), so a wrong key never overwrites values sealed with the right one.

use super::model::{Account, CookieRow, KeyUsage, SealedValue};
use super::{Store, StoreError};
use crate::cookies::{Cookie, SameSite};
use crate::redacted::Secret;
use crate::vault::{self, Keyring, OpenError};

/// Makes the first key (see `Store::make_key_on_first_write`).
pub type KeyMaker = Box<dyn Fn() -> Result<Keyring, vault::VaultError> + Send>;

/// Seal an account's cookies for storing: each value under the current key, bound to
/// its row.
pub(crate) fn seal_cookies<'a>(
    keys: &Keyring,
    unb: &str,
    cookies: impl IntoIterator<Item = &'a Cookie>,
) -> Vec<CookieRow> {
    cookies
        .into_iter()
        .map(|c| seal_cookie(keys, unb, c))
        .collect()
}

/// One cookie sealed for storing (see `seal_cookies`).
pub(crate) fn seal_cookie(keys: &Keyring, unb: &str, c: &Cookie) -> CookieRow {
    let (key_id, value) = if cfg!(qrlogin_bench_unsealed) {
        // The benchmark-only build (see Cargo.toml's lints): what the same code
        // costs without the cipher, for bench/encryption-ab.sh.
        (None, c.value.expose().to_owned())
    } else {
        let aad = vault::cookie_aad(unb, &c.name, &c.domain, c.host_only, &c.path);
        let (key_id, value) = keys.seal(c.value.expose().as_bytes(), &aad);
        (Some(key_id), value)
    };
    row_of(c, key_id, value)
}

/// `c` as a stored row with `value` sealed under `key_id` already.
pub(crate) fn row_of(c: &Cookie, key_id: Option<String>, value: String) -> CookieRow {
    CookieRow {
        name: c.name.clone(),
        value,
        domain: c.domain.clone(),
        host_only: c.host_only,
        path: c.path.clone(),
        expires: c.expires,
        secure: c.secure,
        http_only: c.http_only,
        same_site: c.same_site.map(|s| s.as_str().to_owned()),
        key_id,
    }
}

/// Open stored rows. With `keys`, sealed values are opened (the error names the cookie);
/// without, they are withheld as empty values, for commands that show only names and
/// attributes. Plain-text rows (written before encryption) read as they are.
pub(crate) fn open_cookies(
    keys: Option<&Keyring>,
    unb: &str,
    rows: Vec<CookieRow>,
) -> Result<Vec<Cookie>, (String, OpenError)> {
    rows.into_iter()
        .map(|r| open_row(keys, unb, r).map(|(c, _)| c))
        .collect()
}

/// Cookies opened, and beside them each value as stored (`Account::sealed`).
type OpenedKeeping = (Vec<Cookie>, Vec<Option<SealedValue>>);

/// `open_cookies`, keeping each sealed value as stored beside its cookie.
pub(crate) fn open_keeping_sealed(
    keys: Option<&Keyring>,
    unb: &str,
    rows: Vec<CookieRow>,
) -> Result<OpenedKeeping, (String, OpenError)> {
    let mut cookies = Vec::with_capacity(rows.len());
    let mut sealed = Vec::with_capacity(rows.len());
    for r in rows {
        let (c, s) = open_row(keys, unb, r)?;
        cookies.push(c);
        sealed.push(s);
    }
    Ok((cookies, sealed))
}

fn open_row(
    keys: Option<&Keyring>,
    unb: &str,
    r: CookieRow,
) -> Result<(Cookie, Option<SealedValue>), (String, OpenError)> {
    let (value, sealed) = match (r.key_id, keys) {
        (None, _) => (Secret::new(r.value), None),
        (Some(_), None) => (Secret::default(), None),
        (Some(key_id), Some(ring)) => {
            let aad = vault::cookie_aad(unb, &r.name, &r.domain, r.host_only, &r.path);
            match ring.open(&key_id, &r.value, &aad) {
                Ok(plain) => (
                    Secret::new(plain.as_str()),
                    Some(SealedValue {
                        key_id,
                        value: r.value,
                    }),
                ),
                Err(error) => return Err((r.name, error)),
            }
        }
    };
    Ok((
        Cookie {
            name: r.name,
            value,
            domain: r.domain,
            host_only: r.host_only,
            path: r.path,
            expires: r.expires,
            secure: r.secure,
            http_only: r.http_only,
            same_site: r.same_site.as_deref().and_then(SameSite::parse),
        },
        sealed,
    ))
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

    /// No key exists yet, and this command only reads values: `load` finds the key if a
    /// sealed value turns up after all. Another process may write the first one (making
    /// the default key, linked in before any value sealed with it) while this one runs;
    /// without a key its values would read as empty, and be exported so.
    pub fn load_key_when_sealed(&mut self, load: KeyMaker) {
        self.make_key = Some(load);
    }

    /// The keys to open `rows` with: those attached, or, when one of `rows` is sealed and
    /// none are, those found now (`load_key_when_sealed`, `make_key_on_first_write`).
    /// `None` only for a command that shows no value (see `open_cookies`).
    pub(crate) fn opening_keys(&self, rows: &[CookieRow]) -> Result<Option<&Keyring>, StoreError> {
        if self.keys.get().is_none()
            && self.make_key.is_some()
            && rows.iter().any(|r| r.key_id.is_some())
        {
            return self.sealing_keys().map(Some);
        }
        Ok(self.keys.get())
    }

    /// A store with a throwaway key attached: unit tests of what is stored.
    #[cfg(test)]
    pub(crate) fn open_sealed_for_tests(path: &std::path::Path) -> Store {
        let mut s = Store::open(&super::Location::Sqlite(path.to_owned())).unwrap();
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
        self.db.has_values(true)
    }

    /// Whether any value is still in plain text (written before encryption).
    pub fn has_plaintext(&self) -> Result<bool, StoreError> {
        self.db.has_values(false)
    }

    /// A key id in use by the store that `keys` does not hold, with an account (or pending
    /// login) that uses it.
    fn first_unknown_key(&self, keys: &Keyring) -> Result<Option<(String, String)>, StoreError> {
        for id in self.db.key_ids()? {
            if keys.knows(&id) {
                continue;
            }
            let who = match self.db.key_user(&id)? {
                Some(name) => format!("account {}", crate::escape::for_terminal(&name)),
                None => "a pending login".into(),
            };
            return Ok(Some((id, who)));
        }
        Ok(None)
    }

    /// Values per key id (and plain text), accounts and pending logins included.
    pub fn key_usage(&self) -> Result<Vec<KeyUsage>, StoreError> {
        self.db.key_usage()
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
        let mut done = 0;
        for id in self.db.accounts_to_reseal(&current, retired)? {
            self.db.rewrite_cookies(id, &mut |unb, rows| {
                let cookies = open_cookies(Some(keys), unb, rows)
                    .map_err(|(cookie, e)| self.open_error(id, cookie, e))?;
                Ok(seal_cookies(keys, unb, &cookies))
            })?;
            done += 1;
            progress(done);
        }
        self.reseal_pending(retired)?;
        if done > 0 {
            // The old forms (plain text, or under a retired key) are wiped from freed pages
            // by secure_delete; emptying the WAL leaves no copy of them there either.
            self.db.checkpoint()?;
        }
        Ok(done)
    }

    /// Open one sealed account's values with the attached keys (for `doctor`): the name of
    /// the account proven, or `None` when nothing is sealed.
    pub fn prove_key(&self) -> Result<Option<String>, StoreError> {
        let Some((id, name)) = self.db.first_sealed_account()? else {
            return Ok(None);
        };
        let keys = self.sealing_keys()?;
        let unb = self.db.by_id_brief(id)?.map(|a| a.unb).unwrap_or_default();
        open_cookies(Some(keys), &unb, self.db.cookie_rows(id)?)
            .map_err(|(cookie, e)| self.open_error(id, cookie, e))?;
        Ok(Some(name))
    }

    /// An account's cookies: opened with the attached keys, withheld (empty) without.
    pub(crate) fn cookies_of(&self, a: &Account) -> Result<Vec<Cookie>, StoreError> {
        self.cookies_from(a, self.db.cookie_rows(a.id)?)
    }

    /// `a`'s stored `rows` opened (with `opening_keys`); a value that does not open is an
    /// error naming the account and the cookie.
    pub(crate) fn cookies_from(
        &self,
        a: &Account,
        rows: Vec<CookieRow>,
    ) -> Result<Vec<Cookie>, StoreError> {
        open_cookies(self.opening_keys(&rows)?, &a.unb, rows)
            .map_err(|(cookie, e)| self.open_error(a.id, cookie, e))
    }

    /// `a`'s cookies opened from `rows`, each sealed value kept beside them as stored:
    /// what a refresh reads (see `Account::sealed`).
    pub(crate) fn open_keeping_sealed(
        &self,
        a: &mut Account,
        rows: Vec<CookieRow>,
    ) -> Result<(), StoreError> {
        let (cookies, sealed) = open_keeping_sealed(self.opening_keys(&rows)?, &a.unb, rows)
            .map_err(|(cookie, e)| self.open_error(a.id, cookie, e))?;
        a.cookies = cookies;
        a.sealed = sealed;
        Ok(())
    }

    /// A cookie of an account that did not open, as an error naming both.
    pub(super) fn open_error(
        &self,
        account_id: i64,
        cookie: String,
        error: OpenError,
    ) -> StoreError {
        let account = match self.db.name_of(account_id) {
            Ok(Some(n)) => crate::escape::for_terminal(&n).into_owned(),
            _ => format!("#{account_id}"),
        };
        open_failed(
            error,
            self.keys.get(),
            &format!("account {account}"),
            &format!("cookie {}", crate::escape::for_terminal(&cookie)),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Location, NewAccount, Status};

    #[test]
    fn a_reader_without_a_key_opens_values_sealed_since_or_refuses_never_empties() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("a.db"));
        // Three readers open the store while nothing in it is sealed and no key exists.
        let mut reader = Store::open(&at).unwrap();
        let mut blind = Store::open(&at).unwrap();
        let shows = Store::open(&at).unwrap();
        // Then another process makes the first key and writes the first account.
        let ring = Keyring::ephemeral();
        let mut writer = Store::open(&at).unwrap();
        writer.attach_keys(ring.clone(), true).unwrap();
        let new = NewAccount::from_cookies(
            vec![
                Cookie::for_domain("unb", "7", ".goofish.com"),
                Cookie::for_domain("cookie2", "sealed-value", ".goofish.com"),
            ],
            None,
            Status::Unknown,
        );
        let (a, _) = writer.save(&new, 0).unwrap();
        let cookie2 = |a: &Account| {
            let c = a.cookies.iter().find(|c| c.name == "cookie2").unwrap();
            c.value.expose().to_owned()
        };
        // The reader told where the key is finds it once a value needs it.
        reader.load_key_when_sealed(Box::new(move || Ok(ring.clone())));
        assert_eq!(cookie2(&reader.get(&a.name).unwrap()), "sealed-value");
        // One whose key is nowhere says so, rather than read the value as empty.
        blind.load_key_when_sealed(Box::new(|| Err(vault::VaultError::NoKey { default: None })));
        let err = blind.get(&a.name).unwrap_err();
        assert!(err.to_string().contains("no encryption key"), "{err}");
        // A command that shows no value (`show`) still reads the rest without a key.
        assert_eq!(cookie2(&shows.get(&a.name).unwrap()), "");
    }
}
