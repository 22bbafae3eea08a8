#!/usr/bin/python3
"""webhook_receiver.py: a lean webhook endpoint for the bench's webhooks phase.

    webhook_receiver.py --port P --secret-file FILE [--verify-every 1]
                        [--max-seconds 900]

One asyncio HTTP/1.1 server on 127.0.0.1:P, keep-alive, Nagle off. Every
POST is answered 204 at once and counted; the body is parsed (JSON) for its
id, type and message_id. The HMAC of every --verify-every-th request (1: all
of them) is recomputed from the raw body with the secret read from FILE
(Carepost-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>)
and compared in constant time; the timestamp must be within 300 s.

Two read-only routes for the bench itself:
  GET /stats  counts so far: events, unique ids, per type, bad signatures,
              verified, id/header mismatches, events out of order within a
              message (accepted < queued < delivered), connections, requests,
              first/last arrival (unix s) and the receiver's own CPU seconds.
  GET /dump   the same plus every arrival as [unix s, type], in order.

Exits after --max-seconds or on SIGTERM. Standard library only.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import time

RANK = {"accepted": 0, "queued": 1, "deferred": 2, "delivered": 3}
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


class State:
    def __init__(self, secret, verify_every):
        self.secret = secret
        self.verify_every = verify_every
        self.events = 0
        self.ids = set()
        self.types = {}
        self.arrivals = []
        self.last_rank = {}
        self.out_of_order = 0
        self.bad_signature = 0
        self.verified = 0
        self.id_mismatch = 0
        self.unparsable = 0
        self.connections = 0
        self.requests = 0
        self.first = 0.0
        self.last = 0.0

    def record(self, headers, body):
        now = time.time()
        self.events += 1
        if self.events % self.verify_every == 0 or self.events == 1:
            self.verified += 1
            if not self.signature_ok(headers.get("carepost-signature", ""), body, now):
                self.bad_signature += 1
        try:
            doc = json.loads(body)
            event_id, kind = doc["id"], doc["type"]
            message_id = doc.get("message_id", "")
        except (ValueError, KeyError, TypeError):
            self.unparsable += 1
            return
        if event_id != headers.get("carepost-event-id"):
            self.id_mismatch += 1
        self.ids.add(event_id)
        self.types[kind] = self.types.get(kind, 0) + 1
        rank = RANK.get(kind)
        if rank is not None and message_id:
            if rank < self.last_rank.get(message_id, -1):
                self.out_of_order += 1
            self.last_rank[message_id] = rank
        if not self.first:
            self.first = now
        self.last = now
        self.arrivals.append((now, kind))

    def signature_ok(self, signature, body, now):
        parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
        t, v1 = parts.get("t", ""), parts.get("v1", "")
        if not t.isdigit() or abs(now - int(t)) > 300:
            return False
        mac = hmac.new(self.secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, v1)

    def summary(self, with_arrivals=False):
        cpu = os.times()
        out = {"events": self.events, "unique_ids": len(self.ids), "types": self.types,
               "bad_signature": self.bad_signature, "verified": self.verified,
               "id_mismatch": self.id_mismatch, "unparsable": self.unparsable,
               "out_of_order": self.out_of_order, "connections": self.connections,
               "requests": self.requests, "first": self.first, "last": self.last,
               "cpu_seconds": round(cpu.user + cpu.system, 3)}
        if with_arrivals:
            out["arrivals"] = [[round(t, 4), k] for t, k in self.arrivals]
        return out


class Connection(asyncio.Protocol):
    def __init__(self, state):
        self.state = state
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.state.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.answer(b"431 Request Header Fields Too Large", close=True)
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            request = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.answer(b"501 Not Implemented", close=True)
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY or len(request) < 2:
                self.answer(b"400 Bad Request", close=True)
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            self.state.requests += 1
            close = headers.get("connection", "").lower() == "close"
            method, path = request[0], request[1]
            if method == "POST":
                self.state.record(headers, body)
                self.answer(b"204 No Content", close=close)
            elif method == "GET" and path in ("/stats", "/dump"):
                doc = json.dumps(self.state.summary(path == "/dump")).encode()
                self.answer(b"200 OK", doc, close=close)
            else:
                self.answer(b"404 Not Found", close=close)

    def answer(self, status, body=None, close=False):
        head = b"HTTP/1.1 " + status + b"\r\n"
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        elif not status.startswith(b"204"):
            head += b"Content-Length: 0\r\n"
        if close:
            head += b"Connection: close\r\n"
        self.transport.write(head + b"\r\n" + (body or b""))
        if close:
            self.transport.close()

    def connection_lost(self, exc):
        self.transport = None


async def serve(options, state):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(state), "127.0.0.1", options.port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), options.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--verify-every", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=900)
    options = parser.parse_args()
    with open(options.secret_file, "rb") as f:
        secret = f.read().strip()
    asyncio.run(serve(options, State(secret, max(1, options.verify_every))))


if __name__ == "__main__":
    main()
