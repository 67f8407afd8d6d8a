//! `qrlogin show NAME`: one account in detail; cookies by name and attributes, no values.

use crate::exit::Code;
use crate::printer::Printer;
use crate::store::Store;
use crate::time;
use serde_json::json;

pub fn run(store: &Store, name: &str, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    let a = store.get(name)?;
    let proxy = a.proxy.as_deref().map(crate::redacted::redact_url);
    if as_json {
        let cookies: Vec<_> = a
            .cookies
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "domain": c.dotted_domain(),
                    "path": c.path,
                    "expires": time::json(c.expires),
                    "secure": c.secure,
                    "http_only": c.http_only,
                    "same_site": c.same_site.map(|s| s.as_str()),
                })
            })
            .collect();
        let v = json!({
            "name": a.name,
            "unb": a.unb,
            "nickname": a.nickname,
            "status": a.status.as_str(),
            "created": time::json(Some(a.created_at)),
            "updated": time::json(Some(a.updated_at)),
            "last_checked": time::json(a.last_checked),
            "last_refreshed": time::json(a.last_refreshed),
            "consecutive_failures": a.consecutive_failures,
            "next_attempt": time::json(a.next_attempt_at),
            "long_login_expires": time::json(crate::cookies::long_login_expiry(&a.cookies)),
            "proxy": proxy,
            "user_agent": a.user_agent,
            "cookies": cookies,
        });
        printer.data_line(&serde_json::to_string_pretty(&v)?)?;
        return Ok(Code::Success);
    }
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<22}{v}\n"));
    field("name", crate::escape::for_terminal(&a.name).into_owned());
    field("unb", a.unb.clone());
    field(
        "nickname",
        crate::escape::for_terminal(a.nickname.as_deref().unwrap_or("-")).into_owned(),
    );
    field("status", a.status.as_str().into());
    field("created", time::display(Some(a.created_at)));
    field("updated", time::display(Some(a.updated_at)));
    field("last checked", time::display(a.last_checked));
    field("last refreshed", time::display(a.last_refreshed));
    field("consecutive failures", a.consecutive_failures.to_string());
    field("next attempt", time::display(a.next_attempt_at));
    field(
        "long login until",
        time::display(crate::cookies::long_login_expiry(&a.cookies)),
    );
    field("proxy", proxy.unwrap_or_else(|| "-".into()));
    field(
        "user agent",
        a.user_agent.clone().unwrap_or_else(|| "-".into()),
    );
    out.push_str(&format!("cookies ({}):\n", a.cookies.len()));
    for c in &a.cookies {
        let mut flags = Vec::new();
        if c.secure {
            flags.push("Secure".to_owned());
        }
        if c.http_only {
            flags.push("HttpOnly".to_owned());
        }
        if let Some(s) = c.same_site {
            flags.push(format!("SameSite={}", s.as_str()));
        }
        let line = format!(
            "  {:<24} {:<28} {:<6} {:<22} {}",
            c.name,
            c.dotted_domain(),
            c.path,
            match c.expires {
                Some(_) => time::display(c.expires),
                None => "session".into(),
            },
            flags.join(" ")
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    printer.data(&out)?;
    Ok(Code::Success)
}
