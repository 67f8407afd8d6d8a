//! The HTTP client's cookie jar: qrlogin's own [`Cookie`]s, stored and sent by the rules
//! of RFC 6265 (§5.3 storage model, §5.4 the Cookie header). Session cookies are kept.
//!
//! The jar is qrlogin's own rather than `cookie_store`'s because a refresh builds one jar
//! per account from its stored cookies and reads it back afterwards: converting every
//! cookie into `cookie_store`'s types and back (a URL built and parsed per cookie, a
//! string formatted per domain match) was about a seventh of a refresh's CPU. Here the
//! stored cookies are the jar.

use crate::cookies::{Cookie, SameSite};
use crate::redacted::Secret;
use reqwest::header::HeaderValue;
use std::sync::{Mutex, MutexGuard};
use url::Url;

/// One login's or one account's cookies. Cookies are kept in creation order (a replaced
/// cookie keeps its place, RFC 6265 §5.3 step 11.3), which decides the order among cookies
/// of equal path length in the Cookie header (§5.4 step 2).
#[derive(Default)]
pub struct Jar {
    cookies: Mutex<Vec<Cookie>>,
}

impl Jar {
    /// A jar holding `cookies`, as if each had been set by its own domain. Expired ones,
    /// ones no request could match (no domain, a path not starting with `/`) and all but
    /// the last of several with the same domain, path and name are left out.
    pub fn new(cookies: &[Cookie]) -> Jar {
        let now = crate::time::now();
        let mut kept: Vec<Cookie> = Vec::with_capacity(cookies.len());
        for c in cookies {
            if c.is_expired(now) || !plausible_domain(&c.domain) || !c.path.starts_with('/') {
                continue;
            }
            put(&mut kept, c.clone());
        }
        Jar {
            cookies: Mutex::new(kept),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Cookie>> {
        // A panic while the lock was held cannot leave the list half-changed: every
        // change is one push, one assignment or one remove.
        self.cookies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every unexpired cookie, with all its attributes, in a stable order (domain, path,
    /// name): a stored account should not reorder its cookies from one run to the next.
    pub fn export(&self) -> Vec<Cookie> {
        self.export_where(|_| true)
    }

    /// [`Jar::export`] of only the cookies `keep` accepts (the others are never copied).
    pub fn export_where(&self, keep: impl Fn(&Cookie) -> bool) -> Vec<Cookie> {
        let mut out: Vec<Cookie> =
            self.with_live(|live| live.iter().filter(|c| keep(c)).cloned().collect());
        out.sort_by(|a, b| (&a.domain, &a.path, &a.name).cmp(&(&b.domain, &b.path, &b.name)));
        out
    }

    /// `f` over the unexpired cookies, in the jar's order, without copying them when none
    /// has expired since it was stored (a refresh reads its jar this way for every account).
    pub fn with_live<T>(&self, f: impl FnOnce(&[Cookie]) -> T) -> T {
        let now = crate::time::now();
        let jar = self.lock();
        if jar.iter().any(|c| c.is_expired(now)) {
            let live: Vec<Cookie> = jar.iter().filter(|c| !c.is_expired(now)).cloned().collect();
            drop(jar);
            return f(&live);
        }
        f(&jar)
    }

    /// The value of cookie `name` as a request to `url` would carry it first (the most
    /// specific path, as in the header).
    pub fn value_sent_to(&self, url: &Url, name: &str) -> Option<String> {
        let jar = self.lock();
        sent_to(&jar, url, crate::time::now())
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.value.expose().to_owned())
    }

    /// The Cookie header for a request to `url`.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        let jar = self.lock();
        let sent = sent_to(&jar, url, crate::time::now());
        if sent.is_empty() {
            return None;
        }
        let len = sent
            .iter()
            .map(|c| c.name.len() + c.value.expose().len() + 3)
            .sum();
        let mut out = String::with_capacity(len);
        for c in sent {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(c.value.expose());
        }
        Some(out)
    }

    /// Store what one `Set-Cookie` header sent in answer to `url` says (§5.3), at `now`.
    /// A header that does not parse, or whose Domain the host may not set, is ignored.
    pub fn store(&self, set_cookie: &str, url: &Url, now: i64) {
        if let Some((cookie, expired)) = from_set_cookie(set_cookie, url, now) {
            let mut jar = self.lock();
            if expired {
                jar.retain(|c| !same_key(c, &cookie));
            } else {
                put(&mut jar, cookie);
            }
        }
    }
}

impl reqwest::cookie::CookieStore for Jar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let now = crate::time::now();
        for h in headers {
            if let Ok(s) = std::str::from_utf8(h.as_bytes()) {
                self.store(s, url, now);
            }
        }
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        // A value with bytes a header may not carry is not sent rather than sent broken.
        HeaderValue::from_str(&self.header_for(url)?).ok()
    }
}

