#!/usr/bin/python3
"""A wrong or damaged master key file must never cost accepted mail.

- A different (well-formed) master key, e.g. from the wrong backup or host:
  the server started, could not open any sealed body, and bounced every
  queued recipient at once (`message_unreadable`, permanent), so restoring
  the right key later brought nothing back. Expected: refuse to start, or
  keep the messages (not bounced) until the right key is back; then they
  are delivered.
- A key file that is not 64 hex digits: "zz..." aborted the process with an
  uncaught std::invalid_argument (SIGABRT); "1g1g..." and "-1-1..." were
  read as some other key without complaint. Expected: a clean error exit.
"""

import os
import signal
import subprocess
import time

from harness import BIN, Carepost, Scenario, Sink, TestCA

s = Scenario("master_key_mixups")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file,
              extra_config="enabled = false")
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

ids = []
for i in range(2):
    st, doc = cp.send({"from": FROM, "to": [f"patient{i}@example.org"], "subject": "s", "text": "t"})
    s.check(st == 202, f"message {i} accepted while delivery is paused")
    ids.append(doc["id"])
cp.stop()

key_file = os.path.join(cp.folder, "keys", "master.key")
right_key = open(key_file).read()


def write_key(text):
    with open(key_file, "w") as f:
        f.write(text)
    os.chmod(key_file, 0o600)


# Damaged key files: a clean error exit, never an abort, never a silent other key.
for label, text in (("non-hex digits", "z" * 64), ("partly hex", "1g" * 32),
                    ("signed numbers", "-1" * 32)):
    write_key(text + "\n")
    r = subprocess.run([BIN, "org", "create", "X", "--config", cp.config],
                       capture_output=True, text=True, timeout=60)
    s.check(r.returncode in (1, 2) and "master key" in r.stderr,
            f"{label} key file: clean refusal (exit {r.returncode}: {r.stderr.strip()[:80]})")

# A well-formed but wrong key, with delivery switched on.
with open(cp.config) as f:
    config = f.read()
with open(cp.config, "w") as f:
    f.write(config.replace("enabled = false", "enabled = true"))
write_key("ab" * 32 + "\n")
log = open(os.path.join(s.folder, "wrong-key.log"), "ab")
proc = subprocess.Popen([BIN, "serve", "--config", cp.config], stdout=log, stderr=log)
try:
    proc.wait(8)  # refusing to start is a good answer
except subprocess.TimeoutExpired:
    time.sleep(2)  # it runs: give delivery time to act on the queue
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)

# The right key is back: every accepted message must still go out.
write_key(right_key)
cp.start()
for i, mid in enumerate(ids):
    doc = cp.wait_status(mid, seconds=30)
    r = doc["recipients"][0]
    s.check(r["status"] == "delivered",
            f"message {i} delivered once the right key is back ({r['status']} {r['reason']})")
s.check(len(sink.messages()) == len(ids), f"the sink got {len(sink.messages())} of {len(ids)}")
s.finish()
