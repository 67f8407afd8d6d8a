//! The Goofish HTTP client: one cookie jar and one connection pool per login or refresh,
//! the browser-like headers of protocol.md §8, and one method per endpoint returning typed
//! results. Base URLs come in at construction, so tests point it at the simulator.

mod endpoints;
pub mod jar;
pub mod sign;
pub mod viewdata;
pub mod wire;

use crate::cookies::Cookie;
use crate::redacted::Proxy;
pub use endpoints::{DEFAULT_H5API_URL, DEFAULT_PASSPORT_URL, DEFAULT_WWW_URL, Endpoints};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use reqwest_cookie_store::CookieStoreMutex;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Which request failed, for the one-line error and the fault matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    H5Token,
    MiniLogin,
    Generate,
    Query,
    LoginToken,
    KeepLogin,
    Verification,
    Landing,
    LongLogin,
    HasLogin,
    SilentLogin,
    Validate,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::H5Token => "h5api token bootstrap",
            Step::MiniLogin => "mini_login.htm",
            Step::Generate => "qrcode/generate.do",
            Step::Query => "qrcode/query.do",
            Step::LoginToken => "login_token/login.do",
            Step::KeepLogin => "keep-login confirm",
            Step::Verification => "identity verification",
            Step::Landing => "www /im landing",
            Step::LongLogin => "setLoginSettings.do",
            Step::HasLogin => "hasLogin.do",
            Step::SilentLogin => "silentHasLogin.do",
            Step::Validate => "mtop loginuser.get",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassportError {
    #[error("{step}: cannot reach the service ({detail})")]
    Network { step: Step, detail: String },
    #[error("{step}: no answer within {secs} s")]
    Timeout { step: Step, secs: u64 },
    #[error("{step}: HTTP {status}")]
    Http { step: Step, status: u16 },
    #[error("{step}: unexpected response: {detail}")]
    Malformed { step: Step, detail: String },
    #[error("{step}: refused: {message}")]
    Rejected { step: Step, message: String },
    #[error("{step}: blocked by risk control (slider or verification required)")]
    Risk { step: Step, url: Option<String> },
    /// The proxy URL was accepted as a URL but the HTTP client cannot use it.
    #[error("proxy {proxy}: {detail}")]
    Proxy { proxy: String, detail: String },
}

impl PassportError {
    pub fn step(&self) -> Step {
        match self {
            PassportError::Network { step, .. }
            | PassportError::Timeout { step, .. }
            | PassportError::Http { step, .. }
            | PassportError::Malformed { step, .. }
            | PassportError::Rejected { step, .. }
            | PassportError::Risk { step, .. } => *step,
            PassportError::Proxy { .. } => Step::H5Token,
        }
    }

