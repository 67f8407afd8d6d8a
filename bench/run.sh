#!/usr/bin/env bash
# Builds the release binary and the benchmark driver, then writes BENCHMARKS.md.
# Usage: bench/run.sh [--quick]     (from a clean checkout; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
# GNU time measures peak RSS (Debian package `time`).
if [ ! -x /usr/bin/time ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
cargo build --release --locked --bin qrlogin --example bench
target/release/examples/bench target/release/qrlogin BENCHMARKS.md "$@"
echo "wrote BENCHMARKS.md" >&2
