//! What a new operator hits in the first hour (issue 15): exit codes for ordinary
//! mistakes, messages that say what happened once and plainly, scripts that get what the
//! README promises.

use crate::support::Env;
use predicates::prelude::*;
use qrlogin::sim::Scenario;

#[test]
fn refresh_json_on_an_empty_store_is_an_empty_array() {
    let env = Env::with_sim(Scenario::default());
    env.store();
    env.cmd()
        .args(["refresh", "--json"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn bad_export_destinations_are_usage_errors_and_write_nothing() {
    let env = Env::new();
    env.import_header("shop-1", "unb=1; cookie2=secretvalue42");
    let dir = env.dir.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    for target in [dir.clone(), env.dir.path().join("nonexistent/dir/x.json")] {
        env.cmd()
            .args(["export", "shop-1", "-o"])
            .arg(&target)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("cannot write")
                    .and(predicate::str::contains("secretvalue42").not()),
            );
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // Not a regular file: refused, never replaced (as root, /dev/stdout would become a file).
    let link = env.dir.path().join("link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    env.cmd()
        .args(["export", "shop-1", "-o"])
        .arg(&link)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_full_stdout_is_exit_7_and_a_closed_pipe_is_not_an_error() {
    let env = Env::new();
    env.import_header("shop-1", "unb=1; cookie2=x");
    // Written at once (export) or streamed row by row (list): either way a failed write
    // is the exit code.
    for args in [
        &["export", "shop-1", "--format", "json"][..],
        &["list"],
        &["list", "--json"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"))
            .env("QRLOGIN_DB", env.location())
            .env("HOME", env.dir.path())
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
    }
    // `| head -c1`: the reader leaves early; that is fine.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"))
        .env("QRLOGIN_DB", env.location())
        .env("HOME", env.dir.path())
        .args(["export", "shop-1", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn simulate_on_a_busy_or_bogus_address_is_a_usage_error() {
    let env = Env::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    env.cmd()
        .args(["simulate", "--listen", &addr])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("cannot listen on {addr}")));
    env.cmd()
        .args(["simulate", "--listen", "bogus"])
        .assert()
        .code(2);
}

#[test]
fn messages_say_things_once_and_plainly() {
    let env = Env::with_sim(Scenario::default());
    // The cause once, not twice.
    let out = env
        .cmd()
        .args(["--db", "/proc/nope/x.db", "import", "a", "--from", "-"])
        .write_stdin("unb=1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    // Nobody scanned: said so.
    env.add_account(&["--timeout", "1"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "nobody scanned the QR code within 1 s",
        ));
    // Another program's database: no SQL in the message.
    let other = env.dir.path().join("other.db");
    let c = rusqlite::Connection::open(&other).unwrap();
    c.execute_batch("CREATE TABLE notes (x TEXT);").unwrap();
    drop(c);
    env.cmd()
        .args(["import", "--xianyu-auto-reply-db"])
        .arg(&other)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("not a xianyu-auto-reply database")
                .and(predicate::str::contains("SELECT").not()),
        );
    // doctor with stderr piped: no colour line contradicting the "not a terminal" one.
    let out = env
        .cmd()
        .env("TERM", "xterm")
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stderr is not a terminal"), "{text}");
    assert!(!text.contains("ok    terminal  colours"), "{text}");
    // --db is not offered where it does nothing.
    for cmd in ["simulate", "completions"] {
        env.cmd()
            .args([cmd, "--help"])
            .assert()
            .stdout(predicate::str::contains("--db").not());
    }
}

/// `export --format header|env` with nothing a browser would send: a reason and a
/// non-zero exit instead of an empty line.
#[test]
fn an_export_with_nothing_to_send_says_why() {
    let env = Env::new();
    env.import_header("shop-1", "unb=1; cookie2=x");
    for format in ["header", "env"] {
        env.cmd()
            .env("QRLOGIN_WWW_URL", "https://example.org")
            .args(["export", "shop-1", "--format", format])
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(
                "none of shop-1's cookies would be sent to https://example.org/ (QRLOGIN_WWW_URL): they are for .goofish.com (2)",
            ));
    }
    env.cmd()
        .args(["import", "old", "--format", "json", "--from", "-"])
        .write_stdin(r#"[{"name":"unb","value":"2","expires":1000}]"#)
        .assert()
        .success();
    env.cmd()
        .args(["export", "old"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("every cookie of old has expired"));
}

/// A mistyped name among many accounts suggests a few close ones instead of listing all.
#[test]
fn a_mistyped_name_suggests_close_ones() {
    let env = Env::new();
    for i in 1..=8 {
        env.import_header(&format!("shop-{i}"), &format!("unb={i}; cookie2=x"));
    }
    env.cmd()
        .args(["show", "shopp-3"])
        .assert()
        .code(8)
        .stderr(predicate::str::contains(
            "no account named `shopp-3` (did you mean shop-3",
        ))
        .stderr(predicate::str::contains(
            "8 accounts; `qrlogin list` shows them",
        ))
        .stderr(predicate::str::contains("shop-7").not());
}
