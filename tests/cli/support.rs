//! The harness every integration test uses: a private temporary home and database, the
//! real `qrlogin` binary, and a simulator on a random loopback port that the test steers
//! through its documented control API.
//!
//! `QRLOGIN_TEST_TRANSPORT=tls` runs every test that uses `Env::with_sim` against the
//! simulator over HTTPS on the real hostnames (`.ci/run` runs the add-account, refresh,
//! renewal and doctor tests a second time that way); tests that need one transport ask for
//! it with `Env::with_sim_on`.

use assert_cmd::Command;
use qrlogin::cookies::import;
use qrlogin::sim::{Scenario, Simulator, Transport};
use qrlogin::store::{Location, NewAccount, Status, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database this test's store is in (`QRLOGIN_TEST_STORE=postgres`, or
    /// `postgres()`); `None`: the SQLite file `db()`.
    pub pg: Option<String>,
    pub rt: tokio::runtime::Runtime,
    pub sim: Option<Simulator>,
    /// One client for every control-API call: building a client per call (TLS roots
    /// included) made seeding 1,000 accounts take 40 s.
    http: reqwest::Client,
}

/// Like xh's test server: a test that makes the simulator see a path it does not serve,
/// or makes a handler panic, fails here even if its own assertions passed.
impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(sim) = &self.sim {
            let unexpected = sim.take_unexpected();
            assert!(
                unexpected.is_empty(),
                "the simulator saw what no test should cause: {unexpected:?}"
            );
        }
    }
}

