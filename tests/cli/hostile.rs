//! Hostile files and values (issue 16): what an attacker controls must neither crash a
//! command nor inject into what qrlogin prints or exports.

use crate::support::Env;
use predicates::prelude::*;

/// Expiries past the year 9999 used to panic list, show and doctor for the whole store.
#[test]
fn far_future_expiries_never_panic() {
    let env = Env::new();
    env.import_header("a", "unb=1; havana_lgc_exp=999999999999999999");
    env.cmd()
        .args(["import", "b", "--format", "netscape", "--from", "-"])
        .write_stdin(".goofish.com\tTRUE\t/\tFALSE\t253402300800\tunb\t2\n")
        .assert()
        .success();
    env.cmd()
        .args(["import", "c", "--format", "json", "--from", "-"])
        .write_stdin(r#"[{"name":"unb","value":"3","expires":1e15}]"#)
        .assert()
        .success();
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["show", "a"],
        vec!["show", "b"],
        vec!["show", "c", "--json"],
        vec!["doctor"],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_ne!(
            out.status.code(),
            Some(101),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
    assert!(
        env.stdout_of(&["show", "b"])
            .contains("9999-12-31T23:59:59Z")
    );
}

/// Newlines, tabs and `;` in imported values, domains and paths would add lines to a
/// cookies.txt export or cookies to a header export: refused at import, nothing stored.
#[test]
fn injected_values_domains_and_paths_are_refused() {
    let env = Env::new();
    let cases = [
        r#"[{"name":"unb","value":"1"},{"name":"x","value":"a\n.evil.example\tTRUE\t/\tFALSE\t0\tunb\t666"}]"#,
        r#"[{"name":"unb","value":"1"},{"name":"x","value":"a; unb=666"}]"#,
        r#"[{"name":"unb","value":"1","domain":".goofish.com\n.evil.example"}]"#,
        r#"[{"name":"unb","value":"1","path":"/\tTRUE"}]"#,
        r#"[{"name":"unb","value":"1","domain":"goofish.com;x"}]"#,
    ];
    for json in cases {
        env.cmd()
            .args(["import", "x", "--format", "json", "--from", "-"])
            .write_stdin(json)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("evil")
                    .not()
                    .and(predicate::str::contains("666").not()),
            );
    }
    assert!((env.pg.is_none() && !env.db().exists()) || env.list_json().is_empty());
}

/// Import errors name the cookie and the field, never a value.
#[test]
fn import_errors_never_echo_values() {
    let env = Env::new();
    for (format, input) in [
        (
            "json",
            r#"[{"name":"unb","value":"1","secure":"topsecretvalue"}]"#,
        ),
        ("json", r#"[{"name":"unb","value":98765432123}]"#),
        ("header", "unb=1; cookie2=abc\ntopsecretvalue-continued"),
    ] {
        let out = env
            .cmd()
            .args(["import", "x", "--format", format, "--from", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            !stderr.contains("topsecretvalue") && !stderr.contains("98765432123"),
            "{stderr}"
        );
    }
}

/// A crafted xianyu-auto-reply database: a recursive view, a gigabyte view, duplicate
/// unbs. Refused or reported, quickly, and the file is never written.
#[test]
fn crafted_xianyu_databases() {
    let env = Env::new();
    let make = |name: &str, sql: &str| {
        let path = env.dir.path().join(name);
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);
        path
    };
    let recursive = make(
        "recursive.db",
        "CREATE VIEW cookies AS WITH RECURSIVE r(id, value) AS (SELECT 'a', 'unb=1' UNION ALL SELECT id || 'a', value FROM r) SELECT * FROM r;",
    );
    let huge = make(
        "huge.db",
        "CREATE VIEW cookies AS SELECT 'a' AS id, zeroblob(2000000000) AS value;",
    );
    for path in [&recursive, &huge] {
        let before = std::fs::read(path).unwrap();
        let started = std::time::Instant::now();
        env.cmd()
            .args(["import", "--xianyu-auto-reply-db"])
            .arg(path)
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not a xianyu-auto-reply database"));
        assert!(started.elapsed().as_secs() < 10);
        assert_eq!(std::fs::read(path).unwrap(), before);
    }
    let dupes = make(
        "dupes.db",
        "CREATE TABLE cookies (id TEXT PRIMARY KEY, value TEXT);
         INSERT INTO cookies VALUES ('first', 'unb=7; cookie2=one');
         INSERT INTO cookies VALUES ('second', 'unb=7; cookie2=two');",
    );
    env.cmd()
        .args(["import", "--xianyu-auto-reply-db"])
        .arg(&dupes)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(
                "skipped account `second`: it has the same unb 7 as account `first`",
            )
            .and(predicate::str::contains("imported 1 of 2 accounts")),
        );
    let list = env.list_json();
    assert_eq!(
        (list.len(), &list[0]["name"]),
        (1, &serde_json::json!("first"))
    );
}

/// A store file others can read, or that is another program's database, is refused
/// untouched (exit 7); doctor checks the WAL and shared-memory files too.
#[test]
fn unsafe_or_foreign_database_files_are_refused_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::with_sim(qrlogin::sim::Scenario::default()).on_sqlite();
    env.import_header("keep", "unb=1; cookie2=keepme");
    for suffix in ["", "-wal", "-shm"] {
        let mut file = env.db().into_os_string();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        if !file.exists() {
            std::fs::File::create(&file).unwrap();
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        env.cmd()
            .args(["import", "other", "--from", "-"])
            .write_stdin("unb=2; cookie2=x")
            .assert()
            .code(7)
            .stderr(predicate::str::contains("is open to others (mode 666)"));
        let out = env.cmd().arg("doctor").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(7), "{text}");
        assert!(
            text.contains(&format!("{} is readable by others", file.display())),
            "{text}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A pre-existing empty 0644 file is not silently used.
    let empty = env.dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.cmd()
        .env("QRLOGIN_DB", &empty)
        .args(["import", "x", "--from", "-"])
        .write_stdin("unb=3")
        .assert()
        .code(7);
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    // A dangling symlink: its target is not created.
    let link = env.dir.path().join("link.db");
    let target = env.dir.path().join("target.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.cmd()
        .env("QRLOGIN_DB", &link)
        .args(["import", "x", "--from", "-"])
        .write_stdin("unb=3")
        .assert()
        .code(7)
        .stderr(predicate::str::contains("symbolic link to a missing file"));
    assert!(!target.exists());
    // `missing/../x.db` creates no `missing` directory.
    let dotdot = env.dir.path().join("missing/../x.db");
    env.cmd()
        .env("QRLOGIN_DB", &dotdot)
        .args(["import", "x", "--from", "-"])
        .write_stdin("unb=3")
        .assert()
        .code(7);
    assert!(!env.dir.path().join("missing").exists());
    // Another program's SQLite file: refused, not switched to WAL, no table added.
    for (name, sql) in [
        ("notes.db", "CREATE TABLE notes (x TEXT);"),
        (
            "versioned.db",
            "PRAGMA user_version = 0; CREATE TABLE t (x);",
        ),
        (
            "appid.db",
            "PRAGMA application_id = 1234; PRAGMA user_version = 1; CREATE TABLE accounts (x); CREATE TABLE cookies (y);",
        ),
    ] {
        let path = env.dir.path().join(name);
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = std::fs::read(&path).unwrap();
        env.cmd()
            .env("QRLOGIN_DB", &path)
            .args(["import", "x", "--from", "-"])
            .write_stdin("unb=3")
            .assert()
            .code(7)
            .stderr(predicate::str::contains(
                "another program's SQLite database",
            ));
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}");
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        assert!(!std::path::PathBuf::from(wal).exists(), "{name}");
    }
}

/// The server's nickname becomes a default name only through the same rules as --name:
/// no escape sequences or newlines reach the terminal, no 5,000-character names, no
/// all-digit name that shadows another account's unb, and a clash never loses a login.
#[test]
fn hostile_nicknames_never_reach_the_terminal_or_shadow_accounts() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    let evil = format!("\u{1b}[2Jevil\n$(id)\u{202e}{}", "x".repeat(5000));
    env.ctl(
        "scenario",
        serde_json::json!({"unb": "2219000000001", "nickname": evil}),
    );
    let out = env.add_account(&[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
        "{stderr:?}"
    );
    let list = env.list_json();
    let name = list[0]["name"].as_str().unwrap();
    assert!(
        name.chars().count() <= 64 && !name.contains('\n') && !name.contains('\u{1b}'),
        "{name:?}"
    );
    let table = env.stdout_of(&["list"]);
    assert!(!table.contains('\u{1b}'), "{table:?}");
    // A nickname that is another account's unb does not shadow it.
    env.import_header("victim", "unb=2219000000099; cookie2=v");
    env.ctl(
        "scenario",
        serde_json::json!({"unb": "2219000000002", "nickname": "2219000000099"}),
    );
    env.add_account(&[]).assert().success();
    let shown = env.stdout_of(&["show", "2219000000099", "--json"]);
    assert!(shown.contains("\"victim\""), "{shown}");
    // nick and nick-<unb> both taken: saved all the same.
    env.import_header("shop", "unb=1001; cookie2=a");
    env.import_header("shop-2219000000003", "unb=1002; cookie2=b");
    env.ctl(
        "scenario",
        serde_json::json!({"unb": "2219000000003", "nickname": "shop"}),
    );
    let out = env.add_account(&["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.list_json().iter().any(|a| a["unb"] == "2219000000003"));
}

/// Names are counted in characters, and look-alike characters are refused.
#[test]
fn names_are_characters_not_bytes_and_look_alikes_are_refused() {
    let env = Env::new();
    let chinese = "闲鱼店铺一二三四五六七八九十甲乙丙丁戊己庚辛";
    assert_eq!(chinese.chars().count(), 22);
    env.import_header(chinese, "unb=1; cookie2=x");
    for bad in ["shop\u{200b}1", "shop\u{202e}1", "12345"] {
        env.cmd()
            .args(["import", bad, "--from", "-"])
            .write_stdin("unb=2; cookie2=x")
            .assert()
            .code(2);
    }
}

/// `delete --yes` while another process reads the store: it does not hang for the 30 s
/// busy timeout, and it says the values stay on disk until the reader closes; once it
/// does, no copy is left in any file.
#[test]
fn delete_with_a_reader_open_reports_instead_of_hanging() {
    let env = Env::new().on_sqlite();
    env.import_header("gone", "unb=1; cookie2=deletedsecretvalue");
    let reader = rusqlite::Connection::open(env.db()).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM cookies;")
        .unwrap();
    let started = std::time::Instant::now();
    env.cmd()
        .args(["delete", "--yes", "gone"])
        .assert()
        .success()
        .stderr(predicate::str::contains("stay on disk"));
    assert!(started.elapsed().as_secs() < 15, "{:?}", started.elapsed());
    reader.execute_batch("COMMIT;").unwrap();
    drop(reader);
    let mut files = vec![std::fs::read(env.db()).unwrap()];
    for suffix in ["-wal", "-shm"] {
        let mut p = env.db().into_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(std::path::PathBuf::from(p)) {
            files.push(b);
        }
    }
    for bytes in files {
        assert!(
            !bytes.windows(18).any(|w| w == b"deletedsecretvalue"),
            "a deleted value is still on disk"
        );
    }
}

/// The smaller ones: a skew that cannot be written as a date is refused by the control
/// API (it used to make every request panic); a control character in the User-Agent is a
/// usage error; a hanging --on-change hook is killed after its timeout.
#[test]
fn small_hostile_inputs() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    let answer = env.ctl(
        "scenario",
        serde_json::json!({"clock_skew_s": 400000000000i64}),
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("clock_skew_s"),
        "{answer}"
    );
    assert!(
        env.state()["hits"].is_object(),
        "the control API still answers"
    );
    env.cmd()
        .env("QRLOGIN_USER_AGENT", "Mozilla\r\nX-Evil: 1")
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("QRLOGIN_USER_AGENT"));
    // A hook that hangs: the refresh finishes anyway.
    let store = env.store();
    env.seed_account(
        &store,
        "2219000000001",
        "hooked",
        true,
        qrlogin::store::Status::Unknown,
    );
    drop(store);
    let started = std::time::Instant::now();
    env.cmd()
        .args([
            "refresh",
            "--jitter",
            "0",
            "--on-change",
            "sleep 600",
            "--on-change-timeout",
            "1",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "was still running after 1 s and was killed",
        ));
    assert!(started.elapsed().as_secs() < 20);
}

/// `simulate --listen` on a non-loopback address warns that the control API is open.
#[test]
fn simulate_warns_when_not_on_loopback() {
    let env = Env::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"))
        .env("HOME", env.dir.path())
        .args(["simulate", "--listen", "0.0.0.0:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line.contains("not loopback") && line.contains("no authentication"),
        "{line}"
    );
}

/// hasLogin's form carries session values (`hsiz` = cookie2, `_csrf_token` = _tb_token_)
/// only when the jar would send those cookies to the passport host: real goofish.com
/// accounts refreshed against another host (a simulator URL left exported) send nothing,
/// and the run says so once.
#[test]
fn session_values_go_only_where_their_cookies_go() {
    let env = Env::with_plain_sim(qrlogin::sim::Scenario::default());
    env.import_header(
        "real",
        "unb=2219000000001; cookie2=realcookie2value; _tb_token_=realcsrf",
    );
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("not passport.goofish.com").count(),
        1,
        "{stderr}"
    );
    let form = &env.state()["forms"]["/newlogin/hasLogin.do"];
    assert_eq!(form["hsiz"], "", "{form}");
    assert_eq!(form["_csrf_token"], "", "{form}");
    // An account whose cookies belong to the host does send them.
    let env = Env::with_plain_sim(qrlogin::sim::Scenario::default());
    let store = env.store();
    env.seed_account(
        &store,
        "2219000000001",
        "sim",
        false,
        qrlogin::store::Status::Unknown,
    );
    drop(store);
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not passport.goofish.com"));
    let form = &env.state()["forms"]["/newlogin/hasLogin.do"];
    assert_ne!(form["hsiz"], "", "{form}");
}

/// A gzip bomb (64 KiB on the wire, 64 MiB decoded) on hasLogin.do fails that step with
/// exit 6 and a message, instead of taking gigabytes of memory.
#[test]
fn a_gzip_bomb_is_refused_with_exit_6() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    let store = env.store();
    env.seed_account(
        &store,
        "2219000000001",
        "bombed",
        false,
        qrlogin::store::Status::Ok,
    );
    drop(store);
    let before = env.export_json("bombed");
    env.fault(
        "/newlogin/hasLogin.do",
        serde_json::json!({"type": "gzip_bomb", "mb": 64}),
        None,
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 1000000; exec {} refresh --jitter 0",
            assert_cmd::cargo::cargo_bin("qrlogin").display()
        ))
        .env("QRLOGIN_DB", env.location())
        .env("HOME", env.dir.path())
        .envs(env.sim_vars())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("larger than 2 MiB once decoded"),
        "{stderr}"
    );
    assert_eq!(
        env.export_json("bombed"),
        before,
        "a failed refresh never touches cookies"
    );
}

