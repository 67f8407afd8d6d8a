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
    /// The simulator's latency as served while the fleet ran: its mean, in ms.
    pub served_ms: f64,
    /// Where the machine's CPU went while the fleet ran (`Cpu`).
    pub cpu: Cpu,
}

/// CPU seconds spent while the fleet ran, by whom, and how busy the machine was: the
/// fleet's floor assumes the machine can keep up, and on a small one it may not.
pub struct Cpu {
    pub clients_s: f64,
    pub postgres_s: f64,
    /// The benchmark process: the simulator, nearly all of it.
    pub simulator_s: f64,
    /// Busy time of all cores over the wall time of all cores.
    pub machine_busy: f64,
    pub cores: usize,
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
    let before = (machine_ticks(), postgres_ticks(), own_ticks());
    let served = sim.served_latency();
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
    let served_ms = super::served_ms(served, sim.served_latency());
    // The servers' backends end with their clients; the postmaster adds their time to its
    // own children's once it has reaped them.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = (machine_ticks(), postgres_ticks(), own_ticks());
    let hz = clock_ticks_per_second();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_stats = Cpu {
        clients_s: cpu,
        postgres_s: (after.1 - before.1) as f64 / hz,
        simulator_s: (after.2 - before.2) as f64 / hz,
        machine_busy: (after.0.0 - before.0.0) as f64 / (after.0.1 - before.0.1).max(1) as f64,
        cores,
    };
    Fleet {
        copy_s,
        wall_s,
        cpu_per_account_ms: cpu * 1000.0 / accounts as f64,
        peak_rss_mb: rss_max as f64 / 1024.0,
        floor_s: floor(accounts, latency_ms, processes * 64),
        served_ms,
        cpu: cpu_stats,
    }
}

/// Busy and total clock ticks of all cores, from `/proc/stat`'s first line.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// User and system ticks of a process (and, `with_children`, of its reaped children),
/// from `/proc/PID/stat`, with its command name.
fn process_ticks(stat: &str, with_children: bool) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    // After the name: state is field 3; utime, stime, cutime, cstime are fields 14-17.
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = fields
        .get(11..if with_children { 15 } else { 13 })?
        .iter()
        .map(|f| f.parse::<i64>().unwrap_or(0).max(0) as u64)
        .sum();
    Some((comm, ticks))
}

/// Every PostgreSQL process's ticks, its reaped backends' included.
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| process_ticks(&s, true))
        .filter(|(comm, _)| comm == "postgres")
        .map(|(_, t)| t)
        .sum()
}

/// The benchmark's own ticks, without its children's: the clients are its children.
fn own_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    process_ticks(&stat, false).map_or(0, |(_, t)| t)
}

fn clock_ticks_per_second() -> f64 {
    super::sh("getconf CLK_TCK").parse().unwrap_or(100.0)
}

/// The latency floor of a refresh: every round trip waited for, `concurrency` at a time.
pub fn floor(accounts: usize, latency_ms: u64, concurrency: usize) -> f64 {
    accounts as f64 * ROUND_TRIPS * latency_ms as f64 / 1000.0 / concurrency as f64
}
