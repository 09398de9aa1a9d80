#!/usr/bin/env python3
"""The performance harness: one invocation generates its input (seeded),
starts a throwaway PostgreSQL cluster, and loads the same legacy contacts
several ways, alternating their order trial by trial:

  migrate   `migrate run` (release): decode Windows-1252, parse US dates and
            currency strings, dedupe by e-mail, reject bad rows, stage,
            publish under RLS;
  rls_sql   the simplest correct hand-written path into the real target:
            \\copy the already-cleaned rows into a temp table, then
            INSERT ... SELECT under the tenant role into the RLS-forced,
            indexed contacts table (the bar migrate is held to);
  raw_copy  \\copy of the cleaned rows into an unconstrained table (context:
            the machine's limit);
  pgloader  pgloader 3.6 (Debian) loading the cleaned rows into an
            unconstrained table with the target's types.

Between trials every table is emptied, so each trial loads into the same
state. Reports the median seconds, rows/s, the ratio to rls_sql and the
peak RSS of each path, and appends the table to bench/RESULTS.md with the
date, commit and machine.

    python3 bench/harness.py [--rows 1000000] [--trials 3] [--paths migrate,rls_sql,raw_copy,pgloader]
                             [--binary PATH] [--before PATH]

--binary measures an earlier build instead of this checkout's; --before
adds a path `before`, another binary measured alternately with migrate in
the same run, so a change's before and after share the machine's state.

With --profile, it runs migrate once instead, with PostgreSQL logging every
statement over 100 ms, and prints where the time went: the run's wall time,
the migrate process's own CPU time, and each slow statement with its
duration (appended to bench/RESULTS.md as well).

    python3 bench/harness.py --profile [--rows 1000000]

With --all, it runs every case of the performance issue in turn, each
appending its own table: the CSV at 100k, 1M (with a profile) and 10M
rows, MySQL against pgloader (bench/mysql.sh), the workbook against pandas
(bench/xlsx.py), and the transform and dedupe micro-cases (cargo bench,
bench/dedupe.sh). It takes about an hour and a half on 2 cores.

    python3 bench/harness.py --all
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 55494
SQL_ORG = "22222222-2222-4222-8222-222222222222"
RAW_COLUMNS = "source_key, first_name, last_name, email, phone, company, type, created_at, custom_fields"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


class Cluster:
    def __init__(self, migrate, profile=False):
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="migrate-harness-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        sh(as_postgres([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8"]), stdout=subprocess.DEVNULL)
        opts = (f"-p {PORT} -c listen_addresses=127.0.0.1 -k {self.dir} -c shared_buffers=512MB "
                "-c max_wal_size=4GB -c checkpoint_timeout=30min")
        if profile:
            opts += " -c log_min_duration_statement=100 -c log_line_prefix=%m"
        sh(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"),
                        "-w", "start", "-o", opts]), stdout=subprocess.DEVNULL)
        self.admin = f"postgres://postgres@127.0.0.1:{PORT}"
        self.psql("postgres", "CREATE DATABASE bench")
        sh([migrate, "schema", "apply"], env={**os.environ, "DATABASE_URL": f"{self.admin}/bench"},
           stdout=subprocess.DEVNULL)
        self.psql("bench", f"""CREATE ROLE loader LOGIN; GRANT platform_tenant TO loader;
            CREATE TABLE raw_copy (source_key text, first_name text, last_name text, email text, phone text,
                company text, type text, created_at text, custom_fields text);
            CREATE TABLE raw_pgloader (source_key text, first_name text, last_name text, email text, phone text,
                company text, type text, created_at timestamptz, custom_fields jsonb);
            GRANT INSERT, TRUNCATE ON raw_copy, raw_pgloader TO loader;""")
        self.loader = f"postgres://loader@127.0.0.1:{PORT}/bench"

    def psql(self, db, sql):
        sh(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", f"{self.admin}/{db}", "-c", sql], stdout=subprocess.DEVNULL,
           env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})

    def empty(self):
        """Every platform and ledger table emptied: each trial loads into the same state."""
        self.psql("bench", """TRUNCATE contacts, tasks, documents, entity_links, migrate.keys, migrate.runs,
            migrate.before_images, migrate.after_images, migrate.after_image_sets, raw_copy, raw_pgloader CASCADE;
            CHECKPOINT;""")

    def restart_immediate(self):
        """A crash: no shutdown checkpoint, every connection cut, recovery on start."""
        sh(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"),
                        "-m", "immediate", "-w", "restart"]), stdout=subprocess.DEVNULL)

    def stop(self):
        sh(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"]),
           stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


LAST_CPU = [0.0]


def timed(cmd, env=None, stdin=None):
    """Seconds and peak RSS (KiB) of one command; its CPU seconds go to LAST_CPU."""
    rss = tempfile.NamedTemporaryFile(delete=False)
    t0 = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", rss.name] + cmd, env=env, input=stdin,
                          capture_output=True, text=True)
    secs = time.monotonic() - t0
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    user, system, kib = Path(rss.name).read_text().split()[-3:]
    os.unlink(rss.name)
    LAST_CPU[0] = float(user) + float(system)
    return secs, int(kib), done.stdout


def statement_profile(log):
    """The slow statements of a PostgreSQL log: (ms, first words), longest first."""
    found = []
    text = Path(log).read_text(errors="replace")
    for m in re.finditer(r"duration: ([0-9.]+) ms  (?:statement|execute [^:]*): (.*?)(?=\n\S|\Z)", text, re.S):
        words = " ".join(m.group(2).split())
        found.append((float(m.group(1)), words[:110]))
    return sorted(found, reverse=True)


def run_path(path, cluster, data, migrate, out):
    if path == "migrate":
        env = {**os.environ, "ORG_ID": str(uuid.uuid4()), "BENCH_CSV": str(data / "legacy.csv"),
               "DATABASE_URL": cluster.loader}
        secs, kib, _ = timed([migrate, "run", str(ROOT / "bench/harness_mapping.toml"), "--out", str(out),
                              "--quiet"], env=env)
        report = json.loads((out / "report.json").read_text())
        e = report["entities"][0]
        assert report["status"] == "succeeded" and e["balanced"], report["status"]
        return secs, kib, e["loaded"]
    if path == "rls_sql":
        script = f"""BEGIN;
