//! `add-account --web`: one page, for the length of one login, showing the current QR code
//! and the login's progress to whoever holds the phone.
//!
//! Served at `http://ADDR/<token>/` where the token is 128 random bits: every other path,
//! and every path once the login has ended and its grace period passed, is a bare 404, and
//! an address that keeps guessing tokens gets 429. The page is self-contained (inline style
//! and script under a per-run CSP nonce, the QR as an inline SVG image) and follows the
//! login through Server-Sent Events (`events`), or by polling `status` where SSE is
//! unavailable. What it shows is only the QR content, the account name, the state and the
//! saved account's name and unb: never a cookie value or another token of the login.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wrong tokens one address may try in a minute before it gets 429.
const GUESSES_PER_MINUTE: u32 = 20;

/// What the page shows; every change bumps `version` and is pushed to open pages.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct Status {
    version: u64,
    /// waiting, scanned, verifying, verification, confirmed, saved, expired, cancelled,
    /// failed.
    state: &'static str,
    title: String,
    hint: String,
    /// The QR to scan now, as an SVG image (login or verification).
    qr_svg: Option<String>,
    qr_kind: Option<&'static str>,
    expires_at: Option<i64>,
    account: Option<String>,
    saved_name: Option<String>,
    saved_unb: Option<String>,
    /// The login has ended: the page stops listening.
    done: bool,
}

