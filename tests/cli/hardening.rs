//! Secrets never leak; SIGKILL never corrupts; concurrent processes never lose work; a
//! read-only or full disk is a clear exit 7 with nothing lost.

use crate::support::Env;
use qrlogin::sim::Scenario;
use qrlogin::store::{NewAccount, Status, Store};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::time::Duration;

fn seed(env: &Env, n: usize) {
    env.seed_many(n, "22191", |i| format!("a{i:04}"), true, Status::Ok);
}

type Snapshot = std::collections::BTreeMap<(String, String), String>;

/// A snapshot as account → [(cookie name, value)], in the snapshot's order.
fn by_account(snap: &Snapshot) -> std::collections::BTreeMap<&String, Vec<(&String, &String)>> {
    let mut out: std::collections::BTreeMap<&String, Vec<(&String, &String)>> = Default::default();
    for ((a, n), v) in snap {
        out.entry(a).or_default().push((n, v));
    }
    out
}

#[test]
fn no_cookie_value_in_any_output_but_export() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    let seen = std::cell::RefCell::new(String::new());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = env.cmd();
        c.args(["-vvv"]).args(args);
        if let Some(s) = stdin {
            c.write_stdin(s.to_owned());
        }
        let out = c.output().unwrap();
        let mut seen = seen.borrow_mut();
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
        seen.push_str(&String::from_utf8_lossy(&out.stderr));
    };
    run(
        &[
            "add-account",
            "--qr",
            "ascii",
            "--poll-interval",
            "0.05",
            "--json",
            "--name",
            "main",
        ],
        None,
    );
    run(
        &[
            "add-account",
            "--qr",
            "unicode",
            "--poll-interval",
            "0.05",
            "--name",
            "main",
        ],
        None,
    );
    run(&["refresh", "--jitter", "0", "--json", "--force"], None);
    run(&["list"], None);
    run(&["list", "--json"], None);
    run(&["show", "main"], None);
    run(&["show", "main", "--json"], None);
    run(&["doctor"], None);
    run(
        &["import", "imported", "--from", "-"],
        Some("unb=77; cookie2=importedsecretvalue123; sgcookie=E100anothersecret"),
    );
    run(
        &["import", "broken", "--from", "-"],
        Some("cookie2=brokensecretvalue999"),
    );
    run(
        &["import", "broken", "--format", "json", "--from", "-"],
        Some(
            r#"[{"name":"unb","value":"1"},{"name":"t","value":"jsonsecretvalue555","secure":"yes"}]"#,
        ),
    );
    run(&["add-account", "--no-wait", "--qr", "none"], None);
    run(&["pending"], None);
    let pending_id = seen
        .borrow()
        .lines()
        .find(|l| l.len() == 12 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or("x")
        .to_owned();
    run(
        &[
            "add-account",
            "--resume",
            &pending_id,
            "--poll-interval",
            "0.05",
        ],
        None,
    );
    let mut secrets: Vec<String> = Vec::new();
    for name in ["main", "imported"] {
        for c in env.export_json(name) {
            let n = c["name"].as_str().unwrap();
            let v = c["value"].as_str().unwrap();
            if !matches!(n, "unb" | "tracknick" | "last_u_xianyu_web") && v.len() >= 6 {
                secrets.push(v.to_owned());
            }
        }
    }
    secrets.extend(["brokensecretvalue999".into(), "jsonsecretvalue555".into()]);
    assert!(secrets.len() >= 10, "{secrets:?}");
    for s in &secrets {
        assert!(
            !seen.borrow().contains(s.as_str()),
            "cookie value {}… leaked into output",
            &s[..4]
        );
    }
    run(&["delete", "--yes", "imported"], None);
    assert!(!seen.borrow().contains("importedsecretvalue123"));
}

