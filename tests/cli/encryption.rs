//! Encryption at rest (issue 12): no cookie value in any file of the store after any
//! command that writes, the key's sources and their errors, a wrong or missing key, a value
//! moved between rows, rotation under SIGKILL, and a store from before encryption.

use crate::support::{Env, mode};
use qrlogin::store::Status;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Every file of the store, concatenated: the database, its WAL and shared memory; on
/// PostgreSQL, a `pg_dump` of its database.
fn store_bytes(env: &Env) -> Vec<u8> {
    if env.pg.is_some() {
        return env.store_bytes();
    }
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = env.db().into_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

/// Values long enough not to turn up by chance (`1`, `true`, `77` would), and not the
/// account's identity (unb, nickname), which is stored readable on purpose.
fn distinctive_values(env: &Env, cookies: &[Value]) -> Vec<String> {
    let identity: Vec<String> = env
        .list_json()
        .iter()
        .flat_map(|a| [a["unb"].clone(), a["nickname"].clone(), a["name"].clone()])
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    cookies
        .iter()
        .map(|c| c["value"].as_str().unwrap().to_owned())
        .filter(|v| v.len() >= 8 && !identity.contains(v))
        .collect()
}

/// The commands that need the key, each run with `vars`: exit 7 and one line on stderr,
/// which `check` looks at.
fn every_value_command_fails(env: &Env, vars: &[(&str, &str)], check: impl Fn(&str)) {
    for args in [
        vec!["export", "shop", "--format", "json"],
        vec!["refresh", "--jitter", "0"],
        vec!["import", "other", "--format", "header", "--from", "-"],
        vec!["add-account", "--qr", "none"],
    ] {
        let out = env
            .cmd()
            .args(&args)
            .envs(vars.iter().copied())
            .write_stdin("unb=5; cookie2=xxxxxxxxxx")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        check(&stderr);
    }
}

fn assert_no_value_in_files(env: &Env, values: &[String], after: &str) {
    let bytes = store_bytes(env);
    assert!(!values.is_empty());
    for v in values {
        assert!(
            !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
            "after {after}: the value {v} is in the store's files"
        );
    }
}

#[test]
fn no_cookie_value_is_stored_in_plain_text_after_any_write() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    assert!(!env.key_file().exists());
    // A login that fails writes no secret and makes no key.
    env.add_account(&[])
        .env("QRLOGIN_PASSPORT_URL", "http://127.0.0.1:9")
        .assert()
        .code(6);
    assert!(!env.key_file().exists(), "a failed login made a key");
    let out = env.add_account(&["--name", "shop"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("created the encryption key").count(),
        1,
        "{stderr}"
    );
    assert_eq!(mode(&env.key_file()), 0o600);
    assert_eq!(mode(env.key_file().parent().unwrap()), 0o700);
    let mut seen = distinctive_values(&env, &env.export_json("shop"));
    assert_no_value_in_files(&env, &seen, "add-account");
    // Later writers say nothing more about the key.
    env.import_header(
        "imported",
        "unb=2219000000042; cookie2=importedcookie2value; sgcookie=E100importedsgcookie",
    );
    seen.extend(distinctive_values(&env, &env.export_json("imported")));
    assert_no_value_in_files(&env, &seen, "import");
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("encryption key"));
    seen.extend(distinctive_values(&env, &env.export_json("shop")));
    assert_no_value_in_files(&env, &seen, "refresh");
    env.cmd().args(["key", "rotate"]).assert().success();
    seen.extend(distinctive_values(&env, &env.export_json("shop")));
    assert_no_value_in_files(&env, &seen, "key rotate");
}

#[test]
fn list_show_pending_and_doctor_need_no_key_and_value_commands_say_it_is_missing() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    env.login(&["--name", "shop"]);
    std::fs::rename(env.key_file(), env.dir.path().join("key.away")).unwrap();
    let list = env.list_json();
    assert_eq!(list[0]["name"], "shop");
    assert!(list[0]["long_login_expires"].is_string(), "{list:?}");
    let show = env.stdout_of(&["show", "shop"]);
    assert!(show.contains("long login until"), "{show}");
    assert!(!show.contains("long login until      -"), "{show}");
    env.stdout_of(&["pending"]);
    let before = store_bytes(&env);
    every_value_command_fails(&env, &[], |stderr| {
        assert!(
            stderr.starts_with("qrlogin: error: no encryption key"),
            "{stderr}"
        );
        assert!(
            !env.key_file().exists(),
            "a new key made over sealed values"
        );
    });
    assert_eq!(store_bytes(&env), before, "nothing was written");
    let out = env.cmd().arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{stdout}");
    assert!(
        stdout.contains("FAIL  key       no encryption key"),
        "{stdout}"
    );
}

