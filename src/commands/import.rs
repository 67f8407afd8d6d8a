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

/// Accounts saved to one transaction: few enough that a batch that fails as a whole is
/// cheap to save again one by one, many enough that commits no longer dominate.
const BATCH: usize = 500;

/// Every account of a xianyu-auto-reply database; a row that cannot be imported is
/// skipped with a warning and makes the exit code 2 after the others are in.
fn import_xianyu(store: &Store, path: &Path, printer: &Printer) -> anyhow::Result<Code> {
    let bad = |why: String| Coded::usage(format!("cannot import {}: {why}", path.display()));
    let rows = import::read_xianyu_auto_reply(path).map_err(|e| bad(e.to_string()))?;
    if rows.is_empty() {
        return Err(bad("its `cookies` table is empty".into()).into());
    }
    let (mut skipped, mut imported) = (0, 0);
    // unb → the row id that brought it: a second row with the same unb would overwrite
    // the first one's cookies, so it is reported and skipped instead.
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    // Each row of a batch: parsed (its account is next in the batch), or why it cannot be
    // imported. Parsed on the store's sealing thread, ahead of the writes.
    let batches = rows.chunks(BATCH).map(|chunk| {
        let mut parsed: Vec<anyhow::Result<()>> = Vec::with_capacity(chunk.len());
        let mut news: Vec<NewAccount> = Vec::with_capacity(chunk.len());
        for (id, value) in chunk {
            parsed.push(new_account(id, value, &seen).map(|new| {
                seen.insert(new.unb.clone(), id.clone());
                news.push(new);
            }));
        }
        ((chunk, parsed), news)
    });
    let report = |(chunk, parsed): (&[(String, String)], Vec<anyhow::Result<()>>),
                  news: &[NewAccount],
                  saved: Vec<Result<crate::store::SavedAs, crate::store::StoreError>>|
     -> anyhow::Result<()> {
        let mut saved = news.iter().zip(saved);
        for ((id, _), row) in chunk.iter().zip(parsed) {
            let result = row.and_then(|()| {
                let (new, to) = saved
                    .next()
                    .context("the store answered for fewer accounts than it was given")?;
                Ok((to?.name, &new.unb, new.cookies.len()))
            });
            match result {
                Ok((name, unb, n)) => {
                    imported += 1;
                    printer.info(&format!("imported {name} ({unb}) with {n} cookies"))
                }
                Err(e) => {
                    skipped += 1;
                    printer.warn(&format!(
                        "skipped account `{}`: {}",
                        crate::escape::for_terminal(id),
                        crate::exit::message_for(&e)
                    ));
                }
            }
        }
        Ok(())
    };
    store
        .save_batches(batches, crate::time::now(), report)
        .map_err(|e| {
            super::stopped_part_way(
                e,
                format!(
                    "import stopped after {imported} of {} accounts (those reported imported are stored; importing the file again finishes it)",
                    rows.len()
                ),
            )
        })?;
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

/// A row of a xianyu-auto-reply database as an account to save: its id is the name.
fn new_account(
    id: &str,
    value: &str,
    seen: &std::collections::HashMap<String, String>,
) -> anyhow::Result<NewAccount> {
    let name = check_name(id)?;
    let cookies = import::parse(import::Format::Header, value)?;
    let unb = cookies::value_of(&cookies, "unb").unwrap_or_default();
    if let Some(first) = seen.get(unb) {
        anyhow::bail!(
            "it has the same unb {unb} as account `{}` earlier in the file",
            crate::escape::for_terminal(first)
        );
    }
    Ok(NewAccount::from_cookies(
        cookies,
        Some(name),
        Status::Unknown,
    ))
}
