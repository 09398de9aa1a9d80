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
"""
import argparse
import datetime
import json
import os
import platform
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
    def __init__(self, migrate):
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="migrate-harness-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        sh(as_postgres([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8"]), stdout=subprocess.DEVNULL)
        opts = (f"-p {PORT} -c listen_addresses=127.0.0.1 -k {self.dir} -c shared_buffers=512MB "
                "-c max_wal_size=4GB -c checkpoint_timeout=30min")
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
            migrate.before_images, migrate.after_images, raw_copy, raw_pgloader CASCADE;
            CHECKPOINT;""")

    def stop(self):
        sh(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"]),
           stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(cmd, env=None, stdin=None):
    """Seconds and peak RSS (KiB) of one command."""
    rss = tempfile.NamedTemporaryFile(delete=False)
    t0 = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd, env=env, input=stdin,
                          capture_output=True, text=True)
    secs = time.monotonic() - t0
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    kib = int(Path(rss.name).read_text().split()[-1])
    os.unlink(rss.name)
    return secs, kib, done.stdout


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--paths", default="migrate,rls_sql,raw_copy,pgloader")
    args = ap.parse_args()
    paths = args.paths.split(",")

    os.chdir(ROOT)
    sh(["bash", "fixtures/scripts/setup.sh"])
    need = [p for p, probe in [("pgloader", "pgloader"), ("time", "/usr/bin/time"), ("postgresql-client", "psql")]
            if not shutil.which(probe)]
    if need:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq"] + need, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
           stdout=subprocess.DEVNULL)
    sh(["cargo", "build", "--release", "--quiet", "-p", "migrate-cli"])
    migrate = str(ROOT / "target/release/migrate")
    data = ROOT / "bench/data/harness" / str(args.rows)
    if not (data / "clean.csv").exists():
        sh([sys.executable, "bench/gen_legacy.py", str(args.rows), str(data), "42"], stdout=subprocess.DEVNULL)
    expected = sum(1 for _ in open(data / "clean.csv", encoding="utf-8")) - 1

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
                secs, kib, rows = run_path(path, cluster, data, migrate, out)
                if rows is not None:
                    loaded = rows
                results[path].append((secs, kib))
                print(f"trial {trial + 1}: {path:9s} {secs:8.2f} s  {kib / 1024:6.0f} MiB", file=sys.stderr)
    finally:
        cluster.stop()

    median = {p: statistics.median(s for s, _ in r) for p, r in results.items()}
    peak = {p: max(k for _, k in r) for p, r in results.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    names = {
        "migrate": "migrate run: decode, dates, money, dedupe, rejects, stage, publish under RLS",
        "rls_sql": "hand-written: \\copy clean rows to temp + INSERT…SELECT under the tenant role",
        "raw_copy": "raw \\copy of the clean rows into an unconstrained table",
        "pgloader": "pgloader 3.6, clean rows into an unconstrained typed table",
    }
    lines = [
        f"\n## harness, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{args.rows:,} legacy rows (bench/harness.py)\n",
        f"Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB. Median of {args.trials} trials, paths "
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
    if "migrate" in median and "pgloader" in median:
        lines.append(f"\nmigrate is {median['pgloader'] / median['migrate']:.2f}× as fast as pgloader "
                     f"(target ≥ 3×) and takes {median['migrate'] / base:.2f}× the hand-written RLS path's time "
                     f"(target ≤ 1.0×)." if base else "")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(ROOT / "bench/RESULTS.md", "a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
