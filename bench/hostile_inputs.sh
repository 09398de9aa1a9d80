#!/usr/bin/env bash
# Peak memory on hostile inputs: a billion-laughs XML, an xlsx whose sheet
# declares A1:XFD1048576, a CSV with a 1 GiB field and one with NUL and
# invalid bytes. Each must stay far under 100 MB.
# Appends to bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-excel --example read_sheet
cargo build --release --quiet -p migrate-xml --example read_records
cargo build --release --quiet -p migrate-csv --example read_rows
mkdir -p bench/data
python3 - <<'PY'
import zipfile
src, dst = "fixtures/files/customers.xlsx", "bench/data/huge_dimension.xlsx"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        body = zin.read(item.filename)
        if item.filename == "xl/worksheets/sheet1.xml":
            body = body.replace(b'<dimension ref="A1:I6" />', b'<dimension ref="A1:XFD1048576" />')
            assert b"XFD1048576" in body
        zout.writestr(item, body)
lines = ['<?xml version="1.0"?>', '<!DOCTYPE lolz [', '<!ENTITY lol "lol">']
for i in range(1, 10):
    prev = "lol" if i == 1 else f"lol{i-1}"
    lines.append(f'<!ENTITY lol{i} "{("&" + prev + ";") * 10}">')
lines += [']>', '<R><C><N>&lol9;</N></C></R>']
open("bench/data/billion_laughs.xml", "w").write("\n".join(lines) + "\n")
# One quoted field of 1 GiB (a runaway export, an unclosed quote), then a
# normal row.
chunk = b"lorem ipsum, \"\"quoted\"\"\n" * 40000
with open("bench/data/huge_field.csv", "wb") as f:
    f.write(b"id,notes,city\n1,short,Paris\n2,\"")
    written = 0
    while written < 1 << 30:
        f.write(chunk)
        written += len(chunk)
    f.write(b"\",Lyon\n3,after,Nice\n")
# NUL bytes and bytes that are not UTF-8 in a file declared UTF-8.
with open("bench/data/bad_bytes.csv", "wb") as f:
    f.write(b"id,name\n")
    for i in range(200000):
        f.write(b"%d,%s\n" % (i, [b"Ada\0Lovelace", b"Caf\xe9", b"plain"][i % 3]))
PY
measure() { /usr/bin/time -f "%M" "$@" 2>&1; }
xlsx=$(measure target/release/examples/read_sheet bench/data/huge_dimension.xlsx)
xml=$(measure target/release/examples/read_records bench/data/billion_laughs.xml /R/C N)
field=$(measure target/release/examples/read_rows bench/data/huge_field.csv utf-8 rfc4180)
bytes=$(measure target/release/examples/read_rows bench/data/bad_bytes.csv utf-8)
cat <<MD | tee -a bench/RESULTS.md

## hostile inputs ($(date -u +"%Y-%m-%d %H:%M") UTC, bench/hostile_inputs.sh)

| input | outcome | peak RSS |
| --- | --- | ---: |
| xlsx declaring A1:XFD1048576, 6 rows | $(echo "$xlsx" | head -n 1) | $(( $(echo "$xlsx" | tail -n 1) / 1024 )) MiB |
| billion-laughs XML (10⁹ expansions if expanded) | $(echo "$xml" | head -n 1) | $(( $(echo "$xml" | tail -n 1) / 1024 )) MiB |
| CSV with one 1 GiB quoted field | $(echo "$field" | head -n 1) | $(( $(echo "$field" | tail -n 1) / 1024 )) MiB |
| CSV declared UTF-8, 200,000 rows, NUL bytes and Latin-1 bytes | $(echo "$bytes" | head -n 1) | $(( $(echo "$bytes" | tail -n 1) / 1024 )) MiB |
MD
