#!/usr/bin/python3
"""A throw-away single-node OpenStack Swift with the s3api middleware on 127.0.0.1: a real,
signature-verifying S3 server for strata's tests (../../shared/reference/s3-test-server.md).

    /usr/bin/python3 s3_server.py --dir DIR --port PORT [--watch-pid PID]

Run it with Debian's /usr/bin/python3 (python3-swift lives in its dist-packages). Everything goes
into DIR: etc/ (swift.conf, four server configs, rings), srv/d1 (the one device), log/. Servers:
proxy (the S3 endpoint) on PORT, object on PORT+1, container on PORT+2, account on PORT+3, each a
process running swift.common.wsgi.run_wsgi with workers = 0, under this supervisor. SIGTERM or
SIGINT stops them all; each child gets a parent-death signal so none outlives the supervisor;
with --watch-pid the supervisor itself stops when that process is gone.

Exit status 3 means a port was taken (before start, or by a server that could not bind): the
caller may retry on other ports.

Credentials: access key test:tester, secret testing (tempauth user_test_tester). Region
us-east-1. Virtual-host style works as http://BUCKET.localhost:PORT/ (storage_domain).
"""

import argparse
import ctypes
import json
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1


def set_pdeathsig(sig=signal.SIGTERM):
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except OSError:
        pass


class DictCache(object):
    """The bits of swift.common.memcached.MemcacheRing that tempauth and the proxy use, in a
    process-local dict (the proxy runs as one process, so no memcached is needed)."""

    def __init__(self):
        self.d = {}

    def _live(self, key):
        v = self.d.get(key)
        if v is None:
            return None
        value, expires = v
        if expires and expires < time.time():
            del self.d[key]
            return None
        return value

    @staticmethod
    def _expiry(t):
        if not t:
            return 0
        return t if t > 30 * 24 * 3600 else time.time() + t

    def get(self, key, raise_on_error=False, **kw):
        v = self._live(key)
        return None if v is None else json.loads(v)

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False, **kw):
        self.d[key] = (json.dumps(value), self._expiry(time))

    def incr(self, key, delta=1, time=0, **kw):
        v = (self.get(key) or 0) + delta
        self.set(key, v, time=time)
        return v

    def decr(self, key, delta=1, time=0, **kw):
        return self.incr(key, -delta, time=time)

    def delete(self, key, server_key=None, **kw):
        self.d.pop(key, None)

    def get_multi(self, keys, server_key=None, **kw):
        return [self.get(k) for k in keys]

    def set_multi(self, mapping, server_key=None, serialize=True, time=0,
                  min_compress_len=0, **kw):
        for k, v in mapping.items():
            self.set(k, v, time=time)


def dict_cache_filter(global_conf, **local_conf):
    """paste.deploy filter factory: puts one DictCache into every request's environ."""
    cache = DictCache()

    def factory(app):
        def middleware(env, start_response):
            env["swift.cache"] = cache
            return app(env, start_response)
        return middleware
    return factory


SERVERS = [
    # (name, port offset, egg entry, ring)
    ("proxy-server", 0, "proxy", None),
    ("object-server", 1, "object", "object"),
    ("container-server", 2, "container", "container"),
    ("account-server", 3, "account", "account"),
]


def write_configs(root, port, region, access_key, secret, min_part):
    etc = os.path.join(root, "etc")
    srv = os.path.join(root, "srv")
    for d in (etc, os.path.join(srv, "d1"), os.path.join(root, "log")):
        os.makedirs(d, exist_ok=True)
    account, user = access_key.split(":", 1)
    user_line = "user_%s_%s = %s .admin" % (account, user, secret)
    with open(os.path.join(etc, "swift.conf"), "w") as f:
        f.write("[swift-hash]\nswift_hash_path_prefix = strata\n"
                "swift_hash_path_suffix = strata-test\n\n"
                "[storage-policy:0]\nname = gold\ndefault = yes\n\n"
                "[swift-constraints]\nmax_file_size = 10737418240\n"
                "max_meta_value_length = 1024\n")
    common = ("[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = %d\nbind_timeout = 3\nworkers = 0\n"
              "mount_check = false\ndevices = %s\nswift_dir = %s\nuser = %s\n"
              "disable_fallocate = true\nlog_level = INFO\nlog_name = %s\n"
              "log_address = %s\n\n")
    whoami = __import__("pwd").getpwuid(os.getuid()).pw_name
    nolog = os.path.join(root, "log", "no-syslog")  # not a socket: no syslog traffic
    for name, off, egg, _ in SERVERS:
        path = os.path.join(etc, name + ".conf")
        with open(path, "w") as f:
            f.write(common % (port + off, srv, etc, whoami, name, nolog))
            if name == "proxy-server":
                f.write(
                    "[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck "
                    "proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo "
                    "versioned_writes proxy-logging proxy-server\n\n"
                    "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
                    "allow_account_management = true\n\n"
                    "[filter:catch_errors]\nuse = egg:swift#catch_errors\n\n"
                    "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n"
                    "[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n"
                    "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n"
                    "[filter:cache]\npaste.filter_factory = s3_server:dict_cache_filter\n\n"
                    "[filter:listing_formats]\nuse = egg:swift#listing_formats\n\n"
                    "[filter:bulk]\nuse = egg:swift#bulk\n\n"
                    "[filter:s3api]\nuse = egg:swift#s3api\nlocation = %s\n"
                    "storage_domain = localhost\nmin_segment_size = %d\n"
                    "max_upload_part_num = 10000\n\n"
                    "[filter:tempauth]\nuse = egg:swift#tempauth\n%s\n\n"
                    "[filter:copy]\nuse = egg:swift#copy\n\n"
                    "[filter:slo]\nuse = egg:swift#slo\nmax_manifest_segments = 10000\n\n"
                    "[filter:dlo]\nuse = egg:swift#dlo\n\n"
                    "[filter:versioned_writes]\nuse = egg:swift#versioned_writes\n"
                    % (region, min_part, user_line))
            else:
                f.write("[pipeline:main]\npipeline = healthcheck %s\n\n"
                        "[app:%s]\nuse = egg:swift#%s\n\n"
                        "[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
                        % (name, name, egg))
                if name == "object-server":
                    f.write("\n[object-replicator]\n[object-updater]\n[object-auditor]\n")
                elif name == "container-server":
                    f.write("\n[container-replicator]\n[container-updater]\n"
                            "[container-auditor]\n[container-sync]\n")
                else:
                    f.write("\n[account-replicator]\n[account-auditor]\n[account-reaper]\n")
    return etc


