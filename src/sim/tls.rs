//! The simulator over HTTPS on the real hostnames (`simulate --tls`, the TLS-mode tests):
//! a throwaway CA made at start-up, one certificate for every Goofish host the flow visits,
//! and an accept loop that hands each TLS connection to the same axum router.
//!
//! The CA's key lives only in this process: the CA certificate a client is told to trust
//! (`QRLOGIN_CA_FILE`) can sign nothing once the simulator stops.

use axum::Router;
use axum::extract::ConnectInfo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// The names the certificate covers: the three hosts of protocol.md and, for whatever
/// else a page links to, any other name under goofish.com.
pub const HOSTS: [&str; 3] = [
    "passport.goofish.com",
    "h5api.m.goofish.com",
    "www.goofish.com",
];

/// A CA and a server configuration whose certificate it signed.
pub(super) struct Authority {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

pub(super) fn authority() -> anyhow::Result<Authority> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "qrlogin simulator throwaway CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut names: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
    names.extend(["goofish.com".into(), "*.goofish.com".into()]);
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "passport.goofish.com");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)?;
    // The router speaks HTTP/1.1 only (axum is built without http2).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Authority {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}

/// Accept TCP connections until `stop`, each one's TLS handshake and requests in a task of
/// its own so that a slow or failing handshake holds up no one else.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a reset before accept: try again shortly.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            // What `into_make_service_with_connect_info` gives the plain server's handlers.
            let app = app.layer(axum::Extension(ConnectInfo::<SocketAddr>(peer)));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}
