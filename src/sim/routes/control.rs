//! The control API under `/__sim/` (tests, benchmarks and `demo` steer the simulator
//! through it) and the simulated phone's page.

use super::*;

pub(super) async fn ctl_state(State(sh): S) -> Reply {
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
        "renewals": w.renewals,
        "forms": w.forms,
    }))
}

/// The largest clock skew the simulator models: ten years either way.
pub(super) const MAX_CLOCK_SKEW_S: u64 = 10 * 366 * 86_400;

pub(super) async fn ctl_scenario(State(sh): S, body: Bytes) -> Reply {
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
pub(super) struct PhoneReq {
    #[serde(rename = "lgToken", default)]
    lg_token: String,
    #[serde(rename = "tmpToken", default)]
    tmp_token: String,
    #[serde(default)]
    htoken: String,
}

/// What the simulated phone can be told to do (`POST /__sim/phone/{action}`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum PhoneAction {
    Scan,
    Confirm,
    Cancel,
    Expire,
    Verify,
}

pub(super) async fn ctl_phone(State(sh): S, Path(action): Path<String>, body: Bytes) -> Reply {
    let Ok(action) = serde_json::from_value::<PhoneAction>(Value::String(action)) else {
        return Reply::json(json!({"error": "unknown action"})).status(StatusCode::NOT_FOUND);
    };
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
    let result = match action {
        PhoneAction::Scan => w
            .scan(&lg, now)
            .map(|tmp| json!({"tmpToken": tmp, "lgToken": lg})),
        PhoneAction::Confirm => w
            .confirm(&lg, &req.tmp_token, now)
            .map(|_| json!({"ok": true})),
        PhoneAction::Cancel => w.cancel(&lg).map(|_| json!({"ok": true})),
        PhoneAction::Expire => w.expire(&lg).map(|_| json!({"ok": true})),
        PhoneAction::Verify => {
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
                None => Err(crate::sim::state::PhoneError::UnknownQr),
            }
        }
    };
    match result {
        Ok(v) => Reply::json(v),
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::CONFLICT),
    }
}

pub(super) async fn ctl_add_faults(State(sh): S, body: Bytes) -> Reply {
    match serde_json::from_slice::<Vec<crate::sim::state::Fault>>(&body) {
        Ok(f) => {
            let mut w = sh.world();
            w.faults.extend(f);
            Reply::json(json!({"faults": w.faults}))
        }
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST),
    }
}

pub(super) async fn ctl_clear_faults(State(sh): S) -> Reply {
    sh.world().faults.clear();
    Reply::json(json!({"faults": []}))
}

#[derive(serde::Deserialize)]
pub(super) struct AccountReq {
    unb: String,
    state: SessionState,
}

pub(super) async fn ctl_account(State(sh): S, body: Bytes) -> Reply {
    match serde_json::from_slice::<AccountReq>(&body) {
        Ok(r) => {
            sh.world().accounts.insert(r.unb, r.state);
            Reply::json(json!({"ok": true}))
        }
        Err(e) => Reply::json(json!({"error": e.to_string()})).status(StatusCode::BAD_REQUEST),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct SeedReq {
    unb: String,
    #[serde(default)]
    nickname: String,
    #[serde(default = "yes")]
    long_login: bool,
}

pub(super) fn yes() -> bool {
    true
}

/// Log an account in without a phone and hand its cookies back in qrlogin's JSON import
/// format: for tests and benchmarks that need many live accounts quickly.
pub(super) async fn ctl_seed(State(sh): S, body: Bytes) -> Reply {
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
    // Where and how the real service scopes them: `.goofish.com` and Secure over TLS, the
    // simulator's own host otherwise.
    let (host, secure) = match sh.tls {
        true => (COOKIE_DOMAIN.to_owned(), true),
        false => (
            sh.hosts
                .passport
                .host_str()
                .unwrap_or("127.0.0.1")
                .to_owned(),
            false,
        ),
    };
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
            json!({"name": name, "value": value, "domain": host, "path": "/", "expires": expires, "secure": secure, "http_only": http_only})
        })
        .collect();
    Reply::json(json!(cookies))
}

pub(super) async fn phone_page(Query(q): Params) -> Reply {
    Reply::html(pages::phone(
        q.get("lgToken").map(String::as_str).unwrap_or("latest"),
    ))
}