    /// Worth retrying: the network or the server's side, not an answer that says no.
    pub fn is_transient(&self) -> bool {
        match self {
            PassportError::Network { .. } | PassportError::Timeout { .. } => true,
            PassportError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The largest decoded body accepted from each step: 4 MiB for HTML pages, 2 MiB for
/// JSON answers, both hundreds of times what the service sends.
fn body_cap(step: Step) -> usize {
    match step {
        Step::MiniLogin | Step::Verification | Step::Landing => 4 << 20,
        _ => 2 << 20,
    }
}

/// What query.do said about a QR code (protocol.md §5.2, §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrState {
    /// `NEW`: keep waiting.
    Waiting,
    /// An empty or unknown status (seen briefly during verification): keep waiting too.
    Unknown(String),
    Scanned,
    Confirmed(Confirmation),
    Expired,
    Canceled,
    /// `ERROR` or `hasError:true`: a transient server-side failure.
    ServerError(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// (b) a login token to redeem at `login_token/login.do`.
    pub token: Option<String>,
    /// (c) the keep-login dialog's confirm URL.
    pub keep_login_url: Option<String>,
    /// (d) identity verification required: where it starts.
    pub verify_url: Option<String>,
}

/// A QR code from generate.do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub t: u64,
    pub ck: String,
    pub content: String,
}

/// What an mtop call found about the login (§2.5, §7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtopOutcome {
    Ok,
    SessionExpired(String),
    Risk(Option<String>),
    Other(String),
}

pub struct PassportClient {
    http: Client,
    jar: Arc<CookieStoreMutex>,
    /// With a shared `Client` (refresh), cookies and the User-Agent are added per request
    /// from this account's own jar instead of by the client.
    shared: bool,
    endpoints: Endpoints,
    user_agent: String,
    timeout: Duration,
}

/// The one HTTP client builder: compression, timeouts, the idle pool, the proxy.
fn client_builder(
    proxy: Option<&Proxy>,
    timeout: Duration,
) -> Result<reqwest::ClientBuilder, PassportError> {
    let mut b = Client::builder()
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
    proxy: Option<&Proxy>,
    timeout: Duration,
    max_idle: usize,
) -> Result<Client, PassportError> {
    build(
        client_builder(proxy, timeout)?
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
    ) -> Result<PassportClient, PassportError> {
        let jar = Arc::new(CookieStoreMutex::new(jar::import(cookies)));
        let http = build(
            client_builder(proxy, timeout)?
                .cookie_provider(jar.clone())
                .user_agent(user_agent)
                .redirect(reqwest::redirect::Policy::limited(10)),
        )?;
        Ok(PassportClient {
            http,
            jar,
            shared: false,
            endpoints,
            user_agent: user_agent.to_owned(),
            timeout,
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
            jar: Arc::new(CookieStoreMutex::new(jar::import(cookies))),
            shared: true,
            endpoints,
            user_agent: user_agent.to_owned(),
            timeout,
        }
    }

    /// Send one request, with this account's cookies when the client is shared.
    async fn execute(
        &self,
        step: Step,
        rb: RequestBuilder,
    ) -> Result<reqwest::Response, PassportError> {
        if !self.shared {
            return rb.send().await.map_err(|e| self.transport(step, e));
        }
        use reqwest::cookie::CookieStore as _;
        let mut req = rb.build().map_err(|e| self.transport(step, e))?;
        let url = req.url().clone();
        if let Some(v) = self.jar.cookies(&url) {
            req.headers_mut().insert(header::COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.user_agent) {
            req.headers_mut().insert(header::USER_AGENT, v);
        }
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| self.transport(step, e))?;
        self.jar
            .set_cookies(&mut resp.headers().get_all(header::SET_COOKIE).iter(), &url);
        Ok(resp)
    }

    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Every cookie the jar holds now.
    pub fn cookies(&self) -> Vec<Cookie> {
        let jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        jar::export(&jar)
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
        let mut cookies = self.cookies();
        cookies.retain(|c| {
            let ours = crate::cookies::domain_within(&c.domain, "goofish.com")
                || hosts
                    .iter()
                    .any(|h| crate::cookies::domain_within(h, &c.domain.to_ascii_lowercase()));
            ours && !(c.name == "unb" && c.path != "/")
        });
        cookies
    }

    fn cookie_value(&self, name: &str) -> Option<String> {
        crate::cookies::value_of(&self.cookies(), name).map(str::to_owned)
    }

    /// The value of cookie `name` only if the jar would send it to `url`: a session value
    /// copied into a form goes no further than the cookie itself would (a `.goofish.com`
    /// cookie never reaches a passport host configured elsewhere).
    fn cookie_sent_to(&self, url: &Url, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        jar.get_request_values(url)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }

    fn url(&self, base: &Url, path: &str) -> Result<Url, PassportError> {
        base.join(path).map_err(|e| PassportError::Malformed {
            step: Step::Landing,
            detail: format!("bad URL {path}: {e}"),
        })
    }

    fn passport_headers(&self, referer: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let origin = self
            .endpoints
            .passport
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let pairs: [(&str, String); 9] = [
            ("accept", "application/json, text/plain, */*".into()),
            ("accept-language", "zh-CN,zh;q=0.9,en;q=0.8".into()),
            ("origin", origin),
            ("referer", referer.to_owned()),
            ("sec-fetch-dest", "empty".into()),
            ("sec-fetch-mode", "cors".into()),
            ("sec-fetch-site", "same-origin".into()),
            (
                "sec-ch-ua",
                "\"Chromium\";v=\"146\", \"Not-A.Brand\";v=\"24\", \"Google Chrome\";v=\"146\""
                    .into(),
            ),
            ("sec-ch-ua-platform", "\"Windows\"".into()),
        ];
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        h.insert("sec-ch-ua-mobile", HeaderValue::from_static("?0"));
        h
    }

    /// A page navigation (a document or an iframe), as a browser sends it.
    fn document(&self, url: Url, dest: &'static str) -> RequestBuilder {
        self.http
            .get(url)
            .header(
                header::ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .header("sec-fetch-dest", dest)
            .header("sec-fetch-mode", "navigate")
    }

    fn mini_login_url(&self) -> String {
        format!("{}mini_login.htm", self.endpoints.passport)
    }

    /// Send, check the status, read the (decompressed) body.
    async fn send(&self, step: Step, req: RequestBuilder) -> Result<String, PassportError> {
        let resp = self.execute(step, req).await?;
        let status = resp.status();
        if status.is_server_error() || status.is_client_error() {
            return Err(PassportError::Http {
                step,
                status: status.as_u16(),
            });
        }
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            return Err(PassportError::Malformed {
                step,
                detail: format!("too many redirects (HTTP {})", status.as_u16()),
            });
        }
        self.body(step, resp).await
    }

    /// The decoded body, read up to the step's cap (protocol answers are a few KiB; a
    /// gzip bomb or an endless body must not take the host's memory, times
    /// `--concurrency`). Over the cap the step fails as a malformed answer (exit 6).
    async fn body(&self, step: Step, mut resp: reqwest::Response) -> Result<String, PassportError> {
        let cap = body_cap(step);
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(step, e))? {
            if buf.len() + chunk.len() > cap {
                return Err(PassportError::Malformed {
                    step,
                    detail: format!(
                        "the answer is larger than {} MiB once decoded: refused",
                        cap >> 20
                    ),
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn transport(&self, step: Step, e: reqwest::Error) -> PassportError {
        // Never echo the URL: query strings can carry tokens.
        let e = e.without_url();
        if e.is_timeout() {
            PassportError::Timeout {
                step,
                secs: self.timeout.as_secs().max(1),
            }
        } else if e.is_decode() || e.is_body() {
            PassportError::Malformed {
                step,
                detail: format!("unreadable body ({})", root_cause(&e)),
            }
        } else {
            PassportError::Network {
                step,
                detail: root_cause(&e),
            }
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        step: Step,
        req: RequestBuilder,
    ) -> Result<T, PassportError> {
        let body = self.send(step, req).await?;
        parse_json(step, &body)
    }

    /// Step 1 (§2): the anonymous `_m_h5_tk`. A plain GET, then a POST signed with
    /// whatever token that gave; both answers set the token cookies.
    pub async fn bootstrap_h5_token(&self) -> Result<(), PassportError> {
        let api = "mtop.gaia.nodejs.gaia.idle.data.gw.v2.index.get";
        let url = self.url(&self.endpoints.h5api, &format!("h5/{api}/1.0/"))?;
        let _: wire::Mtop<serde::de::IgnoredAny> = self
            .json(
                Step::H5Token,
                self.http.get(url.clone()).headers(self.mtop_headers()),
            )
            .await?;
        match self
            .mtop_once(Step::H5Token, api, r#"{"bizScene":"home"}"#, false)
            .await?
        {
            (MtopOutcome::Ok, ..) => Ok(()),
            (MtopOutcome::Other(code), ..) if is_token_code(&code) => Ok(()),
            (other, ..) => Err(PassportError::Rejected {
                step: Step::H5Token,
                message: format!("{other:?}"),
            }),
        }
    }

    fn mtop_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let www = self.endpoints.www.as_str().trim_end_matches('/').to_owned();
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&www) {
            h.insert(header::ORIGIN, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{www}/")) {
            h.insert(header::REFERER, v);
        }
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        h
    }

    /// One signed mtop call; returns the outcome and the raw `ret[0]`.
    async fn mtop_once(
        &self,
        step: Step,
        api: &str,
        data: &str,
        logged_in: bool,
    ) -> Result<(MtopOutcome, String, Option<String>), PassportError> {
        let t = crate::time::now_ms().to_string();
        let token = self.cookie_value("_m_h5_tk").unwrap_or_default();
        let sig = sign::sign(sign::token_of(&token), &t, sign::APP_KEY, data);
        let url = self.url(&self.endpoints.h5api, &format!("h5/{api}/1.0/"))?;
        let mut q: Vec<(&str, &str)> = vec![
            ("jsv", "2.7.2"),
            ("appKey", sign::APP_KEY),
            ("t", &t),
            ("sign", &sig),
            ("v", "1.0"),
            ("type", "originaljson"),
            ("dataType", "json"),
            ("timeout", "20000"),
            ("api", api),
        ];
        if logged_in {
            q.extend([
                ("accountSite", "xianyu"),
                ("sessionOption", "AutoLoginOnly"),
                ("spm_cnt", "a21ybx.im.0.0"),
            ]);
        }
        let req = self
            .http
            .post(url)
            .headers(self.mtop_headers())
            .query(&q)
            .form(&[("data", data)]);
        let resp: wire::Mtop<wire::PunishData> = self.json(step, req).await?;
        let first = resp.ret.first().cloned().unwrap_or_default();
        let (url, user) = resp.data.map(|d| (d.url, d.user_id)).unwrap_or_default();
        let user = user.and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Ok((classify_ret(&resp.ret, url), first, user))
    }

    /// A signed mtop call that absorbs a rotated token and signs again once (§7.5).
    pub async fn mtop(
        &self,
        step: Step,
        api: &str,
        data: &str,
    ) -> Result<MtopOutcome, PassportError> {
        Ok(self.mtop_user(step, api, data).await?.0)
    }

    /// [`mtop`](Self::mtop), also returning the `userId` the answer names, if any: the
    /// session's owner, to check against the account's unb.
    pub async fn mtop_user(
        &self,
        step: Step,
        api: &str,
        data: &str,
    ) -> Result<(MtopOutcome, Option<String>), PassportError> {
        let (outcome, first, user) = self.mtop_once(step, api, data, true).await?;
        if is_token_code(&first) {
            let (outcome, _, user) = self.mtop_once(step, api, data, true).await?;
            return Ok((outcome, user));
        }
        Ok((outcome, user))
    }

    /// Step 2 (§3): `mini_login.htm` → the login form, values as JSON renders them, plus
    /// `umidTag=SERVER`.
    pub async fn mini_login(&self) -> Result<Vec<(String, String)>, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "mini_login.htm")?;
        url.query_pairs_mut().extend_pairs([
            ("lang", "zh_cn"),
            ("appName", "xianyu"),
            ("appEntrance", "web"),
            ("styleType", "vertical"),
            ("bizParams", ""),
            ("notLoadSsoView", "false"),
            ("notKeepLogin", "false"),
            ("isMobile", "false"),
            ("qrCodeFirst", "false"),
            ("stie", "77"),
            ("rnd", &format!("{}", rand::random::<f64>())),
        ]);
        // Loaded as the login iframe inside www.goofish.com (§3.1).
        let req = self
            .document(url, "iframe")
            .header(header::REFERER, self.endpoints.www.as_str())
            .header("sec-fetch-site", "same-site");
        let html = self.send(Step::MiniLogin, req).await?;
        let mut form = viewdata::login_form(&html).map_err(|e| PassportError::Malformed {
            step: Step::MiniLogin,
            detail: e.to_string(),
        })?;
        if !form.iter().any(|(k, _)| k == "umidTag") {
            form.push(("umidTag".into(), "SERVER".into()));
        }
        Ok(form)
    }

    /// Step 3 (§4): a new QR code.
    pub async fn generate(&self, form: &[(String, String)]) -> Result<QrCode, PassportError> {
        let url = self.url(&self.endpoints.passport, "newlogin/qrcode/generate.do")?;
        let req = self
            .http
            .get(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .query(form);
        let env: wire::Envelope<serde_json::Map<String, serde_json::Value>> =
            self.json(Step::Generate, req).await?;
        check_intercepted(Step::Generate, &env.ret)?;
        let content = env
            .content
            .ok_or_else(|| malformed(Step::Generate, "no `content`"))?;
        let data = content.data.unwrap_or_default();
        if content.success != Some(true) || env.has_error {
            let err: wire::ErrorData =
                serde_json::from_value(serde_json::Value::Object(data)).unwrap_or_default();
            return Err(PassportError::Rejected {
                step: Step::Generate,
                message: err.title_msg.unwrap_or_else(|| {
                    format!(
                        "code {}",
                        err.result_code.map_or("?".into(), |c| c.to_string())
                    )
                }),
            });
        }
        let g: wire::GenerateData = serde_json::from_value(serde_json::Value::Object(data))
            .map_err(|e| malformed(Step::Generate, &e.to_string()))?;
        if g.ck.is_empty() || g.code_content.is_empty() {
            return Err(malformed(Step::Generate, "empty `ck` or `codeContent`"));
        }
        Ok(QrCode {
            t: g.t,
            ck: g.ck,
            content: g.code_content,
        })
    }

    /// Step 4 (§5): one poll.
    pub async fn query(
        &self,
        form: &[(String, String)],
        qr: &QrCode,
    ) -> Result<QrState, PassportError> {
        let url = self.url(&self.endpoints.passport, "newlogin/qrcode/query.do")?;
        let t = qr.t.to_string();
        let www = self.endpoints.www.as_str();
        let im = format!("{www}im");
        let mut body: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        body.extend([
            ("t", t.as_str()),
            ("ck", qr.ck.as_str()),
            ("ua", ""),
            ("navlanguage", "zh-CN"),
            ("navUserAgent", self.user_agent.as_str()),
            ("navPlatform", "Win32"),
            ("isIframe", "true"),
            ("documentReferer", im.as_str()),
            ("defaultView", "qrcode"),
        ]);
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .form(&body);
        let env: wire::Envelope<wire::QueryData> = self.json(Step::Query, req).await?;
        check_intercepted(Step::Query, &env.ret)?;
        if env.has_error {
            return Ok(QrState::ServerError("hasError".into()));
        }
        let data = env.content.and_then(|c| c.data).unwrap_or_default();
        Ok(classify_query(data))
    }

    /// (b) Redeem a CONFIRMED login token.
    pub async fn redeem_token(&self, token: &str) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.passport, "login_token/login.do")?;
        let cna = self.cookie_value("cna").unwrap_or_default();
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .query(&[
                ("token", token),
                ("subFlow", "DIALOG_CHECK_LOGIN_RPC"),
                ("nextCode", "0018"),
                ("bizScene", "qrcode"),
                ("confirm", "true"),
            ])
            .form(&[("deviceId", cna.as_str())]);
        let env: wire::Envelope<wire::ErrorData> = self.json(Step::LoginToken, req).await?;
        expect_success(Step::LoginToken, env)
    }

    /// (c) Confirm the keep-login dialog.
    pub async fn confirm_keep_login(&self, path: &str) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.passport, path.trim_start_matches('/'))?;
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()));
        let env: wire::Envelope<wire::ErrorData> = self.json(Step::KeepLogin, req).await?;
        expect_success(Step::KeepLogin, env)
    }

