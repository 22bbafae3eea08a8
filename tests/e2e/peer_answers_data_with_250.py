#!/usr/bin/python3
"""A peer that answers the DATA command with 250 instead of 354 got nothing.

RFC 5321 §4.3.2: DATA is answered 354 (go ahead) or an error; the final 250
comes only after the message and its ending dot. A peer that answers DATA
itself with 250 never received the message, yet the recipient was recorded
as `delivered`. Expected: not delivered (deferred or failed; a protocol
error), with and without PIPELINING.
"""

import socket
import ssl
import threading

from harness import Carepost, Scenario, TestCA

s = Scenario("peer_answers_data_with_250")
ca = TestCA(s.folder)
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(ca.cert, ca.key)
received = []


def serve_one(c, pipelining):
    c.settimeout(20)
    f = c.makefile("rb")
    c.sendall(b"220 peer ESMTP\r\n")
    f.readline()
    c.sendall(b"250-peer\r\n250 STARTTLS\r\n")
    f.readline()
    c.sendall(b"220 go ahead\r\n")
    t = tls.wrap_socket(c, server_side=True)
    f = t.makefile("rb")
    f.readline()
    t.sendall(b"250-peer\r\n250 PIPELINING\r\n" if pipelining else b"250 peer\r\n")
    for _ in range(200):
        line = f.readline()
        if not line:
            break
        verb = line[:4].upper()
        if verb == b"DATA":
            t.sendall(b"250 2.0.0 fine\r\n")  # the fault: no 354, nothing read
        elif verb == b"QUIT":
            t.sendall(b"221 bye\r\n")
            break
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            t.sendall(b"250 2.0.0 ok\r\n")
        else:
            received.append(line)  # message text would land here
            t.sendall(b"500 5.5.2 what?\r\n")
    t.close()


def peer(pipelining):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(0.2)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            threading.Thread(target=lambda: _safe(serve_one, c, pipelining), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    s.cleanups.append(stop.set)
    return ls.getsockname()[1]


def _safe(fn, *args):
    try:
        fn(*args)
    except (OSError, ssl.SSLError):
        pass


routes = {"pipelined.test": f"localhost:{peer(True)}", "stepwise.test": f"localhost:{peer(False)}"}
cp = Carepost(s.folder, routes, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

for domain in routes:
    st, doc = cp.send({"from": FROM, "to": [f"patient@{domain}"], "subject": "x", "text": "body"})
    s.check(st == 202, f"{domain}: accepted")
    doc = cp.wait_status(doc["id"], done=("delivered", "bounced", "failed", "deferred"), seconds=30)
    r = doc["recipients"][0]
    s.check(r["status"] != "delivered",
            f"{domain}: DATA answered 250 without 354 is not a delivery "
            f"({r['status']} {r['last_code']} {r['reason']})")

s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
