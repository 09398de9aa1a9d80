#!/usr/bin/env python3
"""Generates N legacy contacts rows (seeded) as a customer's old system
exports them, for bench/harness.py:

  legacy.csv  Windows-1252, `;`-separated, US dates (`03/14/2019 4:05 PM`),
              amounts as currency strings (`$1,234.56`), accented names,
              5% of the rows repeating an earlier customer's e-mail under a
              new id (duplicates for `dedupe`), 1% bad rows (an e-mail
              without `@`, or a date that does not exist);
  clean.csv   what those rows become in the target's columns (UTF-8, ISO
              timestamps, exact amounts, duplicates and bad rows left out):
              the input of the hand-written SQL paths and of pgloader.

Usage: gen_legacy.py N OUT_DIR [SEED]
Prints the number of rows a correct load keeps.
"""
import csv
import random
import sys
from pathlib import Path

n = int(sys.argv[1])
out = Path(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
out.mkdir(parents=True, exist_ok=True)

FIRST = ["Ada", "Grace", "Alan", "José", "Zoë", "Jürgen", "François", "Søren", "Margaret", "Dennis"]
LAST = ["Lovelace", "Hopper", "Turing", "García", "Ångström", "Müller", "Dupré", "Kierkegaard", "Hamilton", "Ritchie"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Hooli", "Bäckerei Göller", "N/A", ""]
TYPES = ["Client", "Lead", "contact", "VENDOR", " Partner "]

kept = 0
emails = []
with (out / "legacy.csv").open("w", newline="", encoding="cp1252") as lf, \
        (out / "clean.csv").open("w", newline="", encoding="utf-8") as cf:
    legacy = csv.writer(lf, delimiter=";")
    clean = csv.writer(cf)
    legacy.writerow(["CustomerID", "FirstName", "LastName", "E-Mail", "Phone", "Company", "Type", "Created", "Revenue"])
    clean.writerow(["source_key", "first_name", "last_name", "email", "phone", "company", "type", "created_at",
                    "custom_fields"])
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        duplicate = bool(emails) and rng.random() < 0.05
        bad = not duplicate and rng.random() < 0.01
        email = rng.choice(emails) if duplicate else f"{first}.{last}{i}@Example.COM"
        if not duplicate and not bad:
            emails.append(email)
            if len(emails) > 10_000:
                emails.pop(0)
        year, month, day = rng.randint(1995, 2023), rng.randint(1, 12), rng.randint(1, 28)
        hour, minute = rng.randint(0, 23), rng.randint(0, 59)
        h12 = hour % 12 or 12
        created = f"{month:02d}/{day:02d}/{year} {h12}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
        if bad and rng.random() < 0.5:
            created = f"02/30/{year} 1:00 PM"
        elif bad:
            email = email.replace("@", " at ")
        cents = rng.randint(0, 10_000_000)
        revenue = f"${cents // 100:,}.{cents % 100:02d}"
        company = rng.choice(COMPANIES)
        kind = rng.choice(TYPES)
        phone = f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        legacy.writerow([f"C{i:08d}", f" {first} ", last, f"  {email} ", phone, company, kind, created, revenue])
        if bad or duplicate:
            continue
        kept += 1
        clean.writerow([
            f"C{i:08d}", first, last, email.replace("@Example.COM", "@example.com"), phone,
            "" if company in ("N/A", "") else company, kind.strip().lower(),
            f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:00+00",
            f'{{"revenue": {{"amount": "{cents // 100}.{cents % 100:02d}", "currency": "USD"}}}}',
        ])
print(kept)
