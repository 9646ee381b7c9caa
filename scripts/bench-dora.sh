#!/usr/bin/env bash
# The four DORA keys over a generated history (1,000,000 deployments, 10,000,000 changes,
# 50,000 incidents, seed 42), side by side in one run:
#   1. parky:  parky-dora's `compute` (examples/dora_bench.rs: CSV read with the csv crate,
#              then the calculators), release build;
#   2. duckdb: scripts/dora_duckdb.py (DuckDB from PyPI: read_csv into tables, then one SQL
#              query with ASOF JOIN and quantile_cont) on the same CSV files.
# Both print the same figures; the script checks that they agree, then prints wall time,
# load and compute time, and peak resident memory (GNU time's "Maximum resident set size").
#
# usage: scripts/bench-dora.sh [DIR] [DEPLOYMENTS] [CHANGES]   (default /tmp/parky-dora-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${1:-/tmp/parky-dora-bench}
deployments=${2:-1000000}
changes=${3:-10000000}
# Monday 2022-01-03 00:00 Asia/Tokyo (= 2022-01-02 15:00 UTC), and 208 weeks later.
since=1641135600
until=$((since + 208 * 7 * 86400))

python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cargo build --release -q -p parky-dora --example dora_gen --example dora_bench
if [ ! -s "$dir/incidents.csv" ] || [ "$(cat "$dir/.size" 2>/dev/null)" != "$deployments $changes" ]; then
    echo "generating $deployments deployments and $changes changes into $dir" >&2
    target/release/examples/dora_gen "$dir" "$deployments" "$changes" 42
    echo "$deployments $changes" > "$dir/.size"
fi
echo "data: $(du -sh "$dir" | cut -f1) of CSV in $dir; window $since..$until (208 weeks)"
echo "duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)'), $(nproc) cores"

run() {
    local label=$1; shift
    /usr/bin/time -v -o "/tmp/bench-dora-$label.time" "$@" > "/tmp/bench-dora-$label.json"
}
run parky target/release/examples/dora_bench "$dir" "$since" "$until"
run duckdb python3 scripts/dora_duckdb.py "$dir" "$since" "$until"

python3 - <<'PY'
import json, re
rows = {}
for label in ("parky", "duckdb"):
    figures = json.load(open(f"/tmp/bench-dora-{label}.json"))
    t = open(f"/tmp/bench-dora-{label}.time").read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
    rows[label] = (figures, secs, rss)
p, d = rows["parky"][0], rows["duckdb"][0]
diff = [k for k in p if k not in ("load_s", "compute_s")
        and not (p[k] == d[k] or (isinstance(p[k], float) and abs(p[k] - d[k]) <= 1e-9 * abs(d[k])))]
print("figures agree" if not diff else f"FIGURES DIFFER: {[(k, p[k], d[k]) for k in diff]}")
for k in ("successful_deployments", "change_failure_rate", "changes", "lead_time_p50_s",
          "lead_time_p90_s", "recovery_median_s"):
    print(f"  {k} = {p[k]}")
print(f"{'':8} {'wall s':>8} {'load s':>8} {'compute s':>10} {'peak MiB':>9}")
for label, (f, wall, rss) in rows.items():
    print(f"{label:8} {wall:8.2f} {f['load_s']:8.2f} {f['compute_s']:10.2f} {rss / 1024:9.0f}")
pw, dw = rows["parky"][1], rows["duckdb"][1]
pc, dc = p["compute_s"], d["compute_s"]
print(f"parky / duckdb: wall {pw / dw:.2f}, compute {pc / dc:.2f} (below 1: parky faster)")
PY
