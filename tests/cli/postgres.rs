//! The PostgreSQL store (issue 11): bad URLs and servers as exit 7 with one line and no
//! password, `copy` between the backends, and many refresh processes ("hosts") sharing
//! one store. The rest of the suite runs on PostgreSQL too with
//! `QRLOGIN_TEST_STORE=postgres` (`.ci/run` does).

use crate::pg;
use crate::support::{Env, closed_port};
use qrlogin::sim::Scenario;
use qrlogin::store::Status;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Run `args` against the store at `url`: exit 7, one line on stderr, which is returned;
/// no password of the cluster's anywhere in the output.
fn fails_7(env: &Env, url: &str, args: &[&str]) -> String {
    let out = env
        .cmd()
        .env("QRLOGIN_DB", url)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains(&pg::cluster().password), "{all}");
    assert!(!all.contains("not-the-password"), "{all}");
    stderr
}

#[test]
fn unreachable_refused_missing_or_foreign_databases_are_exit_7_and_redacted() {
    let env = Env::new();
    let c = pg::cluster();
    let closed = closed_port();
    let e = fails_7(
        &env,
        &format!("postgres://qrlogin:not-the-password@127.0.0.1:{closed}/x?sslmode=disable"),
        &["list"],
    );
    assert!(
        e.contains("cannot connect to the account database postgres://qrlogin:***@127.0.0.1:"),
        "{e}"
    );
    let e = fails_7(
        &env,
        &format!(
            "postgresql://qrlogin:not-the-password@127.0.0.1:{}/postgres?sslmode=disable",
            c.port
        ),
        &["list"],
    );
    assert!(e.contains("password authentication failed"), "{e}");
    let missing = c.url("no_such_database");
    let e = fails_7(&env, &missing, &["show", "x"]);
    assert!(e.contains("\"no_such_database\" does not exist"), "{e}");
    // TLS asked for, a server without it.
    let e = fails_7(
        &env,
        &missing.replace("sslmode=disable", "sslmode=require"),
        &["list"],
    );
    assert!(e.to_lowercase().contains("tls"), "{e}");
    let e = fails_7(
        &env,
        &c.url("x").replace("sslmode=disable", "sslmode=sometimes"),
        &["list"],
    );
    assert!(e.contains("sslmode=sometimes is not one of"), "{e}");

    // Another program's tables, and a schema from a newer qrlogin: left as they are.
    let foreign = c.database();
    c.sql(&pg::db_name(&foreign), "CREATE TABLE accounts (x int)");
    let before = c.dump(&pg::db_name(&foreign));
    let e = fails_7(&env, &foreign, &["list"]);
    assert!(e.contains("is not a qrlogin store"), "{e}");
    assert_eq!(c.dump(&pg::db_name(&foreign)), before);
    let newer = Env::new().on_postgres();
    newer.import_header("keep", "unb=2219000000001; cookie2=keepthisvalue");
    let url = newer.pg.clone().unwrap();
    c.sql(
        &pg::db_name(&url),
        "UPDATE qrlogin_meta SET value = '99' WHERE key = 'schema_version'",
    );
    let before = newer.store_bytes();
    let e = fails_7(&newer, &url, &["list"]);
    assert!(
        e.contains("written by a newer qrlogin (schema version 99"),
        "{e}"
    );
    assert_eq!(newer.store_bytes(), before);

    // doctor says what failed, also without the password.
    let out = env
        .cmd()
        .env("QRLOGIN_DB", c.url("no_such_database"))
        .args(["doctor"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&c.password), "{text}");
    assert!(
        text.contains("FAIL  database") && text.contains("qrlogin:***@"),
        "{text}"
    );
}

/// Every export of every account in the store at `db`, by (account, format).
fn exports(env: &Env, db: &std::ffi::OsStr) -> BTreeMap<(String, String), String> {
    let list = env
        .cmd()
        .env("QRLOGIN_DB", db)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let list: Vec<Value> = serde_json::from_slice(&list.stdout).unwrap();
    let mut out = BTreeMap::new();
    for a in list {
        let name = a["name"].as_str().unwrap().to_owned();
        // Not header/env: they are for the site's host, and these cookies are for
        // .goofish.com while the simulator is on loopback.
        for format in ["json", "netscape", "playwright"] {
            let o = env
                .cmd()
                .env("QRLOGIN_DB", db)
                .args(["export", &name, "--format", format])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out.insert(
                (name.clone(), format.to_owned()),
                String::from_utf8(o.stdout).unwrap(),
            );
        }
    }
    out
}

