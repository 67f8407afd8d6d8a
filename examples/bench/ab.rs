//! Encryption's cost, like for like: the same refresh of the same accounts by two builds of
//! the same commit, one as shipped and one built with `--cfg qrlogin_bench_unsealed` (which
//! writes values unsealed and changes nothing else), alternated so drift on the machine
//! falls on both alike. Run through `bench/encryption-ab.sh`.

use super::{Ctx, median};
use qrlogin::store::{Location, Store};
use std::path::{Path, PathBuf};

/// Refresh runs per build.
const ROUNDS: usize = 5;

/// Seed two stores alike, turn the second's values plain with one unsealed run, then
/// alternate sealed and unsealed refreshes; write the section to `out`.
pub fn run(ctx: &mut Ctx, unsealed: &Path, accounts: usize, out: &Path) {
    let sealed_bin = ctx.bin.clone();
    let sim = ctx.sim(20);
    let (a, b) = (
        ctx.dir.path().join("sealed.db"),
        ctx.dir.path().join("unsealed.db"),
    );
    ctx.seed(&sim, &a, accounts);
    ctx.seed(&sim, &b, accounts);
    let args = ["refresh", "--concurrency", "64", "--jitter", "0", "--force"];
    ctx.bin = unsealed.to_owned();
    assert_eq!(ctx.timed(&sim, &b, &args).2, 0, "unsealed warm-up run");
    let plain = Store::open(&Location::Sqlite(b.clone())).expect("the unsealed store");
    assert!(
        !plain.has_sealed().expect("key usage"),
        "the unsealed build left sealed values: is it built with --cfg qrlogin_bench_unsealed?"
    );
    drop(plain);
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut wall: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (k, (bin, db)) in [(&sealed_bin, &a), (&unsealed.to_path_buf(), &b)]
            .into_iter()
            .enumerate()
        {
            ctx.bin = PathBuf::from(bin);
            let (ms, _, code, secs) = ctx.timed(&sim, db, &args);
            assert_eq!(code, 0, "refresh failed");
            eprintln!(
                "round {round}: {}: {:.1} s wall, {secs:.2} s CPU",
                ["sealed", "unsealed"][k],
                ms / 1000.0
            );
            cpu[k].push(secs);
            wall[k].push(ms / 1000.0);
        }
    }
    ctx.bin = sealed_bin;
    ctx.rt.block_on(sim.shutdown());
    let row = |k: usize| {
        let runs: Vec<String> = cpu[k].iter().map(|c| format!("{c:.2}")).collect();
        format!(
            "| {} | {:.1} s | {:.2} s ({}) |",
            ["as shipped (sealed)", "`--cfg qrlogin_bench_unsealed`"][k],
            median(wall[k].clone()),
            median(cpu[k].clone()),
            runs.join(", ")
        )
    };
    let (with, without) = (median(cpu[0].clone()), median(cpu[1].clone()));
    let more = 100.0 * (with - without) / without;
    let section = format!(
        "| refresh {accounts} accounts, 20 ms latency, `--concurrency 64` | wall (median) | CPU, user + system (median; the {ROUNDS} runs in order) |\n|---|---|---|\n{}\n{}\n\nEncryption costs **{more:+.1} %** CPU (target: ≤ 10 %).\n",
        row(0),
        row(1)
    );
    eprint!("{section}");
    std::fs::write(out, section).expect("write the section");
}
