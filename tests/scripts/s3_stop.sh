#!/usr/bin/env bash
# s3_stop.sh DIR: stops the test server that s3_start.sh started in DIR: SIGTERM to its process
# group, SIGKILL after 15 s. Only a group led by our s3_server.py is signalled (a recycled pid
# is left alone). Stopping a server that is not running is not an error.
set -uo pipefail
dir="${1:?usage: $0 DIR}"
pidf="$dir/supervisor.pid"
[ -f "$pidf" ] || exit 0
pid="$(cat "$pidf")"
case "$pid" in '' | *[!0-9]*) exit 0 ;; esac
if ! { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q 's3_server.py'; then
    rm -f "$pidf"
    exit 0
fi
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "s3_stop: server $pid did not stop after SIGTERM; sending SIGKILL" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true
fi
# the swift servers are in the same process group; make sure none is left
kill -KILL -- "-$pid" 2>/dev/null || true
rm -f "$pidf"
exit 0
