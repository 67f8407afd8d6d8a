//! Keeping stored accounts alive (protocol.md §7, §9): per account, renew the way the
//! official web does (silentHasLogin when the long-login cookies say it is due, hasLogin
//! otherwise), validate with a cheap signed mtop call, and classify. The decisions are
//! pure functions in `rules`; `run` drives many accounts concurrently with leases and
//! jitter.

mod held;
mod rules;
mod schedule;
mod store_thread;

use rules::from_error;
pub use rules::*;

use crate::cookies::{self, Cookie};
use crate::passport::Endpoints;
use crate::passport::{
    self, MtopOutcome, PassportClient, PassportError, SERVICE_DOMAIN, SilentMode, Step,
};
use crate::redacted::Proxy;
use crate::store::{Account, Planned, Recorded, RefreshRecord, Status, Store};
use held::Backoff;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use store_thread::StoreThread;
use tokio::sync::OwnedSemaphorePermit;

#[derive(Debug, Clone)]
pub struct Options {
    pub names: Vec<String>,
    pub concurrency: usize,
    pub jitter: Duration,
    pub min_interval: Option<Duration>,
    pub wait: bool,
    pub force: bool,
    pub http_timeout: Duration,
    /// `--trace`: every account's exchanges recorded here.
    pub trace: Option<passport::Trace>,
    /// This host, in lease owners: a lease of another host's is never taken over early
    /// on a pid check (that pid means nothing here), only once it expires.
    pub host: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub unb: String,
    pub old: Status,
    pub new: Status,
    /// What was sent, in order; empty when the account was skipped.
    pub sent: Vec<Sent>,
    pub error: Option<String>,
    pub skipped: Option<Skip>,
    /// This run hit a transient error.
    pub transient: bool,
    /// The service refused long login for the first time (reported once).
    pub long_login_refused_now: bool,
    pub next_attempt: Option<i64>,
    /// Checked against a passport host outside goofish.com (a simulator's URL left
    /// exported) with goofish.com cookies, which were therefore not sent: it cannot renew.
    pub cookies_unsent: bool,
    /// A stored value of the account did not open (`error` says which): it was not
    /// checked, its lease was released, and the run went on with the others.
    pub unopened: bool,
}

/// What checking one account found.
#[derive(Debug)]
pub struct Check {
    pub verdict: Verdict,
    /// What was sent, in order.
    pub sent: Vec<Sent>,
    /// The merged cookie set, on success only.
    pub cookies: Option<Vec<Cookie>>,
    /// Whether the service refused long login (`None`: not asked this run).
    pub long_login_refused: Option<bool>,
}

impl Check {
    fn failed(verdict: Verdict, sent: Vec<Sent>) -> Check {
        Check {
            verdict,
            sent,
            cookies: None,
            long_login_refused: None,
        }
    }
}

