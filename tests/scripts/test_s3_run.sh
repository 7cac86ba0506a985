#!/usr/bin/env bash
# `strata run` against the real S3 server (Swift s3api on 127.0.0.1): a bucket of two HA
# replicas x three 2h blocks, uploaded with the curl CLI, ends as the same compacted blocks as
# the filesystem run of test_run.sh (same ranges, labels, levels), the inputs marked, the data
# readers see unchanged; three days later the marked inputs are gone; `strata history` reads
# both runs' history back from the store. The bucket is mirrored back with curl to check it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need curl sha256sum /usr/bin/python3 "$STRATA_BIN"

st_mktemp work
st_s3_start "$work"

st_ha_seed "$work/seed" 200
"$STRATA_BIN" dump $(st_visible "$work/seed") >"$work/expected.txt"
st_s3_upload "$work/seed"

# the same seed through the filesystem store, for the expected end state
cp -r "$work/seed" "$work/fsb"
"$STRATA_BIN" run --bucket="$work/fsb" --data-dir="$work/data-fs" --deduplication.replica-label=replica \
    --consistency-delay=0s >/dev/null 2>&1 || st_die "filesystem run failed"
st_block_ranges "$work/fsb" >"$work/fs.ranges"

rc=0
"$STRATA_BIN" run --objstore.config-file="$work/s3.yml" --data-dir="$work/data" \
    --deduplication.replica-label=replica --consistency-delay=0s >"$work/run.out" 2>"$work/run.log" || rc=$?
st_s3_mirror "$work/m1"
"$STRATA_BIN" dump $(st_visible "$work/m1") >"$work/m1.txt"
st_block_ranges "$work/m1" >"$work/s3.ranges"
marked=$(find "$work/m1" -name deletion-mark.json | wc -l)
if [ $rc = 0 ] && [ "$marked" = 6 ] && cmp -s "$work/fs.ranges" "$work/s3.ranges"; then
    st_pass "run on S3: exit 0, 6 inputs marked, the same compacted blocks as on the filesystem store"
else
    st_fail "run on S3" "exit $rc, $marked marked; ranges: $(diff "$work/fs.ranges" "$work/s3.ranges" | head -n 4 | tr '\n' ' ') $(grep -E 'level=error' "$work/run.log" | head -n 2)"
fi
st_compare_files "run on S3: the data readers see is unchanged" "$work/expected.txt" "$work/m1.txt" || true

rc=0
"$STRATA_BIN" run --objstore.config-file="$work/s3.yml" --data-dir="$work/data" \
    --deduplication.replica-label=replica --consistency-delay=0s \
    --now="$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)" >"$work/run.out" 2>"$work/run.log" || rc=$?
st_s3_mirror "$work/m2"
left=$(ls "$work/m2" | grep -vc '^_strata$')
"$STRATA_BIN" dump $(st_visible "$work/m2") >"$work/m2.txt"
if [ $rc = 0 ] && [ "$left" = 3 ] && cmp -s "$work/expected.txt" "$work/m2.txt"; then
    st_pass "three days later on S3: the marked inputs are deleted, 3 blocks left, data unchanged"
else
    st_fail "delete on S3" "exit $rc, $left blocks left; $(grep -E 'level=error' "$work/run.log" | head -n 2)"
fi
nh=$(find "$work/m2/_strata/runs" -name '*.jsonl.zst' 2>/dev/null | wc -l)
rc=0
"$STRATA_BIN" history --objstore.config-file="$work/s3.yml" >"$work/hist.txt" 2>"$work/hist.err" || rc=$?
if [ $rc = 0 ] && [ "$nh" = 2 ] && grep -Eq ' 0 +compact: 3 ok$' "$work/hist.txt" &&
    grep -Eq ' 0 +delete: 6 ok$' "$work/hist.txt"; then
    st_pass "run history on S3: one object per run, read back by strata history"
else
    st_fail "run history on S3" "exit $rc, $nh objects: $(cat "$work/hist.txt" "$work/hist.err" | head -n 4)"
fi
st_summary
