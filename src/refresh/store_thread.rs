//! The store during a refresh: owned by one thread of its own that runs the accounts'
//! store calls one after another, while their tasks wait without blocking a runtime
//! worker.
//!
//! Why not a mutex and `block_in_place`: every call would hold a tokio worker for as long
//! as it blocks, and the tasks queued behind the mutex would each take a thread of their
//! own. With a PostgreSQL round trip inside every call, that is dozens of threads handing
//! work to each other for every account. One thread and a queue give the same order of
//! writes, with none of that.
//!
//! The thread also groups refresh results (`StoreThread::record`): those that reach it
//! within `GROUP_WAIT` are written together (`Store::record_refreshes`) at the next call a
//! task waits on to go on (a claim, a lease), or once `GROUP_MAX` are in. On SQLite they
//! share one commit, each a savepoint of it (`Store::hold_commits`): a commit of its own
//! for every account was a tenth of a refresh's CPU at 10,000 accounts and more at
//! 100,000. On PostgreSQL they share one transaction of two round trips: statements for
//! each account were most of the server's work in a fleet. The answers wait for that
//! commit, so no task hears "stored" of a result that a failed commit then undid.
//!
//! A result whose row another writer holds (`StoreError::RowBusy`) is put aside and tried
//! again by itself, sooner then less often, while the thread goes on with the rest: one
//! account an import holds must not hold up every other store call of the run.

use crate::store::{Account, Recorded, RefreshRecord, Store, StoreError, Undone};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How many results at most are written together: bounds how long SQLite's write lock is
/// held while other processes on the same file wait, and a PostgreSQL statement's size.
const GROUP_MAX: usize = 64;

/// How long a group waits for more results once the queue is empty. Results come one at
/// a time, each well before the next (the thread is idle most of a refresh), so without
/// a wait nearly every group would be one result. An answer waits at most this long
/// more; a refresh's slots are given back before their results are stored, so this costs
/// no throughput, only a lease held that much longer.
const GROUP_WAIT: Duration = Duration::from_millis(10);

/// The first wait before a result whose row was held is tried again; each further try
/// waits twice as long, up to `RETRY_MAX`. A try costs the thread the backend's short wait
/// for the row (100 ms on PostgreSQL), so a row held for long costs a tenth of it at most.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// What a call leaves once it has run: its answer, handed over when its commit is done.
type Deliver = Box<dyn FnOnce(Option<&Undone>) + Send>;

/// A refresh result, its account as read, and its answer: the account and the result come
/// back with it, for the report.
type RecordAnswer = Result<(Recorded, Account, RefreshRecord), StoreError>;

struct Recording {
    account: Account,
    owner: String,
    rec: RefreshRecord,
    answer: oneshot::Sender<RecordAnswer>,
    /// How long it waited before its last try, when its row was held (`RowBusy`).
    waited: Duration,
}

/// A result put aside because another writer held its row: tried again at `at`.
struct Busy {
    at: Instant,
    result: Recording,
    /// Its last answer, given if the thread must end before it is written.
    error: StoreError,
}

enum Job {
    /// A call its task waits on to go on.
    Call(Box<dyn FnOnce(&Store) -> Deliver + Send>),
    Record(Box<Recording>),
}

pub(super) struct StoreThread {
    jobs: mpsc::Sender<Job>,
}

impl StoreThread {
    /// Move `store` to a new thread; it ends (and drops the store) when the last
    /// `StoreThread` handle is dropped.
    pub fn start(store: Store) -> std::io::Result<StoreThread> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("qrlogin-store".into())
            .spawn(move || serve(&store, &queue))?;
        Ok(StoreThread { jobs })
    }

    /// Run `f` on the store thread and wait for its answer, which comes as soon as what it
    /// wrote is committed (with the results written before it). `None` only if the thread
    /// is gone (it panicked): the caller reports that as an error.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<Result<T, StoreError>> {
        let (answer, answered) = oneshot::channel();
        let job = Box::new(move |s: &Store| -> Deliver {
            let out = f(s);
            Box::new(move |undone: Option<&Undone>| {
                let _ = answer.send(answer_after(out, undone));
            })
        });
        self.jobs.send(Job::Call(job)).ok()?;
        answered.await.ok()
    }

    /// Store a refresh result (`Store::record_refresh`), with others that come within
    /// `GROUP_WAIT`: nothing waits on it but a report. A lease or a claim must not wait
    /// so: the next accounts wait on it, and a batch's lead is about that long.
    pub async fn record(
        &self,
        account: Account,
        owner: String,
        rec: RefreshRecord,
    ) -> Option<RecordAnswer> {
        let (answer, answered) = oneshot::channel();
        let job = Recording {
            account,
            owner,
            rec,
            answer,
            waited: Duration::ZERO,
        };
        self.jobs.send(Job::Record(Box::new(job))).ok()?;
        answered.await.ok()
    }
}

/// A call's answer once its group's commit is done: one that failed by itself keeps its
/// own error; one that succeeded is undone with its group.
fn answer_after<T>(out: Result<T, StoreError>, undone: Option<&Undone>) -> Result<T, StoreError> {
    match (out, undone) {
        (Ok(_), Some(u)) => Err(StoreError::from(u.clone())),
        (out, _) => out,
    }
}

/// The results not yet written, and the answers written but not yet committed; and the
/// results put aside to be tried again.
#[derive(Default)]
struct Group {
    results: Vec<Recording>,
    waiting: Vec<Deliver>,
    busy: Vec<Busy>,
}

impl Group {
    fn len(&self) -> usize {
        self.results.len() + self.waiting.len()
    }

