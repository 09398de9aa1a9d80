#!/usr/bin/env bash
# Memory stays flat as inputs grow: loads a ~200 MB and a ~2 GB generated
# legacy CSV with `migrate run` (release build) into a throwaway cluster and
# compares peak RSS; appends the result to bench/RESULTS.md.
# Usage: bench/memory.sh [SMALL_ROWS] [LARGE_ROWS] (default 1.5M and 15M).
set -euo pipefail
small=${1:-1500000}
large=${2:-15000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash fixtures/scripts/setup.sh
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-cli
migrate="$root/target/release/migrate"
data="$root/bench/data"
port=55498
# shellcheck source=bench/cluster.sh
. bench/cluster.sh

results=()
for rows in "$small" "$large"; do
  [ -f "$data/$rows/legacy.csv" ] || python3 bench/gen_contacts.py "$rows" "$data/$rows" 42
  size=$(stat -c %s "$data/$rows/legacy.csv")
  org=$(python3 -c "import uuid; print(uuid.uuid4())")
  t0=$(date +%s.%N)
  ORG_ID=$org BENCH_CSV="$data/$rows/legacy.csv" DATABASE_URL="$loader" \
    /usr/bin/time -f "%M" -o "$data/rss-$rows" "$migrate" run bench/mapping.toml --out "$data/out-$rows" >/dev/null
  t1=$(date +%s.%N)
  results+=("$rows $size $(tail -n 1 "$data/rss-$rows") $t0 $t1")
  rm -f "$data/$rows/clean.csv"
done

python3 - "${results[@]}" <<'PY' | tee -a "$root/bench/RESULTS.md"
import datetime, os, sys
runs = [r.split() for r in sys.argv[1:]]
print(f"\n## memory, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"Machine: {os.cpu_count()} cores. `migrate run` (release) of generated legacy contacts into a throwaway cluster (bench/memory.sh).\n")
print("| rows | CSV size | seconds | rows/s | peak RSS |")
print("| ---: | ---: | ---: | ---: | ---: |")
for rows, size, rss, t0, t1 in runs:
    secs = float(t1) - float(t0)
    print(f"| {int(rows):,} | {int(size)/2**20:,.0f} MiB | {secs:.1f} | {int(rows)/secs:,.0f} | {int(rss)/1024:.0f} MiB |")
(_, s_size, s_rss, *_), (_, l_size, l_rss, *_) = runs
print(f"\n{int(l_size)/int(s_size):.1f}× the input, {int(l_rss)/int(s_rss):.2f}× the peak memory.")
PY
