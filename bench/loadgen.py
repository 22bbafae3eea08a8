#!/usr/bin/python3
"""loadgen.py: a closed-loop HTTP/1.1 load generator for POST /v1/messages.

    loadgen.py --port P --key KEY --count N [--connections 32]
               [--auth key|basic|token|signed] [--domains 20]
               [--html-octets 5120] [--max-seconds 600] [--start 0]
               [--ids FILE]

Keeps --connections keep-alive connections to 127.0.0.1:P busy, one request
in flight on each (no pipelining), until --count requests have been answered
or --max-seconds have passed. Request i sends one recipient,
patient<i>@d<i % domains>.test, a subject naming i, and an HTML body of
--html-octets octets, so no two bodies are alike. Every answer must be 202;
anything else is counted as an error (and the run fails).

--auth picks how each request presents the key KEY (cpk_<12 hex>_<secret>):
  key     Authorization: Bearer KEY (the default)
  basic   Authorization: Basic base64("key_<12 hex>:" KEY)
  token   one OAuth 2.0 client-credentials token, fetched from
          POST /v1/oauth/token before the clock starts, then
          Authorization: Bearer cpt_...
  signed  X-Carepost-Key-Id, -Timestamp, -Nonce and -Signature: lower-case
          hex HMAC-SHA256 keyed with KEY over "METHOD\nPATH\nTIMESTAMP\n
          NONCE\nHEX_SHA256(BODY)"; no Authorization header.
Requests are built as they are sent, whatever the method (none is made
ahead of the clock), so a signed request is signed then, with a fresh
timestamp and a nonce unique to this process and request; the client's CPU
for it shows in client_cpu_seconds.

Prints one JSON object: count, errors, seconds, rate (answers/s), and
latency percentiles in milliseconds (p50, p90, p99, max) measured from the
first octet sent to the last octet of the answer read. With --ids, writes the
message ids of the 202 answers to FILE, one a line.

Standard library only; single thread with selectors, which costs far less
CPU than the server under test (the run reports its own CPU seconds).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import selectors
import socket
import sys
import time

ID_PATTERN = re.compile(rb'"id":"(msg_[0-9a-f]+)"')


def html_body(octets):
    """A plausible HTML letter padded to about `octets` octets."""
    paragraph = ("<p>Dear patient, this is a reminder of your appointment at the "
                 "clinic. Please bring your insurance card and a list of your "
                 "current medications. Call us if you need to reschedule.</p>\n")
    text = "<html><body><h1>Appointment reminder</h1>\n"
    while len(text) + len(paragraph) + 16 < octets:
        text += paragraph
    text += "<p>" + "x" * max(0, octets - len(text) - 24) + "</p></body></html>"
    return text


def key_id_of(key):
    """key_<12 hex> from cpk_<12 hex>_<secret>."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cpk" or not re.fullmatch(r"[0-9a-f]{12}", parts[1]):
        raise ValueError("the key is not of the form cpk_<12 hex>_<secret>")
    return "key_" + parts[1]


def basic_credentials(key):
    return base64.b64encode(("%s:%s" % (key_id_of(key), key)).encode()).decode()


