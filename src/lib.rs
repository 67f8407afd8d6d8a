//! qrlogin: log into Goofish (闲鱼) by QR code and keep each account's cookies in SQLite.
//!
//! `run` is the whole program below argument parsing: resolve settings, run one command,
//! map its error to an exit code and a one-line message.

pub mod cli;
pub mod commands;
pub mod cookies;
pub mod escape;
pub mod exit;
pub mod ids;
pub mod login;
pub mod passport;
pub mod printer;
pub mod private_file;
#[cfg(test)]
mod proptests;
pub mod qr;
pub mod redacted;
pub mod refresh;
pub mod settings;
pub mod sim;
pub mod store;
pub mod table;
pub mod time;
pub mod vault;

use exit::Code;

pub fn run(cli: cli::Cli) -> Code {
    let (globals, action) = match settings::resolve(cli) {
        Ok(r) => r,
        Err(e) => {
            printer::Printer::new(0).error(&e.message);
            return e.code;
        }
    };
    let printer = printer::Printer::new(globals.verbosity);
    match commands::run(&globals, action, &printer) {
        Ok(code) => code,
        Err(err) => {
            printer.error(&exit::message_for(&err));
            exit::code_for(&err)
        }
    }
}
