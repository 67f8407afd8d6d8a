//! The Goofish HTTP client: one cookie jar and one connection pool per login or refresh,
//! the browser-like headers of protocol.md §8, and one method per endpoint returning typed
//! results. Base URLs come in at construction, so tests point it at the simulator.

mod endpoints;
mod error;
pub mod jar;
mod mtop;
mod qr_login;
mod renewal;
pub mod sign;
mod trace;
mod transport;
mod verification;
pub mod viewdata;
pub mod wire;

pub use error::{PassportError, Step, parse_json, root_cause};
use error::{check_intercepted, expect_success, malformed};
pub use mtop::{MtopOutcome, classify_ret};
pub use qr_login::{Confirmation, QrCode, QrState, classify_query, normalise_url};
pub use renewal::SilentMode;
pub use trace::Trace;
pub use verification::{IvState, Verification, extract_htoken, extract_qr_text};

use crate::cookies::Cookie;
use crate::redacted::Proxy;
pub use endpoints::{
    DEFAULT_H5API_URL, DEFAULT_PASSPORT_URL, DEFAULT_WWW_URL, Endpoints, ExtraCa, Resolve,
    SERVICE_DOMAIN,
};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub struct PassportClient {
    http: Client,
    jar: Arc<jar::Jar>,
    /// With a shared `Client` (refresh), cookies and the User-Agent are added per request
    /// from this account's own jar instead of by the client.
    shared: bool,
    endpoints: Endpoints,
    user_agent: String,
    timeout: Duration,
    /// `--trace`: every exchange recorded, redacted.
    trace: Option<Trace>,
}

/// The one HTTP client builder: compression, timeouts, the idle pool, the proxy, and how
/// the hosts are reached (`--resolve`, an extra CA).
pub fn client_builder(
    endpoints: &Endpoints,
    proxy: Option<&Proxy>,
    timeout: Duration,
) -> Result<reqwest::ClientBuilder, PassportError> {
    let mut b = reach(Client::builder(), endpoints)?
        .gzip(true)
        .brotli(true)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90));
    if let Some(p) = proxy {
        let proxy = reqwest::Proxy::all(p.expose()).map_err(|e| PassportError::Proxy {
            proxy: p.to_string(),
            detail: root_cause(&e),
        })?;
        b = b.proxy(proxy);
    }
    Ok(b)
}

/// Apply `--resolve` and the extra CA to a client builder.
fn reach(
    mut b: reqwest::ClientBuilder,
    e: &Endpoints,
) -> Result<reqwest::ClientBuilder, PassportError> {
    let hosts: std::collections::BTreeSet<&str> =
        e.resolve.iter().map(|r| r.host.as_str()).collect();
    for host in hosts {
        b = b.resolve_to_addrs(host, &e.resolved(host));
    }
    if let Some(ca) = &e.extra_ca {
        let certs = reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(|err| {
            PassportError::Network {
                step: Step::H5Token,
                detail: format!(
                    "cannot use the CA in {} ({})",
                    ca.path.display(),
                    root_cause(&err)
                ),
            }
        })?;
        b = b.tls_certs_merge(certs);
    }
    Ok(b)
}

fn build(b: reqwest::ClientBuilder) -> Result<Client, PassportError> {
    b.build().map_err(|e| PassportError::Network {
        step: Step::H5Token,
        detail: format!("cannot set up the HTTP client ({})", root_cause(&e)),
    })
}

/// An HTTP client without a cookie store, for many accounts at once: one connection pool
/// and one TLS set-up instead of one per account. Redirects are not followed (renewal
/// endpoints answer 200/302 and the 302 is the answer, protocol.md §8).
pub fn shared_http(
    endpoints: &Endpoints,
    proxy: Option<&Proxy>,
    timeout: Duration,
    max_idle: usize,
) -> Result<Client, PassportError> {
    build(
        client_builder(endpoints, proxy, timeout)?
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_idle),
    )
}