    /// Land the session (§5.4): GET www `/im` as a document, following redirects and
    /// keeping every hop's cookies. Fails unless the result holds `unb`.
    pub async fn land(&self) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.www, "im")?;
        let req = self
            .document(url, "document")
            .header(header::REFERER, self.endpoints.www.as_str())
            .header("upgrade-insecure-requests", "1");
        let resp = self.execute(Step::Landing, req).await?;
        let status = resp.status();
        let final_host = resp.url().host_str().map(str::to_owned);
        let final_path = resp.url().path().to_owned();
        if !status.is_success() {
            return Err(PassportError::Http {
                step: Step::Landing,
                status: status.as_u16(),
            });
        }
        // The page itself is not needed, only its cookies; read it (bounded) to the end.
        let _ = self.body(Step::Landing, resp).await;
        if final_host != self.endpoints.www.host_str().map(str::to_owned)
            || !final_path.starts_with("/im")
        {
            return Err(PassportError::Rejected {
                step: Step::Landing,
                message: "sent to the login page: the session was not accepted".into(),
            });
        }
        if self.cookie_value("unb").is_none_or(|u| u.is_empty()) {
            return Err(PassportError::Rejected {
                step: Step::Landing,
                message: "no `unb` cookie after login".into(),
            });
        }
        Ok(())
    }

    /// Turn on long login (§7.3): `setLoginSettings.do status=0`. Returns whether the
    /// service said yes.
    pub async fn enable_long_login(&self) -> Result<bool, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "ac/account/setLoginSettings.do")?;
        url.query_pairs_mut().extend_pairs([
            ("fromSite", "77"),
            ("appName", "xianyu"),
            ("bizEntrance", "web"),
        ]);
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .form(&[("status", "0")]);
        let r: wire::LoginSettings = self.json(Step::LongLogin, req).await?;
        check_intercepted(Step::LongLogin, &r.ret)?;
        Ok(r.success == Some(true)
            || r.data.and_then(|d| d.success) == Some(true)
            || r.content.and_then(|c| c.success) == Some(true))
    }

    /// `hasLogin.do` (§7.3): is the session alive? Rotates login cookies when it is.
    pub async fn has_login(&self, unb: &str) -> Result<bool, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "newlogin/hasLogin.do")?;
        url.query_pairs_mut()
            .extend_pairs([("appName", "xianyu"), ("fromSite", "77")]);
        let csrf = self.cookie_sent_to(&url, "_tb_token_").unwrap_or_default();
        let hsiz = self.cookie_sent_to(&url, "cookie2").unwrap_or_default();
        let www = self.endpoints.www.as_str().to_owned();
        let page_trace = format!(
            "21504{}{:06}",
            crate::time::now_ms(),
            rand::random::<u32>() % 1_000_000
        );
        let form: [(&str, &str); 20] = [
            ("hid", unb),
            ("ltl", "true"),
            ("appName", "xianyu"),
            ("appEntrance", "web"),
            ("_csrf_token", &csrf),
            ("umidToken", ""),
            ("hsiz", &hsiz),
            ("bizParams", "taobaoBizLoginFrom=web"),
            ("mainPage", "false"),
            ("isMobile", "false"),
            ("lang", "zh_CN"),
            ("returnUrl", ""),
            ("fromSite", "77"),
            ("isIframe", "true"),
            ("documentReferer", &www),
            ("defaultView", "hasLogin"),
            ("umidTag", "SERVER"),
            ("deviceId", ""),
            ("pageTraceId", &page_trace),
            ("navlanguage", "zh-CN"),
        ];
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .form(&form);
        let env: wire::Envelope<wire::RenewData> = self.json(Step::HasLogin, req).await?;
        check_intercepted(Step::HasLogin, &env.ret)?;
        if env.has_error {
            return Err(malformed(Step::HasLogin, "hasError"));
        }
        // An answer without `content.success` says nothing about the session.
        match env.content.and_then(|c| c.success) {
            Some(ok) => Ok(ok),
            None => Err(malformed(Step::HasLogin, "no `content.success`")),
        }
    }

    /// `silentHasLogin.do` as the official plugin sends it (§7.3), in Havana mode.
    pub async fn silent_has_login(&self) -> Result<bool, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "newlogin/silentHasLogin.do")?;
        let page = self.endpoints.www.as_str().to_owned();
        url.query_pairs_mut().extend_pairs([
            ("documentReferer", page.as_str()),
            ("appName", "xianyu"),
            ("appEntrance", "xianyu_sdkSilent"),
            ("fromSite", "0"),
            ("ltl", "true"),
        ]);
        let origin = page.trim_end_matches('/').to_owned();
        let req = self
            .http
            .post(url)
            .header(header::ACCEPT, "*/*")
            .header(header::ORIGIN, origin)
            .header(header::REFERER, page)
            .header("sec-fetch-site", "same-site");
        let env: wire::Envelope<wire::RenewData> = self.json(Step::SilentLogin, req).await?;
        check_intercepted(Step::SilentLogin, &env.ret)?;
        let d = env
            .content
            .and_then(|c| c.data)
            .ok_or_else(|| malformed(Step::SilentLogin, "no `content.data`"))?;
        if d.process_finished.is_none() && d.result_code.is_none() {
            return Err(malformed(
                Step::SilentLogin,
                "no `processFinished` or `resultCode`",
            ));
        }
        if d.iframe_redirect == Some(true) || d.dialog_action.is_some() {
            return Err(PassportError::Risk {
                step: Step::SilentLogin,
                url: None,
            });
        }
        Ok(d.process_finished == Some(true) && d.result_code == Some(100))
    }
}