SET LOCAL ROLE platform_tenant;
SELECT set_config('app.current_org_id', '{SQL_ORG}', true) \\g /dev/null
CREATE TEMP TABLE incoming (source_key text, first_name text, last_name text, email text, phone text,
                            company text, type text, created_at timestamptz, custom_fields jsonb) ON COMMIT DROP;
\\copy incoming FROM '{data / "clean.csv"}' WITH (FORMAT csv, HEADER true)
INSERT INTO contacts (org_id, first_name, last_name, email, phone, company, type, created_at, custom_fields)
SELECT '{SQL_ORG}', first_name, last_name, email, phone, NULLIF(company, ''), type, created_at, custom_fields
  FROM incoming;
COMMIT;
"""
        secs, kib, _ = timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.loader], stdin=script)
        return secs, kib, None
    if path == "raw_copy":
        secs, kib, _ = timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster.loader, "-c",
                              f"\\copy raw_copy FROM '{data / 'clean.csv'}' WITH (FORMAT csv, HEADER true)"])
        return secs, kib, None
    if path == "pgloader":
        command = out.with_suffix(".load")
        command.write_text(f"""LOAD CSV FROM '{data / "clean.csv"}' ({RAW_COLUMNS})
  INTO {cluster.admin}/bench?raw_pgloader ({RAW_COLUMNS})
  WITH skip header = 1, fields terminated by ',', fields optionally enclosed by '"',
       fields escaped by double-quote
  SET work_mem to '64MB';
""")
        secs, kib, output = timed(["pgloader", "--quiet", str(command)])
        return secs, kib, None
    raise ValueError(path)


def prerequisites():
    """The project's setup, then pgloader, GNU time and psql from Debian when missing."""
    sh(["bash", "fixtures/scripts/setup.sh"])
    need = [p for p, probe in [("pgloader", "pgloader"), ("time", "/usr/bin/time"), ("postgresql-client", "psql")]
            if not shutil.which(probe)]
    if need:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq"] + need, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
           stdout=subprocess.DEVNULL)


def build():
    """The release binary's path, built."""
    sh(["cargo", "build", "--release", "--quiet", "-p", "migrate-cli"], cwd=ROOT)
    return str(ROOT / "target/release/migrate")


BINARY = [None]


def commit():
    if BINARY[0]:
        return f"— (binary {BINARY[0]})"
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip()


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB."


