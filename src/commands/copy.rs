//! `qrlogin copy --to DEST`: every account, cookie and pending login of `--db` into DEST
//! (SQLite or PostgreSQL, either direction), e.g. to move a host's accounts into the
//! fleet's shared store. Both stores use this process's key: values are opened with it
//! and sealed again (a destination holding values under another key is refused).

use super::key::{Need, unlock};
use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::settings::Globals;
use crate::store::{Location, Store};

pub fn run(
    globals: &Globals,
    to: &Location,
    replace: bool,
    printer: &Printer,
) -> anyhow::Result<Code> {
    if *to == globals.db {
        return Err(Coded::usage(format!("--to {to} is the store being copied (--db)")).into());
    }
    let source = super::unlocked(globals, Need::Read, printer)?;
    let mut dest = Store::open(to)?;
    unlock(globals, &mut dest, Need::Write, printer)?;
    let copied = source.copy_to(&dest, replace, crate::time::now(), &mut |done, total| {
        if done % 1000 == 0 && done < total {
            printer.info(&format!("copy: {done} of {total} accounts"));
        }
    })?;
    printer.info(&format!(
        "copied {} account(s) with {} cookie(s) and {} pending login(s) from {} to {to}; the counts were read back and match",
        copied.accounts, copied.cookies, copied.pending, globals.db
    ));
    Ok(Code::Success)
}
