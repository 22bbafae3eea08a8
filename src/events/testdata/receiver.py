"""A webhook receiver for the events tests, on loopback only.

Prints its port on the first line of stdout, then records each POST as one
JSON line in --log: the event id, timestamp and signature headers, whether
the signature verifies (checked here with Python's hmac, independently of
the C++ code), the body and the client port (to see connection reuse).
Exits by itself after --deadline seconds.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import threading
import time


def verify(secret, header, timestamp, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if parts.get("t") != timestamp:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts.get("v1", ""))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--secret", default="")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=500)
    parser.add_argument("--redirect-to", default="")
    parser.add_argument("--redirect-self", action="store_true")
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--deadline", type=float, default=120)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    args = parser.parse_args()

    lock = threading.Lock()
    state = {"requests": 0}
    log = open(args.log, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # header and body go out as two writes

        def log_message(self, *unused):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            record = {
                "path": self.path,
                "content_type": self.headers.get("Content-Type", ""),
                "event_id": self.headers.get("Carepost-Event-Id", ""),
                "timestamp": self.headers.get("Carepost-Timestamp", ""),
                "signature": self.headers.get("Carepost-Signature", ""),
                "signature_ok": verify(
                    args.secret,
                    self.headers.get("Carepost-Signature", ""),
                    self.headers.get("Carepost-Timestamp", ""),
                    body),
                "body": body.decode("utf-8", "replace"),
                "client_port": self.client_address[1],
            }
            with lock:
                state["requests"] += 1
                number = state["requests"]
                log.write(json.dumps(record) + "\n")
                log.flush()
            if args.hang:
                time.sleep(args.deadline)
            if args.redirect_self:
                port = self.server.server_address[1]
                self.answer(302, {"Location": "http://127.0.0.1:%d/again" % port})
            elif args.redirect_to:
                self.answer(302, {"Location": args.redirect_to})
            elif number <= args.fail_first:
                self.answer(args.fail_status)
            else:
                self.answer(200)

        def answer(self, status, headers=None):
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    family = http.server.ThreadingHTTPServer
    if ":" in args.bind:
        class Server6(http.server.ThreadingHTTPServer):
            address_family = __import__("socket").AF_INET6
        family = Server6
    server = family((args.bind, 0), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Timer(args.deadline, lambda: os._exit(0)).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
