#!/usr/bin/python3
# Test peer for the SMTP client: a small receiving MTA on 127.0.0.1 that
# records what the client sends. It binds an ephemeral port and writes the
# number to --port-file once it listens.
#
# Records, in --outdir: session.log (every command line as received, raw),
# N.wire (the DATA section exactly as received, still dot-stuffed, with the
# final ".\r\n") and N.eml (one leading dot removed per line).
#
# Options change the peer: --tls-cert/--tls-key offer STARTTLS;
# --no-smtputf8, --no-pipelining, --no-ehlo drop extensions; --size N
# advertises a limit; --rcpt-reply 'SUBSTRING=CODE TEXT' answers a RCPT whose
# address holds SUBSTRING with that reply; --hangup-in-data closes the
# connection after the first data line; --stall-greeting never greets.
import argparse
import os
import socket
import ssl
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--outdir", required=True)
parser.add_argument("--tls-cert")
parser.add_argument("--tls-key")
parser.add_argument("--no-smtputf8", action="store_true")
parser.add_argument("--no-pipelining", action="store_true")
parser.add_argument("--no-ehlo", action="store_true")
parser.add_argument("--size", type=int, default=0)
parser.add_argument("--rcpt-reply", action="append", default=[])
parser.add_argument("--hangup-in-data", action="store_true")
parser.add_argument("--stall-greeting", action="store_true")
parser.add_argument("--lifetime", type=float, default=60.0)
args = parser.parse_args()

os.makedirs(args.outdir, exist_ok=True)
log = open(os.path.join(args.outdir, "session.log"), "ab", buffering=0)
log_lock = threading.Lock()
counter = [0]

rcpt_rules = []
for rule in args.rcpt_reply:
    key, reply = rule.split("=", 1)
    rcpt_rules.append((key.encode(), reply))

tls_context = None
if args.tls_cert:
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_context.load_cert_chain(args.tls_cert, args.tls_key)


def capabilities(is_tls):
    caps = ["sink.test", "8BITMIME"]
    if not args.no_pipelining:
        caps.append("PIPELINING")
    if not args.no_smtputf8:
        caps.append("SMTPUTF8")
    if args.size:
        caps.append("SIZE %d" % args.size)
    if tls_context and not is_tls:
        caps.append("STARTTLS")
    return "\r\n".join(("250-" if i + 1 < len(caps) else "250 ") + c for i, c in enumerate(caps))


def record(line):
    with log_lock:
        log.write(line)


def read_data(reader):
    wire = b""
    while True:
        line = reader.readline()
        if not line:
            return None
        wire += line
        if line == b".\r\n":
            return wire
        if args.hangup_in_data:
            return None


def store_message(wire):
    with log_lock:
        counter[0] += 1
        n = counter[0]
    open(os.path.join(args.outdir, "%d.wire" % n), "wb").write(wire)
    lines = wire[:-3].split(b"\r\n")
    body = b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)
    open(os.path.join(args.outdir, "%d.eml" % n), "wb").write(body)
    return n


def session(conn):
    conn.settimeout(10)
    is_tls = False
    reader = conn.makefile("rb")

    def send(text):
        conn.sendall(text.encode() + b"\r\n")

    if args.stall_greeting:
        time.sleep(args.lifetime)
        return
    send("220 sink.test ESMTP")
    recipients = 0
    has_mail = False
    while True:
        line = reader.readline()
        if not line:
            return
        record(line)
        command = line.decode("utf-8", "replace").strip()
        verb = command.upper()
        if verb.startswith("EHLO"):
            send("502 5.5.2 no EHLO here" if args.no_ehlo else capabilities(is_tls))
        elif verb.startswith("HELO"):
            send("250 sink.test")
        elif verb == "STARTTLS" and tls_context and not is_tls:
            send("220 2.0.0 ready for TLS")
            conn = tls_context.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            is_tls = True
            has_mail, recipients = False, 0
        elif verb.startswith("MAIL FROM:"):
            has_mail, recipients = True, 0
            send("250 2.1.0 sender ok")
        elif verb.startswith("RCPT TO:"):
            rule = [r for k, r in rcpt_rules if k in line]
            if not has_mail:
                send("503 5.5.1 need MAIL first")
            elif rule:
                send(rule[0])
            else:
                recipients += 1
                send("250 2.1.5 recipient ok")
        elif verb == "DATA":
            if not has_mail or recipients == 0:
                send("554 5.5.1 no valid recipients")
                continue
            send("354 go ahead")
            wire = read_data(reader)
            if wire is None:
                return
            n = store_message(wire)
            send("250 2.0.0 queued as %d" % n)
            has_mail, recipients = False, 0
        elif verb == "RSET":
            has_mail, recipients = False, 0
            send("250 2.0.0 reset")
        elif verb == "QUIT":
            send("221 2.0.0 bye")
            return
        else:
            send("500 5.5.1 unknown command")


def serve(conn):
    try:
        session(conn)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
server.settimeout(1.0)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(args.port_file + ".tmp", args.port_file)

deadline = time.time() + args.lifetime
while time.time() < deadline:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
sys.exit(0)
