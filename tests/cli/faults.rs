//! The fault matrix: every HTTP step of add-account and refresh × every fault. Kept as
//! data, so a new fault or step is one line. Each cell asserts the exit code, a one-line
//! message naming the step, no panic, and an untouched store; the resulting table must
//! match the one in RELIABILITY.md (set QRLOGIN_UPDATE_RELIABILITY=1 to rewrite it).

use crate::support::Env;
use qrlogin::sim::{Scenario, Variant};
use qrlogin::store::Status;
use serde_json::Value;
use std::fmt::Write;

#[derive(Clone, Copy, PartialEq)]
enum Cmd {
    AddAccount,
    Refresh,
}

#[derive(Clone, Copy, PartialEq)]
enum Host {
    Passport,
    H5,
    Www,
}

struct Step {
    cmd: Cmd,
    /// Row label, and what the error message must name.
    name: &'static str,
    /// The simulator path the fault is injected into.
    path: &'static str,
    host: Host,
    /// An earlier step of this command uses the same host, so "connection refused" cannot
    /// reach this one.
    host_used_before: bool,
    /// Refresh: seed the account with long login on (silentHasLogin) or off (hasLogin).
    long_login: bool,
    variant: Variant,
}

const STEPS: &[Step] = &[
    Step {
        cmd: Cmd::AddAccount,
        name: "h5api token bootstrap",
        path: "idle.data.gw.v2.index.get",
        host: Host::H5,
        host_used_before: false,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "mini_login.htm",
        path: "mini_login.htm",
        host: Host::Passport,
        host_used_before: false,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "qrcode/generate.do",
        path: "generate.do",
        host: Host::Passport,
        host_used_before: true,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "qrcode/query.do",
        path: "query.do",
        host: Host::Passport,
        host_used_before: true,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "login_token/login.do",
        path: "login_token/login.do",
        host: Host::Passport,
        host_used_before: true,
        long_login: true,
        variant: Variant::Token,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "www /im landing",
        path: "/im",
        host: Host::Www,
        host_used_before: false,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::AddAccount,
        name: "setLoginSettings.do",
        path: "setLoginSettings.do",
        host: Host::Passport,
        host_used_before: true,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::Refresh,
        name: "silentHasLogin.do",
        path: "silentHasLogin.do",
        host: Host::Passport,
        host_used_before: false,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::Refresh,
        name: "hasLogin.do",
        path: "hasLogin.do",
        host: Host::Passport,
        host_used_before: false,
        long_login: false,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::Refresh,
        name: "mtop loginuser.get",
        path: "loginuser.get",
        host: Host::H5,
        host_used_before: false,
        long_login: true,
        variant: Variant::Plain,
    },
    Step {
        cmd: Cmd::Refresh,
        name: "setLoginSettings.do",
        path: "setLoginSettings.do",
        host: Host::Passport,
        host_used_before: true,
        long_login: false,
        variant: Variant::Plain,
    },
];

