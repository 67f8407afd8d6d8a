//! The simulator's HTTP surface: each Goofish endpoint of protocol.md, the phone's pages,
//! the control API under `/__sim/`, and one middleware that adds latency, injects faults
//! and gzips bodies for clients that accept gzip.

use super::Shared;
use super::pages;
use super::state::{FaultKind, QrStatus, Scenario, SessionState, Variant, hex};
use crate::passport::sign::{APP_KEY, sign, token_of};
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
        .layer(middleware::from_fn_with_state(shared.clone(), shape))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// Response helpers

/// A Set-Cookie value. Host-only (no Domain: the simulator runs on an address) and never
/// Secure (plain HTTP), otherwise as Goofish sets them.
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

// ---------------------------------------------------------------------------------------
// Middleware: latency, faults, gzip, browser-like headers.

async fn shape(State(sh): S, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let control = path.starts_with("/__sim/");
    let accepts_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let (latency, fault, skew) = {
        let mut w = sh.world();
        *w.hits.entry(path.clone()).or_insert(0) += 1;
        let skew = w.scenario.clock_skew_s;
        if control {
            (0, None, skew)
        } else {
            (w.scenario.latency_ms, w.take_fault(&path), skew)
        }
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(FaultKind::Delay { ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::SERVER, HeaderValue::from_static("Tengine"));
    parts
        .headers
        .insert("x-sim", HeaderValue::from_static("qrlogin"));
    let skew = skew.clamp(-(MAX_CLOCK_SKEW_S as i64), MAX_CLOCK_SKEW_S as i64);
    let date = if skew >= 0 {
        std::time::SystemTime::now() + Duration::from_secs(skew as u64)
    } else {
        std::time::SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
    };
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date)) {
        parts.headers.insert(header::DATE, v);
    }
    // A spoiled body stands in for the page: a redirect becomes that page.
    if fault.as_ref().is_some_and(|f| {
        !matches!(
            f,
            FaultKind::Delay { .. } | FaultKind::Status { .. } | FaultKind::ExtraCookie { .. }
        )
    }) && parts.status.is_redirection()
    {
        parts.status = StatusCode::OK;
        parts.headers.remove(header::LOCATION);
    }
    let bytes: Bytes = match fault {
        None | Some(FaultKind::Delay { .. }) => bytes,
        Some(FaultKind::ExtraCookie { cookie }) => {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                parts.headers.append(header::SET_COOKIE, v);
            }
            bytes
        }
        Some(FaultKind::Status { code }) => {
            parts.status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            parts.headers.remove(header::SET_COOKIE);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Bytes::from(format!("<html><body><h1>{code}</h1>Tengine</body></html>"))
        }
        Some(FaultKind::HtmlPage) => {
            parts.headers.remove(header::SET_COOKIE);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Bytes::from_static(pages::BLOCK_PAGE.as_bytes())
        }
        Some(FaultKind::Truncated) => bytes.slice(..bytes.len() / 2),
        Some(FaultKind::Empty) => Bytes::new(),
        Some(FaultKind::CorruptGzip) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(
                parts,
                Body::from(&b"\x1f\x8b\x08\x00garbage-not-gzip"[..]),
            );
        }
        Some(FaultKind::GzipBomb { mb }) => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..mb.min(4096) {
                let _ = enc.write_all(&zeros);
            }
            let gz = enc.finish().unwrap_or_default();
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(gz));
        }
        Some(FaultKind::Reset) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures_stream(half);
            return Response::from_parts(parts, Body::from_stream(stream));
        }
        Some(FaultKind::HasError) => {
            parts.status = StatusCode::OK;
            Bytes::from(
                json!({"content": {"data": {}, "success": false}, "hasError": true}).to_string(),
            )
        }
        Some(FaultKind::MissingField) => Bytes::from(spoil(&bytes, false)),
        Some(FaultKind::WrongType) => Bytes::from(spoil(&bytes, true)),
        Some(FaultKind::Body { body }) => Bytes::from(body),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    if accepts_gzip && !bytes.is_empty() && !parts.headers.contains_key(header::CONTENT_ENCODING) {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(&bytes).is_ok()
            && let Ok(gz) = enc.finish()
        {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return Response::from_parts(parts, Body::from(gz));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Half a body, then an error: hyper aborts the connection mid-body.
fn futures_stream(
    half: Bytes,
) -> impl tokio_stream_like::Stream<Item = Result<Bytes, std::io::Error>> {
    tokio_stream_like::two(half)
}

/// A tiny two-item stream without pulling in a streams crate.
mod tokio_stream_like {
    use axum::body::Bytes;
    pub use futures_core::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Two(u8, Bytes);

    pub fn two(b: Bytes) -> Two {
        Two(0, b)
    }

    impl Stream for Two {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0 += 1;
            match self.0 {
                1 => Poll::Ready(Some(Ok(self.1.clone()))),
                2 => Poll::Ready(Some(Err(std::io::Error::other(
                    "connection reset by simulator",
                )))),
                _ => Poll::Ready(None),
            }
        }
    }
}

/// Remove (or retype) the payload field a client needs: `content.data`'s keys for a
/// passport envelope, `ret` for mtop, `success` for the account endpoints.
fn spoil(bytes: &[u8], wrong_type: bool) -> String {
    let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
        // An HTML page: spoil the login form inside `window.viewData`, if it has one.
        let html = String::from_utf8_lossy(bytes);
        return if wrong_type {
            html.replace("\"loginFormData\":{", "\"loginFormData\":[{")
                .replace("}};", "}]};")
        } else {
            html.replace("\"loginFormData\"", "\"loginForm\"")
        };
    };
    let replacement = |_: &Value| json!(["wrong", "type"]);
    if let Some(data) = v
        .pointer_mut("/content/data")
        .and_then(Value::as_object_mut)
    {
        let keys: Vec<String> = data.keys().cloned().collect();
        for k in keys {
            if wrong_type {
                let r = replacement(&data[&k]);
                data.insert(k, r);
            } else {
                data.remove(&k);
            }
        }
    } else if let Some(obj) = v.as_object_mut() {
        for k in ["ret", "success", "returnValue", "content"] {
            if obj.contains_key(k) {
                if wrong_type {
                    obj.insert(k.into(), json!(42));
                } else {
                    obj.remove(k);
                }
            }
        }
    }
    v.to_string()
}