def publish(lines):
    """Prints a result and appends it to bench/RESULTS.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    with open(ROOT / "bench/RESULTS.md", "a", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--paths", default="migrate,rls_sql,raw_copy,pgloader")
    ap.add_argument("--profile", action="store_true", help="one migrate run with a statement log")
    ap.add_argument("--binary", help="a migrate binary to measure instead of building this checkout's "
                    "(an earlier commit's, for a before/after in one session)")
    ap.add_argument("--before", help="an earlier migrate binary, measured as the path `before` alternately "
                    "with this one in the same run (a before/after on one machine state)")
    ap.add_argument("--all", action="store_true", help="every case, one after another")
    args = ap.parse_args()
    if args.all:
        return every_case()
    paths = args.paths.split(",")
    if args.before and "before" not in paths:
        paths.insert(1, "before")

    os.chdir(ROOT)
    prerequisites()
    BINARY[0] = args.binary
    migrate = args.binary or build()
    data = ROOT / "bench/data/harness" / str(args.rows)
    if not (data / "clean.csv").exists():
        sh([sys.executable, "bench/gen_legacy.py", str(args.rows), str(data), "42"], stdout=subprocess.DEVNULL)
    expected = sum(1 for _ in open(data / "clean.csv", encoding="utf-8")) - 1

    if args.profile:
        return profile(args, data, migrate)
    cluster = Cluster(migrate)
    results = {p: [] for p in paths}
    loaded = None
    try:
        for trial in range(args.trials):
            order = paths if trial % 2 == 0 else list(reversed(paths))
            for path in order:
                cluster.empty()
                out = ROOT / "bench/data/harness" / f"out-{path}-{trial}"
                shutil.rmtree(out, ignore_errors=True)
                if path == "before":
                    secs, kib, rows = run_path("migrate", cluster, data, args.before, out)
                else:
                    secs, kib, rows = run_path(path, cluster, data, migrate, out)
                if rows is not None:
                    loaded = rows
                results[path].append((secs, kib))
                print(f"trial {trial + 1}: {path:9s} {secs:8.2f} s  {kib / 1024:6.0f} MiB", file=sys.stderr)
    finally:
        cluster.stop()

    median = {p: statistics.median(s for s, _ in r) for p, r in results.items()}
    peak = {p: max(k for _, k in r) for p, r in results.items()}
    names = {
        "migrate": "migrate run: decode, dates, money, dedupe, rejects, stage, publish under RLS",
        "before": f"the same, binary {args.before} (before)",
        "rls_sql": "hand-written: \\copy clean rows to temp + INSERT…SELECT under the tenant role",
        "raw_copy": "raw \\copy of the clean rows into an unconstrained table",
        "pgloader": "pgloader 3.6, clean rows into an unconstrained typed table",
    }
    lines = [
        f"\n## harness, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{args.rows:,} legacy rows (bench/harness.py)\n",
        f"{machine()} Median of {args.trials} trials, paths "
        f"alternating order; tables emptied before each. migrate loaded {loaded if loaded is not None else '—'} "
        f"rows, the clean file has {expected:,}.\n",
        "| path | median s | rows/s | ÷ hand-written RLS | peak RSS | trials (s) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    base = median.get("rls_sql")
    for p in paths:
        ratio = f"{median[p] / base:.2f}" if base else "—"
        trials = ", ".join(f"{s:.1f}" for s, _ in results[p])
        lines.append(f"| {names[p]} | {median[p]:.2f} | {args.rows / median[p]:,.0f} | {ratio} | "
                     f"{peak[p] / 1024:.0f} MiB | {trials} |")
    if "migrate" in median and "before" in median:
        lines.append(f"\nmigrate takes {median['migrate'] / median['before']:.2f}× the time of the binary before, "
                     f"median against median in this run.")
    if "migrate" in median and "pgloader" in median:
        lines.append(f"\nmigrate is {median['pgloader'] / median['migrate']:.2f}× as fast as pgloader "
                     f"(target ≥ 3×) and takes {median['migrate'] / base:.2f}× the hand-written RLS path's time "
                     f"(target ≤ 1.0×)." if base else "")
    publish(lines)


def every_case():
    me = [sys.executable, str(Path(__file__).resolve())]
    for case in [
        me + ["--rows", "100000"],
        me + ["--rows", "1000000"],
        me + ["--rows", "1000000", "--profile"],
        me + ["--rows", "10000000", "--trials", "1", "--paths", "migrate,rls_sql,raw_copy"],
        ["bash", str(ROOT / "bench/mysql.sh"), "1000000"],
        [sys.executable, str(ROOT / "bench/xlsx.py"), "--rows", "100000"],
        ["cargo", "bench", "-p", "migrate-engine", "--bench", "transforms"],
        ["bash", str(ROOT / "bench/dedupe.sh"), "1000000"],
    ]:
        print("==>", " ".join(case[1:] if case[0] == sys.executable else case), file=sys.stderr, flush=True)
        sh(case, cwd=ROOT)


def profile(args, data, migrate):
    cluster = Cluster(migrate, profile=True)
    try:
        cluster.empty()
        log = cluster.dir / "pg.log"
        start = log.stat().st_size
        out = ROOT / "bench/data/harness" / "out-profile"
        shutil.rmtree(out, ignore_errors=True)
        secs, kib, rows = run_path("migrate", cluster, data, migrate, out)
        cpu = LAST_CPU[0]
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            tail = f.read()
        slow = cluster.dir / "slow.log"
        slow.write_text(tail)
        statements = statement_profile(slow)
    finally:
        cluster.stop()
    in_pg = sum(ms for ms, _ in statements) / 1000
    lines = [
        f"\n## profile, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{args.rows:,} legacy rows (bench/harness.py --profile)\n",
        f"One `migrate run`: {secs:.1f} s wall, {cpu:.1f} s CPU in the migrate process, peak RSS "
        f"{kib / 1024:.0f} MiB, {rows:,} rows loaded. PostgreSQL statements over 100 ms: {in_pg:.1f} s in all.\n",
        "| s | statement |",
        "| ---: | --- |",
    ]
    for ms, words in statements[:15]:
        lines.append(f"| {ms / 1000:.2f} | `{words.replace('|', '/')}` |")
    publish(lines)


if __name__ == "__main__":
    main()
