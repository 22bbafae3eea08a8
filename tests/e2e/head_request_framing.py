#!/usr/bin/python3
"""A HEAD response carries no body (RFC 9110 §9.3.2, RFC 9112 §6.3).

`HEAD /v1/health` (what many load balancers probe with) was answered with
the JSON body after the headers. On a keep-alive connection the client then
reads those bytes as the start of the next response, and every later answer
on that connection is out of step. Expected: headers only, and the next
request on the same connection gets its own, well-formed answer.
"""

import socket

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("head_request_framing")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)

c = socket.create_connection(("127.0.0.1", cp.port), timeout=5)
c.sendall(b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
try:
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
c.close()

head_end = data.find(b"\r\n\r\n")
s.check(data.startswith(b"HTTP/1.1 200"), f"HEAD answered 200 ({data[:20]!r})")
after_head = data[head_end + 4:] if head_end >= 0 else b""
s.check(after_head.startswith(b"HTTP/1.1 200"),
        f"the next response starts right after the HEAD headers ({after_head[:24]!r})")
s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
