#!/usr/bin/python3
"""When every file descriptor is taken, the server must wait, not spin.

Idle connections (which anyone who can reach the port may open) use up the
process's descriptors. The accept loop then failed at once with EMFILE,
logged a warning and tried again immediately: about 90 MB of identical log
lines in 3 s and a whole core busy, until the connections went away.
Expected: accept failures back off; logging about them stays small; the
server answers again once descriptors are free.

The server runs here with RLIMIT_NOFILE 128 so that 200 connections suffice.
"""

import os
import resource
import socket
import subprocess
import time

import harness
from harness import Carepost, Scenario, Sink, TestCA


def start_with_few_descriptors(self):
    self.log = open(self.log_path, "ab")
    self.proc = subprocess.Popen(
        [harness.BIN, "serve", "--config", self.config], stdout=self.log, stderr=self.log,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)))
    harness.wait_port(self.port)


Carepost.start = start_with_few_descriptors

s = Scenario("file_descriptors_exhausted")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)


def cpu_seconds():
    fields = open(f"/proc/{cp.proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


conns = []
for _ in range(200):
    try:
        c = socket.create_connection(("127.0.0.1", cp.port), timeout=2)
        c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        conns.append(c)
    except OSError:
        break
time.sleep(0.5)
log_before, cpu_before = os.path.getsize(cp.log_path), cpu_seconds()
time.sleep(3)
log_grown = os.path.getsize(cp.log_path) - log_before
cpu_used = cpu_seconds() - cpu_before
s.check(log_grown < 1_000_000, f"log grew by {log_grown} bytes in 3 s while descriptors ran out")
s.check(cpu_used < 0.5, f"{cpu_used:.2f} s of CPU in 3 s while descriptors ran out")

for c in conns:
    c.close()
time.sleep(1.5)
s.check(cp.request("GET", "/v1/health")[0] == 200, "answers again once descriptors are free")
s.check(cp.proc.poll() is None, "server still running")
s.finish()
