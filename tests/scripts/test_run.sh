#!/usr/bin/env bash
# `strata run` on a bucket of HA replicas (two replicas x three 2h blocks, 5 s apart):
#   - the run compacts what the plan says, marks the inputs, drops the replica label, and the
#     data visible to readers (blocks with meta.json and no deletion mark) never changes;
#   - SIGKILL at every step of publishing: the next runs converge to the same blocks, the visible
#     data unchanged, and 3 days later nothing is left but the compacted blocks;
#   - a corrupt block among good ones is quarantined (no-compact mark, exit 3), the rest compacted;
#   - --dry-run changes nothing;
#   - a lease that cannot be written fails those compactions and the run (exit 1).
# With STRATA_TEST_OBJSTORE_CONFIG set (a Thanos objstore YAML), the bucket is that store,
# filled and read through a filesystem mirror: see the S3 variant in test_s3_run.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"
st_mktemp work

# ---- fixtures -----------------------------------------------------------------------------------
st_ha_seed "$work/seed" 200
visible() { st_visible "$@"; }
dump_visible() { # BUCKET OUT
    # shellcheck disable=SC2046
    "$STRATA_BIN" dump $(visible "$1") >"$2"
}
run() { # BUCKET [extra flags] -> exit code in $rc
    set +e
    "$STRATA_BIN" run --bucket="$1" --data-dir="$work/data" --deduplication.replica-label=replica \
        --consistency-delay=0s "${@:2}" >"$work/run.out" 2>"$work/run.log"
    rc=$?
    set -e
}
later=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)
ranges() { st_block_ranges "$@"; }

dump_visible "$work/seed" "$work/expected.txt"

# ---- a clean run ----------------------------------------------------------------------------------
cp -r "$work/seed" "$work/b0"
run "$work/b0" --dry-run
if [ $rc = 0 ] && diff -r "$work/seed" "$work/b0" >/dev/null; then
    st_pass "--dry-run prints the plan and changes nothing"
else
    st_fail "--dry-run" "exit $rc or the bucket changed"
fi
run "$work/b0"
dump_visible "$work/b0" "$work/b0.txt"
if [ $rc = 0 ]; then st_pass "run exits 0"; else st_fail "run" "exit $rc: $(tail -n 3 "$work/run.log")"; fi
st_compare_files "visible data unchanged after the run" "$work/expected.txt" "$work/b0.txt"
marked=$(find "$work/b0" -name deletion-mark.json | wc -l)
nvis=$(visible "$work/b0" | wc -l)
if [ "$marked" = 6 ] && [ "$nvis" = 3 ]; then
    st_pass "6 inputs marked for deletion, 3 compacted blocks visible"
else
    st_fail "marks" "$marked marked, $nvis visible"
fi
if ranges "$work/b0" | grep -q '"replica"'; then
    st_fail "replica label" "a compacted block still carries the replica label"
else
    st_pass "compacted blocks carry the group labels without the replica label"
fi
ranges "$work/b0" >"$work/b0.ranges"

# the real Prometheus answers the same queries from the inputs and from the compacted blocks
mkdir -p "$work/pa" "$work/pb" "$work/wa" "$work/wb"
for d in $(visible "$work/seed"); do cp -r "$d" "$work/pa/"; done
for d in $(visible "$work/b0"); do cp -r "$d" "$work/pb/"; done
t0=$(( $(st_min_time "$work/seed") / 1000 ))
t1=$(( $(st_max_time "$work/seed") / 1000 ))
python3 - "$t0" "$t1" >"$work/queries.json" <<'PY'
import json, sys
t0, t1 = int(sys.argv[1]), int(sys.argv[2])
qs = ['up', 'http_requests_total{code="200"}', 'rate(http_requests_total[5m])',
      'sum by (job) (rate(http_requests_total[5m]))', 'count(go_goroutines)',
      'max_over_time(process_resident_memory_bytes[10m])']
print(json.dumps([{"name": q, "path": "/api/v1/query_range", "nonempty": True,
                   "params": {"query": q, "start": t0, "end": t1, "step": 60}} for q in qs]))
PY
if st_start_prometheus "$work/pa" "$work/wa" && pa=$ST_PROM_PORT && st_start_prometheus "$work/pb" "$work/wb" && pb=$ST_PROM_PORT; then
    if out=$(python3 "$ST_LIB_DIR/prom_compare.py" "$pa" "$pb" "$work/queries.json" 2>&1) && ! grep -q '^FAIL' <<<"$out"; then
        st_pass "Prometheus answers $(grep -c '^PASS' <<<"$out") range queries identically from the inputs and from the compacted blocks"
    else
        st_fail "Prometheus queries" "$(grep -A2 '^FAIL' <<<"$out" | head -n 6)"
    fi
else
    st_fail "Prometheus queries" "a server did not start"
fi
run "$work/b0" --now="$later"
left=$(ls "$work/b0" | grep -vc '^_strata$')
if [ $rc = 0 ] && [ "$left" = 3 ]; then
    st_pass "3 days later the marked inputs are deleted (3 blocks left)"
else
    st_fail "delete after delay" "exit $rc, $left entries left"
fi

