//! How a run works through its accounts: leased a batch ahead of need, at most
//! `--concurrency` of them talking to the service at once, each recorded as soon as its
//! answers are in.
//!
//! Two things keep the slots full. The next batch is leased while the current one is being
//! checked, so a free slot never waits for a store round trip; and a slot is freed once an
//! account's requests are done, not once its result is stored, so the store's queue is never
//! what holds the network back. How many accounts are between those two points is bounded
//! too (a batch beyond `--concurrency`), so the accounts in flight do not grow with the
//! run. Nor do its reports: each is handed on in listing order as soon as those before
//! it are done, so only the ones finished ahead of a slower account wait (about the
//! accounts in flight); the listing is a few dozen bytes an account (`Planned`). A run
//! holds at most `--concurrency` + 3 batches of leases of accounts it has not recorded
//! yet: that is what a killed run leaves to expire.

use super::store_thread::StoreThread;
use super::{Options, Report, Run, lease_secs, leave_alone, skipped, unopened, with_store};
use crate::passport::Endpoints;
use crate::store::{Account, Planned};
use futures_util::future::OptionFuture;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What every account of one run shares.
pub(super) struct Shared {
    pub store: Arc<StoreThread>,
    /// One connection pool per proxy (`None`: direct).
    pub pools: HashMap<Option<String>, reqwest::Client>,
    pub endpoints: Endpoints,
    /// The passport host is outside goofish.com (a simulator's URL left exported): the
    /// accounts' goofish.com cookies are not sent there. Decided once for the run.
    pub passport_elsewhere: bool,
    pub default_ua: String,
    /// This run's lease owner.
    pub owner: String,
    pub opts: Options,
    pub on_change: super::OnChange,
    /// The runs under way when this one started (see `checked_this_round`).
    pub under_way: HashSet<String>,
}

/// An account of a claimed batch with work to do: where it was listed, as listed, and as
/// its claim found it.
type Ready = (usize, Planned, Found);
/// An account of a claimed batch with nothing to do: where it was listed, and its report
/// (`None`: deleted since it was listed).
type Done = (usize, Option<Report>);
type Claiming = Pin<Box<dyn Future<Output = anyhow::Result<(Vec<Ready>, Vec<Done>)>> + Send>>;

/// What a batch's claim found of an account with work to do.
enum Found {
    /// Leased by this run, read whole.
    Leased(Account),
    /// Another run holds it (read brief), this one as far as the claim saw.
    Held(Account, Option<String>),
}

/// Refresh `accounts` and send each report to `reports` in the order given.
pub(super) async fn work_through(
    accounts: Vec<Planned>,
    sh: Arc<Shared>,
    reports: tokio::sync::mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    let concurrency = sh.opts.concurrency.max(1);
    // One store call leases and reads a batch, where one per account would make the store
    // the bottleneck (on PostgreSQL, a round trip each). Half of `--concurrency`: with a
    // quarter, a fleet of four on PostgreSQL spent a sixth more of the server's CPU (every
    // host reads every batch); with all of it, slots waited on the claims in bursts
    // (BENCHMARKS.md).
    let batch = (concurrency / 2).clamp(1, 32);
    let talking = Arc::new(Semaphore::new(concurrency));
    // The listing itself, not a copy: at 100,000 accounts a second array of them was a
    // third of the run's memory. `listed` is the listing index of the queue's front.
    let mut queue: VecDeque<Planned> = VecDeque::from(accounts);
    let mut listed = 0usize;
    let mut ready: VecDeque<Ready> = VecDeque::new();
    let mut claiming: Option<Claiming> = None;
    let mut tasks = tokio::task::JoinSet::new();
    // Reports finished ahead of an earlier account, and the next one to hand on.
    let mut ahead: BTreeMap<usize, Option<Report>> = BTreeMap::new();
    let mut next = 0usize;
    loop {
        if claiming.is_none() && ready.len() < batch && !queue.is_empty() {
            let n = batch.min(queue.len());
            let chunk: Vec<(usize, Planned)> = queue
                .drain(..n)
                .enumerate()
                .map(|(k, a)| (listed + k, a))
                .collect();
            listed += n;
            claiming = Some(Box::pin(claim(sh.clone(), chunk)));
        }
        // Nothing claimed, being claimed or under way: every account is done (the queue
        // is only ever empty here once everything is claimed).
        if claiming.is_none() && ready.is_empty() && tasks.is_empty() {
            break;
        }
        let may_start = !ready.is_empty() && tasks.len() < concurrency + batch;
        tokio::select! {
            Some(claimed) = OptionFuture::from(claiming.as_mut()), if claiming.is_some() => {
                claiming = None;
                let (work, done) = claimed?;
                ready.extend(work);
                ahead.extend(done);
                hand_on(&mut ahead, &mut next, &reports).await?;
            }
            permit = talking.clone().acquire_owned(), if may_start => {
                let permit = permit?;
                if let Some((i, planned, found)) = ready.pop_front() {
                    let http = sh
                        .pools
                        .get(&planned.proxy)
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!("no HTTP pool"))?;
                    tasks.spawn(one(sh.clone(), http, i, planned, found, permit));
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let (i, done) = joined?;
                ahead.insert(i, Some(done?));
                hand_on(&mut ahead, &mut next, &reports).await?;
            }
        }
    }
    Ok(())
}

