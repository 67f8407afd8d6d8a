//! Types that hold a credential and refuse to show it. `Secret` (a cookie value, a token)
//! shows itself in `Debug` or `Display` as `[redacted]`, so that no log line, error or
//! panic message can leak it by accident; the value is only reachable through
//! [`Secret::expose`], which is easy to grep for. `Proxy` is a proxy URL checked once,
//! whose `Display` and `Debug` replace its password; [`redact_url`] does the same for any
//! URL shown to a person.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself. Callers: the cookie jar, the store, and `export`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A credential leaves no copy in memory that is freed with it.
impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// A URL with its password replaced by `***`: a proxy's or a database's password is a
/// credential too. Text that is not a URL is shown as is (it holds no password field).
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) if u.password().is_some() => format!(
            "{}://{}:***@{}{}",
            u.scheme(),
            u.username(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        _ => raw.to_owned(),
    }
}

/// A database URL (libpq syntax: `postgres://user:password@host1,host2:5432/db?...`) with
/// its password replaced, in the authority and in a `password=` parameter. Lexical, not
/// parsed: libpq URLs with several hosts are not URLs to the `url` crate, and an unparsable
/// one must not be shown as it is.
pub fn redact_db_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{hosts}"),
            None => format!("{user_info}@{hosts}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A proxy URL (http, https or socks5 with a host), checked once where it enters the
/// program; shown with its password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy(String);

impl Proxy {
    pub fn parse(raw: &str) -> Result<Proxy, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || url.host().is_none()
        {
            return Err("must be an http://, https:// or socks5:// URL with a host".into());
        }
        Ok(Proxy(raw.to_owned()))
    }

    /// The URL itself, password included: for the HTTP client and the store only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_never_show_a_password() {
        for (raw, shown) in [
            (
                "postgres://qr:s3cret@db1,db2:5432/qrlogin?sslmode=require",
                "postgres://qr:***@db1,db2:5432/qrlogin?sslmode=require",
            ),
            (
                "postgresql://qr@db/q?password=s3cret&sslmode=disable",
                "postgresql://qr@db/q?password=***&sslmode=disable",
            ),
            ("postgres://db/q", "postgres://db/q"),
            ("postgres://u:p:q@@h", "postgres://u:***@h"),
        ] {
            assert_eq!(redact_db_url(raw), shown);
            assert!(!redact_db_url(raw).contains("s3cret"));
        }
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn proxies_hide_their_password() {
        let p = Proxy::parse("socks5://user:hunter2@127.0.0.1:1080").unwrap();
        assert_eq!(p.to_string(), "socks5://user:***@127.0.0.1:1080");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(Proxy::parse("ftp://x").is_err());
    }
}
