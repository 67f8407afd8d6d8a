#!/usr/bin/env bash
# Import of a xianyu-auto-reply database of N accounts (issue 11's target: 10,000 in ≤ 1 s):
# a fresh store, then the same file again (every account already stored: an update).
# Prints wall, CPU and peak RSS of each, the median of 5 runs. Needs python3 (to write the
# other program's database) and GNU time.
# Usage: bench/import.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
if [ ! -x /usr/bin/time ]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
cargo build --release --locked --bin qrlogin >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/xianyu.db" "$n" <<'PY'
import sqlite3, sys, secrets
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE cookies (id TEXT PRIMARY KEY, value TEXT NOT NULL, user_id INTEGER)")
names = ["cookie2", "t", "_tb_token_", "sgcookie", "unb", "csg", "lgc", "cookie17", "dnk",
         "tracknick", "_l_g_", "sg", "_nk_", "cookie1", "_m_h5_tk", "_m_h5_tk_enc", "cna",
         "xlly_s", "isg", "tfstk"]
rows = []
for i in range(int(sys.argv[2])):
    unb = f"22195{i:08d}"
    value = "; ".join(f"{k}={unb if k == 'unb' else secrets.token_urlsafe(24)}" for k in names)
    rows.append((f"acct-{i:05d}", value, 1))
db.executemany("INSERT INTO cookies VALUES (?, ?, ?)", rows)
db.commit()
PY
run() { # $1: label, $2: fresh or again
  for i in 1 2 3 4 5; do
    if [ "$2" = fresh ]; then rm -rf "$work/home"; fi
    mkdir -p "$work/home"
    HOME=$work/home XDG_DATA_HOME=$work/home/data XDG_CONFIG_HOME=$work/home/config \
      /usr/bin/time -f "%e %U %S %M" -o "$work/t" \
      target/release/qrlogin import --xianyu-auto-reply-db "$work/xianyu.db" 2>/dev/null
    cat "$work/t"
  done | sort -n | sed -n 3p | awk -v l="$1" '{printf "%s: wall %.2f s, CPU %.2f s, peak RSS %.1f MB\n", l, $1, $2 + $3, $4 / 1024}'
}
run "import $n accounts into an empty store" fresh
run "import the same $n accounts again (updates)" again
