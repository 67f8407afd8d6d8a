//! add-account against the simulator: every CONFIRMED variant, every way a login ends,
//! faults at each step, and what reaches the terminal.

use crate::support::{Env, mode};
use predicates::prelude::*;
use qrlogin::sim::{Scenario, Variant};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not NDJSON: {l}")))
        .collect()
}

/// Every secret cookie value stored for `name`: all but the identity cookies (`unb`,
/// `tracknick` and their copies), which qrlogin shows on purpose as the account's id and
/// nickname, and values too short to mean anything.
fn values(env: &Env, name: &str) -> Vec<String> {
    env.export_json(name)
        .iter()
        .filter(|c| {
            !matches!(
                c["name"].as_str(),
                Some("unb" | "tracknick" | "last_u_xianyu_web")
            )
        })
        .map(|c| c["value"].as_str().unwrap().to_owned())
        .filter(|v| v.len() >= 6)
        .collect()
}

fn assert_store_empty(env: &Env) {
    if env.pg.is_some() || env.db().exists() {
        assert!(
            env.list_json().is_empty(),
            "a failed login wrote to the store"
        );
    }
}

#[test]
fn plain_login_saves_every_cookie_with_attributes() {
    let env = Env::with_sim(Env::auto_phone(100, 100));
    let out = env.add_account(&[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.stdout.is_empty(), "stdout without --json must be empty");
    assert!(
        stderr.contains("saved new account xy_demo_user (2219000000001)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes without a terminal: {stderr}"
    );
    // The person is always given the link.
    assert!(stderr.contains("/qrcodeCheck.htm?lgToken="), "{stderr}");
    let list = env.list_json();
    assert_eq!(list[0]["status"], "ok");
    assert!(list[0]["last_refreshed"].is_string());
    let cookies = env.export_json("xy_demo_user");
    let get = |n: &str| {
        cookies
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .clone()
    };
    for name in [
        "unb",
        "cookie2",
        "sgcookie",
        "csg",
        "tracknick",
        "_m_h5_tk",
        "_m_h5_tk_enc",
        "XSRF-TOKEN",
        "_tb_token_",
        "havana_lgc2_77",
        "havana_lgc_exp",
        "xlly_s",
        "mtop_partitioned_detect",
    ] {
        get(name);
    }
    assert_eq!(get("unb")["value"], "2219000000001");
    assert_eq!(get("unb")["http_only"], true);
    assert!(get("unb")["expires"].is_i64());
    assert!(
        get("cookie2")["expires"].is_null(),
        "session cookie kept as a session cookie"
    );
    assert_eq!(get("csg")["http_only"], false);
    // No cookie value reached the terminal.
    for v in values(&env, "xy_demo_user") {
        assert!(!stderr.contains(&v), "cookie value on stderr");
    }
    // Proxy no, user agent recorded.
    let show: Value =
        serde_json::from_str(&env.stdout_of(&["show", "xy_demo_user", "--json"])).unwrap();
    assert!(show["user_agent"].as_str().unwrap().contains("Chrome/"));
    assert!(show["proxy"].is_null());
    if env.pg.is_none() {
        assert!(mode(&env.db()) == 0o600);
    }
}

#[test]
fn json_events_in_order() {
    let env = Env::with_sim(Env::auto_phone(100, 100));
    let out = env.add_account(&["--json"]).output().unwrap();
    assert!(out.status.success());
    let ev = events(&out.stdout);
    let names: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["qr", "scanned", "confirmed", "saved"]);
    assert!(ev[0]["url"].as_str().unwrap().contains("lgToken="));
    assert!(ev[0]["expires_at"].is_string());
    assert_eq!(ev[3]["unb"], "2219000000001");
    assert_eq!(ev[3]["name"], "xy_demo_user");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for v in values(&env, "xy_demo_user") {
        assert!(!stdout.contains(&v), "cookie value in --json events");
    }
}

#[test]
fn each_confirmed_variant() {
    for (variant, endpoint) in [
        (Variant::Token, "/login_token/login.do"),
        (Variant::KeepLogin, "/newlogin/keepLogin/confirm.do"),
    ] {
        let env = Env::with_sim(Scenario {
            variant,
            ..Env::auto_phone(50, 50)
        });
        env.add_account(&[]).assert().success();
        assert_eq!(env.list_json()[0]["unb"], "2219000000001", "{variant:?}");
        assert_eq!(env.state()["hits"][endpoint], 1, "{variant:?}");
    }
}

#[test]
fn verification_completed_on_the_phone() {
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        auto_verify_after_ms: Some(300),
        ..Env::auto_phone(50, 50)
    });
    let out = env.add_account(&["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out.stdout);
    let v = ev
        .iter()
        .find(|e| e["event"] == "verification_required")
        .unwrap();
    assert!(v["url"].as_str().unwrap().contains("/iv/"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("identity verification"), "{stderr}");
    assert_eq!(env.list_json()[0]["unb"], "2219000000001");
}

#[test]
fn verification_left_unfinished_exits_5() {
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        ..Env::auto_phone(50, 50)
    });
    env.add_account(&["--timeout", "2"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "identity verification was required and not completed",
        ));
    assert_store_empty(&env);
}