/// `None` is "connection refused": the step's host points at a closed port.
const FAULTS: &[(&str, Option<&str>)] = &[
    ("refused", None),
    ("timeout", Some(r#"{"type":"delay","ms":1500}"#)),
    ("reset", Some(r#"{"type":"reset"}"#)),
    ("500", Some(r#"{"type":"status","code":500}"#)),
    ("502", Some(r#"{"type":"status","code":502}"#)),
    ("429", Some(r#"{"type":"status","code":429}"#)),
    ("HTML page", Some(r#"{"type":"html_page"}"#)),
    ("truncated", Some(r#"{"type":"truncated"}"#)),
    ("empty", Some(r#"{"type":"empty"}"#)),
    ("bad gzip", Some(r#"{"type":"corrupt_gzip"}"#)),
    ("no field", Some(r#"{"type":"missing_field"}"#)),
    ("wrong type", Some(r#"{"type":"wrong_type"}"#)),
];

/// Run one cell; returns what goes in the table.
fn cell(step: &Step, fault: &(&str, Option<&str>)) -> String {
    if fault.1.is_none() && step.host_used_before {
        return "n/a".into();
    }
    let env = Env::with_sim(Scenario {
        variant: step.variant,
        ..Env::auto_phone(50, 50)
    });
    // An account is already stored: whatever happens, it must not be damaged.
    env.seed_account(
        &env.store(),
        "2219000000001",
        "existing",
        step.long_login,
        Status::Ok,
    );
    let db_before = env.store_bytes();
    let cookies_before = env.export_json("existing");
    let mut cmd = env.cmd();
    cmd.env("QRLOGIN_HTTP_TIMEOUT", "0.5");
    match fault.1 {
        Some(kind) => env.fault(
            step.path,
            serde_json::from_str::<Value>(kind).unwrap(),
            None,
        ),
        None => {
            let port = crate::support::closed_port();
            let var = match step.host {
                Host::Passport => "QRLOGIN_PASSPORT_URL",
                Host::H5 => "QRLOGIN_H5API_URL",
                Host::Www => "QRLOGIN_WWW_URL",
            };
            cmd.env(var, format!("http://127.0.0.1:{port}"));
        }
    }
    match step.cmd {
        Cmd::AddAccount => cmd.args([
            "add-account",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--timeout",
            "3",
        ]),
        Cmd::Refresh => cmd.args(["refresh", "--jitter", "0"]),
    };
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let label = format!("{} × {}", step.name, fault.0);
    assert!(!stderr.contains("panicked"), "{label}: panic: {stderr}");
    if code != 0 {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("qrlogin: error:") || l.contains("could not check"))
            .collect();
        assert_eq!(lines.len(), 1, "{label}: one error line expected: {stderr}");
        assert!(
            lines[0].contains(step.name),
            "{label}: the message must name the step: {stderr}"
        );
        match step.cmd {
            // A failed login writes nothing at all.
            Cmd::AddAccount => assert!(env.store_bytes() == db_before, "{label}: store changed"),
            // A failed refresh records the attempt but never touches a cookie.
            Cmd::Refresh => assert_eq!(
                env.export_json("existing"),
                cookies_before,
                "{label}: cookies changed"
            ),
        }
    }
    code.to_string()
}

#[test]
fn fault_matrix() {
    let mut table = String::from("| step | ");
    table.push_str(&FAULTS.iter().map(|f| f.0).collect::<Vec<_>>().join(" | "));
    table.push_str(" |\n|---|");
    table.push_str(&"---|".repeat(FAULTS.len()));
    table.push('\n');
    // Rows in parallel, four at a time: each cell has its own simulator and store.
    let rows: Vec<String> = std::thread::scope(|s| {
        let mut rows = Vec::new();
        for chunk in STEPS.chunks(4) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|step| {
                    s.spawn(move || {
                        let cmd = if step.cmd == Cmd::AddAccount {
                            "add-account"
                        } else {
                            "refresh"
                        };
                        let cells: Vec<String> = FAULTS.iter().map(|f| cell(step, f)).collect();
                        format!("| {cmd}: {} | {} |\n", step.name, cells.join(" | "))
                    })
                })
                .collect();
            rows.extend(handles.into_iter().map(|h| h.join().unwrap()));
        }
        rows
    });
    for r in rows {
        table.push_str(&r);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = ("<!-- fault-matrix:begin -->\n", "<!-- fault-matrix:end -->");
    if std::env::var_os("QRLOGIN_UPDATE_RELIABILITY").is_some() {
        let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) else {
            panic!("markers missing in RELIABILITY.md")
        };
        let mut new = String::new();
        write!(new, "{}{begin}{table}{}", &doc[..b], &doc[e..]).unwrap();
        std::fs::write(&path, new).unwrap();
        return;
    }
    assert!(
        doc.contains(&format!("{begin}{table}{end}")),
        "RELIABILITY.md is out of date; the matrix is now:\n{table}"
    );
}
