//! The simulated h5api (mtop) gateway: token bootstrap, signature check, and the
//! logged-in calls that answer by the session's state.

use super::*;

pub(super) async fn mtop(
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
    let fresh = |w: &mut crate::sim::state::World| {
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
        | "mtop.taobao.idlehome.home.webpc.feed" => {
            // The signed call also hands out an anonymous `cookie2` (protocol.md §2.4,
            // §11 item 1) to a client that has none.
            let reply = Reply::json(mtop_body(
                &api,
                &["SUCCESS::调用成功"],
                json!({"sections": []}),
            ));
            if cookies.contains_key("cookie2") {
                reply
            } else {
                reply.cookies(vec![set_cookie("cookie2", &hex(32), None, true)])
            }
        }
        "mtop.taobao.idlemessage.pc.loginuser.get"
        | "mtop.taobao.idlemessage.pc.login.token"
        | "mtop.idle.web.user.page.nav" => match session_of(&w, &cookies) {
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
        },
        _ => Reply::json(mtop_body(
            &api,
            &["FAIL_SYS_API_NOT_FOUNDED::请求API不存在"],
            json!({}),
        )),
    }
}

pub(super) fn nick_of(cookies: &HashMap<String, String>) -> String {
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
pub(super) fn risk_body(sh: &Shared, api: &str) -> Value {
    let url = format!(
        "{}h5/{api}/1.0/_____tmd_____/punish?x5secdata={}__bx__h5api.m.goofish.com:443/h5/{api}/1.0&x5step=2&action=captcha",
        sh.hosts.h5api,
        hex(24)
    );
    json!({"data": {"url": url}, "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]})
}
