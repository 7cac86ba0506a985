#!/usr/bin/env bash
# Oracle: `strata inspect` reads blocks that another client uploaded to a real S3 server. The
# blocks of testdata/blocks/adjacent go up with the curl CLI (--aws-sigv4, payload SHA-256) to
# the Swift s3api server (s3_server.py); `strata inspect --objstore.config-file=...` must list
# the same 3 ULIDs, with the same rows, as `strata inspect --bucket=<a local copy>`; with
# --output=json too. The server is stopped on exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
st_need curl sha256sum /usr/bin/python3
/usr/bin/python3 -c 'import swift.common.middleware.s3api' 2>/dev/null ||
    st_die "python3-swift is not installed (bash scripts/deps.sh)"
SET="$TESTDATA/adjacent"
[ -d "$SET" ] || st_die "missing $SET"

st_mktemp WORK
SWIFT="$WORK/swift"
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

code="$(curl -sS "${sig[@]}" -X PUT -H "x-amz-content-sha256: $EMPTY_SHA" "$URL/thanos" \
    -o /dev/null -w '%{http_code}')"
[ "$code" = 200 ] || st_die "create bucket: HTTP $code"

n=0
while IFS= read -r f; do
    rel="${f#"$SET"/}"
    sha="$(sha256sum "$f" | cut -d' ' -f1)"
    code="$(curl -sS "${sig[@]}" -T "$f" -H "x-amz-content-sha256: $sha" "$URL/thanos/$rel" \
        -o /dev/null -w '%{http_code}')"
    [ "$code" = 200 ] || st_die "upload $rel: HTTP $code"
    n=$((n + 1))
done < <(find "$SET" -type f | sort)
st_log "uploaded $n files with curl"

cp -a "$SET" "$WORK/local"
cat >"$WORK/s3.yml" <<EOF
type: S3
config:
  bucket: thanos
  endpoint: 127.0.0.1:$PORT
  access_key: "test:tester"
  secret_key: testing
  insecure: true
EOF

want="$(st_blocks_of "$SET" | xargs -n1 basename | sort)"
for fmt in text json; do
    if ! st_strata inspect --objstore.config-file="$WORK/s3.yml" --output="$fmt" \
        >"$WORK/s3.$fmt" 2>"$WORK/s3.$fmt.err"; then
        st_fail "inspect S3 ($fmt)" "$(tail -n 3 "$WORK/s3.$fmt.err")"
        continue
    fi
    st_strata inspect --bucket="$WORK/local" --output="$fmt" >"$WORK/fs.$fmt" 2>"$WORK/fs.$fmt.err" ||
        st_die "inspect --bucket failed: $(tail -n 3 "$WORK/fs.$fmt.err")"
    got="$(grep -oE '\b[0-9A-HJKMNP-TV-Z]{26}\b' "$WORK/s3.$fmt" | sort -u)"
    if [ "$got" = "$want" ] && [ "$(wc -l <<<"$got")" = 3 ]; then
        st_pass "inspect S3 ($fmt) lists the 3 ULIDs uploaded by curl"
    else
        st_fail "inspect S3 ($fmt) lists the 3 ULIDs uploaded by curl" "got: $(echo $got)"
    fi
    st_compare_files "inspect S3 ($fmt) equals inspect --bucket" "$WORK/fs.$fmt" "$WORK/s3.$fmt" || true
done

st_summary