// ---------------------------------------------------------------------------------------
// h5api: mtop

async fn mtop(
    State(sh): S,
    Path((api, _version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let cookies = request_cookies(&headers);
    let f = form(&body);
    let data = q
        .get("data")
        .or_else(|| f.get("data"))
        .cloned()
        .unwrap_or_default();
    let mut w = sh.world();
    let now = now_ms();
    let fresh = |w: &mut super::state::World| {
        let tk = w.mint_h5_token(now);
        vec![
            set_cookie("_m_h5_tk", &tk, Some(86_400), false),
            set_cookie("_m_h5_tk_enc", &hex(32), Some(86_400), false),
        ]
    };
    let Some(tk) = cookies.get("_m_h5_tk").filter(|v| !v.is_empty()) else {
        let c = fresh(&mut w);
        return Reply::json(mtop_body(
            &api,
            &["FAIL_SYS_TOKEN_EMPTY::令牌为空"],
            json!({}),
        ))
        .cookies(c);
    };
    let token = token_of(tk);
    if w.h5_tokens.get(token).is_none_or(|exp| *exp <= now) {
        w.h5_tokens.remove(token);
        let c = fresh(&mut w);
        return Reply::json(mtop_body(
            &api,
            &["FAIL_SYS_TOKEN_EXOIRED::令牌过期"],
            json!({}),
        ))
        .cookies(c);
    }
    let t = q.get("t").cloned().unwrap_or_default();
    let app_key = q.get("appKey").cloned().unwrap_or_default();
    let given = q.get("sign").cloned().unwrap_or_default();
    if app_key != APP_KEY || given != sign(token, &t, APP_KEY, &data) {
        return Reply::json(mtop_body(
            &api,
            &["FAIL_SYS_ILLEGAL_ACCESS::非法请求"],
            json!({}),
        ));
    }
    match api.as_str() {
        "mtop.gaia.nodejs.gaia.idle.data.gw.v2.index.get"
        | "mtop.taobao.idlehome.home.webpc.feed" => Reply::json(mtop_body(
            &api,
            &["SUCCESS::调用成功"],
            json!({"sections": []}),
        )),
        "mtop.taobao.idlemessage.pc.loginuser.get"
        | "mtop.taobao.idlemessage.pc.login.token"
        | "mtop.idle.web.user.page.nav" => {
            let session = w.session_of(
                cookies.get("cookie2").map(String::as_str),
                cookies.get("unb").map(String::as_str),
            );
            match session {
                None | Some((_, SessionState::Dead)) => Reply::json(mtop_body(
                    &api,
                    &["FAIL_SYS_SESSION_EXPIRED::Session过期"],
                    json!({}),
                )),
                Some((_, SessionState::Blocked)) => Reply::json(risk_body(&sh, &api)),
                Some((unb, SessionState::Alive)) => {
                    let data = if api.ends_with("login.token") {
                        json!({"accessToken": format!("oauth_k1:{}", hex(40)), "accessTokenExpiredTime": "86400000", "refreshToken": format!("oauth_k1:{}", hex(40))})
                    } else {
                        json!({"userId": unb.parse::<i64>().unwrap_or(0), "nick": nick_of(&cookies)})
                    };
                    Reply::json(mtop_body(&api, &["SUCCESS::调用成功"], data))
                }
            }
        }
        _ => Reply::json(mtop_body(
            &api,
            &["FAIL_SYS_API_NOT_FOUNDED::请求API不存在"],
            json!({}),
        )),
    }
}

fn nick_of(cookies: &HashMap<String, String>) -> String {
    cookies
        .get("tracknick")
        .map(|n| {
            percent_encoding::percent_decode_str(n)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// The anti-bot interception body (protocol.md §2.5): only `ret` and `data.url`.
fn risk_body(sh: &Shared, api: &str) -> Value {
    let url = format!(
        "{}h5/{api}/1.0/_____tmd_____/punish?x5secdata={}__bx__h5api.m.goofish.com:443/h5/{api}/1.0&x5step=2&action=captcha",
        sh.base,
        hex(24)
    );
    json!({"data": {"url": url}, "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]})
}

// ---------------------------------------------------------------------------------------
// passport: mini_login, generate, query

async fn mini_login(State(sh): S, headers: HeaderMap) -> Reply {
    let cookies = request_cookies(&headers);
    let csrf = hex(22);
    let hsiz = cookies.get("cookie2").cloned().unwrap_or_else(|| hex(32));
    let pretty = sh.world().scenario.pretty_view_data;
    let html = pages::mini_login(&sh.base, &csrf, &hsiz, pretty);
    Reply::html(html).cookies(vec![
        set_cookie("XSRF-TOKEN", &csrf, None, false),
        set_cookie("_tb_token_", &hex(13), None, false),
    ])
}

async fn generate(
    State(sh): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Params,
) -> Reply {
    let mut w = sh.world();
    let now = Instant::now();
    if !w.allow_generate(&peer.ip().to_string(), now) {
        return Reply::json(passport(
            json!({"resultCode": 14031, "titleMsg": "系统繁忙，请稍后再试"}),
            -1,
            false,
        ));
    }
    if q.get("appName").is_some_and(|a| a != "xianyu") {
        return Reply::json(passport(
            json!({"resultCode": 14032, "titleMsg": "非法应用"}),
            -1,
            false,
        ));
    }
    let s = w.generate(now, now_ms() as u64);
    let code = format!(
        "{}qrcodeCheck.htm?lgToken={}&tbScanOpenType=Notification",
        sh.base, s.lg_token
    );
    // `t` is a JSON number (13 digits), not a string.
    Reply::json(passport(
        json!({"t": s.t, "ck": s.ck, "codeContent": code, "resultCode": 100, "processFinished": true}),
        0,
        true,
    ))
}

fn login_cookies(w: &mut super::state::World, unb: &str, nick: &str) -> Vec<String> {
    let cookie2 = w.open_session(unb);
    let nick_enc =
        percent_encoding::utf8_percent_encode(nick, percent_encoding::NON_ALPHANUMERIC).to_string();
    vec![
        set_cookie("unb", unb, Some(31_536_000), true),
        set_cookie("cookie2", &cookie2, None, true),
        set_cookie(
            "sgcookie",
            &format!("E100{}%3D", hex(40)),
            Some(31_536_000),
            true,
        ),
        set_cookie("csg", &hex(8), None, false),
        set_cookie("tracknick", &nick_enc, Some(31_536_000), false),
        set_cookie("t", &hex(32), Some(7_776_000), false),
        set_cookie("_samesite_flag_", "true", None, true),
    ]
}

async fn query(State(sh): S, body: Bytes) -> Reply {
    let f = form(&body);
    let t: u64 = f.get("t").and_then(|t| t.parse().ok()).unwrap_or(0);
    let ck = f.get("ck").cloned().unwrap_or_default();
    let key = (t, ck);
    let mut w = sh.world();
    let now = Instant::now();
    if !w.qrs.contains_key(&key) {
        // An unknown (t, ck) pair always answers EXPIRED (protocol.md §1).
        return Reply::json(passport(
            json!({"qrCodeStatus": "EXPIRED", "resultCode": 100}),
            -1,
            false,
        ));
    }
    w.advance(&key, now);
    if w.scenario.error_polls > 0 {
        w.scenario.error_polls -= 1;
        return Reply::json(passport(
            json!({"qrCodeStatus": "ERROR", "resultCode": 14099, "titleMsg": "系统错误，请稍后再试"}),
            -1,
            false,
        ));
    }
    let Some(s) = w.qrs.get_mut(&key) else {
        return Reply::json(passport(
            json!({"qrCodeStatus": "EXPIRED", "resultCode": 100}),
            -1,
            false,
        ));
    };
    s.last_poll = now;
    let s = s.clone();
    let status_json = |st: QrStatus, n: i64, ok: bool| {
        passport(json!({"qrCodeStatus": st.wire(), "resultCode": 100}), n, ok)
    };
    match s.status {
        QrStatus::New => Reply::json(status_json(QrStatus::New, 0, true)),
        QrStatus::Scanned => Reply::json(status_json(QrStatus::Scanned, 1, true)),
        QrStatus::Expired => Reply::json(status_json(QrStatus::Expired, -1, false)),
        QrStatus::Canceled => Reply::json(status_json(QrStatus::Canceled, -2, false)),
        QrStatus::Confirmed => {
            let confirmed = |extra: Value| {
                let mut data = json!({"qrCodeStatus": "CONFIRMED", "resultCode": 100});
                if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
                    d.extend(e.clone());
                }
                passport(data, 2, true)
            };
            match s.variant {
                Variant::Plain => {
                    let c = login_cookies(&mut w, &s.unb, &s.nickname);
                    Reply::json(confirmed(json!({}))).cookies(c)
                }
                Variant::Token => Reply::json(confirmed(json!({"token": s.login_token}))),
                Variant::KeepLogin => Reply::json(confirmed(json!({
                    "dialogAction": "keepLoginConfirmDialog",
                    "feedbackPayload": {"dynamicUrl": {"dialogConfirmLoginUrl":
                        format!("/newlogin/keepLogin/confirm.do?appName=xianyu&fromSite=77&token={}", s.keep_token.clone().unwrap_or_default())}}
                }))),
                Variant::Verify => {
                    let h = s.htoken.clone().unwrap_or_default();
                    if w.verifications.get(&h).is_some_and(|v| v.passed) {
                        // After verification on the phone, CONFIRMED carries the login (GS).
                        let c = login_cookies(&mut w, &s.unb, &s.nickname);
                        Reply::json(confirmed(json!({}))).cookies(c)
                    } else {
                        let url = format!("{}iv/entry.htm?htoken={h}", sh.base);
                        // A temporary cookie2 without unb: the identity anchor of the chain.
                        Reply::json(confirmed(
                            json!({"iframeRedirect": true, "iframeRedirectUrl": url}),
                        ))
                        .cookies(vec![set_cookie(
                            "cookie2",
                            &hex(32),
                            None,
                            true,
                        )])
                    }
                }
            }
        }
    }
}

async fn login_token(State(sh): S, Query(q): Params) -> Reply {
    redeem(&sh, &q, |s| &mut s.login_token, (14080, "token无效"))
}

async fn keep_login_confirm(State(sh): S, Query(q): Params) -> Reply {
    redeem(&sh, &q, |s| &mut s.keep_token, (14081, "请求已失效"))
}

/// Redeem a one-time token a CONFIRMED answer handed out (variants b and c): the session
/// it names logs in, and the token is spent.
fn redeem(
    sh: &Shared,
    q: &HashMap<String, String>,
    slot: fn(&mut super::state::QrSession) -> &mut Option<String>,
    refusal: (i64, &str),
) -> Reply {
    let token = q.get("token").cloned().unwrap_or_default();
    let mut w = sh.world();
    let found = w.qrs.values_mut().find_map(|s| {
        let hit = !token.is_empty() && slot(s).as_deref() == Some(token.as_str());
        hit.then_some(s)
    });
    match found {
        Some(s) => {
            *slot(s) = None;
            let (unb, nick) = (s.unb.clone(), s.nickname.clone());
            let c = login_cookies(&mut w, &unb, &nick);
            Reply::json(passport(json!({"resultCode": 100}), 0, true)).cookies(c)
        }
        None => Reply::json(passport(
            json!({"resultCode": refusal.0, "titleMsg": refusal.1}),
            -1,
            false,
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Identity verification chain (protocol.md §6)

fn htoken(q: &HashMap<String, String>) -> String {
    q.get("htoken").cloned().unwrap_or_default()
}

async fn iv_entry(Query(q): Params) -> Reply {
    Reply::redirect(format!("/iv/normal_validate.htm?htoken={}", htoken(&q)))
}

async fn iv_normal_validate(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    if !sh.world().verifications.contains_key(&h) {
        return Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::NOT_FOUND);
    }
    let host = sh.base.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = sh.base.port().map(|p| format!(":{p}")).unwrap_or_default();
    Reply::html(pages::normal_validate(&h, &format!("{host}{port}")))
}

async fn iv_verify_modes(Query(q): Params) -> Reply {
    Reply::redirect(format!(
        "/iv/mini/identity_verify.htm?htoken={}",
        htoken(&q)
    ))
}

async fn iv_identity_verify(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    let Some(v) = w.verifications.get_mut(&h) else {
        return Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::NOT_FOUND);
    };
    v.started.get_or_insert(Instant::now());
    let qr_text = format!("{}iv/phone.htm?htoken={h}&from=scan", sh.base);
    Reply::html(pages::identity_verify(&qr_text))
}

async fn iv_check(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    let lg = w.verifications.get(&h).map(|v| v.lg_token.clone());
    if let Some(key) = lg.and_then(|lg| w.by_lg_token.get(&lg).cloned()) {
        w.advance(&key, Instant::now());
    }
    match w.verifications.get(&h) {
        Some(v) if v.passed => Reply::json(
            json!({"content": {"code": 3, "url": format!("{}ivCheckLogin.htm?htoken={h}", sh.base)}}),
        ),
        Some(_) => Reply::json(json!({"content": {"code": 0}})),
        None => Reply::json(json!({"content": {"code": 5, "msg": "htoken invalid"}})),
    }
}

async fn iv_phone_page(Query(q): Params) -> Reply {
    Reply::html(pages::verify_phone(&htoken(&q)))
}

async fn iv_check_login(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    match w.verifications.get(&h).filter(|v| v.passed).cloned() {
        Some(v) => {
            let c = login_cookies(&mut w, &v.unb, &v.nickname);
            Reply::redirect(format!("{}im", sh.base)).cookies(c)
        }
        None => Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::FORBIDDEN),
    }
}

// ---------------------------------------------------------------------------------------
// Renewal (protocol.md §7.3)

fn session_from(w: &super::state::World, headers: &HeaderMap) -> Option<(String, SessionState)> {
    let c = request_cookies(headers);
    w.session_of(
        c.get("cookie2").map(String::as_str),
        c.get("unb").map(String::as_str),
    )
}

/// Fresh login cookies for a renewal: the same session, rotated sgcookie and csg.
fn rotated(unb: &str) -> Vec<String> {
    vec![
        set_cookie("unb", unb, Some(31_536_000), true),
        set_cookie(
            "sgcookie",
            &format!("E100{}%3D", hex(40)),
            Some(31_536_000),
            true,
        ),
        set_cookie("csg", &hex(8), None, false),
        set_cookie("last_u_xianyu_web", unb, Some(31_536_000), false),
    ]
}

async fn has_login(State(sh): S, headers: HeaderMap, body: Bytes) -> Reply {
    let mut w = sh.world();
    let form: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    w.forms
        .insert("/newlogin/hasLogin.do".into(), Value::Object(form));
    match session_from(&w, &headers) {
        Some((unb, SessionState::Alive)) => {
            Reply::json(passport(json!({"resultCode": 100}), 0, true)).cookies(rotated(&unb))
        }
        Some((_, SessionState::Blocked)) => Reply::json(risk_body(&sh, "newlogin.hasLogin")),
        _ => Reply::json(passport(
            json!({"titleMsg": "登录已失效，请重新登录"}),
            0,
            false,
        )),
    }
}

async fn silent_has_login(State(sh): S, headers: HeaderMap) -> Reply {
    let w = sh.world();
    let cookies = request_cookies(&headers);
    let long_login = cookies
        .get("havana_lgc_exp")
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|exp| exp > now_ms());
    match session_from(&w, &headers) {
        Some((unb, SessionState::Alive)) if long_login => {
            let mut c = rotated(&unb);
            c.push(set_cookie(
                "sdkSilent",
                &(now_ms() + 86_400_000).to_string(),
                Some(86_400),
                false,
            ));
            Reply::json(passport(
                json!({"processFinished": true, "resultCode": 100}),
                0,
                true,
            ))
            .cookies(c)
        }
        Some((_, SessionState::Blocked)) => Reply::json(risk_body(&sh, "newlogin.silentHasLogin")),
        _ => Reply::json(passport(
            json!({"processFinished": true, "resultCode": 14050}),
            0,
            false,
        )),
    }
}

async fn set_login_settings(State(sh): S, headers: HeaderMap, body: Bytes) -> Reply {
    let w = sh.world();
    let f = form(&body);
    match session_from(&w, &headers) {
        Some((unb, SessionState::Alive)) if f.get("status").map(String::as_str) == Some("0") => {
            Reply::json(json!({"success": true, "data": {"success": true}}))
                .cookies(long_login_cookies(&unb))
        }
        Some((_, SessionState::Alive)) => {
            Reply::json(json!({"success": true, "data": {"success": true}}))
        }
        Some((_, SessionState::Blocked)) => {
            Reply::json(risk_body(&sh, "ac.account.setLoginSettings"))
        }
        _ => {
            Reply::json(json!({"success": false, "data": {"success": false, "message": "未登录"}}))
        }
    }
}

async fn query_login_settings(State(sh): S, headers: HeaderMap) -> Reply {
    let w = sh.world();
    let has = request_cookies(&headers).contains_key("havana_lgc2_77");
    match session_from(&w, &headers) {
        Some((_, SessionState::Alive)) => Reply::json(
            json!({"success": true, "returnValue": {"canOpenLongLogin": true, "hasLongTokenLogin": has}}),
        ),
        _ => Reply::json(
            json!({"success": false, "returnValue": {"canOpenLongLogin": false, "hasLongTokenLogin": false}}),
        ),
    }
}

/// The long-login cookies (§5.6): `havana_lgc2_77` (base64 JSON), `_hvn_lgc_`, and
/// `havana_lgc_exp` 30 days out.
fn long_login_cookies(unb: &str) -> Vec<String> {
    let exp = now_ms() + 30 * 86_400_000;
    let payload = json!({"hid": unb.parse::<i64>().unwrap_or(0), "sg": hex(32), "site": 77, "token": hex(23)});
    let lgc = base64(payload.to_string().as_bytes());
    vec![
        set_cookie("havana_lgc2_77", &lgc, Some(2_592_000), true),
        set_cookie("_hvn_lgc_", "77", Some(2_592_000), false),
        set_cookie("havana_lgc_exp", &exp.to_string(), Some(2_592_000), false),
    ]
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// www.goofish.com

async fn www_home() -> Reply {
    Reply::html(pages::WWW_HOME.into())
}

/// `/im`: a logged-in visitor goes through one redirect hop that sets a cookie, then the
/// page sets another; a visitor without a session is sent to the login domain (§7.5).
async fn www_im(State(sh): S, Query(q): Params, headers: HeaderMap) -> Reply {
    let w = sh.world();
    match session_from(&w, &headers) {
        Some((_, SessionState::Alive)) if !q.contains_key("spm") => Reply::redirect(
            "/im?spm=a21ybx.home.nav.1".into(),
        )
        .cookies(vec![set_cookie("xlly_s", "1", Some(172_800), false)]),
        Some((_, SessionState::Alive)) => {
            Reply::html(pages::WWW_IM.into()).cookies(vec![set_cookie(
                "mtop_partitioned_detect",
                "1",
                Some(5_400),
                false,
            )])
        }
        _ => Reply::redirect(format!(
            "{}mini_login.htm?appName=xianyu&returnUrl=%2Fim",
            sh.base
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Control API (`/__sim/`), documented in the README.

async fn ctl_state(State(sh): S) -> Reply {
    let w = sh.world();
    let mut qrs: Vec<_> = w.qrs.values().collect();
    qrs.sort_by_key(|s| s.t);
    let qrs: Vec<Value> = qrs
        .iter()
        .map(|s| json!({"lgToken": s.lg_token, "t": s.t, "status": s.status.wire(), "variant": s.variant, "htoken": s.htoken}))
        .collect();
    Reply::json(json!({
        "scenario": w.scenario,
        "qrs": qrs,
        "accounts": w.accounts,
        "sessions": w.sessions.len(),
        "faults": w.faults,
        "hits": w.hits,
        "forms": w.forms,
    }))
}

/// The largest clock skew the simulator models: ten years either way.
const MAX_CLOCK_SKEW_S: u64 = 10 * 366 * 86_400;

async fn ctl_scenario(State(sh): S, body: Bytes) -> Reply {
    let mut w = sh.world();
    let mut current = serde_json::to_value(&w.scenario).unwrap_or_else(|_| json!({}));
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST);
        }
    };
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        c.extend(p.clone());
    }
    match serde_json::from_value::<Scenario>(current) {
        // A Date header past the year 9999 cannot be written: refuse the skew up front.
        Ok(s) if s.clock_skew_s.unsigned_abs() > MAX_CLOCK_SKEW_S => Reply::json(
            json!({"error": format!("clock_skew_s must be within ±{MAX_CLOCK_SKEW_S} s (ten years)")}),
        )
        .status(StatusCode::BAD_REQUEST),
        Ok(s) => {
            w.scenario = s;
            Reply::json(json!({"scenario": w.scenario}))
        }
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST),
    }
}

#[derive(serde::Deserialize)]
struct PhoneReq {
    #[serde(rename = "lgToken", default)]
    lg_token: String,
    #[serde(rename = "tmpToken", default)]
    tmp_token: String,
    #[serde(default)]
    htoken: String,
}

async fn ctl_phone(State(sh): S, Path(action): Path<String>, body: Bytes) -> Reply {
    let req: PhoneReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST);
        }
    };
    let mut w = sh.world();
    // `latest` names the most recently generated QR, for a person with a browser.
    let lg = if req.lg_token == "latest" {
        w.qrs
            .values()
            .max_by_key(|s| s.t)
            .map(|s| s.lg_token.clone())
            .unwrap_or_default()
    } else {
        req.lg_token.clone()
    };
    let now = Instant::now();
    let result = match action.as_str() {
        "scan" => w
            .scan(&lg, now)
            .map(|tmp| json!({"tmpToken": tmp, "lgToken": lg})),
        "confirm" => w
            .confirm(&lg, &req.tmp_token, now)
            .map(|_| json!({"ok": true})),
        "cancel" => w.cancel(&lg).map(|_| json!({"ok": true})),
        "expire" => w.expire(&lg).map(|_| json!({"ok": true})),
        "verify" => {
            let h = if req.htoken == "latest" {
                w.qrs
                    .values()
                    .filter(|s| s.htoken.is_some())
                    .max_by_key(|s| s.t)
                    .and_then(|s| s.htoken.clone())
                    .unwrap_or_default()
            } else {
                req.htoken.clone()
            };
            match w.verifications.get_mut(&h) {
                Some(v) => {
                    v.passed = true;
                    Ok(json!({"ok": true}))
                }
                None => Err(super::state::PhoneError::UnknownQr),
            }
        }
        _ => return Reply::json(json!({"error": "unknown action"})).status(StatusCode::NOT_FOUND),
    };
    match result {
        Ok(v) => Reply::json(v),
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::CONFLICT),
    }
}

async fn ctl_add_faults(State(sh): S, body: Bytes) -> Reply {
    match serde_json::from_slice::<Vec<super::state::Fault>>(&body) {
        Ok(f) => {
            let mut w = sh.world();
            w.faults.extend(f);
            Reply::json(json!({"faults": w.faults}))
        }
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST),
    }
}

async fn ctl_clear_faults(State(sh): S) -> Reply {
    sh.world().faults.clear();
    Reply::json(json!({"faults": []}))
}

#[derive(serde::Deserialize)]
struct AccountReq {
    unb: String,
    state: SessionState,
}

async fn ctl_account(State(sh): S, body: Bytes) -> Reply {
    match serde_json::from_slice::<AccountReq>(&body) {
        Ok(r) => {
            sh.world().accounts.insert(r.unb, r.state);
            Reply::json(json!({"ok": true}))
        }
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST),
    }
}

