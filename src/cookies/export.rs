//! Cookie export formats: what other tools read. Each function returns the full text to
//! write; none of them is ever called for anything but `qrlogin export`, and (JSON) the
//! file a login that could not be saved leaves its cookies in (`add_account::rescue`).

use super::{Cookie, SameSite};
use serde_json::json;
use url::Url;

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Header,
    Json,
    Netscape,
    Playwright,
    Env,
}

pub fn render(format: Format, cookies: &[Cookie], site: &Url, now: i64) -> String {
    match format {
        Format::Header => format!("{}\n", header(cookies, site, now)),
        Format::Json => json_array(cookies),
        Format::Netscape => netscape(cookies),
        Format::Playwright => playwright(cookies),
        Format::Env => env(cookies, site, now),
    }
}

/// The `Cookie:` header value a browser would send to `site`: matching cookies, longer
/// paths first (RFC 6265 §5.4 step 2), without the header name.
pub fn header(cookies: &[Cookie], site: &Url, now: i64) -> String {
    let mut sending: Vec<&Cookie> = cookies
        .iter()
        .filter(|c| c.would_send_to(site, now))
        .collect();
    sending.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
    sending
        .iter()
        .map(|c| format!("{}={}", c.name, c.value.expose()))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn json_array(cookies: &[Cookie]) -> String {
    let items: Vec<_> = cookies
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "value": c.value.expose(),
                "domain": c.dotted_domain(),
                "path": c.path,
                "expires": c.expires,
                "secure": c.secure,
                "http_only": c.http_only,
                "same_site": c.same_site.map(SameSite::as_str),
            })
        })
        .collect();
    pretty(&serde_json::Value::Array(items))
}

/// cookies.txt as curl, wget and yt-dlp read it: seven tab-separated fields, a
/// `#HttpOnly_` prefix for HttpOnly cookies, `0` expiry for session cookies.
fn netscape(cookies: &[Cookie]) -> String {
    let mut out = String::from(
        "# Netscape HTTP Cookie File\n# Written by qrlogin. This file holds login credentials: keep it private.\n\n",
    );
    for c in cookies {
        out.push_str(&format!(
            "{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            if c.http_only { "#HttpOnly_" } else { "" },
            c.dotted_domain(),
            if c.host_only { "FALSE" } else { "TRUE" },
            c.path,
            if c.secure { "TRUE" } else { "FALSE" },
            c.expires.unwrap_or(0),
            c.name,
            c.value.expose(),
        ));
    }
    out
}

/// Playwright's `storageState` (`browserContext.storageState()` / `newContext({storageState})`).
fn playwright(cookies: &[Cookie]) -> String {
    let items: Vec<_> = cookies
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "value": c.value.expose(),
                "domain": c.dotted_domain(),
                "path": c.path,
                "expires": c.expires.unwrap_or(-1),
                "httpOnly": c.http_only,
                "secure": c.secure,
                "sameSite": c.same_site.unwrap_or(SameSite::Lax).as_str(),
            })
        })
        .collect();
    pretty(&json!({ "cookies": items, "origins": [] }))
}

/// `COOKIES_STR='…'`, the variable Python Goofish bots read, single-quoted for a shell
/// or a dotenv file.
fn env(cookies: &[Cookie], site: &Url, now: i64) -> String {
    let value = header(cookies, site, now).replace('\'', r"'\''");
    format!("COOKIES_STR='{value}'\n")
}

fn pretty(v: &serde_json::Value) -> String {
    // Serialising a `Value` cannot fail: every key is a string.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Cookie> {
        let mut unb = Cookie::for_domain("unb", "2219000000001", ".goofish.com");
        unb.http_only = true;
        unb.expires = Some(2_000_000_000);
        let mut xsrf = Cookie::for_domain("XSRF-TOKEN", "x'y", "passport.goofish.com");
        xsrf.secure = true;
        vec![unb, Cookie::for_domain("t", "abc", ".goofish.com"), xsrf]
    }

    #[test]
    fn header_only_holds_what_www_would_receive() {
        let site = Url::parse("https://www.goofish.com/").unwrap();
        assert_eq!(header(&sample(), &site, 0), "unb=2219000000001; t=abc");
    }

    #[test]
    fn netscape_lines_have_seven_fields_and_the_httponly_prefix() {
        let text = netscape(&sample());
        let lines: Vec<_> = text.lines().filter(|l| !l.is_empty()).skip(2).collect();
        assert_eq!(
            lines[0],
            "#HttpOnly_.goofish.com\tTRUE\t/\tFALSE\t2000000000\tunb\t2219000000001"
        );
        assert_eq!(
            lines[2],
            "passport.goofish.com\tFALSE\t/\tTRUE\t0\tXSRF-TOKEN\tx'y"
        );
    }

    #[test]
    fn env_quotes_for_a_shell() {
        let mut c = sample();
        c[1].value = "it's".into();
        let site = Url::parse("https://www.goofish.com/").unwrap();
        assert_eq!(
            env(&c, &site, 0),
            "COOKIES_STR='unb=2219000000001; t=it'\\''s'\n"
        );
    }
}
