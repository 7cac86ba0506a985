#!/usr/bin/env bash
# The run history: `strata run` keeps its plan and the outcome of every action in
# _strata/runs/<start>-<shard>.jsonl.zst, and `strata history` reads it back. On a prefix-layout
# bucket of promtool blocks (tenant acme: two HA replicas of three 2h blocks, compacted
# vertically; tenant globex: one block past its 2d raw retention):
#   - the object is zstd (decompressed by the zstd CLI) of JSON lines: run, actions, outcomes,
#     summary; --dry-run writes none;
#   - --block=<input> shows it compacted into the new block, --block=<new> where it came from,
#     --block=<expired> the retention rule and setting, then its deletion in a later run;
#   - --since leaves out older runs; --history.retention deletes history older than --now minus
#     it (default 30d, 0 keeps all);
#   - a run killed at upload-meta leaves a "started" history with its plan ("incomplete");
#   - corrupt, truncated and non-JSON history objects are reported with their key, never a crash;
#   - a history that cannot be written is a warning: the run's exit code is unchanged; a lease
#     that cannot be written fails the compaction (exit 1) and the history says why.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need "$STRATA_BIN" zstd python3
st_mktemp work

# ---- fixtures: a prefix-layout bucket -------------------------------------------------------------
cat >"$work/tenants.yaml" <<'YAML'
tenants:
  globex:
    retention: {raw: 2d}
YAML
declare -A id
fix_meta() { # BLOCK_DIR TENANT REPLICA
    rm -f "$1/tombstones"
    python3 - "$1/meta.json" "$2" "$3" <<'PY'
import json, sys
p, t, r = sys.argv[1:]
m = json.load(open(p))
labels = {"cluster": "c1", "tenant": t}
if r:
    labels["replica"] = r
m["compaction"]["sources"] = [m["ulid"]]  # a copy, not the same data as its source
m["thanos"] = {"labels": labels, "downsample": {"resolution": 0}, "source": "sidecar",
               "upload_time": "2023-11-14T07:00:00Z"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
}
k=0
for src in "$TESTDATA"/adjacent/*/; do
    k=$((k + 1))
    for r in a b; do
        b=$("$STRATA_BIN" rewrite --output="$work/seed/acme" --copy-chunks "$src")
        fix_meta "$b" acme "$r"
        id[acme-$k$r]=$(basename "$b")
    done
done
b=$("$STRATA_BIN" rewrite --output="$work/seed/globex" --copy-chunks "$(ls -d "$TESTDATA"/realistic/*/ | head -n 1)")
fix_meta "$b" globex ""
id[globex]=$(basename "$b")

FLAGS=(--tenant-layout=prefix --tenant-config="$work/tenants.yaml" --deduplication.replica-label=replica)
run() { # BUCKET [flags] -> $rc, $work/run.log
    set +e
    "$STRATA_BIN" run --bucket="$1" --data-dir="$work/data" "${FLAGS[@]}" "${@:2}" \
        >"$work/run.out" 2>"$work/run.log"
    rc=$?
    set -e
}
hist() { # BUCKET [flags] -> $hrc, stdout in $work/h.out, stderr in $work/h.err
    set +e
    "$STRATA_BIN" history --bucket="$1" "${@:2}" >"$work/h.out" 2>"$work/h.err"
    hrc=$?
    set -e
}
runs() { find "$1/_strata/runs" -type f -name '*.jsonl.zst' 2>/dev/null | sort; }
# check_lines FILE.jsonl.zst STATUS NACTIONS NOUTCOMES SUMMARY(0|1): decompress with the zstd CLI
check_lines() {
    zstd -dcq "$1" >"$work/lines.jsonl" || return 1
    python3 - "$work/lines.jsonl" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
path, status, nact, nout, summ = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
lines = [json.loads(l) for l in open(path)]  # every line is JSON
kinds = [l["kind"] for l in lines]
assert kinds[0] == "run", kinds
assert lines[0]["status"] == status, lines[0]["status"]
assert kinds.count("action") == nact, kinds
assert kinds.count("outcome") == nout, kinds
assert (kinds[-1] == "summary") == summ and kinds.count("summary") == int(summ), kinds
assert kinds == sorted(kinds, key=["run", "action", "outcome", "summary"].index), kinds
for l in lines:
    if l["kind"] in ("action", "outcome"):
        assert l["n"] >= 1 and l["type"] and "tenant" in l, l
    if l["kind"] == "action":
        assert l["reason"] and l["blocks"], l
PY
}

NOW1=2023-11-17T00:00:00Z
NOW2=2023-11-20T00:00:00Z

