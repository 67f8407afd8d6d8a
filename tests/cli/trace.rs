//! `--trace FILE`: a HAR 1.2 file of the run, one entry per request the simulator saw,
//! without a cookie value or a token of the run.

use crate::support::{Env, mode};
use qrlogin::store::Status;
use serde_json::Value;

/// Requests the simulator served, leaving out the test's own control calls.
fn served(env: &Env) -> u64 {
    env.state()["hits"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.starts_with("/__sim"))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum()
}

/// Every cookie value of the account that is a credential (8+ characters; the account id
/// and nickname are shown on purpose).
fn secrets(env: &Env, name: &str) -> Vec<String> {
    env.export_json(name)
        .iter()
        .filter(|c| {
            !matches!(
                c["name"].as_str(),
                Some(
                    "unb"
                        | "tracknick"
                        | "last_u_xianyu_web"
                        | "_hvn_lgc_"
                        | "sdkSilent"
                        | "havana_lgc_exp"
                        | "cookie3_bak_exp"
                        | "_samesite_flag_"
                )
            )
        })
        .filter_map(|c| c["value"].as_str().map(str::to_owned))
        .filter(|v| v.len() >= 8)
        .collect()
}

fn check_har(path: &std::path::Path, entries: u64, secrets: &[String]) {
    assert_eq!(mode(path), 0o600);
    let text = std::fs::read_to_string(path).unwrap();
    let har: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(har["log"]["version"], "1.2");
    let list = har["log"]["entries"].as_array().unwrap();
    assert_eq!(list.len() as u64, entries, "one entry per request");
    for e in list {
        assert!(e["request"]["method"].is_string() && e["request"]["url"].is_string());
        assert!(e["response"]["status"].as_u64().unwrap() >= 100, "{e}");
        assert!(e["timings"]["wait"].is_number() && e["startedDateTime"].is_string());
    }
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a session value is in the trace: {s}"
        );
    }
    if !secrets.is_empty() {
        assert!(text.contains("[redacted:"), "nothing was redacted");
    }
}

#[test]
fn a_login_and_a_refresh_trace_without_secrets() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    let har = env.dir.path().join("login.har");
    env.add_account(&["--name", "traced", "--trace"])
        .arg(&har)
        .assert()
        .success()
        .stderr(predicates::str::contains("wrote the HTTP trace"));
    let text = std::fs::read_to_string(&har).unwrap();
    assert!(
        text.contains("qrcodeCheck.htm?lgToken="),
        "the QR content is kept"
    );
    check_har(&har, served(&env), &secrets(&env, "traced"));

    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    let store = env.store();
    env.seed_account(&store, "2219000000001", "kept", false, Status::Ok);
    drop(store);
    let before = secrets(&env, "kept");
    let har = env.dir.path().join("refresh.har");
    env.cmd()
        .args(["refresh", "--jitter", "0", "--trace"])
        .arg(&har)
        .assert()
        .success();
    let mut all = before;
    all.extend(secrets(&env, "kept"));
    check_har(&har, served(&env), &all);
}

#[test]
fn doctor_traces_its_network_checks() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    let har = env.dir.path().join("doctor.har");
    env.cmd()
        .args(["doctor", "--trace"])
        .arg(&har)
        .assert()
        .success();
    check_har(&har, served(&env), &[]);
}