/// A stray `unb` on a deeper path during landing does not become the account's identity.
#[test]
fn a_stray_unb_cookie_does_not_decide_the_identity() {
    let env = Env::with_sim(Env::auto_phone(50, 50));
    env.fault(
        "/im",
        serde_json::json!({"type": "extra_cookie", "cookie": "unb=666; Path=/im/x"}),
        None,
    );
    let name = env.login(&[]);
    let list = env.list_json();
    assert_eq!(list[0]["unb"], "2219000000001", "{list:?}");
    let cookies = env.export_json(&name);
    assert!(
        !cookies.iter().any(|c| c["value"] == "666"),
        "the stray cookie was stored: {cookies:?}"
    );
}

/// A session that answers for another user is not this account's: loginuser.get's user
/// id is checked against the account's unb (the simulator is made to answer for user 42).
#[test]
fn a_session_of_another_user_is_not_this_account() {
    let env = Env::with_sim(qrlogin::sim::Scenario::default());
    let store = env.store();
    env.seed_account(
        &store,
        "2219000000001",
        "mine",
        false,
        qrlogin::store::Status::Ok,
    );
    drop(store);
    let before = env.export_json("mine");
    env.fault(
        "/h5/mtop.taobao.idlemessage.pc.loginuser.get/1.0/",
        serde_json::json!({"type": "body", "body": r#"{"api":"mtop.taobao.idlemessage.pc.loginuser.get","data":{"userId":42},"ret":["SUCCESS::调用成功"],"v":"1.0"}"#}),
        None,
    );
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0", "--json"])
        .output()
        .unwrap();
    let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["new_status"], "expired", "{report:?}");
    assert!(
        report[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("belongs to user 42"),
        "{report:?}"
    );
    assert_eq!(env.export_json("mine"), before, "cookies untouched");
}
