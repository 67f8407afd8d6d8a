//! The benchmark report: drives the release `qrlogin` binary against the built-in simulator
//! and writes BENCHMARKS.md. Run through `bench/run.sh` from a clean checkout.
//!
//! Usage: bench QRLOGIN_BINARY OUTPUT.md [--quick]
//!        bench QRLOGIN_BINARY SECTION.md --encryption-ab UNSEALED_BINARY
//!        bench QRLOGIN_BINARY SECTION.md --scale ACCOUNTS [--fleet] [--hold]

#[path = "bench/ab.rs"]
mod ab;
#[path = "bench/fleet.rs"]
mod fleet;
/// The tests' throwaway PostgreSQL cluster, reused (only part of it is needed here).
#[allow(dead_code)]
#[path = "../tests/cli/pg.rs"]
mod pg;
#[path = "bench/scale.rs"]
mod scale;

use qrlogin::cookies::import;
use qrlogin::sim::{Scenario, Simulator};
use qrlogin::store::{NewAccount, Status, Store};
use qrlogin::vault::{self, KeySources, Keyring};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The simulator (this process) on the allocator `qrlogin simulate` uses: it shares the
/// machine with the clients it measures, and on glibc's malloc it spent a seventh of its
/// samples there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Ctx {
    bin: PathBuf,
    /// The encryption key the binary and the seeding share (`QRLOGIN_KEY_FILE`).
    key_file: PathBuf,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

/// Exit code, peak RSS (KiB) and CPU seconds (user + system) of a child started by
/// `Ctx::cmd`. The figures come from GNU time, not from our own wait4: a child spawned from
/// this (large) process counts the parent's memory in its `ru_maxrss` up to exec, `time`'s
/// own small fork does not.
fn wait_rss(child: &mut std::process::Child, rss_file: &Path) -> (i32, i64, f64) {
    let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
    let line = std::fs::read_to_string(rss_file)
        .ok()
        .and_then(|s| s.lines().last().map(str::to_owned))
        .unwrap_or_default();
    let mut f = line.split_whitespace();
    let kib = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let user: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let sys: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (code, kib, user + sys)
}

