//! What a store holds, as the rest of qrlogin sees it (accounts, pending logins, refresh
//! results), and the rows a backend stores: `CookieRow` and `PendingRow` carry secrets
//! already sealed, so no backend ever handles a plain cookie value. The naming rules of a
//! save (`plan_name`) live here too, so both backends name accounts alike.

use super::StoreError;
use crate::cookies::{self, Cookie};
use std::path::PathBuf;
use url::Url;

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

    pub(crate) fn parse(s: &str) -> Status {
        match s {
            "ok" => Status::Ok,
            "expired" => Status::Expired,
            "risk" => Status::Risk,
            _ => Status::Unknown,
        }
    }
}

/// What a refresh plans an account's round with before it holds the lease: the rest is
/// read under the lease. A few dozen bytes, where a brief `Account` is about 400: at
/// 100,000 accounts the listing was half of a refresh's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub id: i64,
    /// As listed: an overlapping run that checked it meanwhile changed these.
    pub last_checked: Option<i64>,
    pub updated_at: i64,
    /// Which connection pool its requests go through.
    pub proxy: Option<String>,
}

impl From<&Account> for Planned {
    fn from(a: &Account) -> Planned {
        Planned {
            id: a.id,
            last_checked: a.last_checked,
            updated_at: a.updated_at,
            proxy: a.proxy.clone(),
        }
    }
}

/// A refresh's batch as its claim left it. Accounts deleted meanwhile are in none.
#[derive(Debug)]
pub struct Claimed<L> {
    /// Leased by this run, read whole.
    pub leased: Vec<L>,
    /// Not wanted as they are now (the claim's filter said no): not leased, read brief.
    pub passed: Vec<Account>,
    /// Wanted, but another run holds the lease: read brief, with the lease's owner as the
    /// claim saw it (`None`: unknown, it changed hands meanwhile).
    pub held: Vec<(Account, Option<String>)>,
    /// Leased, but a stored value did not open (`StoreError::is_value_unopened`): read brief,
    /// with why. Filled by `Store::claim` only; the backends read no values.
    pub unopened: Vec<(Account, StoreError)>,
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
    /// The refresh run (its lease owner) that last checked it: a run leaves alone what a
    /// run already under way when it started has checked.
    pub checked_by: Option<String>,
    pub cookies: Vec<Cookie>,
    /// Each cookie's value as stored, sealed, beside `cookies` (`None`: it was stored in
    /// plain text): kept only by what a refresh reads (`Store::claim`, `Store::by_id`), so
    /// a whole renewed set reuses what did not change instead of sealing it again.
    pub(crate) sealed: Vec<Option<SealedValue>>,
}

/// A value as stored: its ciphertext and the id of the key that sealed it. Ciphertext,
/// but still not shown: `Debug` says only the key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SealedValue {
    pub key_id: String,
    pub value: String,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sealed under {}", self.key_id)
    }
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

/// Where a save put an account.
#[derive(Debug, Clone)]
pub struct SavedAs {
    pub id: i64,
    pub name: String,
    pub saved: Saved,
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

/// The outcome of one account's refresh, as stored.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub status: Status,
    pub checked_at: i64,
    /// The cookies were renewed and validated.
    pub refreshed: bool,
    pub consecutive_failures: i64,
    pub next_attempt_at: Option<i64>,
    /// The new full cookie set, only when renewal succeeded.
    pub cookies: Option<Vec<Cookie>>,
    /// Whether the service refused long login this run (`None`: not asked).
    pub long_login_refused: Option<bool>,
}

/// What [`Store::try_lease`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The lease is this run's now.
    Taken,
    /// Another run holds an unexpired lease: its owner, read in the same step.
    Held(String),
    /// Another writer (an import, a saving login, another run's claim) has the row locked
    /// right now. PostgreSQL passes such a row over rather than wait for it on the run's
    /// one store connection: ask again a little later.
    Busy,
    /// No such account: deleted since it was listed.
    Gone,
}

impl Lease {
    pub fn taken(&self) -> bool {
        *self == Lease::Taken
    }
}

/// What became of a refresh result handed to [`Store::record_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    /// Another run holds the account's lease now; nothing was written.
    LeaseLost,
    /// A login or an import saved the account after this refresh read it: its newer data
    /// was kept, nothing of the refresh was written, and the lease was released.
    Superseded,
}

impl Recorded {
    pub fn stored(self) -> bool {
        self == Recorded::Stored
    }
}

