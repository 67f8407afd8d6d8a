//! The built-in Goofish passport simulator: passport.goofish.com, h5api.m.goofish.com and
//! www.goofish.com on one loopback port, faithful to ../shared/protocol.md, with a phone
//! (a browser page and a control API) and injectable faults. It ships in the binary
//! (`qrlogin simulate`, `qrlogin demo`) and every integration test runs against it.
//!
//! Two transports. Plain HTTP on an address (the default): cookies are host-only and never
//! `Secure`, and they still flow between the three "hosts" because all three are this one
//! origin. Or HTTPS on the real hostnames (`tls`): a throwaway CA signs a certificate for
//! them, the client is pointed here with `--resolve` and trusts the CA through
//! `QRLOGIN_CA_FILE`, and cookies are scoped as the real service scopes them.

mod latency;
mod pages;
mod routes;
mod state;
mod tls;

pub use state::{Fault, FaultKind, QrStatus, Scenario, SessionState, Variant};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use url::Url;

pub(crate) struct Shared {
    pub world: Mutex<state::World>,
    pub hosts: Hosts,
    /// Serving HTTPS on the real hostnames: cookies get `Domain=.goofish.com; Secure`.
    pub tls: bool,
    /// What holds each answer for the scenario's latency.
    pub latency: latency::Latency,
}

/// Where each simulated host is reached: one base URL each, all served by this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    pub passport: Url,
    pub h5api: Url,
    pub www: Url,
}

/// How the simulator is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP, URLs on the listening address.
    Http,
    /// HTTPS with a throwaway CA, URLs on the real hostnames at the listening port.
    Tls,
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
    /// Passport's base URL: the phone's page and the control API are served there.
    pub base: Url,
    pub hosts: Hosts,
    pub addr: SocketAddr,
    /// The throwaway CA's certificate (PEM) when serving TLS.
    pub ca_pem: Option<String>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Bind `listen` and serve plain HTTP in the current tokio runtime.
    pub async fn start(listen: &str, scenario: Scenario) -> anyhow::Result<Simulator> {
        Simulator::start_on(listen, scenario, Transport::Http).await
    }

    /// Bind `listen` and serve with `transport` in the current tokio runtime.
    pub async fn start_on(
        listen: &str,
        scenario: Scenario,
        transport: Transport,
    ) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let hosts = match transport {
            Transport::Http => {
                let base = Url::parse(&format!("http://{addr}/"))?;
                Hosts {
                    passport: base.clone(),
                    h5api: base.clone(),
                    www: base,
                }
            }
            Transport::Tls => {
                let at = |host: &str| Url::parse(&format!("https://{host}:{}/", addr.port()));
                Hosts {
                    passport: at(tls::HOSTS[0])?,
                    h5api: at(tls::HOSTS[1])?,
                    www: at(tls::HOSTS[2])?,
                }
            }
        };
        let shared = Arc::new(Shared {
            world: Mutex::new(state::World::new(scenario)),
            hosts: hosts.clone(),
            tls: transport == Transport::Tls,
            latency: latency::Latency::default(),
        });
        let app = routes::router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (task, ca_pem) = match transport {
            Transport::Http => {
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
                (task, None)
            }
            Transport::Tls => {
                let authority = tls::authority()
                    .map_err(|e| anyhow::anyhow!("cannot make the simulator's CA: {e}"))?;
                let task = tokio::spawn(tls::serve(listener, app, authority.config, rx));
                (task, Some(authority.ca_pem))
            }
        };
        Ok(Simulator {
            base: hosts.passport.clone(),
            hosts,
            addr,
            ca_pem,
            shared,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// curl-style `HOST:PORT:ADDR` entries that send each simulated hostname here (none
    /// for plain HTTP, whose URLs already hold the address).
    pub fn resolve_entries(&self) -> Vec<String> {
        if self.ca_pem.is_none() {
            return Vec::new();
        }
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
            ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        let ip = match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        tls::HOSTS
            .iter()
            .map(|h| format!("{h}:{}:{ip}", self.addr.port()))
            .collect()
    }

    /// What the simulator saw that no test should cause: requests for paths it does not
    /// serve and handlers that panicked.
    pub fn take_unexpected(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.world().unexpected)
    }

    /// Answers held for the scenario's latency so far, and their total time from their
    /// requests' arrival to their release: a benchmark's check that the latency it divides
    /// by is the latency served.
    pub fn served_latency(&self) -> (u64, std::time::Duration) {
        self.shared.latency.served()
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