    /// Write the results held, in the order they came.
    fn write(&mut self, store: &Store) {
        if self.results.is_empty() {
            return;
        }
        let results = std::mem::take(&mut self.results);
        let batch: Vec<_> = results
            .iter()
            .map(|r| (&r.account, r.owner.as_str(), &r.rec))
            .collect();
        let outs = store.record_refreshes(&batch);
        for (mut r, out) in results.into_iter().zip(outs) {
            if let Err(error @ StoreError::RowBusy { .. }) = out {
                r.waited = (r.waited * 2).clamp(RETRY_FIRST, RETRY_MAX);
                self.busy.push(Busy {
                    at: Instant::now() + r.waited,
                    result: r,
                    error,
                });
                continue;
            }
            let Recording {
                account,
                rec,
                answer,
                ..
            } = r;
            self.waiting.push(Box::new(move |undone: Option<&Undone>| {
                let out = out.map(|recorded| (recorded, account, rec));
                let _ = answer.send(answer_after(out, undone));
            }));
        }
    }

    /// When the next result put aside is due to be tried again.
    fn next_retry(&self) -> Option<Instant> {
        self.busy.iter().map(|b| b.at).min()
    }

    /// Try again, each by itself, the results put aside whose time has come (after
    /// settling what is held: they are written alone, so that a row still held costs no
    /// other result its group).
    fn retry_due(&mut self, store: &Store) {
        let now = Instant::now();
        if !self.busy.iter().any(|b| b.at <= now) {
            return;
        }
        self.settle(store);
        let (due, later): (Vec<Busy>, Vec<Busy>) = std::mem::take(&mut self.busy)
            .into_iter()
            .partition(|b| b.at <= now);
        self.busy = later;
        for b in due {
            self.results.push(b.result);
            self.settle(store);
        }
    }

    /// Write what is held, commit, and give every waiting call its answer.
    fn settle(&mut self, store: &Store) {
        self.write(store);
        if self.waiting.is_empty() {
            return;
        }
        let undone = store.commit_held().err();
        for deliver in self.waiting.drain(..) {
            deliver(undone.as_ref());
        }
    }
}

/// The thread's loop: hold each result as it comes, and write and commit (then answer)
/// at a call, once the first result held has waited `GROUP_WAIT`, or when a group is full;
/// and try again the results put aside, each when its time comes.
fn serve(store: &Store, queue: &mpsc::Receiver<Job>) {
    store.hold_commits();
    let mut group = Group::default();
    let mut due = Instant::now();
    loop {
        if group.len() > 0 && Instant::now() >= due {
            group.settle(store);
        }
        group.retry_due(store);
        let settle_at = (group.len() > 0).then_some(due);
        let wake = [settle_at, group.next_retry()].into_iter().flatten().min();
        let job = match wake {
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
            Some(wake) => {
                match queue.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        match job {
            Job::Call(call) => {
                // The results that came before it are written before it runs.
                group.write(store);
                group.waiting.push(call(store));
                group.settle(store);
            }
            Job::Record(result) => {
                if group.len() == 0 {
                    due = Instant::now() + GROUP_WAIT;
                }
                group.results.push(*result);
                if group.len() >= GROUP_MAX || Instant::now() >= due {
                    group.settle(store);
                }
            }
        }
    }
    group.settle(store);
    // Only when no task is left to wait for them (each holds a handle while it waits).
    for b in group.busy.drain(..) {
        let _ = b.result.answer.send(Err(b.error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Location, NewAccount, Status};

    #[test]
    fn an_answer_undone_with_its_group_says_so_and_a_failure_keeps_its_own_error() {
        let undone = Undone {
            store: "/s.db".into(),
            why: "disk I/O error".into(),
        };
        let err = answer_after(Ok(1), Some(&undone)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the account database /s.db could not commit a group of refresh results \
             (disk I/O error); none of that group was stored"
        );
        let own = StoreError::PendingExpired {
            id: "p".into(),
            at: 0,
        };
        let kept = answer_after::<()>(Err(own), Some(&undone)).unwrap_err();
        assert!(matches!(kept, StoreError::PendingExpired { .. }), "{kept}");
        assert_eq!(answer_after(Ok(2), None).unwrap(), 2);
    }

    #[tokio::test]
    async fn a_write_is_answered_only_once_others_can_see_it() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("a.db"));
        let store = Store::open_sealed_for_tests(&dir.path().join("a.db"));
        let new = NewAccount::from_cookies(
            vec![crate::cookies::Cookie::for_domain(
                "unb",
                "1",
                ".goofish.com",
            )],
            None,
            Status::Unknown,
        );
        let (mut a, _) = store.save(&new, 0).unwrap();
        let thread = StoreThread::start(store).unwrap();
        let other = Store::open(&at).unwrap();
        for round in 0..3 {
            let owner = format!("{round}-x@here");
            let o = owner.clone();
            let id = a.id;
            let leased = thread.call(move |s| s.try_lease(id, &o, i64::MAX, 0)).await;
            assert!(leased.unwrap().unwrap().taken());
            assert_eq!(other.lease_owner(a.id).unwrap().as_deref(), Some(&*owner));
            // A result held for its group is answered only once it is committed.
            let rec = RefreshRecord {
                status: Status::Ok,
                checked_at: 100 + round,
                refreshed: false,
                consecutive_failures: 0,
                next_attempt_at: None,
                cookies: None,
                long_login_refused: None,
            };
            let (recorded, _, _) = thread.record(a, owner, rec).await.unwrap().unwrap();
            assert!(recorded.stored());
            assert_eq!(other.lease_owner(id).unwrap(), None);
            a = other.all_brief().unwrap().remove(0);
            assert_eq!(a.last_checked, Some(100 + round));
        }
    }
}
