//! The simulated renewal endpoints (protocol.md §7.3): hasLogin, silentHasLogin and the
//! long-login settings.

use super::*;

pub(super) fn session_from(
    w: &crate::sim::state::World,
    headers: &HeaderMap,
) -> Option<(String, SessionState)> {
    session_of(w, &request_cookies(headers))
}

/// The session a request's cookies (parsed once by the caller) belong to.
pub(super) fn session_of(
    w: &crate::sim::state::World,
    c: &HashMap<String, String>,
) -> Option<(String, SessionState)> {
    w.session_of(
        c.get("cookie2").map(String::as_str),
        c.get("unb").map(String::as_str),
    )
}

/// Fresh login cookies for a renewal: the same session, rotated sgcookie and csg.
pub(super) fn rotated(unb: &str) -> Vec<String> {
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

pub(super) async fn has_login(State(sh): S, headers: HeaderMap, body: Bytes) -> Reply {
    let mut w = sh.world();
    let mut form: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    if let Some(v) = headers.get("x-xsrf-token").and_then(|v| v.to_str().ok()) {
        form.insert("header:x-xsrf-token".into(), Value::String(v.to_owned()));
    }
    w.forms
        .insert("/newlogin/hasLogin.do".into(), Value::Object(form));
    let cookies = request_cookies(&headers);
    w.count_renewal(&cookies);
    let nick = nick_of(&cookies);
    match session_of(&w, &cookies) {
        // Risk control blocks mtop calls, not the passport session (protocol.md §7.5, §10):
        // a blocked account still renews here.
        Some((unb, SessionState::Alive | SessionState::Blocked)) => {
            let mut set = rotated(&unb);
            // hasLogin also sets these (§7.3).
            set.push(set_cookie(
                "tracknick",
                &encode_nick(&nick),
                Some(31_536_000),
                false,
            ));
            set.push(set_cookie("last_cc", &hex(8), Some(31_536_000), false));
            Reply::json(passport(json!({"resultCode": 100}), 0, true)).cookies(set)
        }
        _ => Reply::json(passport(
            json!({"titleMsg": "登录已失效，请重新登录"}),
            0,
            false,
        )),
    }
}

pub(super) async fn silent_has_login(State(sh): S, Query(q): Params, headers: HeaderMap) -> Reply {
    let mut w = sh.world();
    w.forms.insert(
        "/newlogin/silentHasLogin.do".into(),
        Value::Object(
            q.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    let cookies = request_cookies(&headers);
    w.count_renewal(&cookies);
    let future = |name: &str| {
        cookies
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|exp| exp > now_ms())
    };
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true");
    // Havana mode renews with the long-login token; Cookie3 mode with the backup cookie,
    // and only when the session allows it (protocol.md §7.3).
    let renews = if flag("skipSessionFilter") && flag("c2r") {
        future("cookie3_bak_exp") && cookies.contains_key("cookie3_bak")
    } else {
        flag("ltl") && future("havana_lgc_exp")
    };
    match session_of(&w, &cookies) {
        Some((unb, SessionState::Alive | SessionState::Blocked)) if renews => {
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
        _ => Reply::json(passport(
            json!({"processFinished": true, "resultCode": 14050}),
            0,
            false,
        )),
    }
}

pub(super) async fn set_login_settings(State(sh): S, headers: HeaderMap, body: Bytes) -> Reply {
    let w = sh.world();
    let f = form(&body);
    match session_from(&w, &headers) {
        Some((unb, SessionState::Alive))
            if f.get("status").map(String::as_str) == Some("0")
                && !w.scenario.refuse_long_login =>
        {
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

pub(super) async fn query_login_settings(State(sh): S, headers: HeaderMap) -> Reply {
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
pub(super) fn long_login_cookies(unb: &str) -> Vec<String> {
    let exp = now_ms() + 30 * 86_400_000;
    let payload = json!({"hid": unb.parse::<i64>().unwrap_or(0), "sg": hex(32), "site": 77, "token": hex(23)});
    let lgc = base64(payload.to_string().as_bytes());
    vec![
        set_cookie("havana_lgc2_77", &lgc, Some(2_592_000), true),
        set_cookie("_hvn_lgc_", "77", Some(2_592_000), false),
        set_cookie("havana_lgc_exp", &exp.to_string(), Some(2_592_000), false),
        // The Cookie3 backup the official plugin falls back to once Havana has expired.
        set_cookie("cookie3_bak", &hex(32), Some(5_184_000), true),
        set_cookie(
            "cookie3_bak_exp",
            &(now_ms() + 60 * 86_400_000).to_string(),
            Some(5_184_000),
            false,
        ),
    ]
}

pub(super) fn base64(bytes: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_python() {
        assert_eq!(base64(b"{\"hid\":1}"), "eyJoaWQiOjF9");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