/// The cookies a request to `url` carries, in the header's order (§5.4 step 2): longer
/// paths first, then in creation order (the sort is stable).
fn sent_to<'a>(jar: &'a [Cookie], url: &Url, now: i64) -> Vec<&'a Cookie> {
    let mut sent: Vec<&Cookie> = jar.iter().filter(|c| c.would_send_to(url, now)).collect();
    sent.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
    sent
}

/// The cookie key of §5.3 step 11: name, domain and path.
fn same_key(a: &Cookie, b: &Cookie) -> bool {
    a.name == b.name && a.domain == b.domain && a.path == b.path
}

/// Insert `cookie`, replacing the one with its key in place.
fn put(jar: &mut Vec<Cookie>, cookie: Cookie) {
    match jar.iter_mut().find(|c| same_key(c, &cookie)) {
        Some(old) => *old = cookie,
        None => jar.push(cookie),
    }
}

/// A domain a stored cookie can carry: not empty, no leading dot, nothing a host name
/// cannot hold.
fn plausible_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with('.')
        && !d
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"/?#@\\".contains(&b))
}

/// The cookie one Set-Cookie header makes, and whether it is already expired (a server
/// deletes a cookie by sending it expired). `None` when it must be ignored.
fn from_set_cookie(header: &str, url: &Url, now: i64) -> Option<(Cookie, bool)> {
    let raw = cookie::Cookie::parse(header).ok()?;
    let host = url.host_str()?;
    // §5.3 step 3: Max-Age wins over Expires; neither makes a session cookie.
    let expires = match (raw.max_age(), raw.expires_datetime()) {
        // "The earliest representable date and time": expired whatever `now` is.
        (Some(age), _) if age.whole_seconds() <= 0 => Some(i64::MIN),
        (Some(age), _) => Some(now.saturating_add(age.whole_seconds())),
        (None, Some(at)) => Some(at.unix_timestamp()),
        (None, None) => None,
    };
    // §5.3 steps 4–6. An empty Domain attribute is ignored (§5.2.3): a host-only cookie.
    let attribute = raw.domain().map(str::trim).filter(|d| !d.is_empty());
    let (domain, host_only) = match attribute {
        Some(d) => {
            let d = if d.is_ascii() {
                d.to_ascii_lowercase()
            } else {
                idna::domain_to_ascii(d).ok()?
            };
            if !crate::cookies::host_domain_matches(url, &d) {
                return None;
            }
            (d, false)
        }
        None => (host.to_ascii_lowercase(), true),
    };
    if !plausible_domain(&domain) {
        return None;
    }
    // §5.3 step 7 and §5.1.4: a Path not starting with `/` means the default path.
    let path = match raw.path() {
        Some(p) if p.starts_with('/') => p.to_owned(),
        _ => default_path(url.path()),
    };
    let cookie = Cookie {
        name: raw.name().to_owned(),
        value: Secret::new(raw.value()),
        domain,
        host_only,
        path,
        expires,
        secure: raw.secure().unwrap_or(false),
        http_only: raw.http_only().unwrap_or(false),
        same_site: raw.same_site().map(|s| match s {
            cookie::SameSite::Strict => SameSite::Strict,
            cookie::SameSite::Lax => SameSite::Lax,
            cookie::SameSite::None => SameSite::None,
        }),
    };
    let expired = cookie.is_expired(now);
    Some((cookie, expired))
}

