#!/usr/bin/env bash
# Leases between `strata run` processes on a filesystem bucket holding one group with one
# compaction (two HA replicas of one 2h range). The pauses come from STRATA_TEST_PAUSE_AT:
#   - two runs race for the same expired lease, both paused between reading it and writing it
#     (lease-read): exactly one takes it over and compacts, the other finds that another run took
#     it first and skips; the group is compacted once;
#   - four runs race for a free lease the same way: exactly one compacts;
#   - renewal: with --lease.duration=2s and a 6 s job (leased), the lease's expiry moves forward
#     while the job runs, a run started after the first expiry skips the group, and the lease is
#     gone once the job is done;
#   - a run that planned while another was compacting the group, and gets the lease after that
#     run released it, finds the inputs marked for deletion and skips (planned);
#   - a lease taken over while its holder still runs: the holder's renewal logs, as an error,
#     that exclusivity is lost, the job finishes, and the other run's lease is left in place;
#   - --lease.duration=0: no lease objects at all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN"
st_mktemp work

# ---- fixtures -----------------------------------------------------------------------------------
st_ha_seed "$work/ha" 100
FLAGS=(--deduplication.replica-label=replica --consistency-delay=0s)
"$STRATA_BIN" plan --bucket="$work/ha" "${FLAGS[@]}" --output=json >"$work/plan.json" 2>/dev/null
# the blocks of the first compaction only: one group, one action
read -r group blocks < <(python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["actions"][0]
print(a["group"], " ".join(a["blocks"]))' "$work/plan.json")
mkdir -p "$work/seed"
for b in $blocks; do cp -r "$work/ha/$b" "$work/seed/"; done
lease_rel="_strata/leases/_/$group.json"

fresh() { # NAME -> a copy of the seed in $bucket
    bucket="$work/$1"
    rm -rf "$bucket"
    cp -r "$work/seed" "$bucket"
}
now_ms() { date +%s%3N; }
put_lease() { # OWNER EXPIRES_MS: write a lease as another run would (atomically)
    mkdir -p "$(dirname "$bucket/$lease_rel")"
    printf '{"owner":"%s","expires_ms":%s}' "$1" "$2" >"$bucket/$lease_rel.tmp"
    # under the directory lock the store takes for conditional writes, as a strata run would
    flock "$(dirname "$bucket/$lease_rel")" mv "$bucket/$lease_rel.tmp" "$bucket/$lease_rel"
}
expires() { # the lease's expires_ms, or 0 if there is none
    python3 -c '
import json, sys
try:
    print(json.load(open(sys.argv[1]))["expires_ms"])
except (OSError, ValueError):
    print(0)' "$bucket/$lease_rel"
}
wait_lease() { # until the lease object exists (10 s at most)
    local i
    for i in $(seq 1 100); do
        [ -f "$bucket/$lease_rel" ] && return 0
        sleep 0.1
    done
    return 1
}
start_run() { # NAME [flags...]: a run in the background, its pid in $pid, log NAME.log
    "$STRATA_BIN" run --bucket="$bucket" --data-dir="$work/data-$1" "${FLAGS[@]}" "${@:2}" \
        >/dev/null 2>"$work/$1.log" &
    pid=$!
    st_track_pid "$pid"
}
finish() { # PID: its exit code in $rc
    rc=0
    wait "$1" || rc=$?
}
compacted() { grep -c 'msg=action .*type=compact .*outcome=ok' "$work/$1.log" || true; }
skipped() { grep -c 'msg=action .*type=compact .*outcome=skipped' "$work/$1.log" || true; }
nvisible() { st_visible "$bucket" | wc -l; }
nmarked() { find "$bucket" -name deletion-mark.json | wc -l; }

# ---- two runs race for one expired lease -------------------------------------------------------------
fresh race2
put_lease "crashed-host/1/00000000" $(($(now_ms) - 60000))
export STRATA_TEST_PAUSE_AT=lease-read STRATA_TEST_PAUSE_S=3
start_run r1
p1=$pid
start_run r2
p2=$pid
unset STRATA_TEST_PAUSE_AT STRATA_TEST_PAUSE_S
finish $p1
rc1=$rc
finish $p2
rc2=$rc
won=$(($(compacted r1) + $(compacted r2)))
lost=$(($(skipped r1) + $(skipped r2)))
took=$(cat "$work/r1.log" "$work/r2.log" | grep -c 'msg="expired lease taken over".*holder=crashed-host' || true)
first=$(cat "$work/r1.log" "$work/r2.log" | grep -c 'group leased by another run, skipped.*why="another run took it first"' || true)
if [ "$rc1$rc2" = 00 ] && [ $won = 1 ] && [ $lost = 1 ] && [ "$took" = 1 ] && [ "$first" = 1 ] &&
    [ "$(nvisible)" = 1 ] && [ "$(nmarked)" = 2 ] && [ ! -e "$bucket/$lease_rel" ]; then
    st_pass "two runs racing for one expired lease: one takes it over and compacts, the other steps aside; compacted once, lease released"
else
    st_fail "race for an expired lease" "exits $rc1/$rc2, compacted $won, skipped $lost, taken over $took, lost the race $first, $(nvisible) visible, $(nmarked) marked; $(grep -h 'lease\|outcome' "$work/r1.log" "$work/r2.log" | cut -c1-200)"
fi

# ---- four runs race for a free lease ----------------------------------------------------------------
fresh race4
export STRATA_TEST_PAUSE_AT=lease-read STRATA_TEST_PAUSE_S=3
pids=()
for i in 1 2 3 4; do
    start_run "f$i"
    pids+=("$pid")
done
unset STRATA_TEST_PAUSE_AT STRATA_TEST_PAUSE_S
rcs=""
won=0
lost=0
for i in 1 2 3 4; do
    finish "${pids[$((i - 1))]}"
    rcs="$rcs$rc"
    won=$((won + $(compacted "f$i")))
    lost=$((lost + $(skipped "f$i")))
done
if [ "$rcs" = 0000 ] && [ $won = 1 ] && [ $lost = 3 ] && [ "$(nvisible)" = 1 ] && [ "$(nmarked)" = 2 ]; then
    st_pass "four runs racing for a free lease: exactly one compacts, three skip"
else
    st_fail "race for a free lease" "exits $rcs, compacted $won, skipped $lost, $(nvisible) visible, $(nmarked) marked"
fi

# ---- renewal: the lease outlives its duration while the job runs ----------------------------------------
fresh renew
STRATA_TEST_PAUSE_AT=leased STRATA_TEST_PAUSE_S=6 start_run slow --lease.duration=2s --log.level=debug
slow=$pid
if wait_lease; then
    e1=$(expires)
    # until the first expiry has passed: without renewal the lease would now be free
    while [ "$(now_ms)" -le $((e1 + 300)) ]; do sleep 0.1; done
    e2=$(expires)
    t2=$(now_ms)
    "$STRATA_BIN" run --bucket="$bucket" --data-dir="$work/data-late" "${FLAGS[@]}" \
        --lease.duration=2s >/dev/null 2>"$work/late.log" && rc2=0 || rc2=$?
else
    e1=0 e2=0 t2=0 rc2=-
fi
finish $slow
rc1=$rc
renewals=$(grep -c 'msg="lease renewed"' "$work/slow.log" || true)
if [ "$rc1$rc2" = 00 ] && [ "$e1" -gt 0 ] && [ "$e2" -gt "$e1" ] && [ "$e2" -gt "$t2" ] &&
    [ "$(compacted slow)" = 1 ] && [ "$(skipped late)" = 1 ] &&
    grep -q 'group leased by another run, skipped.*why=held' "$work/late.log" &&
    [ "$renewals" -ge 5 ] && ! grep -q 'lease lost' "$work/slow.log" &&
    [ "$(nvisible)" = 1 ] && [ ! -e "$bucket/$lease_rel" ]; then
    st_pass "a 6 s job under a 2 s lease: expiry moved from $e1 to $e2 ($renewals renewals), a run started after the first expiry skips the group, the lease is gone afterwards"
else
    st_fail "lease renewal" "exits $rc1/$rc2, expiry $e1 -> $e2 at $t2, $renewals renewals, slow compacted $(compacted slow), late skipped $(skipped late), $(nvisible) visible; $(grep -h 'lease\|outcome' "$work/slow.log" "$work/late.log" | head -n 5 | cut -c1-200)"
fi

# ---- planned before the other run finished: the inputs are re-checked under the lease ------------------
fresh replan
STRATA_TEST_PAUSE_AT=leased STRATA_TEST_PAUSE_S=3 start_run first
first_pid=$pid
if wait_lease; then
    # plans now (the inputs are not marked yet), then sleeps past the first run's end
    STRATA_TEST_PAUSE_AT=planned STRATA_TEST_PAUSE_S=7 start_run second
    second_pid=$pid
    finish $first_pid
    rc1=$rc
    finish $second_pid
    rc2=$rc
else
    rc1=- rc2=-
fi
if [ "$rc1$rc2" = 00 ] && [ "$(compacted first)" = 1 ] && [ "$(skipped second)" = 1 ] &&
    grep -q 'input already marked for deletion by another run' "$work/second.log" &&
    [ "$(nvisible)" = 1 ] && [ ! -e "$bucket/$lease_rel" ]; then
    st_pass "a run that planned during another's compaction gets the lease afterwards, finds the inputs marked and skips"
else
    st_fail "re-check under the lease" "exits $rc1/$rc2, first compacted $(compacted first), second skipped $(skipped second), $(nvisible) visible; $(grep -h 'lease\|input\|outcome' "$work/second.log" | head -n 3 | cut -c1-200)"
fi

# ---- a lease taken over under a running job --------------------------------------------------------------
fresh stolen
STRATA_TEST_PAUSE_AT=leased STRATA_TEST_PAUSE_S=4 start_run victim --lease.duration=2s
victim=$pid
if wait_lease; then
    put_lease "other-host/2/11111111" $(($(now_ms) + 600000))
fi
finish $victim
if [ $rc = 0 ] && [ "$(compacted victim)" = 1 ] &&
    grep -q 'level=error msg="lease lost to another run: this run no longer has the group to itself; the job goes on".*holder=other-host/2/11111111' "$work/victim.log" &&
    grep -q '"owner":"other-host/2/11111111"' "$bucket/$lease_rel"; then
    st_pass "a lease taken over under a running job: its renewal logs the loss as an error, the job finishes, the other run's lease stays"
else
    st_fail "lost lease" "exit $rc, compacted $(compacted victim); $(grep -h 'lease' "$work/victim.log" | head -n 3 | cut -c1-200); lease: $(cat "$bucket/$lease_rel" 2>/dev/null)"
fi

# ---- no leases --------------------------------------------------------------------------------------------
fresh none
"$STRATA_BIN" run --bucket="$bucket" --data-dir="$work/data-none" "${FLAGS[@]}" --lease.duration=0 \
    >/dev/null 2>"$work/none.log" && rc=0 || rc=$?
if [ $rc = 0 ] && [ "$(nvisible)" = 1 ] && [ ! -e "$bucket/_strata/leases" ]; then
    st_pass "--lease.duration=0: compacted without any lease object"
else
    st_fail "no leases" "exit $rc, $(nvisible) visible, $(find "$bucket/_strata/leases" 2>/dev/null | head -n 3)"
fi

st_summary
