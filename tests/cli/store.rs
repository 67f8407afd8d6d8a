//! The store and the local commands (issue: list, show, delete, export, import).

use crate::support::{Env, mode, settings};
use predicates::prelude::*;
use qrlogin::store::Status;
use serde_json::{Value, json};
use std::io::{Read, Write};

const HEADER: &str = "unb=2219000000001; cookie2=c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2; tracknick=%E9%97%B2%E9%B1%BCabc; _m_h5_tk=0123456789abcdef0123456789abcdef_1790000000000; havana_lgc_exp=1790000000000";

#[test]
fn database_is_private_from_the_first_byte() {
    let env = Env::new().on_sqlite();
    env.import_header("shop-1", "unb=1; cookie2=x");
    assert_eq!(mode(&env.db()), 0o600);
    assert_eq!(mode(env.db().parent().unwrap()), 0o700);
}

#[test]
fn default_location_is_xdg_data_home() {
    let env = Env::new();
    let xdg = env.dir.path().join("xdg");
    let import = |cmd: &mut assert_cmd::Command| {
        cmd.env_remove("QRLOGIN_DB")
            .args(["import", "shop-1", "--from", "-"])
            .write_stdin("unb=1; cookie2=x")
            .assert()
            .success();
    };
    import(env.cmd().env("XDG_DATA_HOME", &xdg));
    assert!(xdg.join("qrlogin/accounts.db").is_file());
    import(&mut env.cmd());
    assert!(
        env.dir
            .path()
            .join(".local/share/qrlogin/accounts.db")
            .is_file()
    );
}

#[test]
fn list_and_show_never_print_values() {
    let env = Env::new();
    env.import_header("shop-1", HEADER);
    let table = env.stdout_of(&["list"]);
    let shown = env.stdout_of(&["show", "shop-1"]);
    let shown_json = env.stdout_of(&["show", "shop-1", "--json"]);
    let list_json = env.stdout_of(&["list", "--json"]);
    for out in [&table, &shown, &shown_json, &list_json] {
        assert!(!out.contains("c2c2c2c2"), "cookie value leaked: {out}");
        assert!(
            !out.contains("0123456789abcdef"),
            "cookie value leaked: {out}"
        );
    }
    settings(&env).bind(|| {
        insta::assert_snapshot!("list_table", table);
        insta::assert_snapshot!("show_text", shown);
    });
    let v: Vec<Value> = serde_json::from_str(&list_json).unwrap();
    assert_eq!(v[0]["name"], "shop-1");
    assert_eq!(v[0]["unb"], "2219000000001");
    assert_eq!(v[0]["nickname"], "闲鱼abc");
    assert_eq!(v[0]["status"], "unknown");
    assert!(v[0]["last_checked"].is_null() && v[0]["last_refreshed"].is_null());
    assert_eq!(v[0]["long_login_expires"], "2026-09-21T14:13:20Z");
    // By unb as well as by name.
    env.cmd().args(["show", "2219000000001"]).assert().success();
}

#[test]
fn unknown_account_exits_8_and_names_the_known_ones() {
    let env = Env::new().on_sqlite();
    // No database at all: said, and nothing is created.
    env.cmd()
        .args(["show", "nobody"])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("there is no account database at"));
    assert!(!env.db().parent().unwrap().exists());
    env.store();
    env.cmd()
        .args(["show", "nobody"])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("the store is empty"));
    env.import_header("shop-1", HEADER);
    for cmd in [
        vec!["show", "nobody"],
        vec!["export", "nobody"],
        vec!["delete", "--yes", "nobody"],
    ] {
        env.cmd()
            .args(&cmd)
            .assert()
            .code(8)
            .stderr("qrlogin: error: no account named `nobody` (accounts: shop-1)\n");
    }
}