def fetch_token(port, key):
    """One client-credentials access token (RFC 6749 section 4.4)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/v1/oauth/token", body="grant_type=client_credentials",
                           headers={"Authorization": "Basic " + basic_credentials(key),
                                    "Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise RuntimeError("token request: %d %s" % (answer.status, body[:200]))
    token = json.loads(body).get("access_token", "")
    if not token.startswith("cpt_"):
        raise RuntimeError("token request: no cpt_ access_token in the answer")
    return token


def auth_headers_factory(options):
    """A function of (body octets) giving the credential header lines."""
    if options.auth == "key":
        fixed = "Authorization: Bearer %s\r\n" % options.key
    elif options.auth == "basic":
        fixed = "Authorization: Basic %s\r\n" % basic_credentials(options.key)
    elif options.auth == "token":
        fixed = "Authorization: Bearer %s\r\n" % fetch_token(options.port, options.key)
    else:
        fixed = None
    if fixed is not None:
        return lambda body: fixed

    # Nonces must differ across runs against the same server (it remembers
    # them for the replay window): a random prefix per process, then a count.
    key_id = key_id_of(options.key)
    secret = options.key.encode()
    prefix = os.urandom(8).hex()
    serial = [0]

    def signed(body):
        serial[0] += 1
        nonce = "%s%010d" % (prefix, serial[0])
        timestamp = str(int(time.time()))
        canonical = "\n".join(("POST", "/v1/messages", timestamp, nonce,
                                hashlib.sha256(body).hexdigest()))
        signature = hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()
        return ("X-Carepost-Key-Id: %s\r\nX-Carepost-Timestamp: %s\r\n"
                "X-Carepost-Nonce: %s\r\nX-Carepost-Signature: %s\r\n"
                % (key_id, timestamp, nonce, signature))
    return signed


def make_request_factory(options):
    html = json.dumps(html_body(options.html_octets))
    credentials = auth_headers_factory(options)
    head = ("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n")

    def make(i):
        body = ('{"from":{"email":"reminders@clinic.example.org","name":"Clinic"},'
                '"to":[{"email":"patient%d@d%d.test"}],'
                '"subject":"Appointment reminder %d","html":%s}'
                % (i, i % options.domains, i, html)).encode()
        return (head % (credentials(body), len(body))).encode() + body
    return make


class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = b""
        self.buffer = b""
        self.started = 0.0

    def send(self, request):
        self.out = request
        self.started = time.perf_counter()
        self.flush()

    def flush(self):
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[sent:]

    def read_answer(self):
        """Returns (status, body) once a whole answer is buffered, else None."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[:end]
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return None
        status = int(head[9:12])
        body = self.buffer[end + 4:end + 4 + length]
        self.buffer = self.buffer[end + 4 + length:]
        return status, body


def percentile(sorted_values, fraction):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def run(options):
    make = make_request_factory(options)
    selector = selectors.DefaultSelector()
    connections = [Connection(options.port) for _ in range(options.connections)]
    latencies = []
    ids = []
    errors = 0
    first_error = ""
    next_index = options.start
    last_index = options.start + options.count
    answered = 0

    started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = started + options.max_seconds
    for connection in connections:
        if next_index < last_index:
            connection.send(make(next_index))
            next_index += 1
            selector.register(connection.sock, selectors.EVENT_READ, connection)

    while (answered < options.count and time.perf_counter() < deadline
           and selector.get_map()):
        for key, _ in selector.select(timeout=1.0):
            connection = key.data
            try:
                connection.flush()
                answer = connection.read_answer()
            except OSError as error:
                # A refused request may end its connection (an answer then a
                # close): the run is failed, not retried on a new one.
                errors += 1
                first_error = first_error or "connection %s after %d answers" % (error, answered)
                selector.unregister(connection.sock)
                continue
            if answer is None:
                continue
            status, body = answer
            latencies.append(time.perf_counter() - connection.started)
            answered += 1
            if status == 202:
                if options.ids:
                    match = ID_PATTERN.search(body)
                    ids.append(match.group(1).decode() if match else "")
            else:
                errors += 1
                first_error = first_error or "%d %s" % (status, body[:200].decode("utf-8",
                                                                              "replace"))
            if next_index < last_index:
                connection.send(make(next_index))
                next_index += 1
            else:
                selector.unregister(connection.sock)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    for connection in connections:
        connection.sock.close()

    if options.ids:
        with open(options.ids, "a") as f:
            f.write("".join(i + "\n" for i in ids))
    latencies.sort()
    return {
        "count": answered, "errors": errors, "first_error": first_error,
        "seconds": round(seconds, 3), "rate": round(answered / seconds, 1) if seconds else 0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "client_cpu_seconds": round(cpu_seconds, 2), "auth": options.auth,
    }


def parse_options(argv):
    parser = argparse.ArgumentParser(description="POST /v1/messages load generator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--auth", choices=("key", "basic", "token", "signed"), default="key",
                        help="how each request presents the key (default: Bearer key)")
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--html-octets", type=int, default=5120)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--ids")
    options = parser.parse_args(argv)
    if not 1 <= options.count <= 1_000_000:
        parser.error("--count must be 1..1000000")
    if not 0 < options.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    return options


def main():
    result = run(parse_options(sys.argv[1:]))
    print(json.dumps(result), flush=True)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
