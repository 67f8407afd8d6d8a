//! `qrlogin list`: every account, one row each, never a cookie value.

use crate::escape;
use crate::exit::Code;
use crate::printer::Printer;
use crate::store::{AccountSummary, Store};
use crate::table::Widths;
use crate::time;
use serde::ser::{SerializeSeq, Serializer};
use std::io::Write;

/// Rows are streamed from the store, never collected: the table reads them twice (once
/// for the column widths, once to print), the JSON once. Memory stays flat at any size.
pub fn run(store: &Store, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    if as_json {
        let mut out = printer.data_stream();
        let mut ser = serde_json::Serializer::pretty(&mut out);
        let mut seq = ser.serialize_seq(None)?;
        let mut failed = None;
        store.list_each(&mut |a| {
            if failed.is_none() {
                failed = seq.serialize_element(&json(&a)).err();
            }
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        seq.end()?;
        out.write_all(b"\n")?;
        out.finish()?;
        return Ok(Code::Success);
    }
    let mut widths = Widths::new(&COLUMNS);
    let mut any = false;
    store.list_each(&mut |a| {
        widths.observe_widths(&cell_widths(&a));
        any = true;
        Ok(())
    })?;
    if !any {
        printer.info("no accounts yet: add one with `qrlogin add-account` or `qrlogin import`");
        return Ok(Code::Success);
    }
    // An account saved between the two passes may be wider than measured: its cells are
    // cut to the measured widths, never misaligned.
    let layout = widths.layout(printer.stdout_width(), &DROP_ORDER);
    let mut out = printer.data_stream();
    out.write_all(layout.header().as_bytes())?;
    store.list_each(&mut |a| {
        // Writes never fail here: `finish` reports a failed stdout.
        let _ = out.write_all(layout.line(&cells(&a)).as_bytes());
        Ok(())
    })?;
    out.finish()?;
    Ok(Code::Success)
}

/// One row of the table; `cell_widths` must measure the same cells.
fn cells(a: &AccountSummary) -> [String; 8] {
    [
        escape::for_terminal(&a.name).into_owned(),
        a.unb.clone(),
        escape::for_terminal(a.nickname.as_deref().unwrap_or("-")).into_owned(),
        a.status.as_str().to_owned(),
        time::display(a.last_refreshed),
        time::display(a.long_login_expires),
        time::display(a.last_checked),
        if a.has_proxy { "yes" } else { "no" }.to_owned(),
    ]
}

/// The widths of `cells(a)`, measured without formatting the times.
fn cell_widths(a: &AccountSummary) -> [usize; 8] {
    use unicode_width::UnicodeWidthStr;
    [
        escape::for_terminal(&a.name).width(),
        a.unb.width(),
        escape::for_terminal(a.nickname.as_deref().unwrap_or("-")).width(),
        a.status.as_str().len(),
        time::display_width(a.last_refreshed),
        time::display_width(a.long_login_expires),
        time::display_width(a.last_checked),
        if a.has_proxy { 3 } else { 2 },
    ]
}

fn json(a: &AccountSummary) -> AccountJson<'_> {
    AccountJson {
        name: &a.name,
        unb: &a.unb,
        nickname: a.nickname.as_deref(),
        status: a.status,
        last_checked: time::rfc3339(a.last_checked),
        last_refreshed: time::rfc3339(a.last_refreshed),
        long_login_expires: time::rfc3339(a.long_login_expires),
        proxy: a.has_proxy,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Status;
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn cell_widths_measure_the_cells() {
        let a = AccountSummary {
            name: "店铺\u{1b}[31m一号".into(),
            unb: "2219000000001".into(),
            nickname: None,
            status: Status::Expired,
            last_checked: Some(1_700_000_000),
            last_refreshed: None,
            long_login_expires: Some(i64::MAX),
            has_proxy: true,
        };
        let measured: Vec<usize> = cells(&a).iter().map(|c| c.width()).collect();
        assert_eq!(cell_widths(&a).to_vec(), measured);
        let b = AccountSummary {
            nickname: Some("闲鱼".into()),
            has_proxy: false,
            ..a
        };
        let measured: Vec<usize> = cells(&b).iter().map(|c| c.width()).collect();
        assert_eq!(cell_widths(&b).to_vec(), measured);
    }
}
