#!/usr/bin/python3
"""The README's signed-request example works as printed: the shell block
after <!-- signed-request-example --> is run with bash, its request is
accepted (202) and delivered; the same bytes sent again are refused as a
replay (401), and the same signature over a body changed by one byte is
refused (401). The test records what curl sent through a loopback relay, so
it replays exactly those bytes, whatever the block's own variables."""

import email
import email.policy
import http.client
import json
import os
import re
import select
import socket
import subprocess
import threading
import time

from harness import REPO, Carepost, Scenario, Sink, TestCA

MARKER = "<!-- signed-request-example -->"


def readme_block():
    """The fenced ```sh block right after the marker comment."""
    lines = open(os.path.join(REPO, "README.md"), encoding="utf-8").read().split("\n")
    at = lines.index(MARKER)
    if lines[at + 1] != "```sh":
        raise RuntimeError("the marker is not followed by a ```sh block")
    end = lines.index("```", at + 2)
    return "\n".join(lines[at + 2:end]) + "\n"


class RecordingRelay:
    """Relays loopback connections to carepost and keeps the octets each
    client sent (one entry per connection)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.sent = []
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        deadline = time.time() + 300
        while not self.stopped.is_set() and time.time() < deadline:
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            recorded = bytearray()
            self.sent.append(recorded)
            self._relay(client, upstream, recorded, time.time() + 60)
            client.close()
            upstream.close()

    @staticmethod
    def _relay(client, upstream, recorded, deadline):
        while time.time() < deadline:
            ready, _, _ = select.select([client, upstream], [], [], 0.5)
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                if s is client:
                    recorded.extend(data)
                    upstream.sendall(data)
                else:
                    client.sendall(data)

    def stop(self):
        self.stopped.set()
        self.sock.close()


def send_raw(port, raw):
    """Sends request octets as they are; returns the status and JSON body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(raw)
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = resp.read()
    sock.close()
    try:
        return resp.status, json.loads(body)
    except ValueError:
        return resp.status, body


def change_one_body_byte(raw):
    """The request with the first character of the JSON "text" value changed
    (same length, still valid JSON): only the signature can catch it."""
    head, sep, body = bytes(raw).partition(b"\r\n\r\n")
    at = body.index(b'"text":"') + len(b'"text":"')
    changed = bytearray(body)
    changed[at] = changed[at] ^ 0x20 if chr(changed[at]).isalpha() else ord("x")
    return head + sep + bytes(changed)


s = Scenario("readme_signed_request")

# The block keeps to what the README promises: printf, not echo, and no
# input but KEY and CAREPOST (KEY_ID is derived inside).
block = readme_block()
s.check(not re.search(r"(^|[\s;|&(])echo\b", block), "the example uses printf, not echo")
used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", block))
s.check(used <= {"KEY", "KEY_ID", "CAREPOST"}, f"the example uses only KEY, KEY_ID, CAREPOST "
        f"({sorted(used)})")
assigned = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=", block, re.M))
s.check(assigned == {"KEY_ID"}, f"the example derives KEY_ID and sets nothing else ({assigned})")

ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.net": f"localhost:{sink.port}"}, ca.ca_file,
              scopes=("messages:send", "messages:read", "audit:read"))
s.cleanups.append(cp.stop)
relay = RecordingRelay(cp.port)
s.cleanups.append(relay.stop)

# Run the block as printed, with only the environment a reader would have.
env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEY": cp.key,
       "CAREPOST": f"http://127.0.0.1:{relay.port}"}
run = subprocess.run(["bash", "-c", block], env=env, capture_output=True, text=True, timeout=60)
out = run.stdout.rstrip("\n").split("\n")
s.check(run.returncode == 0, f"the block exits 0 ({run.returncode}; {run.stderr.strip()[:200]})")
status = out[-1] if out else ""
try:
    answer = json.loads(out[-2]) if len(out) >= 2 else {}
except ValueError:
    answer = {}
mid = answer.get("id", "") if isinstance(answer, dict) else ""
s.check(status == "202" and mid.startswith("msg_"), f"curl's answer is 202 with a message id "
        f"({status} {mid})")
s.check(len(relay.sent) == 1, f"curl made one request ({len(relay.sent)})")
sent = bytes(relay.sent[0]) if relay.sent else b""
head = sent.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
s.check(all(f"\r\nx-carepost-{h}:" in head for h in ("key-id", "timestamp", "nonce", "signature"))
        and "authorization:" not in head, "the request is signed and carries no key")

# The same octets again: the nonce is spent.
st, doc = send_raw(cp.port, sent)
s.check(st == 401 and doc.get("error", {}).get("code") == "unauthorized",
        f"the same request again -> 401 ({st})")

# One byte of the body changed under the same signature.
tampered = change_one_body_byte(sent)
s.check(tampered != sent and len(tampered) == len(sent), "the body differs by one byte")
st, doc = send_raw(cp.port, tampered)
s.check(st == 401, f"a one-byte change to the body -> 401 ({st})")

# The audit log tells the two refusals apart (the client hears the same 401).
reasons = []
for _ in range(50):
    st, doc = cp.request("GET", "/v1/audit?limit=500")
    reasons = [r["outcome"] for r in doc.get("data", []) if r["action"] == "auth.failed"] \
        if st == 200 else []
    if len(reasons) >= 2:
        break
    time.sleep(0.1)
s.check(any(r.startswith("replayed_nonce") for r in reasons), f"audit: replay ({reasons})")
s.check(any(r.startswith("bad_signature") for r in reasons), f"audit: bad signature ({reasons})")

# The accepted message reaches the sink, once, as the block wrote it.
final = cp.wait_status(mid) if mid else None
rcpt = final["recipients"][0] if final and final.get("recipients") else {}
s.check(rcpt.get("email") == "patient@example.net" and rcpt.get("status") == "delivered",
        f"patient@example.net delivered ({rcpt.get('status')} {rcpt.get('reason')})")
messages = sink.messages()
s.check(len(messages) == 1, f"the sink got exactly one message ({len(messages)})")
if messages:
    body = json.loads(sent.partition(b"\r\n\r\n")[2])
    got = email.message_from_bytes(messages[0], policy=email.policy.default)
    text = got.get_body(("plain",))
    s.check(got["Subject"] == body["subject"] and got["From"].addresses[0].addr_spec ==
            body["from"] and text is not None and
            text.get_content().strip() == body["text"],
            "the delivered subject, sender and text are the block's")

s.finish()
