//! A login that succeeded but could not be saved (the store's server gone, its disk full,
//! or `--name` another account's) is not thrown away: the phone holder scanned for it, and
//! may be someone else a message away. Its cookies go to an owner-only file in qrlogin's
//! own directory, in the JSON that `qrlogin import --format json` reads, and the error
//! says how to bring them in.

use crate::cookies::{self, Cookie};
use crate::settings::Globals;
use crate::store::{Location, StoreError};
use std::path::{Path, PathBuf};

/// What an error says when the login's cookies were kept in a file: the phone holder's
/// part is done (`--web` tells them so).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Kept(String);

/// `cause`, the reason the account was not saved, with where its cookies were put (or why
/// they could not be).
pub(super) fn rescue(
    globals: &Globals,
    name: Option<&str>,
    unb: &str,
    cookies: &[Cookie],
    cause: StoreError,
) -> anyhow::Error {
    let file = file_for(
        &globals.db,
        globals.keys.default_file.as_deref(),
        unb,
        crate::time::now(),
    );
    // `file_for` names a directory (`.` at least).
    let written = file
        .parent()
        .map_or(Ok(()), crate::private_file::create_private_dir)
        .and_then(|()| {
            crate::private_file::write_private(
                &file,
                cookies::export::json_array(cookies).as_bytes(),
            )
        });
    let path = file.to_string_lossy();
    let shown = crate::escape::shell_word(&path);
    if let StoreError::NameTaken { .. } = cause {
        // `--name` is another account's (the warning before the QR said so): saved under
        // another name, the login is still good.
        return match written {
            Ok(()) => super::super::name_hint(cause, &format!(
                "this login was not saved; its cookies are in {shown} (owner-only): `qrlogin import ANOTHER-NAME --format json --from {shown}` saves them under another name, then delete the file"
            ))
            .context(Kept("saving the account".into())),
            Err(e) => super::super::name_hint(cause, &format!(
                "this login was not saved, nor its cookies written to {shown} ({e}): log in again and choose another with --name"
            ))
            .context("saving the account"),
        };
    }
    let name = crate::escape::shell_word(name.unwrap_or("NAME"));
    let unb = crate::escape::for_terminal(unb);
    match written {
        Ok(()) => anyhow::Error::new(cause).context(Kept(format!(
            "the login of {unb} succeeded but could not be saved; its cookies are in {shown} (owner-only): once the store works, `qrlogin import {name} --format json --from {shown}`, then delete the file"
        ))),
        Err(e) => anyhow::Error::new(cause).context(format!(
            "the login of {unb} succeeded but could not be saved, nor its cookies written to {shown} ({e})"
        )),
    }
}

/// Beside a SQLite store; beside the default key file for a PostgreSQL one (both are
/// qrlogin's own, owner-only directories); else the current directory.
fn file_for(db: &Location, key_file: Option<&Path>, unb: &str, now: i64) -> PathBuf {
    let dir = match db {
        Location::Sqlite(db) => db.parent().map(Path::to_path_buf),
        Location::Postgres(_) => key_file.and_then(|f| f.parent().map(Path::to_path_buf)),
    }
    .filter(|d| !d.as_os_str().is_empty())
    .unwrap_or_else(|| PathBuf::from("."));
    // The unb comes from the server: only its digits and letters name a file.
    let unb: String = unb
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    dir.join(format!("unsaved-login-{unb}-{now}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_the_store_or_the_key_file_named_by_the_unb_s_digits_and_letters_only() {
        let sqlite = Location::Sqlite(PathBuf::from("/d/qrlogin/accounts.db"));
        let key = Path::new("/c/qrlogin/key");
        assert_eq!(
            file_for(&sqlite, Some(key), "../../etc/22190", 7),
            PathBuf::from("/d/qrlogin/unsaved-login-etc22190-7.json")
        );
        let pg = Location::parse(Path::new("postgres://u:pw@h/db"));
        assert_eq!(
            file_for(&pg, Some(key), "22190", 7),
            PathBuf::from("/c/qrlogin/unsaved-login-22190-7.json")
        );
        assert_eq!(
            file_for(&pg, None, "22190", 7),
            PathBuf::from("./unsaved-login-22190-7.json")
        );
        let bare = Location::Sqlite(PathBuf::from("accounts.db"));
        assert_eq!(
            file_for(&bare, None, "22190", 7),
            PathBuf::from("./unsaved-login-22190-7.json")
        );
    }
}