/// How many values (and accounts) are under each key id; `None` is plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: Option<String>,
    pub values: i64,
    pub accounts: i64,
    pub pending: i64,
}

/// One stored cookie: its value sealed under `key_id` (or, with no key id, plain text
/// written before encryption existed). Deserialized from an array of its fields in this
/// order: how PostgreSQL's cookie sets hold it (`postgres::cookie_set`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct CookieRow {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub expires: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<String>,
    pub key_id: Option<String>,
}

/// Where a cookie goes in a store: (domain, host-only, path, name), the stores' primary key
/// within an account. For a cookie as read and as stored alike.
pub(crate) trait RowKey {
    fn row_key(&self) -> (&str, bool, &str, &str);
}

impl RowKey for CookieRow {
    fn row_key(&self) -> (&str, bool, &str, &str) {
        (&self.domain, self.host_only, &self.path, &self.name)
    }
}

impl RowKey for crate::cookies::Cookie {
    fn row_key(&self) -> (&str, bool, &str, &str) {
        (&self.domain, self.host_only, &self.path, &self.name)
    }
}

/// Of rows with one key, the last, in its place: what writing them one after another with
/// SQLite's `INSERT OR REPLACE` keeps. Both backends write a cookie set this way, so that
/// they store the same rows in the same order, and a refresh decides what changed by it.
pub(crate) fn last_of_each_key<T: RowKey>(rows: &[T]) -> Vec<&T> {
    let last: std::collections::HashMap<_, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, c)| (c.row_key(), i))
        .collect();
    rows.iter()
        .enumerate()
        .filter(|(i, c)| last.get(&c.row_key()) == Some(i))
        .map(|(_, c)| c)
        .collect()
}

/// Where a cookie is stored: the key of its row within its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieKey {
    pub name: String,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
}

/// A renewed cookie set as changes to the stored one: rows to write (one with the key of a
/// stored row replaces it in its place) and the keys of rows to delete. A renewal changes a
/// few of an account's cookies, and writing only those is most of what a refresh saves on
/// the store. A backend that stores an account's cookies as one value gets the whole
/// renewed set instead (`Leases::writes_whole_sets`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CookieChanges {
    pub write: Vec<CookieRow>,
    pub remove: Vec<CookieKey>,
    /// The stored set with the changes made, every value sealed: in its order, a changed
    /// cookie in its place and a new one after the rest, as writing the changes keeps it.
    pub whole: Option<Vec<CookieRow>>,
}

/// One stored pending login: `ck`, `form` and `cookies` sealed under `key_id`.
#[derive(Debug, Clone)]
pub(crate) struct PendingRow {
    pub id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub name: Option<String>,
    pub qr_t: String,
    pub ck: String,
    pub qr_content: String,
    pub form: String,
    pub cookies: String,
    pub user_agent: String,
    pub proxy: Option<String>,
    pub passport_url: String,
    pub h5api_url: String,
    pub www_url: String,
    pub qr_png: Option<String>,
    pub qr_png_mode: Option<i64>,
    pub key_id: Option<String>,
}

/// The name a save gives the account, and what the save is: `existing` is the stored
/// account with the same unb (id, name), `owner` answers who holds a name (its error `E`
/// is the backend's own). Called inside the save's transaction by each backend; the inner
/// error is a refusal (`NameTaken`), the outer one the backend's.
pub(crate) fn plan_name<E>(
    new: &NewAccount,
    existing: Option<&(i64, String)>,
    owner: &mut dyn FnMut(&str) -> Result<Option<String>, E>,
) -> Result<Result<(String, Saved), StoreError>, E> {
    Ok(Ok(match (&new.name, existing) {
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
            let saved = match existing {
                None => Saved::Created,
                Some((_, old)) if old != explicit => Saved::Renamed { from: old.clone() },
                Some(_) => Saved::Updated,
            };
            (explicit.clone(), saved)
        }
        (None, Some((_, kept))) => (kept.clone(), Saved::Updated),
        (None, None) => (default_name(new, owner)?, Saved::Created),
    }))
}

/// The name a new account gets without `--name`: its nickname (or unb), then
/// `nickname-unb`, then `nickname-unb-2`, … until one is free, so a clash of names never
/// loses a login the phone has confirmed.
fn default_name<E>(
    new: &NewAccount,
    owner: &mut dyn FnMut(&str) -> Result<Option<String>, E>,
) -> Result<String, E> {
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
