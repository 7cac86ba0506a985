#!/usr/bin/env bash
# s3_start.sh DIR PORT: starts the Swift s3api test server (s3_server.py) with its data in DIR,
# listening on 127.0.0.1 PORT (S3) and PORT+1..PORT+3 (Swift's object, container and account
# servers), and waits until all four health checks answer and a signed ListBuckets returns 200.
# PORT 0 picks a free block of four ports below the ephemeral range (retrying on another block
# if one is taken meanwhile). The port in use is printed on stdout and written to DIR/port.
# The server runs in its own process group (pid in DIR/supervisor.pid) and stops on
# `s3_stop.sh DIR`, on SIGTERM, or by itself when the process that called this script exits
# (override with S3_WATCH_PID). On failure it prints the log tails, stops what it started and
# exits non-zero. Credentials: test:tester / testing, region us-east-1.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
dir="$1"
want_port="$2"
here="$(cd "$(dirname "$0")" && pwd)"
watch="${S3_WATCH_PID:-$PPID}"
mkdir -p "$dir/log"
dir="$(cd "$dir" && pwd)"

# Ports come from below the kernel's ephemeral range, so that no client connection of a test
# running beside this one takes one of them between the check here and the servers' bind.
free_block() {
    /usr/bin/python3 - <<'PY'
import random, socket
lo, hi = 10000, 30000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_lo, eph_hi = (int(x) for x in f.read().split())
    if eph_lo - 4 > lo + 1000:
        hi = eph_lo - 4
    else:  # an unusual range starting low: use the ports above it
        lo, hi = eph_hi + 1, 65531
except (OSError, ValueError):
    pass
for _ in range(200):
    p = random.randint(lo, hi)
    ok = True
    for k in range(4):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p + k))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
else:
    raise SystemExit("no free block of 4 ports")
PY
}

ready() {
    local k
    for k in 0 1 2 3; do
        curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$((port + k))/healthcheck" || return 1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "http://test%3Atester:testing@127.0.0.1:$port/")" = 200 ]
}

logs() {
    tail -n 20 "$dir"/log/*.log >&2 || true
}

for attempt in 1 2 3 4 5; do
    port="$want_port"
    [ "$port" = 0 ] && port="$(free_block)"
    setsid /usr/bin/python3 "$here/s3_server.py" --dir "$dir" --port "$port" --watch-pid "$watch" \
        >"$dir/log/supervisor.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/supervisor.pid"
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null && rc=0 || rc=$?
            if [ "$rc" = 3 ] && [ "$want_port" = 0 ]; then
                continue 2 # a port was taken meanwhile: another block
            fi
            echo "s3_start: the server exited during start-up (status $rc); logs:" >&2
            logs
            exit 1
        fi
        if ready; then
            echo "$port" >"$dir/port"
            echo "$port"
            exit 0
        fi
        sleep 0.2
    done
    echo "s3_start: not ready after 60 s; logs:" >&2
    logs
    bash "$here/s3_stop.sh" "$dir"
    exit 1
done
echo "s3_start: no free ports after 5 attempts" >&2
exit 1