#[test]
fn cancel_on_the_phone_exits_4() {
    let env = Env::with_sim(Scenario {
        auto_cancel: true,
        ..Env::auto_phone(50, 50)
    });
    env.add_account(&["--json"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("cancelled on the phone"))
        .stdout(
            predicate::str::contains(r#""event":"error""#)
                .and(predicate::str::contains(r#""code":4"#)),
        );
    assert_store_empty(&env);
}

#[test]
fn expired_qr_codes_run_out_after_max_qr() {
    let env = Env::with_sim(Scenario {
        qr_lifetime_ms: 200,
        ..Scenario::default()
    });
    let started = Instant::now();
    env.add_account(&["--max-qr", "2", "--json"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("expired 2 time(s)"));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(env.state()["qrs"].as_array().unwrap().len(), 2);
    assert_store_empty(&env);
}

#[test]
fn expired_qr_is_regenerated_and_the_second_one_works() {
    let env = Env::with_sim(Scenario::default());
    let child = env
        .spawn(&[
            "add-account",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--timeout",
            "20",
            "--json",
        ])
        .spawn()
        .unwrap();
    let first = wait_for_qr(&env, 1);
    env.ctl("phone/expire", json!({"lgToken": first}));
    let second = wait_for_qr(&env, 2);
    assert!(env.phone_scan_and_confirm(&second)["ok"] == true);
    let out = crate::support::succeeded(child);
    let qrs: Vec<Value> = events(&out.stdout)
        .into_iter()
        .filter(|e| e["event"] == "qr")
        .collect();
    assert_eq!(qrs.len(), 2);
    assert_eq!(env.list_json().len(), 1);
}

/// The lgToken of the `n`th QR code once the simulator has generated it.
fn wait_for_qr(env: &Env, n: usize) -> String {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        let s = env.state();
        if let Some(q) = s["qrs"].as_array().and_then(|a| a.get(n - 1)) {
            return q["lgToken"].as_str().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("QR {n} never appeared");
}

#[test]
fn has_error_streaks_are_retried_then_fail() {
    let env = Env::with_sim(Env::auto_phone(100, 100));
    env.fault("query.do", json!({"type": "has_error"}), Some(4));
    env.add_account(&[]).assert().success();

    let env = Env::with_sim(Scenario::default());
    env.fault("query.do", json!({"type": "has_error"}), None);
    env.add_account(&[])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "query.do: the service failed 5 times in a row",
        ));
    assert_store_empty(&env);
}

#[test]
fn error_statuses_are_retried_then_fail() {
    let env = Env::with_sim(Scenario {
        error_polls: 3,
        ..Env::auto_phone(100, 100)
    });
    env.add_account(&[]).assert().success();
    let env = Env::with_sim(Scenario {
        error_polls: 100,
        ..Scenario::default()
    });
    env.add_account(&[])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "qrcode/query.do: the service failed 5 times in a row (last: 系统错误",
        ));
}

#[test]
fn a_burst_of_5xx_is_retried() {
    let env = Env::with_sim(Env::auto_phone(100, 100));
    env.fault("query.do", json!({"type": "status", "code": 503}), Some(3));
    env.fault("query.do", json!({"type": "status", "code": 502}), Some(2));
    env.add_account(&[]).assert().success();
    assert_eq!(env.list_json().len(), 1);
}

#[test]
fn a_malformed_answer_at_each_step_names_the_step() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "mini_login.htm",
            json!({"type": "body", "body": "<html>no view data</html>"}),
            "mini_login.htm: unexpected response: no `window.viewData",
        ),
        (
            "mini_login.htm",
            json!({"type": "status", "code": 502}),
            "mini_login.htm: HTTP 502",
        ),
        (
            "generate.do",
            json!({"type": "missing_field"}),
            "qrcode/generate.do: unexpected response",
        ),
        (
            "generate.do",
            json!({"type": "wrong_type"}),
            "qrcode/generate.do: unexpected response",
        ),
        (
            "generate.do",
            json!({"type": "html_page"}),
            "qrcode/generate.do: unexpected response: an HTML page instead of JSON",
        ),
        (
            "generate.do",
            json!({"type": "truncated"}),
            "qrcode/generate.do: unexpected response: truncated JSON",
        ),
        (
            "generate.do",
            json!({"type": "empty"}),
            "qrcode/generate.do: unexpected response: empty body",
        ),
        (
            "generate.do",
            json!({"type": "corrupt_gzip"}),
            "qrcode/generate.do: unexpected response: unreadable body",
        ),
        (
            "/im",
            json!({"type": "status", "code": 500}),
            "www /im landing: HTTP 500",
        ),
    ];
    for (path, kind, message) in cases {
        let env = Env::with_sim(Env::auto_phone(50, 50));
        env.fault(path, kind.clone(), Some(1));
        let out = env.add_account(&[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{path} {kind}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("qrlogin: error: ") && last.contains(message),
            "{path} {kind}: {last}"
        );
        assert!(!stderr.contains("panicked"));
        assert_store_empty(&env);
    }
}

