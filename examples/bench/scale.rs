//! Issue 11's scale figures: one store of N accounts (100,000 for the targets), one refresh
//! of all of them at 20 ms latency and `--concurrency 64`, then `list` and `list --json`;
//! wall, CPU per account and peak RSS of each. Run through `bench/scale.sh`.
//!
//! With `--fleet`, the same accounts are then copied into a throwaway PostgreSQL cluster and
//! refreshed by four processes at once (`fleet.rs`).
//!
//! `QRLOGIN_BENCH_LATENCY_MS=N`: N ms of simulated latency instead of 20, to tell what the
//! design waits for from what the cores can keep up with.
//!
//! With `--hold`, the seeded store and the simulator stay up until standard input closes,
//! and the environment that points `qrlogin` at them is printed: for running it under a
//! profiler by hand.

use super::{Ctx, median};
use std::io::Read;
use std::path::Path;

pub fn run(ctx: &Ctx, accounts: usize, hold: bool, fleet: bool, out: &Path) {
    let latency: u64 = std::env::var("QRLOGIN_BENCH_LATENCY_MS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let sim = ctx.sim(latency);
    let db = ctx.dir.path().join("scale.db");
    let seeded = std::time::Instant::now();
    ctx.seed(&sim, &db, accounts);
    eprintln!(
        "seeded {accounts} accounts in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    if hold {
        let base = sim.base.as_str().trim_end_matches('/');
        println!(
            "export QRLOGIN_DB={} QRLOGIN_KEY_FILE={} QRLOGIN_PASSPORT_URL={base} \
             QRLOGIN_H5API_URL={base} QRLOGIN_WWW_URL={base}",
            db.display(),
            ctx.key_file.display()
        );
        eprintln!("holding the simulator and the store until standard input closes");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    let args = ["refresh", "--concurrency", "64", "--jitter", "0", "--force"];
    let served = sim.served_latency();
    let (ms, rss, code, cpu) = ctx.timed(&sim, &db, &args);
    let served_ms = super::served_ms(served, sim.served_latency());
    assert_eq!(code, 0, "refresh failed");
    let floor = super::fleet::floor(accounts, latency, 64);
    let list = |args: &[&str]| {
        let runs: Vec<(f64, i64, i32, f64)> = (0..5).map(|_| ctx.timed(&sim, &db, args)).collect();
        assert!(runs.iter().all(|r| r.2 == 0), "{args:?} failed");
        (
            median(runs.iter().map(|r| r.0).collect()),
            median(runs.iter().map(|r| r.1 as f64).collect()) / 1024.0,
        )
    };
    let (table_ms, table_mb) = list(&["list"]);
    let (json_ms, json_mb) = list(&["list", "--json"]);
    let fleet = fleet.then(|| super::fleet::run(ctx, &sim, &db, accounts, latency));
    ctx.rt.block_on(sim.shutdown());
    let mut section = format!(
        "| {accounts} accounts, one process on SQLite | result | target |\n|---|---|---|\n\
         | refresh, `--concurrency 64 --jitter 0 --force`, {latency} ms latency: wall | {:.1} s ({:.2}× the {floor:.1} s floor) | ≤ 1.25× the floor |\n\
         | latency as the simulator served it: mean from a request's arrival to its answer's release | {served_ms:.2} ms | {latency} ms |\n\
         | refresh: CPU per account | {:.3} ms ({cpu:.1} s in all) | ≤ 0.25 ms |\n\
         | refresh: peak RSS | {:.1} MB | ≤ 64 MB |\n\
         | `list > /dev/null`: wall, peak RSS | {table_ms:.0} ms, {table_mb:.1} MB | ≤ 32 MB |\n\
         | `list --json > /dev/null`: wall, peak RSS | {json_ms:.0} ms, {json_mb:.1} MB | ≤ 32 MB |\n",
        ms / 1000.0,
        ms / 1000.0 / floor,
        cpu * 1000.0 / accounts as f64,
        rss as f64 / 1024.0,
    );
    if let Some(f) = fleet {
        section.push_str(&format!(
            "\n| {accounts} accounts, four processes on one PostgreSQL | result | target |\n|---|---|---|\n\
             | copy SQLite → PostgreSQL | {:.1} s | — |\n\
             | refresh, 4 × `--concurrency 64 --jitter 0 --force`, {latency} ms latency: wall | {:.1} s ({:.2}× the {:.2} s floor) | ≤ 1.25× the floor |\n\
             | latency as the simulator served it: mean from a request's arrival to its answer's release | {:.2} ms | {latency} ms |\n\
             | refresh: CPU per account, all four | {:.3} ms | ≤ 0.25 ms |\n\
             | refresh: peak RSS of one | {:.1} MB | ≤ 64 MB |\n\
             | CPU while it ran: the four clients, PostgreSQL, the simulator | {:.1} s, {:.1} s, {:.1} s; the {} cores {:.0} % busy | — |\n",
            f.copy_s,
            f.wall_s,
            f.wall_s / f.floor_s,
            f.floor_s,
            f.served_ms,
            f.cpu_per_account_ms,
            f.peak_rss_mb,
            f.cpu.clients_s,
            f.cpu.postgres_s,
            f.cpu.simulator_s,
            f.cpu.cores,
            f.cpu.machine_busy * 100.0,
        ));
    }
    eprint!("{section}");
    std::fs::write(out, section).expect("write the section");
}
