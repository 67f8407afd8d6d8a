//! refresh against the simulator: alive, killed, blocked, flaky; overlapping runs; hooks.

use crate::support::Env;
use predicates::prelude::*;
use qrlogin::sim::Scenario;
use qrlogin::store::Status;
use serde_json::{Value, json};

/// Seed `n` live accounts (status unknown) straight into the store.
fn seed(env: &Env, n: usize, long_login: bool) {
    let store = env.store();
    for i in 0..n {
        env.seed_account(
            &store,
            &format!("22190{:08}", i + 1),
            &format!("acct-{i}"),
            long_login,
            Status::Unknown,
        );
    }
}

fn refresh(env: &Env, extra: &[&str]) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.args(["refresh", "--jitter", "0"]).args(extra);
    c
}

fn report(env: &Env, extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let out = refresh(env, &[&["--json"], extra].concat())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}")),
        stderr,
    )
}

fn hits(env: &Env, path: &str) -> u64 {
    env.state()["hits"][path].as_u64().unwrap_or(0)
}

#[test]
fn a_live_account_stays_ok_and_rotated_cookies_are_saved() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    let before = env.export_json("acct-0");
    // Quiet on success.
    refresh(&env, &[]).assert().success().stdout("").stderr("");
    let after = env.export_json("acct-0");
    let value = |c: &[Value], n: &str| {
        c.iter()
            .find(|x| x["name"] == n)
            .map(|x| x["value"].clone())
    };
    assert_ne!(
        value(&before, "sgcookie"),
        value(&after, "sgcookie"),
        "rotated cookie not saved"
    );
    assert!(
        value(&after, "sdkSilent").is_some(),
        "silentHasLogin's sdkSilent not saved"
    );
    assert_eq!(value(&before, "cookie2"), value(&after, "cookie2"));
    let list = env.list_json();
    assert_eq!(list[0]["status"], "ok");
    assert!(list[0]["last_refreshed"].is_string());
    assert_eq!(hits(&env, "/newlogin/silentHasLogin.do"), 1);
    // Next run: sdkSilent is in the future, so the official web would use hasLogin.
    let (code, r, _) = report(&env, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(r[0]["action"], "hasLogin+loginuser.get");
    assert_eq!(r[0]["old_status"], "ok");
    assert_eq!(r[0]["new_status"], "ok");
}

#[test]
fn long_login_is_turned_on_when_off() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, false);
    let (code, r, _) = report(&env, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        r[0]["action"],
        "hasLogin+loginuser.get+setLoginSettings+queryLoginSettings"
    );
    assert!(
        env.export_json("acct-0")
            .iter()
            .any(|c| c["name"] == "havana_lgc2_77")
    );
}

#[test]
fn a_session_killed_server_side_becomes_expired_with_cookies_kept() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 2, true);
    env.ctl("accounts", json!({"unb": "2219000000001", "state": "dead"}));
    let before = env.export_json("acct-0");
    let out = refresh(&env, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line per problem account: {stderr}"
    );
    assert!(
        stderr.contains("acct-0 (2219000000001): needs a new QR login"),
        "{stderr}"
    );
    assert_eq!(
        env.export_json("acct-0"),
        before,
        "cookies must be kept byte for byte"
    );
    let list = env.list_json();
    assert_eq!(list[0]["status"], "expired");
    assert_eq!(list[1]["status"], "ok");
    // Said once: the next run skips it quietly and still exits 10.
    refresh(&env, &[]).assert().code(10).stderr("");
}

