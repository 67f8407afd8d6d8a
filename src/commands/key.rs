//! The encryption key: `unlock` (what every command that reads or writes a stored value
//! calls first) and `qrlogin key status|rotate|export|import`.

use super::{open_existing, output_error};
use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::settings::{Globals, KeyAction};
use crate::store::Store;
use crate::vault::{self, Key, Keyring, Loaded, VaultError};
use anyhow::Result;

/// Whether a command reads stored values or also writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Read,
    Write,
}

/// Attach the key to `store`. A reader without a key is fine while nothing is sealed. A
/// writer gets the default key made when no key exists (said once, on stderr), is refused
/// when the store holds values under a key it lacks, and seals any plain-text values left
/// from before encryption, account by account.
pub(crate) fn unlock(
    globals: &Globals,
    store: &mut Store,
    need: Need,
    printer: &Printer,
) -> Result<()> {
    let found = vault::load(&globals.keys)?;
    let sources = globals.keys.clone();
    let announcer = printer.clone();
    let make = move || -> Result<Keyring, VaultError> {
        match vault::load_or_create(&sources)? {
            Loaded::Found(ring) => Ok(ring),
            Loaded::Created(ring) => {
                announcer.info(&format!(
                    "created the encryption key {} (key {}): stored cookies are encrypted with it. Keep it apart from backups of the data; `qrlogin key export` copies it to another host",
                    ring.source,
                    ring.current().id()
                ));
                Ok(ring)
            }
        }
    };
    let ring = match (found, need) {
        (Some(ring), _) => ring,
        // Another process may have made the default key since this one looked, and
        // sealed values with it (six first imports at once): it links the key file in
        // before it writes a sealed value, so a second look finds it.
        (None, _) if store.has_sealed()? => vault::load_required(&globals.keys)?,
        (None, Need::Read) => {
            let sources = globals.keys.clone();
            store.load_key_when_sealed(Box::new(move || vault::load_required(&sources)));
            return Ok(());
        }
        // Plain-text values from before encryption: sealing them is a write, now.
        (None, Need::Write) if store.has_plaintext()? => make()?,
        (None, Need::Write) => {
            store.make_key_on_first_write(Box::new(make));
            return Ok(());
        }
    };
    store.attach_keys(ring, need == Need::Write)?;
    // (The benchmark-only unsealed build leaves its plain values as they are.)
    if need == Need::Write && !cfg!(qrlogin_bench_unsealed) {
        let n = store.reseal(false, &mut |_| {})?;
        if n > 0 {
            printer.info(&format!(
                "encrypted the stored cookies of {n} account(s) written before encryption, with key {}",
                store.keys().map(|k| k.current().id()).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

pub fn run(globals: &Globals, action: &KeyAction, printer: &Printer) -> Result<Code> {
    match action {
        KeyAction::Status { json } => status(globals, *json, printer),
        KeyAction::Rotate => rotate(globals, printer),
        KeyAction::Export { output } => export(globals, output.as_deref(), printer),
        KeyAction::Import { from } => import(globals, from.as_deref(), printer),
    }
}

fn status(globals: &Globals, json: bool, printer: &Printer) -> Result<Code> {
    let ring = vault::load(&globals.keys)?;
    let usage = match open_existing(globals)? {
        Some(store) => store.key_usage()?,
        None => Vec::new(),
    };
    let state = |id: &Option<String>| match (id, &ring) {
        (None, _) => "plaintext",
        (Some(id), Some(r)) if r.current().id() == id => "current",
        (Some(id), Some(r)) if r.knows(id) => "retired",
        _ => "unknown",
    };
    if json {
        let v = serde_json::json!({
            "source": ring.as_ref().map(|r| r.source.clone()),
            "current": ring.as_ref().map(|r| r.current().id().to_owned()),
            "retired": ring.as_ref().map(|r| r.retired().iter().map(|k| k.id().to_owned()).collect::<Vec<_>>()).unwrap_or_default(),
            "usage": usage.iter().map(|u| serde_json::json!({
                "key_id": u.key_id, "state": state(&u.key_id),
                "values": u.values, "accounts": u.accounts, "pending": u.pending,
            })).collect::<Vec<_>>(),
        });
        printer.data_line(&serde_json::to_string_pretty(&v)?)?;
        return Ok(Code::Success);
    }
    let mut out = String::new();
    match &ring {
        Some(r) => {
            out.push_str(&format!(
                "source   {}\ncurrent  {}\n",
                r.source,
                r.current().id()
            ));
            for k in r.retired() {
                out.push_str(&format!("retired  {}\n", k.id()));
            }
        }
        None => out.push_str(&format!(
            "no key yet: the first command that stores cookies creates {}\n",
            globals
                .keys
                .default_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the default key file".into())
        )),
    }
    if usage.is_empty() {
        out.push_str("no stored values\n");
    }
    for u in &usage {
        let id = u.key_id.as_deref().unwrap_or("plain text");
        out.push_str(&format!(
            "{id:<12} {:<9} {} values of {} accounts, {} pending logins\n",
            state(&u.key_id),
            u.values,
            u.accounts,
            u.pending
        ));
    }
    printer.data(&out)?;
    Ok(Code::Success)
}

/// A new key becomes current; every value moves to it, one account per transaction; the
/// old key stays in the file as retired until nothing uses it. The key file is written
/// before any value moves, so a kill at any point leaves every value readable. A rotation
/// that was interrupted is finished first, without a second new key.
fn rotate(globals: &Globals, printer: &Printer) -> Result<Code> {
    let ring = vault::load_required(&globals.keys)?;
    let Some(file) = ring.file.clone() else {
        return Err(Coded::usage(format!(
            "the key comes from {}, which qrlogin cannot rewrite: rotation keeps the old key beside the new one in a key file. Put the key in one (`qrlogin key export -o FILE`, then QRLOGIN_KEY_FILE=FILE) and rotate there",
            ring.source
        ))
        .into());
    };
    // Read again once no other rotation or import is changing the file.
    let _lock = lock_key_file(&file, printer)?;
    let ring = vault::load_required(&globals.keys)?;
    let mut store = super::must_exist(globals)?;
    store.attach_keys(ring.clone(), true)?;
    let current = ring.current().id().to_owned();
    let unfinished = store
        .key_usage()?
        .iter()
        .any(|u| u.key_id.as_deref().is_some_and(|id| id != current));
    let ring = if unfinished {
        printer.info(&format!(
            "values remain under older keys (an interrupted rotation, or a command that was running during one): moving them to key {current}"
        ));
        ring
    } else {
        let mut old = vec![ring.current().clone()];
        old.extend(ring.retired().iter().cloned());
        let new = Keyring::new(
            Key::generate()?,
            old,
            ring.source.clone(),
            Some(file.clone()),
        );
        vault::write_key_file(&file, &new)?;
        printer.info(&format!(
            "new key {} is current in {}; moving every value to it",
            new.current().id(),
            file.display()
        ));
        store.attach_keys(new.clone(), true)?;
        new
    };
    let mut done = 0;
    let moved = store
        .reseal(true, &mut |n| {
            done = n;
            if n % 1000 == 0 {
                printer.detail(&format!("{n} accounts re-encrypted"));
            }
        })
        .map_err(|e| {
            // The key file already has the new key; what was moved stays readable, and a
            // rotation run again finds the rest and moves it.
            e.part_way(format!(
                "key rotate stopped after re-encrypting {done} accounts with key {} (run `qrlogin key rotate` again to move the rest)",
                ring.current().id()
            ))
        })?;
    // Retired keys nothing uses any more leave the file, but not the one that was current
    // when this rotation began: a command already running then (a refresh of thousands of
    // accounts, a login) still seals with it, and what it writes after this check must stay
    // readable. The next rotation moves such values and drops that key once it is unused.
    let still: Vec<Key> = {
        let usage = store.key_usage()?;
        ring.retired()
            .iter()
            .filter(|k| {
                k.id() == current || usage.iter().any(|u| u.key_id.as_deref() == Some(k.id()))
            })
            .cloned()
            .collect()
    };
    let pruned = Keyring::new(
        ring.current().clone(),
        still,
        ring.source.clone(),
        Some(file.clone()),
    );
    vault::write_key_file(&file, &pruned)?;
    printer.info(&format!(
        "rotated: {moved} account(s) re-encrypted with key {}; {} retired key(s) kept",
        pruned.current().id(),
        pruned.retired().len()
    ));
    Ok(Code::Success)
}

/// `vault::lock_key_file`, saying so when another rotation or import has the file.
fn lock_key_file(file: &std::path::Path, printer: &Printer) -> Result<vault::KeyFileLock> {
    Ok(vault::lock_key_file(file, || {
        printer.info(&format!(
            "waiting for another `qrlogin key rotate` or `key import` to finish with {}",
            file.display()
        ))
    })?)
}

/// The key file's text (current key, then retired ones): the only output with key material.
fn export(globals: &Globals, output: Option<&std::path::Path>, printer: &Printer) -> Result<Code> {
    let ring = vault::load_required(&globals.keys)?;
    let text = ring.to_file_text();
    match output {
        Some(path) => {
            crate::private_file::write_private(path, text.as_bytes())
                .map_err(|e| output_error(path, e))?;
            printer.info(&format!(
                "wrote key {} to {} (mode 0600)",
                ring.current().id(),
                path.display()
            ));
        }
        None => {
            if printer.stdout_is_terminal() {
                printer.warn("this is the encryption key: anyone with it and the database can use every account");
            }
            printer.data(&text)?;
        }
    }
    Ok(Code::Success)
}

/// Install keys (`key export`'s text) as the current key file: the imported key becomes
/// current, keys already in the file stay as retired ones, so nothing becomes unreadable.
fn import(globals: &Globals, from: Option<&std::path::Path>, printer: &Printer) -> Result<Code> {
    let k = &globals.keys;
    if k.key.is_some() || k.command.is_some() {
        return Err(Coded::usage(
            "QRLOGIN_KEY or QRLOGIN_KEY_COMMAND is set and comes before any key file: unset it to use an imported key",
        )
        .into());
    }
    let Some(target) = k.file.clone().or_else(|| k.default_file.clone()) else {
        return Err(
            Coded::usage("no key file to import into: set QRLOGIN_KEY_FILE or HOME").into(),
        );
    };
    let text = zeroize::Zeroizing::new(match from {
        Some(p) if p.as_os_str() != "-" => std::fs::read_to_string(p)
            .map_err(|e| Coded::usage(format!("cannot read {}: {e}", p.display())))?,
        _ => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| Coded::usage(format!("cannot read the key from stdin: {e}")))?;
            s
        }
    });
    let imported = vault::parse_keys(&text, "the imported key", None)?;
    let _lock = lock_key_file(&target, printer)?;
    let mut retired: Vec<Key> = imported.retired().to_vec();
    if std::fs::symlink_metadata(&target).is_ok() {
        let existing = vault::load_required(&crate::vault::KeySources {
            file: Some(target.clone()),
            ..Default::default()
        })?;
        retired.push(existing.current().clone());
        retired.extend(existing.retired().iter().cloned());
    }
    let ring = Keyring::new(
        imported.current().clone(),
        retired,
        target.display().to_string(),
        Some(target.clone()),
    );
    vault::write_key_file(&target, &ring)?;
    printer.info(&format!(
        "imported key {} as the current key in {} (mode 0600); {} retired key(s) kept",
        ring.current().id(),
        target.display(),
        ring.retired().len()
    ));
    Ok(Code::Success)
}
