# Shared helpers for the oracle scripts (sourced, not run; the name must not start with
# "test_" or CMake registers it as a test).
#
#   STRATA_SRC   repo root (default: two levels above this file)
#   STRATA_BIN   strata binary (default: $STRATA_SRC/build/strata)
#   PROMTOOL     promtool (default: promtool from PATH, else /usr/bin/promtool)
#   PROMETHEUS   prometheus server (default: prometheus from PATH, else /usr/bin/prometheus)
#
# Everything a script starts or creates is registered here and removed/stopped by the EXIT
# trap: temp dirs (st_mktemp) and processes (st_track_pid; only those PIDs are killed).

ST_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STRATA_SRC="${STRATA_SRC:-$(cd "$ST_LIB_DIR/../.." && pwd)}"
STRATA_BIN="${STRATA_BIN:-$STRATA_SRC/build/strata}"
PROMTOOL="${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}"
PROMETHEUS="${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}"
TESTDATA="$STRATA_SRC/testdata/blocks"
export STRATA_SRC STRATA_BIN

ST_PASSED=0
ST_FAILED=0
ST_FAILED_NAMES=()
ST_TMPDIRS=()
ST_PIDS=()

st_log() { printf '%s\n' "$*" >&2; }
st_die() {
    printf 'FATAL: %s\n' "$*" >&2
    exit 2
}

st_pass() {
    ST_PASSED=$((ST_PASSED + 1))
    printf 'PASS %s\n' "$1"
}

# st_fail NAME [MESSAGE...]
st_fail() {
    local name="$1"
    shift
    ST_FAILED=$((ST_FAILED + 1))
    ST_FAILED_NAMES+=("$name")
    printf 'FAIL %s%s\n' "$name" "${1:+: $*}"
}

# Prints the summary line and returns non-zero if anything failed (use as the last command).
st_summary() {
    if [ "$ST_FAILED" -gt 0 ]; then
        printf 'failed:\n'
        printf '  %s\n' "${ST_FAILED_NAMES[@]:0:30}"
        [ "$ST_FAILED" -le 30 ] || printf '  ... and %d more\n' $((ST_FAILED - 30))
    fi
    printf '%d passed, %d failed\n' "$ST_PASSED" "$ST_FAILED"
    [ "$ST_FAILED" -eq 0 ] && [ "$ST_PASSED" -gt 0 ]
}

st_cleanup() {
    local rc=$?
    local pid
    for pid in "${ST_PIDS[@]+"${ST_PIDS[@]}"}"; do
        st_stop_pid "$pid"
    done
    local d
    for d in "${ST_TMPDIRS[@]+"${ST_TMPDIRS[@]}"}"; do
        [ -n "$d" ] && [ -d "$d" ] && rm -rf -- "$d"
    done
    return $rc
}
trap st_cleanup EXIT
trap 'exit 130' INT TERM

# st_mktemp VAR: creates a temp dir removed on exit and stores its path in VAR. (Not used in
# a $(...) subshell on purpose: the registration must happen in the main shell.)
st_mktemp() {
    local d
    d="$(mktemp -d "${TMPDIR:-/tmp}/strata-test.XXXXXX")"
    ST_TMPDIRS+=("$d")
    printf -v "$1" '%s' "$d"
}

st_track_pid() { ST_PIDS+=("$1"); }

# Stops one process we started: SIGTERM, wait up to 20 s, then SIGKILL.
st_stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        st_log "pid $pid did not stop after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

st_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || st_die "required tool not found: $c"
    done
}

# st_strata ARGS...: runs the strata binary (clear message if it was not built).
st_strata() {
    if [ ! -x "$STRATA_BIN" ]; then
        st_log "strata binary not found or not executable: $STRATA_BIN (set STRATA_BIN)"
        return 127
    fi
    "$STRATA_BIN" "$@"
}

