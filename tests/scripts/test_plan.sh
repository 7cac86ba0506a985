#!/usr/bin/env bash
# End to end: `strata plan` on filesystem buckets built from the promtool-made blocks in
# testdata/blocks (copies, with a Thanos section added to meta.json; markers written by hand;
# two newer blocks made by promtool during the run), in the flat, prefix and label tenant
# layouts. Checks every planned action (type, inputs, vertical flag, Thanos group key computed
# here with an independent xxHash64, labels, range, estimated bytes, order), that the plan is
# the same twice, that --data-dir spares the second run its meta.json GETs, `strata inspect` in
# bucket mode, settings errors, and that the buckets are byte for byte unchanged afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need python3 "$PROMTOOL"

st_mktemp WORK
T0=1699920000000 # 2023-11-14T00:00:00Z
NOW=2023-11-16T00:00:00Z
H=3600000

# Two newer blocks of the same series, [T0+8h, T0+12h), made by promtool.
bash "$ST_LIB_DIR/make_block.sh" --out "$WORK/gen" --profile realistic --series 20 --seed 7 \
    --start-ms $((T0 + 8 * H)) --hours 4 >/dev/null

# ---- the buckets -----------------------------------------------------------------------
python3 - "$TESTDATA" "$WORK/gen" "$WORK" "$T0" <<'EOF'
import json, os, random, shutil, sys
testdata, gen, work, T0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
H = 3600000
NOW = T0 + 48 * H
rng = random.Random(4)
ALPH = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

def new_ulid(ms):
    v = (ms << 80) | rng.getrandbits(80)
    return "".join(ALPH[(v >> (5 * (25 - i))) & 31] for i in range(26))

def rfc3339(ms):
    import datetime
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)

def blocks_of(d):
    return sorted(b for b in os.listdir(d) if len(b) == 26)

def add_block(src, bucket, prefix="", labels=None, ulid=None, upload=None, source="sidecar",
              level=None, sources=None, min_t=None, max_t=None):
    """Copy block dir src into bucket/prefix/<ulid>, with a Thanos section in meta.json."""
    m = json.load(open(os.path.join(src, "meta.json")))
    ulid = ulid or m["ulid"]
    dst = os.path.join(bucket, prefix, ulid)
    shutil.copytree(src, dst)
    if os.path.exists(os.path.join(dst, "tombstones")) and os.path.getsize(os.path.join(dst, "tombstones")) == 9:
        os.remove(os.path.join(dst, "tombstones"))  # as Thanos uploads them
    m["ulid"] = ulid
    if min_t is not None:
        m["minTime"], m["maxTime"] = min_t, max_t
    m["compaction"]["sources"] = sources or [ulid]
    if level:
        m["compaction"]["level"] = level
    files = []
    for f in sorted(os.listdir(os.path.join(dst, "chunks"))):
        files.append({"rel_path": "chunks/" + f, "size_bytes": os.path.getsize(os.path.join(dst, "chunks", f))})
    files.append({"rel_path": "index", "size_bytes": os.path.getsize(os.path.join(dst, "index"))})
    files.append({"rel_path": "meta.json"})
    m["thanos"] = {"labels": labels or {}, "downsample": {"resolution": 0}, "source": source,
                   "segment_files": [f["rel_path"][7:] for f in files if f["rel_path"].startswith("chunks/")],
                   "files": files, "index_stats": {},
                   "upload_time": rfc3339(upload if upload is not None else m["maxTime"] + 60000)}
    with open(os.path.join(dst, "meta.json"), "w") as f:
        json.dump(m, f, indent="\t")
        f.write("\n")
    return {"ulid": ulid, "min": m["minTime"], "max": m["maxTime"], "labels": labels or {},
            "bytes": sum(x.get("size_bytes", 0) for x in files)}