#[test]
fn the_service_unreachable_exits_6() {
    let env = Env::new();
    let port = crate::support::closed_port();
    let dead = format!("http://127.0.0.1:{port}");
    env.cmd()
        .env("QRLOGIN_PASSPORT_URL", &dead)
        .env("QRLOGIN_H5API_URL", &dead)
        .env("QRLOGIN_WWW_URL", &dead)
        .args(["add-account", "--qr", "none"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "mini_login.htm: cannot reach the service",
        ));
    assert_store_empty(&env);
}

#[test]
fn ctrl_c_while_waiting_exits_130_and_writes_nothing() {
    let env = Env::with_sim(Scenario::default());
    let child = env
        .spawn(&["add-account", "--qr", "none", "--poll-interval", "0.05"])
        .spawn()
        .unwrap();
    wait_for_qr(&env, 1);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("qrlogin: error: interrupted"));
    assert_store_empty(&env);
}

#[test]
fn logging_in_again_keeps_the_name_and_foreign_names_are_refused() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    assert_eq!(env.login(&["--name", "main-shop"]), "main-shop");
    let first = values(&env, "main-shop");
    // Again, without --name: same account, same name, new cookies.
    assert_eq!(env.login(&[]), "main-shop");
    assert_eq!(env.list_json().len(), 1);
    assert_ne!(values(&env, "main-shop"), first);
    // A name that belongs to another unb is refused, and nothing is written.
    env.ctl(
        "scenario",
        json!({"unb": "2219000000002", "nickname": "other"}),
    );
    let before = env.export_json("main-shop");
    let out = env.add_account(&["--name", "main-shop"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("already belongs to account 2219000000001"),
        "{stderr}"
    );
    assert_eq!(env.list_json().len(), 1);
    assert_eq!(env.export_json("main-shop"), before);
    // The scan is not lost: the login's cookies wait in an owner-only file, saved under
    // another name with the import the error gives.
    let file = stderr
        .split_once("this login was not saved; its cookies are in ")
        .and_then(|(_, rest)| rest.split_once(" (owner-only): `qrlogin import ANOTHER-NAME"))
        .map(|(file, _)| std::path::PathBuf::from(file))
        .unwrap_or_else(|| panic!("{stderr}"));
    // Beside the store, or for PostgreSQL beside the key file.
    let dir = match env.pg {
        Some(_) => env.key_file(),
        None => env.db(),
    };
    assert_eq!(file.parent(), dir.parent());
    env.cmd()
        .args(["import", "second-shop", "--format", "json", "--from"])
        .arg(&file)
        .assert()
        .success();
    let second = env.list_json();
    assert_eq!(second.len(), 2);
    assert!(
        second
            .iter()
            .any(|a| a["name"] == "second-shop" && a["unb"] == "2219000000002"),
        "{second:?}"
    );
    assert_eq!(env.login(&[]), "second-shop");
}

