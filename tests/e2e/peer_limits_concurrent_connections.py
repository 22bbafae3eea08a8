#!/usr/bin/python3
"""A peer that takes only two connections at a time must not defer the queue.

Many receiving MTAs cap concurrent connections per client and answer an
extra one with "421 4.7.0 too many connections" in the greeting. carepost
opens up to four sessions per domain; when the third and fourth are refused
while two sessions are delivering fine, every job queued for the domain was
settled as `deferred` (reason greeting_rejected) by the refused session, and
the two healthy sessions then found nothing to send. The same happens again
at every retry, so 200 messages to such a peer take many backoff rounds.

Expected: a refused extra connection costs at most the job it held; the
sessions that are up deliver the rest. With a 30 s backoff, at least 196 of
200 messages arrive within 20 s, and all of them within 90 s.
"""

import json
import os
import sqlite3
import subprocess
import time

from harness import PYTHON, SUPPORT, Carepost, Scenario, TestCA, free_port, wait_port

# smtp_sink.py with a cap of concurrent sessions: one more is greeted with
# 421 and closed.
LIMITED_SINK = r'''
import sys
sys.path.insert(0, sys.argv.pop(1))
limit = int(sys.argv.pop(1))
import smtp_sink
active = [0]
plain_run = smtp_sink.Session.run
async def run(self):
    if active[0] >= limit:
        self.sink.log("refused", session=self.session_id)
        self.writer.write(b"421 4.7.0 too many concurrent connections\r\n")
        await self.writer.drain()
        self.writer.close()
        return
    active[0] += 1
    try:
        await plain_run(self)
    finally:
        active[0] -= 1
smtp_sink.Session.run = run
smtp_sink.main()
'''

TOTAL = 200
os.environ["CAREPOST_DELIVERY_BACKOFF_SECONDS"] = "30"

s = Scenario("peer_limits_concurrent_connections")
ca = TestCA(s.folder)
port = free_port()
out = os.path.join(s.folder, "limited")
os.makedirs(out)
peer = subprocess.Popen([PYTHON, "-c", LIMITED_SINK, SUPPORT, "2", "--port", str(port), "--dir", out,
                         "--tls-cert", ca.cert, "--tls-key", ca.key, "--max-seconds", "300"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s.cleanups.append(peer.terminate)
wait_port(port)

# Queue everything first (delivery off), so that the engine finds the whole
# backlog due at once when it starts.
os.environ["CAREPOST_DELIVERY_ENABLED"] = "false"
cp = Carepost(s.folder, {"example.org": f"localhost:{port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
accepted = 0
for i in range(TOTAL):
    st, _ = cp.send({"from": FROM, "to": [f"patient{i}@example.org"], "subject": "Reminder",
                     "text": "See you soon."})
    accepted += st == 202
s.check(accepted == TOTAL, f"{TOTAL} messages accepted ({accepted})")
cp.stop()
del os.environ["CAREPOST_DELIVERY_ENABLED"]
cp.start()
started = time.time()

db = sqlite3.connect(f"{cp.folder}/data/carepost.db")


def delivered():
    return db.execute("SELECT COUNT(*) FROM recipients WHERE status = 'delivered'").fetchone()[0]


count = 0
while time.time() - started < 20:
    count = delivered()
    if count >= TOTAL:
        break
    time.sleep(0.5)
events = [json.loads(line) for line in open(os.path.join(out, "sessions.log")) if line.strip()]
refused = sum(1 for e in events if e["event"] == "refused")
reasons = dict(db.execute("SELECT reason, COUNT(*) FROM recipients WHERE status = 'deferred' "
                          "GROUP BY reason").fetchall())
print(f"  after 20 s: {count} delivered, {refused} connections refused, deferred: {reasons}")
s.check(count >= TOTAL - 4,
        f"the two accepted sessions deliver the queue: >= {TOTAL - 4} of {TOTAL} within 20 s "
        f"({count}; deferred {reasons})")

while time.time() - started < 90 and count < TOTAL:
    time.sleep(1)
    count = delivered()
s.check(count == TOTAL, f"every message delivered within 90 s ({count})")
s.check(cp.proc.poll() is None, "server still running")
db.close()
s.finish()
