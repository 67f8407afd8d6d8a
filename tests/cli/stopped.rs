//! Commands of many writes that stop part-way (the database server refuses or goes away):
//! the error says how far the command got, not that nothing was changed, and running it
//! again finishes it.

use crate::pg;
use crate::support::Env;
use qrlogin::sim::Scenario;
use qrlogin::store::Status;

/// The destination refuses accounts once it holds 500: the first batch of the copy is
/// committed, the second is not.
const REFUSE_AFTER_500: &str = "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
     $$ BEGIN IF (SELECT count(*) FROM accounts) >= 500 THEN \
     RAISE EXCEPTION 'the test refuses more accounts'; END IF; RETURN NEW; END $$; \
     CREATE TRIGGER refuse BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION refuse();";

#[test]
fn a_copy_stopped_part_way_says_how_far_it_got_and_replace_finishes_it() {
    let env = Env::with_sim(Scenario::default());
    env.seed_many(1200, "22195", |i| format!("c{i:05}"), true, Status::Ok);
    let url = pg::cluster().database();
    let db = pg::db_name(&url);
    // The destination's schema first, so the trigger has a table to go on.
    let made = env
        .cmd()
        .env("QRLOGIN_DB", &url)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(made.status.success());
    pg::cluster().sql(&db, REFUSE_AFTER_500);

    let out = env.cmd().args(["copy", "--to", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("qrlogin: error: copy to postgres://")
            && last.contains(":***@")
            && last.contains(" stopped after 500 of 1200 accounts, each whole (the same copy with --replace finishes it): ")
            && last.contains("the test refuses more accounts"),
        "{stderr}"
    );
    assert!(!stderr.contains("nothing was changed"), "{stderr}");
    assert!(!stderr.contains(&pg::cluster().password), "{stderr}");
    let there = || {
        pg::cluster()
            .sql(&db, "SELECT count(*) FROM accounts")
            .trim()
            .to_owned()
    };
    assert_eq!(there(), "500");

    // What the error says: the same copy with --replace finishes it.
    pg::cluster().sql(&db, "DROP TRIGGER refuse ON accounts;");
    let out = env
        .cmd()
        .args(["copy", "--to", &url, "--replace"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("copied 1200 account(s)"), "{stderr}");
    assert_eq!(there(), "1200");
    for name in ["c00000", "c00499", "c00500", "c01199"] {
        assert_eq!(
            export(&env, std::ffi::OsStr::new(&url), name),
            export(&env, &env.location(), name),
            "{name}"
        );
    }
}

#[test]
fn a_refresh_whose_database_connection_is_cut_says_how_far_it_got() {
    let env = Env::with_sim(Scenario {
        latency_ms: 50,
        ..Scenario::default()
    })
    .on_postgres();
    env.seed_many(300, "22196", |i| format!("r{i:05}"), true, Status::Ok);
    let child = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "4"])
        .spawn()
        .unwrap();
    // Well into the run (300 accounts take about 7.5 s at this latency), its session with
    // the server is ended, as a server restart or a failover would.
    let renewed = || {
        env.state()["renewals"]
            .as_object()
            .map_or(0, serde_json::Map::len)
    };
    let start = std::time::Instant::now();
    while renewed() < 20 {
        assert!(start.elapsed().as_secs() < 60, "the refresh did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let db = pg::db_name(env.pg.as_deref().unwrap());
    pg::cluster().sql(
        &db,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid();",
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let reported: usize = last
        .strip_prefix("qrlogin: error: refresh stopped after ")
        .and_then(|rest| rest.split_once(" of 300 accounts (the results reported are stored): "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(!stderr.contains("nothing was changed"), "{stderr}");
    assert!(reported < 300, "{stderr}");
    // What it reported is stored (in listing order: the first `reported` accounts).
    let refreshed = env
        .list_json()
        .iter()
        .filter(|a| !a["last_refreshed"].is_null())
        .count();
    assert!(refreshed >= reported, "{refreshed} < {reported}");
}

#[test]
fn an_import_whose_server_goes_away_stops_there_and_says_how_far_it_got() {
    let env = Env::new().on_postgres();
    let path = env.dir.path().join("xianyu_data.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE cookies (id TEXT PRIMARY KEY, value TEXT NOT NULL, user_id INTEGER, remark TEXT);",
    )
    .unwrap();
    for i in 0..1200 {
        c.execute(
            "INSERT INTO cookies VALUES (?1, ?2, 1, '')",
            (
                format!("x{i:05}"),
                format!("unb=22197{i:08}; cookie2=c{i:031}; _tb_token_=t{i:015}"),
            ),
        )
        .unwrap();
    }
    drop(c);
    // The server ends the importing session once the store holds 500 accounts, as a
    // restart or a failover would: the first batch (500) is in, the second is not.
    let db = end_session_when(
        &env,
        "INSERT ON accounts",
        "(SELECT count(*) FROM accounts) >= 500",
    );
    let import = || {
        env.cmd()
            .args(["import", "--xianyu-auto-reply-db"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = import();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Stopped at once (exit 7, the store's), not 700 accounts each skipped for the same
    // lost connection and exit 2 as if the file were at fault.
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(!stderr.contains("skipped account"), "{stderr}");
    assert_eq!(stderr.matches("imported x").count(), 500, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "qrlogin: error: import stopped after 500 of 1200 accounts (those reported imported are stored; importing the file again finishes it): the account database postgres://"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("nothing was changed"), "{stderr}");

    pg::cluster().sql(&db, "DROP TRIGGER cut ON accounts;");
    let out = import();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("imported 1200 of 1200 accounts"),
        "{stderr}"
    );
    assert_eq!(env.list_json().len(), 1200);
}

#[test]
fn a_key_rotation_stopped_part_way_says_how_far_it_got_and_finishes_when_run_again() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    env.seed_many(10, "22198", |i| format!("k{i:02}"), true, Status::Ok);
    let before: Vec<Vec<u8>> = (0..10)
        .map(|i| export(&env, &env.location(), &format!("k{i:02}")))
        .collect();
    // The server ends the rotating session once four accounts are under the new key.
    let db = end_session_when(
        &env,
        "INSERT OR UPDATE ON cookie_sets",
        "(SELECT count(*) FROM cookie_sets WHERE keys = NEW.keys \
         AND account_id <> NEW.account_id) >= 4",
    );
    let out = env.cmd().args(["key", "rotate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "qrlogin: error: key rotate stopped after re-encrypting 4 accounts with key "
        ) && last.contains(
            "(run `qrlogin key rotate` again to move the rest): the account database postgres://"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("nothing was changed"), "{stderr}");
    // Both keys open what they sealed meanwhile.
    let now: Vec<Vec<u8>> = (0..10)
        .map(|i| export(&env, &env.location(), &format!("k{i:02}")))
        .collect();
    assert_eq!(now, before);

    pg::cluster().sql(&db, "DROP TRIGGER cut ON cookie_sets;");
    let out = env.cmd().args(["key", "rotate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("values remain under older keys"),
        "{stderr}"
    );
    let keys = pg::cluster().sql(&db, "SELECT count(DISTINCT keys) FROM cookie_sets");
    assert_eq!(keys.trim(), "1");
    let after: Vec<Vec<u8>> = (0..10)
        .map(|i| export(&env, &env.location(), &format!("k{i:02}")))
        .collect();
    assert_eq!(after, before);
}

/// The store's schema made, then a trigger before `events` (`INSERT ON accounts`) that
/// ends the writing session with the server when `condition` holds, as a server restart or
/// a failover would at that moment; the database's name.
fn end_session_when(env: &Env, events: &str, condition: &str) -> String {
    let db = pg::db_name(env.pg.as_deref().unwrap());
    let made = env.cmd().args(["list", "--json"]).output().unwrap();
    assert!(made.status.success());
    pg::cluster().sql(
        &db,
        &format!(
            "CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF {condition} THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER cut BEFORE {events} FOR EACH ROW EXECUTE FUNCTION cut();"
        ),
    );
    db
}

/// `export NAME --format json` from the store at `db`.
fn export(env: &Env, db: &std::ffi::OsStr, name: &str) -> Vec<u8> {
    let o = env
        .cmd()
        .env("QRLOGIN_DB", db)
        .args(["export", name, "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn a_login_the_store_cannot_save_leaves_its_cookies_to_import_later() {
    let env = Env::with_sim(Env::auto_phone(50, 50)).on_postgres();
    // The server goes away just as the scanned login is being saved.
    let db = end_session_when(&env, "INSERT ON accounts", "true");
    let out = env.add_account(&["--name", "shop"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let file = last
        .split_once("succeeded but could not be saved; its cookies are in ")
        .and_then(|(_, rest)| {
            rest.split_once(
                " (owner-only): once the store works, `qrlogin import shop --format json --from ",
            )
        })
        .map(|(file, _)| std::path::PathBuf::from(file))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        last.contains("the account database postgres://"),
        "{stderr}"
    );
    assert!(!stderr.contains(&pg::cluster().password), "{stderr}");
    // In qrlogin's own directory (beside the key file), owner-only.
    assert_eq!(file.parent(), env.key_file().parent());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(env.list_json().is_empty());

    pg::cluster().sql(&db, "DROP TRIGGER cut ON accounts;");
    let imported = env
        .cmd()
        .args(["import", "shop", "--format", "json", "--from"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let list = env.list_json();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "shop");
    // The session the phone confirmed: its login cookies are there.
    let cookies: Vec<serde_json::Value> =
        serde_json::from_slice(&export(&env, &env.location(), "shop")).unwrap();
    for name in ["unb", "cookie2", "sgcookie"] {
        assert!(
            cookies.iter().any(|c| c["name"] == name),
            "{name}: {cookies:?}"
        );
    }
}
