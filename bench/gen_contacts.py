#!/usr/bin/env python3
"""Generates N legacy contacts rows (seeded) for the smoke benchmark.

Writes two files into OUT_DIR:
  legacy.csv  what a customer exports: stray whitespace, mixed-case e-mails,
              'N/A' companies; the input of `migrate run`;
  clean.csv   the same rows already cleaned into the target's columns, the
              input of the hand-written SQL paths.
Usage: gen_contacts.py N OUT_DIR [SEED]
"""
import csv
import random
import sys
from pathlib import Path

n = int(sys.argv[1])
out = Path(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
out.mkdir(parents=True, exist_ok=True)

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Hooli", "N/A", ""]
TYPES = ["Client", "Lead", "contact", "VENDOR", " Partner "]
REGIONS = ["North", "South", "East", "West"]

with (out / "legacy.csv").open("w", newline="") as lf, (out / "clean.csv").open("w", newline="") as cf:
    legacy = csv.writer(lf)
    clean = csv.writer(cf)
    legacy.writerow(["CustomerID", "FirstName", "LastName", "E-Mail", "Phone", "Company", "Type", "Created", "Region"])
    clean.writerow(["source_key", "first_name", "last_name", "email", "phone", "company", "type", "created_at", "custom_fields"])
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{i}@Example.COM"
        company = rng.choice(COMPANIES)
        kind = rng.choice(TYPES)
        created = f"20{rng.randint(10, 23):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
        region = rng.choice(REGIONS)
        phone = f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        legacy.writerow([f"C{i:08d}", f" {first} ", last, f"  {email} ", phone, company, kind, created, region])
        clean.writerow([
            f"C{i:08d}", first, last, email.lower(), phone,
            "" if company in ("N/A", "") else company,
            kind.strip().lower(), created, f'{{"region": "{region}"}}',
        ])
