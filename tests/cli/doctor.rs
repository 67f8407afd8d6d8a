//! doctor: a healthy simulator, an unreachable host, a skewed clock, a world-readable database.

use crate::support::Env;
use qrlogin::sim::Scenario;
use serde_json::json;

fn doctor(env: &Env) -> (Option<i32>, String) {
    let out = env
        .cmd()
        .env("LANG", "C.UTF-8")
        .env("TERM", "xterm")
        .arg("doctor")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn healthy_simulator() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    env.login(&["--name", "shop"]);
    let (code, out) = doctor(&env);
    assert_eq!(code, Some(0), "{out}");
    if env.tls() {
        // Three hostnames, each through --resolve, over TLS with the simulator's CA.
        for host in [
            "passport.goofish.com",
            "h5api.m.goofish.com",
            "www.goofish.com",
        ] {
            let line = out
                .lines()
                .find(|l| l.contains(&format!(": {host}:")))
                .unwrap_or_default();
            assert!(
                line.starts_with("ok    network")
                    && line.contains("(--resolve: 127.0.0.1)")
                    && line.ends_with("TLS ok"),
                "{out}"
            );
        }
        assert!(
            out.contains("ok    network   TLS: trusting 1 certificate(s) from"),
            "{out}"
        );
    } else {
        assert!(
            out.contains("ok    network   passport: 127.0.0.1:"),
            "{out}"
        );
        assert!(
            out.contains("ok    network   h5api: same host as above"),
            "{out}"
        );
    }
    assert!(out.contains("ok    clock     local clock within"), "{out}");
    assert!(
        out.contains("ok    terminal  UTF-8 locale (C.UTF-8)"),
        "{out}"
    );
    assert!(
        out.contains("warn  terminal  stderr is not a terminal"),
        "{out}"
    );
    assert!(
        out.contains("ok    database")
            && out.contains(if env.pg.is_some() {
                "PostgreSQL 1"
            } else {
                "(mode 600)"
            }),
        "{out}"
    );
    let schema = if env.pg.is_some() { 4 } else { 5 };
    assert!(
        out.contains(&format!("schema version {schema}, integrity ok")),
        "{out}"
    );
    assert!(
        out.contains("ok    key       ")
            && out.contains(".config/qrlogin/key, key ")
            && out.contains(": decrypted the stored cookies of shop"),
        "{out}"
    );
    assert!(
        out.contains("ok    account   shop (2219000000001): long login until"),
        "{out}"
    );
    assert!(out.contains("ok    proxy     no proxy configured"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn unreachable_host() {
    let env = Env::new();
    let port = crate::support::closed_port();
    let out = env
        .cmd()
        .env("QRLOGIN_PASSPORT_URL", format!("http://127.0.0.1:{port}"))
        .env("QRLOGIN_H5API_URL", "http://no-such-host.invalid")
        .env("QRLOGIN_WWW_URL", format!("http://127.0.0.1:{port}"))
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "FAIL  network   passport: cannot connect to 127.0.0.1:{port}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  network   h5api: cannot resolve no-such-host.invalid"),
        "{stdout}"
    );
    assert!(stdout.contains("(hint: "), "{stdout}");
}

#[test]
fn skewed_server_clock() {
    let env = Env::with_sim(Scenario {
        clock_skew_s: -600,
        ..Scenario::default()
    });
    let (code, out) = doctor(&env);
    assert_eq!(code, Some(6), "{out}");
    // Whole seconds of HTTP dates: 599 to 601 s.
    assert!(
        regex::Regex::new(r"FAIL  clock     local clock is (599|600|601) s ahead of the server's")
            .unwrap()
            .is_match(&out),
        "{out}"
    );
    env.ctl("scenario", json!({"clock_skew_s": 60}));
    let (code, out) = doctor(&env);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        regex::Regex::new(r"warn  clock     local clock is (59|60|61) s behind the server's")
            .unwrap()
            .is_match(&out),
        "{out}"
    );
}

#[test]
fn world_readable_database() {
    let env = Env::with_sim(Scenario::default()).on_sqlite();
    env.store();
    std::fs::set_permissions(
        env.db(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (code, out) = doctor(&env);
    assert_eq!(code, Some(7), "{out}");
    assert!(out.contains("is readable by others (mode 644)"), "{out}");
    assert!(
        out.contains(&format!("(hint: chmod 600 {})", env.db().display())),
        "{out}"
    );
}
