#!/usr/bin/env python3
"""Crash safety: `migrate run` on a generated legacy export (the harness's
input: 5% duplicates, 1% bad rows), interrupted at seeded random points,
then checked and run again.

Each trial starts a run and, after a random fraction of a clean run's
duration, either SIGKILLs migrate or restarts PostgreSQL the way a crash
does (`pg_ctl restart -m immediate`; every fourth trial). Then:
  - nothing of the run is visible: contacts, key map and after-images of
    the org are empty (or, for a kill after the publishing transaction
    committed, all of it is, and the ledger says succeeded);
  - the ledger calls it interrupted (or failed, for a restart that migrate
    saw), and a killed migrate's exit is the kill;
  - a run after it succeeds, balanced, with exactly the clean file's rows.
Each trial's phase at the interruption (reading/staging, publishing) is
read from pg_stat_activity. Appends a table to bench/RESULTS.md.

    python3 bench/crash.py [--rows 1000000] [--trials 20] [--seed 7]
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

ROOT = harness.ROOT
ORG = "55555555-5555-4555-8555-555555555555"


def scalar(cluster, sql):
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", f"{cluster.admin}/bench", "-c", sql], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def phase(cluster):
    """What the run's connections are doing now."""
    queries = scalar(cluster, "SELECT string_agg(query, ' | ') FROM pg_stat_activity "
                              "WHERE application_name = 'migrate' AND state = 'active'")
    if "COPY" in queries:
        return "staging"
    if queries:
        return "publishing"
    return "reading"


def run(migrate, cluster, data, out):
    env = {**os.environ, "ORG_ID": ORG, "BENCH_CSV": str(data / "legacy.csv"), "DATABASE_URL": cluster.loader}
    return subprocess.Popen([migrate, "run", str(ROOT / "bench/harness_mapping.toml"), "--out", str(out), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    os.chdir(ROOT)
    harness.prerequisites()
    migrate = harness.build()
    data = ROOT / "bench/data/harness" / str(args.rows)
    if not (data / "clean.csv").exists():
        harness.sh([sys.executable, "bench/gen_legacy.py", str(args.rows), str(data), "42"], stdout=subprocess.DEVNULL)
    expected = sum(1 for _ in open(data / "clean.csv", encoding="utf-8")) - 1
    out = ROOT / "bench/data/crash"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    cluster = harness.Cluster(migrate)
    rows = []
    try:
        def check_clean_run(name):
            t0 = time.monotonic()
            p = run(migrate, cluster, data, out / name)
            _, err = p.communicate()
            secs = time.monotonic() - t0
            assert p.returncode == 0, err
            report = json.loads((out / name / "report.json").read_text())
            e = report["entities"][0]
            assert report["status"] == "succeeded" and e["balanced"] and e["loaded"] == expected, e
            assert int(scalar(cluster, "SELECT count(*) FROM contacts")) == expected
            return secs

        reference = check_clean_run("reference")
        rnd = random.Random(args.seed)
        for trial in range(args.trials):
            cluster.empty()
            how = "pg restart" if trial % 4 == 3 else "SIGKILL"
            at = rnd.uniform(0.02, 0.98) * reference
            p = run(migrate, cluster, data, out / f"trial-{trial}")
            time.sleep(at)
            if p.poll() is not None:
                rows.append((trial, how, at, "finished first", "—", 0, 0, 0))
                continue
            where = phase(cluster)
            if how == "SIGKILL":
                p.send_signal(signal.SIGKILL)
                p.wait()
                code = "killed"
            else:
                cluster.restart_immediate()
                _, err = p.communicate()
                code = f"exit {p.returncode}"
                assert p.returncode == 1, err
                assert "connection" in err.lower(), err
            # Wait for PostgreSQL to notice the dead connections.
            for _ in range(600):
                if scalar(cluster, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate'") == "0":
                    break
                time.sleep(0.05)
            visible = int(scalar(cluster, "SELECT count(*) FROM contacts"))
            keys = int(scalar(cluster, "SELECT count(*) FROM migrate.keys"))
            images = int(scalar(cluster, "SELECT (SELECT count(*) FROM migrate.after_images) + "
                                         "(SELECT count(*) FROM migrate.after_image_sets)"))
            # A kill after the publishing transaction committed (while the
            # target's fingerprints are measured or the report written)
            # finds all of the run published, never part of it.
            committed = scalar(cluster, "SELECT count(*) FROM migrate.runs WHERE status = 'succeeded'") == "1"
            if committed:
                assert visible == expected and keys >= expected and images > 0, (trial, visible, keys, images)
            else:
                assert visible == keys == images == 0, (trial, visible, keys, images)
            secs = check_clean_run(f"rerun-{trial}")
            statuses = scalar(cluster, "SELECT string_agg(status, ',' ORDER BY started_at) FROM migrate.runs")
            allowed = ("succeeded,succeeded",) if committed else ("interrupted,succeeded", "failed,succeeded")
            assert statuses in allowed, statuses
            if committed:
                where += ", after the commit"
            loaded = int(scalar(cluster, "SELECT count(*) FROM contacts"))
            print(f"trial {trial + 1}: {how} at {at:.1f} s ({where}, {code}); re-run {secs:.1f} s, {loaded:,} rows, "
                  f"ledger {statuses}", file=sys.stderr)
            rows.append((trial, how, at, where, statuses.split(",")[0], visible, loaded - expected, 0))
    finally:
        cluster.stop()

    lines = [
        f"\n## crash safety, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit "
        f"{harness.commit()}, {args.rows:,} legacy rows, {args.trials} trials, seed {args.seed} (bench/crash.py)\n",
        f"{harness.machine()} A clean run takes {reference:.1f} s and loads {expected:,} rows. After each "
        "interruption nothing of the run was visible (all of it, when the kill came after the commit) and the "
        "next run loaded every row once, balanced.\n",
        "| trial | interruption | at s | phase | ledger | rows visible after | rows lost or doubled by the re-run |",
        "| ---: | --- | ---: | --- | --- | ---: | ---: |",
    ]
    for trial, how, at, where, ledger, visible, diff, _ in rows:
        lines.append(f"| {trial + 1} | {how} | {at:.1f} | {where} | {ledger} | {visible} | {diff} |")
    harness.publish(lines)


if __name__ == "__main__":
    main()
