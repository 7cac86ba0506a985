#!/usr/bin/env bash
# `strata run` executes the plan's downsample actions: a raw block of 42h in a bucket gets a 5m
# copy (published like a compaction output: meta.json last), the raw block stays, the copy passes
# `strata verify`, its count aggregate adds up to the raw sample count, and the next run finds
# nothing more to do.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"
st_mktemp work

mkdir -p "$work/gen" "$work/bucket"
st_make_set "$work/gen" --profile realistic --series 50 --hours 42 --seed 9 >/dev/null
raw=$("$STRATA_BIN" compact --output="$work/merged" "$work"/gen/*/ 2>/dev/null)
python3 - "$raw/meta.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": "c1"}, "downsample": {"resolution": 0}, "source": "compactor"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
rm -f "$raw/tombstones"
cp -r "$raw" "$work/bucket/"
rawid=$(basename "$raw")

rc=0
"$STRATA_BIN" run --bucket="$work/bucket" --data-dir="$work/data" --consistency-delay=0s \
    --retention.resolution-raw=0d >"$work/out" 2>"$work/log" || rc=$?
ds=""
for d in "$work"/bucket/*/; do
    [ -f "$d/meta.json" ] || continue # _strata/: the run history
    res=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['thanos']['downsample']['resolution'])" "$d/meta.json")
    [ "$res" = 300000 ] && ds=${d%/}
done
if [ $rc = 0 ] && [ -n "$ds" ] && [ -f "$work/bucket/$rawid/meta.json" ] && [ ! -f "$work/bucket/$rawid/deletion-mark.json" ]; then
    st_pass "run wrote a 5m block next to the raw block, which stays"
else
    st_fail "downsample action" "exit $rc, 5m block: ${ds:-none}; $(grep -E 'level=(error|warn)' "$work/log" | head -n 2)"
fi
if [ -n "$ds" ] && "$STRATA_BIN" verify "$ds" >/dev/null; then
    st_pass "the 5m block passes strata verify"
else
    st_fail "verify 5m" "$("$STRATA_BIN" verify "$ds" 2>&1 | tail -n 2)"
fi
if [ -n "$ds" ]; then
    want=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['numSamples'])" "$raw/meta.json")
    got=$("$STRATA_BIN" dump --aggregate=count "$ds" | awk '{s += $(NF-1)} END {printf "%d", s}')
    if [ "$got" = "$want" ]; then
        st_pass "the count aggregate adds up to the raw block's $want samples"
    else
        st_fail "count aggregate" "sums to $got, the raw block holds $want samples"
    fi
fi
rc=0
"$STRATA_BIN" run --bucket="$work/bucket" --data-dir="$work/data" --consistency-delay=0s \
    --retention.resolution-raw=0d >"$work/out" 2>"$work/log" || rc=$?
if [ $rc = 0 ] && grep -q 'planned=0' "$work/log"; then
    st_pass "the next run plans nothing: the 5m block covers the raw block's sources"
else
    st_fail "second run" "exit $rc: $(grep 'run finished' "$work/log")"
fi
st_summary