#[test]
fn delete_refuses_without_a_terminal_and_wipes_values() {
    let env = Env::new().on_sqlite();
    env.import_header("shop-1", HEADER);
    env.import_header(
        "shop-2",
        &HEADER
            .replace("2219000000001", "2219000000002")
            .replace("c2c2", "d4d4"),
    );
    env.cmd()
        .args(["delete", "shop-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass --yes"));
    assert_eq!(env.list_json().len(), 2);
    // A typo in any name deletes nothing.
    env.cmd()
        .args(["delete", "--yes", "shop-1", "typo"])
        .assert()
        .code(8);
    assert_eq!(env.list_json().len(), 2);
    env.cmd()
        .args(["delete", "--yes", "shop-1"])
        .assert()
        .success();
    let left = env.list_json();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "shop-2");
    // No value of the deleted account is left in any file of the database.
    let dir = env.db().parent().unwrap().to_owned();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(8).any(|w| w == b"c2c2c2c2"),
            "deleted cookie value still on disk"
        );
    }
}

#[test]
fn export_header_and_json_read_back() {
    let env = Env::new();
    env.import_header("shop-1", HEADER);
    let header = env.stdout_of(&["export", "shop-1", "--format", "header"]);
    let parsed: Vec<(&str, &str)> = header
        .trim_end()
        .split("; ")
        .map(|p| p.split_once('=').unwrap())
        .collect();
    assert_eq!(parsed.len(), 5);
    assert!(parsed.contains(&("cookie2", "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2")));
    let json = env.export_json("shop-1");
    assert_eq!(json.len(), 5);
    for c in &json {
        for k in [
            "name",
            "value",
            "domain",
            "path",
            "expires",
            "secure",
            "http_only",
            "same_site",
        ] {
            assert!(c.get(k).is_some(), "missing {k} in {c}");
        }
    }
    assert_eq!(json[0]["domain"], ".goofish.com");
    // The JSON export imports back to the same cookies (same unb: the account is updated,
    // and takes the new name because --rename asks for it).
    let text = env.stdout_of(&["export", "shop-1", "--format", "json"]);
    env.cmd()
        .args([
            "import", "copy", "--rename", "--format", "json", "--from", "-",
        ])
        .write_stdin(text.clone())
        .assert()
        .success();
    assert_eq!(env.list_json().len(), 1);
    assert_eq!(env.stdout_of(&["export", "copy", "--format", "json"]), text);
}

#[test]
fn export_env_and_playwright() {
    let env = Env::new();
    env.import_header("shop-1", "unb=1; it=a'b");
    let line = env.stdout_of(&["export", "shop-1", "--format", "env"]);
    assert_eq!(line, "COOKIES_STR='unb=1; it=a'\\''b'\n");
    // The env line means the same thing to a shell.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{line}printf %s \"$COOKIES_STR\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unb=1; it=a'b");
    let pw: Value =
        serde_json::from_str(&env.stdout_of(&["export", "shop-1", "--format", "playwright"]))
            .unwrap();
    assert_eq!(pw["origins"], serde_json::json!([]));
    let c = &pw["cookies"][0];
    assert_eq!(c["domain"], ".goofish.com");
    assert_eq!(c["expires"], -1);
    assert_eq!(c["sameSite"], "Lax");
    assert!(c["httpOnly"].is_boolean() && c["secure"].is_boolean());
}