# ---- --dry-run keeps no history -----------------------------------------------------------------------
cp -r "$work/seed" "$work/b"
run "$work/b" --now=$NOW1 --dry-run
if [ $rc = 0 ] && [ ! -e "$work/b/_strata" ]; then
    st_pass "--dry-run writes no history"
else
    st_fail "--dry-run" "exit $rc, $(find "$work/b/_strata" -type f 2>/dev/null | head -n 3)"
fi

# ---- a run with compactions and retention -------------------------------------------------------------
run "$work/b" --now=$NOW1
h1=$(runs "$work/b")
if [ $rc = 0 ] && [ "$(wc -l <<<"$h1")" = 1 ] && [[ "$(basename "$h1")" =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-0\.jsonl\.zst$ ]] &&
    check_lines "$h1" finished 4 4 1; then
    st_pass "run 1: one history object $(basename "$h1"), zstd JSON lines: run, 4 actions, 4 outcomes, summary"
else
    st_fail "run 1 history" "exit $rc, objects [$h1]: $(tail -n 2 "$work/run.log")"
fi
# the new block made from the first pair of replicas
new=$(python3 - "$work/b/acme" "${id[acme-1a]}" <<'PY'
import glob, json, os, sys
for p in glob.glob(os.path.join(sys.argv[1], "*", "meta.json")):
    m = json.load(open(p))
    if sys.argv[2] in [x["ulid"] for x in m["compaction"].get("parents", [])]:
        print(m["ulid"])
PY
)
hist "$work/b" --block="${id[acme-1a]}"
if [ $hrc = 0 ] && [ -n "$new" ] && grep -q "action [0-9]* compact, tenant acme" "$work/h.out" &&
    grep -q "is 1 of its 2 inputs" "$work/h.out" && grep -q "outcome: ok .*compacted into $new" "$work/h.out" &&
    grep -q "1 action(s) in 1 run(s)" "$work/h.out"; then
    st_pass "history --block=<input>: compacted into the new block $new"
else
    st_fail "history --block=<input>" "exit $hrc, new [$new]: $(cat "$work/h.out" "$work/h.err" | head -n 8)"
fi
hist "$work/b" --block="$(tr 'A-Z' 'a-z' <<<"$new")"
if [ $hrc = 0 ] && grep -q "$new is its output, made from .*${id[acme-1a]}" "$work/h.out"; then
    st_pass "history --block=<new block> (lower case): the compaction that made it and its inputs"
else
    st_fail "history --block=<new block>" "exit $hrc: $(cat "$work/h.out" "$work/h.err" | head -n 6)"
fi
hist "$work/b" --block="${id[globex]}"
if [ $hrc = 0 ] && grep -q "action 1 retention, tenant globex" "$work/h.out" &&
    grep -q "why: .*older than the raw retention 2d of tenant globex" "$work/h.out" &&
    grep -q "outcome: ok .*marked for deletion" "$work/h.out"; then
    st_pass "history --block=<expired block>: the retention rule and the tenant's setting (raw 2d of tenant globex)"
else
    st_fail "history --block=<expired block>" "exit $hrc: $(cat "$work/h.out" "$work/h.err" | head -n 6)"
fi

# ---- three days later: the marked blocks are deleted, both runs listed -----------------------------
sleep 0.01 # a distinct start time
run "$work/b" --now=$NOW2
hist "$work/b" --block="${id[globex]}"
if [ $rc = 0 ] && [ "$(runs "$work/b" | wc -l)" = 2 ] && [ "$(grep -c '^20.* run _strata/runs/' "$work/h.out")" = 2 ] &&
    grep -q "action [0-9]* delete, tenant globex" "$work/h.out" && grep -q "longer ago than --delete-delay=2d" "$work/h.out" &&
    grep -q "outcome: ok .*: deleted" "$work/h.out"; then
    st_pass "run 2: the expired block's history shows its retention mark, then its deletion after --delete-delay"
else
    st_fail "history across runs" "exit $rc, $(runs "$work/b" | wc -l) objects: $(head -n 12 "$work/h.out")"
fi
hist "$work/b"
if [ $hrc = 0 ] && [ "$(wc -l <"$work/h.out")" = 3 ] && grep -q "^START .*OUTCOMES" "$work/h.out" &&
    grep -Eq "0/1 +4  0 +retention: 1 ok; compact: 3 ok$" "$work/h.out" &&
    grep -Eq "0/1 +7  0 +delete: 7 ok$" "$work/h.out"; then
    st_pass "history: one line per run (start, shard, actions, exit code, outcomes by type)"
else
    st_fail "history list" "exit $hrc: $(cat "$work/h.out" "$work/h.err")"