/// Check one account: renew, validate, turn long login on if it is off and not refused
/// before, and confirm it.
pub async fn check(client: &PassportClient, a: &Account, now_ms: i64) -> Check {
    let mut actions: Vec<Sent> = Vec::new();
    let renewed = match renewal(&a.cookies, now_ms) {
        Renewal::Silent(mode) => {
            actions.push(Sent::SilentHasLogin);
            client.silent_has_login(mode).await
        }
        Renewal::HasLogin => {
            actions.push(Sent::HasLogin);
            client.has_login(&a.unb).await
        }
    };
    match renewed {
        Ok(true) => {}
        Ok(false) => {
            let why = if actions.first() == Some(&Sent::HasLogin) {
                "hasLogin.do: the session is no longer accepted"
            } else {
                "silentHasLogin.do: long login did not renew the session"
            };
            return Check::failed(Verdict::Expired(why.into()), actions);
        }
        Err(e) => return Check::failed(from_error(&e), actions),
    }
    actions.push(Sent::LoginUserGet);
    let verdict = match client
        .mtop_user(
            Step::Validate,
            "mtop.taobao.idlemessage.pc.loginuser.get",
            "{}",
        )
        .await
    {
        // The session must be this account's: cookies that log in someone else (a
        // mixed-up import, a hostile landing) are not this account's renewal.
        Ok((MtopOutcome::Ok, Some(user))) if user != a.unb => Verdict::Expired(format!(
            "mtop loginuser.get: the session belongs to user {user}, not to this account ({})",
            a.unb
        )),
        Ok((MtopOutcome::Ok, _)) => Verdict::Ok,
        Ok((MtopOutcome::SessionExpired(code), _)) => {
            Verdict::Expired(format!("mtop loginuser.get: {code}"))
        }
        Ok((MtopOutcome::Risk(_), _)) => Verdict::Risk(
            "mtop loginuser.get: blocked by risk control (FAIL_SYS_USER_VALIDATE)".into(),
        ),
        Ok((MtopOutcome::Other(code), _)) => {
            Verdict::Transient(format!("mtop loginuser.get: {code}"))
        }
        Err(e) => from_error(&e),
    };
    if verdict != Verdict::Ok {
        return Check::failed(verdict, actions);
    }
    let mut refused = None;
    if !client.with_cookies(|c| long_login_on(c, now_ms)) && !a.long_login_refused {
        // Long login is a bonus: the account is alive either way. Turn it on, then ask
        // whether it really is (§7.3: YD re-queries queryLoginSettings).
        actions.push(Sent::SetLoginSettings);
        let _ = client.enable_long_login().await;
        actions.push(Sent::QueryLoginSettings);
        if let Ok(Some(on)) = client.query_long_login().await {
            refused = Some(!on);
        }
    }
    let merged = cookies::merge(&a.cookies, &client.service_cookies(), now_ms / 1000);
    Check {
        verdict: Verdict::Ok,
        sent: actions,
        cookies: Some(merged),
        long_login_refused: refused,
    }
}

/// What a status transition sets off once stored (`--on-change`); its account's report
/// waits for it.
pub type OnChange = Arc<dyn Fn(&Report) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Run the refresh over `accounts` (already selected; each is read whole once leased)
/// and send `reports` one report per account, in the order given, as soon as it and those
/// before it are done (an account deleted before this run read it has none). The reader
/// is another thread: printing may block (a full pipe), and this runtime's one thread
/// must keep reading answers meanwhile. A full channel holds back new accounts only. At most
/// `concurrency` accounts are in flight at once and no report is kept, so memory stays
/// flat however many there are. `on_change` is called for every status transition
/// after it is stored.
pub async fn run(
    store: Store,
    accounts: Vec<Planned>,
    endpoints: Endpoints,
    default_ua: String,
    opts: Options,
    on_change: OnChange,
    reports: tokio::sync::mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    // `<pid>-<random>@<host>`: which process holds a lease, and where.
    let owner = format!(
        "{}-{}@{}",
        std::process::id(),
        crate::ids::random_hex(8),
        opts.host
    );
    // From here on the store is reached through its thread only: on PostgreSQL this
    // runtime's thread cannot wait for the server.
    let store = Arc::new(StoreThread::start(store)?);
    // One shared connection pool per (proxy): accounts share TLS set-up and connections.
    let mut pools: HashMap<Option<String>, reqwest::Client> = HashMap::new();
    for a in &accounts {
        if !pools.contains_key(&a.proxy) {
            let proxy = match a.proxy.as_deref().map(Proxy::parse).transpose() {
                Ok(proxy) => proxy,
                Err(e) => {
                    // The listing has no names: read this one's for the message.
                    let id = a.id;
                    let name = match with_store(&store, move |s| s.brief_by_id(id)).await {
                        Ok(Some(a)) => a.name,
                        _ => format!("#{id}"),
                    };
                    anyhow::bail!(
                        "account {}: its stored proxy {} is unusable: {e}",
                        crate::escape::for_terminal(&name),
                        crate::redacted::redact_url(a.proxy.as_deref().unwrap_or_default())
                    )
                }
            };
            let http = passport::shared_http(
                &endpoints,
                proxy.as_ref(),
                opts.http_timeout,
                opts.concurrency.max(1),
            )?;
            pools.insert(a.proxy.clone(), http);
        }
    }
    let lease_secs = lease_secs(&opts);
    // Before this run leases anything, it registers as under way and notes the other
    // runs under way: what they check is theirs this round, even what they checked
    // before this run listed the accounts.
    let now = crate::time::now();
    let me = owner.clone();
    let under_way: HashSet<String> =
        with_store(&store, move |s| s.begin_run(&me, now + lease_secs, now))
            .await?
            .into_iter()
            .collect();
    let heartbeat = tokio::spawn(keep_registered(store.clone(), owner.clone(), lease_secs));
    let shared = Arc::new(schedule::Shared {
        store: store.clone(),
        pools,
        passport_elsewhere: !cookies::host_domain_matches(&endpoints.passport, SERVICE_DOMAIN),
        endpoints,
        default_ua,
        owner: owner.clone(),
        opts,
        on_change,
        under_way,
    });
    let result = schedule::work_through(accounts, shared, reports).await;
    heartbeat.abort();
    // Awaited, not left to a destructor: a registration left behind would make the next
    // run, if it starts within `lease_secs`, leave this run's accounts alone.
    let me = owner.clone();
    let ended = with_store(&store, move |s| s.end_run(&me)).await;
    result.and(ended)
}

