//! An account its batch could not lease: another run holds it, or another writer has its
//! row locked for a moment. It is taken over when its holder is a process of this host
//! that is gone, waited for with `--wait` or while its row is busy (its slot given back
//! meanwhile), and otherwise skipped.

use super::{Report, Run, Skip, answered, lease_secs, skipped, unopened, with_store};
use crate::store::{Account, Lease, Planned};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Whether a lease owner (`<pid>-<random>@<host>`; before hosts were recorded,
/// `<pid>-<random>`) is a process of this host that no longer exists. Another host's
/// lease is never judged here: its pid means nothing on this machine.
fn owner_is_gone(owner: &str, host: &str) -> bool {
    if let Some((_, theirs)) = owner.split_once('@')
        && theirs != host
    {
        return false;
    }
    let Some(pid) = owner.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    if pid <= 0 || pid == std::process::id() as i32 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// How long an account's task waits before it asks again for a row another writer has
/// locked (`Lease::Busy`): briefly at first (another run's claim holds its rows for a
/// round trip or two), then twice as long each time, up to a second (an import may hold
/// them for its whole transaction). The task waits, not the store thread.
#[derive(Default)]
pub(super) struct Backoff {
    next: Duration,
    waited: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    pub(super) async fn wait(&mut self, talking: &mut Option<OwnedSemaphorePermit>) {
        self.next = (self.next * 2).clamp(Self::FIRST, Self::MAX);
        self.waited += self.next;
        idle(talking, self.next).await;
    }

    /// Waited a lease's length in all: a writer that holds a row that long (a session
    /// left idle in a transaction) is not waited for further without `--wait`, so a
    /// cron's run still ends.
    pub(super) fn exhausted(&self, lease_secs: i64) -> bool {
        self.waited >= Duration::from_secs(lease_secs.max(0) as u64)
    }
}

/// Wait `d` with `talking` (an account's slot) given back meanwhile, and take a slot
/// again after: an account waiting for a row an import holds, or for another run's lease
/// (`--wait`), must not keep one of `--concurrency` slots from the accounts that can go on.
async fn idle(talking: &mut Option<OwnedSemaphorePermit>, d: Duration) {
    let slots = talking.take().map(|p| p.semaphore().clone());
    tokio::time::sleep(d).await;
    if let Some(slots) = slots {
        // `None` only if the semaphore was closed, which the scheduler never does.
        *talking = slots.acquire_owned().await.ok();
    }
}

impl Run<'_> {
    /// An account its batch could not lease (`a`, read brief): another run holds it
    /// (`holder`, as the claim saw). Take it over if that run is gone, wait for it with
    /// `--wait`, or skip it.
    pub(super) async fn one(
        mut self,
        planned: Planned,
        a: Account,
        holder: Option<String>,
    ) -> anyhow::Result<Report> {
        let (store, owner, opts) = (self.store, self.owner, self.opts);
        let lease_secs = lease_secs(opts);
        let id = planned.id;
        // The claim's answer first: in a fleet most held accounts are skipped on it, with
        // no store call.
        let mut seen = holder;
        let mut busy = Backoff::default();
        loop {
            let now = crate::time::now();
            // A run killed mid-way (cron timeout, OOM, SIGKILL) leaves its leases behind;
            // the owner's pid says whether it is still running on this machine.
            let holder = match seen.take() {
                Some(h) => h,
                None => {
                    let me = owner.to_owned();
                    match with_store(store, move |s| s.try_lease(id, &me, now + lease_secs, now))
                        .await?
                    {
                        Lease::Taken => break,
                        Lease::Held(holder) => holder,
                        // Deleted: skipped (under `--wait` it would be waited for forever).
                        Lease::Gone => return Ok(skipped(Skip::Leased, &a)),
                        // Another writer has the row locked for a moment (an import, a
                        // login saving it, another run's claim): ask again after it.
                        Lease::Busy if !opts.wait && busy.exhausted(lease_secs) => {
                            return Ok(skipped(Skip::Leased, &a));
                        }
                        Lease::Busy => {
                            busy.wait(&mut self.talking).await;
                            continue;
                        }
                    }
                }
            };
            if owner_is_gone(&holder, &opts.host) {
                let me = owner.to_owned();
                let old = holder.clone();
                if with_store(store, move |s| {
                    s.steal_lease(id, &old, &me, now + lease_secs)
                })
                .await?
                {
                    break;
                }
                // Taken over by another run meanwhile, or its row locked for a moment:
                // ask again, to tell which.
                if !opts.wait && busy.exhausted(lease_secs) {
                    return Ok(skipped(Skip::Leased, &a));
                }
                busy.wait(&mut self.talking).await;
                continue;
            }
            if !opts.wait {
                return Ok(skipped(Skip::Leased, &a));
            }
            idle(&mut self.talking, Duration::from_millis(200)).await;
        }
        let whole = match store.call(move |s| s.by_id(id)).await {
            Some(Err(why)) if why.is_value_unopened() => {
                let me = owner.to_owned();
                // If its row is busy, the lease lapses by itself.
                with_store(store, move |s| s.release(id, &me)).await?;
                return Ok(unopened(&a, &why));
            }
            read => answered(read)?,
        };
        let Some(whole) = whole else {
            return Ok(skipped(Skip::Leased, &a));
        };
        self.leased(planned, whole).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Endpoints, Options, StoreThread};
    use super::*;
    use crate::cookies::Cookie;
    use crate::store::{Location, NewAccount, Status, Store};
    use std::collections::HashSet;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn an_account_deleted_under_another_runs_lease_is_skipped_even_with_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let new = NewAccount::from_cookies(
            vec![Cookie::for_domain("unb", "1", ".goofish.com")],
            None,
            Status::Unknown,
        );
        let (a, _) = store.save(&new, 0).unwrap();
        // Held by a run on another host, then deleted while this run waits for it
        // (`qrlogin delete` ignores leases).
        assert!(
            store
                .try_lease(a.id, "1-ab@elsewhere", i64::MAX, 0)
                .unwrap()
                .taken()
        );
        let thread = StoreThread::start(store).unwrap();
        let opts = Options {
            names: Vec::new(),
            concurrency: 1,
            jitter: Duration::ZERO,
            min_interval: None,
            wait: true,
            force: true,
            http_timeout: Duration::from_secs(1),
            trace: None,
            host: "here".into(),
        };
        let base = url::Url::parse("http://127.0.0.1:9/").unwrap();
        let none = HashSet::new();
        let run = Run {
            store: &thread,
            http: reqwest::Client::new(),
            endpoints: Endpoints::all_at(&base),
            passport_elsewhere: true,
            default_ua: "ua",
            owner: "2-cd@here",
            opts: &opts,
            under_way: &none,
            talking: None,
        };
        let id = a.id;
        let delete = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            // `qrlogin delete` is another process, with a connection of its own.
            let at = Location::Sqlite(dir.path().join("a.db"));
            let other = Store::open(&at).unwrap();
            other.delete(id).unwrap();
        };
        let waiting = tokio::time::timeout(
            Duration::from_secs(10),
            run.one(Planned::from(&a), a.clone(), None),
        );
        let (report, ()) = tokio::join!(waiting, delete);
        let report = report.expect("waited for a deleted account").unwrap();
        assert_eq!(report.skipped, Some(Skip::Leased));
    }

    #[tokio::test]
    async fn a_busy_row_is_asked_again_sooner_then_later_for_a_lease_length_at_most() {
        let mut b = Backoff::default();
        assert!(b.exhausted(0) && !b.exhausted(1));
        let mut slot = Some(Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap());
        for _ in 0..3 {
            b.wait(&mut slot).await;
        }
        assert_eq!(b.waited, Duration::from_millis(5 + 10 + 20));
        // The slot was given back while it waited, and taken again.
        assert!(slot.is_some());
        assert!(!b.exhausted(1));
        b.next = Duration::from_millis(500);
        b.wait(&mut None).await;
        assert_eq!(b.next, Backoff::MAX);
        assert!(b.exhausted(1));
    }

    #[test]
    fn only_this_hosts_dead_processes_lose_their_leases_early() {
        // pid 1 never goes away and a pid past the kernel's limit never existed.
        let dead = format!("{}-ab@here", i32::MAX - 1);
        assert!(owner_is_gone(&dead, "here"));
        assert!(!owner_is_gone(&dead, "elsewhere"));
        assert!(!owner_is_gone("1-ab@here", "here"));
        // Leases written before hosts were recorded are this host's.
        assert!(owner_is_gone(&format!("{}-ab", i32::MAX - 1), "here"));
        assert!(!owner_is_gone("garbage", "here"));
    }
}
