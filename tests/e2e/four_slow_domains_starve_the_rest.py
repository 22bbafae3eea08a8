#!/usr/bin/python3
"""Four stuck destinations must not stop delivery to every other domain.

The first pass made the claim leave out a destination that has its fill
(500) of recipients in flight, so one stuck domain no longer takes every
claim. But a claim takes up to 1,000 rows, and the engine also stops
claiming altogether at 4,000 recipients in flight. Four domains whose MX
greets with a 220 continuation line every 5 s and never finishes (so no
read times out), each with one 1,000-recipient message, fill that global
cap; a message to a healthy domain then stays `queued` for as long as the
four hang.

Expected: the healthy domain's message is delivered within 30 s while the
four hang.
"""

import time

from harness import Carepost, Scenario, Sink, Tarpit, TestCA

SLOW_DOMAINS = 4

s = Scenario("four_slow_domains_starve_the_rest")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)

tarpit = Tarpit()
tarpit_port = tarpit.port
s.cleanups.append(tarpit.stop)

routes = {"example.org": f"localhost:{sink.port}"}
routes.update({f"slow{k}.test": f"localhost:{tarpit_port}" for k in range(SLOW_DOMAINS)})
cp = Carepost(s.folder, routes, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

for k in range(SLOW_DOMAINS):
    st, _ = cp.send({"from": FROM, "to": [f"u{i}@slow{k}.test" for i in range(1000)],
                     "subject": "bulk", "text": "reminder"})
    s.check(st == 202, f"1,000 recipients at slow{k}.test accepted ({st})")
time.sleep(4)  # the slow domains' recipients are claimed and their sessions hang

started = time.time()
st, doc = cp.send({"from": FROM, "to": ["patient@example.org"], "subject": "hi", "text": "x"})
s.check(st == 202, "message to a healthy domain accepted")
doc = cp.wait_status(doc["id"], seconds=30)
status = doc["recipients"][0]["status"] if doc else None
s.check(status == "delivered",
        f"the healthy domain is delivered while four others hang "
        f"({status} after {time.time() - started:.0f} s)")
s.check(cp.proc.poll() is None, "server still running")
s.finish()
