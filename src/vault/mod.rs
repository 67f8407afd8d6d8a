//! Encryption at rest: the keys that seal every stored secret (cookie values, a pending
//! login's jar and tokens) and the sealing itself.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per value, so no nonce bookkeeping is
//! needed across hosts sharing a store. The associated data names the row a value belongs
//! to (account unb, cookie name, domain, path), so a ciphertext copied into another row
//! fails to open instead of being accepted. A key is known by its id, a short fingerprint
//! that is safe to print and to store beside each value; the key itself never leaves this
//! module but through `export` of `qrlogin key export`.
//!
//! `source` finds the key (environment, command, files) and creates the default one.
//! This module knows nothing of the store: the store calls `seal` and `open`.

mod source;

pub use source::{
    KeyFileLock, KeySources, Loaded, load, load_or_create, load_required, lock_key_file,
    parse_keys, write_key_file,
};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use sha2::Digest;
use std::fmt;
use std::path::PathBuf;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no encryption key: the store holds encrypted values and none of QRLOGIN_KEY, QRLOGIN_KEY_COMMAND, QRLOGIN_KEY_FILE, $CREDENTIALS_DIRECTORY/qrlogin.key or {} gives a key (copy it from the host that has it: `qrlogin key export` there, `qrlogin key import` here)",
        default.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "the default key file".into())
    )]
    NoKey { default: Option<PathBuf> },
    #[error("the key from {from} is unusable: {why}")]
    BadKey { from: String, why: String },
    #[error("the key file {} is readable by others (mode {mode:o}); refusing it, as ssh does: chmod 600 {}", path.display(), path.display())]
    OpenKeyFile { path: PathBuf, mode: u32 },
    #[error("the key file {} belongs to another user; refusing it", path.display())]
    ForeignKeyFile { path: PathBuf },
    #[error("cannot write the key file {}: {why}", path.display())]
    Write { path: PathBuf, why: String },
}

/// One 256-bit key and its id. Zeroed when dropped.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl Key {
    pub fn generate() -> Result<Key, VaultError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(bytes.as_mut())
            .map_err(|e| VaultError::BadKey {
                from: "the operating system's random source".into(),
                why: e.to_string(),
            })?;
        Ok(Key::from_bytes(bytes))
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Key {
        let mut h = sha2::Sha256::new();
        h.update(b"qrlogin key id\0");
        h.update(bytes.as_ref());
        let digest = h.finalize();
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Key { bytes, id }
    }

    /// Parse base64 of exactly 32 bytes; `source` names where it came from in errors.
    pub fn parse(text: &str, source: &str) -> Result<Key, VaultError> {
        let bad = |why: &str| VaultError::BadKey {
            from: source.to_owned(),
            why: why.to_owned(),
        };
        let decoded =
            Zeroizing::new(B64.decode(text.trim()).map_err(|_| {
                bad("not base64 (a key is 32 random bytes in base64, 44 characters)")
            })?);
        if decoded.len() != 32 {
            return Err(bad(&format!(
                "{} bytes instead of 32 (truncated or not a qrlogin key)",
                decoded.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        Ok(Key::from_bytes(bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64: for the key file and `qrlogin key export` only.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.bytes.as_ref()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_ref().into())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under a key that is not in the keyring.
    UnknownKey(String),
    /// The right key, but the value was changed or belongs to another row.
    Corrupt,
}

/// The keys in use: the current one seals, every one opens. Retired keys stay until no
/// value uses them (`qrlogin key rotate`).
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<Key>,
    /// Where the keys came from, for messages (`QRLOGIN_KEY`, a file path, …).
    pub source: String,
    /// The file the keys live in, when they live in one qrlogin may rewrite.
    pub file: Option<PathBuf>,
}

impl Keyring {
    pub fn new(current: Key, retired: Vec<Key>, source: String, file: Option<PathBuf>) -> Keyring {
        let mut keys = vec![current];
        for k in retired {
            if !keys.iter().any(|have| have.id == k.id) {
                keys.push(k);
            }
        }
        Keyring { keys, source, file }
    }

    /// A keyring of one fresh key that lives nowhere: tests and benchmarks.
    pub fn ephemeral() -> Keyring {
        Keyring::new(
            Key::generate().unwrap_or_else(|_| Key::from_bytes(Zeroizing::new([7u8; 32]))),
            Vec::new(),
            "an ephemeral key".into(),
            None,
        )
    }

    pub fn current(&self) -> &Key {
        &self.keys[0]
    }

    pub fn retired(&self) -> &[Key] {
        &self.keys[1..]
    }

    pub fn knows(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seal `plain` for the row `aad` describes: (key id, base64 of nonce ‖ ciphertext).
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> (String, String) {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        // The thread RNG is a CSPRNG seeded from the OS; a nonce needs uniqueness.
        rand::fill(&mut nonce);
        // Encryption with a valid key and nonce length cannot fail: the only error the
        // AEAD reports is a plaintext beyond its 256 GiB limit.
        let ct = key
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .unwrap_or_default();
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        (key.id.clone(), B64.encode(blob))
    }

    /// Open a value sealed under `key_id` for the row `aad` describes.
    pub fn open(
        &self,
        key_id: &str,
        blob: &str,
        aad: &[u8],
    ) -> Result<Zeroizing<String>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))?;
        let raw = B64.decode(blob).map_err(|_| OpenError::Corrupt)?;
        if raw.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = key
            .cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| OpenError::Corrupt)?;
        String::from_utf8(plain)
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Corrupt)
    }

    /// The key file's text: the current key first, then the retired ones.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::from(
            "# qrlogin encryption keys. The first key encrypts; keys below it are retired and\n# only read until `qrlogin key rotate` has moved every value off them.\n",
        ));
        for k in &self.keys {
            s.push_str(&k.to_base64());
            s.push('\n');
        }
        s
    }
}

