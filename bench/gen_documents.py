"""Generates a legacy CRM collection as a mongoexport file (JSON lines,
extended JSON): customers with nested addresses, phone arrays, notes as
sub-documents and a score whose type changes between documents.
Deterministic for a seed.

    python3 bench/gen_documents.py ROWS OUT.json [SEED]
"""
import json
import random
import sys

FIRST = ["Ada", "Jürgen", "Zoë", "Grace", "Alan", "Hedy", "Linus", "Margaret", "Tim", "Barbara", "Édith", "Søren"]
LAST = ["Lovelace", "Müller", "Ångström", "Hopper", "Turing", "Lamarr", "Torvalds", "Hamilton", "Berners-Lee", "Liskov"]
CITIES = ["London", "Köln", "Paris", "Madrid", "Oslo", "Boston", "Zürich"]


def main():
    rows = int(sys.argv[1])
    out = sys.argv[2]
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(rows):
            oid = "%08x%016x" % (1_600_000_000 + i // 1000, i)
            doc = {
                "_id": {"$oid": oid},
                "name": {"first": rnd.choice(FIRST), "last": rnd.choice(LAST)},
                "email": f"user{i}@example.com" if rnd.random() > 0.02 else None,
                "phones": [
                    {"type": "mobile", "number": f"+44 20 7946 {rnd.randrange(10000):04d}"}
                    for _ in range(rnd.randrange(3))
                ],
                "since": {"$date": {"$numberLong": str(rnd.randrange(-2_000_000_000_000, 1_700_000_000_000))}},
                "lifetime_value": {"$numberDecimal": f"{rnd.randrange(10**7)}.{rnd.randrange(100):02d}"},
                "tags": rnd.sample(["vip", "eu", "us", "churned", "new"], rnd.randrange(3)),
                "notes": [
                    {"title": f"Note {n}", "body": "x" * rnd.randrange(200), "at": {"$date": "2020-01-01T00:00:00Z"}}
                    for n in range(rnd.randrange(3))
                ],
            }
            if rnd.random() < 0.7:
                doc["address"] = {"city": rnd.choice(CITIES), "zip": f"{rnd.randrange(100000):05d}"}
            kind = rnd.randrange(3)
            doc["score"] = rnd.randrange(100) if kind == 0 else (str(rnd.randrange(100)) if kind == 1 else [1, 2])
            f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
