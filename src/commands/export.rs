//! `qrlogin export NAME --format …`: the only command that prints cookie values.

use crate::cookies::export::{self, Format};
use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::Globals;
use crate::store::Store;
use anyhow::Context;
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
                .with_context(|| format!("writing {}", path.display()))?;
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
            printer.data(&text);
        }
    }
    Ok(Code::Success)
}
