#!/usr/bin/env bash
# Encryption's cost, like for like (issue 12's target: ≤ 10 % more refresh CPU than
# without): builds this commit twice, as shipped and with `--cfg qrlogin_bench_unsealed`
# (values stored unsealed, nothing else changed; in its own target directory, so the
# shipped build is never that one), then alternates their refreshes of 10,000 accounts.
# Usage: bench/encryption-ab.sh SECTION.md [--quick]     (about ten minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/encryption-ab.sh SECTION.md [--quick]}
shift
if [ ! -x /usr/bin/time ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
cargo build --release --locked --bin qrlogin --example bench
RUSTFLAGS="--cfg qrlogin_bench_unsealed --cfg poly1305_force_soft" CARGO_TARGET_DIR=target/unsealed \
  cargo build --release --locked --bin qrlogin
target/release/examples/bench target/release/qrlogin "$out" --encryption-ab \
  target/unsealed/release/qrlogin "$@"
echo "wrote $out" >&2