def marker(bucket, prefix, ulid, name, obj):
    with open(os.path.join(bucket, prefix, ulid, name), "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":")))

def age_tree(path, ms):
    for dp, dn, fn in os.walk(path):
        for f in fn:
            os.utime(os.path.join(dp, f), (ms / 1000, ms / 1000))

adj = [os.path.join(testdata, "adjacent", b) for b in blocks_of(os.path.join(testdata, "adjacent"))]
ovl = {b: os.path.join(testdata, "overlap", b) for b in blocks_of(os.path.join(testdata, "overlap"))}
newer = [os.path.join(gen, b) for b in blocks_of(gen)]
mixed = os.path.join(testdata, "mixed", blocks_of(os.path.join(testdata, "mixed"))[0])
real = os.path.join(testdata, "realistic", blocks_of(os.path.join(testdata, "realistic"))[0])
tomb = os.path.join(testdata, "tombstones", blocks_of(os.path.join(testdata, "tombstones"))[0])

expect = {}

# ---- flat (Thanos) bucket -------------------------------------------------------------
b = os.path.join(work, "flat")
os.makedirs(b)
A = [add_block(p, b, labels={"cluster": "a", "replica": "r1"}) for p in adj + newer]
# overlap/: replica r1 = series 0-99 and its later blocks, r2 = the 150-series replica
rep = {"01M80WQPFV862GSJP583GMYDEB": "r1", "01M80WQPZ1HZXKPPTDF8F0HSDJ": "r2",
       "01M80WQQ926J5H58KYEBF0R781": "r1", "01M80WQQAG0E3Y9R5WEXFCE01C": "r1"}
B = {u: add_block(p, b, labels={"cluster": "b", "replica": rep[u]}) for u, p in ovl.items()}
# a no-compact block that would otherwise join B's overlap
NC = add_block(tomb, b, labels={"cluster": "b", "replica": "r2"})
marker(b, "", NC["ulid"], "no-compact-mark.json",
       {"id": NC["ulid"], "version": 1, "details": "by hand", "no_compact_time": T0 // 1000, "reason": "manual"})
# marked for deletion 49h before now: past the 48h delete delay
DEL = add_block(mixed, b, labels={"cluster": "d"})
marker(b, "", DEL["ulid"], "deletion-mark.json",
       {"id": DEL["ulid"], "version": 1, "details": "by hand", "deletion_time": (NOW - 49 * H) // 1000})
# a run that died between uploading its output and marking its inputs
E1 = add_block(adj[0], b, labels={"cluster": "e"}, ulid=new_ulid(T0 + 3 * H))
E2 = add_block(adj[1], b, labels={"cluster": "e"}, ulid=new_ulid(T0 + 5 * H))
EO = add_block(adj[0], b, labels={"cluster": "e"}, ulid=new_ulid(T0 + 6 * H), source="compactor",
               level=2, sources=sorted([E1["ulid"], E2["ulid"]]), min_t=E1["min"], max_t=E2["max"])
# uploaded five minutes ago: too fresh
FRESH = add_block(real, b, labels={"cluster": "f"}, upload=NOW - 5 * 60000)
# an unreadable marker: treated as absent, reported in the notes
marker(b, "", A[1]["ulid"], "no-downsample-mark.json", "{\"id\":")
# partial uploads: old without meta.json, old with a broken one, and a young one
P1, P3, P2 = new_ulid(T0 - 30 * H), new_ulid(T0 - 29 * H), new_ulid(T0 - 28 * H)
shutil.copytree(os.path.join(adj[2], "chunks"), os.path.join(b, P1, "chunks"))
shutil.copy(os.path.join(adj[2], "index"), os.path.join(b, P1, "index"))
age_tree(os.path.join(b, P1), T0 - 24 * H)
os.makedirs(os.path.join(b, P3))
open(os.path.join(b, P3, "meta.json"), "w").write("{\"ulid\": ")
age_tree(os.path.join(b, P3), T0 - 24 * H)
shutil.copytree(os.path.join(adj[2], "chunks"), os.path.join(b, P2, "chunks"))
os.makedirs(os.path.join(b, "debug"))  # not a block
open(os.path.join(b, "debug", "notes.txt"), "w").write("not a block\n")

def act(type_, blocks, labels=None, vertical=False, tenant=""):
    return {"type": type_, "blocks": sorted(x["ulid"] if isinstance(x, dict) else x for x in blocks),
            "labels": labels, "vertical": vertical, "tenant": tenant,
            "bytes": sum(x["bytes"] for x in blocks if isinstance(x, dict)),
            "min": min((x["min"] for x in blocks if isinstance(x, dict) and x["min"] is not None), default=None),
            "max": max((x["max"] for x in blocks if isinstance(x, dict) and x["max"] is not None), default=None)}

vert = [B[u] for u in ("01M80WQPFV862GSJP583GMYDEB", "01M80WQPZ1HZXKPPTDF8F0HSDJ", "01M80WQQ926J5H58KYEBF0R781")]
P1b = {"ulid": P1, "min": None, "max": None, "labels": {}, "bytes": sum(
    os.path.getsize(os.path.join(dp, f)) for dp, dn, fn in os.walk(os.path.join(b, P1)) for f in fn)}
expect["flat"] = {
    "actions": [act("delete", [DEL]), act("cleanup_partial", [P1b]), act("cleanup_partial", [P3]),
                act("gc", [E1]), act("gc", [E2]),
                act("compact", A[:3], {"cluster": "a"}),
                act("compact", vert, {"cluster": "b"}, vertical=True)],
    "untouched": [NC["ulid"], FRESH["ulid"], EO["ulid"], P2, A[3]["ulid"], A[4]["ulid"]],
    "blocks": 18, "partial": 3, "too_fresh": 1, "superseded": 2, "no_compact": 1,
    "marked_for_deletion": 1, "note": A[1]["ulid"],
}

# ---- prefix (Cortex/Mimir) bucket ------------------------------------------------------
b = os.path.join(work, "prefix")
os.makedirs(b)
PA = [add_block(p, b, "acme", labels={"cluster": "a"}) for p in adj + newer]
PG = add_block(real, b, "globex", labels={"cluster": "g"})
os.makedirs(os.path.join(b, "_strata", "runs"))
open(os.path.join(b, "_strata", "runs", "x.jsonl"), "w").write("{}\n")
expect["prefix"] = {
    "actions": [act("retention", [PG], tenant="globex"),
                act("compact", PA[:3], {"cluster": "a"}, tenant="acme")],
    "untouched": [], "blocks": 6, "partial": 0, "too_fresh": 0, "superseded": 0,
    "no_compact": 0, "marked_for_deletion": 0, "note": None,
}

# ---- label (Thanos Receive) bucket -------------------------------------------------------
b = os.path.join(work, "label")
os.makedirs(b)
LA = [add_block(p, b, labels={"cluster": "a", "tenant_id": "acme"}) for p in adj + newer]
LG = add_block(real, b, labels={"cluster": "g", "tenant_id": "globex"})
expect["label"] = {
    "actions": [act("retention", [LG], tenant="globex"),
                act("compact", LA[:3], {"cluster": "a", "tenant_id": "acme"}, tenant="acme")],
    "untouched": [], "blocks": 6, "partial": 0, "too_fresh": 0, "superseded": 0,
    "no_compact": 0, "marked_for_deletion": 0, "note": None,
}
json.dump(expect, open(os.path.join(work, "expect.json"), "w"), indent=1)
open(os.path.join(work, "tenants.yaml"), "w").write(
    "defaults:\n  replica_labels: [replica]\n"
    "tenants:\n  globex:\n    downsampling: false\n    retention: {raw: 1d}\n")
EOF

# A listing of every file with size, mode, mtime and sha256.
snapshot() {
    (cd "$1" && find . -printf '%p %s %m %T@\n' | sort && find . -type f -exec sha256sum {} + | sort)
}
for b in flat prefix label; do snapshot "$WORK/$b" >"$WORK/$b.before"; done

# Checks a plan against expect.json; prints "ok NAME" / "fail NAME: WHY" lines (read them with
# `report NAME < <(...)`, not through a pipe: the counters must change in this shell).
check_plan() {
    python3 - "$WORK/expect.json" "$1" "$2" "$NOW" <<'EOF'
import json, sys
expect = json.load(open(sys.argv[1]))[sys.argv[3]]
plan = json.load(open(sys.argv[2]))
now = sys.argv[4]
M = (1 << 64) - 1
P1, P2, P3, P4, P5 = 11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579, 2870177450012600261
def rotl(x, r): return ((x << r) | (x >> (64 - r))) & M
def rnd(a, x): return (rotl((a + x * P2) & M, 31) * P1) & M
def merge(h, v): return ((h ^ rnd(0, v)) * P1 + P4) & M
def xxh64(d, seed=0):
    n, i = len(d), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], int.from_bytes(d[i + 8 * k:i + 8 * k + 8], "little"))
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            h = merge(h, v[k])
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, int.from_bytes(d[i:i + 8], "little")), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ ((int.from_bytes(d[i:i + 4], "little") * P1) & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ ((d[i] * P5) & M), 11) * P1) & M
        i += 1
    h ^= h >> 33; h = (h * P2) & M; h ^= h >> 29; h = (h * P3) & M; h ^= h >> 32
    return h
def group_key(res, labels):
    b = b"".join(k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(labels.items()))
    return "%d@%d" % (res, xxh64(b))
def out(ok, name, why=""):
    print(("ok\t%s" % name) if ok else ("fail\t%s\t%s" % (name, why)))

out(group_key(0, {}) == "0@17241709254077376921", "independent xxh64: empty labels give 0@17241709254077376921")
out(group_key(0, {"foo": "bar", "foo1": "bar2"}) == "0@2124638872457683483", "independent xxh64: Thanos vector")
out(plan["now"] == now, "now is " + now, plan["now"])
acts = plan["actions"]
order = ["delete", "cleanup_partial", "gc", "retention", "compact", "downsample"]
ranks = [order.index(a["type"]) for a in acts]
out(ranks == sorted(ranks), "actions come in execution order (marks and deletes first)", [a["type"] for a in acts])
out(len(acts) == len(expect["actions"]), "%d actions planned" % len(expect["actions"]),
    "got %d: %s" % (len(acts), [(a["type"], a["blocks"]) for a in acts]))
used = set()
for e in expect["actions"]:
    name = "%s of %s" % (e["type"], ",".join(x[:10] for x in e["blocks"]))
    got = [a for a in acts if a["type"] == e["type"] and sorted(a["blocks"]) == e["blocks"]]
    if len(got) != 1:
        out(False, name, "not planned (have %s)" % [(a["type"], a["blocks"]) for a in acts])
        continue
    a = got[0]
    for b in a["blocks"]:
        used.add(b)
    why = []
    if a["tenant"] != e["tenant"]: why.append("tenant %r" % a["tenant"])
    if a["vertical"] != e["vertical"]: why.append("vertical %r" % a["vertical"])
    if not a["reason"]: why.append("no reason")
    if a["resolution"] != 0: why.append("resolution %r" % a["resolution"])
    if e["labels"] is not None:
        if a["labels"] != e["labels"]: why.append("labels %r" % a["labels"])
        if a["group"] != group_key(0, e["labels"]): why.append("group %s, want %s" % (a["group"], group_key(0, e["labels"])))
        if a["min_time"] != e["min"] or a["max_time"] != e["max"]: why.append("range %d..%d" % (a["min_time"], a["max_time"]))
        if a["level"] != 2: why.append("level %d" % a["level"])
    if a["estimated_bytes"] != e["bytes"]:
        why.append("estimated_bytes %d, want %d" % (a["estimated_bytes"], e["bytes"]))
    for k in ("estimated_output_bytes", "estimated_series", "estimated_samples", "shard_hash", "block_prefixes"):
        if k not in a: why.append("no " + k)
    out(not why, name + " (" + a["reason"][:70] + ")", "; ".join(why))
for u in expect["untouched"]:
    out(u not in used and all(u not in a["blocks"] for a in acts), "block %s is in no action" % u[:10])
s = plan["summary"]
for k in ("blocks", "partial", "too_fresh", "superseded", "no_compact", "marked_for_deletion"):
    out(s[k] == expect[k], "summary %s = %d" % (k, expect[k]), "got %s" % s[k])
if expect["note"]:
    out(any(n["block"] == expect["note"] and "unreadable" in n["text"] for n in plan["notes"]),
        "an unreadable marker is reported in the notes", plan["notes"])
EOF
}

report() {
    local line kind name why
    while IFS= read -r line; do
        IFS=$'\t' read -r kind name why <<<"$line"
        if [ "$kind" = ok ]; then st_pass "$1: $name"; else st_fail "$1: $name" "$why"; fi
    done
}

# ---- flat bucket -------------------------------------------------------------------------
FLAGS=(--bucket="$WORK/flat" --now="$NOW" --deduplication.replica-label=replica)
if st_strata plan "${FLAGS[@]}" --output=json --data-dir="$WORK/data" >"$WORK/flat.json" 2>"$WORK/flat.log"; then
    st_pass "flat: strata plan --output=json exits 0"
else
    st_fail "flat: strata plan --output=json" "$(tail -n 5 "$WORK/flat.log")"
fi
report flat < <(check_plan "$WORK/flat.json" flat)
grep -q 'meta_fetched=16 meta_cached=0' "$WORK/flat.log" &&
    st_pass "flat: the first run fetches every meta.json" ||
    st_fail "flat: first run fetches" "$(grep synced "$WORK/flat.log")"
st_strata plan "${FLAGS[@]}" --output=json --data-dir="$WORK/data" >"$WORK/flat2.json" 2>"$WORK/flat2.log" || true
# the broken meta.json of a partial upload is never cached, so it is read again
grep -q 'meta_fetched=1 meta_cached=15' "$WORK/flat2.log" &&
    st_pass "flat: a second run with --data-dir reads metas from the cache" ||
    st_fail "flat: second run uses the cache" "$(grep synced "$WORK/flat2.log")"
cmp -s "$WORK/flat.json" "$WORK/flat2.json" && st_pass "flat: the same plan twice, byte for byte" ||
    st_fail "flat: deterministic" "$(diff "$WORK/flat.json" "$WORK/flat2.json" | head -5)"
st_strata plan "${FLAGS[@]}" --block-meta-fetch-concurrency=1 --output=json >"$WORK/flat3.json" 2>/dev/null || true
cmp -s "$WORK/flat.json" "$WORK/flat3.json" && st_pass "flat: one fetch thread gives the same plan" ||
    st_fail "flat: one fetch thread" "differs"

if st_strata plan "${FLAGS[@]}" >"$WORK/flat.txt" 2>/dev/null; then
    ok=1
    for want in "plan at $NOW: 18 blocks" "7 actions: 1 delete, 2 cleanup_partial, 2 gc, 0 retention, 2 compact, 0 downsample" \
        'tenant (none)' 'group 0@' '{cluster="a"} raw' 'compact*' 'partial uploads (no meta.json: no group)' \
        'why:    aligned 8h range' 'notes:'; do
        grep -qF -- "$want" "$WORK/flat.txt" || { ok=0; st_fail "flat: text output has '$want'" "$(head -n 3 "$WORK/flat.txt")"; }
    done
    [ $ok = 1 ] && st_pass "flat: text output is a table per tenant and group"
else
    st_fail "flat: strata plan (text)" "exit $?"
fi

# ---- strata inspect in bucket mode ----------------------------------------------------------
if st_strata inspect --bucket="$WORK/flat" --now="$NOW" --output=json >"$WORK/inspect.json" 2>"$WORK/inspect.log"; then
    python3 - "$WORK/inspect.json" >"$WORK/inspect.checks" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
def out(ok, name, why=""):
    print(("ok\t%s" % name) if ok else ("fail\t%s\t%s" % (name, why)))
out(len(rows) == 18, "one row per block (18, partial uploads included)", len(rows))
by = {r["ulid"]: r for r in rows}
partial = [r for r in rows if r["partial"]]
out(len(partial) == 3 and all(r.get("partial_reason") for r in partial), "three partial uploads with a reason", partial)
dm = [r for r in rows if r["deletion_mark"]]
out(len(dm) == 1 and dm[0]["deletion_mark"]["details"] == "by hand", "the deletion mark is shown", dm)
nc = [r for r in rows if r["no_compact_mark"]]
out(len(nc) == 1 and nc[0]["no_compact_mark"]["reason"] == "manual", "the no-compact mark is shown", nc)
out(sum("superseded" in r["state"] for r in rows) == 2, "superseded blocks are shown")
out(sum("too_fresh" in r["state"] for r in rows) == 1, "the fresh upload is shown")
full = [r for r in rows if not r["partial"]]
out(all(r["series"] > 0 and r["samples"] > 0 and r["group"].startswith("0@") for r in full),
    "complete blocks carry stats and their group")
EOF
    report inspect <"$WORK/inspect.checks"
else
    st_fail "inspect: strata inspect --bucket --output=json" "$(tail -n 3 "$WORK/inspect.log")"
fi
if st_strata inspect --bucket="$WORK/flat" --now="$NOW" >"$WORK/inspect.txt" 2>"$WORK/inspect.log"; then
    rows=$(($(wc -l <"$WORK/inspect.txt") - 1))
    head -n1 "$WORK/inspect.txt" | grep -q 'ULID.*FROM.*UNTIL.*RANGE.*UNTIL-DOWN.*#SERIES.*#SAMPLES.*#CHUNKS.*COMP-LEVEL.*COMP-FAILED.*LABELS.*RESOLUTION.*SOURCE.*MARKERS' &&
        [ "$rows" = 18 ] && grep -q 'deletion@' "$WORK/inspect.txt" && grep -q 'partial(no meta.json)' "$WORK/inspect.txt" &&
        st_pass "inspect: text table like thanos tools bucket inspect ($rows rows)" ||
        st_fail "inspect: text table" "$(head -n 3 "$WORK/inspect.txt")"
else
    st_fail "inspect: text" "$(tail -n 3 "$WORK/inspect.log")"
fi

# ---- prefix and label layouts with per-tenant settings -----------------------------------
for layout in prefix label; do
    if st_strata plan --bucket="$WORK/$layout" --now="$NOW" --tenant-layout=$layout \
        --tenant-config="$WORK/tenants.yaml" --output=json >"$WORK/$layout.json" 2>"$WORK/$layout.log"; then
        st_pass "$layout: strata plan exits 0"
    else
        st_fail "$layout: strata plan" "$(tail -n 5 "$WORK/$layout.log")"
    fi
    report $layout < <(check_plan "$WORK/$layout.json" $layout)
done
grep -q '"reason": "maxTime .* older than the raw retention 1d of tenant globex"' "$WORK/prefix.json" &&
    st_pass "prefix: the retention reason names the tenant's setting" ||
    st_fail "prefix: retention reason" "$(grep reason "$WORK/prefix.json" | head -3)"
grep -q '"block_prefixes": \[\s*$' "$WORK/prefix.json" && grep -q '"acme/01' "$WORK/prefix.json" &&
    st_pass "prefix: inputs are named by their key prefix under the tenant" ||
    st_fail "prefix: block prefixes" "no acme/ prefixes"

# ---- errors ----------------------------------------------------------------------------------
printf 'tenants:\n  acme:\n    retention: {raw: 36h}\n' >"$WORK/bad.yaml"
set +e
st_strata plan --bucket="$WORK/flat" --tenant-config="$WORK/bad.yaml" >/dev/null 2>"$WORK/err.txt"
rc=$?
set -e
[ $rc = 2 ] && grep -q 'tenant "acme": retention.raw 1d12h' "$WORK/err.txt" && grep -q '40h' "$WORK/err.txt" &&
    st_pass "a raw retention under 40h with downsampling is refused, naming tenant and key" ||
    st_fail "short raw retention" "exit $rc: $(cat "$WORK/err.txt")"
set +e
st_strata plan --bucket="$WORK/flat" --now=yesterday >/dev/null 2>"$WORK/err.txt"
rc=$?
st_strata plan --now="$NOW" >/dev/null 2>&1
rc2=$?
set -e
[ $rc = 2 ] && [ $rc2 = 2 ] && st_pass "bad --now and a missing bucket are usage errors" ||
    st_fail "usage errors" "exit $rc / $rc2: $(cat "$WORK/err.txt")"

# ---- nothing changed in the buckets --------------------------------------------------------
for b in flat prefix label; do
    snapshot "$WORK/$b" >"$WORK/$b.after"
    if cmp -s "$WORK/$b.before" "$WORK/$b.after"; then
        st_pass "$b: the bucket is byte for byte unchanged ($(grep -c ' ' "$WORK/$b.before") entries)"
    else
        st_fail "$b: bucket unchanged" "$(diff "$WORK/$b.before" "$WORK/$b.after" | head -5)"
    fi
done

st_summary
