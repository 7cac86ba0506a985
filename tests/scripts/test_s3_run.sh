#!/usr/bin/env bash
# `strata run` against the real S3 server (Swift s3api on 127.0.0.1): a bucket of two HA
# replicas x three 2h blocks, uploaded with the curl CLI, ends as the same compacted blocks as
# the filesystem run of test_run.sh (same ranges, labels, levels), the inputs marked, the data
# readers see unchanged; three days later the marked inputs are gone; `strata history` reads
# both runs' history back from the store. The bucket is mirrored back with curl to check it. On
# the way, the leases' fallback for a server without conditional PUTs: a slow run's lease is
# renewed and a second run skips the group.
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

# The run is a slow one (4 s per job) under a 2 s lease, and a second run starts once that first
# expiry has passed. This server refuses conditional PUTs, so the leases take their fallback
# (read, plain put, read back), renewals included: the second run must still skip the group.
group=$("$STRATA_BIN" plan --bucket="$work/seed" --deduplication.replica-label=replica \
    --consistency-delay=0s --output=json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["actions"][0]["group"])')
lease_url="$S3_URL/thanos/_strata/leases/_/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$group").json"
lease_expiry() {
    curl -sS "${S3_SIG[@]}" -H "x-amz-content-sha256: $ST_EMPTY_SHA" "$lease_url" 2>/dev/null |
        python3 -c 'import json, sys
try:
    print(json.load(sys.stdin)["expires_ms"])
except ValueError:
    print(0)'
}
STRATA_TEST_PAUSE_AT=leased STRATA_TEST_PAUSE_S=4 "$STRATA_BIN" run --objstore.config-file="$work/s3.yml" \
    --data-dir="$work/data" --deduplication.replica-label=replica --consistency-delay=0s \
    --lease.duration=2s >"$work/run.out" 2>"$work/run.log" &
slow=$!
st_track_pid $slow
e1=0
for _ in $(seq 1 100); do
    e1=$(lease_expiry)
    [ "$e1" != 0 ] && break
    sleep 0.1
done
while [ "$(date +%s%3N)" -le $((e1 + 300)) ]; do sleep 0.1; done
e2=$(lease_expiry)
rc2=0
"$STRATA_BIN" run --objstore.config-file="$work/s3.yml" --data-dir="$work/data2" \
    --deduplication.replica-label=replica --consistency-delay=0s --lease.duration=2s \
    >/dev/null 2>"$work/run2.log" || rc2=$?
rc=0
wait $slow || rc=$?
if [ "$e1" -gt 0 ] && [ "$e2" -gt "$e1" ] && [ $rc2 = 0 ] &&
    grep -q 'actions="compact_skipped=3"' "$work/run2.log" &&
    [ "$(grep -c 'refuses conditional writes' "$work/run.log")" = 1 ]; then
    st_pass "leases on S3 without conditional PUTs: renewed (expiry $e1 -> $e2), a run started after the first expiry skips the group, the fallback is logged once"
else
    st_fail "leases on S3" "expiry $e1 -> $e2, second run exit $rc2: $(grep -h 'lease\|conditional\|run finished' "$work/run.log" "$work/run2.log" | head -n 4 | cut -c1-200)"
fi
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
if [ $rc = 0 ] && [ "$nh" = 3 ] && grep -Eq ' 0 +compact: 3 ok$' "$work/hist.txt" &&
    grep -Eq ' 0 +compact: 3 skipped$' "$work/hist.txt" &&
    grep -Eq ' 0 +delete: 6 ok$' "$work/hist.txt"; then
    st_pass "run history on S3: one object per run (3), read back by strata history"
else
    st_fail "run history on S3" "exit $rc, $nh objects: $(cat "$work/hist.txt" "$work/hist.err" | head -n 4)"
fi
st_summary
