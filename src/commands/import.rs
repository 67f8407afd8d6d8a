//! `qrlogin import`: cookies from a browser export, a header string, cookies.txt, or a
//! whole xianyu-auto-reply database. Imported accounts start as `unknown` until a refresh.

use super::describe_save;
use crate::cookies::{self, import};
use crate::escape::shell_word;
use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::settings::{ImportSource, check_name};
use crate::store::{NewAccount, Saved, Status, Store};
use anyhow::Context;
use std::io::Read;
use std::path::Path;

pub fn run(store: &Store, source: &ImportSource, printer: &Printer) -> anyhow::Result<Code> {
    match source {
        ImportSource::Cookies {
            name,
            rename,
            format,
            from,
        } => {
            let text = read_input(from.as_deref())?;
            let origin = from
                .as_ref()
                .map_or("standard input".to_owned(), |p| p.display().to_string());
            let cookies = import::parse(*format, &text)
                .map_err(|e| Coded::usage(format!("cannot import {origin}: {e}")))?;
            let new = NewAccount {
                rename: *rename,
                ..NewAccount::from_cookies(cookies, Some(name.clone()), Status::Unknown)
            };
            let (account, saved) = store
                .save(&new, crate::time::now())
                .map_err(|e| super::name_hint(e, "choose another NAME"))?;
            let line = describe_save(
                &account,
                &saved,
                "imported",
                &format!("import {} --rename …", shell_word(name)),
            );
            printer.info(&match saved {
                Saved::Created => format!("{line}; status unknown until `qrlogin refresh`"),
                _ => format!("imported: {line}"),
            });
            Ok(Code::Success)
        }
        ImportSource::XianyuAutoReply(path) => import_xianyu(store, path, printer),
    }
}

fn read_input(from: Option<&Path>) -> anyhow::Result<String> {
    let mut text = String::new();
    match from {
        Some(p) => {
            text = std::fs::read_to_string(p)
                .map_err(|e| Coded::usage(format!("cannot read {}: {e}", p.display())))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
        }
    }
    Ok(text)
}

/// Save parsed cookies as an account; returns (name, unb, cookie count).
fn save(
    store: &Store,
    name: Option<String>,
    cookies: Vec<cookies::Cookie>,
) -> anyhow::Result<(String, String, usize)> {
    let new = NewAccount::from_cookies(cookies, name, Status::Unknown);
    let (a, _) = store.save(&new, crate::time::now())?;
    Ok((a.name, a.unb, a.cookies.len()))
}

/// Every account of a xianyu-auto-reply database; a row that cannot be imported is
/// skipped with a warning and makes the exit code 2 after the others are in.
fn import_xianyu(store: &Store, path: &Path, printer: &Printer) -> anyhow::Result<Code> {
    let bad = |why: String| Coded::usage(format!("cannot import {}: {why}", path.display()));
    let rows = import::read_xianyu_auto_reply(path).map_err(|e| bad(e.to_string()))?;
    if rows.is_empty() {
        return Err(bad("its `cookies` table is empty".into()).into());
    }
    let mut skipped = 0;
    // unb → the row id that brought it: a second row with the same unb would overwrite
    // the first one's cookies, so it is reported and skipped instead.
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    for (id, value) in &rows {
        let shown = crate::escape::for_terminal(id);
        let result = check_name(id)
            .map_err(anyhow::Error::from)
            .and_then(|name| {
                let cookies = import::parse(import::Format::Header, value)?;
                let unb = cookies::value_of(&cookies, "unb")
                    .unwrap_or_default()
                    .to_owned();
                if let Some(first) = seen.get(&unb) {
                    anyhow::bail!(
                        "it has the same unb {unb} as account `{}` earlier in the file",
                        crate::escape::for_terminal(first)
                    );
                }
                let saved = save(store, Some(name), cookies)?;
                seen.insert(unb, id.clone());
                Ok(saved)
            });
        match result {
            Ok((name, unb, n)) => {
                printer.info(&format!("imported {name} ({unb}) with {n} cookies"))
            }
            Err(e) => {
                skipped += 1;
                printer.warn(&format!(
                    "skipped account `{shown}`: {}",
                    crate::exit::message_for(&e)
                ));
            }
        }
    }
    printer.info(&format!(
        "imported {} of {} accounts from {}",
        rows.len() - skipped,
        rows.len(),
        path.display()
    ));
    if skipped > 0 {
        return Err(bad(format!(
            "{skipped} of {} accounts could not be imported",
            rows.len()
        ))
        .into());
    }
    Ok(Code::Success)
}
