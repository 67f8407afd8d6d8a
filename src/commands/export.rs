//! `qrlogin export NAME --format …`: the only command that prints cookie values.

use crate::cookies::export::{self, Format};
use crate::exit::Code;
use crate::exit::Coded;
use crate::printer::Printer;
use crate::settings::Globals;
use crate::store::Store;
use std::path::Path;

pub fn run(
    globals: &Globals,
    store: &Store,
    name: &str,
    format: Format,
    output: Option<&Path>,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let account = store.get(name)?;
    if matches!(format, Format::Header | Format::Env) {
        nothing_to_send(&account, &globals.endpoints.www)?;
    }
    let text = export::render(
        format,
        &account.cookies,
        &globals.endpoints.www,
        crate::time::now(),
    );
    match output {
        Some(path) => {
            crate::private_file::write_private(path, text.as_bytes())
                .map_err(|e| output_error(path, e))?;
            printer.info(&format!(
                "wrote {} cookies of {} to {} (mode 0600)",
                account.cookies.len(),
                account.name,
                path.display()
            ));
        }
        None => {
            if printer.stdout_is_terminal() {
                printer
                    .warn("these are login credentials: anyone who sees them can use the account");
            }
            printer.data(&text)?;
        }
    }
    Ok(Code::Success)
}

/// A bad `-o` (a directory, a missing directory, something not a regular file) is the
/// user's to fix (exit 2); a write that fails on a good path is storage (exit 7).
pub(crate) fn output_error(path: &Path, e: std::io::Error) -> Coded {
    use std::io::ErrorKind::*;
    let msg = format!("cannot write {}: {e}; nothing was written", path.display());
    match e.kind() {
        NotFound | IsADirectory | NotADirectory | Other | PermissionDenied => Coded::usage(msg),
        _ => Coded::new(Code::Storage, msg),
    }
}

/// The header and env formats hold what a browser would send to the site. When that is
/// nothing, say why instead of printing an empty line: every cookie expired (log in
/// again, exit 10), or none is for that site (the cookies' domains are listed, exit 2).
fn nothing_to_send(account: &crate::store::Account, site: &url::Url) -> Result<(), Coded> {
    let now = crate::time::now();
    if account.cookies.iter().any(|c| c.would_send_to(site, now)) {
        return Ok(());
    }
    let who = crate::escape::for_terminal(&account.name);
    let live: Vec<_> = account
        .cookies
        .iter()
        .filter(|c| c.expires.is_none_or(|t| t > now))
        .collect();
    if live.is_empty() {
        return Err(Coded::new(
            Code::NeedsLogin,
            format!(
                "every cookie of {who} has expired, so there is nothing to send; log in again with `qrlogin add-account --name {}`",
                crate::escape::shell_word(&account.name)
            ),
        ));
    }
    let mut domains: std::collections::BTreeMap<String, usize> = Default::default();
    for c in &live {
        *domains.entry(c.dotted_domain()).or_default() += 1;
    }
    let list: Vec<String> = domains.iter().map(|(d, n)| format!("{d} ({n})")).collect();
    Err(Coded::usage(format!(
        "none of {who}'s cookies would be sent to {site} (QRLOGIN_WWW_URL): they are for {}",
        list.join(", ")
    )))
}