# ---- SIGKILL at each step of publishing ----------------------------------------------------------------
for point in compact-downloaded upload-chunks upload-index upload-meta mark-input; do
    b="$work/b-$point"
    rm -rf "$b" "$work/data"
    cp -r "$work/seed" "$b"
    set +e
    STRATA_TEST_CRASH_AT=$point "$STRATA_BIN" run --bucket="$b" --data-dir="$work/data" \
        --deduplication.replica-label=replica --consistency-delay=0s --lease.duration=6s >/dev/null 2>&1
    krc=$?
    set -e
    dump_visible "$b" "$work/crash.txt"
    if [ $krc != 137 ]; then
        st_fail "crash at $point" "the run was not killed there (exit $krc)"
        continue
    fi
    if ! cmp -s "$work/expected.txt" "$work/crash.txt"; then
        st_fail "crash at $point" "visible data changed right after the crash"
        continue
    fi
    # the dead run's lease still holds the group: the next run leaves it alone
    run "$b"
    held=0
    grep -q 'group leased by another run' "$work/run.log" && cmp -s "$work/expected.txt" <(dump_visible "$b" /dev/stdout) && held=1
    # the lease expires and is taken over (6s: on a loaded machine a run took over 2s from
    # taking its lease to the kill at upload-meta, and the next run found the lease gone)
    sleep 6.5
    run "$b"
    r1=$rc
    run "$b"
    r2=$rc
    dump_visible "$b" "$work/crash.txt"
    ranges "$b" >"$work/crash.ranges"
    run "$b" --now="$later"
    r3=$rc
    dump_visible "$b" "$work/crash-late.txt"
    partial=0
    for d in "$b"/*/; do [ -f "$d/meta.json" ] || [ "$(basename "$d")" = _strata ] || partial=$((partial + 1)); done
    nmark=$(find "$b" -name deletion-mark.json | wc -l)
    if [ $held = 1 ] && [ "$r1$r2$r3" = 000 ] && cmp -s "$work/expected.txt" "$work/crash.txt" &&
        cmp -s "$work/expected.txt" "$work/crash-late.txt" &&
        cmp -s "$work/b0.ranges" "$work/crash.ranges" && [ $partial = 0 ] && [ "$nmark" = 0 ] &&
        [ "$(ls "$b" | grep -vc '^_strata$')" = 3 ] && [ -z "$(find "$b" -path '*_strata/leases/*' -type f)" ]; then
        st_pass "killed at $point: its lease holds the group until it expires, then runs converge to the same 3 blocks, data unchanged, nothing left over"
    else
        st_fail "killed at $point" "held=$held exits $r1/$r2/$r3, partial=$partial marked=$nmark blocks=$(ls "$b" | wc -l), ranges $(cmp -s "$work/b0.ranges" "$work/crash.ranges" && echo same || echo differ)"
    fi
done

# ---- a slow run and the next one: the lease keeps them off the same group --------------------------------
b="$work/b-lease"
rm -rf "$b" "$work/data" "$work/data2"
cp -r "$work/seed" "$b"
STRATA_TEST_PAUSE_AT=leased "$STRATA_BIN" run --bucket="$b" --data-dir="$work/data" \
    --deduplication.replica-label=replica --consistency-delay=0s >/dev/null 2>"$work/slow.log" &
slow=$!
sleep 1
rc2=0
"$STRATA_BIN" run --bucket="$b" --data-dir="$work/data2" --deduplication.replica-label=replica \
    --consistency-delay=0s >/dev/null 2>"$work/fast.log" || rc2=$?
rc1=0
wait $slow || rc1=$?
skipped=$(grep -c 'group leased by another run' "$work/fast.log" || true)
nvis=$(st_visible "$b" | wc -l)
if [ "$rc1$rc2" = 00 ] && [ "$skipped" -ge 1 ] && [ "$nvis" = 3 ] && cmp -s "$work/b0.ranges" <(ranges "$b"); then
    st_pass "a second run during a slow one skips the leased group; the group is compacted once (3 blocks)"
else
    st_fail "lease between runs" "exits $rc1/$rc2, $skipped skipped, $nvis visible"
fi

# ---- a corrupt block is quarantined, the rest compacted ------------------------------------------------
b="$work/b-corrupt"
rm -rf "$b" "$work/data"
cp -r "$work/seed" "$b"
victim=$(ls -d "$b"/*/ | head -n 1)
victim=${victim%/}
printf '\xff\xff\xff\xff' | dd of="$victim/chunks/000001" bs=1 seek=4000 conv=notrunc 2>/dev/null
run "$b"
qmark="$victim/no-compact-mark.json"
ok=$(find "$b" -name deletion-mark.json | wc -l)
if [ $rc = 3 ] && [ -f "$qmark" ] && grep -q checksum "$qmark" && [ "$ok" = 4 ]; then
    st_pass "corrupt block quarantined with a no-compact mark naming the problem; the other 2 groups compacted; exit 3"
else
    st_fail "quarantine" "exit $rc, mark $( [ -f "$qmark" ] && cat "$qmark" || echo missing), $ok inputs marked"
fi
run "$b"
if [ $rc = 0 ] && grep -q 'run finished' "$work/run.log"; then
    st_pass "the next run leaves the quarantined block alone and exits 0"
else
    st_fail "run after quarantine" "exit $rc: $(grep -E 'level=error' "$work/run.log" | head -n 2)"
fi

# ---- a lease that cannot be written fails the compaction, and the run -------------------------------------
b="$work/b-nolease"
rm -rf "$b" "$work/data"
cp -r "$work/seed" "$b"
mkdir -p "$b/_strata/leases"
: >"$b/_strata/leases/_" # a file where the leases of the flat layout's groups would go
run "$b"
nfail=$(grep -c 'msg=action .*type=compact .*outcome=failed' "$work/run.log" || true)
if [ $rc = 1 ] && [ "$nfail" = 3 ] && [ -z "$(find "$b" -name deletion-mark.json)" ]; then
    st_pass "leases that cannot be written: the 3 compactions fail, nothing is marked, exit 1"
else
    st_fail "lease write failure" "exit $rc, $nfail failed: $(grep -E 'level=error' "$work/run.log" | head -n 2)"
fi

st_summary
