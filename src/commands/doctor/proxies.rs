//! doctor's proxy checks: the proxy variables in the environment and every stored
//! account's proxy, shown with passwords replaced.

use super::*;

pub(super) fn proxies(globals: &Globals, env: &Environment) -> Vec<Check> {
    let mut out = Vec::new();
    for (name, value) in &env.proxies {
        let lower = name.to_ascii_lowercase();
        if lower == "no_proxy" {
            out.push(check(
                Level::Ok,
                "proxy",
                format!("{name}={value}"),
                None,
                Code::Usage,
            ));
            continue;
        }
        out.push(match crate::settings::check_proxy(value) {
            Ok(_) => check(
                Level::Ok,
                "proxy",
                format!("{name}={}", crate::redacted::redact_url(value)),
                None,
                Code::Usage,
            ),
            Err(e) => check(
                Level::Fail,
                "proxy",
                format!("{name}: {}", e.message),
                Some("unset it or fix the URL"),
                Code::Usage,
            ),
        });
    }
    if let Ok(Some(store)) = Store::open_existing(&globals.db)
        && let Ok(list) = store.all()
    {
        for a in list.iter().filter(|a| a.proxy.is_some()) {
            let p = a.proxy.as_deref().unwrap_or_default();
            if let Err(e) = crate::settings::check_proxy(p) {
                out.push(check(
                    Level::Fail,
                    "proxy",
                    format!(
                        "account {}: {}",
                        crate::escape::for_terminal(&a.name),
                        e.message
                    ),
                    None,
                    Code::Usage,
                ));
            } else {
                out.push(check(
                    Level::Ok,
                    "proxy",
                    format!(
                        "account {} uses {}",
                        crate::escape::for_terminal(&a.name),
                        crate::redacted::redact_url(p)
                    ),
                    None,
                    Code::Usage,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(check(
            Level::Ok,
            "proxy",
            "no proxy configured",
            None,
            Code::Usage,
        ));
    }
    out
}
