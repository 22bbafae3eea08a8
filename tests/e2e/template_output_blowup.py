#!/usr/bin/python3
"""A small template must not render into gigabytes before the size check.

Nested sections over one list multiply: five levels over 25 items render
25^5 copies of the inner text. Rendering had no output cap, so a ~300-byte
request built the whole text (here ~100 MB, ~560 MB of memory; 40 items make
it ~1 GB of text and several GB of memory, on an API thread) and only then
met the message size limit. Expected: rendering stops once the output passes
the message size limit; the request is refused (413 or 422) and memory stays
near that limit. The limit is set to 1 MB here.
"""

import threading
import time

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("template_output_blowup")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file,
              extra_config="[limits]\nmax_message_bytes = 1000000")
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}


def rss_mb():
    for line in open(f"/proc/{cp.proc.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


base = rss_mb()
peak = [base]
stop = threading.Event()


def watch():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.01)


threading.Thread(target=watch, daemon=True).start()
nested = "{{#a}}" * 5 + "0123456789" + "{{/a}}" * 5
st, doc = cp.send({"from": FROM, "to": ["patient@example.org"],
                   "template": {"subject": "s", "text": nested},
                   "template_data": {"a": list(range(25))}})
time.sleep(0.1)
stop.set()
s.check(st in (413, 422), f"a ~98 MB rendering is refused ({st} {doc})")
s.check(peak[0] - base < 150,
        f"memory grew by {peak[0] - base} MB for a 1 MB message limit (< 150)")
s.check(cp.request("GET", "/v1/health")[0] == 200, "server still answers")
s.finish()
