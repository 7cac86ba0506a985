#!/usr/bin/env bash
# objstore_vs_curl.sh [MiB] [rounds]: GET and PUT throughput of one large object (256 MiB) on
# the local Swift s3api server, strata (bench_objstore) beside the curl command line
# (--aws-sigv4) doing the same requests: single PUT with a signed payload hash (curl: sha256sum
# + upload, timed together), multipart PUT (4 parts of 64 MiB in parallel: create, parts,
# complete), single GET into memory (curl: to /dev/null), GET to a file, and 4 parallel range
# GETs. Best of N rounds each; prints MiB/s and the strata/curl ratio. Starts and stops its own
# server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../scripts/lib.sh"
st_need curl sha256sum /usr/bin/python3
MIB="${1:-256}"
ROUNDS="${2:-3}"
STRATA_BUILD="${STRATA_BUILD:-$STRATA_SRC/build}"
BENCH="$STRATA_BUILD/tests/bench_objstore"
[ -x "$BENCH" ] || st_die "$BENCH not built"

st_mktemp WORK
SWIFT="$WORK/swift"
bench_cleanup() {
    local rc=$?
    bash "$here/../scripts/s3_stop.sh" "$SWIFT"
    st_cleanup
    return $rc
}
trap bench_cleanup EXIT
PORT="$(S3_WATCH_PID=$$ bash "$here/../scripts/s3_start.sh" "$SWIFT" 0)" || st_die "server did not start"
URL="http://test%3Atester:testing@127.0.0.1:$PORT"
E=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sig=(--aws-sigv4 "aws:amz:us-east-1:s3")
curl -sS "${sig[@]}" -X PUT -H "x-amz-content-sha256: $E" "$URL/bench" -o /dev/null

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }

echo "# $MIB MiB object, best of $ROUNDS, loopback, $(nproc) cores" >&2
"$BENCH" "127.0.0.1:$PORT" bench "test:tester" testing "$MIB" "$ROUNDS" | tee "$WORK/strata.txt"

head -c "$((MIB << 20))" /dev/urandom >"$WORK/obj"
part=$(((MIB << 20) / 4))
split -b "$part" -d -a 1 "$WORK/obj" "$WORK/part."

declare -A best
measure() { # NAME: runs run_NAME ROUNDS times, keeps the best
    local name="$1" b=1e9 t0 i
    for i in $(seq 1 "$ROUNDS"); do
        t0="$(now)"
        "run_$name"
        b="$(min "$b" "$(elapsed "$t0")")"
    done
    best[$name]=$b
    printf 'curl %s %s %.1f\n' "$name" "$b" "$(awk -v s="$b" -v m="$MIB" 'BEGIN { print m / s }')"
}

run_put_single() {
    local sha
    sha="$(sha256sum "$WORK/obj" | cut -d' ' -f1)"
    curl -sS -f "${sig[@]}" -T "$WORK/obj" -H "x-amz-content-sha256: $sha" "$URL/bench/c-single" -o /dev/null
}
run_put_single_unsigned() {
    curl -sS -f "${sig[@]}" -T "$WORK/obj" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$URL/bench/c-single" -o /dev/null
}
run_put_multipart() {
    local id i body=""
    id="$(curl -sS -f "${sig[@]}" -X POST -H "x-amz-content-sha256: $E" "$URL/bench/c-multi?uploads=" |
        sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')"
    for i in 0 1 2 3; do
        (
            sha="$(sha256sum "$WORK/part.$i" | cut -d' ' -f1)"
            curl -sS -f "${sig[@]}" -T "$WORK/part.$i" -H "x-amz-content-sha256: $sha" -D "$WORK/h.$i" \
                "$URL/bench/c-multi?partNumber=$((i + 1))&uploadId=$id" -o /dev/null
        ) &
    done
    wait
    for i in 0 1 2 3; do
        body+="<Part><PartNumber>$((i + 1))</PartNumber><ETag>$(tr -d '\r' <"$WORK/h.$i" | sed -n 's/^[Ee][Tt]ag: //p')</ETag></Part>"
    done
    body="<CompleteMultipartUpload>$body</CompleteMultipartUpload>"
    curl -sS -f "${sig[@]}" -X POST -H "x-amz-content-sha256: $(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" \
        --data-binary "$body" "$URL/bench/c-multi?uploadId=$id" -o /dev/null
}
run_get_single() {
    curl -sS -f "${sig[@]}" -H "x-amz-content-sha256: $E" "$URL/bench/c-single" -o /dev/null
}
run_get_file() {
    curl -sS -f "${sig[@]}" -H "x-amz-content-sha256: $E" "$URL/bench/c-single" -o "$WORK/back"
}
run_get_parallel_ranges() {
    local i
    for i in 0 1 2 3; do
        curl -sS -f "${sig[@]}" -H "x-amz-content-sha256: $E" -r "$((i * part))-$(((i + 1) * part - 1))" \
            "$URL/bench/c-multi" -o /dev/null &
    done
    wait
}

for m in put_single put_single_unsigned put_multipart get_single get_file get_parallel_ranges; do
    measure "$m"
done | tee "$WORK/curl.txt"
cmp -s "$WORK/obj" "$WORK/back" || st_die "curl GET returned other bytes"

echo
printf '%-22s %12s %12s %8s\n' "$MIB MiB object" "strata MiB/s" "curl MiB/s" "ratio"
for m in put_single put_multipart get_single get_file get_parallel_ranges; do
    s="$(awk -v m="$m" '$2 == m { print $4 }' "$WORK/strata.txt")"
    c="$(awk -v m="$m" '$2 == m { print $4 }' "$WORK/curl.txt")"
    printf '%-22s %12s %12s %8s\n' "$m" "$s" "$c" "$(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2f", s / c }')"
done
c="$(awk '$2 == "put_single_unsigned" { print $4 }' "$WORK/curl.txt")"
printf '%-22s %12s %12s %8s\n' "put_single_unsigned" "-" "$c" "-"