#[test]
fn debug_formatting_of_cookie_holders_is_redacted() {
    let secret = "supersecretcookievalue";
    let cookie = qrlogin::cookies::Cookie::for_domain("cookie2", secret, ".goofish.com");
    let new = NewAccount {
        unb: "1".into(),
        name: None,
        nickname: None,
        cookies: vec![cookie.clone()],
        proxy: None,
        user_agent: None,
        status: Status::Ok,
        refreshed: true,
        rename: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        Store::open(&qrlogin::store::Location::Sqlite(dir.path().join("a.db"))).unwrap();
    store
        .attach_keys(qrlogin::vault::Keyring::ephemeral(), true)
        .unwrap();
    let (account, _) = store.save(&new, 0).unwrap();
    let record = qrlogin::refresh::record(
        &account,
        &qrlogin::refresh::Verdict::Ok,
        Some(vec![cookie.clone()]),
        0,
    );
    for text in [
        format!("{cookie:?}"),
        format!("{new:?}"),
        format!("{account:?}"),
        format!("{record:?}"),
        format!("{:#?}", account),
    ] {
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn sigkill_during_refresh_never_corrupts_or_mixes() {
    let started = std::time::Instant::now();
    let env = Env::with_sim(Scenario::default());
    seed(&env, 1000);
    eprintln!(
        "sigkill: seeded 1,000 accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut rng_state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    for round in 0..20 {
        let before = env.all_values();
        let mut child = env
            .spawn(&["refresh", "--jitter", "0", "--concurrency", "16"])
            .spawn()
            .unwrap();
        let kill_ms = 100 + next() % 900;
        std::thread::sleep(Duration::from_millis(kill_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            env.store().integrity_check().unwrap(),
            "ok",
            "round {round}"
        );
        let after = env.all_values();
        // Grouped once per round: comparing 1,000 accounts by scanning the whole snapshot
        // for each made this test take minutes.
        let (before_by, after_by) = (by_account(&before), by_account(&after));
        assert_eq!(before_by.len(), 1000);
        let empty = Vec::new();
        for (acct, old) in &before_by {
            let new = after_by.get(acct).unwrap_or(&empty);
            if old == new {
                continue;
            }
            // New: a complete renewed set — every old cookie name still there, the
            // rotated sgcookie changed, and silentHasLogin's sdkSilent present.
            for (n, _) in old {
                assert!(
                    new.iter().any(|(k, _)| k == n),
                    "round {round}: {acct} lost {n}"
                );
            }
            let get = |s: &[(&String, &String)], n: &str| {
                s.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).clone())
            };
            assert_ne!(
                get(old, "sgcookie"),
                get(new, "sgcookie"),
                "round {round}: {acct} is a mix"
            );
            assert!(
                get(new, "sdkSilent").is_some(),
                "round {round}: {acct} is a mix"
            );
        }
        eprintln!(
            "sigkill round {}/20: killed after {kill_ms} ms; store intact, no account mixed",
            round + 1
        );
    }
    // The killed runs' leases name processes that are gone: a new run takes them over.
    let out = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "16", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.len(), 1000);
    assert!(
        report.iter().all(|r| r["skipped"] != "leased"),
        "stale leases were not taken over"
    );
}

#[test]
fn four_refreshes_and_a_login_at_once() {
    let env = Env::with_sim(Scenario {
        latency_ms: 20,
        ..Env::auto_phone(200, 200)
    });
    seed(&env, 40);
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            env.spawn(&["refresh", "--jitter", "0", "--concurrency", "4", "--json"])
                .spawn()
                .unwrap()
        })
        .collect();
    children.push(
        env.spawn(&[
            "add-account",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--name",
            "fresh",
        ])
        .spawn()
        .unwrap(),
    );
    let mut refreshed = 0;
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "process {i}: {stderr}");
        assert!(!stderr.contains("locked"), "process {i}: {stderr}");
        if i < 4 {
            let r: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            refreshed += r.iter().filter(|x| x["skipped"].is_null()).count();
        }
    }
    // No account refreshed twice at once, none lost; the login's account is there too.
    let silent = env.state()["hits"]["/newlogin/silentHasLogin.do"]
        .as_u64()
        .unwrap_or(0)
        + env.state()["hits"]["/newlogin/hasLogin.do"]
            .as_u64()
            .unwrap_or(0);
    assert_eq!(silent as usize, refreshed);
    assert!(
        refreshed >= 40,
        "every account refreshed at least once: {refreshed}"
    );
    let list = env.list_json();
    assert_eq!(list.len(), 41);
    assert!(list.iter().any(|a| a["name"] == "fresh"));
}

#[test]
fn a_read_only_database_is_exit_7_and_nothing_is_lost() {
    let env = Env::new().on_sqlite();
    env.import_header("keep", "unb=1; cookie2=keepme");
    // Force the file out of WAL so a reader needs no -shm file it could not create.
    let c = rusqlite::Connection::open(env.db()).unwrap();
    c.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let before = std::fs::read(env.db()).unwrap();
    let dir = env.db().parent().unwrap().to_owned();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"));
    cmd.env("QRLOGIN_DB", env.db())
        .env("HOME", env.dir.path())
        .args(["import", "other", "--from", "-"])
        .stdin(std::process::Stdio::piped());
    // Root ignores file modes: drop to nobody so the modes mean something.
    // SAFETY: setgid/setuid in the child before exec; no allocation.
    unsafe {
        cmd.pre_exec(|| {
            if libc::geteuid() == 0 && (libc::setgid(65534) != 0 || libc::setuid(65534) != 0) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    // qrlogin may refuse the store and exit before it reads its input: a closed pipe here
    // is that, not a failure of the test.
    match child.stdin.take().unwrap().write_all(b"unb=2; cookie2=x") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("read-only") || stderr.contains("cannot open"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
    assert_eq!(env.list_json().len(), 1);
}

#[test]
fn a_full_disk_is_exit_7_and_nothing_is_lost() {
    let env = Env::new();
    env.import_header("keep", "unb=1; cookie2=keepme");
    let before = env.all_values();
    // A file-size limit stands in for a full disk: writes past it fail with EFBIG.
    let big: String = (0..400)
        .map(|i| format!("c{i}={}; ", "v".repeat(100)))
        .collect::<String>()
        + "unb=2";
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"));
    cmd.env("QRLOGIN_DB", env.db())
        .env("HOME", env.dir.path())
        .args(["import", "big", "--from", "-"])
        .stdin(std::process::Stdio::piped());
    // SAFETY: setrlimit and signal in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 16 * 1024,
                rlim_max: 16 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    // The store can fail before the import reads its input (the limit already bites when
    // SQLite sizes its shared-memory file): a closed pipe here is that, not a test error.
    match child.stdin.take().unwrap().write_all(big.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.starts_with("qrlogin: error: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(
        stderr.contains("disk") || stderr.contains("full"),
        "{stderr}"
    );
    assert_eq!(env.all_values(), before);
    let c = rusqlite::Connection::open(env.db()).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