/// §5.1.4: the directory of the request path, `/` when there is none.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(i) if i > 0 => path[..i].to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore as _;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn roundtrip_keeps_session_cookies_and_attributes() {
        let mut a = Cookie::for_domain("unb", "1", ".goofish.com");
        a.http_only = true;
        a.expires = Some(4_000_000_000);
        let mut b = Cookie::for_domain("XSRF-TOKEN", "x", "passport.goofish.com");
        b.secure = true;
        b.same_site = Some(SameSite::Lax);
        let c = Cookie::for_domain("cookie2", "s", "127.0.0.1");
        let jar = Jar::new(&[a.clone(), b.clone(), c.clone()]);
        let mut back = jar.export();
        back.sort_by(|x, y| x.name.cmp(&y.name));
        let mut want = vec![a, b, c];
        want.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(back, want);
    }

    #[test]
    fn set_cookie_follows_the_storage_model() {
        let jar = Jar::default();
        let now = crate::time::now();
        let from = url("https://passport.goofish.com/newlogin/hasLogin.do?x=1");
        jar.store(
            "cookie2=a; Domain=.goofish.com; Path=/; HttpOnly",
            &from,
            now,
        );
        jar.store("XSRF-TOKEN=t; Secure; SameSite=Lax", &from, now);
        jar.store("evil=1; Domain=example.com", &from, now);
        jar.store("sub=1; Domain=www.goofish.com", &from, now);
        jar.store(
            "aged=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            &from,
            now,
        );
        let got = jar.export();
        let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["cookie2", "XSRF-TOKEN", "aged"]);
        let xsrf = &got[1];
        assert!(xsrf.host_only && xsrf.secure && xsrf.path == "/newlogin");
        assert_eq!(xsrf.domain, "passport.goofish.com");
        assert_eq!(xsrf.same_site, Some(SameSite::Lax));
        assert!(!got[0].host_only && got[0].http_only);
        assert!(got[2].expires.is_some_and(|e| e == now + 60));
        // Replaced in place, then deleted by an expired copy.
        jar.store("cookie2=b; Domain=goofish.com; Path=/", &from, now);
        assert_eq!(
            jar.value_sent_to(&url("https://www.goofish.com/"), "cookie2"),
            Some("b".into())
        );
        jar.store(
            "cookie2=; Domain=goofish.com; Path=/; Max-Age=0",
            &from,
            now,
        );
        assert_eq!(
            jar.value_sent_to(&url("https://www.goofish.com/"), "cookie2"),
            None
        );
        // Nothing that does not parse is stored.
        jar.store("", &from, now);
        jar.store("=novalue", &from, now);
        assert_eq!(jar.export().len(), 2);
    }

    #[test]
    fn the_header_puts_longer_paths_first_and_keeps_secure_cookies_off_plain_http() {
        let mut deep = Cookie::for_domain("a", "deep", ".goofish.com");
        deep.path = "/im".into();
        let root = Cookie::for_domain("a", "root", ".goofish.com");
        let mut secure = Cookie::for_domain("s", "1", ".goofish.com");
        secure.secure = true;
        let jar = Jar::new(&[root, deep, secure]);
        let h = jar.cookies(&url("https://www.goofish.com/im/x")).unwrap();
        assert_eq!(h.to_str().unwrap(), "a=deep; a=root; s=1");
        assert_eq!(
            jar.header_for(&url("http://www.goofish.com/")).as_deref(),
            Some("a=root")
        );
        assert_eq!(jar.header_for(&url("https://example.com/")), None);
        assert_eq!(
            jar.value_sent_to(&url("https://www.goofish.com/im/x"), "a"),
            Some("deep".into())
        );
    }

    #[test]
    fn a_domain_attribute_never_widens_an_ip_host() {
        let jar = Jar::default();
        jar.store("a=1; Domain=0.0.1", &url("http://127.0.0.1:9/"), 0);
        jar.store("b=1", &url("http://127.0.0.1:9/x/y"), 0);
        let got = jar.export();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].domain.as_str(), got[0].path.as_str()),
            ("127.0.0.1", "/x")
        );
        assert!(got[0].host_only);
    }

    #[test]
    fn import_drops_what_no_request_could_match() {
        let mut expired = Cookie::for_domain("e", "1", ".goofish.com");
        expired.expires = Some(1);
        let mut pathless = Cookie::for_domain("p", "1", ".goofish.com");
        pathless.path = "im".into();
        let nowhere = Cookie::for_domain("n", "1", "");
        let first = Cookie::for_domain("d", "1", ".goofish.com");
        let second = Cookie::for_domain("d", "2", ".goofish.com");
        let jar = Jar::new(&[expired, pathless, nowhere, first, second]);
        let got = jar.export();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].value.expose(), "2");
    }
}
