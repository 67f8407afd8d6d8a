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
use super::{Options, Report, Run, lease_secs, with_store};
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
    pub default_ua: String,
    /// This run's lease owner.
    pub owner: String,
    pub opts: Options,
    pub on_change: Arc<dyn Fn(&Report) + Send + Sync>,
    /// The runs under way when this one started (see `checked_this_round`).
    pub under_way: HashSet<String>,
}

/// An account in the order it was listed, as listed, and as read under this run's lease
/// (`None`: another run held it when its batch was leased).
type Claimed = (usize, Planned, Option<Account>);
type Claiming = Pin<Box<dyn Future<Output = anyhow::Result<Vec<Claimed>>> + Send>>;

/// Refresh `accounts` and hand each report to `report` in the order given.
pub(super) async fn work_through(
    accounts: Vec<Planned>,
    sh: Arc<Shared>,
    report: &mut dyn FnMut(Report),
) -> anyhow::Result<()> {
    let concurrency = sh.opts.concurrency.max(1);
    // One store call leases and reads a batch, where one per account would make the store
    // the bottleneck (on PostgreSQL, a round trip each).
    let batch = (concurrency / 4).clamp(1, 32);
    let talking = Arc::new(Semaphore::new(concurrency));
    // The listing itself, not a copy: at 100,000 accounts a second array of them was a
    // third of the run's memory. `listed` is the listing index of the queue's front.
    let mut queue: VecDeque<Planned> = VecDeque::from(accounts);
    let mut listed = 0usize;
    let mut ready: VecDeque<Claimed> = VecDeque::new();
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
                ready.extend(claimed?);
            }
            permit = talking.clone().acquire_owned(), if may_start => {
                let permit = permit?;
                if let Some((i, planned, held)) = ready.pop_front() {
                    let http = sh
                        .pools
                        .get(&planned.proxy)
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!("no HTTP pool"))?;
                    tasks.spawn(one(sh.clone(), http, i, planned, held, permit));
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let (i, done) = joined?;
                ahead.insert(i, done?);
                while let Some(done) = ahead.remove(&next) {
                    next += 1;
                    if let Some(r) = done {
                        report(r);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Lease and read a batch in one store call.
async fn claim(sh: Arc<Shared>, chunk: Vec<(usize, Planned)>) -> anyhow::Result<Vec<Claimed>> {
    let ids: Vec<i64> = chunk.iter().map(|(_, a)| a.id).collect();
    let now = crate::time::now();
    let until = now + lease_secs(&sh.opts);
    let me = sh.owner.clone();
    let mut leased: HashMap<i64, Account> =
        with_store(&sh.store, move |s| s.claim(&ids, &me, until, now))
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
    Ok(chunk
        .into_iter()
        .map(|(i, a)| {
            let held = leased.remove(&a.id);
            (i, a, held)
        })
        .collect())
}

/// One account, from its jitter to its stored result; `permit` is its slot among the
/// accounts talking to the service.
async fn one(
    sh: Arc<Shared>,
    http: reqwest::Client,
    i: usize,
    planned: Planned,
    held: Option<Account>,
    permit: OwnedSemaphorePermit,
) -> (usize, anyhow::Result<Option<Report>>) {
    let opts = &sh.opts;
    if i > 0 && !opts.jitter.is_zero() {
        let ms = rand::random::<u64>() % (opts.jitter.as_millis() as u64 + 1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let run = Run {
        store: &sh.store,
        http,
        endpoints: sh.endpoints.clone(),
        default_ua: &sh.default_ua,
        owner: &sh.owner,
        opts,
        under_way: &sh.under_way,
        talking: Some(permit),
    };
    let report = match held {
        Some(whole) => run.leased(planned, whole).await.map(Some),
        None => run.one(planned).await,
    };
    if let Ok(Some(r)) = &report
        && r.skipped.is_none()
        && r.old != r.new
    {
        (sh.on_change)(r);
    }
    (i, report)
}
