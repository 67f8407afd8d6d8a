//! Accounts and their cookies: reading, saving a login, importing, deleting.

use super::sealed::{load_cookies, replace_cookies};
use super::{Store, StoreError};
use crate::cookies::{self, Cookie};
use rusqlite::{OptionalExtension, Row, params};

/// What the last check of an account found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Alive: the last refresh renewed and validated its cookies.
    Ok,
    /// Dead: a person has to log in again with a QR code.
    Expired,
    /// Blocked by risk control (slider or face check); refresh backs off.
    Risk,
    /// Never checked (imported, or logged in but not refreshed yet).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Expired => "expired",
            Status::Risk => "risk",
            Status::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "ok" => Status::Ok,
            "expired" => Status::Expired,
            "risk" => Status::Risk,
            _ => Status::Unknown,
        }
    }
}

/// One account with all its cookies.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub unb: String,
    pub name: String,
    pub nickname: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub status: Status,
    pub last_checked: Option<i64>,
    pub last_refreshed: Option<i64>,
    pub consecutive_failures: i64,
    pub next_attempt_at: Option<i64>,
    pub proxy: Option<String>,
    pub user_agent: Option<String>,
    /// Bumped by every save and every recorded refresh: a refresh records its result only
    /// if the account still has the revision it read (a login or import meanwhile wins).
    pub revision: i64,
    /// The service would not turn long login on (queryLoginSettings said no): refresh
    /// does not ask again until the next login or import.
    pub long_login_refused: bool,
    /// When the long-login token (`havana_lgc_exp`) runs out, kept readable beside the
    /// sealed cookies.
    pub long_login_until: Option<i64>,
    pub cookies: Vec<Cookie>,
}

/// One row of `list`: what an operator scans, with no cookie value.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub name: String,
    pub unb: String,
    pub nickname: Option<String>,
    pub status: Status,
    pub last_checked: Option<i64>,
    pub last_refreshed: Option<i64>,
    pub long_login_expires: Option<i64>,
    pub has_proxy: bool,
}

/// An account to save after a login or an import.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub unb: String,
    /// An explicit name (`--name`, the import NAME); `None` keeps an existing account's
    /// name or defaults to the nickname.
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub cookies: Vec<Cookie>,
    pub proxy: Option<String>,
    pub user_agent: Option<String>,
    pub status: Status,
    /// Set after a successful QR login: the cookies are fresh.
    pub refreshed: bool,
    /// Apply an explicit `name` to an account that is already stored under another name.
    /// Without it a re-login or re-import keeps the stored name (`--rename`).
    pub rename: bool,
}

/// What `Store::save` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Created,
    /// An existing account (same unb) was updated under its stored name.
    Updated,
    /// An existing account was updated and renamed (`--rename`); `from` is its old name.
    Renamed {
        from: String,
    },
    /// An existing account was updated and kept its stored name although another was
    /// asked for without `--rename`.
    KeptName {
        requested: String,
    },
}

impl NewAccount {
    /// An account from a cookie set: the unb and nickname are read from the cookies
    /// (`unb`, `tracknick`); the rest are the caller's.
    pub fn from_cookies(cookies: Vec<Cookie>, name: Option<String>, status: Status) -> NewAccount {
        NewAccount {
            unb: cookies::value_of(&cookies, "unb")
                .unwrap_or_default()
                .to_owned(),
            nickname: cookies::nickname(&cookies),
            name,
            cookies,
            proxy: None,
            user_agent: None,
            status,
            refreshed: false,
            rename: false,
        }
    }
}

const ACCOUNT_COLUMNS: &str = "id, unb, name, nickname, created_at, updated_at, status, \
     last_checked, last_refreshed, consecutive_failures, next_attempt_at, proxy, user_agent, \
     revision, long_login_refused, long_login_until";

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
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
        cookies: Vec::new(),
    })
}

/// The name a new account gets without `--name`: its nickname (or unb), then
/// `nickname-unb`, then `nickname-unb-2`, … until one is free, so a clash of names never
/// loses a login the phone has confirmed.
fn default_name(
    new: &NewAccount,
    owner: &dyn Fn(&str) -> rusqlite::Result<Option<String>>,
) -> rusqlite::Result<String> {
    // The nickname is the server's (already stripped of invisible characters); an empty
    // or all-digit one would be mistaken for a unb, so the account's own unb stands in.
    let base = new
        .nickname
        .clone()
        .filter(|n| !n.trim().is_empty() && !n.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| new.unb.clone());
    let mut candidate = base.clone();
    for n in 1.. {
        if owner(&candidate)?.is_none() {
            break;
        }
        candidate = match n {
            1 => format!("{base}-{}", new.unb),
            _ => format!("{base}-{}-{n}", new.unb),
        };
    }
    Ok(candidate)
}

