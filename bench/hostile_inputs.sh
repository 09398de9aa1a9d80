#!/usr/bin/env bash
# Peak memory on hostile inputs: a billion-laughs XML and an xlsx whose
# sheet declares A1:XFD1048576. Both must stay far under 100 MB.
# Appends to bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-excel --example read_sheet
cargo build --release --quiet -p migrate-xml --example read_records
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
PY
measure() { /usr/bin/time -f "%M" "$@" 2>&1; }
xlsx=$(measure target/release/examples/read_sheet bench/data/huge_dimension.xlsx)
xml=$(measure target/release/examples/read_records bench/data/billion_laughs.xml /R/C N)
cat <<MD | tee -a bench/RESULTS.md

## hostile inputs ($(date -u +"%Y-%m-%d %H:%M") UTC, bench/hostile_inputs.sh)

| input | outcome | peak RSS |
| --- | --- | ---: |
| xlsx declaring A1:XFD1048576, 6 rows | $(echo "$xlsx" | head -n 1) | $(( $(echo "$xlsx" | tail -n 1) / 1024 )) MiB |
| billion-laughs XML (10⁹ expansions if expanded) | $(echo "$xml" | head -n 1) | $(( $(echo "$xml" | tail -n 1) / 1024 )) MiB |
MD
