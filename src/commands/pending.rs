//! `qrlogin pending`: logins started with `--no-wait` and not finished yet.

use crate::exit::Code;
use crate::printer::Printer;
use crate::store::Store;
use crate::time;
use serde_json::json;

pub fn run(store: &Store, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    let removed = store.purge_pending(time::now())?;
    if removed > 0 {
        printer.info(&format!("removed {removed} expired pending login(s)"));
    }
    let pending = store.list_pending()?;
    if as_json {
        let items: Vec<_> = pending
            .iter()
            .map(|p| {
                json!({"id": p.id, "name": p.name, "created": time::json(Some(p.created_at)), "expires": time::json(Some(p.expires_at))})
            })
            .collect();
        printer.data_line(&serde_json::to_string_pretty(&items)?)?;
        return Ok(Code::Success);
    }
    if pending.is_empty() {
        printer.info("no pending logins");
        return Ok(Code::Success);
    }
    let mut out = format!(
        "{:<14} {:<20} {:<22} {}\n",
        "ID", "NAME", "CREATED", "EXPIRES"
    );
    for p in &pending {
        out.push_str(&format!(
            "{:<14} {:<20} {:<22} {}\n",
            p.id,
            p.name.as_deref().unwrap_or("-"),
            time::display(Some(p.created_at)),
            time::display(Some(p.expires_at))
        ));
    }
    printer.data(&out)?;
    Ok(Code::Success)
}
