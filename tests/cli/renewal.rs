//! Renewal exactly as the official web sends it (protocol.md §7.3), and the simulator as
//! faithful as the public clients need it (issue 13's renewal and simulator items).

use crate::support::Env;
use qrlogin::sim::{Scenario, Variant};
use qrlogin::store::Status;
use serde_json::{Value, json};

/// Import a seeded account after changing some of its cookies.
fn import_seeded(env: &Env, name: &str, long_login: bool, edit: impl Fn(&mut Vec<Value>)) {
    let mut cookies: Vec<Value> = serde_json::from_value(env.ctl(
        "seed",
        json!({"unb": "2219000000001", "nickname": name, "long_login": long_login}),
    ))
    .unwrap();
    edit(&mut cookies);
    env.cmd()
        .args(["import", name, "--format", "json", "--from", "-"])
        .write_stdin(serde_json::to_string(&cookies).unwrap())
        .assert()
        .success();
}

fn set(cookies: &mut Vec<Value>, name: &str, value: &str) {
    cookies.retain(|c| c["name"] != name);
    // On the seeded cookies' own domain: the simulator's address, or .goofish.com over TLS.
    let domain = cookies[0]["domain"].clone();
    cookies.push(json!({"name": name, "value": value, "domain": domain, "path": "/"}));
}

fn refresh(env: &Env) -> Vec<Value> {
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn silent_login_mode_follows_the_long_login_cookies() {
    // Havana: havana_lgc_exp in the future → ltl=true.
    let env = Env::with_sim(Scenario::default());
    import_seeded(&env, "havana", true, |_| {});
    let r = refresh(&env);
    assert_eq!(
        (r[0]["action"].as_str(), r[0]["new_status"].as_str()),
        (Some("silentHasLogin+loginuser.get"), Some("ok")),
        "{r:?}"
    );
    let q = &env.state()["forms"]["/newlogin/silentHasLogin.do"];
    assert_eq!(q["ltl"], "true", "{q}");
    assert!(q.get("skipSessionFilter").is_none(), "{q}");
    // Cookie3: Havana has passed, cookie3_bak_exp is still ahead → skipSessionFilter&c2r.
    let env = Env::with_sim(Scenario::default());
    import_seeded(&env, "cookie3", true, |c| set(c, "havana_lgc_exp", "1000"));
    let r = refresh(&env);
    assert_eq!(r[0]["new_status"], "ok", "{r:?}");
    let q = &env.state()["forms"]["/newlogin/silentHasLogin.do"];
    assert_eq!(
        (&q["skipSessionFilter"], &q["c2r"]),
        (&json!("true"), &json!("true")),
        "{q}"
    );
    assert!(q.get("ltl").is_none(), "{q}");
}

#[test]
fn has_login_sends_the_device_and_xsrf_token_when_known() {
    let env = Env::with_sim(Scenario::default());
    import_seeded(&env, "device", false, |c| {
        set(c, "cna", "CnaValue123");
        set(c, "XSRF-TOKEN", "xsrf-abc");
    });
    let r = refresh(&env);
    assert_eq!(r[0]["new_status"], "ok", "{r:?}");
    let f = &env.state()["forms"]["/newlogin/hasLogin.do"];
    assert_eq!(
        (&f["umidToken"], &f["deviceId"]),
        (&json!("CnaValue123"), &json!("CnaValue123")),
        "{f}"
    );
    assert_eq!(f["header:x-xsrf-token"], "xsrf-abc", "{f}");
    // Without them: empty values, no header.
    let env = Env::with_sim(Scenario::default());
    import_seeded(&env, "bare", false, |_| {});
    refresh(&env);
    let f = &env.state()["forms"]["/newlogin/hasLogin.do"];
    assert_eq!(
        (&f["umidToken"], &f["deviceId"]),
        (&json!(""), &json!("")),
        "{f}"
    );
    assert!(f.get("header:x-xsrf-token").is_none(), "{f}");
    // hasLogin's answer rotates tracknick and last_cc too (§7.3).
    let names: Vec<String> = env
        .export_json("bare")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(names.contains(&"last_cc".to_owned()), "{names:?}");
}

/// Risk control blocks mtop, not the passport renewal: hasLogin still succeeds and the
/// account is classified `risk`, not `expired`.
#[test]
fn a_blocked_account_renews_but_is_classified_risk() {
    let env = Env::with_sim(Scenario::default());
    let store = env.store();
    env.seed_account(&store, "2219000000001", "blocked", false, Status::Ok);
    drop(store);
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "blocked"}),
    );
    let r = refresh(&env);
    assert_eq!(r[0]["action"], "hasLogin+loginuser.get", "{r:?}");
    assert_eq!(r[0]["new_status"], "risk", "{r:?}");
}

/// The h5 gateway hands out an anonymous cookie2, and mini_login's hsiz is that value;
/// tracknick is encoded as the service does (`_` stays).
#[test]
fn anonymous_cookie2_hsiz_and_tracknick() {
    let env = Env::with_plain_sim(Env::auto_phone(50, 50));
    let base = env.base();
    let (set_cookie, page) = env.rt.block_on(async move {
        let r = reqwest::get(format!("{base}/mini_login.htm"))
            .await
            .unwrap();
        let sc: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (sc, r.text().await.unwrap())
    });
    let cookie2 = set_cookie
        .iter()
        .find_map(|c| c.strip_prefix("cookie2="))
        .and_then(|c| c.split(';').next())
        .expect("mini_login sets cookie2 for a client without one")
        .to_owned();
    assert!(page.contains(&format!("\"hsiz\":\"{cookie2}\"")), "{page}");
    let name = env.login(&[]);
    let tracknick = env
        .export_json(&name)
        .into_iter()
        .find(|c| c["name"] == "tracknick")
        .unwrap();
    assert_eq!(tracknick["value"], "xy_demo_user");
}

/// CONFIRMED that carries both a token and the login cookies: the client stays correct.
#[test]
fn confirmed_with_token_and_cookies() {
    let env = Env::with_sim(Scenario {
        variant: Variant::TokenWithCookies,
        ..Env::auto_phone(50, 50)
    });
    let name = env.login(&[]);
    assert_eq!(env.list_json()[0]["unb"], "2219000000001");
    assert_eq!(env.state()["hits"]["/login_token/login.do"], 1);
    let r = refresh(&env);
    assert_eq!(r[0]["new_status"], "ok", "{name}: {r:?}");
}

/// setLoginSettings is confirmed with queryLoginSettings; an account whose long login the
/// service will not turn on is reported once and not asked again every run.
#[test]
fn long_login_refusal_is_reported_once() {
    let env = Env::with_sim(Scenario {
        refuse_long_login: true,
        ..Scenario::default()
    });
    import_seeded(&env, "stubborn", false, |_| {});
    let run = || {
        env.cmd()
            .args(["refresh", "--jitter", "0", "--force", "--json"])
            .output()
            .unwrap()
    };
    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("would not turn long login on").count(),
        1,
        "{stderr}"
    );
    let r: Vec<Value> = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        r[0]["action"],
        "hasLogin+loginuser.get+setLoginSettings+queryLoginSettings"
    );
    let second = run();
    assert!(!String::from_utf8_lossy(&second.stderr).contains("long login"));
    let r: Vec<Value> = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(
        r[0]["action"], "hasLogin+loginuser.get",
        "not asked again: {r:?}"
    );
    assert_eq!(env.state()["hits"]["/ac/account/setLoginSettings.do"], 1);
}
