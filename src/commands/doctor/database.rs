//! doctor's store checks: for SQLite, the database and its WAL and shared-memory files
//! private; for PostgreSQL, the server reachable, TLS as asked and the rights every command
//! needs; for both, schema and integrity, and each account's long-login expiry.

use super::*;
use crate::store::Location;

pub(super) fn database(globals: &Globals) -> Vec<Check> {
    match &globals.db {
        Location::Sqlite(path) => sqlite(path, &globals.db),
        Location::Postgres(_) => postgres(&globals.db),
    }
}

fn postgres(location: &Location) -> Vec<Check> {
    let store = match Store::open(location) {
        Ok(s) => s,
        Err(e) => {
            return vec![failed(
                &e,
                Some("check the URL in --db or QRLOGIN_DB, and that the server is up"),
            )];
        }
    };
    let mut out = Vec::new();
    match store.probe() {
        Ok(Some(p)) => {
            out.push(check(
                Level::Ok,
                "database",
                format!(
                    "{location}: PostgreSQL {} as {} on {}, {}",
                    p.server_version,
                    p.user,
                    p.database,
                    if p.tls { "TLS" } else { "not encrypted" }
                ),
                None,
                Code::Storage,
            ));
            if !p.tls && !location.to_string().contains("sslmode=disable") {
                out.push(check(
                    Level::Warn,
                    "database",
                    "the connection is not encrypted: cookie values are sealed, but names and statuses cross the network in the clear",
                    Some("sslmode=require (or verify-full) in the URL, with TLS on the server"),
                    Code::Storage,
                ));
            }
            if !p.missing_rights.is_empty() {
                out.push(check(
                    Level::Fail,
                    "database",
                    format!("{} lacks rights qrlogin needs: {}", p.user, p.missing_rights.join(", ")),
                    Some("GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, cookies, pending_logins TO that user"),
                    Code::Storage,
                ));
            }
        }
        Ok(None) => {}
        Err(e) => out.push(failed(&e, None)),
    }
    out.extend(schema_and_accounts(&store));
    out
}

fn sqlite(path: &std::path::Path, location: &Location) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    let mut out = Vec::new();
    if std::fs::metadata(path).is_err() {
        out.push(check(
            Level::Ok,
            "database",
            format!("{shown} does not exist yet (created 0600 on first use)"),
            None,
            Code::Storage,
        ));
        return out;
    }
    // The WAL and shared-memory files hold cookie values too: all three are checked, by
    // the same rules the store opens with.
    for f in crate::store::files(path, crate::store::ALL_FILES).unwrap_or_default() {
        let shown = f.path.display().to_string();
        out.push(if f.open_to_others() {
            check(
                Level::Fail,
                "database",
                format!(
                    "{shown} is readable by others (mode {:o}): it holds login cookies",
                    f.mode
                ),
                Some(&format!("chmod 600 {}", crate::escape::shell_word(&shown))),
                Code::Storage,
            )
        } else if !f.mine {
            check(
                Level::Fail,
                "database",
                format!("{shown} belongs to another user: it holds login cookies"),
                Some("use a store of your own (--db)"),
                Code::Storage,
            )
        } else {
            check(
                Level::Ok,
                "database",
                format!("{shown} (mode {:o})", f.mode),
                None,
                Code::Storage,
            )
        });
    }
    if let Some(dir) = path.parent()
        && let Ok(m) = std::fs::metadata(dir)
        && m.permissions().mode() & 0o077 != 0
    {
        out.push(check(
            Level::Warn,
            "database",
            format!(
                "its directory {} is open to others (mode {:o})",
                dir.display(),
                m.permissions().mode() & 0o777
            ),
            Some(&format!("chmod 700 {}", dir.display())),
            Code::Storage,
        ));
    }
    let store = match Store::open(location) {
        Ok(s) => s,
        Err(e) => {
            out.push(failed(&e, None));
            return out;
        }
    };
    out.extend(schema_and_accounts(&store));
    out
}

/// A store that failed: its own one-line error.
fn failed(e: &crate::store::StoreError, hint: Option<&str>) -> Check {
    check(Level::Fail, "database", e.to_string(), hint, Code::Storage)
}

/// Schema version and integrity, then each account.
fn schema_and_accounts(store: &Store) -> Vec<Check> {
    let mut out = Vec::new();
    match store.integrity_check() {
        Ok(msg) if msg == "ok" => out.push(check(
            Level::Ok,
            "database",
            format!(
                "schema version {}, integrity ok",
                store.schema_version().unwrap_or(0)
            ),
            None,
            Code::Storage,
        )),
        Ok(msg) => out.push(check(
            Level::Fail,
            "database",
            format!("integrity check: {msg}"),
            Some("restore from a backup, or re-add the accounts"),
            Code::Storage,
        )),
        Err(e) => out.push(failed(&e, None)),
    }
    out.extend(accounts(store));
    out
}

/// Each account's long login and status.
pub(super) fn accounts(store: &Store) -> Vec<Check> {
    let Ok(all) = store.all_brief() else {
        return Vec::new();
    };
    let now = crate::time::now();
    all.iter()
        .map(|a| {
            let who = format!("{} ({})", crate::escape::for_terminal(&a.name), a.unb);
            let exp = a.long_login_until;
            match (a.status, exp) {
                (Status::Expired, _) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: expired"),
                    Some(&format!(
                        "qrlogin add-account --name {}",
                        crate::escape::shell_word(&a.name)
                    )),
                    Code::Other,
                ),
                (Status::Risk, _) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: blocked by risk control"),
                    Some("open 闲鱼 web in a browser and pass the check"),
                    Code::Other,
                ),
                (_, None) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: no long login"),
                    Some("qrlogin refresh turns it on"),
                    Code::Other,
                ),
                (_, Some(t)) if t <= now => check(
                    Level::Warn,
                    "account",
                    format!(
                        "{who}: long login ran out at {}",
                        crate::time::display(Some(t))
                    ),
                    Some(&format!(
                        "qrlogin add-account --name {}",
                        crate::escape::shell_word(&a.name)
                    )),
                    Code::Other,
                ),
                (_, Some(t)) if t - now < LONG_LOGIN_WARN_DAYS * 86_400 => check(
                    Level::Warn,
                    "account",
                    format!(
                        "{who}: long login runs out at {}",
                        crate::time::display(Some(t))
                    ),
                    Some("qrlogin refresh renews it"),
                    Code::Other,
                ),
                (_, Some(t)) => check(
                    Level::Ok,
                    "account",
                    format!("{who}: long login until {}", crate::time::display(Some(t))),
                    None,
                    Code::Other,
                ),
            }
        })
        .collect()
}
