#!/usr/bin/python3
"""kill -9 in the middle of a 5,000-message send, then restart.

The client sends with 16 keep-alive connections and an Idempotency-Key per
message; carepost is killed with SIGKILL once 2,000 have been acknowledged
and deliveries are under way. After a restart the client retries every
message it has no answer for, with the same key. Checks at the sink (by
Message-ID and by the test's own X-Seq header):
- every message that got 202 is delivered, and so is every retried one;
- a Message-ID arrives twice only for a message whose delivery was in
  flight at the kill (carepost names those at restart: the RFC 1047 window
  between the peer's 250 and our commit). The count is printed.
"""

import http.client
import json
import re
import signal
import threading
import time

from harness import Carepost, Scenario, Sink, TestCA

TOTAL = 5000
KILL_AFTER = 2000
THREADS = 16

s = Scenario("kill9_during_send")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)

acked = {}  # seq -> message id
lock = threading.Lock()
stop_sending = threading.Event()


def body(seq):
    return json.dumps({"from": {"email": "noreply@clinic.example.org", "name": "Clinic"},
                       "to": [{"email": f"p{seq % 50}@example.org"}],
                       "subject": f"Reminder {seq}", "text": f"Appointment number {seq}.\n",
                       "headers": {"X-Seq": str(seq)}})


def sender(seqs):
    conn = None
    for seq in seqs:
        if stop_sending.is_set():
            return
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=30)
            conn.request("POST", "/v1/messages", body=body(seq),
                         headers={"Authorization": f"Bearer {cp.key}",
                                  "Content-Type": "application/json",
                                  "Idempotency-Key": f"seq-{seq}"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            if resp.status == 202:
                with lock:
                    acked[seq] = doc["id"]
        except (OSError, http.client.HTTPException, ValueError):
            conn = None
            if stop_sending.is_set():
                return
            time.sleep(0.05)


def send_all(seqs):
    chunks = [seqs[i::THREADS] for i in range(THREADS)]
    threads = [threading.Thread(target=sender, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    return threads


# Phase 1: send until KILL_AFTER are acknowledged and some are delivered, then kill -9.
threads = send_all(list(range(TOTAL)))
deadline = time.time() + 300
while time.time() < deadline:
    with lock:
        n = len(acked)
    if n >= KILL_AFTER and len(sink.messages()) >= 200:
        break
    time.sleep(0.01)
cp.kill(signal.SIGKILL)
stop_sending.set()
for t in threads:
    t.join(60)
acked_before_kill = dict(acked)
delivered_before_kill = len(sink.messages())
print(f"  killed with {len(acked_before_kill)} acknowledged, {delivered_before_kill} at the sink")
s.check(len(acked_before_kill) < TOTAL, "the kill came in the middle of the send")

# Phase 2: restart; retry everything without an answer, same Idempotency-Key.
log_offset = len(cp.logs())
stop_sending.clear()
cp.start()
missing = [seq for seq in range(TOTAL) if seq not in acked_before_kill]
for t in send_all(missing):
    t.join(300)
s.check(len(acked) == TOTAL, f"every message acknowledged after the retry ({len(acked)})")
s.check(all(acked[q] == m for q, m in acked_before_kill.items()),
        "acknowledged ids unchanged by the retry")

# Wait (bounded) until the sink holds every sequence number.
deadline = time.time() + 400
seen = {}
while time.time() < deadline:
    seen = {}
    for raw in sink.messages():
        head = raw.split(b"\r\n\r\n", 1)[0]
        seq = int(re.search(rb"\r\nX-Seq: (\d+)", b"\r\n" + head).group(1))
        mid = re.search(rb"(?im)^Message-ID:\s*(\S+)", head).group(1)
        seen.setdefault(seq, []).append(mid)
    if len(seen) >= TOTAL:
        break
    time.sleep(0.5)

lost = [q for q in range(TOTAL) if q not in seen]
s.check(not lost, f"no message lost ({len(lost)} missing)")
s.check(all(q in seen for q in acked_before_kill), "every 202 before the kill was delivered")
dupes = {q: mids for q, mids in seen.items() if len(mids) > 1}
restart_log = cp.logs()[log_offset:].decode("utf-8", "replace")
in_flight = set(re.findall(r'"event":"requeued_after_interruption","message_id":"([^"]+)"',
                           restart_log))
unexplained = [q for q in dupes if acked[q] not in in_flight]
print(f"  duplicates at the sink: {len(dupes)} (in flight at the kill: {len(in_flight)})")
s.check(not unexplained,
        f"duplicates only where delivery was in flight at the kill ({len(unexplained)} others)")
s.check(all(len(set(m)) == 1 for m in dupes.values()), "a resent message keeps its Message-ID")

status, doc = cp.request("GET", f"/v1/messages/{acked[0]}")
s.check(status == 200 and doc["recipients"][0]["status"] == "delivered",
        "the API shows a pre-kill message delivered")
verify = cp.admin("audit", "verify", check=False)
s.check(verify.returncode == 0, f"audit chain intact after the kill: {verify.stdout.strip()}")
s.finish()
