//! The cookie model qrlogin stores and exports: one value per cookie with every attribute
//! a browser keeps (RFC 6265 §5.3), never a flattened `k=v; k=v` string. Conversion to and
//! from the HTTP client's jar lives in `passport::jar`; text formats live in `export` and
//! `import`.

pub mod export;
pub mod import;

use crate::redacted::Secret;
use url::Url;

/// The SameSite attribute as sent in Set-Cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }

    /// Tolerant parse: Set-Cookie spellings, Playwright's and the browser extensions'
    /// (`no_restriction`, `unspecified`).
    pub fn parse(s: &str) -> Option<SameSite> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Some(SameSite::Strict),
            "lax" => Some(SameSite::Lax),
            "none" | "no_restriction" => Some(SameSite::None),
            _ => None,
        }
    }
}

/// One stored cookie. `domain` never has a leading dot; `host_only` says whether the
/// cookie was set without a Domain attribute (sent to exactly that host) or with one
/// (sent to the domain and its subdomains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: Secret,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    /// Unix seconds; `None` for a session cookie.
    pub expires: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<SameSite>,
}

impl Cookie {
    /// A cookie for the parent domain, the way Goofish sets its login cookies.
    pub fn for_domain(name: &str, value: &str, domain: &str) -> Cookie {
        let host_only = !domain.starts_with('.');
        Cookie {
            name: name.to_owned(),
            value: Secret::new(value),
            domain: domain.trim_start_matches('.').to_ascii_lowercase(),
            host_only,
            path: "/".to_owned(),
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// The domain as browsers and cookies.txt write it: a leading dot for a domain cookie.
    pub fn dotted_domain(&self) -> String {
        if self.host_only {
            self.domain.clone()
        } else {
            format!(".{}", self.domain)
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// Whether a browser would send this cookie with a request to `url` at `now`
    /// (RFC 6265 §5.4: domain-match, path-match, Secure only over https, not expired).
    /// Allocation-free: the jar asks it of every cookie for every request.
    pub fn would_send_to(&self, url: &Url, now: i64) -> bool {
        let domain_ok = if self.host_only {
            url.host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.domain))
        } else {
            host_domain_matches(url, &self.domain)
        };
        let path = url.path();
        let path_ok = path == self.path
            || (path.starts_with(&self.path)
                && (self.path.ends_with('/') || path[self.path.len()..].starts_with('/')));
        domain_ok && path_ok && (!self.secure || url.scheme() == "https") && !self.is_expired(now)
    }
}

/// RFC 6265 §5.1.3: whether `url`'s host domain-matches `domain` (no leading dot): the
/// same host, or a subdomain of it when the host is a name rather than an IP address.
pub fn host_domain_matches(url: &Url, domain: &str) -> bool {
    match url.host() {
        Some(url::Host::Domain(h)) => domain_within(h, domain),
        Some(_) => url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(domain)),
        None => false,
    }
}

/// The value of the named cookie, preferring the most specific domain and path when the
/// same name is stored more than once.
pub fn value_of<'a>(cookies: &'a [Cookie], name: &str) -> Option<&'a str> {
    // A root-path cookie is the account's own; one on a deeper path (`unb=BAD; Path=/x`)
    // must not decide who the account is. Among those, the most specific domain.
    cookies
        .iter()
        .filter(|c| c.name == name)
        .max_by_key(|c| (c.path == "/", c.domain.len()))
        .map(|c| c.value.expose())
}

/// Whether `domain` is `service` or one of its subdomains.
/// Case-insensitive and allocation-free: the jar and refresh ask it of every cookie.
pub fn domain_within(domain: &str, service: &str) -> bool {
    let (d, s) = (
        domain.trim_start_matches('.').as_bytes(),
        service.as_bytes(),
    );
    d.eq_ignore_ascii_case(s)
        || (!s.is_empty()
            && d.len() > s.len()
            && d[d.len() - s.len() - 1] == b'.'
            && d[d.len() - s.len()..].eq_ignore_ascii_case(s))
}

