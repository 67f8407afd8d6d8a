//! `qrlogin list`: every account, one row each, never a cookie value.

use crate::escape;
use crate::exit::Code;
use crate::printer::Printer;
use crate::store::Store;
use crate::table::Table;
use crate::time;

pub fn run(store: &Store, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    let accounts = store.list()?;
    if as_json {
        let items: Vec<_> = accounts
            .iter()
            .map(|a| AccountJson {
                name: &a.name,
                unb: &a.unb,
                nickname: a.nickname.as_deref(),
                status: a.status,
                last_checked: time::rfc3339(a.last_checked),
                last_refreshed: time::rfc3339(a.last_refreshed),
                long_login_expires: time::rfc3339(a.long_login_expires),
                proxy: a.has_proxy,
            })
            .collect();
        printer.data_line(&serde_json::to_string_pretty(&items)?)?;
        return Ok(Code::Success);
    }
    if accounts.is_empty() {
        printer.info("no accounts yet: add one with `qrlogin add-account` or `qrlogin import`");
        return Ok(Code::Success);
    }
    let mut table = Table::new(&COLUMNS);
    for a in &accounts {
        table.row(vec![
            escape::for_terminal(&a.name).into_owned(),
            a.unb.clone(),
            escape::for_terminal(a.nickname.as_deref().unwrap_or("-")).into_owned(),
            a.status.as_str().to_owned(),
            time::display(a.last_refreshed),
            time::display(a.long_login_expires),
            time::display(a.last_checked),
            if a.has_proxy { "yes" } else { "no" }.to_owned(),
        ]);
    }
    printer.data(&table.render(printer.stdout_width(), &DROP_ORDER))?;
    Ok(Code::Success)
}

const COLUMNS: [&str; 8] = [
    "NAME",
    "UNB",
    "NICKNAME",
    "STATUS",
    "LAST REFRESHED",
    "LONG LOGIN UNTIL",
    "LAST CHECKED",
    "PROXY",
];

/// On a narrow terminal these columns go first, in this order (README, `list`): proxy,
/// last checked, nickname, long-login expiry, last refreshed, unb. Name and status stay.
const DROP_ORDER: [usize; 6] = [7, 6, 2, 5, 4, 1];

/// One account in `list --json`: never a cookie value.
#[derive(serde::Serialize)]
struct AccountJson<'a> {
    name: &'a str,
    unb: &'a str,
    nickname: Option<&'a str>,
    status: crate::store::Status,
    last_checked: Option<String>,
    last_refreshed: Option<String>,
    long_login_expires: Option<String>,
    /// Whether a proxy is stored (never the proxy itself).
    proxy: bool,
}