# Block directories (ULID-named, with meta.json) directly inside a set directory, sorted.
st_blocks_of() {
    local set="$1" d
    for d in "$set"/*/; do
        d="${d%/}"
        [[ "$(basename "$d")" =~ ^[0-9A-HJKMNP-TV-Z]{26}$ ]] || continue
        [ -f "$d/meta.json" ] || continue
        printf '%s\n' "$d"
    done
}

# st_meta FIELD BLOCK_DIR: prints minTime, maxTime, ulid or stats.<x> from meta.json.
st_meta() {
    python3 - "$1" "$2/meta.json" <<'EOF'
import json, sys
field, path = sys.argv[1], sys.argv[2]
m = json.load(open(path))
for part in field.split("."):
    m = m.get(part, 0) if isinstance(m, dict) else 0
print(m)
EOF
}

# Newest maxTime / oldest minTime over the blocks of a set (or over block dirs given).
st_max_time() {
    python3 - "$@" <<'EOF'
import glob, json, os, sys
paths = []
for a in sys.argv[1:]:
    if os.path.isfile(os.path.join(a, "meta.json")):
        paths.append(os.path.join(a, "meta.json"))
    else:
        paths += glob.glob(os.path.join(a, "*", "meta.json"))
if not paths:
    sys.exit("no meta.json under " + " ".join(sys.argv[1:]))
print(max(json.load(open(p))["maxTime"] for p in paths))
EOF
}

st_min_time() {
    python3 - "$@" <<'EOF'
import glob, json, os, sys
paths = []
for a in sys.argv[1:]:
    if os.path.isfile(os.path.join(a, "meta.json")):
        paths.append(os.path.join(a, "meta.json"))
    else:
        paths += glob.glob(os.path.join(a, "*", "meta.json"))
if not paths:
    sys.exit("no meta.json under " + " ".join(sys.argv[1:]))
print(min(json.load(open(p))["minTime"] for p in paths))
EOF
}

# st_promtool_dump DB_DIR OUT [EXTRA_ARGS...]: promtool tsdb dump of a directory of blocks.
# Without an explicit --max-time it passes <newest maxTime - 1> (all samples are < maxTime),
# so promtool does not try to open DB_DIR/wal. A --max-time given in EXTRA_ARGS must also
# stay below the newest maxTime for the same reason. promtool 2.42 always leaves an empty
# DB_DIR/chunks_head/ behind: give it a staging dir (hard links), never testdata itself.
st_promtool_dump() {
    local db="$1" out="$2"
    shift 2
    local a have_max=0
    for a in "$@"; do
        case "$a" in --max-time=*) have_max=1 ;; esac
    done
    if [ $have_max -eq 0 ]; then
        set -- "$@" "--max-time=$(($(st_max_time "$db") - 1))"
    fi
    "$PROMTOOL" tsdb dump "$@" "$db" >"$out"
}

# st_compare_files NAME EXPECTED ACTUAL: pass/fail by sha256; shows the first differences.
st_compare_files() {
    local name="$1" exp="$2" act="$3" se sa
    se="$(sha256sum <"$exp" | cut -d' ' -f1)"
    sa="$(sha256sum <"$act" | cut -d' ' -f1)"
    if [ "$se" = "$sa" ]; then
        st_pass "$name ($(wc -l <"$exp") lines)"
        return 0
    fi
    st_fail "$name" "output differs (expected $(wc -l <"$exp") lines sha256 ${se:0:12}, got $(wc -l <"$act") lines sha256 ${sa:0:12})"
    diff "$exp" "$act" | head -n 20 | cut -c1-300 | sed 's/^/    /' || true
    return 1
}

# A TCP port on 127.0.0.1 that nothing listens on right now (the caller retries on a race).
st_free_port() {
    python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port found")
EOF
}

# st_http METHOD URL [OUT]: HTTP request with python3 (loopback only); body to OUT (or
# stdout); returns non-zero with a message unless the status is 2xx.
st_http() {
    python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else None
if not url.startswith("http://127.0.0.1:"):
    sys.exit("refusing non-loopback URL " + url)
req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
try:
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
except urllib.error.HTTPError as e:
    sys.stderr.write("HTTP %d from %s %s: %s\n" % (e.code, method, url, e.read()[:500]))
    sys.exit(1)
except Exception as e:
    sys.stderr.write("%s %s failed: %s\n" % (method, url, e))
    sys.exit(1)
if out:
    open(out, "wb").write(body)
else:
    sys.stdout.buffer.write(body)
EOF
}

# st_start_prometheus DATA_DIR WORK_DIR [EXTRA_FLAGS...]
# Starts the real Prometheus on 127.0.0.1 with a config that has no scrape targets, on a
# free port (retried if the port got taken meanwhile), and waits for /-/ready. Sets
# ST_PROM_PID, ST_PROM_PORT, ST_PROM_LOG (WORK_DIR/prometheus-<port>.log). The PID is
# tracked, so the EXIT trap stops it; stop it earlier with st_stop_pid "$ST_PROM_PID".
st_start_prometheus() {
    local data="$1" work="$2"
    shift 2
    local cfg="$work/prometheus.yml" attempt port pid log i
    printf 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n' >"$cfg"
    for attempt in 1 2 3 4 5; do
        port="$(st_free_port)"
        log="$work/prometheus-$port.log"
        ST_PROM_LOG=$log
        "$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$data" \
            --web.listen-address="127.0.0.1:$port" \
            --storage.tsdb.retention.time=36500d --log.level=info "$@" >"$log" 2>&1 &
        pid=$!
        st_track_pid "$pid"
        for i in $(seq 1 600); do
            kill -0 "$pid" 2>/dev/null || break
            if st_http GET "http://127.0.0.1:$port/-/ready" /dev/null 2>/dev/null; then
                ST_PROM_PID=$pid
                ST_PROM_PORT=$port
                ST_PROM_LOG=$log
                return 0
            fi
            sleep 0.1
        done
        st_stop_pid "$pid"
        if grep -q 'address already in use' "$log"; then
            st_log "port $port was taken, retrying"
            continue
        fi
        st_log "prometheus did not become ready (data $data); log tail:"
        tail -n 30 "$log" >&2
        return 1
    done
    st_log "prometheus: no free port after 5 attempts"
    return 1
}

# Log lines of a Prometheus log at level warn/error (empty if none).
st_prom_log_problems() {
    grep -E 'level=(error|warn)' "$1" || true
}

# st_make_set OUTDIR ARGS...: generate + promtool (see make_block.sh for ARGS).
st_make_set() {
    bash "$ST_LIB_DIR/make_block.sh" --out "$@"
}

# st_ha_seed OUT SERIES [CLUSTER]: a bucket directory of two HA replicas (external labels
# {cluster=CLUSTER (c1), replica="a"|"b"}, 5 s apart), three consecutive 2h blocks each, as a
# Thanos sidecar uploads them (no tombstones file).
st_ha_seed() {
    local out=$1 series=$2 cluster=${3:-c1} r d
    mkdir -p "$out" "$out.ra" "$out.rb"
    st_make_set "$out.ra" --profile realistic --series "$series" --hours 6 --seed 5 >/dev/null
    st_make_set "$out.rb" --profile realistic --series "$series" --hours 6 --seed 5 --ts-offset-ms 5000 >/dev/null
    for r in a b; do
        for d in "$out.r$r"/*/; do
            python3 - "$d/meta.json" "$r" "$cluster" <<'PY'
import json, sys
p, r, c = sys.argv[1], sys.argv[2], sys.argv[3]
m = json.load(open(p))
m["thanos"] = {"labels": {"cluster": c, "replica": r}, "downsample": {"resolution": 0},
               "source": "sidecar"}
open(p, "w").write(json.dumps(m, indent="\t"))
PY
            rm -f "$d/tombstones"
            mv "$d" "$out/"
        done
        rmdir "$out.r$r"
    done
}

