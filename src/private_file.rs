//! Files that hold credentials (exports, QR images, keys) and their directories: written
//! owner-only from the first byte.

use std::io::Write;
use std::path::Path;

/// Make `dir` (and its parents) owner-only if it is not there yet; one that exists is left
/// as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Write `bytes` to `path` readable by the owner only, from the first byte: a temporary
/// file created 0600 beside it, then renamed over it, so a reader never sees half a file
/// and an existing file with looser permissions is replaced, not reused.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

/// [`write_private`] with another final mode (a QR image a web server may serve): the
/// file is still 0600 while it is written, and gets `mode` just before the rename.
/// Anything at `path` that is not a regular file (a device, a link such as `/dev/stdout`,
/// a directory) is refused rather than replaced.
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(std::io::Error::other("it is a directory"));
        }
        Ok(m) if !m.file_type().is_file() => {
            return Err(std::io::Error::other(
                "it exists and is not a regular file (a link, device or pipe): refusing to replace it",
            ));
        }
        _ => {}
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let tmp = dir.join(format!(
        ".{}.qrlogin-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if mode != 0o600 {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