#[test]
fn export_output_file_is_private() {
    let env = Env::new();
    env.import_header("shop-1", HEADER);
    let out = env.dir.path().join("cookies.txt");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    env.cmd()
        .args(["export", "shop-1", "--format", "netscape", "--output"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    assert_eq!(mode(&out), 0o600);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("# Netscape HTTP Cookie File")
    );
}

/// The netscape export, loaded by `curl -b`, puts the right cookies on the wire.
#[test]
fn netscape_export_is_read_by_curl() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("curl is required for this test (.ci/run installs it)");
    }
    let env = Env::new();
    env.cmd()
        .args(["import", "shop-1", "--format", "json", "--from", "-"])
        .write_stdin(r#"[
          {"name":"unb","value":"2219000000001","domain":".goofish.com","path":"/","expires":null,"secure":false,"http_only":true},
          {"name":"only_im","value":"x","domain":".goofish.com","path":"/im","expires":4102444800,"secure":false,"http_only":false},
          {"name":"passport_only","value":"p","domain":"passport.goofish.com","path":"/","expires":null,"secure":false,"http_only":false},
          {"name":"secure_one","value":"s","domain":".goofish.com","path":"/","expires":null,"secure":true,"http_only":false}
        ]"#)
        .assert()
        .success();
    let file = env.dir.path().join("c.txt");
    env.cmd()
        .args(["export", "shop-1", "--format", "netscape", "-o"])
        .arg(&file)
        .assert()
        .success();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let status = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-b"])
        .arg(&file)
        .arg("--resolve")
        .arg(format!("www.goofish.com:{port}:127.0.0.1"))
        .arg(format!("http://www.goofish.com:{port}/im/chat"))
        .status()
        .unwrap();
    assert!(status.success());
    let request = server.join().unwrap();
    let cookie_line = request
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("cookie:"))
        .unwrap_or_default()
        .to_owned();
    assert!(cookie_line.contains("unb=2219000000001"), "{cookie_line}");
    assert!(cookie_line.contains("only_im=x"), "{cookie_line}");
    assert!(
        !cookie_line.contains("passport_only"),
        "host-only cookie sent to www: {cookie_line}"
    );
    assert!(
        !cookie_line.contains("secure_one"),
        "Secure cookie sent over http: {cookie_line}"
    );
}

#[test]
fn import_formats_and_their_errors() {
    let env = Env::new();
    let nets = "# Netscape HTTP Cookie File\n#HttpOnly_.goofish.com\tTRUE\t/\tFALSE\t0\tunb\t42\n.goofish.com\tTRUE\t/\tTRUE\t4102444800\tsgcookie\tE100x\n";
    env.cmd()
        .args(["import", "n", "--format", "netscape", "--from", "-"])
        .write_stdin(nets)
        .assert()
        .success()
        .stderr(predicate::str::contains("imported n (42) with 2 cookies"));
    let json = env.export_json("n");
    assert_eq!(json[0]["http_only"], true);
    assert_eq!(json[1]["secure"], true);
    assert_eq!(json[1]["expires"], 4102444800i64);
    env.cmd()
        .args(["import", "x", "--from", "-"])
        .write_stdin("t=1; cookie2=2")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("have no `unb`"));
    env.cmd()
        .args(["import", "x", "--format", "netscape", "--from", "-"])
        .write_stdin("# c\n.goofish.com\tTRUE\t/\n")
        .assert()
        .code(2)
        .stderr("qrlogin: error: cannot import standard input: line 2: expected 7 tab-separated fields, found 3\n");
    env.cmd()
        .args(["import", "x", "--format", "json", "--from", "-"])
        .write_stdin(r#"[{"name":"unb","value":"1"},{"name":"t","value":2}]"#)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cookie 2 (`t`): field `value` must be a string",
        ));
    env.cmd()
        .args(["import", "x", "--from"])
        .arg(env.dir.path().join("missing.txt"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read"));
    // Importing the same unb again under the same name updates it.
    env.cmd()
        .args(["import", "n", "--from", "-"])
        .write_stdin("unb=42; new=1")
        .assert()
        .success();
    assert_eq!(env.export_json("n").len(), 2);
    assert_eq!(env.list_json().len(), 1);
}

#[test]
fn import_xianyu_auto_reply_database() {
    let env = Env::new();
    let path = env.dir.path().join("xianyu_data.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE cookies (id TEXT PRIMARY KEY, value TEXT NOT NULL, user_id INTEGER, remark TEXT);
         INSERT INTO cookies VALUES ('shopA', 'unb=1001; cookie2=aa; tracknick=alice', 1, '');
         INSERT INTO cookies VALUES ('shopB', 'unb=1002; cookie2=bb', 1, '');
         INSERT INTO cookies VALUES ('broken', 'cookie2=cc', 1, '');",
    )
    .unwrap();
    drop(c);
    env.cmd()
        .arg("import")
        .arg("--xianyu-auto-reply-db")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("skipped account `broken`"))
        .stderr(predicate::str::contains("imported 2 of 3 accounts"));
    let names: Vec<String> = env
        .list_json()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["shopA", "shopB"]);
    let not_db = env.dir.path().join("nope.db");
    std::fs::write(&not_db, "hello").unwrap();
    env.cmd()
        .args(["import", "--xianyu-auto-reply-db"])
        .arg(&not_db)
        .assert()
        .code(2);
}

