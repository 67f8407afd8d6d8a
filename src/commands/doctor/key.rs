//! doctor's key check: which key source is in use, and proof that it opens what is
//! stored (one account's values decrypted, none printed).

use super::*;
use crate::vault;

pub(super) fn key(globals: &Globals) -> Vec<Check> {
    let fail = |message: String, hint: Option<&str>| {
        check(Level::Fail, "key", message, hint, Code::Storage)
    };
    let ring = match vault::load(&globals.keys) {
        Ok(r) => r,
        Err(e) => return vec![fail(e.to_string(), None)],
    };
    let store = match Store::open_existing(&globals.db) {
        Ok(s) => s,
        // database() reports why the store does not open.
        Err(_) => return Vec::new(),
    };
    let usage = match store.as_ref().map(Store::key_usage).transpose() {
        Ok(u) => u.unwrap_or_default(),
        Err(e) => return vec![fail(e.to_string(), None)],
    };
    let plain: i64 = usage
        .iter()
        .filter(|u| u.key_id.is_none())
        .map(|u| u.accounts)
        .sum();
    let mut out = Vec::new();
    if plain > 0 {
        out.push(check(
            Level::Warn,
            "key",
            format!(
                "{plain} account(s) still have cookies in plain text (stored before encryption)"
            ),
            Some("any command that stores cookies encrypts them: `qrlogin refresh`"),
            Code::Storage,
        ));
    }
    let Some(ring) = ring else {
        let sealed = usage.iter().any(|u| u.key_id.is_some());
        out.push(if sealed {
            fail(
                vault::VaultError::NoKey {
                    default: globals.keys.default_file.clone(),
                }
                .to_string(),
                None,
            )
        } else {
            check(
                Level::Ok,
                "key",
                "no key yet: the first command that stores cookies creates one",
                None,
                Code::Storage,
            )
        });
        return out;
    };
    let id = ring.current().id().to_owned();
    let source = ring.source.clone();
    let Some(mut store) = store else {
        out.push(check(
            Level::Ok,
            "key",
            format!("{source}, key {id}; nothing stored yet"),
            None,
            Code::Storage,
        ));
        return out;
    };
    if let Err(e) = store.attach_keys(ring, false) {
        out.push(fail(e.to_string(), None));
        return out;
    }
    out.push(match store.prove_key() {
        Ok(Some(account)) => check(
            Level::Ok,
            "key",
            format!("{source}, key {id}: decrypted the stored cookies of {}", crate::escape::for_terminal(&account)),
            None,
            Code::Storage,
        ),
        Ok(None) => check(Level::Ok, "key", format!("{source}, key {id}; no encrypted values yet"), None, Code::Storage),
        Err(e) => fail(e.to_string(), Some("the key in use is not the one these values were encrypted with: `qrlogin key import` the right one")),
    });
    out
}
