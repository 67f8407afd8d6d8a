//! Where the connection runs: on whichever thread is waiting for the server.
//!
//! tokio-postgres splits a session into a client, which sends requests, and a connection
//! task, which does the socket's reading and writing. The task used to run on a thread of
//! its own, so every request crossed two threads and back: the caller woke that thread,
//! and it woke the caller with the answer. A refresh makes thousands of requests, and
//! those wake-ups were about a third of its store thread's context switches. Now the task
//! lives on a one-thread runtime that only runs while a caller blocks on it (`block_on`),
//! so a request is written, and its answer read, by the thread that waits for it. Between
//! requests nothing polls the socket; nothing needs to, as the server speaks only when
//! asked.

use std::future::Future;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

pub(super) struct Driver {
    /// `Some` until dropped: `Drop` takes it to shut it down without waiting.
    rt: Option<Runtime>,
}

impl Driver {
    pub fn new() -> std::io::Result<Driver> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Driver { rt: Some(rt) })
    }

    /// Run `task` (the connection) whenever a caller waits on this driver.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.runtime().spawn(task));
    }

    /// Wait for `fut`, driving the connection meanwhile. From a thread of a multi-thread
    /// runtime (a command's async code) the wait is moved off the runtime's worker, as a
    /// runtime cannot block inside another. A one-thread runtime cannot spare its thread
    /// (`None`): the refresh, which runs on one, makes its store calls on its store thread.
    pub fn block_on<F: Future>(&self, fut: F) -> Option<F::Output> {
        let rt = self.runtime();
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => Some(rt.block_on(fut)),
            Ok(RuntimeFlavor::MultiThread) => {
                Some(tokio::task::block_in_place(|| rt.block_on(fut)))
            }
            Ok(_) => None,
        }
    }

    fn runtime(&self) -> &Runtime {
        // Invariant: only `drop` takes the runtime.
        self.rt
            .as_ref()
            .expect("the driver's runtime is there until dropped")
    }
}

impl Drop for Driver {
    /// Without waiting: dropping a runtime waits for its blocking threads, which a
    /// runtime's worker (a store dropped in async code) may not do. The connection task
    /// ends with it, closing the socket; outside a transaction the server takes that as
    /// the end of the session.
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Driver;

    /// A future that needs the driver's own runtime: a task spawned on it (as the
    /// connection is) that only that runtime runs.
    fn answer(driver: &Driver) -> tokio::sync::oneshot::Receiver<u32> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        driver.spawn(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(7);
        });
        rx
    }

    #[test]
    fn waits_on_a_plain_thread_and_on_a_runtime_worker_but_not_on_a_one_thread_runtime() {
        let driver = Driver::new().unwrap();
        let rx = answer(&driver);
        assert_eq!(driver.block_on(rx).map(Result::ok), Some(Some(7)));

        let workers = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let from_worker = workers.block_on(async {
            tokio::spawn(async move {
                let rx = answer(&driver);
                let got = driver.block_on(rx).map(Result::ok);
                // Dropped on a worker: must not wait for the blocking pool there.
                drop(driver);
                got
            })
            .await
            .unwrap()
        });
        assert_eq!(from_worker, Some(Some(7)));

        let one = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let driver = Driver::new().unwrap();
        let refused = one.block_on(async { driver.block_on(std::future::ready(1)) });
        assert_eq!(refused, None);
    }
}
