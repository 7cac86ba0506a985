#!/usr/bin/env bash
# Progress of long jobs: `--progress=log` logs a "progress" line per job every
# --progress.interval (series done of the inputs' total, bytes, MB/s), the figures only grow and
# end at the total; on a terminal (`script` gives one) a status line is redrawn in place and
# erased before the result is printed; `--progress=off` prints none; bad values are usage errors.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"
st_need script
st_mktemp work

# three HA replicas of 2000 series over 2h: every chunk overlaps, so the merge re-encodes all
for r in 0 1 2; do
    "$STRATA_SRC/tests/scripts/make_block.sh" --out "$work/in" --series 2000 --hours 2 \
        --seed 5 --ts-offset-ms $((r * 5000)) >/dev/null
done
mapfile -t blocks < <(st_blocks_of "$work/in")
total=$(for b in "${blocks[@]}"; do st_meta stats.numSeries "$b"; done | awk '{s += $1} END {print s}')

rc=0
"$STRATA_BIN" compact --threads=1 --progress=log --progress.interval=10ms \
    --output="$work/out1" "${blocks[@]}" >"$work/out1.txt" 2>"$work/log1" || rc=$?
n=$(grep -c 'msg=progress' "$work/log1" || true)
if [ $rc = 0 ] && [ "$n" -ge 1 ]; then
    st_pass "compact --progress=log logged $n progress lines"
else
    st_fail "progress lines" "exit $rc, $n lines: $(tail -n 3 "$work/log1")"
fi
if python3 - "$work/log1" "$total" <<'PY'; then
import re, sys
total = int(sys.argv[2])
last = -1
for line in open(sys.argv[1]):
    if "msg=progress" not in line:
        continue
    f = dict(re.findall(r'(\w+)=("[^"]*"|\S*)', line))
    done, tot = int(f["series_done"]), int(f["series_total"])
    assert f["job"] == "compact", line
    assert tot == total, (tot, total)
    assert last <= done <= tot, (last, done, tot)
    assert float(f["mb_per_s"]) >= 0 and int(f["bytes"]) >= 0
    last = done
assert last >= 0
PY
    st_pass "series_total is the inputs' $total series and series_done only grows up to it"
else
    st_fail "progress figures" "$(grep progress "$work/log1" | head -n 3)"
fi

rc=0
"$STRATA_BIN" compact --threads=1 --progress=off --progress.interval=10ms \
    --output="$work/out2" "${blocks[@]}" >/dev/null 2>"$work/log2" || rc=$?
if [ $rc = 0 ] && ! grep -q 'progress' "$work/log2"; then
    st_pass "--progress=off prints no progress"
else
    st_fail "progress off" "exit $rc: $(grep progress "$work/log2" | head -n 2)"
fi

# a terminal: the status line is drawn with \r and erased (ANSI erase line) before the result
rc=0
script -qec "'$STRATA_BIN' compact --threads=1 --progress.interval=10ms --output='$work/out3' ${blocks[*]}" \
    "$work/typescript" >/dev/null 2>&1 || rc=$?
if [ $rc = 0 ] && python3 - "$work/typescript" <<'PY'; then
import sys
t = open(sys.argv[1], "rb").read()
erase = b"\r\x1b[K"
assert b" series (" in t and b"MB/s" in t, t[:300]
i = t.index(b'msg="compact blocks"')
# the log line starts right after an erase: the status line is not left in front of it
assert t.rfind(erase, 0, i) > t.rfind(b"series (", 0, i), t[:i][-200:]
PY
    st_pass "on a terminal the status line is redrawn in place and erased before the log line"
else
    st_fail "terminal status line" "exit $rc: $(head -c 300 "$work/typescript" | od -c | head -n 5)"
fi

rc=0
"$STRATA_BIN" compact --progress=sometimes --output="$work/out4" "${blocks[@]}" \
    >/dev/null 2>"$work/log4" || rc=$?
rc2=0
"$STRATA_BIN" compact --progress.interval=soon --output="$work/out4" "${blocks[@]}" \
    >/dev/null 2>>"$work/log4" || rc2=$?
if [ $rc = 2 ] && [ $rc2 = 2 ] && grep -q -- '--progress=sometimes' "$work/log4" &&
    grep -q -- '--progress.interval=soon' "$work/log4"; then
    st_pass "a bad --progress or --progress.interval is a usage error naming the value"
else
    st_fail "bad progress flags" "exits $rc, $rc2: $(cat "$work/log4")"
fi

# downsampling and a whole run report through the same reporter
rc=0
"$STRATA_BIN" downsample --threads=1 --progress=log --progress.interval=10ms --resolution=5m \
    --output="$work/ds" "$(sed -n 1p "$work/out1.txt")" >/dev/null 2>"$work/log5" || rc=$?
if [ $rc = 0 ] && ! grep -q 'level=error' "$work/log5"; then
    st_pass "downsample --progress=log runs clean ($(grep -c 'job=downsample' "$work/log5" || true) lines)"
else
    st_fail "downsample progress" "exit $rc: $(tail -n 3 "$work/log5")"
fi
mkdir -p "$work/bucket"
cp -r "${blocks[@]}" "$work/bucket/"
rc=0
"$STRATA_BIN" run --bucket="$work/bucket" --data-dir="$work/data" --consistency-delay=0s \
    --threads=1 --progress=log --progress.interval=10ms >/dev/null 2>"$work/log6" || rc=$?
if [ $rc = 0 ] && grep -q 'msg=progress job=compact' "$work/log6"; then
    st_pass "strata run logs the progress of its compaction"
else
    st_fail "run progress" "exit $rc: $(grep -E 'progress|error' "$work/log6" | head -n 3)"
fi
st_summary