struct Shared {
    token: String,
    nonce: String,
    status: Mutex<Status>,
    changed: tokio::sync::watch::Sender<u64>,
    guesses: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Set when the grace period after the end has passed: every path is 404 from then on.
    closed: std::sync::atomic::AtomicBool,
    /// A page has received the final state.
    delivered: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running page server.
pub(super) struct Web {
    shared: Arc<Shared>,
    pub(super) url: String,
    grace: Duration,
    task: tokio::task::JoinHandle<()>,
}

impl Web {
    /// Bind `addr` and serve the page for a login of `account` (its `--name`, if any).
    pub(super) async fn start(
        addr: &str,
        grace: Duration,
        account: Option<&str>,
    ) -> Result<(Web, SocketAddr), String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--web {addr}: cannot listen there ({e})"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--web {addr}: {e}"))?;
        // 32 hex digits: 128 random bits.
        let token = crate::ids::random_hex(32);
        let (changed, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            token: token.clone(),
            nonce: crate::ids::random_hex(32),
            status: Mutex::new(Status {
                state: "starting",
                title: "Preparing the QR code…".into(),
                account: account.map(str::to_owned),
                ..Status::default()
            }),
            changed,
            guesses: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            delivered: std::sync::atomic::AtomicBool::new(false),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let host = match bound.ip() {
            ip if ip.is_unspecified() => crate::ids::hostname(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let url = format!("http://{host}:{}/{token}/", bound.port());
        Ok((
            Web {
                shared,
                url,
                grace,
                task,
            },
            bound,
        ))
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        let version = {
            let mut s = self.shared.status();
            f(&mut s);
            s.version += 1;
            s.version
        };
        self.shared.changed.send_replace(version);
    }

    /// A QR code to scan: `kind` is `login` or `verification`.
    pub(super) fn qr(&self, text: &str, kind: &'static str, expires_at: Option<i64>) {
        let svg = crate::qr::svg(text);
        self.update(|s| {
            s.qr_svg = svg;
            s.qr_kind = Some(kind);
            s.expires_at = expires_at;
            if kind == "login" {
                s.state = "waiting";
                s.title = "Scan this code with the 闲鱼 (Xianyu) app".into();
                s.hint = "Open 闲鱼 (Xianyu), tap the scan icon and point it at the code; then confirm on the phone.".into();
            } else {
                s.state = "verification";
                s.title = "Scan this verification code with the 闲鱼 (Xianyu) app".into();
                s.hint = "Goofish wants a face check before this login completes: scan this new code and follow the steps on the phone.".into();
            }
        });
    }

    pub(super) fn scanned(&self) {
        self.update(|s| {
            s.state = "scanned";
            s.title = "Scanned: confirm the login on the phone".into();
            s.hint = "Tap the confirm button in 闲鱼. This page updates by itself.".into();
        });
    }

    pub(super) fn verifying(&self) {
        self.update(|s| {
            s.state = "verifying";
            s.qr_svg = None;
            s.title = "Identity verification required".into();
            s.hint = "The login code is done with; the verification code appears here in a moment."
                .into();
        });
    }

    pub(super) fn confirmed(&self) {
        self.update(|s| {
            s.state = "confirmed";
            s.qr_svg = None;
            s.title = "Confirmed: logging in…".into();
            s.hint = "Nothing more to do on the phone.".into();
        });
    }

    pub(super) fn saved(&self, name: &str, unb: &str) {
        self.update(|s| {
            s.state = "saved";
            s.qr_svg = None;
            s.done = true;
            s.title = format!("Logged in: saved as {name}");
            s.hint = "You can close this page.".into();
            s.saved_name = Some(name.to_owned());
            s.saved_unb = Some(unb.to_owned());
        });
    }

    /// The login ended without an account: `state` says how, `message` what to do.
    pub(super) fn failed(&self, state: &'static str, message: &str) {
        let (title, hint) = match state {
            "expired" => (
                "The QR code expired".to_owned(),
                "Ask for a new login (run add-account again).".to_owned(),
            ),
            "cancelled" => (
                "The login was cancelled on the phone".to_owned(),
                "Ask for a new login if that was a mistake.".to_owned(),
            ),
            "pending" => (
                "This login continues elsewhere".to_owned(),
                "It can be finished later with add-account --resume.".to_owned(),
            ),
            // Not the store's trouble, which is the operator's (and its paths theirs).
            "unsaved" => (
                "Scanned and confirmed, not saved yet".to_owned(),
                "You do not need to scan again: the operator has this login and saves it."
                    .to_owned(),
            ),
            _ => ("The login failed".to_owned(), message.to_owned()),
        };
        self.update(|s| {
            s.state = state;
            s.qr_svg = None;
            s.done = true;
            s.title = title;
            s.hint = hint;
        });
    }

    /// Keep showing the outcome for the grace period, or until an open page has it (and
    /// a second more for its reader), then close every path and stop.
    pub(super) async fn finish(self) {
        let deadline = tokio::time::Instant::now() + self.grace;
        loop {
            if self
                .shared
                .delivered
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                tokio::time::sleep(Duration::from_secs(1).min(self.grace)).await;
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.abort();
    }
}

/// Every request: the token checked first (in constant time), then one of three paths.
async fn handle(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_owned();
    let closed = sh.closed.load(std::sync::atomic::Ordering::SeqCst);
    let rest = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(token, _)| !closed && same(token.as_bytes(), sh.token.as_bytes()));
    let Some((_, rest)) = rest else {
        return guessed(&sh, peer.ip());
    };
    if req.method() != axum::http::Method::GET {
        return secured(&sh, StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    let resp = match rest {
        "" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page(&sh.nonce),
        )
            .into_response(),
        "status" => {
            let status = sh.status().clone();
            if status.done {
                sh.delivered
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            axum::Json(status).into_response()
        }
        "events" => events(&sh).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    };
    secured(&sh, resp)
}

/// A wrong or missing token: a bare 404, or 429 for an address that keeps guessing.
fn guessed(sh: &Shared, ip: IpAddr) -> Response {
    let now = Instant::now();
    let mut g = sh.guesses.lock().unwrap_or_else(|p| p.into_inner());
    let entry = g.entry(ip).or_insert((now, 0));
    if now.duration_since(entry.0) > Duration::from_secs(60) {
        *entry = (now, 0);
    }
    entry.1 += 1;
    let status = if entry.1 > GUESSES_PER_MINUTE {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::NOT_FOUND
    };
    secured(sh, (status, Body::empty()).into_response())
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The headers every answer carries: nothing cached, no referrer, nothing but this page's
/// own inline code and data images.
fn secured(sh: &Shared, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{n}'; style-src 'nonce-{n}'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        n = sh.nonce
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The status now, then every change, as Server-Sent Events.
fn events(sh: &Arc<Shared>) -> impl IntoResponse + use<> {
    let rx = sh.changed.subscribe();
    let sh = sh.clone();
    let stream = futures_util::stream::unfold((rx, sh, true), |(mut rx, sh, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        rx.borrow_and_update();
        let status = sh.status().clone();
        if status.done {
            sh.delivered
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let event = SseEvent::default()
            .event("status")
            .json_data(&status)
            .unwrap_or_default();
        Some((Ok::<_, Infallible>(event), (rx, sh, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn page(nonce: &str) -> String {
    include_str!("web_page.html").replace("{{NONCE}}", nonce)
}