#[test]
fn risk_control_backs_off_and_the_cooldown_is_respected() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "blocked"}),
    );
    let (code, r, stderr) = report(&env, &[]);
    assert_eq!(code, Some(11));
    assert_eq!(r[0]["new_status"], "risk");
    assert!(r[0]["next_attempt"].is_string());
    assert!(stderr.contains("blocked by risk control"), "{stderr}");
    let sent = hits(&env, "/newlogin/silentHasLogin.do") + hits(&env, "/newlogin/hasLogin.do");
    let (code, r, _) = report(&env, &[]);
    assert_eq!(code, Some(11));
    assert_eq!(r[0]["skipped"], "cooldown");
    assert_eq!(
        hits(&env, "/newlogin/silentHasLogin.do") + hits(&env, "/newlogin/hasLogin.do"),
        sent,
        "a cooldown sends nothing"
    );
    // After unblocking, --force checks now and the account is ok again.
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "alive"}),
    );
    let (code, r, _) = report(&env, &["--force"]);
    assert_eq!((code, r[0]["new_status"].clone()), (Some(0), json!("ok")));
}

#[test]
fn server_errors_and_timeouts_exit_6_with_cookies_unchanged() {
    for (path, kind) in [
        ("silentHasLogin.do", json!({"type": "status", "code": 503})),
        ("loginuser.get", json!({"type": "status", "code": 502})),
        ("silentHasLogin.do", json!({"type": "delay", "ms": 1500})),
        ("loginuser.get", json!({"type": "truncated"})),
        ("silentHasLogin.do", json!({"type": "html_page"})),
    ] {
        let env = Env::with_sim(Scenario::default());
        seed(&env, 1, true);
        let before = env.export_json("acct-0");
        let status_before = env.list_json()[0]["status"].clone();
        env.fault(path, kind.clone(), None);
        let out = refresh(&env, &[])
            .env("QRLOGIN_HTTP_TIMEOUT", "0.5")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{path} {kind}: {stderr}");
        assert!(
            stderr.contains("could not check, will retry next run"),
            "{stderr}"
        );
        assert_eq!(
            env.export_json("acct-0"),
            before,
            "{path} {kind}: cookies changed"
        );
        assert_eq!(env.list_json()[0]["status"], status_before);
    }
}