/// Merge `newer` into `base`: a cookie with the same (domain, host_only, path, name)
/// is replaced, an expired one removes its counterpart, everything else is kept.
/// This is how a refresh absorbs rotated cookies without ever losing one it was not sent.
pub fn merge(base: &[Cookie], newer: &[Cookie], now: i64) -> Vec<Cookie> {
    // Compared in place: building owned keys cloned six strings a comparison, 4 % of a
    // refresh's CPU.
    let same = |a: &Cookie, b: &Cookie| {
        a.name == b.name && a.domain == b.domain && a.host_only == b.host_only && a.path == b.path
    };
    let mut out: Vec<Cookie> = base.to_vec();
    for n in newer {
        out.retain(|c| !same(c, n));
        if !n.is_expired(now) {
            out.push(n.clone());
        }
    }
    out
}

/// The nickname carried by `tracknick`, percent-decoded (Chinese nicknames are sent
/// URL-encoded).
/// The server's nickname (`tracknick`), decoded and made safe to store and show: control,
/// zero-width and direction characters removed, at most 64 characters (the server's text
/// could otherwise rewrite a terminal or fill a table).
pub fn nickname(cookies: &[Cookie]) -> Option<String> {
    let raw = value_of(cookies, "tracknick")?;
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let clean: String = decoded
        .chars()
        .filter(|c| !crate::escape::is_invisible_or_control(*c))
        .take(64)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// The long-login expiry (`havana_lgc_exp`, epoch milliseconds) as Unix seconds.
pub fn long_login_expiry(cookies: &[Cookie]) -> Option<i64> {
    value_of(cookies, "havana_lgc_exp").and_then(parse_epoch_ms)
}

/// Epoch milliseconds as Unix seconds, tolerating seconds and surrounding junk-free
/// numbers only.
pub fn parse_epoch_ms(s: &str) -> Option<i64> {
    let n: i64 = s.trim().parse().ok()?;
    Some(if n > 100_000_000_000 { n / 1000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn domain_and_path_matching_follow_rfc6265() {
        let mut c = Cookie::for_domain("a", "1", ".goofish.com");
        assert!(c.would_send_to(&url("https://www.goofish.com/"), 0));
        assert!(c.would_send_to(&url("https://goofish.com/x"), 0));
        assert!(!c.would_send_to(&url("https://evilgoofish.com/"), 0));
        c.path = "/im".into();
        assert!(c.would_send_to(&url("https://www.goofish.com/im/x"), 0));
        assert!(!c.would_send_to(&url("https://www.goofish.com/imx"), 0));
        let h = Cookie::for_domain("b", "2", "passport.goofish.com");
        assert!(h.host_only);
        assert!(!h.would_send_to(&url("https://www.goofish.com/"), 0));
        let mut s = Cookie::for_domain("c", "3", ".goofish.com");
        s.secure = true;
        assert!(!s.would_send_to(&url("http://www.goofish.com/"), 0));
        s.expires = Some(10);
        assert!(!s.would_send_to(&url("https://www.goofish.com/"), 10));
    }

    #[test]
    fn merge_replaces_same_key_and_keeps_others() {
        let base = vec![
            Cookie::for_domain("unb", "1", ".goofish.com"),
            Cookie::for_domain("_m_h5_tk", "old", ".goofish.com"),
        ];
        let mut dead = Cookie::for_domain("unb", "", ".goofish.com");
        dead.expires = Some(0);
        let newer = vec![Cookie::for_domain("_m_h5_tk", "new", ".goofish.com")];
        let merged = merge(&base, &newer, 100);
        assert_eq!(value_of(&merged, "_m_h5_tk"), Some("new"));
        assert_eq!(value_of(&merged, "unb"), Some("1"));
        assert_eq!(merged.len(), 2);
        let merged = merge(&merged, &[dead], 100);
        assert_eq!(value_of(&merged, "unb"), None);
    }

    #[test]
    fn nickname_is_percent_decoded() {
        let c = vec![Cookie::for_domain(
            "tracknick",
            "%E9%97%B2%E9%B1%BC",
            ".goofish.com",
        )];
        assert_eq!(nickname(&c).as_deref(), Some("闲鱼"));
        let hostile = vec![Cookie::for_domain(
            "tracknick",
            &format!("%1B%5B2J%E2%80%AEevil%0A{}", "x".repeat(5000)),
            ".goofish.com",
        )];
        let n = nickname(&hostile).unwrap();
        assert!(n.starts_with("[2Jevilx") && n.chars().count() == 64, "{n}");
    }
}
