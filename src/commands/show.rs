//! `qrlogin show NAME`: one account in detail; cookies by name and attributes, no values.

use crate::exit::Code;
use crate::printer::Printer;
use crate::store::Store;
use crate::time;

pub fn run(store: &Store, name: &str, as_json: bool, printer: &Printer) -> anyhow::Result<Code> {
    let a = store.get(name)?;
    let proxy = a.proxy.as_deref().map(crate::redacted::redact_url);
    if as_json {
        let v = AccountJson {
            name: &a.name,
            unb: &a.unb,
            nickname: a.nickname.as_deref(),
            status: a.status,
            created: time::rfc3339(Some(a.created_at)),
            updated: time::rfc3339(Some(a.updated_at)),
            last_checked: time::rfc3339(a.last_checked),
            last_refreshed: time::rfc3339(a.last_refreshed),
            consecutive_failures: a.consecutive_failures,
            next_attempt: time::rfc3339(a.next_attempt_at),
            long_login_expires: time::rfc3339(a.long_login_until),
            proxy: proxy.as_deref(),
            user_agent: a.user_agent.as_deref(),
            cookies: a
                .cookies
                .iter()
                .map(|c| CookieJson {
                    name: &c.name,
                    domain: c.dotted_domain(),
                    path: &c.path,
                    expires: time::rfc3339(c.expires),
                    secure: c.secure,
                    http_only: c.http_only,
                    same_site: c.same_site.map(|s| s.as_str()),
                })
                .collect(),
        };
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
    field("long login until", time::display(a.long_login_until));
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

/// `show --json`: one account with its cookies' attributes, never their values.
#[derive(serde::Serialize)]
struct AccountJson<'a> {
    name: &'a str,
    unb: &'a str,
    nickname: Option<&'a str>,
    status: crate::store::Status,
    created: Option<String>,
    updated: Option<String>,
    last_checked: Option<String>,
    last_refreshed: Option<String>,
    consecutive_failures: i64,
    next_attempt: Option<String>,
    long_login_expires: Option<String>,
    /// With its password replaced.
    proxy: Option<&'a str>,
    user_agent: Option<&'a str>,
    cookies: Vec<CookieJson<'a>>,
}

#[derive(serde::Serialize)]
struct CookieJson<'a> {
    name: &'a str,
    domain: String,
    path: &'a str,
    expires: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: Option<&'static str>,
}