#[test]
fn qr_png_and_ascii_rendering() {
    let env = Env::with_sim(Env::auto_phone(100, 100));
    let png = env.dir.path().join("qr.png");
    let out = env.add_account_ascii_png(&png);
    assert!(out.status.success());
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    assert!(String::from_utf8_lossy(&out.stderr).contains("######"));
}

#[test]
fn proxy_is_used_and_saved_with_the_account() {
    // The simulator also answers absolute-form proxy requests, so it can be its own proxy.
    let env = Env::with_plain_sim(Env::auto_phone(50, 50));
    let proxy = format!("http://user:secretpw@{}", env.sim.as_ref().unwrap().addr);
    let out = env.add_account(&["--proxy", &proxy]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = env.stdout_of(&["show", "xy_demo_user"]);
    assert!(
        show.contains("http://user:***@127.0.0.1:") && !show.contains("secretpw"),
        "{show}"
    );
    let list = env.list_json();
    assert_eq!(list[0]["proxy"], true);
}

#[test]
fn verification_chain_runs_in_the_terminal() {
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        auto_verify_after_ms: Some(300),
        ..Env::auto_phone(50, 50)
    });
    let out = env.add_account(&["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out.stdout);
    let names: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "qr",
            "scanned",
            "verification_required",
            "verification_qr",
            "verification_passed",
            "confirmed",
            "saved"
        ]
    );
    let text = ev[3]["text"].as_str().unwrap();
    assert!(
        text.contains("/iv/phone.htm?htoken=") && text.contains("&from=scan"),
        "JS and HTML escapes undone: {text}"
    );
    let hits = &env.state()["hits"];
    assert_eq!(hits["/ivCheckLogin.htm"], 1);
    assert!(hits["/iv/photoVerify/check.do"].as_u64().unwrap() >= 1);
    assert_eq!(env.list_json()[0]["unb"], "2219000000001");
}