#[test]
fn copy_sqlite_to_postgres_and_back_gives_identical_exports() {
    let env = Env::with_sim(Env::auto_phone(50, 50)).on_sqlite();
    env.login(&["--name", "phone"]);
    env.import_header(
        "shop-a",
        "unb=2219000000101; cookie2=aaaacookievalue; _tb_token_=tokenaaaa",
    );
    env.import_header("shop-b", "unb=2219000000102; cookie2=bbbbcookievalue");
    let pending = env.add_account(&["--no-wait", "--json"]).output().unwrap();
    assert!(pending.status.success());
    let before = exports(&env, &env.location());
    assert_eq!(before.len(), 9);

    let url = pg::cluster().database();
    let out = env.cmd().args(["copy", "--to", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("copied 3 account(s) with ") && stderr.contains(" and 1 pending login(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains(&pg::cluster().password), "{stderr}");
    assert!(stderr.contains("qrlogin:***@"), "{stderr}");
    // The planner has statistics for what was just loaded (without them, a fleet's first
    // refresh read each batch's cookies by scanning the whole table).
    let analyzed = pg::cluster().sql(
        &pg::db_name(&url),
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('accounts', 'cookie_sets') \
         AND last_analyze IS NOT NULL",
    );
    assert_eq!(analyzed.trim(), "2", "copy left the tables unanalyzed");

    // Again: every account is there already, so nothing is written (exit 2).
    let dump = pg::cluster().dump(&pg::db_name(&url));
    let again = env.cmd().args(["copy", "--to", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("already holds phone (") && stderr.contains("--replace"),
        "{stderr}"
    );
    assert_eq!(pg::cluster().dump(&pg::db_name(&url)), dump);
    let replaced = env
        .cmd()
        .args(["copy", "--to", &url, "--replace"])
        .output()
        .unwrap();
    assert!(replaced.status.success());

    // Back into a new SQLite file, from the PostgreSQL store.
    let back = env.dir.path().join("back/accounts.db");
    let out = env
        .cmd()
        .env("QRLOGIN_DB", &url)
        .args(["copy", "--to"])
        .arg(&back)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exports(&env, back.as_os_str()), before);
    assert_eq!(exports(&env, std::ffi::OsStr::new(&url)), before);
    let pend = env
        .cmd()
        .env("QRLOGIN_DB", &back)
        .args(["pending", "--json"])
        .output()
        .unwrap();
    let pend: Vec<Value> = serde_json::from_slice(&pend.stdout).unwrap();
    assert_eq!(pend.len(), 1);
}

/// Seed `n` never-refreshed accounts with long login.
fn seed(env: &Env, n: usize) {
    env.seed_many(n, "22193", |i| format!("f{i:05}"), true, Status::Ok);
}

/// `refresh --json` as if on host `host`.
/// A lease then lasts 4 × 1 s + 10 s: what a dead host's accounts wait.
fn refresh_on(env: &Env, host: &str, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["refresh", "--jitter", "0", "--concurrency", "16", "--json"];
    args.extend_from_slice(extra);
    env.spawn(&args)
        .env("QRLOGIN_HOST_ID", host)
        .env("QRLOGIN_HTTP_TIMEOUT", "1")
        .spawn()
        .unwrap()
}

fn renewals(env: &Env) -> BTreeMap<String, u64> {
    serde_json::from_value(env.state()["renewals"].clone()).unwrap()
}

#[test]
fn four_hosts_share_the_accounts_and_renew_each_exactly_once() {
    let env = Env::with_sim(Scenario {
        latency_ms: 5,
        ..Scenario::default()
    })
    .on_postgres();
    seed(&env, 2000);
    let mut children: Vec<_> = ["host-a", "host-b", "host-c"]
        .iter()
        .map(|h| refresh_on(&env, h, &[]))
        .collect();
    // host-d starts late, as a cron on a slower host does: it lists the accounts after the
    // others have renewed some, and must not renew those again.
    std::thread::sleep(std::time::Duration::from_millis(300));
    children.push(refresh_on(&env, "host-d", &[]));
    let mut renewed_by = Vec::new();
    for child in children {
        let out = crate::support::succeeded(child);
        let r: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        renewed_by.push(r.iter().filter(|x| x["skipped"].is_null()).count());
    }
    let counts = renewals(&env);
    assert_eq!(counts.len(), 2000);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert_eq!(renewed_by.iter().sum::<usize>(), 2000, "{renewed_by:?}");
    // The work was shared, not done by whichever process started first.
    assert!(
        renewed_by.iter().filter(|n| **n > 0).count() >= 2,
        "{renewed_by:?}"
    );
    assert!(
        env.list_json()
            .iter()
            .all(|a| a["status"] == "ok" && !a["last_refreshed"].is_null())
    );
}

#[test]
fn a_host_killed_mid_run_leaves_its_accounts_to_a_later_run_after_the_lease_expires() {
    let env = Env::with_sim(Scenario {
        latency_ms: 50,
        ..Scenario::default()
    })
    .on_postgres();
    seed(&env, 300);
    let interval = ["--min-interval", "1h"];
    // host-a starts alone and is well into its 300 accounts before the others start, so
    // it is killed mid-run, holding leases of accounts not yet renewed. (Started together
    // on a loaded machine, host-a could start so late that it only had the last few
    // accounts to do and finished them before the kill landed.)
    let mut killed = refresh_on(&env, "host-a", &interval);
    let db = crate::pg::db_name(env.pg.as_deref().unwrap());
    let held = || {
        crate::pg::cluster()
            .sql(
                &db,
                "SELECT count(*) FROM accounts WHERE lease_owner LIKE '%@host-a' \
                 AND last_refreshed IS NULL;",
            )
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    let started = std::time::Instant::now();
    while renewals(&env).len() < 30 || held() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "host-a never held a lease while the run was under way"
        );
        assert!(
            killed.try_wait().unwrap().is_none(),
            "host-a ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let others: Vec<_> = ["host-b", "host-c"]
        .iter()
        .map(|h| refresh_on(&env, h, &interval))
        .collect();
    assert!(
        killed.try_wait().unwrap().is_none(),
        "host-a ended before it was killed"
    );
    killed.kill().unwrap();
    killed.wait().unwrap();
    // What host-a held when it died stays leased to it: it had most of its accounts still
    // to do, so it held some; at most its 16 talking to the service, a batch of 4 being
    // recorded and two batches leased ahead.
    let frozen = held();
    assert!((1..=28).contains(&frozen), "host-a held {frozen} leases");
    for child in others {
        crate::support::succeeded(child);
    }
    // Still leased, to a process of another host: not taken over on a pid check, only
    // after the lease runs out.
    let left: Vec<Value> = env
        .list_json()
        .into_iter()
        .filter(|a| a["last_refreshed"].is_null())
        .collect();
    assert_eq!(left.len(), frozen, "host-a's in-flight accounts");
    let later = refresh_on(&env, "host-e", &["--min-interval", "1h", "--wait"]);
    let out = crate::support::succeeded(later);
    let r: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let renewed: Vec<&Value> = r.iter().filter(|x| x["skipped"].is_null()).collect();
    assert_eq!(renewed.len(), left.len(), "{r:?}");
    let counts = renewals(&env);
    assert_eq!(counts.len(), 300);
    // Once each, but for those host-a had asked about before it died (at most its 16
    // talking and a batch being recorded).
    let twice = counts.values().filter(|n| **n == 2).count();
    assert!(
        counts.values().all(|n| *n <= 2) && twice <= 20,
        "{counts:?}"
    );
    assert!(
        env.list_json()
            .iter()
            .all(|a| a["status"] == "ok" && !a["last_refreshed"].is_null())
    );
}

#[test]
fn copy_into_a_store_under_another_key_needs_that_key_and_reseals_with_it() {
    // Host A: a SQLite store under its own key. The fleet's store: PostgreSQL under key B.
    let a = Env::new().on_sqlite();
    a.import_header("from-a", "unb=2219000000201; cookie2=valuefromhosta");
    let fleet = Env::new().on_postgres();
    fleet.import_header("fleet", "unb=2219000000202; cookie2=valueofthefleet");
    let url = fleet.pg.clone().unwrap();
    // A lacks the fleet's key: refused before anything is written.
    let before = fleet.store_bytes();
    let out = a.cmd().args(["copy", "--to", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("not among the keys in use"), "{stderr}");
    assert_eq!(fleet.store_bytes(), before);
    // With the fleet's key imported (A's own is kept, retired), A's values move over and
    // are sealed with the fleet's key: the fleet's hosts read them with theirs alone.
    a.cmd()
        .args(["key", "import"])
        .write_stdin(fleet.stdout_of(&["key", "export"]))
        .assert()
        .success();
    a.cmd().args(["copy", "--to", &url]).assert().success();
    fleet
        .cmd()
        .args(["export", "from-a", "--format", "json"])
        .assert()
        .success()
        .stdout(predicates::str::contains("valuefromhosta"));
    assert!(
        !String::from_utf8_lossy(&fleet.store_bytes()).contains("valuefromhosta"),
        "a plain value in the dump"
    );
}

/// A store left at schema version 2 by an older qrlogin is brought to the latest by the
/// first command, in place: its accounts as they were, its tables with room on each page
/// for refresh updates (version 3), each account's cookies in one row (version 4).
#[test]
fn a_store_of_an_older_schema_is_migrated_with_its_accounts_kept() {
    let env = Env::with_sim(Env::auto_phone(50, 50)).on_postgres();
    env.import_header("keep", "unb=2219000000777; cookie2=keepthisvalue");
    // A login's cookies: every attribute (expiry, host-only, SameSite) in use.
    assert_eq!(env.login(&["--name", "login"]), "login");
    let before = (env.export_json("keep"), env.export_json("login"));
    assert!(before.1.len() > 10, "{:?}", before.1);
    let db = pg::db_name(env.pg.as_ref().unwrap());
    let c = pg::cluster();
    let options = "SELECT relname || ' ' || COALESCE(array_to_string(reloptions, ','), '-') \
         FROM pg_class WHERE relname IN ('accounts', 'cookies', 'cookie_sets') ORDER BY relname; \
         SELECT value FROM qrlogin_meta WHERE key = 'schema_version'";
    // Back to version 2: a row a cookie, in the order of the sets, and no page options.
    c.sql(
        &db,
        "CREATE TABLE cookies (seq BIGINT GENERATED ALWAYS AS IDENTITY, \
           account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE, \
           name TEXT NOT NULL, value TEXT NOT NULL, domain TEXT NOT NULL, \
           host_only BOOLEAN NOT NULL, path TEXT NOT NULL, expires BIGINT, \
           secure BOOLEAN NOT NULL, http_only BOOLEAN NOT NULL, same_site TEXT, key_id TEXT, \
           PRIMARY KEY (account_id, domain, host_only, path, name)); \
         CREATE INDEX cookies_key_id ON cookies (key_id); \
         INSERT INTO cookies (account_id, name, value, domain, host_only, path, expires, \
           secure, http_only, same_site, key_id) \
         SELECT s.account_id, e->>0, e->>1, e->>2, (e->>3)::bool, e->>4, (e->>5)::int8, \
           (e->>6)::bool, (e->>7)::bool, e->>8, e->>9 \
         FROM cookie_sets s, json_array_elements(s.cookies::json) WITH ORDINALITY AS t(e, n) \
         ORDER BY s.account_id, t.n; \
         DROP TABLE cookie_sets; ALTER TABLE accounts RESET (fillfactor); \
         UPDATE qrlogin_meta SET value = '2' WHERE key = 'schema_version'",
    );
    assert_eq!(c.sql(&db, options), "accounts -\ncookies -\n2\n");
    // A role that may read and write the rows but does not own the tables cannot migrate
    // them: one line, exit 7, nothing changed; the owner's first command does it.
    let role = format!("dml_{}", &db[2..10]);
    c.sql(
        &db,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'dml-pass-word'; GRANT SELECT, INSERT, \
             UPDATE, DELETE ON accounts, cookies, pending_logins, refresh_runs, qrlogin_meta \
             TO {role}"
        ),
    );
    let url = env.pg.clone().unwrap();
    let dml = url.replacen(
        &format!("qrlogin:{}@", c.password),
        &format!("{role}:dml-pass-word@"),
        1,
    );
    let e = fails_7(&env, &dml, &["list"]);
    assert!(!e.contains("dml-pass-word"), "{e}");
    assert!(e.contains("must be owner of table accounts"), "{e}");
    assert_eq!(c.sql(&db, options), "accounts -\ncookies -\n2\n");
    env.cmd()
        .args(["list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("keep"));
    assert_eq!(
        c.sql(&db, options),
        "accounts fillfactor=50\ncookie_sets fillfactor=50,toast_tuple_target=8160\n4\n"
    );
    assert_eq!((env.export_json("keep"), env.export_json("login")), before);
    // The key ids beside each set are the ones its values carry.
    let keys = c.sql(&db, "SELECT DISTINCT keys, plain FROM cookie_sets");
    let status: serde_json::Value =
        serde_json::from_str(&env.stdout_of(&["key", "status", "--json"])).unwrap();
    let id = keys.trim().trim_end_matches("|f");
    assert_eq!(status["current"], id, "{keys} {status}");
    let usage = &status["usage"][0];
    assert_eq!(usage["accounts"], 2, "{status}");
    assert_eq!(usage["values"], before.0.len() + before.1.len(), "{status}");
}

#[test]
fn doctor_shows_the_server_and_the_rights_a_user_lacks() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    env.import_header("shop", "unb=2219000000301; cookie2=doctorvalue1");
    let url = env.pg.clone().unwrap();
    let db = pg::db_name(&url);
    let c = pg::cluster();
    let role = format!("ro_{}", &db[2..10]);
    c.sql(
        &db,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'ro-pass-word'; \
             GRANT SELECT ON accounts, cookie_sets, pending_logins, qrlogin_meta TO {role}"
        ),
    );
    let ro = url.replacen(
        &format!("qrlogin:{}@", c.password),
        &format!("{role}:ro-pass-word@"),
        1,
    );
    let out = env
        .cmd()
        .env("QRLOGIN_DB", &ro)
        .args(["doctor"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(!text.contains("ro-pass-word"), "{text}");
    assert!(
        text.contains(&format!("as {role} on {db}, not encrypted"))
            && text.contains(&format!(
                "FAIL  database  {role} lacks rights qrlogin needs: accounts: DELETE, accounts: INSERT"
            )),
        "{text}"
    );
    // Reading works with those rights; a write says what failed, in one line.
    env.cmd()
        .env("QRLOGIN_DB", &ro)
        .args(["list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("shop"));
    let e = fails_7(&env, &ro, &["delete", "shop", "--yes"]);
    assert!(e.contains("permission denied for table"), "{e}");
}

/// Results written together on PostgreSQL: one account whose write fails (here a trigger
/// refuses it) fails alone, and the others beside it are stored.
#[test]
fn one_account_whose_write_fails_does_not_cost_the_others_theirs() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    seed(&env, 6);
    let url = env.location().into_string().unwrap();
    pg::cluster().sql(
        &pg::db_name(&url),
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
           IF NEW.name = 'f00000' AND NEW.revision <> OLD.revision THEN \
             RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    // All six renewals answer together, so their results reach the store as one group.
    env.fault(
        "/newlogin/silentHasLogin.do",
        json!({"type": "delay", "ms": 500}),
        Some(6),
    );
    let out = env
        .cmd()
        .args(["refresh", "--jitter", "0", "--concurrency", "16", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused by the test"), "{stderr}");
    assert!(!stderr.contains(&pg::cluster().password), "{stderr}");
    let listed = env.list_json();
    let stored = |name: &str| {
        listed
            .iter()
            .any(|a| a["name"] == name && !a["last_refreshed"].is_null())
    };
    assert!(!stored("f00000"), "{listed:?}");
    // f00001 was leased with f00000 (a batch is a quarter of `--concurrency`) and
    // answered with it: the same group.
    assert!(stored("f00001"), "{listed:?}");
}

/// A group of results never waits long on a row another writer holds: it gives up its
/// locks, and its accounts are written one by one, so the others are stored while that
/// one waits. Holding several rows while waiting, it could close a deadlock with an import
/// and get the import aborted. Nor does the held one, put aside to be tried again, hold
/// up a result that comes later.
/// Another session (as an import would) holds the accounts `which` selects locked for
/// `secs` seconds; returned once it holds them.
fn hold_rows(db: &str, which: &str, secs: u32) -> std::process::Child {
    let holder = pg::cluster().hold(
        db,
        &format!(
            "BEGIN; SELECT 1 FROM accounts WHERE {which} FOR UPDATE; \
             SELECT pg_sleep({secs}); COMMIT;"
        ),
    );
    while pg::cluster()
        .sql(
            db,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep({secs})%' \
             AND wait_event = 'PgSleep' AND datname = current_database()"
            ),
        )
        .trim()
        != "1"
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    holder
}

/// Wait until `seen()` is `want`, failing if `holder` lets its rows go first: what was
/// wanted must not have waited for them.
fn while_held(holder: &mut std::process::Child, seen: impl Fn() -> String, want: &str) {
    loop {
        let now = seen();
        if now == want {
            return;
        }
        assert!(
            holder.try_wait().unwrap().is_none(),
            "waited on a held row: {now:?}, not {want:?}, once it was let go"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_group_does_not_wait_on_a_row_another_writer_holds() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    seed(&env, 6);
    let url = env.location().into_string().unwrap();
    let db = pg::db_name(&url);
    let sql = |q: &str| pg::cluster().sql(&db, q).trim().to_owned();
    let stored = || {
        sql("SELECT string_agg(name, ',' ORDER BY name) FROM accounts \
             WHERE last_refreshed IS NOT NULL")
    };
    // Five renewals answer after 2.5 s, the sixth a second later: its result comes after
    // the others' group has found f00000's row held, in a group of its own.
    env.fault(
        "/newlogin/silentHasLogin.do",
        json!({"type": "delay", "ms": 2500}),
        Some(5),
    );
    env.fault(
        "/newlogin/silentHasLogin.do",
        json!({"type": "delay", "ms": 3500}),
        Some(1),
    );
    let running = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "16", "--json"])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while env.state()["hits"]["/newlogin/silentHasLogin.do"].as_u64() < Some(6) {
        assert!(started.elapsed() < Duration::from_secs(10), "never renewed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // All six are leased and renewing: another writer now holds f00000's row for 6 s.
    let mut holder = hold_rows(&db, "name = 'f00000'", 6);
    assert_eq!(
        stored(),
        "",
        "stored before the row was held: too slow a machine"
    );
    // The five others are stored while f00000's row is still held.
    while_held(&mut holder, stored, "f00001,f00002,f00003,f00004,f00005");
    crate::support::succeeded(running);
    holder.wait().unwrap();
    assert_eq!(stored(), "f00000,f00001,f00002,f00003,f00004,f00005");
}

#[test]
fn a_run_does_not_wait_on_a_row_another_writer_holds_before_it_leases() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    seed(&env, 12);
    let url = env.location().into_string().unwrap();
    let db = pg::db_name(&url);
    let sql = |q: &str| pg::cluster().sql(&db, q).trim().to_owned();
    let stored = || {
        sql(
            "SELECT count(*) FROM accounts WHERE last_refreshed IS NOT NULL \
             AND name NOT IN ('f00000', 'f00001')",
        )
    };
    // f00001 is leased by a process of this host that is gone: its lease is taken over
    // early, once its row is free.
    let dead = format!("{}-ab@here", i32::MAX - 1);
    sql(&format!(
        "UPDATE accounts SET lease_owner = '{dead}', lease_until = 99999999999 \
         WHERE name = 'f00001'"
    ));
    // Another writer holds both rows for 5 s before the run starts: its claims pass them
    // over, and leasing f00000 alone finds it busy, and so does taking over f00001's.
    let mut holder = hold_rows(&db, "name IN ('f00000', 'f00001')", 5);
    // A batch of one account at `--concurrency 2`: every other account's claim and result
    // goes through the store's one connection after the held ones' leases are asked, and
    // the two slots are the held accounts' until they give them back to wait.
    let running = env
        .spawn(&["refresh", "--jitter", "0", "--concurrency", "2", "--json"])
        .env("QRLOGIN_HOST_ID", "here")
        .spawn()
        .unwrap();
    while_held(&mut holder, stored, "10");
    // Once the rows are free, both are leased and refreshed too.
    let out = crate::support::succeeded(running);
    holder.wait().unwrap();
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["f00000", "f00001"] {
        let r = reports.iter().find(|r| r["name"] == name).unwrap();
        assert!(r["skipped"].is_null(), "{r}");
    }
    assert_eq!(
        sql("SELECT count(*) FROM accounts WHERE last_refreshed IS NOT NULL"),
        "12"
    );
}

/// An account whose values are partly plain text (as written before encryption) and
/// partly sealed: the key commands count its set value by value, and `key rotate` seals
/// the plain one.
#[test]
fn a_set_of_plain_and_sealed_values_is_counted_value_by_value() {
    let env = Env::new().on_sqlite();
    env.import_header(
        "mixed",
        "unb=2219000000555; cookie2=sealedvalue; t=plainvalue",
    );
    env.import_header("other", "unb=2219000000556; cookie2=othervalue");
    let url = pg::cluster().database();
    env.cmd().args(["copy", "--to", &url]).assert().success();
    // Its third cookie, t, in plain text.
    pg::cluster().sql(
        &pg::db_name(&url),
        "UPDATE cookie_sets SET plain = TRUE, cookies = jsonb_set(jsonb_set(cookies::jsonb, \
         '{2,1}', '\"plainvalue\"'), '{2,9}', 'null')::text \
         WHERE account_id = (SELECT id FROM accounts WHERE name = 'mixed')",
    );
    let on_pg = |args: &[&str]| env.stdout_of(&[&["--db", url.as_str()], args].concat());
    let usage = |status: &str| -> Vec<(Value, Value, Value)> {
        let v: Value = serde_json::from_str(status).unwrap();
        v["usage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["key_id"].clone(),
                    u["values"].clone(),
                    u["accounts"].clone(),
                )
            })
            .collect()
    };
    let status = on_pg(&["key", "status", "--json"]);
    let current: Value = serde_json::from_str::<Value>(&status).unwrap()["current"].clone();
    assert_eq!(
        usage(&status),
        [
            (Value::Null, json!(1), json!(1)),
            (current.clone(), json!(4), json!(2)),
        ],
        "{status}"
    );
    assert!(on_pg(&["export", "mixed", "--format", "header"]).contains("t=plainvalue"));
    on_pg(&["key", "rotate"]);
    let status = on_pg(&["key", "status", "--json"]);
    let current: Value = serde_json::from_str::<Value>(&status).unwrap()["current"].clone();
    assert_eq!(usage(&status), [(current, json!(5), json!(2))], "{status}");
    let header = on_pg(&["export", "mixed", "--format", "header"]);
    assert!(header.contains("t=plainvalue") && header.contains("cookie2=sealedvalue"));
}

/// Accounts another host holds live leases on are reported as being worked on without
/// being asked for: the claim would not be granted, and in a fleet's round asking anyway
/// was three of every four claims the server ran. A statement-level trigger counts every
/// UPDATE of `accounts`, a claim that changes no row included.
#[test]
fn a_run_does_not_ask_for_leases_another_host_holds() {
    let env = Env::with_sim(Scenario::default()).on_postgres();
    seed(&env, 4);
    let url = env.location().into_string().unwrap();
    let db = pg::db_name(&url);
    let sql = |q: &str| pg::cluster().sql(&db, q).trim().to_owned();
    sql(
        "UPDATE accounts SET lease_owner = '1-ab@elsewhere', lease_until = 99999999999 \
         WHERE name IN ('f00001', 'f00002')",
    );
    sql(
        "CREATE TABLE updates (n int); INSERT INTO updates VALUES (0); \
         CREATE FUNCTION counted() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN UPDATE updates SET n = n + 1; RETURN NULL; END $$; \
         CREATE TRIGGER counted AFTER UPDATE ON accounts \
         FOR EACH STATEMENT EXECUTE FUNCTION counted();",
    );
    let run = |names: &[&str]| -> Vec<Value> {
        let out = crate::support::succeeded(refresh_on(&env, "here", names));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let reports = run(&["f00001", "f00002"]);
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(
        reports.iter().all(|r| r["skipped"] == "leased"),
        "{reports:?}"
    );
    assert_eq!(
        sql("SELECT n FROM updates"),
        "0",
        "a held lease was asked for"
    );
    // The free ones are claimed (one statement) and recorded as usual.
    sql("UPDATE updates SET n = 0");
    let reports = run(&[]);
    let renewed: Vec<&str> = reports
        .iter()
        .filter(|r| r["skipped"].is_null())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(renewed, ["f00000", "f00003"], "{reports:?}");
    assert_ne!(sql("SELECT n FROM updates"), "0");
    assert_eq!(renewals(&env).len(), 2);
}
