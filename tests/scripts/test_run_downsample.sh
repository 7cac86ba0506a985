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

# two groups downsampled side by side (--downsample.concurrency=2, one thread each)
raw2=$("$STRATA_BIN" compact --output="$work/merged2" "$work"/gen/*/ 2>/dev/null)
python3 - "$raw2/meta.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": "c2"}, "downsample": {"resolution": 0}, "source": "compactor"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
rm -f "$raw2/tombstones"
mkdir -p "$work/bucket2"
cp -r "$work/bucket/$rawid" "$raw2" "$work/bucket2/"
rc=0
"$STRATA_BIN" run --bucket="$work/bucket2" --data-dir="$work/data2" --consistency-delay=0s \
    --retention.resolution-raw=0d --downsample.concurrency=2 --threads=2 >/dev/null \
    2>"$work/log2" || rc=$?
n5m=0
nok=0
for d in "$work"/bucket2/*/; do
    [ -f "$d/meta.json" ] || continue
    res=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['thanos']['downsample']['resolution'])" "$d/meta.json")
    [ "$res" = 300000 ] || continue
    n5m=$((n5m + 1))
    "$STRATA_BIN" verify "$d" >/dev/null && nok=$((nok + 1))
done
if [ $rc = 0 ] && [ $n5m = 2 ] && [ $nok = 2 ] &&
    [ "$(grep -c 'type=downsample.*outcome=ok' "$work/log2")" = 2 ]; then
    st_pass "--downsample.concurrency=2: both groups get a 5m block that passes verify"
else
    st_fail "downsample concurrency" "exit $rc, $n5m 5m blocks, $nok verified: $(grep -E 'level=(error|warn)' "$work/log2" | head -n 2)"
fi
st_summary
