#!/usr/bin/python3
"""A second `carepost serve` on the same data directory.

Start-up treats every recipient marked `sending` as left over by a crash
and requeues it ("single node: no other process can hold them"); nothing
checks that no other server is using the data directory. So:
- `serve` started again with the same configuration requeues the running
  server's in-flight work before it finds the API port taken and exits;
- with another API port (CAREPOST_SERVER_LISTEN) both servers run, and
  each of the 12 messages in flight at the first one is delivered again by
  the second: 24 copies at the peer.

Expected: a second server on a data directory in use refuses to start
(non-zero exit within 10 s) without touching the queue, and every message
arrives exactly once.
"""

import os
import subprocess
import time

from harness import BIN, Carepost, Scenario, Sink, TestCA, free_port


s = Scenario("second_serve_on_same_data_dir")
ca = TestCA(s.folder)
peer = Sink(s.folder, "peer", ca, extra=["--data-reply-delay", "5"])
s.cleanups.append(peer.stop)
port, out = peer.port, peer.dir
cp = Carepost(s.folder, {"example.org": f"localhost:{port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
ids = []
for i in range(12):
    st, doc = cp.send({"from": FROM, "to": [f"patient{i}@example.org"], "subject": "Reminder",
                       "text": "x"})
    ids.append(doc["id"])
time.sleep(1)  # the first server has them in flight (the peer holds each 250 for 5 s)

# 1. The same configuration again: the port is taken.
same = subprocess.run([BIN, "serve", "--config", cp.config], capture_output=True, text=True,
                      timeout=60)
s.check(same.returncode != 0, f"a second serve with the same configuration exits ({same.returncode})")
s.check("requeued_after_interruption" not in same.stderr,
        "... without requeueing the running server's in-flight work "
        f"({same.stderr.count('requeued_after_interruption')} requeued)")

# 2. Another API port: both would run on one database.
second = subprocess.Popen([BIN, "serve", "--config", cp.config],
                          env=dict(os.environ, CAREPOST_SERVER_LISTEN=f"127.0.0.1:{free_port()}"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    second.wait(10)
except subprocess.TimeoutExpired:
    pass
running = second.poll() is None
s.check(not running, "a second serve on the same data directory refuses to start")
time.sleep(25)
if running:
    second.terminate()
    second.wait(30)

for mid in ids:
    doc = cp.wait_status(mid, seconds=30)
copies = len([f for f in os.listdir(out) if f.endswith(".eml")])
s.check(copies == len(ids), f"each message arrives once ({copies} copies of {len(ids)})")
s.finish()