/// The verification chain's second QR (protocol.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub htoken: String,
    /// What to draw as the second QR.
    pub qr_text: String,
    /// The identity_verify page, sent as Referer while polling.
    pub page: Url,
}

/// What `iv/photoVerify/check.do` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvState {
    Waiting,
    Passed(String),
    Other(i64),
}

impl PassportClient {
    /// Follow `iframeRedirectUrl` to `normal_validate.htm`, read the `htoken`, open
    /// `verify_modes.htm` (which redirects to `identity_verify.htm`) and read the second
    /// QR's text. One cookie jar for the whole chain.
    pub async fn verification_start(&self, url: &str) -> Result<Verification, PassportError> {
        let step = Step::Verification;
        let start = self
            .endpoints
            .passport
            .join(&normalise_url(url))
            .map_err(|e| malformed(step, &format!("bad verification URL ({e})")))?;
        let (validate_url, html) = self.page(step, start).await?;
        let htoken = extract_htoken(&html)
            .or_else(|| {
                validate_url
                    .query_pairs()
                    .find(|(k, _)| k == "htoken")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| malformed(step, "normal_validate.htm has no htoken"))?;
        let mut modes = self.url(&self.endpoints.passport, "iv/mini/verify_modes.htm")?;
        modes
            .query_pairs_mut()
            .append_pair("htoken", &htoken)
            .append_pair("_umidfg", "1");
        let (page, html) = self.page(step, modes).await?;
        let qr_text = extract_qr_text(&html)
            .ok_or_else(|| malformed(step, "identity_verify.htm has no verification QR code"))?;
        Ok(Verification {
            htoken,
            qr_text,
            page,
        })
    }

    /// One poll of `iv/photoVerify/check.do`.
    pub async fn verification_check(&self, v: &Verification) -> Result<IvState, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "iv/photoVerify/check.do")?;
        url.query_pairs_mut().append_pair("htoken", &v.htoken);
        let req = self
            .http
            .get(url)
            .header(
                header::ACCEPT,
                "application/json, text/javascript, */*; q=0.01",
            )
            .header("x-requested-with", "XMLHttpRequest")
            .header(header::REFERER, v.page.as_str());
        let r: wire::IvCheck = self.json(Step::Verification, req).await?;
        Ok(match (r.content.code, r.content.url) {
            (0, _) => IvState::Waiting,
            (3, Some(u)) if !u.is_empty() => IvState::Passed(normalise_url(&u)),
            (code, _) => IvState::Other(code),
        })
    }

    /// Open the URL verification passed with (`ivCheckLogin.htm`): it sets the login cookies.
    pub async fn verification_finish(&self, url: &str) -> Result<(), PassportError> {
        let step = Step::Verification;
        let url = self
            .endpoints
            .passport
            .join(url)
            .map_err(|e| malformed(step, &format!("bad URL ({e})")))?;
        self.page(step, url).await?;
        if self.cookie_value("unb").is_none_or(|u| u.is_empty()) {
            return Err(PassportError::Rejected {
                step,
                message: "verification passed but no `unb` cookie arrived".into(),
            });
        }
        Ok(())
    }

    /// GET a page as a document, following redirects; returns where it landed and the HTML.
    async fn page(&self, step: Step, url: Url) -> Result<(Url, String), PassportError> {
        let resp = self.execute(step, self.document(url, "document")).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(PassportError::Http {
                step,
                status: status.as_u16(),
            });
        }
        let landed = resp.url().clone();
        let body = self.body(step, resp).await?;
        Ok((landed, body))
    }
}

