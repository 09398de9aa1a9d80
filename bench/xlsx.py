#!/usr/bin/env python3
"""The xlsx case: a generated workbook of ROWS x 10 cells (seeded; default
100,000 rows = 1M cells) loaded into contacts by `migrate run` (release:
read, transform, stage, publish under RLS into a throwaway cluster), side
by side with `pandas.read_excel` (openpyxl) of the same file doing nothing
else. pandas and openpyxl live in a venv under bench/data. Trials
alternate; medians, ratios and peak RSS are appended to bench/RESULTS.md.

    python3 bench/xlsx.py [--rows 100000] [--trials 3]
"""
import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

ROOT = harness.ROOT
VENV = ROOT / "bench/data/venv"
HEADER = ["CustomerID", "FirstName", "LastName", "Email", "Phone", "Company", "Type", "Created", "Revenue", "Region"]


def venv_python():
    py = VENV / "bin/python"
    if not py.exists():
        harness.sh([sys.executable, "-m", "venv", str(VENV)])
    done = subprocess.run([str(py), "-c", "import pandas, openpyxl"], capture_output=True)
    if done.returncode != 0:
        harness.sh([str(py), "-m", "pip", "install", "--quiet", "pandas==2.2.3", "openpyxl==3.1.5"])
    return str(py)


GENERATE = r'''
import random, sys, datetime
from openpyxl import Workbook
rows, path, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Dennis", "Margaret", "Linus", "Frances"]
last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Ritchie", "Hamilton", "Allen"]
kinds = ["Client", "Lead", "Vendor", "Partner", "Contact"]
wb = Workbook(write_only=True)
ws = wb.create_sheet("Customers")
ws.append(HEADER)
start = datetime.datetime(2001, 1, 1)
for i in range(rows):
    f, l = rnd.choice(first), rnd.choice(last)
    ws.append([f"C{i:07d}", f" {f} ", l, f"{f}.{l}{i}@example.com".lower(), f"+1 555-{rnd.randrange(10**7):07d}",
               f"{l} & Co" if rnd.random() < 0.7 else None, rnd.choice(kinds),
               start + datetime.timedelta(minutes=rnd.randrange(12_000_000)), round(rnd.uniform(0, 99999), 2),
               rnd.choice(["North", "South", "East", "West"])])
wb.save(path)
'''

READ = "import sys, pandas; df = pandas.read_excel(sys.argv[1], engine='openpyxl'); print(len(df))"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    os.chdir(ROOT)
    harness.prerequisites()
    migrate = harness.build()
    py = venv_python()
    data = ROOT / "bench/data/xlsx"
    data.mkdir(parents=True, exist_ok=True)
    book = data / f"contacts-{args.rows}.xlsx"
    if not book.exists():
        harness.sh([py, "-c", f"HEADER = {HEADER!r}\n" + GENERATE, str(args.rows), str(book), "42"])
    cells = args.rows * len(HEADER)

    cluster = harness.Cluster(migrate)
    results = {"migrate": [], "pandas": []}
    try:
        for trial in range(args.trials):
            order = ["migrate", "pandas"] if trial % 2 == 0 else ["pandas", "migrate"]
            for path in order:
                if path == "migrate":
                    cluster.empty()
                    out = data / f"out-{trial}"
                    shutil.rmtree(out, ignore_errors=True)
                    env = {**os.environ, "ORG_ID": str(uuid.uuid4()), "BENCH_XLSX": str(book),
                           "DATABASE_URL": cluster.loader}
                    secs, kib, _ = harness.timed([migrate, "run", str(ROOT / "bench/xlsx_mapping.toml"), "--out",
                                                  str(out), "--quiet"], env=env)
                    report = json.loads((out / "report.json").read_text())
                    e = report["entities"][0]
                    assert report["status"] == "succeeded" and e["balanced"] and e["loaded"] == args.rows, e
                else:
                    secs, kib, stdout = harness.timed([py, "-c", READ, str(book)])
                    assert int(stdout.split()[-1]) == args.rows, stdout
                results[path].append((secs, kib))
                print(f"trial {trial + 1}: {path:8s} {secs:8.2f} s  {kib / 1024:6.0f} MiB", file=sys.stderr)
    finally:
        cluster.stop()

    median = {p: statistics.median(s for s, _ in r) for p, r in results.items()}
    peak = {p: max(k for _, k in r) for p, r in results.items()}
    lines = [
        f"\n## xlsx, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {harness.commit()}, "
        f"{args.rows:,} rows × {len(HEADER)} columns = {cells:,} cells (bench/xlsx.py)\n",
        f"{harness.machine()} Median of {args.trials} trials, alternating. The workbook is "
        f"{book.stat().st_size / 2**20:.1f} MiB.\n",
        "| path | median s | cells/s | peak RSS | trials (s) |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| `migrate run`: read, transform, stage, publish under RLS | {median['migrate']:.2f} | "
        f"{cells / median['migrate']:,.0f} | {peak['migrate'] / 1024:.0f} MiB | "
        f"{', '.join(f'{s:.1f}' for s, _ in results['migrate'])} |",
        f"| `pandas.read_excel` (openpyxl), reading only | {median['pandas']:.2f} | "
        f"{cells / median['pandas']:,.0f} | {peak['pandas'] / 1024:.0f} MiB | "
        f"{', '.join(f'{s:.1f}' for s, _ in results['pandas'])} |",
        f"\nmigrate's whole run is {median['pandas'] / median['migrate']:.1f}× as fast as pandas reading the file "
        f"(target ≥ 10×).",
    ]
    harness.publish(lines)


if __name__ == "__main__":
    main()
