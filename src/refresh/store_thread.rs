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
//! The thread also groups commits (`Store::hold_commits`, SQLite): the results that reach
//! it within `GROUP_WAIT` share one transaction, each call a savepoint of it, committed
//! then, at the next call a task waits on to go on (a claim, a lease), or once `GROUP_MAX`
//! calls are in. A commit of its own for every account was a tenth of a refresh's CPU at
//! 10,000 accounts and more at 100,000. The answers wait for that commit, so no task hears
//! "stored" of a result that a failed commit then undid.

use crate::store::{Store, StoreError, Undone};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How many calls at most share a commit: bounds how long the write lock is held while
/// other processes on the same file wait.
const GROUP_MAX: usize = 64;

/// How long a commit waits for more calls to share it once the queue is empty. Calls come
/// one at a time, each well before the next (the thread is idle most of a refresh), so
/// without a wait nearly every group would be one call. An answer waits at most this
/// long more; a refresh's slots are given back before their results are stored, so this
/// costs no throughput. The write lock is held as long: another process writing the same
/// file waits that much more (its busy timeout is 30 s).
const GROUP_WAIT: Duration = Duration::from_millis(10);

/// What a call leaves once it has run: its answer, handed over when its commit is done.
type Deliver = Box<dyn FnOnce(Option<&Undone>) + Send>;
/// A call, and whether its caller waits on it to go on (`call`) or only to report
/// (`call_grouped`).
type Job = (Box<dyn FnOnce(&Store) -> Deliver + Send>, Urgent);
#[derive(Clone, Copy, PartialEq)]
enum Urgent {
    Yes,
    No,
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
    /// wrote is committed (with what was held before it). `None` only if the thread is
    /// gone (it panicked): the caller reports that as an error.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<Result<T, StoreError>> {
        self.send(f, Urgent::Yes).await
    }

    /// `call` for a write nothing waits on but a report (a refresh's result): it may wait
    /// up to `GROUP_WAIT` for others to share its commit. A lease or a claim must not:
    /// the next accounts wait on it, and a batch's lead is about that long.
    pub async fn call_grouped<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<Result<T, StoreError>> {
        self.send(f, Urgent::No).await
    }

    async fn send<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        urgent: Urgent,
    ) -> Option<Result<T, StoreError>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job = Box::new(move |s: &Store| -> Deliver {
            let out = f(s);
            Box::new(move |undone: Option<&Undone>| {
                let _ = answer.send(answer_after(out, undone));
            })
        });
        self.jobs.send((job, urgent)).ok()?;
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

/// The thread's loop: run each call as it comes, and commit (then answer) at an urgent
/// call, once the first waiting call has waited `GROUP_WAIT`, or when a group is full.
fn serve(store: &Store, queue: &mpsc::Receiver<Job>) {
    let grouped = store.hold_commits();
    let mut waiting: Vec<Deliver> = Vec::with_capacity(GROUP_MAX);
    let mut due = Instant::now();
    loop {
        let job = if waiting.is_empty() {
            match queue.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        } else {
            match queue.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    settle(store, &mut waiting);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
        let (job, urgent) = job;
        let deliver = job(store);
        if !grouped {
            deliver(None);
            continue;
        }
        if waiting.is_empty() {
            due = Instant::now() + GROUP_WAIT;
        }
        waiting.push(deliver);
        if urgent == Urgent::Yes || waiting.len() >= GROUP_MAX || Instant::now() >= due {
            settle(store, &mut waiting);
        }
    }
    settle(store, &mut waiting);
}

/// Commit what the waiting calls wrote and give them their answers.
fn settle(store: &Store, waiting: &mut Vec<Deliver>) {
    if waiting.is_empty() {
        return;
    }
    let undone = store.commit_held().err();
    for deliver in waiting.drain(..) {
        deliver(undone.as_ref());
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
        let (a, _) = store.save(&new, 0).unwrap();
        let thread = StoreThread::start(store).unwrap();
        let other = Store::open(&at).unwrap();
        for round in 0..3 {
            let owner = format!("{round}-x@here");
            let o = owner.clone();
            // Grouped or not, an answer means committed.
            let leased = thread
                .call_grouped(move |s| s.try_lease(a.id, &o, i64::MAX, 0))
                .await;
            assert!(leased.unwrap().unwrap());
            assert_eq!(other.lease_owner(a.id).unwrap().as_deref(), Some(&*owner));
            let o = owner.clone();
            thread
                .call(move |s| s.release(a.id, &o))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(other.lease_owner(a.id).unwrap(), None);
        }
    }
}