def build_rings(etc, port):
    from swift.common.ring import RingBuilder
    for name, off, _, ring in SERVERS:
        if not ring:
            continue
        gz = os.path.join(etc, ring + ".ring.gz")
        b = RingBuilder(6, 1, 1)
        b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port + off,
                   "replication_ip": "127.0.0.1", "replication_port": port + off,
                   "device": "d1", "weight": 100, "meta": ""})
        b.rebalance()
        b.save(os.path.join(etc, ring + ".builder"))
        b.get_ring().save(gz)


def run_server(root, etc, name):
    """Child: one WSGI server in the foreground; stderr goes to log/<name>.log."""
    set_pdeathsig(signal.SIGTERM)
    log = os.open(os.path.join(root, "log", name + ".log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from swift.common import utils, wsgi
    utils.set_swift_dir(etc)
    try:
        from swift.common import constraints, storage_policy
        constraints.reload_constraints()
        storage_policy.reload_storage_policies()
    except Exception:  # older layouts reload on set_swift_dir alone
        pass
    try:
        rc = wsgi.run_wsgi(os.path.join(etc, name + ".conf"), name, verbose=True)
    except BaseException as e:  # noqa: B036 - report whatever stopped the server
        sys.stderr.write("%s: %r\n" % (name, e))
        rc = 1
    sys.stderr.write("%s: run_wsgi returned %r\n" % (name, rc))
    sys.stderr.flush()
    os._exit(rc or 0)


def bind_failed(root, name):
    """True when server NAME stopped because its port was taken after ports_free checked it."""
    try:
        with open(os.path.join(root, "log", name + ".log"), errors="replace") as f:
            return "Could not bind" in f.read()
    except OSError:
        return False


def ports_free(port):
    import socket
    for k in range(len(SERVERS)):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port + k))
        except OSError:
            return port + k
        finally:
            s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key", default=os.environ.get("S3_ACCESS_KEY", "test:tester"))
    ap.add_argument("--secret-key", default=os.environ.get("S3_SECRET_KEY", "testing"))
    ap.add_argument("--min-part-size", type=int, default=5 * 1024 * 1024,
                    help="s3api min_segment_size (AWS: 5 MiB)")
    ap.add_argument("--watch-pid", type=int, default=0,
                    help="stop when this process no longer exists")
    a = ap.parse_args()
    root = os.path.abspath(a.dir)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

    busy = ports_free(a.port)
    if busy:
        sys.stderr.write("s3_server: port %d is in use\n" % busy)
        return 3
    etc = write_configs(root, a.port, a.region, a.access_key, a.secret_key, a.min_part_size)
    build_rings(etc, a.port)

    children = {}
    stopping = [False]

    def stop(signum=None, frame=None):
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    for name, _, _, _ in SERVERS:
        pid = os.fork()
        if pid == 0:
            try:
                run_server(root, etc, name)
            finally:
                os._exit(1)
        children[pid] = name
    with open(os.path.join(root, "supervisor.pid"), "w") as f:
        f.write("%d\n" % os.getpid())

    rc = 0
    while not stopping[0]:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            name = children.pop(pid, "?")
            sys.stderr.write("s3_server: %s exited (status %d); stopping\n" % (name, status))
            rc = 3 if bind_failed(root, name) else 1
            break
        if a.watch_pid:
            try:
                os.kill(a.watch_pid, 0)
            except ProcessLookupError:
                sys.stderr.write("s3_server: watched pid %d is gone; stopping\n" % a.watch_pid)
                break
            except PermissionError:
                pass
        time.sleep(0.2)

    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    while children and time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
