//! The simulator's HTTP surface: each Goofish endpoint of protocol.md, the phone's pages,
//! the control API under `/__sim/`, and one middleware that adds latency, injects faults
//! and gzips bodies for clients that accept gzip. Split by protocol family like the
//! passport client it serves: `mtop`, `qr_login`, `verification`, `renewal`, plus the
//! `faults` middleware and the `control` API.

mod control;
mod faults;
mod mtop;
mod qr_login;
mod renewal;
mod verification;

use control::*;
use faults::*;
use mtop::*;
use qr_login::*;
use renewal::*;
use verification::*;

use super::Shared;
use super::pages;
use crate::passport::sign::{APP_KEY, sign, token_of};
use crate::sim::state::{FaultKind, QrStatus, Scenario, SessionState, Variant, hex};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type S = State<Arc<Shared>>;

/// A request for a path the simulator does not serve: 404, and recorded as unexpected.
async fn unknown_route(State(sh): S, req: Request) -> Response {
    let what = format!("no route for {} {}", req.method(), req.uri().path());
    sh.world().unexpected.push(what);
    StatusCode::NOT_FOUND.into_response()
}

/// A panicking handler answers 500 and is recorded as unexpected, instead of only
/// dropping the connection.
fn catch_panics(
    sh: Arc<Shared>,
) -> tower_http::catch_panic::CatchPanicLayer<
    impl Fn(Box<dyn std::any::Any + Send + 'static>) -> Response + Clone,
> {
    tower_http::catch_panic::CatchPanicLayer::custom(
        move |err: Box<dyn std::any::Any + Send + 'static>| {
            let why = err
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            sh.world()
                .unexpected
                .push(format!("handler panicked: {why}"));
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        },
    )
}
type Params = Query<HashMap<String, String>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        // h5api.m.goofish.com
        .route("/h5/{api}/{version}/", any(mtop))
        .route("/h5/{api}/{version}", any(mtop))
        // passport.goofish.com
        .route("/mini_login.htm", get(mini_login))
        .route("/newlogin/qrcode/generate.do", any(generate))
        .route("/newlogin/qrcode/query.do", post(query))
        .route("/login_token/login.do", post(login_token))
        .route("/newlogin/keepLogin/confirm.do", post(keep_login_confirm))
        .route("/qrcodeCheck.htm", get(phone_page))
        .route("/iv/entry.htm", get(iv_entry))
        .route("/iv/normal_validate.htm", get(iv_normal_validate))
        .route("/iv/mini/verify_modes.htm", get(iv_verify_modes))
        .route("/iv/mini/identity_verify.htm", get(iv_identity_verify))
        .route("/iv/photoVerify/check.do", get(iv_check))
        .route("/iv/phone.htm", get(iv_phone_page))
        .route("/ivCheckLogin.htm", get(iv_check_login))
        .route("/newlogin/hasLogin.do", post(has_login))
        .route("/newlogin/silentHasLogin.do", post(silent_has_login))
        .route("/ac/account/setLoginSettings.do", post(set_login_settings))
        .route(
            "/ac/account/queryLoginSettings.do",
            post(query_login_settings),
        )
        // www.goofish.com
        .route("/", get(www_home))
        .route("/im", get(www_im))
        // the phone and the test harness
        .route("/__sim/state", get(ctl_state))
        .route("/__sim/scenario", post(ctl_scenario))
        .route("/__sim/phone/{action}", post(ctl_phone))
        .route(
            "/__sim/faults",
            post(ctl_add_faults).delete(ctl_clear_faults),
        )
        .route("/__sim/accounts", post(ctl_account))
        .route("/__sim/seed", post(ctl_seed))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(shared.clone(), shape))
        .layer(catch_panics(shared.clone()))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Response helpers

/// The domain the real service scopes its cookies to (protocol.md §2.4, §5).
const COOKIE_DOMAIN: &str = ".goofish.com";

/// A Set-Cookie value as a handler writes it: host-only and not Secure, right for plain
/// HTTP on an address. Over TLS, `scope_for_tls` turns it into what Goofish sends.
fn set_cookie(name: &str, value: &str, max_age: Option<i64>, http_only: bool) -> String {
    let mut s = format!("{name}={value}; Path=/");
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    if http_only {
        s.push_str("; HttpOnly");
    }
    s
}

/// A handler's cookie as the real service sets it over HTTPS: on `.goofish.com` and Secure,
/// and `SameSite=None` on the h5 gateway's token cookies (protocol.md §2.4's sample). A
/// cookie that already names its domain (an injected hostile one) is left alone.
fn scope_for_tls(cookie: &str) -> String {
    if cookie
        .split(';')
        .skip(1)
        .any(|a| a.trim().to_ascii_lowercase().starts_with("domain="))
    {
        return cookie.to_owned();
    }
    let mut s = format!("{cookie}; Domain={COOKIE_DOMAIN}; Secure");
    if cookie.starts_with("_m_h5_tk") {
        s.push_str("; SameSite=None");
    }
    s
}

struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    cookies: Vec<String>,
    location: Option<String>,
}

impl Reply {
    fn json(v: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: "application/json;charset=UTF-8",
            body: v.to_string(),
            cookies: Vec::new(),
            location: None,
        }
    }
    fn html(body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: "text/html;charset=UTF-8",
            body,
            cookies: Vec::new(),
            location: None,
        }
    }
    fn redirect(to: String) -> Reply {
        Reply {
            status: StatusCode::FOUND,
            content_type: "text/html;charset=UTF-8",
            body: String::new(),
            cookies: Vec::new(),
            location: Some(to),
        }
    }
    fn status(mut self, s: StatusCode) -> Reply {
        self.status = s;
        self
    }
    fn cookies(mut self, c: Vec<String>) -> Reply {
        self.cookies.extend(c);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, loc);
        }
        r
    }
}

fn passport(data: Value, status: i64, success: bool) -> Value {
    json!({"content": {"data": data, "status": status, "success": success}, "hasError": false})
}

fn mtop_body(api: &str, ret: &[&str], data: Value) -> Value {
    json!({"api": api, "data": data, "ret": ret, "v": "1.0"})
}

fn request_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn now_ms() -> i64 {
    crate::time::now_ms()
}
