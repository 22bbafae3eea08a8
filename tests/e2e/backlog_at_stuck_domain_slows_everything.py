#!/usr/bin/python3
"""A large backlog at one stuck domain must not slow every other send.

100,000 recipients are queued for a domain whose MX accepts connections and
never greets (its sessions hold their jobs; the domain is then left out of
each claim as "full"). The claim query still walks every due row of that
domain to skip it (`domain NOT IN (...)` with ORDER BY next_attempt_at), on
the store's single writer thread, and a claim runs after every accept and
every finished delivery. Measured against the same server without the
backlog: the median accept latency went from about 1 ms to about 20 ms and
300 messages to a healthy domain took about 6 s instead of under 1 s.

Expected: with the backlog, the median accept stays within 3x (+2 ms) of
the baseline and the 300 healthy messages are delivered within 3x (+2 s)
of the baseline time.
"""

import http.client
import json
import os
import socket
import threading
import time

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("backlog_at_stuck_domain_slows_everything")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)

# An MX that accepts and stays silent (the client waits for a greeting).
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(64)
silent_port = silent.getsockname()[1]
stop = threading.Event()
held = []


def hold():
    silent.settimeout(0.2)
    deadline = time.time() + 600
    while not stop.is_set() and time.time() < deadline:
        try:
            held.append(silent.accept()[0])
        except OSError:
            pass


def close_silent():
    stop.set()
    for c in held:
        c.close()
    silent.close()


threading.Thread(target=hold, daemon=True).start()
s.cleanups.append(close_silent)

cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}",
                         "stuck.test": f"localhost:{silent_port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}


def measure(tag):
    """300 sequential sends to the healthy domain: median accept, time to deliver all."""
    before = len(sink.messages())
    conn = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=60)
    latencies = []
    started = time.time()
    for i in range(300):
        t = time.time()
        conn.request("POST", "/v1/messages",
                     body=json.dumps({"from": FROM, "to": [f"{tag}{i}@example.org"],
                                      "subject": "Reminder", "text": "x"}),
                     headers={"Authorization": f"Bearer {cp.key}",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.time() - t)
    conn.close()
    deadline = time.time() + 120
    while time.time() < deadline and len(sink.messages()) < before + 300:
        time.sleep(0.1)
    return sorted(latencies)[150], time.time() - started, len(sink.messages()) - before


base_median, base_total, base_count = measure("base")
print(f"  baseline: median accept {base_median * 1000:.1f} ms, 300 delivered in {base_total:.1f} s")

# Queue the backlog with delivery off (fast), then start delivering again.
cp.stop()
os.environ["CAREPOST_DELIVERY_ENABLED"] = "false"
cp.start()
for m in range(100):
    st, _ = cp.send({"from": FROM, "to": [f"u{m}x{i}@stuck.test" for i in range(1000)],
                     "subject": "Bulk", "text": "x"})
    if st != 202:
        s.check(False, f"backlog message {m} accepted ({st})")
        break
cp.stop()
del os.environ["CAREPOST_DELIVERY_ENABLED"]
cp.start()
time.sleep(3)  # the stuck domain's sessions are open and waiting

median, total, count = measure("load")
print(f"  with 100,000 queued at the stuck domain: median accept {median * 1000:.1f} ms, "
      f"{count} delivered in {total:.1f} s")
s.check(base_count == 300 and count == 300, f"all healthy messages delivered ({base_count}, {count})")
s.check(median <= 3 * base_median + 0.002,
        f"median accept latency {median * 1000:.1f} ms within 3x(+2 ms) of "
        f"{base_median * 1000:.1f} ms")
s.check(total <= 3 * base_total + 2,
        f"healthy delivery {total:.1f} s within 3x(+2 s) of {base_total:.1f} s")
s.check(cp.proc.poll() is None, "server still running")
s.finish()
