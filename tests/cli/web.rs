//! `add-account --web` (issue 14): the page's endpoints, tokens, headers and secrets
//! through HTTP, and the page itself in headless Chromium (playwright-core), with each QR
//! it shows decoded from a screenshot. Screenshots are kept under target/web-screenshots/.

use crate::support::Env;
use qrlogin::sim::{Scenario, Variant};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `add-account --web --json`, its events read as they come.
struct Login {
    child: Child,
    events: mpsc::Receiver<Value>,
    url: String,
}

impl Login {
    fn start(env: &Env, extra: &[&str]) -> Login {
        let mut args = vec![
            "add-account",
            "--json",
            "--qr",
            "none",
            "--poll-interval",
            "0.05",
            "--web",
        ];
        args.extend_from_slice(extra);
        let mut child = env.spawn(&args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut login = Login {
            child,
            events,
            url: String::new(),
        };
        login.url = login.next("web")["url"].as_str().unwrap().to_owned();
        login
    }

    /// The next event named `name` (others are skipped).
    fn next(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(v) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if v["event"] == name {
                return v;
            }
        }
        panic!("no `{name}` event");
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status.code(), err)
    }
}

thread_local! {
    /// Every header and body the page's server sent in this test thread, to search for
    /// secrets at the end.
    static SEEN: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn record(headers: &reqwest::header::HeaderMap, body: &str) {
    SEEN.with(|s| {
        let mut s = s.borrow_mut();
        for (k, v) in headers {
            s.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        s.push_str(body);
    });
}

fn get(env: &Env, url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let url = url.to_owned();
    let (status, headers, body) = env.rt.block_on(async move {
        let r = reqwest::Client::new().get(&url).send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, r.text().await.unwrap_or_default())
    });
    record(&headers, &body);
    (status, headers, body)
}

fn status(env: &Env, login: &Login) -> Value {
    serde_json::from_str(&get(env, &format!("{}status", login.url)).2).unwrap()
}

fn wait_for_state(env: &Env, login: &Login, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(env, login);
        if s["state"] == state {
            return s;
        }
        assert!(Instant::now() < deadline, "never reached {state}: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_page_its_tokens_headers_and_secrets() {
    let env = Env::with_plain_sim(Scenario::default());
    let mut login = Login::start(&env, &["--web-grace", "30", "--name", "shop"]);
    login.next("qr");
    assert!(login.url.starts_with("http://127.0.0.1:"), "{}", login.url);
    let token = login
        .url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 32, "128 bits of hex");
    let (code, headers, page) = get(&env, &login.url);
    assert_eq!(code, 200);
    for (h, want) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(headers[h], want, "{h}");
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'nonce-"),
        "{csp}"
    );
    assert!(
        page.contains("<script nonce=\""),
        "inline script under the nonce"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external asset"
    );
    let s = wait_for_state(&env, &login, "waiting");
    assert!(s["qr_svg"].as_str().unwrap().contains("<svg"), "{s}");
    assert_eq!(s["qr_kind"], "login");
    assert_eq!(s["account"], "shop");
    // Server-Sent Events: the status now, as an event.
    let events_url = format!("{}events", login.url);
    let first = env.rt.block_on(async move {
        let mut r = reqwest::Client::new()
            .get(&events_url)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let chunk = String::from_utf8_lossy(&r.chunk().await.unwrap().unwrap()).into_owned();
        record(r.headers(), &chunk);
        chunk
    });
    assert!(first.starts_with("event: status\ndata: {"), "{first}");
    // Anything without the token: a bare 404; guessing on: 429.
    let base = login.url.trim_end_matches(&format!("{token}/")).to_owned();
    let wrong = format!("{base}{}/", "0".repeat(32));
    for url in [
        base.clone(),
        wrong.clone(),
        format!("{wrong}status"),
        format!("{base}{token}"),
        format!("{}nope", login.url),
    ] {
        let (code, headers, body) = get(&env, &url);
        assert_eq!((code, body.as_str()), (404, ""), "{url}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    let codes: Vec<u16> = (0..25).map(|_| get(&env, &wrong).0).collect();
    assert_eq!(codes.last(), Some(&429), "{codes:?}");
    // The phone: each step reaches the page.
    env.phone_scan_and_confirm("latest");
    let saved = login.next("saved");
    let s = wait_for_state(&env, &login, "saved");
    assert_eq!(s["saved_name"], saved["name"]);
    assert_eq!(s["saved_unb"], "2219000000001");
    assert_eq!(s["done"], true);
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("login page for the phone holder"),
        "{stderr}"
    );
    // Once it has ended, the page is gone.
    let url = format!("{}status", base.clone() + &token + "/");
    let gone = env
        .rt
        .block_on(async move { reqwest::get(&url).await.map(|r| r.status().as_u16()) });
    assert!(matches!(gone, Err(_) | Ok(404)), "{gone:?}");
    // No cookie value in any header or body the page's server sent (the unb and nickname
    // are the account's identity, shown on purpose).
    let seen = SEEN.with(|s| s.borrow().clone());
    assert!(
        seen.contains("\"state\":\"saved\""),
        "the final status was searched too"
    );
    let a = &env.list_json()[0];
    let identity = [&a["unb"], &a["nickname"], &a["name"]];
    for c in env.export_json("shop") {
        let v = c["value"].as_str().unwrap();
        if v.len() >= 8 && !identity.iter().any(|i| *i == v) {
            assert!(!seen.contains(v), "cookie {} on the page", c["name"]);
        }
    }
}

#[test]
fn the_page_reports_a_cancel_and_the_exit_code_is_unchanged() {
    let env = Env::with_plain_sim(Scenario {
        auto_cancel: true,
        ..Env::auto_phone(100, 100)
    });
    let started = Instant::now();
    // On every address: asked for explicitly, and warned about.
    let login = Login::start(&env, &["0.0.0.0:0", "--web-grace", "1"]);
    assert!(!login.url.contains("0.0.0.0"), "{}", login.url);
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("not loopback: anyone who has the link can see the QR code"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_login_kept_in_a_file_tells_the_phone_holder_not_to_scan_again() {
    let env = Env::with_plain_sim(Env::auto_phone(100, 100));
    assert_eq!(env.login(&["--name", "shop"]), "shop");
    // The next phone is another account's, and `--name shop` is taken: the login is
    // refused but kept in a file for the operator.
    env.ctl(
        "scenario",
        json!({"unb": "2219000000077", "nickname": "other"}),
    );
    let login = Login::start(&env, &["127.0.0.1:0", "--web-grace", "2", "--name", "shop"]);
    let s = wait_for_state(&env, &login, "unsaved");
    assert_eq!(s["title"], "Scanned and confirmed, not saved yet", "{s}");
    assert_eq!(
        s["hint"], "You do not need to scan again: the operator has this login and saves it.",
        "{s}"
    );
    // The operator's file and commands are not the phone holder's business.
    let text = s.to_string();
    assert!(
        !text.contains("unsaved-login") && !text.contains("import"),
        "{s}"
    );
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("this login was not saved; its cookies are in "),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// The page in a real browser.

struct Browser {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Browser {
    fn start() -> Browser {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let core = std::env::var_os("QRLOGIN_PLAYWRIGHT_CORE")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/web-driver/node_modules/playwright-core"));
        assert!(
            core.exists() && Path::new("/usr/bin/chromium").exists(),
            "the browser test needs Debian's chromium and playwright-core in {} (.ci/run installs both)",
            core.display()
        );
        let mut child = std::process::Command::new("node")
            .arg(root.join("tests/web/driver.mjs"))
            .env("PLAYWRIGHT_CORE", &core)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the browser test");
        let out = BufReader::new(child.stdout.take().unwrap());
        Browser { child, out }
    }

    fn send(&mut self, cmd: Value) -> Value {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("driver: {line}"));
        assert_eq!(v["ok"], true, "{cmd} → {v}");
        v
    }

    fn state(&mut self, state: &str) -> Value {
        self.send(json!({"cmd": "state", "state": state, "ms": 15000}))
    }

    /// The QR the page shows now, decoded from a screenshot of it.
    fn qr(&mut self, shot: &Path) -> String {
        self.send(json!({"cmd": "qr", "path": shot}));
        decode(shot)
    }

    fn shot(&mut self, name: &str) {
        self.send(json!({"cmd": "shot", "path": shots().join(name)}));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn decode(png: &Path) -> String {
    let img = image::open(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in {}", png.display());
    grids[0].decode().unwrap().1
}

#[test]
fn the_page_in_a_real_browser_follows_the_login() {
    let mut browser = Browser::start();
    let env = Env::with_plain_sim(Scenario::default());
    let mut login = Login::start(&env, &["--web-grace", "5", "--name", "shop"]);
    let first = login.next("qr")["url"].as_str().unwrap().to_owned();
    browser.send(json!({"cmd": "open", "url": login.url}));
    browser.state("waiting");
    assert_eq!(browser.qr(&shots().join("qr-1.png")), first);
    browser.shot("1-waiting.png");
    // The code expires: the page shows the new one without a reload.
    env.ctl("phone/expire", json!({"lgToken": "latest"}));
    let second = login.next("qr")["url"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.qr(&shots().join("qr-2.png")) != second {
        assert!(Instant::now() < deadline, "the page kept the expired code");
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.shot("2-new-code.png");
    let tmp = env.ctl("phone/scan", json!({"lgToken": "latest"}))["tmpToken"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.state("scanned");
    browser.shot("3-scanned.png");
    env.ctl(
        "phone/confirm",
        json!({"lgToken": "latest", "tmpToken": tmp}),
    );
    let saved = browser.state("saved");
    assert!(
        saved["account"]
            .as_str()
            .unwrap()
            .contains("(2219000000001)"),
        "{saved}"
    );
    browser.shot("4-saved.png");
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_page_in_a_real_browser_shows_the_verification_code_by_polling() {
    let mut browser = Browser::start();
    let env = Env::with_plain_sim(Scenario {
        variant: Variant::Verify,
        ..Env::auto_phone(300, 100)
    });
    let mut login = Login::start(&env, &["--web-grace", "5"]);
    // `?poll`: the page's fallback for browsers without Server-Sent Events.
    browser.send(json!({"cmd": "open", "url": format!("{}?poll", login.url)}));
    let text = login.next("verification_qr")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = browser.state("verification");
    assert_eq!(v["kind"], "verification");
    assert_eq!(browser.qr(&shots().join("qr-verification.png")), text);
    browser.shot("5-verification.png");
    let htoken = text
        .split("htoken=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    env.ctl("phone/verify", json!({"htoken": htoken}));
    browser.state("saved");
    browser.shot("6-verified-and-saved.png");
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_page_in_a_real_browser_says_a_kept_login_need_not_be_scanned_again() {
    let mut browser = Browser::start();
    let env = Env::with_plain_sim(Env::auto_phone(300, 100));
    assert_eq!(env.login(&["--name", "shop"]), "shop");
    env.ctl(
        "scenario",
        json!({"unb": "2219000000077", "nickname": "other"}),
    );
    let login = Login::start(&env, &["--web-grace", "5", "--name", "shop"]);
    browser.send(json!({"cmd": "open", "url": login.url}));
    let kept = browser.state("unsaved");
    assert_eq!(
        kept["title"], "Scanned and confirmed, not saved yet",
        "{kept}"
    );
    browser.shot("7-kept-not-saved.png");
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn a_pending_login_gets_its_page_and_hooks_get_its_url() {
    let env = Env::with_plain_sim(Scenario::default());
    let id = env
        .stdout_of(&["add-account", "--no-wait", "--qr", "none"])
        .trim()
        .to_owned();
    let hook_out = env.dir.path().join("hook.txt");
    let hook = format!(
        "printf '%s %s\\n' \"$QRLOGIN_QR_KIND\" \"$QRLOGIN_WEB_URL\" >> {}",
        hook_out.display()
    );
    let mut login = Login::start(
        &env,
        &["--web-grace", "5", "--resume", &id, "--on-qr", &hook],
    );
    let shown = login.next("qr")["url"].as_str().unwrap().to_owned();
    let s = wait_for_state(&env, &login, "waiting");
    assert!(s["qr_svg"].as_str().unwrap().contains("<svg"));
    env.phone_scan_and_confirm("latest");
    wait_for_state(&env, &login, "saved");
    let url = login.url.clone();
    let (code, stderr) = login.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(shown.contains("qrcodeCheck.htm?lgToken="), "{shown}");
    let hooked = std::fs::read_to_string(&hook_out).unwrap();
    assert_eq!(hooked, format!("login {url}\n"));
}
