#!/usr/bin/env bash
# `strata run` against the real S3 server (Swift s3api on 127.0.0.1): a bucket of two HA
# replicas x three 2h blocks, uploaded with the curl CLI, ends as the same compacted blocks as
# the filesystem run of test_run.sh (same ranges, labels, levels), the inputs marked, the data
# readers see unchanged; three days later the marked inputs are gone. The bucket is mirrored
# back with curl to check it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need curl sha256sum /usr/bin/python3 "$STRATA_BIN"
/usr/bin/python3 -c 'import swift.common.middleware.s3api' 2>/dev/null ||
    st_die "python3-swift is not installed (bash scripts/deps.sh)"

st_mktemp work
SWIFT="$work/swift"
s3_cleanup() {
    local rc=$?
    bash "$ST_LIB_DIR/s3_stop.sh" "$SWIFT"
    st_cleanup
    return $rc
}
trap s3_cleanup EXIT
PORT="$(S3_WATCH_PID=$$ bash "$ST_LIB_DIR/s3_start.sh" "$SWIFT" 0)" ||
    st_die "the Swift s3api server did not start"
URL="http://test%3Atester:testing@127.0.0.1:$PORT"
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sig=(--aws-sigv4 "aws:amz:us-east-1:s3")
code="$(curl -sS "${sig[@]}" -X PUT -H "x-amz-content-sha256: $EMPTY_SHA" "$URL/thanos" -o /dev/null -w '%{http_code}')"
[ "$code" = 200 ] || st_die "create bucket: HTTP $code"
cat >"$work/s3.yml" <<YML
type: S3
config:
  bucket: thanos
  endpoint: 127.0.0.1:$PORT
  access_key: "test:tester"
  secret_key: testing
  insecure: true
YML

mirror() { # OUT: download the whole bucket with curl
    local out=$1 key
    rm -rf "$out"
    mkdir -p "$out"
    curl -sS "${sig[@]}" -H "x-amz-content-sha256: $EMPTY_SHA" "$URL/thanos?list-type=2&max-keys=1000" -o "$work/list.xml"
    python3 - "$work/list.xml" >"$work/keys" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
if root.findtext("s3:IsTruncated", namespaces=ns) == "true":
    sys.exit("more than 1000 keys")
for c in root.findall("s3:Contents", ns):
    print(c.findtext("s3:Key", namespaces=ns))
PY
    while IFS= read -r key; do
        mkdir -p "$out/$(dirname "$key")"
        curl -sS "${sig[@]}" -H "x-amz-content-sha256: $EMPTY_SHA" "$URL/thanos/$key" -o "$out/$key"
    done <"$work/keys"
}

st_ha_seed "$work/seed" 200
"$STRATA_BIN" dump $(st_visible "$work/seed") >"$work/expected.txt"
n=0
while IFS= read -r f; do
    rel="${f#"$work/seed"/}"
    sha="$(sha256sum "$f" | cut -d' ' -f1)"
    code="$(curl -sS "${sig[@]}" -T "$f" -H "x-amz-content-sha256: $sha" "$URL/thanos/$rel" -o /dev/null -w '%{http_code}')"
    [ "$code" = 200 ] || st_die "upload $rel: HTTP $code"
    n=$((n + 1))
done < <(find "$work/seed" -type f | sort)
st_log "uploaded $n files with curl"

# the same seed through the filesystem store, for the expected end state
cp -r "$work/seed" "$work/fsb"
"$STRATA_BIN" run --bucket="$work/fsb" --data-dir="$work/data-fs" --deduplication.replica-label=replica \
    --consistency-delay=0s >/dev/null 2>&1 || st_die "filesystem run failed"
st_block_ranges "$work/fsb" >"$work/fs.ranges"

rc=0
"$STRATA_BIN" run --objstore.config-file="$work/s3.yml" --data-dir="$work/data" \
    --deduplication.replica-label=replica --consistency-delay=0s >"$work/run.out" 2>"$work/run.log" || rc=$?
mirror "$work/m1"
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
mirror "$work/m2"
left=$(ls "$work/m2" | wc -l)
"$STRATA_BIN" dump $(st_visible "$work/m2") >"$work/m2.txt"
if [ $rc = 0 ] && [ "$left" = 3 ] && cmp -s "$work/expected.txt" "$work/m2.txt"; then
    st_pass "three days later on S3: the marked inputs are deleted, 3 blocks left, data unchanged"
else
    st_fail "delete on S3" "exit $rc, $left blocks left; $(grep -E 'level=error' "$work/run.log" | head -n 2)"
fi
st_summary
