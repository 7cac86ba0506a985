#!/usr/bin/env bash
# Sharding across pods: three `strata run --shard=I/3` processes at once on one S3 bucket (three
# clusters, each two HA replicas x three 2h blocks: 3 groups, 9 compactions) end with the same
# blocks (ranges, labels, levels) and the same data as one process on a copy of the bucket, and
# every planned action is executed by exactly one of them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need curl sha256sum /usr/bin/python3 "$STRATA_BIN"
st_mktemp work
st_s3_start "$work"

mkdir -p "$work/seed"
for c in c1 c2 c3; do
    st_ha_seed "$work/seed-$c" 60 "$c"
    mv "$work/seed-$c"/* "$work/seed/"
    rmdir "$work/seed-$c"
done
st_s3_upload "$work/seed"
flags=(--deduplication.replica-label=replica --consistency-delay=0s --now=2030-01-01T00:00:00Z)

# one process, on a filesystem copy: the expected end state
cp -r "$work/seed" "$work/one"
"$STRATA_BIN" run --bucket="$work/one" --data-dir="$work/d-one" "${flags[@]}" 2>"$work/one.log" ||
    st_die "single run failed: $(tail -n 2 "$work/one.log")"
st_block_ranges "$work/one" >"$work/one.ranges"
"$STRATA_BIN" dump $(st_visible "$work/one") >"$work/one.txt"
planned=$(grep -o 'planned=[0-9]*' "$work/one.log" | cut -d= -f2)

# three processes at once on S3
pids=()
for i in 0 1 2; do
    "$STRATA_BIN" run --objstore.config-file="$work/s3.yml" --data-dir="$work/d$i" --shard="$i/3" \
        "${flags[@]}" >/dev/null 2>"$work/shard$i.log" &
    pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do
    rc=0
    wait "$p" || rc=$?
    rcs="$rcs$rc"
done
executed=0
for i in 0 1 2; do
    executed=$((executed + $(grep -o 'executed=[0-9]*' "$work/shard$i.log" | cut -d= -f2)))
done
if [ "$rcs" = 000 ] && [ "$executed" = "$planned" ] && [ "$planned" -gt 0 ]; then
    st_pass "3 shards exit 0 and execute the $planned planned actions once between them"
else
    st_fail "shards" "exits $rcs, executed $executed of $planned"
fi
busy=0
for i in 0 1 2; do
    n=$(grep -o 'executed=[0-9]*' "$work/shard$i.log" | cut -d= -f2)
    [ "$n" -gt 0 ] && busy=$((busy + 1))
done
st_log "shards with work: $busy of 3"

st_s3_mirror "$work/s3"
st_block_ranges "$work/s3" >"$work/s3.ranges"
if cmp -s "$work/one.ranges" "$work/s3.ranges" && [ "$(wc -l <"$work/s3.ranges")" = 9 ]; then
    st_pass "the sharded S3 bucket ends with the same 9 compacted blocks as one process"
else
    st_fail "sharded end state" "$(diff "$work/one.ranges" "$work/s3.ranges" | head -n 6 | tr '\n' ' ')"
fi
"$STRATA_BIN" dump $(st_visible "$work/s3") >"$work/s3.txt"
st_compare_files "the sharded bucket holds the same data as the single-process one" "$work/one.txt" "$work/s3.txt" || true
st_summary
