//! What can go wrong with a store, on either backend: one enum, so `exit` maps it in one
//! place and commands branch on it (`NotFound`, `NameTaken`, ...).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause is the error's source: `{:#}` prints it once, after this.
    #[error("cannot open the account database {}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a qrlogin database (not SQLite, or corrupt); it was left untouched", path.display())]
    NotADatabase { path: PathBuf },
    #[error("{} is another program's SQLite database ({what}), not a qrlogin store; it was left untouched: point --db at a file of qrlogin's own", path.display())]
    Foreign { path: PathBuf, what: String },
    #[error("cannot open the account database {} safely: {why}; it was left untouched", path.display())]
    Unsafe { path: PathBuf, why: String },
    #[error(
        "{store} was written by a newer qrlogin (schema version {found}, this build knows up to {known}); it was left untouched: upgrade qrlogin"
    )]
    FutureVersion {
        /// The store as shown to people: a path, or a URL with its password redacted.
        store: String,
        found: i64,
        known: i64,
    },
    #[error("the account database {} is read-only; nothing was changed", path.display())]
    ReadOnly { path: PathBuf },
    #[error("the disk holding {} is full; nothing was changed", path.display())]
    Full { path: PathBuf },
    #[error("cannot write the account database {} (disk full, a file size limit, or an I/O error); nothing was changed", path.display())]
    Io { path: PathBuf },
    #[error(
        "no account named `{}`{}",
        crate::escape::for_terminal(query),
        known_list(query, known)
    )]
    NotFound { query: String, known: Vec<String> },
    #[error("no pending login `{id}` ({})", if known.is_empty() { "there are none".to_owned() } else { format!("pending: {}", known.join(", ")) })]
    PendingNotFound { id: String, known: Vec<String> },
    #[error("pending login `{id}` expired at {}; start a new one with `qrlogin add-account`", crate::time::display(Some(*at)))]
    PendingExpired { id: String, at: i64 },
    #[error("pending login `{id}`: stored {what} is unreadable")]
    PendingCorrupt { id: String, what: String },
    #[error("the name `{name}` already belongs to account {unb}")]
    NameTaken { name: String, unb: String },
    #[error(
        "{account}: its values are encrypted with key {key_id}, which is not among the keys in use ({using}); a wrong key? Nothing was changed"
    )]
    WrongKey {
        account: String,
        key_id: String,
        using: String,
    },
    #[error("{what} does not decrypt (changed, or copied from another row); nothing was changed")]
    Undecryptable { what: String },
    #[error(
        "{dest} already holds {}; nothing was copied{}",
        shown_clashes(clashes),
        if *replace_helps { " (--replace overwrites accounts with the same unb)" } else { "" }
    )]
    CopyConflict {
        dest: String,
        clashes: Vec<String>,
        replace_helps: bool,
    },
    #[error("copy to {dest}: account {account} has {} cookies there, {expected} here", found.map(|n| n.to_string()).unwrap_or_else(|| "no account and no".into()))]
    CopyMismatch {
        dest: String,
        account: String,
        expected: usize,
        found: Option<usize>,
    },
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// PostgreSQL could not be reached or refused the connection (a wrong address, password
    /// or database name, TLS as asked not available); `url` is redacted.
    #[error("cannot connect to the account database {url}: {why}; nothing was changed")]
    Unreachable { url: String, why: String },
    #[error(
        "{url} is not a qrlogin store ({why}); it was left untouched: point --db at a database of qrlogin's own"
    )]
    ForeignPostgres { url: String, why: String },
    #[error("the account database {url} failed: {why}; nothing was changed")]
    Postgres {
        url: String,
        why: String,
        /// The session or the server failed (a lost connection, a server shutting down or
        /// out of disk, a standby after a failover), not this one request.
        whole: bool,
    },
    /// Another writer (an import, a copy, a login being saved) held the account's row
    /// past a short wait: nothing was written, and the write may be tried again.
    #[error(
        "the account database {url}: another writer held the account's row; nothing was changed"
    )]
    RowBusy { url: String },
    #[error("account database {}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Undone(#[from] Undone),
    /// A command of many writes (copy, import, refresh) stopped by `cause` after `done`.
    /// The cause's "nothing was changed" speaks of its own write, not of the command's, so
    /// it is left out; `done` says what the command had stored. Not a `source`: its text
    /// is already here.
    #[error("{done}: {}", without_outcome(cause))]
    PartWay {
        done: String,
        cause: Box<StoreError>,
    },
}

