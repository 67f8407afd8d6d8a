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
    assert!(!env.db().exists() || env.list_json().is_empty());
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
