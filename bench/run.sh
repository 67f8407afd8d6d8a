#!/usr/bin/env bash
# Builds the release binary and the benchmark driver, then writes BENCHMARKS.md.
# Usage: bench/run.sh [--quick]     (from a clean checkout; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin qrlogin --example bench
target/release/examples/bench target/release/qrlogin BENCHMARKS.md "$@"
echo "wrote BENCHMARKS.md" >&2