/// Compiled once: these run on every verification page.
static HTOKEN: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"htoken(?:=|"\s*value="|\s*:\s*")([A-Za-z0-9_-]{6,})"#).ok()
});
static HTOKEN_INPUT: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"name="htoken"\s+value="([A-Za-z0-9_-]+)""#).ok()
});
static QR_TEXT: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"text\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#).ok()
});

/// `htoken=<[A-Za-z0-9_-]+>` anywhere in the page (a query string, a hidden input's value).
pub fn extract_htoken(html: &str) -> Option<String> {
    if let Some(c) = HTOKEN.as_ref()?.captures(html) {
        return Some(c[1].to_owned());
    }
    HTOKEN_INPUT
        .as_ref()?
        .captures(html)
        .map(|c| c[1].to_owned())
}

/// The text of `new Qrcode({ … text: "…" … })`, with JS-escaped slashes and HTML entities
/// undone.
pub fn extract_qr_text(html: &str) -> Option<String> {
    let start = html.find("new Qrcode(")?;
    let c = QR_TEXT.as_ref()?.captures(&html[start..])?;
    let raw = c.get(1).or_else(|| c.get(2))?.as_str();
    let text = raw
        .replace("\\/", "/")
        .replace("\\u0026", "&")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/");
    (!text.trim().is_empty()).then(|| normalise_url(&text))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn malformed(step: Step, detail: &str) -> PassportError {
    PassportError::Malformed {
        step,
        detail: detail.to_owned(),
    }
}

/// Parse a JSON body, describing what came instead when it is not JSON.
pub fn parse_json<T: DeserializeOwned>(step: Step, body: &str) -> Result<T, PassportError> {
    let trimmed = body.trim_start();
    if trimmed.is_empty() {
        return Err(malformed(step, "empty body"));
    }
    if trimmed.starts_with('<') {
        return Err(malformed(
            step,
            "an HTML page instead of JSON (blocked or an error page)",
        ));
    }
    serde_json::from_str(trimmed).map_err(|e| {
        if e.is_eof() {
            malformed(step, "truncated JSON")
        } else {
            malformed(step, &format!("JSON not as expected ({e})"))
        }
    })
}

/// An anti-bot edge answering for a passport endpoint (§1, §9).
fn check_intercepted(step: Step, ret: &Option<Vec<String>>) -> Result<(), PassportError> {
    match ret {
        Some(r)
            if r.iter()
                .any(|c| c.contains("FAIL_SYS_USER_VALIDATE") || c.contains("RGV587")) =>
        {
            Err(PassportError::Risk { step, url: None })
        }
        _ => Ok(()),
    }
}

fn expect_success(step: Step, env: wire::Envelope<wire::ErrorData>) -> Result<(), PassportError> {
    check_intercepted(step, &env.ret)?;
    let content = env.content.ok_or_else(|| malformed(step, "no `content`"))?;
    if content.success == Some(true) && !env.has_error {
        return Ok(());
    }
    let d = content.data.unwrap_or_default();
    Err(PassportError::Rejected {
        step,
        message: d.title_msg.unwrap_or_else(|| {
            format!(
                "code {}",
                d.result_code.map_or("?".into(), |c| c.to_string())
            )
        }),
    })
}

fn is_token_code(code: &str) -> bool {
    code.starts_with("FAIL_SYS_TOKEN_EMPTY")
        || code.starts_with("FAIL_SYS_TOKEN_EXOIRED")
        || code.starts_with("FAIL_SYS_TOKEN_EXPIRED")
}

/// Map mtop `ret` codes to what they mean for the login (§2.5, §7.5, §9).
pub fn classify_ret(ret: &[String], url: Option<String>) -> MtopOutcome {
    let all = ret.join(" ");
    let first = ret.first().cloned().unwrap_or_default();
    if all.contains("FAIL_SYS_USER_VALIDATE")
        || all.contains("RGV587")
        || url.as_deref().is_some_and(|u| u.contains("punish"))
    {
        return MtopOutcome::Risk(url);
    }
    if first.starts_with("SUCCESS") {
        return MtopOutcome::Ok;
    }
    let dead = [
        "FAIL_SYS_SESSION_EXPIRED",
        "SID_INVALID",
        "AUTH_REJECT",
        "NEED_LOGIN",
        "FAIL_BIZ_USER_NOT_LOGIN",
    ];
    if dead.iter().any(|d| first.contains(d)) {
        return MtopOutcome::SessionExpired(first);
    }
    MtopOutcome::Other(first)
}

/// Map query.do's data to a state (§5.2, §5.3). Unknown or empty → keep waiting;
/// `SCANNED`/`CANCELLED` are accepted defensively.
pub fn classify_query(d: wire::QueryData) -> QrState {
    match d.qr_code_status.as_deref().map(str::trim).unwrap_or("") {
        "SCANED" | "SCANNED" => QrState::Scanned,
        "EXPIRED" => QrState::Expired,
        "CANCELED" | "CANCELLED" => QrState::Canceled,
        "ERROR" => QrState::ServerError(d.title_msg.unwrap_or_else(|| "ERROR".into())),
        "CONFIRMED" => {
            let verify_url = if d.iframe_redirect == Some(true) {
                d.iframe_redirect_url
                    .map(|u| normalise_url(&u))
                    .filter(|u| !u.is_empty())
            } else {
                None
            };
            let keep_login_url = match d.dialog_action.as_deref() {
                Some(
                    "keepLoginConfirm" | "keepLoginConfirmDialog" | "keepLoginSilentNoticeDialog",
                ) => d
                    .feedback_payload
                    .and_then(|f| f.dynamic_url)
                    .and_then(|u| u.dialog_confirm_login_url),
                _ => None,
            };
            QrState::Confirmed(Confirmation {
                token: d.token.or(d.lg_token).filter(|t| !t.is_empty()),
                keep_login_url,
                verify_url,
            })
        }
        "NEW" => QrState::Waiting,
        other => QrState::Unknown(other.to_owned()),
    }
}

/// A URL as pages hand them out: `\/`-escaped, HTML-escaped, or protocol-relative.
pub fn normalise_url(raw: &str) -> String {
    let u = raw.trim().replace("\\/", "/").replace("&amp;", "&");
    if let Some(rest) = u.strip_prefix("//") {
        format!("https://{rest}")
    } else {
        u
    }
}

#[cfg(test)]
mod tests {

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
        )
        .unwrap();
        let mut kept = client.service_cookies();
        kept.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(kept, [keep[1].clone(), keep[0].clone()]);
        assert_eq!(crate::cookies::value_of(&kept, "unb"), Some("1"));
    }

    use super::*;

    #[test]
    fn ret_classification() {
        let r = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            classify_ret(&r(&["SUCCESS::调用成功"]), None),
            MtopOutcome::Ok
        );
        assert!(matches!(
            classify_ret(&r(&["FAIL_SYS_SESSION_EXPIRED::Session过期"]), None),
            MtopOutcome::SessionExpired(_)
        ));
        assert!(matches!(
            classify_ret(
                &r(&["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::x"]),
                Some("u".into())
            ),
            MtopOutcome::Risk(Some(_))
        ));
        assert!(matches!(
            classify_ret(&r(&["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]), None),
            MtopOutcome::Other(_)
        ));
    }

    #[test]
    fn query_classification_is_tolerant() {
        let q = |s: &str| wire::QueryData {
            qr_code_status: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(classify_query(q("NEW")), QrState::Waiting);
        assert_eq!(classify_query(q("")), QrState::Unknown(String::new()));
        assert_eq!(
            classify_query(q("WHATEVER")),
            QrState::Unknown("WHATEVER".into())
        );
        assert_eq!(classify_query(q("SCANED")), QrState::Scanned);
        assert_eq!(classify_query(q("CANCELLED")), QrState::Canceled);
        let mut d = q("CONFIRMED");
        d.iframe_redirect = Some(true);
        d.iframe_redirect_url = Some("\\/\\/passport.goofish.com\\/iv\\/x.htm?a=1&amp;b=2".into());
        let QrState::Confirmed(c) = classify_query(d) else {
            panic!()
        };
        assert_eq!(
            c.verify_url.as_deref(),
            Some("https://passport.goofish.com/iv/x.htm?a=1&b=2")
        );
    }

    #[test]
    fn verification_pages_are_read() {
        let v = r#"<input type="hidden" name="htoken" value="abc_DEF-123">
<script>window.location.href = "//passport.goofish.com/iv/mini/verify_modes.htm?htoken=abc_DEF-123&_umidfg=" + x;</script>"#;
        assert_eq!(extract_htoken(v).as_deref(), Some("abc_DEF-123"));
        assert_eq!(extract_htoken("<p>nothing</p>"), None);
        let page = r#"<script>new Qrcode({ el: x, text: "https:\/\/passport.goofish.com\/iv\/qr?a=1&amp;b=2", size: 180 });</script>"#;
        assert_eq!(
            extract_qr_text(page).as_deref(),
            Some("https://passport.goofish.com/iv/qr?a=1&b=2")
        );
        assert_eq!(extract_qr_text("new Qrcode({ text: '' })"), None);
        assert_eq!(extract_qr_text("<html></html>"), None);
    }

    #[test]
    fn non_json_bodies_are_described() {
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "<html>").unwrap_err();
        assert!(e.to_string().contains("HTML page"), "{e}");
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "{\"ret\":[").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "").unwrap_err();
        assert!(e.to_string().contains("empty body"), "{e}");
    }
}
