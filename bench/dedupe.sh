#!/usr/bin/env bash
# Dedupe at scale: ROWS generated legacy contacts (default 1M) of which one
# in ten repeats an earlier row's e-mail under a new CustomerID, in
# another case and with stray spaces. `migrate run` (release) with
# dedupe = { on = ["email"], keep = "most_complete" } into a throwaway
# cluster, then the same without dedupe; appends time, rows/s, peak RSS and
# the duplicate counts to bench/RESULTS.md.
# Usage: bench/dedupe.sh [ROWS]
set -euo pipefail
rows=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash fixtures/scripts/setup.sh
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-cli
migrate="$root/target/release/migrate"
data="$root/bench/data/dedupe-$rows"
mkdir -p "$data"
port=55497
# shellcheck source=bench/cluster.sh
. bench/cluster.sh

if [ ! -f "$data/legacy.csv" ]; then
  python3 - "$rows" "$data/legacy.csv" <<'PY'
import csv, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
emails = []
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["CustomerID", "FirstName", "LastName", "E-Mail", "Phone", "Company", "Type", "Created", "Region"])
    for i in range(1, n + 1):
        if emails and i % 10 == 0:
            email = "  " + rng.choice(emails).upper() + " "
        else:
            email = f"{rng.choice(first)}.{rng.choice(last)}{i}@example.com"
            emails.append(email)
        phone = f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.7 else ""
        w.writerow([f"C{i:08d}", rng.choice(first), rng.choice(last), email, phone,
                    rng.choice(["Acme Corp", "Globex", "N/A", ""]), "client", "2020-01-01 10:00:00", "North"])
PY
fi
size=$(stat -c %s "$data/legacy.csv")
sed 's/^key = \["CustomerID"\]$/key = ["CustomerID"]\ndedupe = { on = ["email"], keep = "most_complete" }/' \
  bench/mapping.toml > "$data/mapping-dedupe.toml"
sed 's/^source_system = "bench"$/source_system = "bench-plain"/' bench/mapping.toml > "$data/mapping-plain.toml"

results=()
for kind in dedupe plain; do
  org=$(python3 -c "import uuid; print(uuid.uuid4())")
  t0=$(date +%s.%N)
  ORG_ID=$org BENCH_CSV="$data/legacy.csv" DATABASE_URL="$loader" \
    /usr/bin/time -f "%M" -o "$data/rss-$kind" "$migrate" run "$data/mapping-$kind.toml" --quiet --out "$data/out-$kind" >/dev/null
  t1=$(date +%s.%N)
  dups=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['entities'][0]['duplicates'])" "$data/out-$kind/report.json")
  loaded=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['entities'][0]['loaded'])" "$data/out-$kind/report.json")
  results+=("$kind $t0 $t1 $(tail -n 1 "$data/rss-$kind") $dups $loaded")
done

python3 - "$rows" "$size" "${results[@]}" <<'PY' | tee -a "$root/bench/RESULTS.md"
import datetime, os, sys
rows, size = int(sys.argv[1]), int(sys.argv[2])
print(f"\n## dedupe, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC (bench/dedupe.sh)\n")
print(f"Machine: {os.cpu_count()} cores. {rows:,} generated rows ({size/2**20:,.0f} MiB), one in ten repeating an earlier e-mail under a new key.\n")
print("| run | seconds | rows/s | peak RSS | duplicates | loaded |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for r in sys.argv[3:]:
    kind, t0, t1, rss, dups, loaded = r.split()
    secs = float(t1) - float(t0)
    print(f"| {kind} | {secs:.1f} | {rows/secs:,.0f} | {int(rss)/1024:.0f} MiB | {int(dups):,} | {int(loaded):,} |")
PY
