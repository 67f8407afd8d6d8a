//! Where the key comes from, in the documented order: `QRLOGIN_KEY`, `QRLOGIN_KEY_COMMAND`,
//! `QRLOGIN_KEY_FILE`, `$CREDENTIALS_DIRECTORY/qrlogin.key` (systemd's `LoadCredential=`),
//! then the default key file `$XDG_CONFIG_HOME/qrlogin/key`, which the first command that
//! writes a secret creates. `settings` reads the variables; this module reads the files and
//! runs the command.

use super::{Key, Keyring, VaultError};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The key sources as the environment names them (resolved by `settings`).
#[derive(Clone, Default)]
pub struct KeySources {
    /// `QRLOGIN_KEY`: base64 of 32 bytes.
    pub key: Option<Zeroizing<String>>,
    /// `QRLOGIN_KEY_COMMAND`: run with `sh -c`; its standard output is the key (file text).
    pub command: Option<String>,
    /// `QRLOGIN_KEY_FILE`.
    pub file: Option<PathBuf>,
    /// `$CREDENTIALS_DIRECTORY`, set by systemd for a unit with credentials.
    pub credentials_dir: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/qrlogin/key` (or `~/.config/qrlogin/key`).
    pub default_file: Option<PathBuf>,
}

impl fmt::Debug for KeySources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySources")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("command", &self.command)
            .field("file", &self.file)
            .field("credentials_dir", &self.credentials_dir)
            .field("default_file", &self.default_file)
            .finish()
    }
}

/// What `load_or_create` found.
pub enum Loaded {
    Found(Keyring),
    /// No key existed: the default key file was made now.
    Created(Keyring),
}

/// The keyring from the first source that is set, or `None` when none is (and the default
/// key file does not exist yet).
pub fn load(s: &KeySources) -> Result<Option<Keyring>, VaultError> {
    if let Some(text) = &s.key {
        let key = Key::parse(text, "QRLOGIN_KEY")?;
        return Ok(Some(Keyring::new(
            key,
            Vec::new(),
            "QRLOGIN_KEY".into(),
            None,
        )));
    }
    if let Some(cmd) = &s.command {
        let text = run_command(cmd)?;
        return parse_keys(&text, "QRLOGIN_KEY_COMMAND", None).map(Some);
    }
    if let Some(path) = &s.file {
        let text = read_key_file(path)?;
        let source = format!("QRLOGIN_KEY_FILE ({})", path.display());
        return parse_keys(&text, &source, Some(path.clone())).map(Some);
    }
    if let Some(dir) = &s.credentials_dir {
        let path = dir.join("qrlogin.key");
        if path.exists() {
            let text = read_key_file(&path)?;
            // systemd's credentials are read-only: rotation needs another home.
            return parse_keys(
                &text,
                &format!("{} (systemd credential)", path.display()),
                None,
            )
            .map(Some);
        }
    }
    if let Some(path) = &s.default_file {
        if std::fs::symlink_metadata(path).is_ok() {
            let text = read_key_file(path)?;
            return parse_keys(&text, &path.display().to_string(), Some(path.clone())).map(Some);
        }
    }
    Ok(None)
}

/// `load`, for a command that cannot go on without a key: none is `VaultError::NoKey`,
/// naming the default key file.
pub fn load_required(s: &KeySources) -> Result<Keyring, VaultError> {
    load(s)?.ok_or_else(|| VaultError::NoKey {
        default: s.default_file.clone(),
    })
}

/// `load`, or when no source gives a key, a new default key file (0600 in a 0700
/// directory). Two processes creating it at once agree on one key: it is linked into
/// place only if no file is there yet, and the loser reads the winner's.
pub fn load_or_create(s: &KeySources) -> Result<Loaded, VaultError> {
    if let Some(ring) = load(s)? {
        return Ok(Loaded::Found(ring));
    }
    let Some(path) = &s.default_file else {
        return Err(VaultError::NoKey { default: None });
    };
    let write_err = |why: String| VaultError::Write {
        path: path.clone(),
        why,
    };
    let dir = path
        .parent()
        .ok_or_else(|| write_err("no directory".into()))?;
    crate::private_file::create_private_dir(dir).map_err(|e| write_err(e.to_string()))?;
    let ring = Keyring::new(
        Key::generate()?,
        Vec::new(),
        path.display().to_string(),
        Some(path.clone()),
    );
    let tmp = dir.join(format!(
        ".key.qrlogin-{}-{}.tmp",
        std::process::id(),
        crate::ids::random_hex(8)
    ));
    let made = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(ring.to_file_text().as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match made {
        Ok(()) => Ok(Loaded::Created(ring)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load(s)?.map(Loaded::Found).ok_or(VaultError::NoKey {
                default: Some(path.clone()),
            })
        }
        Err(e) => Err(write_err(e.to_string())),
    }
}

/// Held while a command rewrites the key file (`lock_key_file`); dropping it lets go.
pub struct KeyFileLock {
    _file: std::fs::File,
}

/// Take the lock beside the key file at `path` (`<path>.lock`) that `key rotate` and
/// `key import` hold while they change keys, waiting for another holder (`waiting` is
/// told first). Two rotations at once would each seal with a key of their own and each
/// write the file, and the values of the key the last writer lacked would never open.
pub fn lock_key_file(path: &Path, waiting: impl FnOnce()) -> Result<KeyFileLock, VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let err = |why: String| VaultError::Write {
        path: path.to_owned(),
        why,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_file::create_private_dir(dir).map_err(|e| err(e.to_string()))?;
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| err(e.to_string()))?;
    let lock = |how| {
        // SAFETY: flock on a descriptor this function owns for the File's lifetime.
        match unsafe { libc::flock(file.as_raw_fd(), how) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    if let Err(e) = lock(libc::LOCK_EX | libc::LOCK_NB) {
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err(e.to_string()));
        }
        waiting();
        lock(libc::LOCK_EX).map_err(|e| err(e.to_string()))?;
    }
    Ok(KeyFileLock { _file: file })
}

/// Replace the key file at `path` with `ring`'s keys, atomically (a reader sees the old
/// file or the new one, never half of one).
pub fn write_key_file(path: &Path, ring: &Keyring) -> Result<(), VaultError> {
    let err = |why: String| VaultError::Write {
        path: path.to_owned(),
        why,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_file::create_private_dir(dir).map_err(|e| err(e.to_string()))?;
    }
    crate::private_file::write_private(path, ring.to_file_text().as_bytes())
        .map_err(|e| err(e.to_string()))
}

/// Keys in file text: one base64 key per line, `#` comments; the first is current.
pub fn parse_keys(text: &str, source: &str, file: Option<PathBuf>) -> Result<Keyring, VaultError> {
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| Key::parse(l, source));
    let current = keys.next().ok_or_else(|| VaultError::BadKey {
        from: source.to_owned(),
        why: "it holds no key".into(),
    })??;
    let retired = keys.collect::<Result<Vec<_>, _>>()?;
    Ok(Keyring::new(current, retired, source.to_owned(), file))
}

