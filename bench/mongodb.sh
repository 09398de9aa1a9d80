#!/usr/bin/env bash
# MongoDB benchmark: generated legacy customers (nested addresses, phone
# and note arrays, a field of varying type) at SMALL and LARGE documents,
# as a mongoexport file and as a collection in a throwaway SecantusDB
# server (the MongoDB-wire server the tests use; it is written in Python,
# so a collection read is bounded by the server). For each size:
#   1. the source reading the export file (release example read_documents);
#   2. the source reading the collection through the driver's cursor;
#   3. pymongo's find() alone, in the same _id order (the server's pace);
#   4. `migrate run` of the export file into contacts under RLS.
# Peak RSS of each from /usr/bin/time. Appends the table to bench/RESULTS.md.
# Usage: bench/mongodb.sh [SMALL] [LARGE] (default 100000 and 1000000).
# FILE_ONLY=1 measures the export file alone (1 and 4): the Python server
# takes minutes to serve a million documents.
set -euo pipefail
small=${1:-100000}
large=${2:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash fixtures/scripts/setup.sh
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-cli
cargo build --release --quiet -p migrate-mongodb --example read_documents
migrate="$root/target/release/migrate"
reader="$root/target/release/examples/read_documents"
py="$root/.local/secantus/bin/python"
data="$root/bench/data/mongodb"
mkdir -p "$data"

port=55496
# shellcheck source=bench/cluster.sh
. bench/cluster.sh

sdir=$(mktemp -d /tmp/migrate-bench-secantus-XXXXXX)
sport=55495
"$root/.local/secantus/bin/secantusd-py" --host 127.0.0.1 --port $sport --storage-path "$sdir/data" \
  --standalone --log-level WARNING >"$sdir/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$sdir"; as_pg "$bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null; rm -rf "$pgdir"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$sport) 2>/dev/null && break; sleep 0.1; done
# The test server answers nothing else while it sorts a large collection
# for the first batch: give the driver's heartbeat time (a URL option any
# slow server may need).
murl="mongodb://127.0.0.1:$sport/bench?directConnection=true&connectTimeoutMS=300000"

measure() { # label rows command...: "label rows seconds rss_kib"
  local label=$1 rows=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$data/rss" "$@" >"$data/out" 2>"$data/err" || { cat "$data/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$label $rows $(python3 -c "print(f'{$t1 - $t0:.2f}')") $(tail -n 1 "$data/rss")"
}

results=()
for rows in "$small" "$large"; do
  file="$data/docs-$rows.json"
  [ -f "$file" ] || python3 bench/gen_documents.py "$rows" "$file" 42
  results+=("$(measure file "$rows" "$reader" "$file")")
  if [ "${FILE_ONLY:-0}" != 1 ]; then
    loaded=$("$py" bench/load_documents.py "mongodb://127.0.0.1:$sport/?directConnection=true" bench "docs_$rows" "$file")
    [ "$loaded" = "$rows" ] || { echo "loaded $loaded of $rows documents" >&2; exit 1; }
    results+=("$(measure collection "$rows" "$reader" "$murl" "docs_$rows")")
    results+=("$(measure pymongo "$rows" "$py" -c "
import sys
from pymongo import MongoClient
n = sum(1 for _ in MongoClient(sys.argv[1])['bench'][sys.argv[2]].find().sort('_id', 1).batch_size(1000))
assert n == int(sys.argv[3]), n
" "$murl" "docs_$rows" "$rows")")
  fi
  org=$("$py" -c "import uuid; print(uuid.uuid4())")
  results+=("$(measure run "$rows" env ORG_ID="$org" BENCH_DOCS="$file" DATABASE_URL="$loader" \
    "$migrate" run bench/mongodb_mapping.toml --out "$data/out-$rows")")
done

commit=$(git rev-parse --short HEAD)
python3 - "$commit" "${results[@]}" <<'PY' | tee -a "$root/bench/RESULTS.md"
import datetime, os, sys
commit, runs = sys.argv[1], [r.split() for r in sys.argv[2:]]
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
print(f"\n## MongoDB documents, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit} (bench/mongodb.sh)\n")
print(f"Machine: {os.cpu_count()} cores, {mem:.0f} GiB. Generated legacy customers (nested address, phone and note arrays, a score that is a number, a string or an array); the collection in SecantusDB 0.7 (a Python MongoDB-wire server).\n")
labels = {
    "file": "source reads the mongoexport file",
    "collection": "source reads the collection (cursor, getMore)",
    "pymongo": "pymongo find() in _id order alone (the server's pace)",
    "run": "`migrate run` of the export file → contacts under RLS",
}
print("| path | documents | seconds | documents/s | peak RSS |")
print("| --- | ---: | ---: | ---: | ---: |")
for label, rows, secs, rss in runs:
    print(f"| {labels[label]} | {int(rows):,} | {float(secs):.1f} | {int(rows)/float(secs):,.0f} | {int(rss)/1024:.0f} MiB |")
by = {(l, int(r)): int(k) for l, r, _, k in runs}
sizes = sorted({int(r) for _, r, _, _ in runs})
if len(sizes) == 2:
    s, l = sizes
    print()
    for label in ("file", "collection", "run"):
        if (label, s) not in by:
            continue
        print(f"- {labels[label]}: {l // s}× the documents, {by[(label, l)] / by[(label, s)]:.2f}× the peak RSS.")
PY