fi
hist "$work/b" --block="${id[acme-2b]}" --output=json
if [ $hrc = 0 ] && python3 - "$work/h.out" "${id[acme-2b]}" <<'PY'; then
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [l["kind"] for l in lines]
assert kinds == ["run", "action", "outcome", "run", "action", "outcome"], kinds
assert [l["type"] for l in lines if l["kind"] == "action"] == ["compact", "delete"]
assert all(sys.argv[2] in l["blocks"] for l in lines if l["kind"] == "action")
assert lines[2]["outcome"] == "ok" and len(lines[2]["created"]) == 1
PY
    st_pass "history --block --output=json: the run, action and outcome lines as stored"
else
    st_fail "history --output=json" "exit $hrc: $(head -c 600 "$work/h.out")"
fi

# ---- --since and --history.retention ---------------------------------------------------------------------
old="$work/b/_strata/runs/20230901T000000.000Z-0.jsonl.zst"
cp "$h1" "$old"
hist "$work/b"
n_all=$(grep -c '^20' "$work/h.out" || true)
hist "$work/b" --since=1d
n_since=$(grep -c '^20' "$work/h.out" || true)
hist "$work/b" --since=1h --now="$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)"
n_later=$(grep -c '^20' "$work/h.out" || true)
if [ "$n_all/$n_since/$n_later" = 3/2/0 ] && grep -q "no run history in .* since 1h" "$work/h.out"; then
    st_pass "--since leaves out runs that started before now minus it (3 runs, 2 within 1d, none within 1h of a later --now)"
else
    st_fail "--since" "all $n_all, 1d $n_since, later $n_later"
fi
run "$work/b" --now=$NOW2 --history.retention=0
if [ $rc = 0 ] && [ -f "$old" ] && [ "$(runs "$work/b" | wc -l)" = 4 ]; then
    st_pass "--history.retention=0 keeps every history object"
else
    st_fail "--history.retention=0" "exit $rc, $(runs "$work/b" | wc -l) objects"
fi
run "$work/b" --now=$NOW2
if [ $rc = 0 ] && [ ! -f "$old" ] && [ "$(runs "$work/b" | wc -l)" = 4 ] &&
    zstd -dcq "$(runs "$work/b" | tail -n 1)" | grep -q '"history_pruned":1'; then
    st_pass "default --history.retention=30d deletes the history object from 2023-09-01 (before --now minus 30d), counted in the summary"
else
    st_fail "--history.retention default" "exit $rc, old $( [ -f "$old" ] && echo kept || echo gone), $(runs "$work/b" | wc -l) objects"
fi
last=$(runs "$work/b" | tail -n 1)
run "$work/b" --now="$(date -u -d '+40 days' +%Y-%m-%dT%H:%M:%SZ)"
left=$(runs "$work/b")
if [ $rc = 0 ] && [ "$(wc -l <<<"$left")" = 1 ] && [ "$left" != "$last" ] && check_lines "$left" finished 0 0 1; then
    st_pass "--now 40 days on: every earlier history object is deleted, this run's is kept"
else
    st_fail "--history.retention with --now forward" "exit $rc, left [$left]"
fi

# ---- a run killed while publishing leaves its plan --------------------------------------------------------
rm -rf "$work/c" "$work/data"
cp -r "$work/seed" "$work/c"
set +e
STRATA_TEST_CRASH_AT=upload-meta "$STRATA_BIN" run --bucket="$work/c" --data-dir="$work/data" "${FLAGS[@]}" \
    --now=$NOW1 >/dev/null 2>&1
krc=$?
set -e
hc=$(runs "$work/c")
hist "$work/c"
ok=0
[ $krc = 137 ] && [ -n "$hc" ] && check_lines "$hc" started 4 0 0 && [ $hrc = 0 ] &&
    grep -Eq "0/1 +4  incomplete +retention: 1 planned; compact: 3 planned$" "$work/h.out" && ok=1
hist "$work/c" --block="${id[acme-1a]}"
if [ $ok = 1 ] && grep -q "outcome: none recorded (the run did not finish" "$work/h.out"; then
    st_pass "killed at upload-meta: the history holds the plan (status started, 4 actions) and reads as incomplete"
else
    st_fail "crashed run" "exit $krc, object [$hc]: $(cat "$work/h.out" "$work/h.err" | head -n 6)"
fi

