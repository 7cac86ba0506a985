#!/usr/bin/python3
"""A TLS terminator for tests: accepts TLS on 127.0.0.1:PORT with CERT/KEY and pipes the bytes
to 127.0.0.1:BACKEND (the Swift s3api server), so the S3 client's TLS paths (verification,
ca_file, UNSIGNED-PAYLOAD uploads) run against the real server. Loopback only; stops on SIGTERM
or when --watch-pid is gone.

    /usr/bin/python3 s3_tls_proxy.py --port P --backend B --cert srv.pem --key srv.key
"""
import argparse
import os
import select
import socket
import ssl
import sys
import threading
import time


def pipe(tls, up):
    socks = [tls, up]
    try:
        while True:
            ready = [tls] if tls.pending() else []
            if not ready:
                ready, _, _ = select.select(socks, [], [], 300)
                if not ready:
                    return
            for s in ready:
                try:
                    data = s.recv(1 << 16)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    return
                (up if s is tls else tls).sendall(data)
    except (OSError, ssl.SSLError):
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def serve(ctx, conn, backend):
    try:
        conn.settimeout(30)
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.settimeout(None)
    except (OSError, ssl.SSLError):
        conn.close()  # the client refused our certificate: that is a test case
        return
    try:
        up = socket.create_connection(("127.0.0.1", backend))
    except OSError:
        tls.close()
        return
    pipe(tls, up)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--backend", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--watch-pid", type=int, default=0)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    ls.settimeout(0.5)
    while True:
        if a.watch_pid:
            try:
                os.kill(a.watch_pid, 0)
            except ProcessLookupError:
                return 0
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(ctx, conn, a.backend), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