/// Read a key file that only its owner can read, like ssh does with private keys.
fn read_key_file(path: &Path) -> Result<Zeroizing<String>, VaultError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| VaultError::BadKey {
        from: path.display().to_string(),
        why: format!("cannot read it ({e})"),
    })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(VaultError::ForeignKeyFile {
            path: path.to_owned(),
        });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(VaultError::OpenKeyFile {
            path: path.to_owned(),
            mode: meta.mode() & 0o777,
        });
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| VaultError::BadKey {
            from: path.display().to_string(),
            why: format!("cannot read it ({e})"),
        })
}

/// Run `QRLOGIN_KEY_COMMAND` with `sh -c`, as rclone's `--password-command`: its standard
/// output is the key. Its standard error goes to ours (a passphrase prompt, an error).
fn run_command(cmd: &str) -> Result<Zeroizing<String>, VaultError> {
    let bad = |why: String| VaultError::BadKey {
        from: "QRLOGIN_KEY_COMMAND".into(),
        why,
    };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| bad(format!("cannot run it ({e})")))?;
    let text = Zeroizing::new(String::from_utf8(out.stdout).map_err(|e| {
        let mut bytes = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        bad("its output is not text".into())
    })?);
    if !out.status.success() {
        return Err(bad(format!("it failed ({})", out.status)));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> KeySources {
        KeySources {
            default_file: Some(dir.join("cfg/qrlogin/key")),
            ..KeySources::default()
        }
    }

    #[test]
    fn the_default_key_is_made_once_private_and_then_found() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        assert!(load(&s).unwrap().is_none());
        let Loaded::Created(made) = load_or_create(&s).unwrap() else {
            panic!("not created")
        };
        let path = s.default_file.clone().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let Loaded::Found(again) = load_or_create(&s).unwrap() else {
            panic!("made twice")
        };
        assert_eq!(again.current().id(), made.current().id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&s), Err(VaultError::OpenKeyFile { .. })));
    }

    #[test]
    fn processes_making_the_first_key_at_once_agree_on_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| match load_or_create(&s).unwrap() {
                        Loaded::Found(r) | Loaded::Created(r) => r.current().id().to_owned(),
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }

    #[test]
    fn sources_are_taken_in_order_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::generate().unwrap();
        let mut s = sources(dir.path());
        s.command = Some(format!("printf '%s\\n' '{}'", &*key.to_base64()));
        assert_eq!(load(&s).unwrap().unwrap().current().id(), key.id());
        assert_eq!(load(&s).unwrap().unwrap().source, "QRLOGIN_KEY_COMMAND");
        let only_key = KeySources {
            key: Some(key.to_base64()),
            ..KeySources::default()
        };
        assert!(!format!("{only_key:?}").contains(key.to_base64().as_str()));
        s.key = Some(Zeroizing::new("short".into()));
        let err = load(&s).unwrap_err().to_string();
        assert!(
            err.starts_with("the key from QRLOGIN_KEY is unusable"),
            "{err}"
        );
        s.key = None;
        s.command = Some("exit 3".into());
        assert!(load(&s).unwrap_err().to_string().contains("it failed"));
        s.command = None;
        s.file = Some(dir.path().join("missing"));
        assert!(load(&s).unwrap_err().to_string().contains("cannot read it"));
    }
}
