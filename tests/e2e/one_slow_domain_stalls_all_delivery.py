#!/usr/bin/python3
"""A destination that answers slowly forever must not stop delivery to others.

A tarpit MX greets with a multi-line 220 reply that never ends (one
continuation line every 5 s, so no single read ever times out). 4,000
recipients are queued for it (four messages of 1,000), then one message goes
to a healthy peer. That message must be delivered promptly: one stuck
destination may hold its own sessions, but not the delivery of every other
domain and organisation.
"""

import time

from harness import Carepost, Scenario, Sink, Tarpit, TestCA

s = Scenario("one_slow_domain_stalls_all_delivery")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)

tarpit = Tarpit()
tarpit_port = tarpit.port
s.cleanups.append(tarpit.stop)

cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}",
                         "tarpit.test": f"localhost:{tarpit_port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

for m in range(4):
    st, _ = cp.send({"from": FROM, "to": [f"u{m}x{i}@tarpit.test" for i in range(1000)],
                     "subject": "bulk", "text": "reminder"})
    s.check(st == 202, f"1,000 recipients at the slow domain accepted ({st})")
time.sleep(3)  # the tarpit's recipients are claimed and its sessions are stuck

started = time.time()
st, doc = cp.send({"from": FROM, "to": ["patient@example.org"], "subject": "hi", "text": "x"})
s.check(st == 202, "message to a healthy domain accepted")
doc = cp.wait_status(doc["id"], seconds=30)
status = doc["recipients"][0]["status"] if doc else None
s.check(status == "delivered",
        f"the healthy domain is delivered while the slow one hangs "
        f"({status} after {time.time() - started:.0f} s)")
s.check(cp.proc.poll() is None, "server still running")
s.finish()
