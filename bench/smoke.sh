#!/usr/bin/env bash
# Smoke benchmark: N generated legacy contacts rows loaded three ways into
# one throwaway cluster, in one invocation:
#   1. `migrate run` (release build): read, transform, stage, publish under RLS;
#   2. the simplest correct hand-written SQL path for the same rows already
#      cleaned: \copy into a temp table, INSERT ... SELECT under the tenant
#      role into the RLS-protected, indexed contacts table;
#   3. raw \copy of the cleaned rows into an unconstrained table.
# Prints rows/s, the ratios and migrate's peak RSS, and appends them to
# bench/RESULTS.md. Usage: bench/smoke.sh [ROWS] (default 100000).
set -euo pipefail
rows=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash fixtures/scripts/setup.sh
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

data="$root/bench/data"
mkdir -p "$data"
python3 bench/gen_contacts.py "$rows" "$data/$rows" 42
cargo build --release --quiet -p migrate-cli
migrate="$root/target/release/migrate"

port=55499
# shellcheck source=bench/cluster.sh
. bench/cluster.sh
psql -X -q "$admin/bench" -c "CREATE TABLE raw_contacts (source_key text, first_name text, last_name text, email text,
    phone text, company text, type text, created_at text, custom_fields text);
  GRANT INSERT ON raw_contacts TO loader;"
org_migrate=11111111-1111-4111-8111-111111111111
org_sql=22222222-2222-4222-8222-222222222222

now() { date +%s.%N; }

# 1. migrate
t0=$(now)
ORG_ID=$org_migrate BENCH_CSV="$data/$rows/legacy.csv" DATABASE_URL="$loader" \
  /usr/bin/time -f "%M" -o "$data/rss" "$migrate" run bench/mapping.toml --out "$data/out" >/dev/null
t1=$(now)
rss_kb=$(tail -n 1 "$data/rss")
loaded=$(python3 -c "import json;print(json.load(open('$data/out/report.json'))['entities'][0]['loaded'])")
[ "$loaded" = "$rows" ] || { echo "migrate loaded $loaded of $rows rows" >&2; exit 1; }

# 2. hand-written SQL under the tenant role
t2=$(now)
psql -X -q -v ON_ERROR_STOP=1 "$loader" <<SQL
BEGIN;
SET LOCAL ROLE platform_tenant;
SELECT set_config('app.current_org_id', '$org_sql', true) \g /dev/null
CREATE TEMP TABLE incoming (source_key text, first_name text, last_name text, email text, phone text,
                            company text, type text, created_at timestamptz, custom_fields jsonb) ON COMMIT DROP;
\copy incoming FROM '$data/$rows/clean.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO contacts (org_id, first_name, last_name, email, phone, company, type, created_at, custom_fields)
SELECT '$org_sql', first_name, last_name, email, phone, NULLIF(company, ''), type, created_at, custom_fields FROM incoming;
COMMIT;
SQL
t3=$(now)

# 3. raw \copy into an unconstrained table
psql -X -q -v ON_ERROR_STOP=1 "$loader" -c "\\copy raw_contacts FROM '$data/$rows/clean.csv' WITH (FORMAT csv, HEADER true)"
t4=$(now)

python3 - "$rows" "$t0" "$t1" "$t2" "$t3" "$t4" "$rss_kb" <<'PY' | tee -a "$root/bench/RESULTS.md"
import os, platform, subprocess, sys, datetime
rows = int(sys.argv[1]); t0, t1, t2, t3, t4 = map(float, sys.argv[2:7]); rss = int(sys.argv[7])
m, s, r = t1 - t0, t3 - t2, t4 - t3
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
print(f"\n## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {rows} rows\n")
print(f"Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB; {pg}\n")
print("| path | seconds | rows/s | vs migrate |")
print("| --- | ---: | ---: | ---: |")
print(f"| migrate run (read, transform, stage, publish under RLS) | {m:.2f} | {rows/m:,.0f} | 1.00 |")
print(f"| hand-written SQL: \\copy temp + INSERT…SELECT under tenant role | {s:.2f} | {rows/s:,.0f} | {m/s:.2f}× faster |")
print(f"| raw \\copy into an unconstrained table | {r:.2f} | {rows/r:,.0f} | {m/r:.2f}× faster |")
print(f"\nmigrate: {m/s:.2f}× the time of the hand-written SQL path, {m/r:.2f}× raw COPY; peak RSS {rss/1024:.0f} MiB.")
PY