/// Keep this run's registration alive while it lasts, however long its accounts take
/// (`--wait` can take longer than any lease).
async fn keep_registered(store: Arc<StoreThread>, owner: String, lease_secs: i64) {
    let every = Duration::from_secs((lease_secs / 3).max(1) as u64);
    loop {
        tokio::time::sleep(every).await;
        let (me, until) = (owner.clone(), crate::time::now() + lease_secs);
        if with_store(&store, move |s| s.extend_run(&me, until))
            .await
            .is_err()
        {
            // The run's own store calls report the failure; an unrefreshed registration
            // only runs out early.
            return;
        }
    }
}

/// One short store operation on the store's thread.
async fn with_store<T: Send + 'static>(
    store: &StoreThread,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> anyhow::Result<T> {
    answered(store.call(f).await)
}

/// A store thread's answer, or why there is none.
fn answered<T>(answer: Option<Result<T, crate::store::StoreError>>) -> anyhow::Result<T> {
    match answer {
        Some(result) => Ok(result?),
        None => anyhow::bail!("the account database's thread stopped"),
    }
}

/// A lease long enough for every request of one account (at most four, each bounded by the
/// HTTP timeout) after its jitter, then some. It is what a dead process of another host
/// costs: its accounts wait this long before a later run takes them over.
fn lease_secs(opts: &Options) -> i64 {
    let secs = |d: Duration| d.as_secs_f64().ceil() as i64;
    secs(opts.http_timeout) * 4 + secs(opts.jitter) + 10
}

/// One account's view of its run: what it borrows of `schedule::Shared`, and its slot.
struct Run<'a> {
    store: &'a StoreThread,
    http: reqwest::Client,
    endpoints: Endpoints,
    /// The passport host is outside goofish.com (`Shared::passport_elsewhere`).
    passport_elsewhere: bool,
    /// For accounts without a user agent of their own.
    default_ua: &'a str,
    owner: &'a str,
    opts: &'a Options,
    /// The runs under way when this one started (see `checked_this_round`).
    under_way: &'a HashSet<String>,
    /// This account's slot among those talking to the service, given back once its
    /// requests are done (`schedule`).
    talking: Option<OwnedSemaphorePermit>,
}

/// Why this run leaves `a`, as it is now, alone: an overlapping run has checked it (since
/// this run listed it, or a run under way when this one started: once a round is
/// enough), or it is not due.
pub(super) fn leave_alone(
    planned: &Planned,
    a: &Account,
    under_way: &HashSet<String>,
    now: i64,
    opts: &Options,
) -> Option<Skip> {
    let checked_meanwhile = ((planned.last_checked, planned.updated_at)
        != (a.last_checked, a.updated_at))
        .then(|| a.last_checked.map(|at| Skip::ThisRound { at }))
        .flatten();
    checked_meanwhile
        .or_else(|| checked_this_round(a, under_way))
        .or_else(|| decide(a, now, opts.min_interval, opts.force))
}