/// The mean latency the simulator served between two of its `served_latency` readings,
/// in ms.
fn served_ms(before: (u64, Duration), after: (u64, Duration)) -> f64 {
    let n = after.0.saturating_sub(before.0).max(1);
    after.1.saturating_sub(before.1).as_secs_f64() * 1000.0 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

impl Ctx {
    fn sim(&self, latency_ms: u64) -> Simulator {
        self.rt
            .block_on(Simulator::start(
                "127.0.0.1:0",
                Scenario {
                    latency_ms,
                    generate_per_minute: 10_000,
                    ..Scenario::default()
                },
            ))
            .expect("simulator")
    }

    fn rss_file(&self) -> PathBuf {
        self.dir.path().join("rss.txt")
    }

    /// `qrlogin` under `/usr/bin/time -f %M`, pointed at `sim` and `db`.
    fn cmd(&self, sim: &Simulator, db: &Path) -> Command {
        self.cmd_with_rss(sim, db.as_os_str(), &self.rss_file())
    }

    /// `cmd` with the store at `db` (a path or a URL) and `time`'s report in `rss`: for
    /// processes that run at once.
    fn cmd_with_rss(&self, sim: &Simulator, db: &std::ffi::OsStr, rss: &Path) -> Command {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(rss)
            .arg(&self.bin);
        let base = sim.base.as_str().trim_end_matches('/');
        c.env_clear()
            .env("QRLOGIN_DB", db)
            .env("QRLOGIN_KEY_FILE", &self.key_file)
            .env("QRLOGIN_PASSPORT_URL", base)
            .env("QRLOGIN_H5API_URL", base)
            .env("QRLOGIN_WWW_URL", base);
        c
    }

    fn ctl(&self, sim: &Simulator, path: &str, body: Value) -> Value {
        let url = format!("{}__sim/{path}", sim.base);
        self.rt.block_on(async {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("ctl")
                .json()
                .await
                .expect("json")
        })
    }

    /// One login: (ms from start to QR, ms from confirm to saved, peak RSS KiB).
    fn login_once(&self, sim: &Simulator, n: usize) -> (f64, f64, i64) {
        let db = self.dir.path().join(format!("login-{n}.db"));
        let start = Instant::now();
        let mut child = self
            .cmd(sim, &db)
            .args([
                "add-account",
                "--qr",
                "none",
                "--json",
                "--poll-interval",
                "0.8",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut to_qr = 0.0;
        let mut confirmed_at = None;
        let mut to_saved = 0.0;
        while let Some(Ok(line)) = lines.next() {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            match v["event"].as_str() {
                Some("qr") => {
                    to_qr = start.elapsed().as_secs_f64() * 1000.0;
                    let url = v["url"].as_str().unwrap_or_default();
                    let lg = url
                        .split("lgToken=")
                        .nth(1)
                        .unwrap_or("")
                        .split('&')
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    // The phone scans after a moment and confirms; the clock starts at the confirm.
                    std::thread::sleep(Duration::from_millis(300));
                    let tmp = self.ctl(sim, "phone/scan", json!({"lgToken": lg}))["tmpToken"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    std::thread::sleep(Duration::from_millis(200 + (n as u64 * 137) % 600));
                    self.ctl(
                        sim,
                        "phone/confirm",
                        json!({"lgToken": lg, "tmpToken": tmp}),
                    );
                    confirmed_at = Some(Instant::now());
                }
                Some("saved") => {
                    to_saved = confirmed_at
                        .map(|t| t.elapsed().as_secs_f64() * 1000.0)
                        .unwrap_or(f64::NAN);
                }
                _ => {}
            }
        }
        let (_, rss, _) = wait_rss(&mut child, &self.rss_file());
        (to_qr, to_saved, rss)
    }

    fn keys(&self) -> Keyring {
        let sources = KeySources {
            file: Some(self.key_file.clone()),
            ..KeySources::default()
        };
        vault::load(&sources).expect("key").expect("key file")
    }

    fn seed(&self, sim: &Simulator, db: &Path, n: usize) {
        let mut store =
            Store::open(&qrlogin::store::Location::Sqlite(db.to_owned())).expect("store");
        store.attach_keys(self.keys(), true).expect("key");
        let client = reqwest::Client::new();
        let url = format!("{}__sim/seed", sim.base);
        let mut batch = Vec::new();
        for i in 0..n {
            let unb = format!("23{:011}", i);
            let body = json!({"unb": unb, "nickname": format!("bench{i}")});
            let cookies: Value = self.rt.block_on(async {
                let resp = client.post(&url).json(&body).send().await.expect("seed");
                resp.json().await.expect("seed json")
            });
            let cookies = import::parse_json(&cookies.to_string()).expect("seed cookies");
            batch.push(NewAccount {
                unb,
                name: Some(format!("bench-{i:05}")),
                nickname: Some(format!("bench{i}")),
                cookies,
                proxy: None,
                user_agent: None,
                status: Status::Ok,
                refreshed: false,
                rename: false,
            });
            if batch.len() == 500 || i + 1 == n {
                let batches = std::iter::once(((), std::mem::take(&mut batch)));
                store
                    .save_batches(batches, qrlogin::time::now(), |(), _, saved| {
                        assert!(saved.iter().all(Result::is_ok), "an account not saved");
                        Ok::<(), qrlogin::store::StoreError>(())
                    })
                    .expect("save");
            }
        }
    }

    /// Wall ms, peak RSS KiB, exit code and CPU seconds of one run of `args`.
    fn timed(&self, sim: &Simulator, db: &Path, args: &[&str]) -> (f64, i64, i32, f64) {
        let start = Instant::now();
        let mut child = self
            .cmd(sim, db)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let (code, rss, cpu) = wait_rss(&mut child, &self.rss_file());
        (start.elapsed().as_secs_f64() * 1000.0, rss, code, cpu)
    }
}

/// Seconds to open and re-seal, as a refresh does, every cookie value of `accounts`
/// accounts shaped like the seeded ones.
fn crypto_seconds(ctx: &Ctx, db: &Path, accounts: usize) -> f64 {
    let keys = ctx.keys();
    let mut store = Store::open(&qrlogin::store::Location::Sqlite(db.to_owned())).expect("store");
    store.attach_keys(keys.clone(), false).expect("key");
    let sample = store.all_brief().expect("accounts");
    let account = store.get(&sample[0].name).expect("account");
    let sealed: Vec<(Vec<u8>, String, String)> = account
        .cookies
        .iter()
        .map(|c| {
            let aad = vault::cookie_aad(&account.unb, &c.name, &c.domain, c.host_only, &c.path);
            let (id, blob) = keys.seal(c.value.expose().as_bytes(), &aad);
            (aad, id, blob)
        })
        .collect();
    let start = Instant::now();
    for _ in 0..accounts {
        for (aad, id, blob) in &sealed {
            let plain = keys.open(id, blob, aad).expect("open");
            std::hint::black_box(keys.seal(plain.as_bytes(), aad));
        }
    }
    start.elapsed().as_secs_f64()
}

/// What the figures rest on; true of the code, whatever numbers a run produces.
const NOTES: &str = "## How the figures are reached\n\n\
- Time to QR: `mini_login.htm` and `generate.do` are the only requests on the path (2 round trips); \
the h5api token is fetched beside them (protocol.md §2.1), and one client reuses its connection.\n\
- Confirm to saved: at most one poll interval until query.do sees CONFIRMED, then the `/im` landing \
(one redirect hop: 2 round trips) and `setLoginSettings.do` run side by side, then one SQLite transaction.\n\
- Refresh: one shared connection pool and TLS set-up for all accounts (per proxy), at most \
`--concurrency` accounts in flight, and accounts leased and read a batch at a time (a quarter of \
`--concurrency`) only once there is room for them, so memory does not grow with the number of accounts. \
Each account is 3 round trips (renewal, `loginuser.get`, plus `setLoginSettings.do` when long login is off) \
and one short transaction, beside its share of its batch's lease.\n\
- RSS is measured by GNU time around the binary: a child spawned straight from the benchmark \
process would report the benchmark's own memory in `ru_maxrss` up to its exec.\n";

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench QRLOGIN_BINARY OUTPUT.md [--quick]");
        std::process::exit(2);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let ctx = Ctx {
        bin: PathBuf::from(&args[1]),
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
        key_file: PathBuf::new(),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let ctx = Ctx {
        key_file: ctx.dir.path().join("key"),
        ..ctx
    };
    // The key every run uses, made once (as the first `add-account` would).
    let key_file = ctx.key_file.clone();
    if let Err(e) = vault::load_or_create(&KeySources {
        default_file: Some(key_file),
        ..KeySources::default()
    }) {
        panic!("cannot make the benchmark's key: {e}");
    }
    let runs = if quick { 3 } else { 7 };
    let accounts = if quick { 1_000 } else { 10_000 };
    if let Some(k) = args.iter().position(|a| a == "--encryption-ab") {
        let unsealed = PathBuf::from(args.get(k + 1).expect("--encryption-ab UNSEALED_BINARY"));
        let mut ctx = ctx;
        ab::run(&mut ctx, &unsealed, accounts, Path::new(&args[2]));
        return;
    }
    if let Some(k) = args.iter().position(|a| a == "--scale") {
        let n = args.get(k + 1).and_then(|n| n.parse().ok());
        let n = n.expect("--scale ACCOUNTS");
        let hold = args.iter().any(|a| a == "--hold");
        let fleet = args.iter().any(|a| a == "--fleet");
        scale::run(&ctx, n, hold, fleet, Path::new(&args[2]));
        return;
    }
    let mut rows: Vec<String> = Vec::new();
    // `limit` is the target as a number in the value's unit; the report says whether it is met.
    let mut row =
        |what: &str, value: f64, unit: &str, limit: Option<f64>, target: &str, cmd: &str| {
            let shown = if value >= 100.0 || (unit == "ms" && value >= 10.0) {
                format!("{value:.0} {unit}")
            } else if value < 1.0 || unit == "ms" {
                format!("{value:.2} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
            eprintln!("{what}: {shown}");
            let met = match limit {
                Some(l) if value <= l => "yes",
                Some(_) => "**no**",
                None => "—",
            };
            rows.push(format!("| {what} | {shown} | {target} | {met} | `{cmd}` |"));
        };

    for latency in [0u64, 50] {
        let sim = ctx.sim(latency);
        let results: Vec<(f64, f64, i64)> = (0..runs)
            .map(|n| ctx.login_once(&sim, n + latency as usize))
            .collect();
        let qr = median(results.iter().map(|r| r.0).collect());
        let saved = median(results.iter().map(|r| r.1).collect());
        let rss = median(results.iter().map(|r| r.2 as f64).collect()) / 1024.0;
        let rtt = latency as f64;
        let cmd = format!("qrlogin add-account --qr none --json   # simulator --latency {latency}");
        let (qr_limit, saved_limit) = (2.0 * rtt + 30.0, 800.0 + 3.0 * rtt + 20.0);
        row(
            &format!("add-account: start → QR on screen, {latency} ms latency"),
            qr,
            "ms",
            Some(qr_limit),
            &format!("≤ {qr_limit:.0} ms (2 RT + 30 ms)"),
            &cmd,
        );
        row(
            &format!("add-account: phone confirm → account saved, {latency} ms latency"),
            saved,
            "ms",
            Some(saved_limit),
            &format!("≤ {saved_limit:.0} ms (0.8 s poll + 3 RT + 20 ms)"),
            &cmd,
        );
        row(
            &format!("add-account: peak RSS, {latency} ms latency"),
            rss,
            "MB",
            Some(20.0),
            "≤ 20 MB",
            &cmd,
        );
        ctx.rt.block_on(sim.shutdown());
    }

    let sim = ctx.sim(20);
    let db = ctx.dir.path().join("many.db");
    let seeded = Instant::now();
    ctx.seed(&sim, &db, accounts);
    eprintln!(
        "seeded {accounts} accounts in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let refresh: Vec<(f64, i64, i32, f64)> = (0..if quick { 1 } else { 3 })
        .map(|_| {
            ctx.timed(
                &sim,
                &db,
                &["refresh", "--concurrency", "64", "--jitter", "0", "--force"],
            )
        })
        .collect();
    let cmd = "qrlogin refresh --concurrency 64 --jitter 0 --force   # simulator --latency 20";
    assert!(
        refresh.iter().all(|r| r.2 == 0),
        "refresh failed: {refresh:?}"
    );
    let (limit_s, limit_mb) = if quick {
        (None, None)
    } else {
        (Some(15.0), Some(64.0))
    };
    row(
        &format!("refresh {accounts} accounts, 20 ms latency: wall"),
        median(refresh.iter().map(|r| r.0).collect()) / 1000.0,
        "s",
        limit_s,
        "≤ 15 s (10,000 accounts)",
        cmd,
    );
    row(
        &format!("refresh {accounts} accounts, 20 ms latency: peak RSS"),
        median(refresh.iter().map(|r| r.1 as f64).collect()) / 1024.0,
        "MB",
        limit_mb,
        "≤ 64 MB (10,000 accounts)",
        cmd,
    );
    let wall = median(refresh.iter().map(|r| r.0).collect()) / 1000.0;
    let floor = fleet::floor(accounts, 20, 64);
    row(
        &format!(
            "refresh {accounts} accounts on SQLite, one process: wall over the latency floor ({floor:.2} s)"
        ),
        wall / floor,
        "×",
        None,
        "≤ 1.25× (issue 11, at 100,000 accounts)",
        cmd,
    );
    row(
        &format!("refresh {accounts} accounts on SQLite: CPU per account"),
        median(refresh.iter().map(|r| r.3).collect()) * 1000.0 / accounts as f64,
        "ms",
        Some(0.25),
        "≤ 0.25 ms",
        cmd,
    );
    let f = fleet::run(&ctx, &sim, &db, accounts, 20);
    let fleet_cmd = "4 × qrlogin refresh --concurrency 64 --jitter 0 --force   # one PostgreSQL, QRLOGIN_HOST_ID=bench-host-N";
    row(
        &format!("copy {accounts} accounts SQLite → PostgreSQL"),
        f.copy_s,
        "s",
        None,
        "—",
        "qrlogin copy --to postgres://…",
    );
    row(
        &format!("refresh {accounts} accounts on PostgreSQL, 4 processes: wall"),
        f.wall_s,
        "s",
        None,
        "—",
        fleet_cmd,
    );
    row(
        &format!(
            "refresh {accounts} accounts on PostgreSQL, 4 processes: wall over the latency floor ({:.2} s)",
            f.floor_s
        ),
        f.wall_s / f.floor_s,
        "×",
        None,
        "≤ 1.25× (issue 11, at 100,000 accounts)",
        fleet_cmd,
    );
    row(
        &format!(
            "refresh {accounts} accounts on PostgreSQL, 4 processes: CPU per account (all four)"
        ),
        f.cpu_per_account_ms,
        "ms",
        Some(0.25),
        "≤ 0.25 ms",
        fleet_cmd,
    );
    row(
        &format!("refresh {accounts} accounts on PostgreSQL, 4 processes: peak RSS of one"),
        f.peak_rss_mb,
        "MB",
        Some(64.0),
        "≤ 64 MB",
        fleet_cmd,
    );
    // The cipher's own share of that refresh: each value opened once and sealed once, timed
    // here in one thread on the same cookies, against the refresh's own CPU time. This is
    // a lower bound of what encryption costs (bigger rows and the key checks are not in
    // it); the target (≤ 10 % more CPU than without encryption) is judged by running this
    // benchmark on the commit before encryption too (see "Encryption's cost" below).
    let cpu = median(refresh.iter().map(|r| r.3).collect());
    let crypto = crypto_seconds(&ctx, &db, accounts);
    row(
        &format!("refresh {accounts} accounts: CPU (user + system)"),
        cpu,
        "s",
        None,
        "—",
        cmd,
    );
    let share = 100.0 * crypto / (cpu - crypto).max(f64::MIN_POSITIVE);
    row(
        &format!(
            "the cipher's CPU in that refresh: every value of {accounts} accounts opened and sealed ({crypto:.2} s), over the rest"
        ),
        share,
        "%",
        None,
        "— (a lower bound of encryption's cost)",
        "examples/bench.rs: crypto_seconds",
    );
    let list: Vec<(f64, i64, i32, f64)> =
        (0..runs).map(|_| ctx.timed(&sim, &db, &["list"])).collect();
    row(
        &format!("list with {accounts} accounts: wall"),
        median(list.iter().map(|r| r.0).collect()),
        "ms",
        None,
        "—",
        "qrlogin list > /dev/null",
    );
    row(
        &format!("list with {accounts} accounts: peak RSS"),
        median(list.iter().map(|r| r.1 as f64).collect()) / 1024.0,
        "MB",
        None,
        "—",
        "qrlogin list > /dev/null",
    );
    let help: Vec<(f64, i64, i32, f64)> =
        (0..20).map(|_| ctx.timed(&sim, &db, &["--help"])).collect();
    row(
        "--help start-up: wall (includes /usr/bin/time)",
        median(help.iter().map(|r| r.0).collect()),
        "ms",
        None,
        "—",
        "qrlogin --help",
    );
    row(
        "--help start-up: peak RSS",
        median(help.iter().map(|r| r.1 as f64).collect()) / 1024.0,
        "MB",
        None,
        "—",
        "qrlogin --help",
    );
    let size = std::fs::metadata(&ctx.bin).map(|m| m.len()).unwrap_or(0);
    row(
        "release binary size",
        size as f64 / 1_048_576.0,
        "MB",
        None,
        "—",
        "ls -l target/release/qrlogin",
    );
    ctx.rt.block_on(sim.shutdown());

    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
    let report = format!(
        "# Benchmarks\n\nWritten by `bench/run.sh` ({}). Each figure is the median of {runs} runs (refresh: {}), on:\n\n\
- machine: {} cores,{cpu}, {} memory\n- {}\n- qrlogin {}, release build (`lto = \"thin\"`)\n- date: {}\n\n\
The simulator runs in the benchmark process on loopback and adds the stated latency to every \
response (one round trip = one latency). Peak RSS is the qrlogin process's maximum resident set size as GNU `time -f %M` reports it.\n\n\
| what | result | target | met | command |\n|---|---|---|---|---|\n{}\n\n{}",
        if quick {
            "quick mode: fewer runs and 1,000 accounts"
        } else {
            "full mode"
        },
        if quick { 1 } else { 3 },
        sh("nproc"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh("rustc --version"),
        env!("CARGO_PKG_VERSION"),
        sh("date -u +%Y-%m-%d"),
        rows.join("\n"),
        NOTES
    );
    std::fs::write(&args[2], report).expect("write report");
}
