//! The built-in Goofish passport simulator: passport.goofish.com, h5api.m.goofish.com and
//! www.goofish.com on one loopback port, faithful to ../shared/protocol.md, with a phone
//! (a browser page and a control API) and injectable faults. It ships in the binary
//! (`qrlogin simulate`, `qrlogin demo`) and every integration test runs against it.
//!
//! Served over plain HTTP on an address, so cookies are host-only and never `Secure`;
//! they still flow between the three "hosts" because all three are this one origin.

mod pages;
mod routes;
mod state;

pub use state::{Fault, FaultKind, QrStatus, Scenario, SessionState, Variant};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use url::Url;

pub(crate) struct Shared {
    pub world: Mutex<state::World>,
    pub base: Url,
}

impl Shared {
    /// Lock the world. A poisoned lock means a handler panicked mid-change; the data is
    /// still the best we have, and a test simulator must keep answering.
    pub fn world(&self) -> std::sync::MutexGuard<'_, state::World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator. Dropping it does not stop the server; `shutdown` does.
pub struct Simulator {
    pub base: Url,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Bind `listen` and serve in the current tokio runtime.
    pub async fn start(listen: &str, scenario: Scenario) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}/"))?;
        let shared = Arc::new(Shared {
            world: Mutex::new(state::World::new(scenario)),
            base: base.clone(),
        });
        let app = routes::router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(Simulator {
            base,
            addr,
            shared,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// What the simulator saw that no test should cause: requests for paths it does not
    /// serve and handlers that panicked.
    pub fn take_unexpected(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.world().unexpected)
    }

    /// The page a phone (or a person with a browser) opens for the latest QR code.
    pub fn phone_url(&self) -> String {
        format!("{}qrcodeCheck.htm?lgToken=latest", self.base)
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
