#!/usr/bin/env bash
# `strata mark` on filesystem buckets of promtool-made blocks (copies of testdata/blocks): each
# marker written with the bytes Thanos writes (checked against an independent encoding of Go's
# json.Marshal here), the planner seeing the marks (`strata plan --output=json`), an existing
# marker left unchanged, --remove, Thanos' file names as --marker values, lower-case ids, several
# ids at once (all checked before anything is written), the prefix tenant layout, inline objstore
# YAML, and clear refusals (not a block, a partial upload, bad ULID, missing --details, unknown
# marker, no bucket). Everything but the marker files stays byte for byte as it was.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need python3 sha256sum

st_mktemp WORK
ADJ="$TESTDATA/adjacent"
IDS=($(ls "$ADJ"))
A="${IDS[0]}" B="${IDS[1]}" C="${IDS[2]}"
FLAT="$WORK/flat"
mkdir -p "$FLAT" "$WORK/tenants/acme"
cp -a "$ADJ/$A" "$ADJ/$B" "$FLAT/"
cp -a "$ADJ/$C" "$WORK/tenants/acme/"
# A partial upload: chunks and index, no meta.json.
PARTIAL=01M80WQQZZZZZZZZZZZZZZZZZZ
mkdir -p "$FLAT/$PARTIAL"
cp -a "$ADJ/$C/chunks" "$ADJ/$C/index" "$FLAT/$PARTIAL/"

# Checksums of every file that is not a marker.
sums() { (cd "$1" && find . -type f ! -name '*-mark.json' -print0 | sort -z | xargs -0 sha256sum); }
sums "$FLAT" >"$WORK/flat.before"
sums "$WORK/tenants" >"$WORK/tenants.before"

# run NAME WANT_EXIT ARGS...: runs strata mark, output in $WORK/out and $WORK/err.
run() {
    local name="$1" want="$2" rc=0
    shift 2
    st_strata mark "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    if [ "$rc" -eq "$want" ]; then
        return 0
    fi
    st_fail "$name" "exit $rc, want $want: $(head -c 400 "$WORK/err")"
    return 1
}

# expect_marker NAME FILE TYPE ID DETAILS T_BEFORE T_AFTER: the file holds exactly what Go's
# json.Marshal gives for that marker, with a time between the two bounds.
expect_marker() {
    local out
    if out="$(python3 - "$@" <<'EOF'
import json, re, sys
name, path, typ, ulid, details, t0, t1 = sys.argv[1:8]
raw = open(path, 'rb').read()

def go_string(s):
    # encoding/json: HTML-safe escaping, U+2028/2029 escaped, no other non-ASCII escaping.
    out = json.dumps(s, ensure_ascii=False)
    for a, b in (('<', '\\u003c'), ('>', '\\u003e'), ('&', '\\u0026'),
                 ('\u2028', '\\u2028'), ('\u2029', '\\u2029')):
        out = out.replace(a, b)
    return out

m = re.search(rb'"(deletion|no_compact|no_downsample)_time":(-?\d+)', raw)
if not m:
    sys.exit('%s: no time field in %r' % (path, raw))
t = int(m.group(2))
if not int(t0) <= t <= int(t1):
    sys.exit('%s: time %d not in [%s, %s]' % (path, t, t0, t1))
body = '{"id":"%s","version":1' % ulid
if details:
    body += ',"details":' + go_string(details)
key = {'deletion': 'deletion_time', 'no-compact': 'no_compact_time',
       'no-downsample': 'no_downsample_time'}[typ]
body += ',"%s":%d' % (key, t)
if typ != 'deletion':
    body += ',"reason":"manual"'
body += '}'
if raw != body.encode():
    sys.exit('%s:\n got  %r\n want %r' % (path, raw, body.encode()))
EOF
    )"; then
        st_pass "$1"
    else
        st_fail "$1" "$out"
    fi
}

# plan_summary BUCKET [FLAGS...]: prints "deletion no_compact no_downsample" as the planner sees.
plan_summary() {
    local bucket="$1"
    shift
    st_strata plan --bucket="$bucket" --output=json "$@" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
print(s["marked_for_deletion"], s["no_compact"], s["no_downsample"])'
}