impl Env {
    /// A temporary home with no simulator.
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            pg: crate::pg::wanted().then(|| crate::pg::cluster().database()),
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            sim: None,
            http: reqwest::Client::new(),
        }
    }

    /// A temporary home and a simulator with `scenario`, on the transport
    /// `QRLOGIN_TEST_TRANSPORT` names (plain HTTP unless it says `tls`).
    pub fn with_sim(scenario: Scenario) -> Env {
        let transport = match std::env::var("QRLOGIN_TEST_TRANSPORT").as_deref() {
            Ok("tls") => Transport::Tls,
            _ => Transport::Http,
        };
        Env::with_sim_on(scenario, transport)
    }

    /// A plain-HTTP simulator whatever `QRLOGIN_TEST_TRANSPORT` says: for tests of the
    /// simulator's own wire shapes, of host-only cookies, or of an HTTP proxy.
    pub fn with_plain_sim(scenario: Scenario) -> Env {
        Env::with_sim_on(scenario, Transport::Http)
    }

    /// A temporary home and a simulator with `scenario` on `transport`. Over TLS its CA is
    /// written to `ca_file()`, and the binary and the control-API client are pointed at the
    /// real hostnames with `--resolve`-style overrides.
    pub fn with_sim_on(scenario: Scenario, transport: Transport) -> Env {
        let mut env = Env::new();
        let sim = env
            .rt
            .block_on(Simulator::start_on("127.0.0.1:0", scenario, transport))
            .unwrap();
        if let Some(pem) = &sim.ca_pem {
            std::fs::write(env.ca_file(), pem).unwrap();
            let mut b = reqwest::Client::builder()
                .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).unwrap());
            for host in [
                "passport.goofish.com",
                "h5api.m.goofish.com",
                "www.goofish.com",
            ] {
                b = b.resolve(host, sim.addr);
            }
            env.http = b.build().unwrap();
        }
        env.sim = Some(sim);
        env
    }

    /// This test's store on SQLite whatever `QRLOGIN_TEST_STORE` says: for tests of the
    /// SQLite file itself (its bytes, modes, WAL, fixtures).
    pub fn on_sqlite(mut self) -> Env {
        self.pg = None;
        self
    }

    /// This test's store on a fresh PostgreSQL database of the test cluster.
    pub fn on_postgres(mut self) -> Env {
        self.pg = Some(crate::pg::cluster().database());
        self
    }

    /// The store as `--db` names it: the SQLite path, or the PostgreSQL URL.
    pub fn location(&self) -> std::ffi::OsString {
        match &self.pg {
            Some(url) => url.into(),
            None => self.db().into(),
        }
    }

    pub fn tls(&self) -> bool {
        self.sim.as_ref().is_some_and(|s| s.ca_pem.is_some())
    }

    /// Where a TLS simulator's CA certificate is written.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("sim-ca.pem")
    }

    /// The variables that point the binary at the simulator: its three URLs and, over
    /// TLS, the resolve entries and the CA.
    pub fn sim_vars(&self) -> Vec<(&'static str, String)> {
        let Some(sim) = &self.sim else {
            return Vec::new();
        };
        let url = |u: &url::Url| u.as_str().trim_end_matches('/').to_owned();
        let mut v = vec![
            ("QRLOGIN_PASSPORT_URL", url(&sim.hosts.passport)),
            ("QRLOGIN_H5API_URL", url(&sim.hosts.h5api)),
            ("QRLOGIN_WWW_URL", url(&sim.hosts.www)),
        ];
        if sim.ca_pem.is_some() {
            v.push(("QRLOGIN_RESOLVE", sim.resolve_entries().join(",")));
            v.push(("QRLOGIN_CA_FILE", self.ca_file().display().to_string()));
        }
        v
    }

    /// A phone that scans after `scan_ms` and confirms `confirm_ms` later.
    pub fn auto_phone(scan_ms: u64, confirm_ms: u64) -> Scenario {
        Scenario {
            auto_scan_after_ms: Some(scan_ms),
            auto_confirm_after_ms: Some(confirm_ms),
            ..Scenario::default()
        }
    }

    /// The default key file the binary uses with this home (`$HOME/.config/qrlogin/key`).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join(".config/qrlogin/key")
    }

    /// The store, opened by the library with the binary's key attached (made if none yet):
    /// for tests that seed accounts or read values directly.
    pub fn store(&self) -> Store {
        let mut store = Store::open(&Location::parse(Path::new(&self.location()))).unwrap();
        let sources = qrlogin::vault::KeySources {
            default_file: Some(self.key_file()),
            ..Default::default()
        };
        let ring = match qrlogin::vault::load_or_create(&sources).unwrap() {
            qrlogin::vault::Loaded::Found(r) | qrlogin::vault::Loaded::Created(r) => r,
        };
        store.attach_keys(ring, true).unwrap();
        store
    }

    /// Every cookie value of every account, as (account, name) → value.
    pub fn all_values(&self) -> std::collections::BTreeMap<(String, String), String> {
        self.store()
            .all()
            .unwrap()
            .into_iter()
            .flat_map(|a| {
                a.cookies.into_iter().map(move |c| {
                    (
                        (a.name.clone(), c.name.clone()),
                        c.value.expose().to_owned(),
                    )
                })
            })
            .collect()
    }

    /// Run SQL against the store directly, on either backend (for tests that tamper).
    pub fn sql(&self, sql: &str) {
        match &self.pg {
            Some(url) => {
                crate::pg::cluster().sql(&crate::pg::db_name(url), sql);
            }
            None => rusqlite::Connection::open(self.db())
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
        }
    }

    /// Everything the store holds, as bytes: the SQLite file, or a `pg_dump`. Equal
    /// before and after a command: the command wrote nothing.
    pub fn store_bytes(&self) -> Vec<u8> {
        match &self.pg {
            Some(url) => crate::pg::cluster().dump(&crate::pg::db_name(url)),
            None => std::fs::read(self.db()).unwrap(),
        }
    }

    /// The SQLite file (only the store when `pg` is `None`).
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data/accounts.db")
    }

    pub fn base(&self) -> String {
        self.sim
            .as_ref()
            .unwrap()
            .base
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The real binary with a private HOME and database, pointed at the simulator.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("qrlogin").unwrap();
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QRLOGIN_DB", self.location())
            .env("TMPDIR", self.dir.path())
            .timeout(std::time::Duration::from_secs(60));
        c.envs(self.sim_vars());
        c
    }

    /// `add-account` with fast polling and no QR drawing.
    pub fn add_account(&self, extra: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(["add-account", "--qr", "none", "--poll-interval", "0.05"])
            .args(extra);
        c
    }

    /// `add-account` drawing the QR as ASCII on stderr and writing it to `png`.
    pub fn add_account_ascii_png(&self, png: &Path) -> std::process::Output {
        self.cmd()
            .args([
                "add-account",
                "--qr",
                "ascii",
                "--poll-interval",
                "0.05",
                "--qr-png",
            ])
            .arg(png)
            .output()
            .unwrap()
    }

    /// The simulated phone scans QR `lg_token` (`latest` for the newest) and confirms;
    /// returns the confirmation's answer.
    pub fn phone_scan_and_confirm(&self, lg_token: &str) -> Value {
        let tmp = self.ctl("phone/scan", json!({"lgToken": lg_token}))["tmpToken"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ctl(
            "phone/confirm",
            json!({"lgToken": lg_token, "tmpToken": tmp}),
        )
    }

    /// POST to the simulator's control API.
    pub fn ctl(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/__sim/{path}", self.base());
        let http = self.http.clone();
        self.rt.block_on(async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            r.json().await.unwrap()
        })
    }

    pub fn state(&self) -> Value {
        let url = format!("{}/__sim/state", self.base());
        let http = self.http.clone();
        self.rt
            .block_on(async move { http.get(url).send().await.unwrap().json().await.unwrap() })
    }

    pub fn fault(&self, path: &str, kind: Value, count: Option<u32>) {
        self.ctl(
            "faults",
            json!([{"path": path, "kind": kind, "count": count}]),
        );
    }

    /// Log in one account through the binary; returns its name.
    pub fn login(&self, extra: &[&str]) -> String {
        let out = self
            .add_account(&[&["--json"], extra].concat())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "login failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let saved = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "saved")
            .unwrap();
        saved["name"].as_str().unwrap().to_owned()
    }

    /// Import an account from a header string.
    pub fn import_header(&self, name: &str, header: &str) {
        self.cmd()
            .args(["import", name, "--format", "header", "--from", "-"])
            .write_stdin(header)
            .assert()
            .success();
    }

    pub fn stdout_of(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn list_json(&self) -> Vec<Value> {
        serde_json::from_str(&self.stdout_of(&["list", "--json"])).unwrap()
    }

    pub fn export_json(&self, name: &str) -> Vec<Value> {
        serde_json::from_str(&self.stdout_of(&["export", name, "--format", "json"])).unwrap()
    }
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// insta filters for what varies between runs: ports, temp paths, times, hex tokens.
pub fn filters(env: &Env) -> Vec<(String, String)> {
    vec![
        (
            regex_escape(&env.dir.path().display().to_string()),
            "[TMP]".into(),
        ),
        (r"127\.0\.0\.1:\d+".into(), "127.0.0.1:[PORT]".into()),
        (r"goofish\.com:\d+".into(), "goofish.com:[PORT]".into()),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ".into(), "[TIME]".into()),
        (r"lgToken=[0-9a-f]+".into(), "lgToken=[TOKEN]".into()),
    ]
}

fn regex_escape(s: &str) -> String {
    regex::escape(s)
}

pub fn settings(env: &Env) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (re, rep) in filters(env) {
        s.add_filter(&re, rep);
    }
    s.set_prepend_module_to_snapshot(false);
    s
}