/// The associated data of a cookie value: which account and which cookie it belongs to.
pub fn cookie_aad(unb: &str, name: &str, domain: &str, host_only: bool, path: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(16 + unb.len() + name.len() + domain.len() + path.len());
    for part in [
        "qrlogin cookie v1",
        unb,
        name,
        domain,
        if host_only { "host" } else { "domain" },
        path,
    ] {
        a.extend_from_slice(part.as_bytes());
        a.push(0);
    }
    a
}

/// The associated data of a pending login's secret field.
pub fn pending_aad(id: &str, field: &str) -> Vec<u8> {
    format!("qrlogin pending v1\0{id}\0{field}\0").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_in_its_own_row_and_with_its_own_key() {
        let ring = Keyring::ephemeral();
        let aad = cookie_aad("2219000000001", "cookie2", ".goofish.com", false, "/");
        let (id, blob) = ring.seal(b"secret-value", &aad);
        assert_eq!(id, ring.current().id());
        assert_eq!(
            ring.open(&id, &blob, &aad).unwrap().as_str(),
            "secret-value"
        );
        assert!(!blob.contains("secret"));
        // Another row: another account, another cookie name.
        for other in [
            cookie_aad("2219000000002", "cookie2", ".goofish.com", false, "/"),
            cookie_aad("2219000000001", "unb", ".goofish.com", false, "/"),
            cookie_aad("2219000000001", "cookie2", ".goofish.com", true, "/"),
        ] {
            assert_eq!(ring.open(&id, &blob, &other), Err(OpenError::Corrupt));
        }
        // Another key.
        let other = Keyring::ephemeral();
        assert_eq!(
            other.open(&id, &blob, &aad),
            Err(OpenError::UnknownKey(id.clone()))
        );
        // A flipped byte.
        let mut raw = B64.decode(&blob).unwrap();
        raw[30] ^= 1;
        assert_eq!(
            ring.open(&id, &B64.encode(raw), &aad),
            Err(OpenError::Corrupt)
        );
        // Two seals of one value differ (random nonces).
        assert_ne!(ring.seal(b"secret-value", &aad).1, blob);
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_and_debug_shows_only_the_id() {
        let k = Key::generate().unwrap();
        let text = k.to_base64();
        let back = Key::parse(&text, "test").unwrap();
        assert_eq!(back.id(), k.id());
        assert_eq!(k.id().len(), 12);
        assert_eq!(format!("{k:?}"), format!("Key({})", k.id()));
        assert!(!format!("{:?}", Keyring::ephemeral()).contains(&*text));
        for bad in ["", "not base64!", &text[..20], "AAAA"] {
            assert!(Key::parse(bad, "QRLOGIN_KEY").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn retired_keys_still_open_and_the_current_one_seals() {
        let old = Keyring::ephemeral();
        let aad = pending_aad("p1", "cookies");
        let (id, blob) = old.seal(b"jar", &aad);
        let ring = Keyring::new(
            Key::generate().unwrap(),
            vec![old.current().clone()],
            "test".into(),
            None,
        );
        assert_eq!(ring.open(&id, &blob, &aad).unwrap().as_str(), "jar");
        assert_ne!(ring.seal(b"jar", &aad).0, id);
        assert_eq!(ring.retired().len(), 1);
    }
}