# ---- writing each marker ----------------------------------------------------------------------
DETAILS='bad <block> & "quotes", caf'$'\xc3\xa9'
t0=$(date +%s)
run "mark deletion" 0 --bucket="$FLAT" --id="$A" --marker=deletion --details="$DETAILS" &&
    expect_marker "deletion-mark.json has Thanos' bytes" "$FLAT/$A/deletion-mark.json" deletion "$A" "$DETAILS" "$t0" "$(date +%s)"
run "mark no-compact" 0 --bucket="$FLAT" --id="$A" --marker=no-compact --details="index too big" &&
    expect_marker "no-compact-mark.json has Thanos' bytes (reason manual)" "$FLAT/$A/no-compact-mark.json" no-compact "$A" "index too big" "$t0" "$(date +%s)"
run "mark no-downsample with Thanos' file name" 0 --bucket="$FLAT" --id="$B" --marker=no-downsample-mark.json --details="keep raw only" &&
    expect_marker "no-downsample-mark.json has Thanos' bytes" "$FLAT/$B/no-downsample-mark.json" no-downsample "$B" "keep raw only" "$t0" "$(date +%s)"
if [ "$(plan_summary "$FLAT")" = "1 1 1" ]; then
    st_pass "the planner sees the three marks"
else
    st_fail "the planner sees the three marks" "summary: $(plan_summary "$FLAT")"
fi
if grep -q 'block marked' "$WORK/err" && grep -q 'marking done' "$WORK/err"; then
    st_pass "mark logs the block and the end"
else
    st_fail "mark logs" "$(cat "$WORK/err")"
fi

# ---- an existing marker is left as it is (Thanos: warning, no-op) ----------------------------
cp "$FLAT/$A/deletion-mark.json" "$WORK/first"
sleep 1
if run "mark again" 0 --bucket="$FLAT" --id="$A" --marker=deletion --details="other" &&
    cmp -s "$WORK/first" "$FLAT/$A/deletion-mark.json" && grep -q 'already exists' "$WORK/err"; then
    st_pass "a second mark leaves the first unchanged, with a warning"
else
    st_fail "a second mark leaves the first unchanged"
fi

# ---- removing ----------------------------------------------------------------------------------
if run "remove no-compact" 0 --bucket="$FLAT" --id="$A" --marker=no-compact --remove &&
    [ ! -e "$FLAT/$A/no-compact-mark.json" ] && [ -e "$FLAT/$A/deletion-mark.json" ]; then
    st_pass "--remove deletes that marker only"
else
    st_fail "--remove deletes that marker only"
fi
if run "remove again" 0 --bucket="$FLAT" --id="$A" --marker=no-compact --remove &&
    grep -q 'does not exist' "$WORK/err"; then
    st_pass "--remove of an absent marker is a warning, exit 0"
else
    st_fail "--remove of an absent marker"
fi
run "remove deletion (lower-case id)" 0 --bucket="$FLAT" --id="${A,,}" --marker=deletion --remove || true
run "remove no-downsample" 0 --bucket="$FLAT" --id="$B" --marker=no-downsample --remove || true
if [ "$(plan_summary "$FLAT")" = "0 0 0" ] && [ -z "$(find "$FLAT" -name '*-mark.json')" ]; then
    st_pass "after --remove the bucket has no markers and the planner sees none"
else
    st_fail "after --remove" "$(plan_summary "$FLAT"); $(find "$FLAT" -name '*-mark.json')"
fi

# ---- several ids, lower case, inline objstore YAML --------------------------------------------
if run "two ids, inline YAML" 0 --objstore.config="{type: FILESYSTEM, config: {directory: $FLAT}}" \
    --id="${A,,}" --id="$B" --marker=no-compact --details="both" &&
    [ -f "$FLAT/$A/no-compact-mark.json" ] && [ -f "$FLAT/$B/no-compact-mark.json" ]; then
    st_pass "two --id at once, a lower-case one, through --objstore.config"
