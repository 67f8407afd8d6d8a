//! The simulator's own behaviour on the wire, checked against protocol.md's shapes.

use crate::support::Env;
use qrlogin::passport::sign::{APP_KEY, sign};
use qrlogin::sim::Scenario;
use serde_json::{Value, json};

async fn post_form(c: &reqwest::Client, url: String, form: &[(&str, &str)]) -> Value {
    c.post(url)
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .gzip(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn mtop_token_bootstrap_sign_check_and_stale_token() {
    let env = Env::with_plain_sim(Scenario {
        h5_token_ttl_ms: 400,
        ..Scenario::default()
    });
    let base = env.base();
    env.rt.block_on(async {
        let c = client();
        let url = format!("{base}/h5/mtop.gaia.nodejs.gaia.idle.data.gw.v2.index.get/1.0/");
        let r = c.get(&url).send().await.unwrap();
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let tk = cookies.iter().find(|c| c.starts_with("_m_h5_tk=")).unwrap();
        assert!(cookies.iter().any(|c| c.starts_with("_m_h5_tk_enc=")));
        assert!(!tk.contains("Secure"));
        let value = tk
            .trim_start_matches("_m_h5_tk=")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let (token, expiry) = value.split_once('_').unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(expiry.len(), 13);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["ret"][0], "FAIL_SYS_TOKEN_EMPTY::令牌为空");
        assert_eq!(body["v"], "1.0");

        let data = r#"{"bizScene":"home"}"#;
        let call = |sig: String, t: String| {
            c.post(&url)
                .query(&[
                    ("appKey", APP_KEY),
                    ("t", &t),
                    ("sign", &sig),
                    ("data", data),
                ])
                .send()
        };
        let t = "1730000000000".to_owned();
        let good: Value = call(sign(token, &t, APP_KEY, data), t.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(good["ret"][0], "SUCCESS::调用成功");
        let bad: Value = call("0".repeat(32), t.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(bad["ret"][0], "FAIL_SYS_ILLEGAL_ACCESS::非法请求");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let stale: Value = call(sign(token, &t, APP_KEY, data), t)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stale["ret"][0], "FAIL_SYS_TOKEN_EXOIRED::令牌过期");
    });
}

#[test]
fn passport_shapes_follow_protocol_md() {
    let env = Env::with_plain_sim(Scenario::default());
    let base = env.base();
    env.rt.block_on(async {
        let c = client();
        let r = c
            .get(format!("{base}/mini_login.htm?appName=xianyu"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        let names: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"XSRF-TOKEN".into()) && names.contains(&"_tb_token_".into()));
        let html = r.text().await.unwrap();
        let line = html
            .lines()
            .find(|l| l.starts_with("window.viewData = "))
            .unwrap();
        assert!(line.ends_with("};"));
        assert!(
            !line.trim_end_matches("};").contains("};"),
            "`}};` inside one-line viewData breaks the common regex"
        );
        assert!(line.contains(r#""isMobile":false"#) && line.contains(r#""fromSite":77"#));

        let g: Value = get_json(
            &c,
            format!("{base}/newlogin/qrcode/generate.do?appName=xianyu&fromSite=77"),
        )
        .await;
        assert_eq!(g["content"]["success"], true);
        assert_eq!(g["hasError"], false);
        let t = &g["content"]["data"]["t"];
        assert!(
            t.is_u64() && t.to_string().len() == 13,
            "t must be a 13-digit JSON number: {t}"
        );
        let ck = g["content"]["data"]["ck"].as_str().unwrap().to_owned();
        let code = g["content"]["data"]["codeContent"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(code.starts_with(&format!("{base}/qrcodeCheck.htm?lgToken=")));
        let lg = code
            .split("lgToken=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();

        let poll = |t: String, ck: String| {
            let c = c.clone();
            let base = base.clone();
            async move {
                c.post(format!("{base}/newlogin/qrcode/query.do"))
                    .form(&[("t", t), ("ck", ck)])
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let shape = |v: &Value| {
            (
                v["content"]["data"]["qrCodeStatus"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                v["content"]["status"].as_i64().unwrap(),
                v["content"]["success"].as_bool().unwrap(),
            )
        };
        let ts = t.to_string();
        assert_eq!(
            shape(&poll(ts.clone(), ck.clone()).await),
            ("NEW".into(), 0, true)
        );
        assert_eq!(
            shape(&poll(ts.clone(), "wrong".into()).await),
            ("EXPIRED".into(), -1, false)
        );
        // The phone: scan gives a one-time token; confirm needs it; a second use fails.
        let phone = |action: &'static str, body: Value| {
            let c = c.clone();
            let base = base.clone();
            async move {
                let r = c
                    .post(format!("{base}/__sim/phone/{action}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (s, scan) = phone("scan", json!({"lgToken": lg})).await;
        assert_eq!(s, 200);
        let tmp = scan["tmpToken"].as_str().unwrap().to_owned();
        assert_eq!(
            shape(&poll(ts.clone(), ck.clone()).await),
            ("SCANED".into(), 1, true)
        );
        assert_eq!(
            phone("confirm", json!({"lgToken": lg, "tmpToken": "forged"}))
                .await
                .0,
            409
        );
        assert_eq!(
            phone("confirm", json!({"lgToken": lg, "tmpToken": tmp}))
                .await
                .0,
            200
        );
        assert_eq!(
            phone("confirm", json!({"lgToken": lg, "tmpToken": tmp}))
                .await
                .0,
            409
        );
        let r = c
            .post(format!("{base}/newlogin/qrcode/query.do"))
            .form(&[("t", ts.clone()), ("ck", ck.clone())])
            .send()
            .await
            .unwrap();
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect();
        for n in ["unb", "cookie2", "sgcookie", "csg", "tracknick"] {
            assert!(set.contains(&n.to_owned()), "CONFIRMED must set {n}");
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(shape(&v), ("CONFIRMED".into(), 2, true));

        // A second QR cancelled on the phone.
        let g: Value = get_json(&c, format!("{base}/newlogin/qrcode/generate.do")).await;
        let (t2, ck2) = (
            g["content"]["data"]["t"].to_string(),
            g["content"]["data"]["ck"].as_str().unwrap().to_owned(),
        );
        assert_eq!(phone("cancel", json!({"lgToken": "latest"})).await.0, 200);
        assert_eq!(
            shape(&poll(t2.clone(), ck2.clone()).await),
            ("CANCELED".into(), -2, false)
        );
        // A transient server-side ERROR, then the real status again.
        c.post(format!("{base}/__sim/scenario"))
            .json(&json!({"error_polls": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            shape(&poll(t2.clone(), ck2.clone()).await),
            ("ERROR".into(), -1, false)
        );
        assert_eq!(shape(&poll(t2, ck2).await), ("CANCELED".into(), -2, false));

        // Renewal and validation answer according to the server-side session.
        let r: Value = post_form(
            &c,
            format!("{base}/ac/account/setLoginSettings.do"),
            &[("status", "0")],
        )
        .await;
        assert_eq!(r["success"], true);
        let q: Value = post_form(&c, format!("{base}/ac/account/queryLoginSettings.do"), &[]).await;
        assert_eq!(q["returnValue"]["hasLongTokenLogin"], true);
        let h: Value = post_form(
            &c,
            format!("{base}/newlogin/hasLogin.do"),
            &[("hid", "2219000000001")],
        )
        .await;
        assert_eq!(h["content"]["success"], true);
        let s: Value = post_form(
            &c,
            format!("{base}/newlogin/silentHasLogin.do?ltl=true"),
            &[],
        )
        .await;
        assert_eq!(s["content"]["data"]["processFinished"], true);
        assert_eq!(s["content"]["data"]["resultCode"], 100);
        c.post(format!("{base}/__sim/accounts"))
            .json(&json!({"unb": "2219000000001", "state": "dead"}))
            .send()
            .await
            .unwrap();
        let h: Value = post_form(&c, format!("{base}/newlogin/hasLogin.do"), &[]).await;
        assert_eq!(h["content"]["success"], false);
        let im = c.get(format!("{base}/im")).send().await.unwrap();
        assert_eq!(im.status().as_u16(), 302);
        assert!(
            im.headers()["location"]
                .to_str()
                .unwrap()
                .contains("mini_login.htm")
        );
    });
}

#[test]
fn gzip_only_when_accepted_and_generate_is_rate_limited() {
    let env = Env::with_plain_sim(Scenario {
        generate_per_minute: 2,
        ..Scenario::default()
    });
    let base = env.base();
    env.rt.block_on(async {
        let raw = reqwest::Client::builder().gzip(false).build().unwrap();
        let r = raw
            .get(format!("{base}/mini_login.htm"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], "gzip");
        let r = raw
            .get(format!("{base}/mini_login.htm"))
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("content-encoding").is_none());
        let c = client();
        for _ in 0..2 {
            let g: Value = get_json(&c, format!("{base}/newlogin/qrcode/generate.do")).await;
            assert_eq!(g["content"]["success"], true);
        }
        let g: Value = get_json(&c, format!("{base}/newlogin/qrcode/generate.do")).await;
        assert_eq!(g["content"]["success"], false);
        assert_eq!(g["content"]["data"]["resultCode"], 14031);
    });
}

#[test]
fn risk_blocked_and_dead_sessions_on_mtop() {
    let env = Env::with_plain_sim(Env::auto_phone(50, 50));
    env.login(&[]);
    let cookies = env.stdout_of(&["export", "xy_demo_user", "--format", "header"]);
    let base = env.base();
    let call = |env: &Env| {
        let cookies = cookies.trim().to_owned();
        let base = base.clone();
        env.rt.block_on(async move {
            let tk = cookies
                .split("; ")
                .find_map(|p| p.strip_prefix("_m_h5_tk="))
                .unwrap()
                .to_owned();
            let token = tk.split('_').next().unwrap().to_owned();
            let t = "1730000000000";
            let api = "mtop.taobao.idlemessage.pc.loginuser.get";
            let r = reqwest::Client::new()
                .post(format!("{base}/h5/{api}/1.0/"))
                .header("cookie", cookies)
                .query(&[
                    ("appKey", APP_KEY),
                    ("t", t),
                    ("sign", &sign(&token, t, APP_KEY, "{}")),
                ])
                .form(&[("data", "{}")])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    assert_eq!(call(&env)["ret"][0], "SUCCESS::调用成功");
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "blocked"}),
    );
    let v = call(&env);
    assert_eq!(v["ret"][0], "FAIL_SYS_USER_VALIDATE");
    assert!(
        v["ret"][1]
            .as_str()
            .unwrap()
            .starts_with("RGV587_ERROR::SM::")
    );
    assert!(
        v["data"]["url"]
            .as_str()
            .unwrap()
            .contains("/_____tmd_____/punish?x5secdata=")
    );
    env.ctl("accounts", json!({"unb": "2219000000001", "state": "dead"}));
    assert_eq!(
        call(&env)["ret"][0],
        "FAIL_SYS_SESSION_EXPIRED::Session过期"
    );
}

/// `qrlogin simulate` prints the three lines that point qrlogin at it, and they work.
#[test]
fn simulate_command_serves_until_stopped() {
    let env = Env::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"))
        .args([
            "simulate",
            "--auto-scan-after",
            "0.1",
            "--auto-confirm-after",
            "0.1",
            "--unb",
            "2219000000077",
            "--nickname",
            "sim-user",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let vars = crate::support::read_exports(child.stdout.take().unwrap(), 3);
    assert_eq!(
        vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [
            "QRLOGIN_PASSPORT_URL",
            "QRLOGIN_H5API_URL",
            "QRLOGIN_WWW_URL"
        ]
    );
    assert!(vars[0].1.starts_with("http://127.0.0.1:"));
    let mut cmd = env.cmd();
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    cmd.args(["add-account", "--qr", "none", "--poll-interval", "0.05"])
        .assert()
        .success();
    assert_eq!(env.list_json()[0]["unb"], "2219000000077");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn demo_runs_the_whole_login_offline() {
    let env = Env::new();
    let out = env
        .cmd()
        .env_remove("QRLOGIN_DB")
        .args(["demo", "--qr", "ascii"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("saved new account xy_demo_user"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("unb                   2219000000001"),
        "{stdout}"
    );
    assert!(stdout.contains("havana_lgc2_77"), "{stdout}");
    // The temporary database is gone, and the user's default one was never created.
    assert!(!env.dir.path().join(".local/share/qrlogin").exists());
}

/// The demo must never touch a store it did not create, even when `QRLOGIN_DB` names an
/// operator's real store holding the simulator's own unb.
#[test]
fn demo_never_touches_the_operators_store() {
    let env = Env::new();
    env.import_header(
        "zz-prod",
        "unb=2219000000001; cookie2=realvalue; _tb_token_=real",
    );
    let before = env.export_json("zz-prod");
    let db_bytes_before = env.store_bytes();
    let out = env.cmd().args(["demo", "--qr", "none"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("fresh temporary database") && first.contains("is not touched"),
        "{stderr}"
    );
    assert!(!stderr.contains("zz-prod"), "{stderr}");
    assert!(
        stderr.contains("saved new account xy_demo_user"),
        "{stderr}"
    );
    // The account shown is the one just saved.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("xy_demo_user"), "{stdout}");
    assert_eq!(env.export_json("zz-prod"), before);
    assert_eq!(env.list_json().len(), 1);
    assert_eq!(env.store_bytes(), db_bytes_before);
}
