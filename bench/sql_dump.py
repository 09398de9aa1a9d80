#!/usr/bin/env python3
"""Memory of the sql_dump source as the dump grows: generates mysqldump-style
files of the given sizes (multi-row INSERTs of a customers table, with an
orders table between them) and reads each with the connector's read_rows
example under /usr/bin/time. Flat peak RSS means the dump is streamed.

    python3 bench/sql_dump.py 100 1000     # sizes in MB
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate(path, megabytes):
    target = megabytes * 1_000_000
    written = 0
    row = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("CREATE TABLE `customers` (\n  `id` int NOT NULL,\n  `name` varchar(100),\n  `note` text,\n"
                "  `credit` decimal(12,2),\n  PRIMARY KEY (`id`)\n);\n")
        while written < target:
            tuples = []
            for _ in range(500):
                row += 1
                tuples.append(f"({row},'Customer O\\'{row}','a note; with (parens), commas and \\n a break',{row % 1000}.25)")
            line = "INSERT INTO `customers` VALUES " + ",".join(tuples) + ";\n"
            line += f"INSERT INTO `orders` VALUES ({row},{row},'x'),({row + 1},{row},'y');\n"
            f.write(line)
            written += len(line)
    return row


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    subprocess.run(["cargo", "build", "--quiet", "-p", "migrate-sqldump", "--example", "read_rows"], cwd=ROOT,
                   check=True)
    binary = ROOT / "target/debug/examples/read_rows"
    lines = []
    for mb in sizes:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "dump.sql"
            rows = generate(path, mb)
            size = os.path.getsize(path)
            t0 = time.monotonic()
            out = subprocess.run(["/usr/bin/time", "-f", "%M", str(binary), str(path), "customers"],
                                 capture_output=True, text=True, check=True)
            secs = time.monotonic() - t0
            kib = int(out.stderr.strip().splitlines()[-1])
            print(f"{size / 1e6:.0f} MB, {rows:,} rows: {out.stdout.strip()}; {secs:.1f} s, peak RSS {kib / 1024:.0f} MiB")
            lines.append(f"| {size / 1e6:,.0f} MB | {rows:,} | {secs:.1f} | {kib / 1024:.0f} |")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with open(ROOT / "bench/RESULTS.md", "a", encoding="utf-8") as f:
        f.write(f"\n## sql_dump source memory, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, commit {commit} "
                f"(bench/sql_dump.py, debug build: memory, not speed)\n\n")
        f.write("| dump | customers rows | s | peak RSS MiB |\n| ---: | ---: | ---: | ---: |\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
