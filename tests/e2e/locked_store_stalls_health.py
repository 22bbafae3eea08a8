#!/usr/bin/python3
"""A locked database must not freeze the whole HTTP API.

POST /v1/templates writes through Store::write, which waits for the group
commit on the HTTP I/O thread itself. While another process holds the
database's write lock (15 s here), two template writes occupy both HTTP
threads (server.threads = 2, the default) for the busy timeout of each
batch, and every other request waits behind them: /v1/health and
GET /v1/messages/{id}, which need no write at all, waited 10 to 20 s.

Expected: liveness and reads answer within 2 s while writes wait for the
lock; the template writes end with 201 or a clean 5xx JSON error.
"""

import http.client
import sqlite3
import threading
import time

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("locked_store_stalls_health")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
st, doc = cp.send({"from": FROM, "to": ["patient@example.org"], "subject": "s", "text": "x"})
s.check(st == 202, "accepted")
mid = doc["id"]
cp.wait_status(mid, seconds=30)

lock = sqlite3.connect(f"{cp.folder}/data/carepost.db", isolation_level=None)
lock.execute("BEGIN IMMEDIATE")
locked_at = time.time()
writes = []


def template_write(i):
    try:
        writes.append(cp.request("POST", "/v1/templates", {"subject": f"t{i}", "text": "hello"}))
    except OSError as e:
        writes.append((None, repr(e)))


threads = [threading.Thread(target=template_write, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
time.sleep(0.5)


def timed_get(path):
    started = time.time()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=30)
        conn.request("GET", path, headers={"Authorization": f"Bearer {cp.key}"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        status = resp.status
    except OSError as e:
        status = repr(e)
    return status, time.time() - started


st, took = timed_get("/v1/health")
s.check(st == 200 and took < 2, f"/v1/health answers while the lock is held ({st} in {took:.1f} s)")
st, took = timed_get(f"/v1/messages/{mid}")
s.check(st == 200 and took < 2, f"a message status read answers ({st} in {took:.1f} s)")

time.sleep(max(0.0, 15 - (time.time() - locked_at)))
lock.execute("ROLLBACK")
lock.close()
for t in threads:
    t.join(60)
s.check(len(writes) == 2 and all(st == 201 or (st is not None and st >= 500 and
                                               isinstance(b, dict) and "error" in b)
                                  for st, b in writes),
        f"template writes end with 201 or a clean 5xx ({[w[0] for w in writes]})")
st, took = timed_get("/v1/health")
s.check(st == 200 and took < 2, "healthy after the lock is gone")
s.finish()
