//! The simulator over HTTPS on the real hostnames (issue 13): cookies scoped as the real
//! service scopes them, exports checked against what curl (a browser's cookie rules) sends
//! to https://www.goofish.com/, `simulate --tls` driving a login, and the trust and
//! resolve settings' errors.

use crate::support::Env;
use qrlogin::sim::{Scenario, Transport};
use serde_json::Value;
use std::collections::BTreeSet;

fn tls_env(scenario: Scenario) -> Env {
    Env::with_sim_on(scenario, Transport::Tls)
}

fn www_port(env: &Env) -> u16 {
    env.sim.as_ref().unwrap().addr.port()
}

/// What curl, reading `cookie_file`, sends to `url` on the simulator: its Cookie header's
/// pairs and the response status line.
fn curl_sends(env: &Env, cookie_file: &std::path::Path, url: &str) -> (BTreeSet<String>, String) {
    let port = www_port(env);
    let out = std::process::Command::new("curl")
        .args(["-sS", "-v", "-o", "/dev/null", "--cacert"])
        .arg(env.ca_file())
        .arg("--resolve")
        .arg(format!("www.goofish.com:{port}:127.0.0.1"))
        .arg("-b")
        .arg(cookie_file)
        .arg(url)
        .output()
        .expect("curl is required for this test (.ci/run installs it)");
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{verbose}");
    let pairs = verbose
        .lines()
        .find_map(|l| l.strip_prefix("> Cookie: "))
        .unwrap_or_default()
        .split("; ")
        .filter(|p| !p.is_empty())
        .map(|p| p.trim().to_owned())
        .collect();
    let status = verbose
        .lines()
        .find_map(|l| l.strip_prefix("< HTTP/"))
        .unwrap_or_default()
        .to_owned();
    (pairs, status)
}

#[test]
fn a_tls_login_stores_cookies_scoped_like_the_real_service() {
    let env = tls_env(Env::auto_phone(50, 50));
    let name = env.login(&[]);
    let cookies = env.export_json(&name);
    assert!(cookies.len() > 10, "{cookies:?}");
    for c in &cookies {
        let domain = c["domain"].as_str().unwrap().trim_start_matches('.');
        assert_eq!(domain, "goofish.com", "{c}");
        assert_eq!(c["secure"], true, "{c}");
    }
    let tk = cookies.iter().find(|c| c["name"] == "_m_h5_tk").unwrap();
    assert_eq!(tk["same_site"], "None", "{tk}");

    // export --format header is exactly what curl sends to https://www.goofish.com/ from
    // the netscape export, and the simulator takes those cookies as a live session.
    let file = env.dir.path().join("cookies.txt");
    env.cmd()
        .args(["export", &name, "--format", "netscape", "-o"])
        .arg(&file)
        .assert()
        .success();
    let www = format!("https://www.goofish.com:{}/", www_port(&env));
    let (sent, _) = curl_sends(&env, &file, &www);
    let header = env.stdout_of(&["export", &name, "--format", "header"]);
    let exported: BTreeSet<String> = header.trim_end().split("; ").map(str::to_owned).collect();
    assert_eq!(exported, sent);
    assert!(sent.iter().any(|p| p.starts_with("unb=")), "{sent:?}");
    let (_, status) = curl_sends(&env, &file, &format!("{www}im"));
    assert!(
        status.starts_with("1.1 302"),
        "a live session is sent on to /im?spm=…: {status}"
    );

    // Playwright's storageState: the same cookies, on .goofish.com, Secure, and the
    // SameSite the service set (None needs Secure in a browser).
    let state: Value =
        serde_json::from_str(&env.stdout_of(&["export", &name, "--format", "playwright"])).unwrap();
    let pw = state["cookies"].as_array().unwrap();
    assert_eq!(pw.len(), cookies.len());
    for c in pw {
        assert_eq!(c["domain"], ".goofish.com", "{c}");
        assert_eq!(c["secure"], true, "{c}");
    }
    let pw_tk = pw.iter().find(|c| c["name"] == "_m_h5_tk").unwrap();
    assert_eq!(pw_tk["sameSite"], "None", "{pw_tk}");
    let pw_pairs: BTreeSet<String> = pw
        .iter()
        .filter(|c| c["path"] == "/")
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(pw_pairs, sent);
}

