//! The fleet benchmark: the 10,000 accounts of the SQLite benchmark copied into a throwaway
//! PostgreSQL cluster (the tests' own, `tests/cli/pg.rs`), then refreshed by four processes
//! at once, as four hosts would, each at `--concurrency 64` (`QRLOGIN_BENCH_PROCESSES=N`:
//! N processes instead, to tell what one host does from what four do to each other; the
//! report's wording stays "four"). Reported beside the latency
//! floor: accounts × round trips × latency ÷ total concurrency.

use super::pg;
use super::{Ctx, wait_rss};
use qrlogin::sim::Simulator;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

/// Round trips per account in a refresh of an account whose long login is on: the
/// renewal and `loginuser.get` (NOTES in bench.rs).
pub const ROUND_TRIPS: f64 = 2.0;

pub struct Fleet {
    pub copy_s: f64,
    pub wall_s: f64,
    pub cpu_per_account_ms: f64,
    pub peak_rss_mb: f64,
    pub floor_s: f64,
}

pub fn run(ctx: &Ctx, sim: &Simulator, sqlite: &Path, accounts: usize, latency_ms: u64) -> Fleet {
    let cluster = pg::cluster();
    let url = cluster.database();
    let start = Instant::now();
    let copy = ctx
        .cmd(sim, sqlite)
        .args(["copy", "--to", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("copy");
    assert!(copy.success(), "copy into PostgreSQL failed");
    let copy_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let processes: usize = std::env::var("QRLOGIN_BENCH_PROCESSES")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4);
    let mut children: Vec<_> = (0..processes)
        .map(|i| {
            let rss = ctx.dir.path().join(format!("fleet-rss-{i}.txt"));
            let child = ctx
                .cmd_with_rss(sim, std::ffi::OsStr::new(&url), &rss)
                .env("QRLOGIN_HOST_ID", format!("bench-host-{i}"))
                .args(["refresh", "--concurrency", "64", "--jitter", "0", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            (child, rss)
        })
        .collect();
    let mut cpu = 0.0;
    let mut rss_max = 0;
    for (child, rss) in &mut children {
        let (code, kib, seconds) = wait_rss(child, rss);
        assert_eq!(code, 0, "a fleet refresh failed");
        cpu += seconds;
        rss_max = rss_max.max(kib);
    }
    let wall_s = start.elapsed().as_secs_f64();
    Fleet {
        copy_s,
        wall_s,
        cpu_per_account_ms: cpu * 1000.0 / accounts as f64,
        peak_rss_mb: rss_max as f64 / 1024.0,
        floor_s: floor(accounts, latency_ms, processes * 64),
    }
}

/// The latency floor of a refresh: every round trip waited for, `concurrency` at a time.
pub fn floor(accounts: usize, latency_ms: u64, concurrency: usize) -> f64 {
    accounts as f64 * ROUND_TRIPS * latency_ms as f64 / 1000.0 / concurrency as f64
}
