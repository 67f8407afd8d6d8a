//! Between the HTTP client's cookie jar (`cookie_store`, RFC 6265 rules) and qrlogin's
//! stored cookies. Session cookies are kept: `cookie_store`'s own `save` would drop them.

use crate::cookies::{Cookie, SameSite};
use crate::redacted::Secret;
use cookie_store::{CookieDomain, CookieExpiration, CookieStore, RawCookie};
use url::Url;

/// Every unexpired cookie in the jar, with all its attributes, in a stable order (domain,
/// path, name): the jar's own order is a hash map's, and a stored account should not
/// reorder its cookies from one run to the next.
pub fn export(jar: &CookieStore) -> Vec<Cookie> {
    let mut out: Vec<Cookie> = jar
        .iter_unexpired()
        .filter_map(|c| {
            let (domain, host_only) = match &c.domain {
                CookieDomain::HostOnly(h) => (h.clone(), true),
                CookieDomain::Suffix(d) => (d.clone(), false),
                CookieDomain::NotPresent | CookieDomain::Empty => return None,
            };
            Some(Cookie {
                name: c.name().to_owned(),
                value: Secret::new(c.value()),
                domain: domain.trim_start_matches('.').to_owned(),
                host_only,
                path: String::from(&c.path),
                expires: match &c.expires {
                    CookieExpiration::AtUtc(t) => Some(t.unix_timestamp()),
                    CookieExpiration::SessionEnd => None,
                },
                secure: c.secure().unwrap_or(false),
                http_only: c.http_only().unwrap_or(false),
                same_site: c.same_site().map(|s| match s {
                    cookie::SameSite::Strict => SameSite::Strict,
                    cookie::SameSite::Lax => SameSite::Lax,
                    cookie::SameSite::None => SameSite::None,
                }),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.domain, &a.path, &a.name).cmp(&(&b.domain, &b.path, &b.name)));
    out
}

/// A jar holding `cookies`, as if each had been set by its own domain.
pub fn import(cookies: &[Cookie]) -> CookieStore {
    let mut jar = CookieStore::new();
    for c in cookies {
        let mut b = RawCookie::build((c.name.clone(), c.value.expose().to_owned()))
            .path(c.path.clone())
            .secure(c.secure)
            .http_only(c.http_only);
        if !c.host_only {
            b = b.domain(c.domain.clone());
        }
        if let Some(exp) = c.expires
            && let Ok(t) = cookie::time::OffsetDateTime::from_unix_timestamp(exp)
        {
            b = b.expires(t);
        }
        if let Some(s) = c.same_site {
            b = b.same_site(match s {
                SameSite::Strict => cookie::SameSite::Strict,
                SameSite::Lax => cookie::SameSite::Lax,
                SameSite::None => cookie::SameSite::None,
            });
        }
        let raw = b.build();
        // The URL the cookie is "received from": its own host, https so Secure is allowed.
        if let Ok(url) = Url::parse(&format!("https://{}{}", c.domain, c.path)) {
            let _ = jar.insert_raw(&raw, &url);
        }
    }
    jar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_session_cookies_and_attributes() {
        let mut a = Cookie::for_domain("unb", "1", ".goofish.com");
        a.http_only = true;
        a.expires = Some(4_000_000_000);
        let mut b = Cookie::for_domain("XSRF-TOKEN", "x", "passport.goofish.com");
        b.secure = true;
        b.same_site = Some(SameSite::Lax);
        let c = Cookie::for_domain("cookie2", "s", "127.0.0.1");
        let jar = import(&[a.clone(), b.clone(), c.clone()]);
        let mut back = export(&jar);
        back.sort_by(|x, y| x.name.cmp(&y.name));
        let mut want = vec![a, b, c];
        want.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(back, want);
    }
}
