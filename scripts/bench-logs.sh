#!/usr/bin/env bash
# Times, on the same access log, in one run:
#   1. parky:     target/release/parky slo report --log FILE --objective 99.9 --period 30d --output json
#   2. parky-slo: the library reader alone (benches/sources.rs in PARKY_SCAN_LOG mode: one pass of
#                 `read_log_file`, release-optimised bench profile)
#   3. awk:       awk '{print $9}' FILE | sort | uniq -c
#   4. goaccess:  goaccess FILE --log-format=COMBINED -o /tmp/report.json (JSON report, no
#                 real-time server, no progress output)
# and prints wall time, peak resident memory (GNU time's "Maximum resident set size": for a
# pipeline, that of its largest process, not the sum) and ratios against awk.
#
# usage: scripts/bench-logs.sh FILE          (build FILE with scripts/make-big-log.sh)
# Steps whose program is missing (e.g. the CLI before it is built) are reported as skipped.
set -euo pipefail

file=${1:?"usage: $0 ACCESS_LOG"}
[ -r "$file" ] || { echo "cannot read $file" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_apt=()
[ -x /usr/bin/time ] || need_apt+=(time)
command -v goaccess >/dev/null || need_apt+=(goaccess)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]}" >&2
    apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null; }
fi

# The library harness: build the bench binary and find its path.
scan_bin=$(cargo bench -p parky-slo --bench sources --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sources" and m.get("executable"):
        print(m["executable"])' | tail -1) || true

bytes=$(stat -c %s "$file")
lines=$(wc -l < "$file")
echo "file: $file, $bytes bytes ($((bytes / 1048576)) MiB), $lines lines"
printf '%-10s %10s %12s %10s %10s  %s\n' step wall_s peak_MiB 'x awk' MiB/s note

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# run LABEL COMMAND... : times COMMAND (stdout discarded) and appends "label wall_s rss_kib".
run() {
    local label=$1; shift
    local log; log=$(mktemp)
    if /usr/bin/time -v -o "$log" "$@" > "/tmp/bench-logs-$label.out" 2>"/tmp/bench-logs-$label.err"; then
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        echo "$label $wall $rss" >> "$results"
    else
        echo "$label failed (see /tmp/bench-logs-$label.err)" >&2
        echo "$label - -" >> "$results"
    fi
    rm -f "$log"
}

if [ -x target/release/parky ]; then
    run parky target/release/parky slo report --log "$file" --objective 99.9 --period 30d --output json
else
    echo "parky - - skipped: target/release/parky not built (cargo build --release -p parky-cli)" >> "$results"
fi
if [ -n "$scan_bin" ] && [ -x "$scan_bin" ]; then
    run parky-slo env PARKY_SCAN_LOG="$file" "$scan_bin"
else
    echo "parky-slo - - skipped: bench binary not built" >> "$results"
fi
run awk bash -c "awk '{print \$9}' \"\$1\" | sort | uniq -c" _ "$file"
run goaccess goaccess "$file" --log-format=COMBINED --no-progress --no-global-config -o /tmp/report.json

awk_wall=$(awk '$1 == "awk" {print $2}' "$results")
while read -r label wall rss note; do
    if [ "$wall" = "-" ]; then
        printf '%-10s %10s %12s %10s %10s  %s\n' "$label" - - - - "${note:-failed}"
        continue
    fi
    awk -v l="$label" -v w="$wall" -v r="$rss" -v a="$awk_wall" -v b="$bytes" 'BEGIN {
        ratio = (a > 0) ? sprintf("%.2f", w / a) : "-"
        speed = (w > 0) ? sprintf("%.0f", b / w / 1048576) : "-"
        printf "%-10s %10.2f %12.1f %10s %10s\n", l, w, r / 1024, ratio, speed
    }'
done < "$results"
for label in parky parky-slo; do
    [ -s "/tmp/bench-logs-$label.out" ] && echo "$label output: $(head -c 300 "/tmp/bench-logs-$label.out")"
done
true
