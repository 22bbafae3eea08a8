#!/usr/bin/python3
"""One large message to many domains must not cost a copy per domain.

A message with a 17 MB attachment (24 MB composed) goes to one recipient
at each of 16 domains whose MX reads DATA only after 15 s, so all 16
transactions are under way at once. The message is opened and signed once,
but every transaction makes its own dot-stuffed copy of it
(smtp::encode_data per send), so the server's resident memory grew by
about 18 message sizes (~430 MB) over what it held after the accept; one
domain costs about 4. At 4 connections for each of 200 domains that
would be gigabytes for a single message. DESIGN: "CRLF and dot-stuffing
done once".

Expected: while the 16 transactions are stalled, resident memory has grown
by less than 8 message sizes; every copy is then delivered intact.
"""

import base64
import email
import os
import subprocess
import time

from harness import PYTHON, SUPPORT, Carepost, Scenario, TestCA, free_port, wait_port

# smtp_sink.py that waits DELAY s after its 354 before reading the data.
STALLING_SINK = r'''
import asyncio, sys
sys.path.insert(0, sys.argv.pop(1))
delay = float(sys.argv.pop(1))
import smtp_sink
plain_read = smtp_sink.Session.read_data
async def read_data(self):
    self.sink.log("stall_begin")
    await asyncio.sleep(delay)
    return await plain_read(self)
smtp_sink.Session.read_data = read_data
smtp_sink.main()
'''
DOMAINS = 16

s = Scenario("big_message_to_many_domains_memory")
ca = TestCA(s.folder)
peers = []
for i in range(DOMAINS):
    port = free_port()
    out = os.path.join(s.folder, f"peer{i}")
    os.makedirs(out)
    proc = subprocess.Popen([PYTHON, "-c", STALLING_SINK, SUPPORT, "15", "--port", str(port),
                             "--dir", out, "--tls-cert", ca.cert, "--tls-key", ca.key,
                             "--max-seconds", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s.cleanups.append(proc.terminate)
    peers.append((port, out))
for port, _ in peers:
    wait_port(port)

cp = Carepost(s.folder, {f"d{i}.test": f"localhost:{peers[i][0]}" for i in range(DOMAINS)},
              ca.ca_file)
s.cleanups.append(cp.stop)


def rss_mb():
    for line in open(f"/proc/{cp.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stalled_peers():
    n = 0
    for _, out in peers:
        path = os.path.join(out, "sessions.log")
        n += os.path.exists(path) and '"stall_begin"' in open(path).read()
    return n


FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
blob = os.urandom(17_000_000)
st, doc = cp.send({"from": FROM, "to": [f"patient@d{i}.test" for i in range(DOMAINS)],
                   "subject": "Imaging", "text": "Your scan is attached.",
                   "attachments": [{"filename": "scan.pdf", "content_type": "application/pdf",
                                    "content": base64.b64encode(blob).decode()}]})
after_accept = rss_mb()
s.check(st == 202, f"accepted ({st})")
deadline = time.time() + 12
while time.time() < deadline and stalled_peers() < DOMAINS:
    time.sleep(0.2)
time.sleep(2)  # the writes fill the socket buffers and stop
stalled = rss_mb()
_, status = cp.request("GET", f"/v1/messages/{doc['id']}")
size_mb = status["size"] / 1e6
print(f"  message {size_mb:.1f} MB; RSS after accept {after_accept:.0f} MB, with "
      f"{stalled_peers()} transactions stalled {stalled:.0f} MB")
s.check(stalled - after_accept < 8 * size_mb,
        f"memory grows by less than 8 message sizes for {DOMAINS} domains "
        f"(+{stalled - after_accept:.0f} MB = {(stalled - after_accept) / size_mb:.1f} sizes)")

doc = cp.wait_status(doc["id"], seconds=120)
s.check(all(r["status"] == "delivered" for r in doc["recipients"]),
        f"every domain delivered ({sorted({r['status'] for r in doc['recipients']})})")
intact = 0
for _, out in peers:
    for name in [f for f in os.listdir(out) if f.endswith(".eml")]:
        msg = email.message_from_bytes(open(os.path.join(out, name), "rb").read())
        intact += any(p.get_filename() == "scan.pdf" and p.get_payload(decode=True) == blob
                      for p in msg.walk())
s.check(intact == DOMAINS, f"the attachment arrives byte-exact at every domain ({intact})")
s.finish()