#[derive(serde::Deserialize)]
struct SeedReq {
    unb: String,
    #[serde(default)]
    nickname: String,
    #[serde(default = "yes")]
    long_login: bool,
}

fn yes() -> bool {
    true
}

/// Log an account in without a phone and hand its cookies back in qrlogin's JSON import
/// format: for tests and benchmarks that need many live accounts quickly.
async fn ctl_seed(State(sh): S, body: Bytes) -> Reply {
    let req: SeedReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST);
        }
    };
    let mut w = sh.world();
    let mut set = login_cookies(&mut w, &req.unb, &req.nickname);
    if req.long_login {
        set.extend(long_login_cookies(&req.unb));
    }
    set.push(set_cookie(
        "_m_h5_tk",
        &w.mint_h5_token(now_ms()),
        Some(86_400),
        false,
    ));
    let host = sh.base.host_str().unwrap_or("127.0.0.1").to_owned();
    let now = crate::time::now();
    let cookies: Vec<Value> = set
        .iter()
        .map(|c| {
            let mut parts = c.split("; ");
            let (name, value) = parts.next().and_then(|p| p.split_once('=')).unwrap_or(("", ""));
            let mut expires = Value::Null;
            let mut http_only = false;
            for p in parts {
                if let Some(age) = p.strip_prefix("Max-Age=") {
                    expires = json!(now + age.parse::<i64>().unwrap_or(0));
                }
                http_only |= p == "HttpOnly";
            }
            json!({"name": name, "value": value, "domain": host, "path": "/", "expires": expires, "secure": false, "http_only": http_only})
        })
        .collect();
    Reply::json(json!(cookies))
}

async fn phone_page(Query(q): Params) -> Reply {
    Reply::html(pages::phone(
        q.get("lgToken").map(String::as_str).unwrap_or("latest"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_python() {
        assert_eq!(base64(b"{\"hid\":1}"), "eyJoaWQiOjF9");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn spoiling_removes_or_retypes_the_payload() {
        let body = passport(json!({"t": 1, "ck": "x"}), 0, true).to_string();
        let missing: Value = serde_json::from_str(&spoil(body.as_bytes(), false)).unwrap();
        assert_eq!(missing["content"]["data"], json!({}));
        let wrong: Value = serde_json::from_str(&spoil(body.as_bytes(), true)).unwrap();
        assert!(wrong["content"]["data"]["t"].is_array());
    }
}