/// Accounts are saved 500 to a transaction; when the store refuses one of them, its batch
/// is saved again one by one, so only that account is skipped.
#[test]
fn an_account_the_store_refuses_is_skipped_and_the_rest_of_its_batch_kept() {
    let env = Env::new();
    let path = env.dir.path().join("xianyu_data.db");
    let mut c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE cookies (id TEXT PRIMARY KEY, value TEXT NOT NULL);")
        .unwrap();
    let tx = c.transaction().unwrap();
    for i in 0..1200 {
        tx.execute(
            "INSERT INTO cookies VALUES (?1, ?2)",
            [
                format!("acct-{i:04}"),
                format!("unb=22190{i:08}; cookie2=v{i}; _m_h5_tk=t{i}_1"),
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(c);
    drop(env.store()); // made, so that the trigger has a table
    let refused = "2219000000700";
    env.sql(&if env.pg.is_some() {
        format!(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.unb = '{refused}' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON accounts FOR EACH ROW \
               EXECUTE FUNCTION refuse();"
        )
    } else {
        format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON accounts WHEN NEW.unb = '{refused}' \
             BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;"
        )
    });
    env.cmd()
        .args(["import", "--xianyu-auto-reply-db"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("skipped account `acct-0700`"))
        .stderr(predicate::str::contains("imported 1199 of 1200 accounts"));
    let names: Vec<String> = env
        .list_json()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..1200)
        .filter(|i| *i != 700)
        .map(|i| format!("acct-{i:04}"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn six_concurrent_imports_all_land() {
    let env = Env::new();
    env.cmd().arg("list").assert().success();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"));
            c.env("QRLOGIN_DB", env.location())
                .env("HOME", env.dir.path())
                .args(["import", &format!("acct-{i}"), "--from", "-"])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("unb=30{i}; cookie2=v{i}").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in children {
        crate::support::succeeded(child);
    }
    assert_eq!(env.list_json().len(), 6);
}

#[test]
fn corrupt_and_future_databases_are_refused_untouched() {
    let env = Env::new().on_sqlite();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    std::fs::write(env.db(), vec![b'x'; 4096]).unwrap();
    env.cmd()
        .arg("list")
        .assert()
        .code(7)
        .stderr(predicate::str::contains("is not a qrlogin database"));
    assert_eq!(std::fs::read(env.db()).unwrap(), vec![b'x'; 4096]);

    std::fs::remove_file(env.db()).unwrap();
    let c = rusqlite::Connection::open(env.db()).unwrap();
    c.execute_batch("PRAGMA user_version = 99; CREATE TABLE t(x);")
        .unwrap();
    drop(c);
    let before = std::fs::read(env.db()).unwrap();
    env.cmd()
        .args(["import", "x", "--from", "-"])
        .write_stdin("unb=1")
        .assert()
        .code(7)
        .stderr(predicate::str::contains("schema version 99"));
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
}

#[test]
fn opens_a_database_from_every_earlier_schema_version() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("schema-v") && name.ends_with(".db")) {
            continue;
        }
        seen += 1;
        let env = Env::new().on_sqlite();
        std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
        std::fs::copy(&path, env.db()).unwrap();
        // Git checks fixtures out 0644; a store open to others is refused, as it should be.
        std::fs::set_permissions(
            env.db(),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let list = env.list_json();
        assert_eq!(list.len(), 1, "{name}");
        assert_eq!(list[0]["name"], "fixture-account", "{name}");
        // v3's fixture also has a long-login cookie (fixtures/README.md).
        let cookies = env.export_json("fixture-account");
        assert!(cookies.iter().any(|c| c["name"] == "cookie2"), "{name}");
        assert_eq!(
            cookies.len(),
            if name == "schema-v3.db" { 4 } else { 3 },
            "{name}"
        );
    }
    assert!(seen >= 1, "no schema fixtures found");
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    env.cmd()
        .args(["export", "x", "--format", "yaml"])
        .assert()
        .code(2);
    env.cmd().arg("frobnicate").assert().code(2);
    env.cmd()
        .args(["add-account", "--poll-interval=-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--poll-interval must be"));
}

#[test]
fn completions_are_printed() {
    let env = Env::new();
    let bash = env.stdout_of(&["completions", "bash"]);
    assert!(bash.contains("add-account") && bash.contains("_qrlogin"));
}

/// A second import of a stored unb keeps its name and status unless `--rename`; the
/// collision hint names the option import really has.
#[test]
fn reimport_keeps_the_name_and_status_unless_renamed() {
    let env = Env::new();
    env.import_header("shop-1", "unb=42; cookie2=first");
    // Give it a status history, as a refresh would.
    {
        let store = env.store();
        let a = store.get("shop-1").unwrap();
        assert!(store.try_lease(a.id, "t", 100, 0).unwrap().taken());
        // Refused, with the holder named in the same call (on either backend).
        assert_eq!(
            store.try_lease(a.id, "u", 100, 0).unwrap(),
            qrlogin::store::Lease::Held("t".into())
        );
        let rec = qrlogin::store::RefreshRecord {
            status: Status::Ok,
            checked_at: 50,
            refreshed: true,
            consecutive_failures: 0,
            next_attempt_at: None,
            cookies: None,
            long_login_refused: None,
        };
        assert!(store.record_refresh(&a, "t", &rec).unwrap().stored());
    }
    let out = env
        .cmd()
        .args(["import", "backup", "--from", "-"])
        .write_stdin("unb=42; cookie2=second")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("updated account shop-1 (42)")
            && stderr.contains("keeps its stored name shop-1, not `backup`")
            && stderr.contains("import backup --rename"),
        "{stderr}"
    );
    let list = env.list_json();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (&list[0]["name"], &list[0]["status"]),
        (&json!("shop-1"), &json!("ok"))
    );
    let exported = env.stdout_of(&["export", "shop-1", "--format", "header"]);
    assert!(exported.contains("cookie2=second"), "{exported}");
    // Asked for: renamed, and said so.
    env.cmd()
        .args(["import", "backup", "--rename", "--from", "-"])
        .write_stdin("unb=42; cookie2=third")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "updated account backup (42) with 2 cookies; renamed from shop-1",
        ));
    assert_eq!(env.list_json()[0]["name"], "backup");
    // Another account's name: refused with the way import chooses a name.
    env.cmd()
        .args(["import", "backup", "--from", "-"])
        .write_stdin("unb=43; cookie2=x")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the name `backup` already belongs to account 42; choose another NAME",
        ));
    // Deleted since it was listed: its lease is gone, not held, on either backend.
    let store = env.store();
    let a = store.get("backup").unwrap();
    store.delete(a.id).unwrap();
    assert_eq!(
        store.try_lease(a.id, "u", 100, 0).unwrap(),
        qrlogin::store::Lease::Gone
    );
}

/// Read-only commands on a mistyped `--db` create neither directories nor a database.
#[test]
fn read_only_commands_never_create_a_store() {
    let env = Env::new();
    let typo = env.dir.path().join("typo/dir/acc.db");
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["pending", "--json"],
    ] {
        let out = env
            .cmd()
            .env("QRLOGIN_DB", &typo)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no account database at"), "{stderr}");
        if args.contains(&"--json") {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
        }
    }
    for args in [
        vec!["show", "x"],
        vec!["export", "x"],
        vec!["delete", "--yes", "x"],
    ] {
        env.cmd()
            .env("QRLOGIN_DB", &typo)
            .args(&args)
            .assert()
            .code(8);
    }
    assert!(!env.dir.path().join("typo").exists());
}
