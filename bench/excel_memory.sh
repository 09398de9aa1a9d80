#!/usr/bin/env bash
# Peak memory of reading an xlsx whose sheet declares the largest possible
# dimension (A1:XFD1048576) but holds a few rows: streaming must not
# allocate for the declared size. Appends to bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p migrate-excel --example read_sheet
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
PY
out=$(/usr/bin/time -f "%M" target/release/examples/read_sheet bench/data/huge_dimension.xlsx 2>&1)
rss_kb=$(echo "$out" | tail -n 1)
rows=$(echo "$out" | head -n 1)
cat <<MD | tee -a bench/RESULTS.md

## excel, huge declared dimension ($(date -u +"%Y-%m-%d %H:%M") UTC)

An xlsx whose sheet declares A1:XFD1048576 (17 billion cells) and holds 6
rows, read to the end by the Excel source (bench/excel_memory.sh):
$rows; peak RSS $((rss_kb / 1024)) MiB.
MD