#[test]
fn a_malformed_verification_page_falls_back_and_says_why() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "/iv/entry.htm",
            json!({"type": "status", "code": 500}),
            "identity verification: HTTP 500",
        ),
        (
            "normal_validate.htm",
            json!({"type": "status", "code": 502}),
            "identity verification: HTTP 502",
        ),
        (
            "verify_modes.htm",
            json!({"type": "body", "body": "<html>choose a method</html>"}),
            "identity_verify.htm has no verification QR code",
        ),
        (
            "identity_verify.htm",
            json!({"type": "body", "body": "<html>no qr</html>"}),
            "identity_verify.htm has no verification QR code",
        ),
        (
            "check.do",
            json!({"type": "body", "body": "{\"content\":{\"code\":7}}"}),
            "check.do answered code 7",
        ),
    ];
    for (path, kind, why) in cases {
        let env = Env::with_sim(Scenario {
            variant: Variant::Verify,
            auto_verify_after_ms: Some(1500),
            ..Env::auto_phone(50, 50)
        });
        env.fault(path, kind.clone(), None);
        let out = env.add_account(&[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{path}: {stderr}");
        assert!(
            stderr.contains("cannot run the verification here") && stderr.contains(why),
            "{path}: {stderr}"
        );
        assert_eq!(env.list_json()[0]["unb"], "2219000000001", "{path}");
    }
}

#[test]
fn no_wait_then_resume_in_another_process() {
    let env = Env::with_sim(Scenario::default());
    let out = env
        .add_account(&["--no-wait", "--name", "later"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    let id = id.trim();
    assert_eq!(id.len(), 12, "stdout is the id and nothing else: {id:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("qrcodeCheck.htm?lgToken="));
    assert!(env.stdout_of(&["pending"]).contains(id));
    assert!(env.list_json().is_empty());
    // The person scans and confirms while nothing runs.
    env.phone_scan_and_confirm("latest");
    env.add_account(&["--resume", id]).assert().success();
    let resumed: Vec<String> = {
        let mut v: Vec<String> = env
            .export_json("later")
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(env.list_json()[0]["name"], "later");
    assert_eq!(env.list_json()[0]["status"], "ok");
    assert!(env.stdout_of(&["pending", "--json"]).trim() == "[]");
    // The same stored result as a straight login.
    let straight = Env::with_sim(Env::auto_phone(50, 50));
    straight.login(&["--name", "later"]);
    let mut names: Vec<String> = straight
        .export_json("later")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(resumed, names);
    // A finished login cannot be resumed twice.
    env.add_account(&["--resume", id])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("no pending login"));
}

#[test]
fn resuming_unknown_or_expired_ids() {
    let env = Env::with_sim(Scenario::default());
    env.add_account(&["--resume", "nope"])
        .assert()
        .code(8)
        .stderr("qrlogin: error: no pending login `nope` (there are none)\n");
    let out = env
        .add_account(&["--no-wait", "--timeout", "1"])
        .output()
        .unwrap();
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::thread::sleep(Duration::from_millis(2100));
    env.add_account(&["--resume", &id])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "pending login `{id}` expired"
        )));
    assert!(env.stdout_of(&["pending", "--json"]).trim() == "[]");
}

/// `add-account --name X` for a stored unb keeps the stored name unless `--rename`.
#[test]
fn relogin_with_another_name_keeps_the_stored_one_unless_renamed() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    assert_eq!(env.login(&["--name", "shop-1"]), "shop-1");
    let out = env.add_account(&["--name", "backup"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("updated account shop-1 (2219000000001)")
            && stderr.contains("not `backup`")
            && stderr.contains("add-account --name backup --rename"),
        "{stderr}"
    );
    assert_eq!(env.list_json()[0]["name"], "shop-1");
    assert_eq!(env.login(&["--name", "backup", "--rename"]), "backup");
    assert_eq!(env.list_json().len(), 1);
    env.cmd().args(["export", "shop-1"]).assert().code(8);
}

/// Verification shows one code at a time and says which is current; a fallback code says
/// why it is shown (and the --qr-png file follows whichever code is current).
#[test]
fn verification_shows_one_code_at_a_time() {
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        auto_verify_after_ms: Some(300),
        ..Env::auto_phone(50, 50)
    });
    let png = env.dir.path().join("qr.png");
    let out = env.add_account_ascii_png(&png);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("/iv/entry.htm"),
        "entry link shown as a code: {stderr}"
    );
    assert_eq!(stderr.matches("scan THIS").count(), 1, "{stderr}");
    assert!(
        stderr.contains("Verification QR: scan THIS code"),
        "{stderr}"
    );
    // Fallback: the link replaces the codes above, with the reason.
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        auto_verify_after_ms: Some(1500),
        ..Env::auto_phone(50, 50)
    });
    env.fault(
        "/iv/entry.htm",
        json!({"type": "status", "code": 500}),
        None,
    );
    let out = env.add_account(&[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("scan THIS").count(), 1, "{stderr}");
    assert!(
        stderr.contains("HTTP 500), so this code is shown instead"),
        "{stderr}"
    );
}