# ---- corrupt history objects ------------------------------------------------------------------------------
good=$(runs "$work/c")
bad1="$work/c/_strata/runs/20231101T000000.000Z-0.jsonl.zst"
bad2="$work/c/_strata/runs/20231102T000000.000Z-0.jsonl.zst"
bad3="$work/c/_strata/runs/20231103T000000.000Z-0.jsonl.zst"
bad4="$work/c/_strata/runs/20231104T000000.000Z-0.jsonl.zst"
head -c 100 /dev/urandom >"$bad1"
head -c 40 "$good" >"$bad2"
printf '{"kind":"run","start":"x"}\nnot json\n' | zstd -q >"$bad3"
: >"$bad4"
hist "$work/c"
if [ $hrc = 1 ] && grep -q "20231101T000000.000Z-0.jsonl.zst: not a valid zstd stream" "$work/h.err" &&
    grep -q "20231102T000000.000Z-0.jsonl.zst: truncated zstd frame" "$work/h.err" &&
    grep -q "20231103T000000.000Z-0.jsonl.zst: 1 unreadable line(s) skipped; first: .*line 2" "$work/h.err" &&
    grep -q "20231104T000000.000Z-0.jsonl.zst: empty object" "$work/h.err" &&
    grep -q "4 history object(s) could not be read" "$work/h.err" && grep -q "incomplete" "$work/h.out"; then
    st_pass "corrupt, truncated, non-JSON and empty history objects: each reported with its key, the rest listed, exit 1"
else
    st_fail "corrupt history" "exit $hrc: $(cat "$work/h.err") / $(cat "$work/h.out")"
fi
hist "$work/c" --block="${id[acme-1a]}" --output=json
if [ $hrc = 1 ] && [ "$(wc -l <"$work/h.out")" = 2 ]; then
    st_pass "--block with corrupt objects around: the readable run's lines are printed, exit 1"
else
    st_fail "corrupt history --block" "exit $hrc, $(wc -l <"$work/h.out") lines"
fi

bad5="$work/c/_strata/runs/20231105T000000.000Z-0.jsonl.zst"
printf '{"kind":"run","start":"x","planned":2}\n{"kind":"action","n":4000000000000,"type":"gc"}\n{"kind":"outcome","n":2,"outcome":"ok"}\n' |
    zstd -q >"$bad5"
hrc=0
timeout 20 "$STRATA_BIN" history --bucket="$work/c" >"$work/h.out" 2>"$work/h.err" || hrc=$?
if [ $hrc = 1 ] &&
    grep -q "20231105T000000.000Z-0.jsonl.zst: 1 unreadable line(s) skipped; first: .*line 2: n=4000000000000 is not within the 2 actions planned" "$work/h.err"; then
    st_pass "an action numbered beyond its run's plan is an unreadable line naming the key, not a huge allocation"
else
    st_fail "history n out of range" "exit $hrc: $(grep 20231105 "$work/h.err")"
fi

# ---- history or lease writes that fail -------------------------------------------------------------------
rm -rf "$work/d" "$work/data"
cp -r "$work/seed" "$work/d"
mkdir -p "$work/d/_strata"
: >"$work/d/_strata/runs" # a file where the history's directory would go
run "$work/d" --now=$NOW1
if [ $rc = 0 ] && grep -q 'level=warn msg="could not write the run history"' "$work/run.log" &&
    [ "$(find "$work/d" -name deletion-mark.json | wc -l)" = 7 ]; then
    st_pass "a history that cannot be written is a warning; the run does its work and exits 0"
else
    st_fail "history write failure" "exit $rc: $(grep -E 'level=(warn|error)' "$work/run.log" | head -n 3)"
fi
rm -rf "$work/e" "$work/data"
cp -r "$work/seed" "$work/e"
mkdir -p "$work/e/_strata/leases"
: >"$work/e/_strata/leases/acme" # no lease can be written for acme's groups
run "$work/e" --now=$NOW1
hist "$work/e" --block="${id[acme-1a]}"
if [ $rc = 1 ] && grep -q "outcome: failed .*_strata/leases/acme/" "$work/h.out" &&
    zstd -dcq "$(runs "$work/e")" | grep -q '"exit_code":1'; then
    st_pass "a lease that cannot be written fails the compaction: exit 1, and the history says why"
else
    st_fail "lease write failure" "exit $rc: $(cat "$work/h.out" | head -n 5)"
fi

# ---- shards name their own object ---------------------------------------------------------------------------
rm -rf "$work/f" "$work/data"
cp -r "$work/seed" "$work/f"
run "$work/f" --now=$NOW1 --shard=1/2
hf=$(runs "$work/f")
if [ $rc = 0 ] && [[ "$hf" == *-1.jsonl.zst ]] && zstd -dcq "$hf" | head -n 1 | grep -q '"shard":"1/2"'; then
    st_pass "--shard=1/2 writes <start>-1.jsonl.zst with shard 1/2"
else
    st_fail "sharded history" "exit $rc, [$hf]"
fi

st_summary