fn other_key() -> String {
    qrlogin::vault::Key::generate()
        .unwrap()
        .to_base64()
        .to_string()
}

#[test]
fn a_wrong_key_is_refused_and_never_overwrites_the_right_ones_values() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    env.login(&["--name", "shop"]);
    let good = env.export_json("shop");
    let before = store_bytes(&env);
    let wrong = other_key();
    every_value_command_fails(&env, &[("QRLOGIN_KEY", &wrong)], |stderr| {
        assert!(
            stderr.contains("account shop: its values are encrypted with key "),
            "{stderr}"
        );
        assert!(
            stderr.contains("which is not among the keys in use (QRLOGIN_KEY, key "),
            "{stderr}"
        );
        assert!(!stderr.contains(&wrong), "{stderr}");
    });
    assert_eq!(store_bytes(&env), before);
    assert_eq!(env.export_json("shop"), good);
    let doctor = env
        .cmd()
        .arg("doctor")
        .env("QRLOGIN_KEY", &wrong)
        .output()
        .unwrap();
    assert_eq!(doctor.status.code(), Some(7));
    assert!(
        String::from_utf8_lossy(&doctor.stdout)
            .contains("FAIL  key       account shop: its values are encrypted with key")
    );
}

#[test]
fn key_sources_in_order_and_their_errors() {
    let env = Env::new();
    env.import_header("shop", "unb=2219000000001; cookie2=sourcecookie2value");
    let key_text = std::fs::read_to_string(env.key_file()).unwrap();
    let key_line = key_text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_owned();
    let id = |out: &str| -> String {
        serde_json::from_str::<Value>(out).unwrap()["current"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let default_id = id(&env.stdout_of(&["key", "status", "--json"]));
    // Each source, given the same key, opens the account; each names itself.
    let file = env.dir.path().join("k.key");
    std::fs::write(&file, &key_text).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let creds = env.dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::copy(&file, creds.join("qrlogin.key")).unwrap();
    let cmd = format!("cat {}", file.display());
    for (var, value, source) in [
        ("QRLOGIN_KEY", key_line.clone(), "QRLOGIN_KEY".to_owned()),
        ("QRLOGIN_KEY_COMMAND", cmd, "QRLOGIN_KEY_COMMAND".to_owned()),
        (
            "QRLOGIN_KEY_FILE",
            file.display().to_string(),
            format!("QRLOGIN_KEY_FILE ({})", file.display()),
        ),
        (
            "CREDENTIALS_DIRECTORY",
            creds.display().to_string(),
            "(systemd credential)".to_owned(),
        ),
    ] {
        let out = env
            .cmd()
            .args(["key", "status", "--json"])
            .env(var, &value)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["current"], default_id.as_str(), "{var}");
        assert!(
            v["source"].as_str().unwrap().contains(&source),
            "{var}: {v}"
        );
        env.cmd()
            .args(["export", "shop", "--format", "header"])
            .env(var, &value)
            .assert()
            .success()
            .stdout(predicates::str::contains("cookie2=sourcecookie2value"));
    }
    // Broken sources: one line naming the source, exit 7, the key never shown.
    let open = env.dir.path().join("open.key");
    std::fs::write(&open, &key_text).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    for (var, value, expect) in [
        (
            "QRLOGIN_KEY",
            key_line[..20].to_owned(),
            "the key from QRLOGIN_KEY is unusable: 15 bytes instead of 32",
        ),
        (
            "QRLOGIN_KEY",
            "not base64 at all!".to_owned(),
            "the key from QRLOGIN_KEY is unusable: not base64",
        ),
        (
            "QRLOGIN_KEY_COMMAND",
            "exit 3".to_owned(),
            "the key from QRLOGIN_KEY_COMMAND is unusable: it failed",
        ),
        (
            "QRLOGIN_KEY_FILE",
            open.display().to_string(),
            "is readable by others (mode 644); refusing it",
        ),
        (
            "QRLOGIN_KEY_FILE",
            "/no/such/key".to_owned(),
            "cannot read it",
        ),
    ] {
        let out = env
            .cmd()
            .args(["export", "shop", "--format", "header"])
            .env(var, &value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{var}={value}: {stderr}");
        assert!(stderr.contains(expect), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stderr.contains(&key_line), "{stderr}");
    }
    // The default key file opened to others is refused too.
    std::fs::set_permissions(
        env.key_file(),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    env.cmd()
        .args(["export", "shop", "--format", "header"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("chmod 600"));
}

#[test]
fn a_value_moved_to_another_row_does_not_decrypt() {
    let env = Env::new();
    env.import_header("a", "unb=2219000000001; cookie2=valueofaccountaaaa");
    env.import_header("b", "unb=2219000000002; cookie2=valueofaccountbbbb");
    move_cookie2_from_a_to_b(&env);
    let out = env
        .cmd()
        .args(["export", "b", "--format", "header"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains(
            "account b: cookie cookie2 does not decrypt (changed, or copied from another row)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("valueofaccount"), "{stderr}");
    // The account it came from still exports.
    env.stdout_of(&["export", "a", "--format", "header"]);
}

/// One damaged account must not keep a cron's refresh from the others: it is reported,
/// its lease released, the rest refreshed, and the run exits 7.
#[test]
fn a_refresh_goes_on_past_an_account_whose_values_do_not_open() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    {
        let store = env.store();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            env.seed_account(&store, &format!("22193{i:08}"), name, true, Status::Ok);
        }
    }
    move_cookie2_from_a_to_b(&env);
    // The first round takes b over from a process of this host that is gone (read after
    // its claim); the second leases it in its claim.
    env.sql(&format!(
        "UPDATE accounts SET lease_owner = '{}-ab@here', lease_until = 99999999999 \
         WHERE name = 'b'",
        i32::MAX - 1
    ));
    for round in 0..2 {
        let out = env
            .cmd()
            .env("QRLOGIN_HOST_ID", "here")
            .args(["refresh", "--jitter", "0", "--force", "--json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "round {round}: {stderr}");
        assert!(
            stderr.contains(
                "b (2219300000001): not checked: account b: cookie cookie2 does not decrypt"
            ),
            "{stderr}"
        );
        let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let by = |n: &str| reports.iter().find(|r| r["name"] == n).unwrap().clone();
        assert_eq!(by("b")["skipped"], "unreadable");
        assert!(
            by("b")["error"]
                .as_str()
                .unwrap()
                .contains("does not decrypt")
        );
        for name in ["a", "c"] {
            let r = by(name);
            assert!(r["skipped"].is_null() && r["error"].is_null(), "{r}");
            assert!(
                r["action"].as_str().unwrap().ends_with("+loginuser.get"),
                "{r}"
            );
        }
        // Its lease is released: the next run tries it again rather than wait for it.
        let store = env.store();
        for a in store.all_brief().unwrap() {
            assert_eq!(store.lease_owner(a.id).unwrap(), None, "{}", a.name);
        }
    }
}

#[test]
fn sigkill_during_key_rotate_leaves_every_account_readable() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    env.seed_many(300, "22193", |i| format!("r{i:03}"), true, Status::Ok);
    let original = env.all_values();
    let mut rng = 0x9E3779B97F4A7C15u64;
    let mut mid_rotation = 0;
    for round in 0..20 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = env.spawn(&["key", "rotate"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(5 + rng % 150));
        let _ = child.kill();
        child.wait().unwrap();
        let keys = std::fs::read_to_string(env.key_file()).unwrap();
        mid_rotation += usize::from(keys.lines().filter(|l| !l.starts_with('#')).count() > 1);
        // Every account opens with the keys in the file, with its values unchanged.
        assert_eq!(env.all_values(), original, "round {round}");
    }
    eprintln!("key rotate killed 20 times, {mid_rotation} of them with two keys in use");
    // The first finishes what a kill left (or rotates); the second rotates. Each keeps the
    // key that was current when it began, and drops older ones nothing uses.
    for _ in 0..2 {
        env.cmd().args(["key", "rotate"]).assert().success();
    }
    let status: Value = serde_json::from_str(&env.stdout_of(&["key", "status", "--json"])).unwrap();
    let usage = status["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 1, "{status}");
    assert_eq!(usage[0]["state"], "current", "{status}");
    assert_eq!(usage[0]["accounts"], 300, "{status}");
    assert_eq!(status["retired"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(env.all_values(), original);
}

/// A refresh that began before `key rotate` seals what it writes with the key it began
/// with: that key stays in the file, retired, until a later rotation has moved its values.
#[test]
fn values_a_running_refresh_writes_during_key_rotate_stay_readable() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    env.seed_many(20, "22193", |i| format!("k{i:03}"), true, Status::Ok);
    let before = env.all_values();
    // Every renewal answers after 2 s: the run has its key, and rotation runs meanwhile.
    env.fault(
        "/newlogin/silentHasLogin.do",
        serde_json::json!({"type": "delay", "ms": 2000}),
        Some(20),
    );
    let running = env
        .spawn(&["refresh", "--jitter", "0", "--force", "--json"])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while env.state()["hits"]["/newlogin/silentHasLogin.do"].as_u64() < Some(20) {
        assert!(started.elapsed() < Duration::from_secs(10), "never renewed");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.cmd().args(["key", "rotate"]).assert().success();
    crate::support::succeeded(running);
    // Every account opens, with the cookies the renewals rotated and added.
    let after = env.all_values();
    let names = |v: &std::collections::BTreeMap<(String, String), String>| {
        v.keys()
            .map(|(a, _)| a.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&after), names(&before));
    assert_ne!(after, before, "the refresh stored nothing");
    let status: Value = serde_json::from_str(&env.stdout_of(&["key", "status", "--json"])).unwrap();
    assert!(
        status["usage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["state"] == "retired"),
        "{status}"
    );
    // The next rotation moves them.
    env.cmd()
        .args(["key", "rotate"])
        .assert()
        .success()
        .stderr(predicates::str::contains("values remain under older keys"));
    assert_eq!(env.all_values(), after);
    let status: Value = serde_json::from_str(&env.stdout_of(&["key", "status", "--json"])).unwrap();
    let usage = status["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 1, "{status}");
    assert_eq!(usage[0]["state"], "current", "{status}");
}

#[test]
fn key_export_and_import_move_the_key_to_another_host() {
    let a = Env::new().on_sqlite();
    a.import_header("shop", "unb=2219000000001; cookie2=movedcookie2value");
    let exported = a.stdout_of(&["key", "export"]);
    assert!(exported.starts_with("# qrlogin encryption keys"));
    // Host B: the same database (a copy here; a shared server later), no key yet.
    let b = Env::new().on_sqlite();
    std::fs::create_dir_all(b.db().parent().unwrap()).unwrap();
    std::fs::copy(a.db(), b.db()).unwrap();
    b.cmd()
        .args(["export", "shop", "--format", "header"])
        .assert()
        .code(7);
    b.cmd()
        .args(["key", "import"])
        .write_stdin(exported)
        .assert()
        .success()
        .stderr(predicates::str::contains("as the current key"));
    assert_eq!(mode(&b.key_file()), 0o600);
    b.cmd()
        .args(["export", "shop", "--format", "header"])
        .assert()
        .success()
        .stdout(predicates::str::contains("cookie2=movedcookie2value"));
    // Rotation needs a key file it can rewrite.
    let key = a.stdout_of(&["key", "export"]);
    let line = key.lines().find(|l| !l.starts_with('#')).unwrap();
    a.cmd()
        .args(["key", "rotate"])
        .env("QRLOGIN_KEY", line)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "the key comes from QRLOGIN_KEY, which qrlogin cannot rewrite",
        ));
}

#[test]
fn a_database_from_before_encryption_upgrades() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default()).on_sqlite();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schema-v3.db");
    std::fs::copy(&fixture, env.db()).unwrap();
    std::fs::set_permissions(
        env.db(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        env.db().parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    // Readers need no key, and the long login moved to its readable column.
    let list = env.list_json();
    assert_eq!(
        list[0]["long_login_expires"], "2030-01-01T00:00:00Z",
        "{list:?}"
    );
    let status = env.stdout_of(&["key", "status"]);
    assert!(status.contains("no key yet"), "{status}");
    assert!(
        status.contains("plain text   plaintext 4 values of 1 accounts"),
        "{status}"
    );
    // Plain-text values export without a key until something writes.
    env.stdout_of(&["export", "fixture-account", "--format", "json"]);
    assert!(!env.key_file().exists());
    // The first writer makes the key and seals every account.
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("created the encryption key"), "{stderr}");
    assert!(
        stderr.contains("encrypted the stored cookies of 1 account(s) written before encryption"),
        "{stderr}"
    );
    let status: Value = serde_json::from_str(&env.stdout_of(&["key", "status", "--json"])).unwrap();
    assert_eq!(status["usage"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["usage"][0]["state"], "current", "{status}");
    let json = env.stdout_of(&["export", "fixture-account", "--format", "json"]);
    assert!(json.contains("\"fixturec2fixturec2\""), "{json}");
    assert_no_value_in_files(&env, &["fixturec2fixturec2".to_owned()], "the upgrade");
}

#[test]
fn no_command_but_key_export_shows_key_material() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    env.login(&["--name", "shop"]);
    let keys = |env: &Env| -> Vec<String> {
        std::fs::read_to_string(env.key_file())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut seen = keys(&env);
    for args in [
        vec!["-vvv", "list"],
        vec!["-vvv", "show", "shop"],
        vec!["-vvv", "pending"],
        vec!["-vvv", "refresh", "--jitter", "0", "--force"],
        vec!["-vvv", "export", "shop", "--format", "json"],
        vec!["-vvv", "doctor"],
        vec!["-vvv", "key", "status"],
        vec!["-vvv", "key", "status", "--json"],
        vec!["-vvv", "key", "rotate"],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        seen.extend(keys(&env));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for k in &seen {
            assert!(!text.contains(k.as_str()), "{args:?} showed a key");
        }
    }
    let exported = env.stdout_of(&["key", "export"]);
    assert!(keys(&env).iter().all(|k| exported.contains(k.as_str())));
}

/// Two rotations at once would each seal with a key of their own and each write the key
/// file: the second waits for the first (here, for the lock the first would hold).
#[test]
fn a_second_key_rotate_waits_for_the_first() {
    use std::os::unix::io::AsRawFd;
    let env = Env::new();
    env.import_header("shop", "unb=2219000000001; cookie2=lockedcookie2value");
    let mut lock_path = env.key_file().into_os_string();
    lock_path.push(".lock");
    let held = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    // SAFETY: flock on a descriptor `held` owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let before = std::fs::read_to_string(env.key_file()).unwrap();
    let child = env.spawn(&["key", "rotate"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(env.key_file()).unwrap(),
        before,
        "rotated while another held the lock"
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for another `qrlogin key rotate` or `key import` to finish"),
        "{stderr}"
    );
    assert_ne!(std::fs::read_to_string(env.key_file()).unwrap(), before);
    let exported = env.stdout_of(&["export", "shop", "--format", "header"]);
    assert!(
        exported.contains("cookie2=lockedcookie2value"),
        "{exported}"
    );
}

/// Put account a's sealed `cookie2` in account b's place for it, on either backend.
fn move_cookie2_from_a_to_b(env: &Env) {
    env.sql(if env.pg.is_some() {
        "UPDATE cookie_sets SET cookies = (SELECT json_agg(CASE WHEN e->>0 = 'cookie2' THEN \
           (SELECT x FROM cookie_sets s JOIN accounts a ON a.id = s.account_id, \
            json_array_elements(s.cookies::json) x WHERE a.name = 'a' AND x->>0 = 'cookie2') \
           ELSE e END ORDER BY n)::text \
           FROM json_array_elements(cookie_sets.cookies::json) WITH ORDINALITY AS t(e, n)) \
         WHERE account_id = (SELECT id FROM accounts WHERE name = 'b')"
    } else {
        "UPDATE cookies SET value = (SELECT c.value FROM cookies c JOIN accounts a ON a.id = c.account_id WHERE a.name = 'a' AND c.name = 'cookie2'), \
         key_id = (SELECT c.key_id FROM cookies c JOIN accounts a ON a.id = c.account_id WHERE a.name = 'a' AND c.name = 'cookie2') \
         WHERE name = 'cookie2' AND account_id = (SELECT id FROM accounts WHERE name = 'b')"
    });
}
