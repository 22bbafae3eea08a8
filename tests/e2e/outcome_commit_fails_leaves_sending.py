#!/usr/bin/python3
"""A delivery whose outcome cannot be committed must not stay `sending`.

The peer takes the message and answers the final 250 four seconds later.
Meanwhile another process holds the database's write lock for 25 s (a
backup, an operator's sqlite3 shell), longer than the writer's busy
timeout twice over. The batch carrying the `delivered` outcome fails
(`record_failed` in the log); the engine forgets the recipient, but the
store still says `sending`: GET /v1/messages/{id} shows `sending` for as
long as the process runs, the audit log never gets `message.delivered`, and
the next start requeues the recipient and sends the message again. A full
disk during the outcome commit (SQLITE_FULL) leaves it `sending` the same way.

Expected: the outcome is written once the lock is gone: the recipient reads
`delivered` within 30 s of the release, the audit has its
`message.delivered`, and a restart sends nothing twice. Accepts tried during
the lock get a clean 503 JSON error; acknowledged messages survive.
"""

import json
import os
import sqlite3
import threading
import time

from harness import Carepost, Scenario, Sink, TestCA

LOCK_SECONDS = 25

s = Scenario("outcome_commit_fails_leaves_sending")
ca = TestCA(s.folder)
peer = Sink(s.folder, "slow", ca, extra=["--data-reply-delay", "4"])
s.cleanups.append(peer.stop)
port, out = peer.port, peer.dir
cp = Carepost(s.folder, {"example.org": f"localhost:{port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}


def stored():
    return sorted(f for f in os.listdir(out) if f.endswith(".eml"))


def peer_events(name):
    path = os.path.join(out, "sessions.log")
    return [e for e in (json.loads(line) for line in open(path) if line.strip())
            if e["event"] == name] if os.path.exists(path) else []


st, doc = cp.send({"from": FROM, "to": ["patient@example.org"], "subject": "Results",
                   "text": "Your results are ready."})
s.check(st == 202, "accepted")
mid = doc["id"]
deadline = time.time() + 30
while time.time() < deadline and not peer_events("slow_reply_begin"):
    time.sleep(0.05)
s.check(bool(peer_events("slow_reply_begin")), "the peer holds the final reply")

# Another process takes the write lock while the 250 is on its way.
lock = sqlite3.connect(f"{cp.folder}/data/carepost.db", isolation_level=None)
lock.execute("BEGIN IMMEDIATE")
locked_at = time.time()
during = {}


def send_during_lock():
    during["answer"] = cp.send({"from": FROM, "to": ["other@example.org"], "subject": "x",
                                "text": "x"})


sender = threading.Thread(target=send_during_lock)
sender.start()
time.sleep(max(0.0, LOCK_SECONDS - (time.time() - locked_at)))
lock.execute("ROLLBACK")
lock.close()
released_at = time.time()
sender.join(60)
st, body = during.get("answer", (None, None))
s.check(st == 202 or (st is not None and st >= 500 and isinstance(body, dict) and
                     "error" in body), f"a send during the lock gets 202 or a clean 5xx JSON error ({st} {body})")

status = None
while time.time() - released_at < 30:
    _, doc = cp.request("GET", f"/v1/messages/{mid}")
    status = doc["recipients"][0]["status"]
    if status == "delivered":
        break
    time.sleep(0.5)
s.check(status == "delivered",
        f"the peer's 250 is recorded once the lock is gone ({status} "
        f"{time.time() - released_at:.0f} s after the release)")
s.check(len(stored()) == 1, f"the peer has the message once ({len(stored())})")

# A restart must not send it again.
cp.stop()
db = sqlite3.connect(f"{cp.folder}/data/carepost.db")
actions = [a for (a,) in db.execute("SELECT action FROM audit WHERE message_id = ?", (mid,))]
db.close()
s.check("message.delivered" in actions, f"the audit holds message.delivered ({sorted(set(actions))})")
cp.start()
time.sleep(8)
_, doc = cp.request("GET", f"/v1/messages/{mid}")
s.check(doc["recipients"][0]["status"] == "delivered" and len(stored()) == 1,
        f"after a restart: {doc['recipients'][0]['status']}, {len(stored())} copy(ies) at the peer")
verify = cp.admin("audit", "verify", check=False)
s.check(verify.returncode == 0, f"audit chain intact: {verify.stdout.strip()}")
s.finish()