#[test]
fn overlapping_runs_never_refresh_one_account_twice() {
    let env = Env::with_sim(Scenario {
        latency_ms: 150,
        ..Scenario::default()
    });
    seed(&env, 6, true);
    let spawn = || {
        env.spawn(&["refresh", "--jitter", "0", "--concurrency", "2", "--json"])
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ra: Vec<Value> = serde_json::from_slice(&a.stdout).unwrap();
    let rb: Vec<Value> = serde_json::from_slice(&b.stdout).unwrap();
    let done = |r: &[Value]| r.iter().filter(|x| x["skipped"].is_null()).count();
    assert_eq!(
        done(&ra) + done(&rb),
        6,
        "each account refreshed exactly once"
    );
    assert_eq!(hits(&env, "/newlogin/silentHasLogin.do"), 6);
    assert!(env.list_json().iter().all(|a| a["status"] == "ok"));
    // --wait makes a second run wait for the first instead of skipping.
    let env2 = Env::with_sim(Scenario {
        latency_ms: 150,
        ..Scenario::default()
    });
    seed(&env2, 2, true);
    let first = env2.spawn(&["refresh", "--jitter", "0"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (_, r, _) = report(&env2, &["--wait"]);
    assert!(
        r.iter()
            .all(|x| x["skipped"].is_null() || x["skipped"] == "this-round"),
        "{r:?}"
    );
    assert!(first.wait_with_output().unwrap().status.success());
}

#[test]
fn a_run_leaves_alone_what_a_run_under_way_has_checked() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 3, true);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Another host's run is under way (it holds acct-2) and has checked acct-0; acct-1
    // was checked by a run that has ended.
    env.sql(&format!(
        "INSERT INTO refresh_runs (owner, started, until) \
           VALUES ('7-ab@elsewhere', {now}, {}); \
         UPDATE accounts SET lease_owner = '7-ab@elsewhere', lease_until = {} \
           WHERE name = 'acct-2'; \
         UPDATE accounts SET checked_by = '7-ab@elsewhere', last_checked = {now} \
           WHERE name = 'acct-0'; \
         UPDATE accounts SET checked_by = '8-cd@elsewhere', last_checked = {now} \
           WHERE name = 'acct-1';",
        now + 3600,
        now + 3600
    ));
    let (code, r, _) = report(&env, &["--force"]);
    let skipped: Vec<_> = r.iter().map(|x| x["skipped"].clone()).collect();
    assert_eq!(
        (code, skipped),
        (
            Some(0),
            vec![json!("this-round"), Value::Null, json!("leased")]
        )
    );
    assert_eq!(hits(&env, "/newlogin/silentHasLogin.do"), 1);
    // Once that run has ended, its accounts are due again.
    env.sql(
        "DELETE FROM refresh_runs; \
         UPDATE accounts SET lease_owner = NULL, lease_until = NULL;",
    );
    let (_, r, _) = report(&env, &[]);
    assert!(r.iter().all(|x| x["skipped"].is_null()), "{r:?}");
    let renewals =
        |env: &Env| hits(env, "/newlogin/silentHasLogin.do") + hits(env, "/newlogin/hasLogin.do");
    assert_eq!(renewals(&env), 4);
}

#[test]
fn on_change_fires_once_per_transition() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    let log = env.dir.path().join("hook.log");
    let hook = format!(
        "echo \"$QRLOGIN_ACCOUNT $QRLOGIN_UNB $QRLOGIN_OLD_STATUS $QRLOGIN_NEW_STATUS\" >> {}",
        log.display()
    );
    let run = |extra: &[&str]| {
        refresh(&env, &[&["--on-change", hook.as_str()], extra].concat())
            .output()
            .unwrap()
    };
    run(&[]); // unknown → ok
    run(&[]); // ok → ok: nothing
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "blocked"}),
    );
    run(&[]); // ok → risk
    run(&[]); // cooldown: nothing
    env.ctl(
        "accounts",
        json!({"unb": "2219000000001", "state": "alive"}),
    );
    run(&["--force"]); // risk → ok
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        lines,
        "acct-0 2219000000001 unknown ok\nacct-0 2219000000001 ok risk\nacct-0 2219000000001 risk ok\n"
    );
}

#[test]
fn min_interval_skips_recent_accounts() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    refresh(&env, &[]).assert().success();
    let (code, r, _) = report(&env, &["--min-interval", "10m"]);
    assert_eq!(
        (code, r[0]["skipped"].clone()),
        (Some(0), json!("min-interval"))
    );
    refresh(&env, &["--min-interval", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a duration"));
    refresh(&env, &["nobody"]).assert().code(8);
}

#[test]
fn five_hundred_accounts_in_one_run() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 500, true);
    let (code, r, stderr) = report(&env, &["--concurrency", "16"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r.len(), 500);
    assert!(r.iter().all(|x| x["new_status"] == "ok"));
    assert_eq!(hits(&env, "/newlogin/silentHasLogin.do"), 500);
}

