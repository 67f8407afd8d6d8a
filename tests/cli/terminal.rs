//! What only a terminal shows: delete's question, the spinner and the coloured QR. Each
//! runs the binary on a pseudo-terminal through util-linux `script`.

use crate::support::Env;
use std::io::Write;
use std::process::{Command, Stdio};

/// Run `qrlogin ARGS` on a pty with `input` typed at it; returns everything it printed.
fn on_pty(env: &Env, args: &str, input: &str) -> (Option<i32>, String) {
    let bin = assert_cmd::cargo::cargo_bin("qrlogin");
    let mut c = Command::new("script");
    c.args(["-qefc", &format!("{} {args}", bin.display()), "/dev/null"])
        .env("QRLOGIN_DB", env.location())
        .env("HOME", env.dir.path())
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.envs(env.sim_vars());
    let mut child = c
        .spawn()
        .expect("script (util-linux) is needed for terminal tests");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn delete_asks_on_a_terminal() {
    let env = Env::new();
    env.import_header("shop-1", "unb=1; cookie2=x");
    let (code, out) = on_pty(&env, "delete shop-1", "n\n");
    assert_eq!(
        code,
        Some(4),
        "declining deletes nothing and is not a success: {out}"
    );
    assert!(out.contains("Delete shop-1 (1, 2 cookies)? [y/N]"), "{out}");
    assert!(out.contains("nothing deleted"), "{out}");
    assert_eq!(env.list_json().len(), 1);
    let (code, out) = on_pty(&env, "delete shop-1", "y\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deleted shop-1 (1)"), "{out}");
    assert!(env.list_json().is_empty());
}

#[test]
fn spinner_and_coloured_qr_on_a_terminal() {
    let env = Env::with_sim(Env::auto_phone(600, 600));
    // The default, --qr auto: an ordinary terminal gets the unicode renderer, no probe.
    let (code, out) = on_pty(&env, "add-account --poll-interval 0.1", "");
    assert_eq!(code, Some(0), "{out}");
    // Explicit black on bright white for every cell, whatever the terminal theme.
    assert!(
        out.contains("\x1b[30;107m▀") || out.contains("\x1b[97;40m▀"),
        "{out}"
    );
    assert!(
        out.contains("s left"),
        "the spinner shows the time left: {out}"
    );
    assert!(out.contains("saved new account xy_demo_user"), "{out}");
}

#[test]
fn qr_image_through_viuer_on_a_plain_terminal() {
    let env = Env::with_sim(Env::auto_phone(600, 600));
    let (code, out) = on_pty(&env, "add-account --qr image --poll-interval 0.1", "");
    assert_eq!(code, Some(0), "{out}");
    // No image protocol announced: viuer draws blocks, without probing, one module per
    // cell and only pure black and white (a scaled QR turns grey and stops scanning).
    let colours: std::collections::BTreeSet<&str> = out
        .split("\x1b[")
        .filter_map(|s| s.strip_prefix("38;5;").or_else(|| s.strip_prefix("48;5;")))
        .filter_map(|s| s.split('m').next())
        .collect();
    assert!(!colours.is_empty(), "{out}");
    assert!(
        colours.iter().all(|c| *c == "16" || *c == "231"),
        "greys in the QR: {colours:?}"
    );
    assert!(
        !out.contains("\x1b[30;107m▀"),
        "fell back to the unicode renderer: {out}"
    );
    // The spinner is suspended while the image is drawn: its ticking thread never writes a
    // glyph into (or above) the image. The race is timing-dependent, so this checks the
    // whole image region rather than one moment.
    let first = out.find("\x1b[38;5;").unwrap_or(0);
    let last = out.rfind("\x1b[38;5;").unwrap_or(first);
    let line_start = out[..first].rfind(['\r', '\n']).map_or(0, |i| i + 1);
    assert!(
        !out[line_start..last]
            .chars()
            .any(|c| ('\u{2800}'..='\u{28FF}').contains(&c)),
        "a spinner glyph is drawn into the image"
    );
    assert!(out.contains("saved new account xy_demo_user"), "{out}");
}

/// `list` fits the terminal: at 80 and 120 columns no line is wider, and no box drawing.
#[test]
fn list_fits_the_terminal_width() {
    let env = Env::new();
    env.import_header(
        "a-rather-long-shop-name-1",
        "unb=2219000000001; tracknick=%E9%97%B2%E9%B1%BCabc; havana_lgc_exp=1790000000000",
    );
    let bin = assert_cmd::cargo::cargo_bin("qrlogin");
    for cols in [40, 80, 120] {
        let out = Command::new("script")
            .args([
                "-qefc",
                &format!("stty cols {cols} rows 24; {} list", bin.display()),
                "/dev/null",
            ])
            .env("QRLOGIN_DB", env.location())
            .env("HOME", env.dir.path())
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("NAME") && text.contains("STATUS"), "{text}");
        assert!(!text.contains('│') && !text.contains('─'), "{text}");
        for line in text.lines() {
            let width = unicode_width::UnicodeWidthStr::width(line.trim_end_matches('\r'));
            assert!(
                width <= cols,
                "{cols} columns, line of {width}: {line:?}\n{text}"
            );
        }
        if cols == 120 {
            assert!(text.contains("LONG LOGIN UNTIL"), "{text}");
        }
    }
}