/// Send on, in listing order, every report from `next` on that is done.
async fn hand_on(
    ahead: &mut BTreeMap<usize, Option<Report>>,
    next: &mut usize,
    reports: &tokio::sync::mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    while let Some(done) = ahead.remove(next) {
        *next += 1;
        if let Some(r) = done {
            reports
                .send(r)
                .await
                .map_err(|_| anyhow::anyhow!("the refresh's reports are no longer read"))?;
        }
    }
    Ok(())
}

/// Claim a batch in one store call: lease and read whole what this run is to check, read
/// brief what another run holds, and leave alone (reported skipped) what needs nothing.
async fn claim(
    sh: Arc<Shared>,
    chunk: Vec<(usize, Planned)>,
) -> anyhow::Result<(Vec<Ready>, Vec<Done>)> {
    let now = crate::time::now();
    let until = now + lease_secs(&sh.opts);
    let shared = sh.clone();
    with_store(&sh.store, move |s| {
        let ids: Vec<i64> = chunk.iter().map(|(_, p)| p.id).collect();
        let listed: HashMap<i64, &Planned> = chunk.iter().map(|(_, p)| (p.id, p)).collect();
        // Why each account the claim passes over is left alone, noted as it is asked.
        let skips = std::cell::RefCell::new(HashMap::new());
        let wanted = |a: &Account| {
            let skip = listed
                .get(&a.id)
                .and_then(|p| leave_alone(p, a, &shared.under_way, now, &shared.opts));
            let keep = skip.is_none();
            skips.borrow_mut().extend(skip.map(|skip| (a.id, skip)));
            keep
        };
        let claimed = s.claim(&ids, &shared.owner, until, now, &wanted)?;
        let mut skips = skips.into_inner();
        let mut found: HashMap<i64, Found> = claimed
            .leased
            .into_iter()
            .map(|a| (a.id, Found::Leased(a)))
            .chain(
                claimed
                    .held
                    .into_iter()
                    .map(|(a, holder)| (a.id, Found::Held(a, holder))),
            )
            .collect();
        let mut passed: HashMap<i64, Report> = claimed
            .passed
            .iter()
            .filter_map(|a| Some((a.id, skipped(skips.remove(&a.id)?, a))))
            .collect();
        for (a, why) in &claimed.unopened {
            // Released at once, so the next run tries it again. A row busy right now keeps
            // the lease until it lapses, which costs nothing more.
            s.release(a.id, &shared.owner)?;
            passed.insert(a.id, unopened(a, why));
        }
        let (mut ready, mut done) = (Vec::new(), Vec::new());
        for (i, planned) in chunk {
            match found.remove(&planned.id) {
                Some(f) => ready.push((i, planned, f)),
                None => done.push((i, passed.remove(&planned.id))),
            }
        }
        Ok((ready, done))
    })
    .await
}

/// One account, from its jitter to its stored result; `permit` is its slot among the
/// accounts talking to the service.
async fn one(
    sh: Arc<Shared>,
    http: reqwest::Client,
    i: usize,
    planned: Planned,
    found: Found,
    permit: OwnedSemaphorePermit,
) -> (usize, anyhow::Result<Report>) {
    let opts = &sh.opts;
    if i > 0 && !opts.jitter.is_zero() {
        let ms = rand::random::<u64>() % (opts.jitter.as_millis() as u64 + 1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let run = Run {
        store: &sh.store,
        http,
        endpoints: sh.endpoints.clone(),
        passport_elsewhere: sh.passport_elsewhere,
        default_ua: &sh.default_ua,
        owner: &sh.owner,
        opts,
        under_way: &sh.under_way,
        talking: Some(permit),
    };
    let report = match found {
        Found::Leased(whole) => run.leased(planned, whole).await,
        Found::Held(brief, holder) => run.one(planned, brief, holder).await,
    };
    if let Ok(r) = &report
        && r.skipped.is_none()
        && r.old != r.new
    {
        (sh.on_change)(r).await;
    }
    (i, report)
}
