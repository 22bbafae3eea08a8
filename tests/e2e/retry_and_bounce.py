#!/usr/bin/python3
"""Replies decide outcomes: 5xx bounces at once, 4xx defers on the backoff
schedule until the maximum age fails it, a peer that hangs up is retried,
and the audit chain records each step (and detects tampering)."""

import socket
import sqlite3
import threading

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("retry_and_bounce")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca, extra=["--rcpt-reply", "^busy@=451 4.2.1 mailbox busy",
                                         "--rcpt-reply", "^nobody@=550 5.1.1 no such user"])
s.cleanups.append(sink.stop)

# A peer that greets and hangs up at once.
rude = socket.socket()
rude.bind(("127.0.0.1", 0))
rude.listen(16)
rude_port = rude.getsockname()[1]
stop_rude = threading.Event()


def hang_up():
    rude.settimeout(0.2)
    while not stop_rude.is_set():
        try:
            c, _ = rude.accept()
            c.sendall(b"220 rude.test ESMTP\r\n")
            c.close()
        except OSError:
            pass


threading.Thread(target=hang_up, daemon=True).start()
s.cleanups.append(stop_rude.set)

cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}",
                         "rude.test": f"localhost:{rude_port}"}, ca.ca_file,
              extra_config="max_age_seconds = 5")
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

st, doc = cp.send({"from": FROM, "to": ["ok@example.org", "busy@example.org", "nobody@example.org"],
                   "subject": "replies", "text": "x"})
s.check(st == 202, "accepted")
mid = doc["id"]
first = cp.wait_status(mid, done=("delivered", "bounced", "deferred", "failed"))
by = {r["email"]: r for r in first["recipients"]}
s.check(by["ok@example.org"]["status"] == "delivered", "250 -> delivered")
s.check(by["nobody@example.org"]["status"] == "bounced" and
        by["nobody@example.org"]["last_code"] == 550 and
        by["nobody@example.org"]["last_enhanced"] == "5.1.1", "550 5.1.1 -> bounced")
busy = by["busy@example.org"]
s.check(busy["status"] == "deferred" and busy["last_code"] == 451 and
        busy["next_attempt_at"] is not None, "451 -> deferred with a next attempt")

final = cp.wait_status(mid, seconds=30)
busy = {r["email"]: r for r in final["recipients"]}["busy@example.org"]
s.check(busy["status"] == "failed" and busy["reason"] == "expired" and busy["attempts"] >= 2,
        f"retried on the schedule, then failed past the maximum age "
        f"({busy['status']} {busy['reason']} attempts={busy['attempts']})")
s.check(len(sink.messages()) == 1, "the accepted recipient got exactly one message")

st, doc = cp.send({"from": FROM, "to": ["a@rude.test"], "subject": "rude", "text": "x"})
r = cp.wait_status(doc["id"], done=("deferred", "failed"))["recipients"][0]
s.check(r["status"] in ("deferred", "failed") and r["reason"] not in ("", "tls_required"),
        f"peer that hangs up -> retried later ({r['status']} {r['reason']})")

# The audit log holds every step; tampering with a record is detected.
cp.stop()
verify = cp.admin("audit", "verify", check=False)
s.check(verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout.strip())
db = sqlite3.connect(f"{cp.folder}/data/carepost.db")
actions = [a for (a,) in db.execute("SELECT action FROM audit ORDER BY seq")]
for action in ("key.created", "domain.added", "message.accepted", "message.delivered",
               "message.bounced", "message.deferred", "message.failed", "message.read"):
    s.check(action in actions, f"audit has {action}")
try:
    db.execute("UPDATE audit SET outcome = 'x' WHERE seq = 3")
    db.commit()
    s.check(False, "audit rows refuse UPDATE")
except sqlite3.DatabaseError:
    s.check(True, "audit rows refuse UPDATE")
db.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET outcome = 'forged' WHERE seq = 4;")
db.close()
verify = cp.admin("audit", "verify", check=False)
s.check(verify.returncode != 0 and "record 4" in verify.stdout,
        f"tampered record found: {verify.stdout.strip()}")
s.finish()
