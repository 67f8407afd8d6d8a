//! `qrlogin list`: every account, one row each, never a cookie value.

use crate::exit::Code;
use crate::printer::Printer;
use crate::store::Store;
use crate::time;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::json;

pub fn run(store: &Store, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    let accounts = store.list()?;
    if as_json {
        let items: Vec<_> = accounts
            .iter()
            .map(|a| {
                json!({
                    "name": a.name,
                    "unb": a.unb,
                    "nickname": a.nickname,
                    "status": a.status.as_str(),
                    "last_checked": time::json(a.last_checked),
                    "last_refreshed": time::json(a.last_refreshed),
                    "long_login_expires": time::json(a.long_login_expires),
                    "proxy": a.has_proxy,
                })
            })
            .collect();
        printer.data_line(&serde_json::to_string_pretty(&items)?);
        return Ok(Code::Success);
    }
    if accounts.is_empty() {
        printer.info("no accounts yet: add one with `qrlogin add-account` or `qrlogin import`");
        return Ok(Code::Success);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "NAME",
        "UNB",
        "NICKNAME",
        "STATUS",
        "LAST CHECKED",
        "LAST REFRESHED",
        "LONG LOGIN UNTIL",
        "PROXY",
    ]);
    for a in &accounts {
        table.add_row([
            a.name.clone(),
            a.unb.clone(),
            a.nickname.clone().unwrap_or_else(|| "-".into()),
            a.status.as_str().to_owned(),
            time::display(a.last_checked),
            time::display(a.last_refreshed),
            time::display(a.long_login_expires),
            if a.has_proxy { "yes" } else { "no" }.to_owned(),
        ]);
    }
    printer.data_line(&table.to_string());
    Ok(Code::Success)
}
