//! `qrlogin export NAME --format …`: the only command that prints cookie values.

use crate::cookies::export::{self, Format};
use crate::exit::Code;
use crate::exit::Coded;
use crate::printer::Printer;
use crate::settings::Globals;
use crate::store::Store;
use std::path::Path;

pub fn run(
    globals: &Globals,
    store: &Store,
    name: &str,
    format: Format,
    output: Option<&Path>,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let account = store.get(name)?;
    let text = export::render(
        format,
        &account.cookies,
        &globals.endpoints.www,
        crate::time::now(),
    );
    match output {
        Some(path) => {
            crate::private_file::write_private(path, text.as_bytes())
                .map_err(|e| output_error(path, e))?;
            printer.info(&format!(
                "wrote {} cookies of {} to {} (mode 0600)",
                account.cookies.len(),
                account.name,
                path.display()
            ));
        }
        None => {
            if printer.stdout_is_terminal() {
                printer
                    .warn("these are login credentials: anyone who sees them can use the account");
            }
            printer.data(&text)?;
        }
    }
    Ok(Code::Success)
}

/// A bad `-o` (a directory, a missing directory, something not a regular file) is the
/// user's to fix (exit 2); a write that fails on a good path is storage (exit 7).
fn output_error(path: &Path, e: std::io::Error) -> Coded {
    use std::io::ErrorKind::*;
    let msg = format!("cannot write {}: {e}; nothing was written", path.display());
    match e.kind() {
        NotFound | IsADirectory | NotADirectory | Other | PermissionDenied => Coded::usage(msg),
        _ => Coded::new(Code::Storage, msg),
    }
}
