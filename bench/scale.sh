#!/usr/bin/env bash
# Issue 11's figures at scale: one SQLite store of N accounts (default 100,000), one refresh
# of all of them at 20 ms latency, then `list` and `list --json`; writes a markdown section.
# Usage: bench/scale.sh SECTION.md [N] [--fleet] [--hold]   (--fleet: then copy them into a
# throwaway PostgreSQL and refresh them with four processes at once; --hold: keep the store
# and simulator up for a profiler until standard input closes, printing the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/scale.sh SECTION.md [N] [--fleet] [--hold]}
n=${2:-100000}
shift $(( $# < 2 ? $# : 2 ))
if [ ! -x /usr/bin/time ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
cargo build --release --locked --bin qrlogin --example bench
target/release/examples/bench target/release/qrlogin "$out" --scale "$n" "$@"
echo "wrote $out" >&2