/// `refresh --json` whose first `renewals` renewals answer 2.5 s late, with `meanwhile`
/// run once all of them are under way; its report, once it succeeded.
fn refresh_around(env: &Env, renewals: u32, meanwhile: impl FnOnce()) -> Vec<Value> {
    env.fault(
        "/newlogin/silentHasLogin.do",
        json!({"type": "delay", "ms": 2500}),
        Some(renewals),
    );
    // At `--concurrency 16` the first batch leases four accounts at once: they are
    // renewed, and their results stored, together.
    let running = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "16", "--json"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hits(env, "/newlogin/silentHasLogin.do") < u64::from(renewals) {
        assert!(
            std::time::Instant::now() < deadline,
            "refresh never renewed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    meanwhile();
    let out = running.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A refresh whose renewal answer is slow must not overwrite an import (or login) that
/// saved the account meanwhile: the newer data stays, the refresh reports it skipped.
#[test]
fn a_refresh_never_overwrites_a_newer_import() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    let r = refresh_around(&env, 1, || {
        env.cmd()
            .args(["import", "acct-0", "--from", "-"])
            .write_stdin("unb=2219000000001; cookie2=fromtheimport; sgcookie=imported")
            .assert()
            .success();
    });
    assert_eq!(r[0]["skipped"], "superseded", "{r:?}");
    let cookies = env.export_json("acct-0");
    let value = |n: &str| {
        cookies
            .iter()
            .find(|c| c["name"] == n)
            .map(|c| c["value"].clone())
    };
    assert_eq!(
        (value("cookie2"), value("sgcookie")),
        (Some(json!("fromtheimport")), Some(json!("imported"))),
        "the refresh overwrote the import"
    );
    // The lease was released: the next run checks the imported cookies.
    let (_, r, _) = report(&env, &[]);
    assert!(r[0]["skipped"].is_null(), "{r:?}");
}

/// Results that reach the store together are written together (in one transaction on
/// PostgreSQL): one superseded among them is left out, and the others are stored whole.
#[test]
fn a_superseded_result_among_others_leaves_them_stored() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 3, true);
    let before: Vec<_> = (0..3)
        .map(|i| env.export_json(&format!("acct-{i}")))
        .collect();
    // All three renewals answer together, after the import.
    let r = refresh_around(&env, 3, || {
        env.cmd()
            .args(["import", "acct-1", "--from", "-"])
            .write_stdin("unb=2219000000002; cookie2=fromtheimport")
            .assert()
            .success();
    });
    let of = |name: &str| r.iter().find(|x| x["name"] == name).unwrap().clone();
    assert_eq!(of("acct-1")["skipped"], "superseded", "{r:?}");
    let imported = env.export_json("acct-1");
    assert_eq!(
        imported.len(),
        2,
        "the refresh wrote over the import: {imported:?}"
    );
    for i in [0, 2] {
        let name = format!("acct-{i}");
        assert_eq!(of(&name)["new_status"], "ok", "{r:?}");
        let after = env.export_json(&name);
        assert_ne!(after, before[i], "{name}'s renewed cookies were not stored");
        // Renewal adds cookies and drops none: every one stored before is there still.
        let names = |set: &[Value]| -> std::collections::BTreeSet<String> {
            set.iter().map(|c| c["name"].to_string()).collect()
        };
        assert!(
            names(&after).is_superset(&names(&before[i])),
            "{name}: {after:?}"
        );
        assert!(
            after.len() > before[i].len(),
            "{name}: no renewed cookie added"
        );
    }
}

#[test]
fn a_reader_that_falls_behind_holds_back_no_answer() {
    // The refresh's one runtime thread reads every answer; the printing is elsewhere.
    // Printed on that thread, a full stdout pipe stopped it, and answers already on
    // their way outlived the 1 s HTTP timeout.
    let env = Env::with_sim(Scenario {
        latency_ms: 5,
        ..Scenario::default()
    });
    seed(&env, 600, true);
    let running = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "16", "--json"])
        .env("QRLOGIN_HTTP_TIMEOUT", "1")
        .spawn()
        .unwrap();
    // About 150 KB of report against a 64 KiB pipe, left unread for a while.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let out = running.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.len(), 600);
    assert!(r.iter().all(|x| x["new_status"] == "ok"), "{stderr}");
}

#[test]
fn a_stored_proxy_that_does_not_parse_is_named_with_its_account() {
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1, true);
    let store = env.store();
    let mut bad = store.get("acct-0").unwrap();
    bad.proxy = Some("ftp://user:hunter2@proxy.example:21".into());
    let new = qrlogin::store::NewAccount {
        proxy: bad.proxy.clone(),
        name: Some(bad.name.clone()),
        ..qrlogin::store::NewAccount::from_cookies(bad.cookies.clone(), None, Status::Ok)
    };
    store.save(&new, qrlogin::time::now()).unwrap();
    let out = refresh(&env, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("account acct-0: its stored proxy ftp://user:***@proxy.example is unusable"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