impl Env {
    /// Store an account the simulator has logged in (its server-side session is alive),
    /// straight through the library: many accounts in a moment, no phone needed.
    pub fn seed_account(
        &self,
        store: &Store,
        unb: &str,
        name: &str,
        long_login: bool,
        status: Status,
    ) {
        let cookies = self.ctl(
            "seed",
            json!({"unb": unb, "nickname": name, "long_login": long_login}),
        );
        let new = NewAccount {
            nickname: Some(name.to_owned()),
            ..NewAccount::from_cookies(
                import::parse_json(&cookies.to_string()).unwrap(),
                Some(name.to_owned()),
                status,
            )
        };
        store.save(&new, qrlogin::time::now()).unwrap();
    }

    /// `n` accounts as `seed_account` stores them, in one store session: unb
    /// `{unb_prefix}{i:08}`, named `name(i)`.
    pub fn seed_many(
        &self,
        n: usize,
        unb_prefix: &str,
        name: impl Fn(usize) -> String,
        long_login: bool,
        status: Status,
    ) {
        let store = self.store();
        for i in 0..n {
            let unb = format!("{unb_prefix}{i:08}");
            self.seed_account(&store, &unb, &name(i), long_login, status);
        }
    }

    /// The real binary pointed at the simulator, as a plain `std` command with piped
    /// output: for runs that overlap, are killed, or are steered while they run.
    pub fn spawn(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("qrlogin"));
        c.env("QRLOGIN_DB", self.location())
            .env("HOME", self.dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.envs(self.sim_vars());
        c
    }
}

/// The first `n` `export NAME=VALUE` lines a `qrlogin simulate` prints.
pub fn read_exports(out: std::process::ChildStdout, n: usize) -> Vec<(String, String)> {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(out).lines();
    (0..n)
        .map(|_| {
            let l = lines.next().unwrap().unwrap();
            let l = l.strip_prefix("export ").expect("shell export lines");
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait for a spawned `qrlogin` and insist that it succeeded (its stderr shown if not).
pub fn succeeded(child: std::process::Child) -> std::process::Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
