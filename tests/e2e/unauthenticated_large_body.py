#!/usr/bin/python3
"""A client without a valid key must not make the server hold its body.

The API read and buffered the whole body (up to ~36 MB) before looking at
the Authorization header, so anyone who can reach the port could pin
~33 MB of memory per connection (8 connections: ~280 MB; no connection cap).
Expected: a request without a valid key is answered 401 once its headers
are read, without waiting for the body, and memory stays flat.
"""

import socket
import time

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("unauthenticated_large_body")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
BODY = 30 * 1024 * 1024


def rss_mb():
    for line in open(f"/proc/{cp.proc.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def head(authorization):
    h = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if authorization is not None:
        h += b"Authorization: " + authorization + b"\r\n"
    return h + b"Content-Length: %d\r\n\r\n" % BODY


# 1. Headers only, no body: the 401 must come without the body.
for label, authz in (("no Authorization", None), ("unknown key", b"Bearer cpk_000000000000_x")):
    c = socket.create_connection(("127.0.0.1", cp.port), timeout=5)
    c.sendall(head(authz))
    try:
        answer = c.recv(200)
    except socket.timeout:
        answer = b"(nothing within 5 s)"
    c.close()
    s.check(answer.startswith(b"HTTP/1.1 401"),
            f"{label}: 401 before the body is sent ({answer[:40]!r})")

# 2. Bodies that are sent but never finished stay off the heap.
before = rss_mb()
conns = []
chunk = b"A" * (1 << 20)
for i in range(8):
    c = socket.create_connection(("127.0.0.1", cp.port), timeout=10)
    try:
        c.sendall(head(None))
        for _ in range(29):
            c.sendall(chunk)
    except OSError:
        pass  # the server may close at once: that is the point
    conns.append(c)
time.sleep(1)
grown = rss_mb() - before
for c in conns:
    c.close()
s.check(grown < 100, f"8 unauthenticated 29 MB uploads grow memory by {grown} MB (< 100)")
s.check(cp.request("GET", "/v1/health")[0] == 200, "server still answers")
s.finish()
