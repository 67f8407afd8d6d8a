//! The store during a refresh: owned by one thread of its own that runs the accounts'
//! store calls one after another, while their tasks wait without blocking a runtime
//! worker.
//!
//! Why not a mutex and `block_in_place`: every call would hold a tokio worker for as long
//! as it blocks, and the tasks queued behind the mutex would each take a thread of their
//! own. With a PostgreSQL round trip inside every call, that is dozens of threads handing
//! work to each other for every account. One thread and a queue give the same order of
//! writes, with none of that.

use crate::store::Store;
use std::sync::mpsc;

type Job = Box<dyn FnOnce(&Store) + Send>;

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
            .spawn(move || {
                for job in queue {
                    job(&store);
                }
            })?;
        Ok(StoreThread { jobs })
    }

    /// Run `f` on the store thread and wait for its answer. `None` only if the thread is
    /// gone (it panicked): the caller reports that as an error.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |s| {
            let _ = answer.send(f(s));
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}
