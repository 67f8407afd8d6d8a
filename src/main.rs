//! The `qrlogin` binary: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = qrlogin::cli::Cli::parse();
    let code = qrlogin::run(cli);
    std::process::ExitCode::from(code.as_i32() as u8)
}
