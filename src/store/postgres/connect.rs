//! Connecting to PostgreSQL from a libpq URL: `sslmode` as libpq means it (`disable`,
//! `prefer`, the default, and `require` encrypt without checking the server's certificate;
//! `verify-ca` and `verify-full` check it against `sslrootcert` or the system's roots, and
//! its host name), and a connect timeout so an unreachable server fails in seconds.
//! tokio-postgres knows only disable/prefer/require, so the TLS parameters are taken out
//! of the URL here and applied with rustls.

use super::driver::Driver;
use crate::store::StoreError;
use crate::store::location::PgUrl;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;
use tokio_postgres::config::SslMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    Verify,
}

/// Connect: the client, whether the session is encrypted, and the driver its connection
/// task runs on (see `driver`).
pub(super) fn connect(url: &PgUrl) -> Result<(Client, bool, Driver), StoreError> {
    let shown = url.redacted();
    let unreachable = |why: String| StoreError::Unreachable {
        url: shown.clone(),
        why,
    };
    let (rest, mode, root) = split_tls(url.expose()).map_err(&unreachable)?;
    let mut config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| unreachable(format!("not a usable PostgreSQL URL ({e})")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("qrlogin");
    }
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::Verify => SslMode::Require,
    });
    let tls = tls_config(mode, root.as_deref()).map_err(&unreachable)?;
    let driver =
        Driver::new().map_err(|e| unreachable(format!("cannot start its connection: {e}")))?;
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let cannot_wait = || unreachable("cannot wait for the server on a one-thread runtime".into());
    let (client, connection) = driver
        .block_on(config.connect(connector))
        .ok_or_else(cannot_wait)?
        .map_err(|e| unreachable(super::describe(&e)))?;
    // Runs until the client is dropped (or the server goes away, which the next query
    // reports), whenever a caller waits on the driver.
    driver.spawn(async move {
        let _ = connection.await;
    });
    let encrypted = mode != Mode::Disable
        && driver
            .block_on(is_encrypted(&client))
            .ok_or_else(cannot_wait)?;
    Ok((client, encrypted, driver))
}

/// Whether the server sees this session as encrypted.
async fn is_encrypted(client: &Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false)
}

/// The URL without `sslmode`/`sslrootcert`, the mode, and the root certificate file.
fn split_tls(url: &str) -> Result<(String, Mode, Option<String>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Mode::Prefer, None));
    };
    let mut mode = Mode::Prefer;
    let mut root = None;
    let mut kept = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "sslmode" => {
                mode = match v.as_str() {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" | "verify-full" => Mode::Verify,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => root = Some(v),
            _ => kept.push(kv),
        }
    }
    // libpq: a root certificate makes `require` check the server against it.
    if root.is_some() && mode == Mode::Require {
        mode = Mode::Verify;
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

fn tls_config(mode: Mode, root: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    if mode != Mode::Verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(file) => {
            let pem = std::fs::read(file).map_err(|e| format!("sslrootcert {file}: {e}"))?;
            let mut found = 0;
            for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                let cert: CertificateDer<'static> =
                    cert.map_err(|e| format!("sslrootcert {file}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {file}: {e}"))?;
                found += 1;
            }
            if found == 0 {
                return Err(format!("sslrootcert {file}: no certificate in it"));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// libpq's `prefer` and `require`: encrypted, the certificate not checked (but the
/// handshake's signatures are, so the session is with whoever holds the key it shows).
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, mode, root) =
            split_tls("postgres://u:p@h/db?sslmode=verify-full&sslrootcert=%2Fca.pem&x=1").unwrap();
        assert_eq!(
            (rest.as_str(), mode, root.as_deref()),
            ("postgres://u:p@h/db?x=1", Mode::Verify, Some("/ca.pem"))
        );
        assert_eq!(split_tls("postgres://h/db").unwrap().1, Mode::Prefer);
        assert_eq!(
            split_tls("postgres://h/db?sslmode=disable").unwrap().0,
            "postgres://h/db"
        );
        assert!(split_tls("postgres://h/db?sslmode=maybe").is_err());
    }
}
