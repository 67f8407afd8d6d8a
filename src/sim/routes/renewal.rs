//! The simulated renewal endpoints (protocol.md §7.3): hasLogin, silentHasLogin and the
//! long-login settings.

use super::*;

pub(super) fn session_from(
    w: &crate::sim::state::World,
    headers: &HeaderMap,
) -> Option<(String, SessionState)> {
    let c = request_cookies(headers);
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

pub(super) async fn silent_has_login(State(sh): S, headers: HeaderMap) -> Reply {
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

pub(super) async fn set_login_settings(State(sh): S, headers: HeaderMap, body: Bytes) -> Reply {
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
