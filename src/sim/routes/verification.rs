//! The simulated identity-verification chain (protocol.md §6).

use super::*;

pub(super) fn htoken(q: &HashMap<String, String>) -> String {
    q.get("htoken").cloned().unwrap_or_default()
}

pub(super) async fn iv_entry(Query(q): Params) -> Reply {
    Reply::redirect(format!("/iv/normal_validate.htm?htoken={}", htoken(&q)))
}

pub(super) async fn iv_normal_validate(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    if !sh.world().verifications.contains_key(&h) {
        return Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::NOT_FOUND);
    }
    let host = sh
        .hosts
        .passport
        .host_str()
        .unwrap_or("127.0.0.1")
        .to_owned();
    let port = sh
        .hosts
        .passport
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    Reply::html(pages::normal_validate(&h, &format!("{host}{port}")))
}

pub(super) async fn iv_verify_modes(Query(q): Params) -> Reply {
    Reply::redirect(format!(
        "/iv/mini/identity_verify.htm?htoken={}",
        htoken(&q)
    ))
}

pub(super) async fn iv_identity_verify(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    let Some(v) = w.verifications.get_mut(&h) else {
        return Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::NOT_FOUND);
    };
    v.started.get_or_insert(Instant::now());
    let qr_text = format!("{}iv/phone.htm?htoken={h}&from=scan", sh.hosts.passport);
    Reply::html(pages::identity_verify(&qr_text))
}

pub(super) async fn iv_check(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    let lg = w.verifications.get(&h).map(|v| v.lg_token.clone());
    if let Some(key) = lg.and_then(|lg| w.by_lg_token.get(&lg).cloned()) {
        w.advance(&key, Instant::now());
    }
    match w.verifications.get(&h) {
        Some(v) if v.passed => Reply::json(
            json!({"content": {"code": 3, "url": format!("{}ivCheckLogin.htm?htoken={h}", sh.hosts.passport)}}),
        ),
        Some(_) => Reply::json(json!({"content": {"code": 0}})),
        None => Reply::json(json!({"content": {"code": 5, "msg": "htoken invalid"}})),
    }
}

pub(super) async fn iv_phone_page(Query(q): Params) -> Reply {
    Reply::html(pages::verify_phone(&htoken(&q)))
}

pub(super) async fn iv_check_login(State(sh): S, Query(q): Params) -> Reply {
    let h = htoken(&q);
    let mut w = sh.world();
    match w.verifications.get(&h).filter(|v| v.passed).cloned() {
        Some(v) => {
            let c = login_cookies(&mut w, &v.unb, &v.nickname);
            Reply::redirect(format!("{}im", sh.hosts.www)).cookies(c)
        }
        None => Reply::html(pages::BLOCK_PAGE.into()).status(StatusCode::FORBIDDEN),
    }
}
