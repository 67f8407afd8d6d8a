//! doctor's store checks: the database and its WAL and shared-memory files private,
//! schema and integrity, and each account's long-login expiry.

use super::*;

pub(super) fn database(globals: &Globals) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;
    let path = &globals.db;
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
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            out.push(check(
                Level::Fail,
                "database",
                e.to_string(),
                None,
                Code::Storage,
            ));
            return out;
        }
    };
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
        Err(e) => out.push(check(
            Level::Fail,
            "database",
            e.to_string(),
            None,
            Code::Storage,
        )),
    }
    out.extend(accounts(&store));
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
