//! The simulated QR login: the login form, generate and query, the CONFIRMED variants'
//! follow-ups, and www's landing pages.

use super::*;

pub(super) async fn mini_login(State(sh): S, headers: HeaderMap) -> Reply {
    let cookies = request_cookies(&headers);
    let csrf = hex(22);
    // `hsiz` is the anonymous `cookie2` the h5 gateway issued (protocol.md §2.4, §3.3); a
    // client that comes here first gets one now, so the two always agree.
    let (hsiz, issued) = match cookies.get("cookie2") {
        Some(c) => (c.clone(), None),
        None => {
            let c = hex(32);
            (c.clone(), Some(set_cookie("cookie2", &c, None, true)))
        }
    };
    let pretty = sh.world().scenario.pretty_view_data;
    let html = pages::mini_login(&sh.hosts.www, &csrf, &hsiz, pretty);
    let mut set = vec![
        set_cookie("XSRF-TOKEN", &csrf, None, false),
        set_cookie("_tb_token_", &hex(13), None, false),
    ];
    set.extend(issued);
    Reply::html(html).cookies(set)
}

pub(super) async fn generate(
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
        sh.hosts.passport, s.lg_token
    );
    // `t` is a JSON number (13 digits), not a string.
    Reply::json(passport(
        json!({"t": s.t, "ck": s.ck, "codeContent": code, "resultCode": 100, "processFinished": true}),
        0,
        true,
    ))
}

pub(super) fn login_cookies(
    w: &mut crate::sim::state::World,
    unb: &str,
    nick: &str,
) -> Vec<String> {
    let cookie2 = w.open_session(unb);
    let nick_enc = encode_nick(nick);
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

/// `tracknick` as the service encodes it: UTF-8 percent-encoded, but `-`, `_`, `.` and `~`
/// left alone (`xy_demo_user`, not `xy%5Fdemo%5Fuser`).
pub(super) fn encode_nick(nick: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(nick, SET).to_string()
}

pub(super) async fn query(State(sh): S, body: Bytes) -> Reply {
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
                Variant::TokenWithCookies => {
                    let c = login_cookies(&mut w, &s.unb, &s.nickname);
                    Reply::json(confirmed(json!({"token": s.login_token}))).cookies(c)
                }
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
                        let url = format!("{}iv/entry.htm?htoken={h}", sh.hosts.passport);
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

pub(super) async fn login_token(State(sh): S, Query(q): Params) -> Reply {
    redeem(&sh, &q, |s| &mut s.login_token, (14080, "token无效"))
}

pub(super) async fn keep_login_confirm(State(sh): S, Query(q): Params) -> Reply {
    redeem(&sh, &q, |s| &mut s.keep_token, (14081, "请求已失效"))
}

/// Redeem a one-time token a CONFIRMED answer handed out (variants b and c): the session
/// it names logs in, and the token is spent.
pub(super) fn redeem(
    sh: &Shared,
    q: &HashMap<String, String>,
    slot: fn(&mut crate::sim::state::QrSession) -> &mut Option<String>,
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

pub(super) async fn www_home() -> Reply {
    Reply::html(pages::WWW_HOME.into())
}

/// `/im`: a logged-in visitor goes through one redirect hop that sets a cookie, then the
/// page sets another; a visitor without a session is sent to the login domain (§7.5).
pub(super) async fn www_im(State(sh): S, Query(q): Params, headers: HeaderMap) -> Reply {
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
            sh.hosts.passport
        )),
    }
}
