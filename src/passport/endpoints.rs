//! Where the client sends each request: the three Goofish hosts and their defaults, plus
//! how it reaches them (`--resolve` overrides, an extra CA to trust). Owned by the passport
//! client (it is the only code that talks to them); `settings` reads the `QRLOGIN_*_URL`,
//! `QRLOGIN_RESOLVE` and `QRLOGIN_CA_FILE` overrides into this type, and the simulator
//! serves all three hosts on one port.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use url::Url;

pub const DEFAULT_PASSPORT_URL: &str = "https://passport.goofish.com";
pub const DEFAULT_H5API_URL: &str = "https://h5api.m.goofish.com";
pub const DEFAULT_WWW_URL: &str = "https://www.goofish.com";
/// The domain all three hosts, and the cookies they set, belong to.
pub const SERVICE_DOMAIN: &str = "goofish.com";

/// The three Goofish hosts a client talks to, and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub passport: Url,
    pub h5api: Url,
    pub www: Url,
    /// `--resolve` / `QRLOGIN_RESOLVE`: hostnames sent to fixed addresses.
    pub resolve: Vec<Resolve>,
    /// `QRLOGIN_CA_FILE`: a CA trusted beside the system roots, never instead of them.
    pub extra_ca: Option<ExtraCa>,
}

impl Endpoints {
    pub fn all_at(base: &Url) -> Endpoints {
        Endpoints {
            passport: base.clone(),
            h5api: base.clone(),
            www: base.clone(),
            resolve: Vec::new(),
            extra_ca: None,
        }
    }

    /// The addresses `--resolve` gives `host`, if any entry names it.
    pub fn resolved(&self, host: &str) -> Vec<SocketAddr> {
        self.resolve
            .iter()
            .filter(|r| r.host.eq_ignore_ascii_case(host))
            .map(|r| SocketAddr::new(r.addr, r.port))
            .collect()
    }
}

/// One curl-style `HOST:PORT:ADDR` entry. The HTTP client resolves names, not name-port
/// pairs, so an entry applies to HOST whatever port a URL names; PORT is kept for the
/// address it connects to when the URL has no port of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl Resolve {
    /// Parse `HOST:PORT:ADDR` (ADDR an IPv4 address or a bracketed IPv6 one).
    pub fn parse(entry: &str) -> Result<Resolve, String> {
        let bad = |why: &str| format!("`{entry}` is not HOST:PORT:ADDR ({why})");
        let mut parts = entry.trim().splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("three parts separated by `:`"));
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad("HOST must be a hostname"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("PORT must be a number from 1 to 65535"))?;
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr)
            .parse::<IpAddr>()
            .map_err(|_| bad("ADDR must be an IP address; write IPv6 in brackets"))?;
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

impl fmt::Display for Resolve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "{}:{}:[{a}]", self.host, self.port),
            IpAddr::V4(a) => write!(f, "{}:{}:{a}", self.host, self.port),
        }
    }
}

/// An extra CA bundle: its path (for messages) and its PEM text, checked at load time to
/// hold at least one certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtraCa {
    pub path: PathBuf,
    pub pem: Arc<[u8]>,
    pub certificates: usize,
}

impl ExtraCa {
    pub fn load(path: &Path) -> Result<ExtraCa, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut certificates = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|e| format!("{} is not a PEM certificate bundle ({e})", path.display()))?;
            certificates += 1;
        }
        if certificates == 0 {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        Ok(ExtraCa {
            path: path.to_owned(),
            pem: pem.into(),
            certificates,
        })
    }
}

impl fmt::Debug for ExtraCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraCa")
            .field("path", &self.path)
            .field("certificates", &self.certificates)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_parse_as_curl_writes_them() {
        let r = Resolve::parse("Passport.Goofish.com:8443:127.0.0.1").unwrap();
        assert_eq!(r.host, "passport.goofish.com");
        assert_eq!(r.port, 8443);
        assert_eq!(r.to_string(), "passport.goofish.com:8443:127.0.0.1");
        let v6 = Resolve::parse("www.goofish.com:443:[::1]").unwrap();
        assert_eq!(v6.addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(v6.to_string(), "www.goofish.com:443:[::1]");
        for bad in [
            "",
            "host",
            "host:443",
            "host:x:127.0.0.1",
            "host:0:127.0.0.1",
            "host:443:not-an-ip",
            "ho st:443:127.0.0.1",
            ":443:127.0.0.1",
        ] {
            assert!(Resolve::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn an_extra_ca_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(ExtraCa::load(&empty).unwrap_err().contains("holds no PEM"));
        let missing = dir.path().join("missing.pem");
        assert!(ExtraCa::load(&missing).unwrap_err().contains("cannot read"));
    }
}