/// `--resume` rewrites the `--qr-png` of the `--no-wait` run with every new code, and
/// `--qr-png-mode` sets its mode; `--no-wait --json` prints only JSON lines.
#[test]
fn resume_rewrites_the_qr_png_and_json_stays_json() {
    let env = Env::with_sim(Scenario {
        qr_lifetime_ms: 1_500,
        ..Scenario::default()
    });
    let png = env.dir.path().join("www/qr.png");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let out = env
        .add_account(&["--no-wait", "--json", "--qr-png-mode", "644", "--qr-png"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let pending = lines.iter().find(|e| e["event"] == "pending").unwrap();
    let id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(crate::support::mode(&png), 0o644);
    let first = std::fs::read(&png).unwrap();
    // The first code expires; the resumed login draws a new one into the same file.
    let child = env
        .spawn(&[
            "add-account",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--resume",
            &id,
        ])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::fs::read(&png).unwrap() == first {
        assert!(
            std::time::Instant::now() < deadline,
            "the PNG kept the dead code"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(crate::support::mode(&png), 0o644);
    env.phone_scan_and_confirm("latest");
    crate::support::succeeded(child);
    env.add_account(&["--qr-png-mode", "755", "--qr-png", "x.png"])
        .assert()
        .code(2);
}

/// `--on-qr` gets every QR shown (each replacement and the verification QR) with its
/// variables and a private PNG; a hook that fails or hangs never changes the outcome.
#[test]
fn on_qr_hook_gets_every_code_and_cannot_break_the_login() {
    let env = Env::with_sim(Scenario {
        qr_lifetime_ms: 400,
        ..Scenario::default()
    });
    let log = env.dir.path().join("hook.log");
    let hook = format!(
        "printf '%s|%s|%s|%s|%s|' \"$QRLOGIN_QR_KIND\" \"$QRLOGIN_ACCOUNT\" \"$QRLOGIN_QR_TEXT\" \"$QRLOGIN_QR_EXPIRES_AT\" \"$(stat -c %a \"$QRLOGIN_QR_PNG\")\" >> {log}; head -c 4 \"$QRLOGIN_QR_PNG\" | tail -c 3 >> {log}; echo >> {log}",
        log = log.display()
    );
    // The first code expires unscanned; the phone scans the second one.
    let child = env
        .spawn(&[
            "add-account",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--name",
            "hooked",
            "--on-qr",
            &hook,
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no second QR reached the hook");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ctl("scenario", json!({"qr_lifetime_ms": 300000}));
    env.phone_scan_and_confirm("latest");
    crate::support::succeeded(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert!(lines.len() >= 2, "{text}");
    for l in &lines {
        assert_eq!((l[0], l[1]), ("login", "hooked"), "{text}");
        assert!(l[2].contains("qrcodeCheck.htm?lgToken="), "{text}");
        assert!(l[3].ends_with('Z'), "{text}");
        assert_eq!((l[4], l[5]), ("600", "PNG"), "{text}");
    }
    assert_ne!(
        lines[0][2], lines[1][2],
        "the replacement code reached the hook"
    );
    // The verification QR is a `verification` hook.
    let env = Env::with_sim(Scenario {
        variant: Variant::Verify,
        auto_verify_after_ms: Some(300),
        ..Env::auto_phone(50, 50)
    });
    let log = env.dir.path().join("kinds.log");
    env.add_account(&[
        "--on-qr",
        &format!("echo \"$QRLOGIN_QR_KIND\" >> {}", log.display()),
    ])
    .assert()
    .success();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "login\nverification\n"
    );
    // Failing and hanging hooks: reported, the login still succeeds.
    for (hook, said) in [("exit 1", "exited with"), ("sleep 600", "was killed")] {
        let env = Env::with_sim(Env::auto_phone(50, 50));
        let started = Instant::now();
        env.add_account(&["--on-qr", hook, "--on-qr-timeout", "1"])
            .assert()
            .success()
            .stderr(predicate::str::contains(said));
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(env.list_json().len(), 1);
    }
}