#[test]
fn without_the_ca_the_login_fails_cleanly_and_doctor_says_why() {
    let env = tls_env(Env::auto_phone(50, 50));
    let out = env
        .add_account(&[])
        .env_remove("QRLOGIN_CA_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("certificate is not trusted") && stderr.contains("QRLOGIN_CA_FILE"),
        "{stderr}"
    );
    let out = env
        .cmd()
        .arg("doctor")
        .env_remove("QRLOGIN_CA_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{stdout}");
    assert!(stdout.contains("QRLOGIN_CA_FILE"), "{stdout}");
    assert!(env.list_json().is_empty(), "nothing stored");
}

#[test]
fn resolve_and_ca_settings_reject_junk() {
    let env = tls_env(Scenario::default());
    let junk = env.dir.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    for (var, value, expect) in [
        (
            "QRLOGIN_CA_FILE",
            junk.display().to_string(),
            "holds no PEM certificate",
        ),
        (
            "QRLOGIN_CA_FILE",
            "/no/such/ca.pem".into(),
            "cannot read /no/such/ca.pem",
        ),
        (
            "QRLOGIN_RESOLVE",
            "passport.goofish.com:443".into(),
            "is not HOST:PORT:ADDR",
        ),
        (
            "QRLOGIN_RESOLVE",
            "passport.goofish.com:443:localhost".into(),
            "ADDR must be an IP",
        ),
    ] {
        let out = env.cmd().arg("doctor").env(var, &value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(
            stderr.starts_with(&format!("qrlogin: error: {var}: ")),
            "{stderr}"
        );
        assert!(stderr.contains(expect), "{stderr}");
    }
    // --resolve on the command line wins over the variable.
    let port = www_port(&env);
    let out = env
        .cmd()
        .args([
            "doctor",
            "--resolve",
            &format!("www.goofish.com:{port}:127.0.0.9"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("www.goofish.com:"), "{stdout}");
    assert!(stdout.contains("(--resolve: 127.0.0.9)"), "{stdout}");
    assert!(
        !stdout.contains("h5api.m.goofish.com:{port} (--resolve"),
        "{stdout}"
    );
}

#[test]
fn simulate_tls_prints_what_points_qrlogin_at_it() {
    let env = Env::new();
    let ca = env.dir.path().join("ca.pem");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"))
        .args(["simulate", "--tls", "--ca-out"])
        .arg(&ca)
        .args(["--auto-scan-after", "0.05", "--auto-confirm-after", "0.05"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let vars = crate::support::read_exports(child.stdout.take().unwrap(), 5);
    let keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "QRLOGIN_PASSPORT_URL",
            "QRLOGIN_H5API_URL",
            "QRLOGIN_WWW_URL",
            "QRLOGIN_RESOLVE",
            "QRLOGIN_CA_FILE"
        ]
    );
    assert!(
        vars[0].1.starts_with("https://passport.goofish.com:"),
        "{vars:?}"
    );
    assert!(
        vars[2].1.starts_with("https://www.goofish.com:"),
        "{vars:?}"
    );
    assert_eq!(vars[4].1, ca.display().to_string());
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let mut cmd = env.cmd();
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    cmd.args(["add-account", "--qr", "none", "--poll-interval", "0.05"])
        .assert()
        .success();
    let cookies = env.export_json(env.list_json()[0]["name"].as_str().unwrap());
    assert!(cookies.iter().all(|c| c["secure"] == true), "{cookies:?}");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
}