impl Store {
    pub fn list(&self) -> Result<Vec<AccountSummary>, StoreError> {
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
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Whether any stored cookie belongs to `domain` or a subdomain of it.
    pub fn has_cookies_for(&self, domain: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM cookies WHERE domain = ?1 OR domain LIKE '%.' || ?1)",
                [domain],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Every account name, for "did you mean" in errors.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT name FROM accounts ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every account without its cookies (`cookies` is empty): what a refresh plans with
    /// before it leases an account and reads it whole.
    pub fn all_brief(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], account_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// An account's cookies: opened with the attached keys, withheld (empty) without.
    pub(crate) fn cookies_of(&self, account_id: i64) -> Result<Vec<Cookie>, StoreError> {
        load_cookies(self.conn(), self.keys.get(), account_id)
            .map_err(|e| self.load_error(account_id, e))
    }

    /// Every account with its cookies.
    pub fn all(&self) -> Result<Vec<Account>, StoreError> {
        let mut accounts = self.all_brief()?;
        for a in &mut accounts {
            a.cookies = self.cookies_of(a.id)?;
        }
        Ok(accounts)
    }

    /// The account whose name or unb is `query`, with its cookies.
    pub fn get(&self, query: &str) -> Result<Account, StoreError> {
        match self.find(query)? {
            Some(a) => Ok(a),
            None => Err(StoreError::NotFound {
                query: query.to_owned(),
                known: self.names()?,
            }),
        }
    }

    pub fn find(&self, query: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1 OR unb = ?1 \
             ORDER BY name = ?1 DESC LIMIT 1"
        );
        // Cached: a refresh looks every account up by name, once each.
        let found = self
            .conn()
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([query], account_from_row).optional())
            .map_err(|e| self.err(e))?;
        match found {
            Some(mut a) => {
                a.cookies = self.cookies_of(a.id)?;
                Ok(Some(a))
            }
            None => Ok(None),
        }
    }

    /// The unb owning `name`, if any: lets add-account warn before a login it could not save.
    pub fn owner_of_name(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT unb FROM accounts WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Save a login or an import in one transaction: create the account, or update the
    /// one with the same unb and replace all its cookies. An update keeps the stored name
    /// unless `new.rename`, and keeps the status history of an import (only a login, whose
    /// cookies were just validated, sets the status).
    pub fn save(&self, new: &NewAccount, now: i64) -> Result<(Account, Saved), StoreError> {
        let keys = self.sealing_keys()?;
        let outcome = self.write(|tx| {
            let existing: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, name FROM accounts WHERE unb = ?1",
                    [&new.unb],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let owner = |name: &str| -> rusqlite::Result<Option<String>> {
                tx.query_row("SELECT unb FROM accounts WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()
            };
            let (name, saved) = match (&new.name, &existing) {
                (Some(asked), Some((_, kept))) if asked != kept && !new.rename => (
                    kept.clone(),
                    Saved::KeptName {
                        requested: asked.clone(),
                    },
                ),
                (Some(explicit), _) => {
                    if let Some(unb) = owner(explicit)?.filter(|u| *u != new.unb) {
                        return Ok(Err(StoreError::NameTaken {
                            name: explicit.clone(),
                            unb,
                        }));
                    }
                    let saved = match &existing {
                        None => Saved::Created,
                        Some((_, old)) if old != explicit => Saved::Renamed { from: old.clone() },
                        Some(_) => Saved::Updated,
                    };
                    (explicit.clone(), saved)
                }
                (None, Some((_, kept))) => (kept.clone(), Saved::Updated),
                (None, None) => (default_name(new, &owner)?, Saved::Created),
            };
            let refreshed = new.refreshed.then_some(now);
            let id = match existing {
                Some((id, _)) if new.refreshed => {
                    // A login: the cookies were just validated, the slate is clean.
                    tx.execute(
                        "UPDATE accounts SET name = ?2, nickname = COALESCE(?3, nickname), \
                         updated_at = ?4, status = ?5, last_refreshed = ?6, last_checked = ?6, \
                         consecutive_failures = 0, next_attempt_at = NULL, proxy = ?7, \
                         user_agent = COALESCE(?8, user_agent), revision = revision + 1, \
                         long_login_refused = 0 WHERE id = ?1",
                        params![
                            id,
                            name,
                            new.nickname,
                            now,
                            new.status.as_str(),
                            refreshed,
                            new.proxy,
                            new.user_agent
                        ],
                    )?;
                    id
                }
                Some((id, _)) => {
                    // An import: the history stays; the new cookies are checked on the
                    // next refresh, whatever cooldown the old ones had earned.
                    tx.execute(
                        "UPDATE accounts SET name = ?2, nickname = COALESCE(?3, nickname), \
                         updated_at = ?4, consecutive_failures = 0, next_attempt_at = NULL, \
                         proxy = COALESCE(?5, proxy), user_agent = COALESCE(?6, user_agent), \
                         revision = revision + 1, long_login_refused = 0 WHERE id = ?1",
                        params![id, name, new.nickname, now, new.proxy, new.user_agent],
                    )?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO accounts (unb, name, nickname, created_at, updated_at, status, \
                         last_checked, last_refreshed, proxy, user_agent) \
                         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?6, ?7, ?8)",
                        params![
                            new.unb,
                            name,
                            new.nickname,
                            now,
                            new.status.as_str(),
                            refreshed,
                            new.proxy,
                            new.user_agent
                        ],
                    )?;
                    tx.last_insert_rowid()
                }
            };
            replace_cookies(tx, keys, id, &new.cookies)?;
            Ok(Ok((id, saved)))
        })?;
        let (id, saved) = outcome?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1");
        let mut account = self
            .conn()
            .query_row(&sql, [id], account_from_row)
            .map_err(|e| self.err(e))?;
        account.cookies = self.cookies_of(id)?;
        Ok((account, saved))
    }

    /// Delete an account and all its cookies in one transaction; freed pages are wiped
    /// (`secure_delete`) and the WAL emptied so no value is left in any file. Returns
    /// false when another process kept the WAL from being emptied (see `checkpoint`).
    pub fn delete(&self, account_id: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM cookies WHERE account_id = ?1", [account_id])?;
            tx.execute("DELETE FROM accounts WHERE id = ?1", [account_id])?;
            Ok(())
        })?;
        self.checkpoint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_account(unb: &str, name: Option<&str>, nick: &str) -> NewAccount {
        NewAccount {
            unb: unb.into(),
            name: name.map(Into::into),
            nickname: Some(nick.into()),
            cookies: vec![Cookie::for_domain("unb", unb, ".goofish.com")],
            proxy: None,
            user_agent: None,
            status: Status::Unknown,
            refreshed: false,
            rename: false,
        }
    }

    #[test]
    fn save_names_and_relogin_keeps_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let (a, created) = s.save(&new_account("1", None, "nick"), 10).unwrap();
        assert_eq!(created, Saved::Created);
        assert_eq!(a.name, "nick");
        // Same nickname, other account: disambiguated.
        let (b, _) = s.save(&new_account("2", None, "nick"), 10).unwrap();
        assert_eq!(b.name, "nick-2");
        // Log in again: the name stays.
        let (a2, created) = s.save(&new_account("1", None, "renamed"), 20).unwrap();
        assert_eq!(created, Saved::Updated);
        assert_eq!(a2.name, "nick");
        assert_eq!(a2.nickname.as_deref(), Some("renamed"));
        // Explicit name of another unb: refused, nothing written.
        let err = s
            .save(&new_account("3", Some("nick"), "x"), 30)
            .unwrap_err();
        assert!(matches!(err, StoreError::NameTaken { .. }));
        assert!(s.find("3").unwrap().is_none());
        assert_eq!(s.get("2").unwrap().name, "nick-2");
        assert!(matches!(
            s.get("nobody").unwrap_err(),
            StoreError::NotFound { .. }
        ));
    }

    #[test]
    fn an_explicit_name_renames_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        s.save(&new_account("1", Some("shop-1"), "n"), 10).unwrap();
        let (a, saved) = s.save(&new_account("1", Some("backup"), "n"), 20).unwrap();
        assert_eq!(a.name, "shop-1");
        assert_eq!(
            saved,
            Saved::KeptName {
                requested: "backup".into()
            }
        );
        let renamed = NewAccount {
            rename: true,
            ..new_account("1", Some("backup"), "n")
        };
        let (a, saved) = s.save(&renamed, 30).unwrap();
        assert_eq!(a.name, "backup");
        assert_eq!(
            saved,
            Saved::Renamed {
                from: "shop-1".into()
            }
        );
    }

    #[test]
    fn default_names_never_clash() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        s.save(&new_account("1", Some("nick"), "x"), 10).unwrap();
        s.save(&new_account("2", Some("nick-3"), "x"), 10).unwrap();
        let (a, _) = s.save(&new_account("3", None, "nick"), 10).unwrap();
        assert_eq!(a.name, "nick-3-2");
    }

    #[test]
    fn an_import_keeps_the_status_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let login = NewAccount {
            status: Status::Ok,
            refreshed: true,
            ..new_account("1", None, "n")
        };
        s.save(&login, 10).unwrap();
        let (a, _) = s.save(&new_account("1", None, "n"), 20).unwrap();
        assert_eq!(
            (a.status, a.last_refreshed, a.last_checked),
            (Status::Ok, Some(10), Some(10))
        );
    }
}
