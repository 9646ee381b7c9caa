#!/usr/bin/env bash
# Builds a large combined access log for benchmarks by repeating the real 2015 sample
# ($PARKY_SHARED_DATA/logs/apache_combined_2015.log, 10,000 lines, 2.35 MB, spanning
# 17 May 10:05 → 20 May 21:05 2015) with each copy's dates shifted by 4 more days than the
# previous one, so copies follow each other in time (within a copy the lines keep the
# sample's own order, which is almost but not exactly sorted). Only the `[dd/Mon/yyyy:` part
# of each line changes; time of day and offset (+0000) are kept.
#
# usage: scripts/make-big-log.sh OUTPUT [SIZE_MIB]      (SIZE_MIB defaults to 1024 = 1 GiB)
# The shared data folder is read-only; OUTPUT should be somewhere else, e.g. /tmp/big.log.
set -euo pipefail

out=${1:?"usage: $0 OUTPUT [SIZE_MIB]"}
size_mib=${2:-1024}
here=$(cd "$(dirname "$0")/.." && pwd)
data=${PARKY_SHARED_DATA:-$here/../shared/data}
sample="$data/logs/apache_combined_2015.log"
[ -r "$sample" ] || { echo "cannot read $sample (set PARKY_SHARED_DATA)" >&2; exit 1; }

python3 - "$sample" "$out" "$size_mib" <<'PY'
import datetime, re, sys

sample_path, out_path, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
sample = open(sample_path, "rb").read()
if not sample.endswith(b"\n"):
    sample += b"\n"
target = size_mib * 1024 * 1024
date_re = re.compile(rb"\[(\d\d/[A-Z][a-z]{2}/\d{4}):")
dates = sorted(set(date_re.findall(sample)))
parse = lambda d: datetime.datetime.strptime(d.decode(), "%d/%b/%Y")
# Shift per copy: whole days, strictly more than the sample's span.
span_days = (max(map(parse, dates)) - min(map(parse, dates))).days + 1
written, copy = 0, 0
with open(out_path, "wb") as out:
    while written < target:
        shift = datetime.timedelta(days=copy * span_days)
        mapping = {d: b"[" + (parse(d) + shift).strftime("%d/%b/%Y").encode() + b":" for d in dates}
        chunk = date_re.sub(lambda m: mapping[m.group(1)], sample)
        out.write(chunk)
        written += len(chunk)
        copy += 1
lines = copy * sample.count(b"\n")
print(f"{out_path}: {written} bytes, {copy} copies of {sample_path}, "
      f"{lines} lines, each copy shifted {span_days} days after the previous",
      file=sys.stderr)
PY
