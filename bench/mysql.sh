#!/usr/bin/env bash
# MySQL benchmark: a generated N-row legacy customers table in a throwaway
# MariaDB server, loaded into one throwaway PostgreSQL cluster in one
# invocation by
#   1. `migrate run` (release build), one connection;
#   2. `migrate run` with the table read in 2 parts (partition);
#   3. pgloader 3.6 (Debian) MySQL → PostgreSQL into plain tables.
# Appends seconds, rows/s and ratios to bench/RESULTS.md, and the time the
# unsplit run took to read, map and stage (source → staging, before the
# publish), from its `--verbose` log.
# Usage: bench/mysql.sh [ROWS] (default 1000000).
set -euo pipefail
rows=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash fixtures/scripts/setup.sh
need=()
command -v psql >/dev/null || need+=(postgresql-client)
command -v pgloader >/dev/null || need+=(pgloader)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-cli
migrate="$root/target/release/migrate"
data="$root/bench/data/mysql"
rm -rf "$data" && mkdir -p "$data"

port=55498
# shellcheck source=bench/cluster.sh
. bench/cluster.sh

# MariaDB, its own directory and port.
mdir=$(mktemp -d /tmp/migrate-bench-mariadb-XXXXXX)
mport=55497
cat > "$mdir/my.cnf" <<CNF
[mysqld]
datadir = $mdir/data
tmpdir = $mdir
socket = $mdir/mysqld.sock
pid-file = $mdir/mysqld.pid
port = $mport
bind-address = 127.0.0.1
user = $(id -un)
character-set-server = utf8mb4
innodb_buffer_pool_size = 512M
innodb_flush_log_at_trx_commit = 2
skip-log-bin
[client]
socket = $mdir/mysqld.sock
CNF
mariadb-install-db --defaults-file="$mdir/my.cnf" --auth-root-authentication-method=normal --skip-test-db >/dev/null
/usr/sbin/mariadbd --defaults-file="$mdir/my.cnf" 2>"$mdir/log" &
mpid=$!
trap 'kill $mpid 2>/dev/null; wait $mpid 2>/dev/null; rm -rf "$mdir"; as_pg "$bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null; rm -rf "$pgdir"' EXIT
for _ in $(seq 100); do mariadb --defaults-file="$mdir/my.cnf" -uroot -e "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
my() { mariadb --defaults-file="$mdir/my.cnf" -uroot "$@"; }
my -e "CREATE USER 'bench'@'%' IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO 'bench'@'%';
       CREATE USER 'bench'@'localhost' IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO 'bench'@'localhost';"
t_gen0=$(date +%s.%N)
my -e "SET sql_mode = ''; CREATE DATABASE legacy CHARACTER SET latin1; USE legacy;
  CREATE TABLE customers (id INT UNSIGNED PRIMARY KEY, first_name VARCHAR(60), last_name VARCHAR(60),
    email VARCHAR(200), phone VARCHAR(32), company VARCHAR(100), created DATETIME, credit DECIMAL(12,2));
  INSERT INTO customers SELECT seq, ELT(1 + seq % 7, 'Ada', 'Jürgen', 'Zoë', 'Grace', 'Alan', 'Edsger', 'Barbara'),
    CONCAT('Name', seq % 9973), CONCAT('person', seq, '@example.com'), CONCAT('+1 555 ', LPAD(seq % 10000, 4, '0')),
    IF(seq % 5 = 0, NULL, CONCAT('Company ', seq % 501)),
    IF(seq % 100 = 0, '0000-00-00 00:00:00', DATE_ADD('2001-01-01', INTERVAL seq MINUTE)),
    (seq % 100000) / 100 FROM seq_1_to_$rows;"
t_gen1=$(date +%s.%N)
url="mysql://bench:bench@127.0.0.1:$mport/legacy"

now() { date +%s.%N; }
run_migrate() { # $1 org, $2 parts (1 = unsplit)
  local mapping="$data/mapping-$2.toml"
  cp bench/mysql_mapping.toml "$mapping"
  if [ "$2" -gt 1 ]; then
    sed -i "s|^table = \"legacy.customers\"|&\npartition = { column = \"id\", parts = $2 }|" "$mapping"
  fi
  ORG_ID=$1 BENCH_MYSQL_URL=$url DATABASE_URL="$loader" \
    /usr/bin/time -f "%M" -o "$data/rss-$2" "$migrate" run "$mapping" --verbose --out "$data/out-$2" \
    >/dev/null 2>"$data/log-$2"
  python3 -c "import json,sys;e=json.load(open('$data/out-$2/report.json'))['entities'][0];sys.exit(0 if e['read']==$rows and e['balanced'] else 1)"
}
t0=$(now); run_migrate 11111111-1111-4111-8111-111111111111 1; t1=$(now)
t2=$(now); run_migrate 22222222-2222-4222-8222-222222222222 2; t3=$(now)

psql -X -q "$admin/postgres" -c "CREATE DATABASE pgl"
t4=$(now)
pgloader --quiet "$url" "$admin/pgl" > "$data/pgloader.log" 2>&1 || { tail -20 "$data/pgloader.log"; exit 1; }
t5=$(now)
loaded=$(psql -X -qtA "$admin/pgl" -c "SELECT count(*) FROM legacy.customers")
[ "$loaded" = "$rows" ] || { echo "pgloader loaded $loaded of $rows rows" >&2; exit 1; }

python3 - "$rows" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$(tail -n1 "$data/rss-1")" "$(tail -n1 "$data/rss-2")" "$t_gen0" "$t_gen1" "$data/log-1" <<'PY' | tee -a "$root/bench/RESULTS.md"
import os, platform, subprocess, sys, datetime
rows = int(sys.argv[1]); t0, t1, t2, t3, t4, t5 = map(float, sys.argv[2:8]); rss1, rss2 = int(sys.argv[8]), int(sys.argv[9])
gen = float(sys.argv[11]) - float(sys.argv[10])
import re
staged = re.search(r"staged contacts: .* in ([0-9.]+) s", open(sys.argv[12], encoding="utf-8").read())
staged = float(staged.group(1)) if staged else float("nan")
one, two, pgl = t1 - t0, t3 - t2, t5 - t4
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
pgv = subprocess.run(["pgloader", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
print(f"\n## MySQL (MariaDB 10.11) → contacts, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {rows} rows, commit {commit}\n")
print(f"Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB; {pgv}. Table generated in {gen:.1f} s.\n")
print("| path | seconds | rows/s | peak RSS | pgloader ÷ this |")
print("| --- | ---: | ---: | ---: | ---: |")
print(f"| migrate run: read, transform, stage, publish under RLS | {one:.2f} | {rows/one:,.0f} | {rss1/1024:.0f} MiB | {pgl/one:.2f} |")
print(f"| of which read, mapped and staged (source → staging, from `--verbose`) | {staged:.2f} | {rows/staged:,.0f} | | {pgl/staged:.2f} |")
print(f"| migrate run, table read in 2 parts | {two:.2f} | {rows/two:,.0f} | {rss2/1024:.0f} MiB | {pgl/two:.2f} |")
print(f"| pgloader MySQL → plain tables (no RLS, no transforms) | {pgl:.2f} | {rows/pgl:,.0f} | | 1.00 |")
PY