impl StoreError {
    /// This error as what stopped a command of many writes after `done` (`PartWay`).
    pub fn part_way(self, done: String) -> StoreError {
        match self {
            // Said once, by the command that knows the most.
            StoreError::PartWay { cause, .. } => StoreError::PartWay { done, cause },
            cause => StoreError::PartWay {
                done,
                cause: Box::new(cause),
            },
        }
    }

    /// The store as a whole cannot be used now (its server went away, its disk is full),
    /// as opposed to one write it refused: writing the next account would fail the same.
    pub fn is_store_wide(&self) -> bool {
        match self {
            StoreError::Postgres { whole, .. } => *whole,
            StoreError::Unreachable { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::Full { .. }
            | StoreError::Io { .. }
            | StoreError::NotADatabase { .. } => true,
            StoreError::PartWay { cause, .. } => cause.is_store_wide(),
            _ => false,
        }
    }

    /// One account's stored value did not open (a wrong key for it, or a value changed or
    /// moved): that account cannot be used, and the others can.
    pub fn is_value_unopened(&self) -> bool {
        matches!(
            self,
            StoreError::WrongKey { .. } | StoreError::Undecryptable { .. }
        )
    }
}

/// Writes held to be committed together (`Store::hold_commits`: a refresh's results) that
/// were undone together, by the error `why`. Each of their callers gets a copy.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the account database {store} could not commit a group of refresh results ({why}); none of that group was stored"
)]
pub struct Undone {
    /// The store as shown to people (a URL's password redacted).
    pub store: String,
    pub why: String,
}

/// `e` and its causes on one line, without what it says of the store as a whole: a
/// command that stopped part-way says that itself.
fn without_outcome(e: &StoreError) -> String {
    with_causes(e)
        .replace("; nothing was changed", "")
        .replace(" Nothing was changed", "")
}

/// An error and its causes on one line, each cause once (some errors repeat their
/// source's text in their own).
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The first few clashes of a copy, and how many more.
fn shown_clashes(clashes: &[String]) -> String {
    let shown: Vec<String> = clashes
        .iter()
        .take(5)
        .map(|c| crate::escape::for_terminal(c).into_owned())
        .collect();
    match clashes.len() {
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}

/// What to say after "no account named …": every name while there are a few, otherwise
/// at most three close ones (a store of 50,000 accounts must not print them all).
fn known_list(query: &str, known: &[String]) -> String {
    const LIST_ALL_UP_TO: usize = 5;
    if known.is_empty() {
        return " (the store is empty: add one with `qrlogin add-account` or `qrlogin import`)"
            .into();
    }
    let shown = |names: &[&String]| {
        names
            .iter()
            .map(|n| crate::escape::for_terminal(n).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if known.len() <= LIST_ALL_UP_TO {
        return format!(" (accounts: {})", shown(&known.iter().collect::<Vec<_>>()));
    }
    let q = query.to_lowercase();
    let limit = (q.chars().count() / 3).max(2);
    let mut close: Vec<(usize, &String)> = known
        .iter()
        .filter_map(|n| {
            let l = n.to_lowercase();
            // A name that contains what was typed (a prefix, a fragment) is as close as
            // it gets; otherwise the edit distance decides.
            let d = if l.contains(&q) {
                0
            } else {
                edit_distance(&q, &l)
            };
            (d <= limit).then_some((d, n))
        })
        .collect();
    close.sort();
    let close: Vec<&String> = close.into_iter().take(3).map(|(_, n)| n).collect();
    let total = known.len();
    if close.is_empty() {
        format!(" ({total} accounts; `qrlogin list` shows them)")
    } else {
        format!(
            " (did you mean {}? {total} accounts; `qrlogin list` shows them)",
            shown(&close)
        )
    }
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_a_few_close_ones() {
        let few: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(known_list("x", &few), " (accounts: a, b)");
        let many: Vec<String> = (0..50_000).map(|i| format!("shop-{i}")).collect();
        let said = known_list("shop-4999x", &many);
        assert!(said.starts_with(" (did you mean shop-4999"), "{said}");
        assert!(said.len() < 120, "{said}");
        assert_eq!(
            known_list("zzzzzzzz", &many),
            " (50000 accounts; `qrlogin list` shows them)"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