# st_visible BUCKET_DIR: the block dirs readers see (meta.json, no deletion mark).
st_visible() {
    local d
    for d in "$1"/*/; do
        [ -f "$d/meta.json" ] && [ ! -f "$d/deletion-mark.json" ] && echo "${d%/}"
    done
    return 0
}

# st_block_ranges BUCKET_DIR: sorted "minTime maxTime labels level" of the visible blocks.
st_block_ranges() {
    local d
    for d in $(st_visible "$1"); do
        python3 -c "
import json,sys; m=json.load(open(sys.argv[1]))
print(m['minTime'], m['maxTime'], json.dumps(m['thanos']['labels'], sort_keys=True), m['compaction']['level'])" "$d/meta.json"
    done | sort
}

# ---- the local S3 server (Swift s3api) --------------------------------------------------------
# st_s3_start WORK: start it under WORK/swift (stopped on exit), create bucket "thanos", write the
# objstore config WORK/s3.yml. Sets S3_URL (credentials inside) and S3_SIG (curl flags).
st_s3_start() {
    local work=$1 port code
    /usr/bin/python3 -c 'import swift.common.middleware.s3api' 2>/dev/null ||
        st_die "python3-swift is not installed (bash scripts/deps.sh)"
    ST_S3_DIR="$work/swift"
    trap 'rc=$?; bash "$ST_LIB_DIR/s3_stop.sh" "$ST_S3_DIR"; st_cleanup; exit $rc' EXIT
    port="$(S3_WATCH_PID=$$ bash "$ST_LIB_DIR/s3_start.sh" "$ST_S3_DIR" 0)" ||
        st_die "the Swift s3api server did not start"
    S3_URL="http://test%3Atester:testing@127.0.0.1:$port"
    S3_SIG=(--aws-sigv4 "aws:amz:us-east-1:s3")
    ST_EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    code="$(curl -sS "${S3_SIG[@]}" -X PUT -H "x-amz-content-sha256: $ST_EMPTY_SHA" "$S3_URL/thanos" \
        -o /dev/null -w '%{http_code}')"
    [ "$code" = 200 ] || st_die "create bucket: HTTP $code"
    cat >"$work/s3.yml" <<YML
type: S3
config:
  bucket: thanos
  endpoint: 127.0.0.1:$port
  access_key: "test:tester"
  secret_key: testing
  insecure: true
YML
}

# st_s3_upload DIR: put every file under DIR into the bucket with the curl CLI.
st_s3_upload() {
    local dir=$1 f rel sha code
    while IFS= read -r f; do
        rel="${f#"$dir"/}"
        sha="$(sha256sum "$f" | cut -d' ' -f1)"
        code="$(curl -sS "${S3_SIG[@]}" -T "$f" -H "x-amz-content-sha256: $sha" "$S3_URL/thanos/$rel" \
            -o /dev/null -w '%{http_code}')"
        [ "$code" = 200 ] || st_die "upload $rel: HTTP $code"
    done < <(find "$dir" -type f | sort)
}

# st_s3_mirror OUT: download the whole bucket (at most 1000 keys) with curl into OUT.
st_s3_mirror() {
    local out=$1 key
    rm -rf "$out"
    mkdir -p "$out"
    curl -sS "${S3_SIG[@]}" -H "x-amz-content-sha256: $ST_EMPTY_SHA" \
        "$S3_URL/thanos?list-type=2&max-keys=1000" -o "$out.list.xml"
    python3 - "$out.list.xml" >"$out.keys" <<'PY'
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
        curl -sS "${S3_SIG[@]}" -H "x-amz-content-sha256: $ST_EMPTY_SHA" "$S3_URL/thanos/$key" -o "$out/$key"
    done <"$out.keys"
}
