//! `qrlogin completions SHELL`.

use crate::exit::Code;
use crate::printer::Printer;

pub fn run(shell: clap_complete::Shell, printer: &Printer) -> anyhow::Result<Code> {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "qrlogin", &mut buf);
    printer.data(&String::from_utf8_lossy(&buf))?;
    Ok(Code::Success)
}