else
    st_fail "two --id at once"
fi
run "cleanup" 0 --bucket="$FLAT" --id="$A" --id="$B" --marker=no-compact --remove || true

# ---- refusals ------------------------------------------------------------------------------------
NOT_THERE=01M80WQQ00000000000000000X
if run "not a block" 1 --bucket="$FLAT" --id="$NOT_THERE" --marker=deletion --details=x &&
    grep -q "$NOT_THERE is not a block" "$WORK/err" && grep -q 'meta.json does not exist' "$WORK/err"; then
    st_pass "an id that is not in the bucket is refused: $(head -n 1 "$WORK/err")"
else
    st_fail "an id that is not in the bucket" "$(cat "$WORK/err")"
fi
if run "partial" 1 --bucket="$FLAT" --id="$PARTIAL" --marker=no-compact --details=x &&
    grep -q 'partial upload' "$WORK/err" && [ ! -e "$FLAT/$PARTIAL/no-compact-mark.json" ]; then
    st_pass "a partial upload is refused, named as such"
else
    st_fail "a partial upload" "$(cat "$WORK/err")"
fi
if run "one bad id among good ones" 1 --bucket="$FLAT" --id="$A" --id="$NOT_THERE" --marker=deletion --details=x &&
    [ ! -e "$FLAT/$A/deletion-mark.json" ]; then
    st_pass "one id that is not a block: nothing is written"
else
    st_fail "one id that is not a block: nothing is written"
fi
usage_case() {
    local name="$1"
    shift
    if run "$name" 2 "$@"; then
        st_pass "usage error: $name ($(head -n 1 "$WORK/err"))"
    fi
}
usage_case "not a ULID" --bucket="$FLAT" --id=01ABC --marker=deletion --details=x
usage_case "no --details" --bucket="$FLAT" --id="$A" --marker=deletion
usage_case "unknown marker" --bucket="$FLAT" --id="$A" --marker=no-delete --details=x
usage_case "no bucket" --id="$A" --marker=deletion --details=x
usage_case "no --id" --bucket="$FLAT" --marker=deletion --details=x
usage_case "bad tenant" --bucket="$FLAT" --tenant=_strata --id="$A" --marker=deletion --details=x
usage_case "unknown flag" --bucket="$FLAT" --id="$A" --marker=deletion --details=x --force

# ---- tenants (prefix layout) -------------------------------------------------------------------
if run "tenant block without --tenant" 1 --bucket="$WORK/tenants" --id="$C" --marker=deletion --details=x &&
    grep -q -- '--tenant' "$WORK/err"; then
    st_pass "a tenant's block without --tenant: refused with a hint"
else
    st_fail "a tenant's block without --tenant" "$(cat "$WORK/err")"
fi
t0=$(date +%s)
run "tenant mark" 0 --bucket="$WORK/tenants" --tenant=acme --id="$C" --marker=deletion --details="block exceeding retention of 7d" &&
    expect_marker "--tenant writes <tenant>/<ULID>/deletion-mark.json" "$WORK/tenants/acme/$C/deletion-mark.json" deletion "$C" "block exceeding retention of 7d" "$t0" "$(date +%s)"
if [ "$(plan_summary "$WORK/tenants" --tenant-layout=prefix)" = "1 0 0" ]; then
    st_pass "the planner sees the tenant's mark"
else
    st_fail "the planner sees the tenant's mark" "$(plan_summary "$WORK/tenants" --tenant-layout=prefix)"
fi

# ---- nothing but markers changed -----------------------------------------------------------------
sums "$FLAT" >"$WORK/flat.after"
sums "$WORK/tenants" >"$WORK/tenants.after"
if cmp -s "$WORK/flat.before" "$WORK/flat.after" && cmp -s "$WORK/tenants.before" "$WORK/tenants.after"; then
    st_pass "every other file is byte for byte unchanged"
else
    st_fail "other files changed" "$(diff "$WORK/flat.before" "$WORK/flat.after" | head -n 5)"
fi

st_summary