impl PassportClient {
    pub fn new(
        endpoints: Endpoints,
        user_agent: &str,
        proxy: Option<&Proxy>,
        timeout: Duration,
        cookies: &[Cookie],
        trace: Option<Trace>,
    ) -> Result<PassportClient, PassportError> {
        let jar = Arc::new(jar::Jar::new(cookies));
        // Up to 10 redirects, each one noted in the trace when there is one.
        let noted = trace.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error("too many redirects");
            }
            if let (Some(t), Some(from)) = (&noted, attempt.previous().last()) {
                t.redirect(attempt.status().as_u16(), from, attempt.url());
            }
            attempt.follow()
        });
        let http = build(
            client_builder(&endpoints, proxy, timeout)?
                .cookie_provider(jar.clone())
                .user_agent(user_agent)
                .redirect(policy),
        )?;
        Ok(PassportClient {
            http,
            jar,
            shared: false,
            endpoints,
            user_agent: user_agent.to_owned(),
            timeout,
            trace,
        })
    }

    /// A client for one account over a shared connection pool (see [`shared_http`]).
    pub fn over(
        http: Client,
        endpoints: Endpoints,
        user_agent: &str,
        timeout: Duration,
        cookies: &[Cookie],
    ) -> PassportClient {
        PassportClient {
            http,
            jar: Arc::new(jar::Jar::new(cookies)),
            shared: true,
            endpoints,
            user_agent: user_agent.to_owned(),
            timeout,
            trace: None,
        }
    }

    /// Record every exchange of this client into `trace`.
    pub fn traced(mut self, trace: Option<Trace>) -> PassportClient {
        self.trace = trace;
        self
    }

    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Every cookie the jar holds now.
    pub fn cookies(&self) -> Vec<Cookie> {
        self.jar.export()
    }

    /// The cookies worth keeping for the account: those of the service's own domains
    /// (goofish.com and the configured hosts), without any `unb` on a path other than `/`.
    /// A redirect through another host, or a stray `Set-Cookie: unb=…; Path=/x`, must
    /// neither be stored with the account nor decide its identity.
    pub fn service_cookies(&self) -> Vec<Cookie> {
        let hosts: Vec<String> = [
            &self.endpoints.passport,
            &self.endpoints.h5api,
            &self.endpoints.www,
        ]
        .iter()
        .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
        .collect();
        self.jar.export_where(|c| {
            let ours = crate::cookies::domain_within(&c.domain, "goofish.com")
                || hosts
                    .iter()
                    .any(|h| crate::cookies::domain_within(h, &c.domain));
            ours && !(c.name == "unb" && c.path != "/")
        })
    }

    /// `f` over every cookie the jar holds now, without copying them.
    pub fn with_cookies<T>(&self, f: impl FnOnce(&[Cookie]) -> T) -> T {
        self.jar.with_live(f)
    }

    fn cookie_value(&self, name: &str) -> Option<String> {
        self.with_cookies(|c| crate::cookies::value_of(c, name).map(str::to_owned))
    }

    /// The value of cookie `name` only if the jar would send it to `url`: a session value
    /// copied into a form goes no further than the cookie itself would (a `.goofish.com`
    /// cookie never reaches a passport host configured elsewhere).
    fn cookie_sent_to(&self, url: &Url, name: &str) -> Option<String> {
        self.jar.value_sent_to(url, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_services_cookies_are_kept() {
        let base = Url::parse("http://127.0.0.1:1234/").unwrap();
        let keep = [
            Cookie::for_domain("unb", "1", ".goofish.com"),
            Cookie::for_domain("cookie2", "c", "127.0.0.1"),
        ];
        let mut stray = Cookie::for_domain("unb", "666", ".goofish.com");
        stray.path = "/im/x".into();
        let foreign = Cookie::for_domain("unb", "777", "evil.example");
        let all = [keep[0].clone(), keep[1].clone(), stray, foreign];
        let client = PassportClient::new(
            Endpoints::all_at(&base),
            "ua",
            None,
            Duration::from_secs(1),
            &all,
            None,
        )
        .unwrap();
        let mut kept = client.service_cookies();
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(kept, [keep[1].clone(), keep[0].clone()]);
        assert_eq!(crate::cookies::value_of(&kept, "unb"), Some("1"));
    }
}