fn skipped(skip: Skip, a: &Account) -> Report {
    Report {
        name: a.name.clone(),
        unb: a.unb.clone(),
        old: a.status,
        new: a.status,
        sent: Vec::new(),
        error: None,
        skipped: Some(skip),
        transient: false,
        long_login_refused_now: false,
        next_attempt: a.next_attempt_at,
        cookies_unsent: false,
        unopened: false,
    }
}

/// `a` (read brief) leased, but a stored value of it did not open (`why`): not checked,
/// its status as it was. One damaged account must not keep a cron's run from the others.
fn unopened(a: &Account, why: &crate::store::StoreError) -> Report {
    Report {
        skipped: None,
        error: Some(why.to_string()),
        unopened: true,
        ..skipped(Skip::Leased, a)
    }
}

impl Run<'_> {
    /// Refresh an account this run holds the lease of: `whole` is the account as read
    /// under the lease, `planned` as it was when the run listed the accounts.
    async fn leased(mut self, planned: Planned, a: Account) -> anyhow::Result<Report> {
        let (store, owner, opts) = (self.store, self.owner, self.opts);
        let id = a.id;
        // Its batch's claim asked already, but a run may have checked it since.
        let now = crate::time::now();
        if let Some(skip) = leave_alone(&planned, &a, self.under_way, now, opts) {
            // A row held past a lease's length: the lease lapses by itself.
            let mut busy = Backoff::default();
            while !busy.exhausted(lease_secs(opts)) {
                let me = owner.to_owned();
                if with_store(store, move |s| s.release(id, &me)).await? {
                    break;
                }
                busy.wait(&mut self.talking).await;
            }
            return Ok(skipped(skip, &a));
        }
        // Known here, from cookies read anyway, rather than by a scan of every stored
        // cookie before the run (a tenth of the server's time in a fleet's refresh).
        let cookies_unsent = self.passport_elsewhere
            && a.cookies
                .iter()
                .any(|c| cookies::domain_within(&c.domain, SERVICE_DOMAIN));
        let client = PassportClient::over(
            self.http,
            self.endpoints,
            a.user_agent.as_deref().unwrap_or(self.default_ua),
            opts.http_timeout,
            &a.cookies,
        )
        .traced(opts.trace.clone());
        let Check {
            verdict,
            sent: actions,
            cookies,
            long_login_refused,
        } = check(&client, &a, crate::time::now_ms()).await;
        // Done with the service: the next account may start while this one is stored.
        drop(self.talking.take());
        let now = crate::time::now();
        let rec = RefreshRecord {
            long_login_refused,
            ..record(&a, &verdict, cookies, now)
        };
        // Grouped: nothing but this account's report waits on it.
        let stored = store.record(a, owner.to_owned(), rec).await;
        let (recorded, a, rec) = answered(stored)?;
        match recorded {
            Recorded::Stored => {}
            Recorded::LeaseLost => return Ok(skipped(Skip::Leased, &a)),
            Recorded::Superseded => return Ok(skipped(Skip::Superseded, &a)),
        }
        Ok(Report {
            name: a.name.clone(),
            unb: a.unb.clone(),
            old: a.status,
            new: rec.status,
            sent: actions,
            error: match &verdict {
                Verdict::Ok => None,
                Verdict::Expired(e) | Verdict::Risk(e) | Verdict::Transient(e) => Some(e.clone()),
            },
            skipped: None,
            transient: matches!(verdict, Verdict::Transient(_)),
            long_login_refused_now: long_login_refused == Some(true) && !a.long_login_refused,
            next_attempt: rec.next_attempt_at,
            cookies_unsent,
            unopened: false,
        })
    }
}
