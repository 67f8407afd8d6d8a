//! The `qrlogin` binary: parse the command line and hand over to the library.

use clap::Parser;

/// mimalloc rather than glibc's malloc: a refresh makes and drops many small buffers on
/// several threads, and glibc's malloc took a fifth of its CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = qrlogin::cli::Cli::parse();
    let code = qrlogin::run(cli);
    std::process::ExitCode::from(code.as_i32() as u8)
}
