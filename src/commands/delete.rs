//! `qrlogin delete NAME...`: asks on a terminal, refuses without one unless `--yes`.

use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::store::Store;
use std::io::{BufRead, IsTerminal};

pub fn run(store: &Store, names: &[String], yes: bool, printer: &Printer) -> anyhow::Result<Code> {
    // Resolve every name first: a typo in the third name deletes nothing.
    let accounts = names
        .iter()
        .map(|n| store.get(n))
        .collect::<Result<Vec<_>, _>>()?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Coded::usage(
                "refusing to delete without confirmation: no terminal to ask on; pass --yes",
            )
            .into());
        }
        let list: Vec<String> = accounts
            .iter()
            .map(|a| format!("{} ({}, {} cookies)", a.name, a.unb, a.cookies.len()))
            .collect();
        printer.raw_stderr(&format!("Delete {}? [y/N] ", list.join(", ")));
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            // Not a success: a script must not go on as if the accounts were gone.
            return Err(Coded::new(
                Code::Cancelled,
                "nothing deleted (the question was declined)",
            )
            .into());
        }
    }
    let mut wiped = true;
    for a in &accounts {
        wiped &= store.delete(a.id)?;
        printer.info(&format!(
            "deleted {} ({})",
            crate::escape::for_terminal(&a.name),
            a.unb
        ));
    }
    if !wiped {
        printer.warn(
            "another process is reading the account database, so the deleted values stay on disk (in its write-ahead log) until every process has closed it: the last one to close it writes them out",
        );
    }
    Ok(Code::Success)
}
