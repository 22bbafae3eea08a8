#!/usr/bin/python3
"""smtp_sink.py: a fast SMTP receiver on loopback that keeps every message.

Used by crash tests and benchmarks where a full Postfix is too slow or too
opaque. Standard library only (asyncio); run it with /usr/bin/python3.

    smtp_sink.py --port 2600 --dir OUT [--tls-cert C --tls-key K]
                 [--no-starttls] [--require-tls] [--no-smtputf8]
                 [--max-messages N] [--max-seconds S]
                 [--rcpt-reply 'REGEX=CODE TEXT' ...] [--data-reply 'CODE TEXT']

Each accepted message is written as OUT/N.eml (N = 1, 2, ...; continuing
after files already there), exactly the octets of DATA with the SMTP
dot-stuffing removed, and renamed into place before the 250 reply, so a file
that exists was acknowledged. OUT/sessions.log gets one JSON object per line
for every event: listen, connect, starttls, message, reject, close.

--rcpt-reply answers RCPT TO addresses that match REGEX (re.search, case
insensitive) with CODE TEXT instead of 250, e.g. '^busy@=451 4.2.1 try later'
or 'nobody@=550 5.1.1 no such user'. The first matching rule wins.
--data-reply answers every DATA with CODE TEXT (the message is not stored
unless CODE is 2xx). --require-tls answers MAIL with 530 before STARTTLS.
--data-reply-delay S stores the message, then waits S seconds before the
final reply (a slow peer; logged as slow_reply_begin).

The sink exits after --max-messages stored messages or --max-seconds
(whichever comes first; 0 means no limit), and on SIGTERM or SIGINT. It
prints "smtp_sink: listening 127.0.0.1:PORT" once it accepts connections.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import ssl
import sys
import time

MAX_LINE_OCTETS = 4096
MAX_MESSAGE_OCTETS = 64 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 120


class Sink:
    """State shared by all sessions: counters, output folder, rules."""

    def __init__(self, options):
        self.options = options
        self.out_dir = options.dir
        self.next_number = self._first_free_number()
        self.stored = 0
        self.done = asyncio.Event()
        self.log_file = open(os.path.join(self.out_dir, "sessions.log"), "a", buffering=1)
        self.session_count = 0
        self.tls_context = None
        if options.tls_cert and not options.no_starttls:
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(options.tls_cert, options.tls_key)

    def _first_free_number(self):
        highest = 0
        for name in os.listdir(self.out_dir):
            match = re.fullmatch(r"(\d+)\.eml", name)
            if match:
                highest = max(highest, int(match.group(1)))
        return highest + 1

    def log(self, event, **fields):
        fields = {"time": round(time.time(), 6), "event": event, **fields}
        self.log_file.write(json.dumps(fields, ensure_ascii=False) + "\n")

    def store_message(self, data):
        """Writes one message and returns its number; the file is complete once visible."""
        number = self.next_number
        self.next_number += 1
        final_path = os.path.join(self.out_dir, "%d.eml" % number)
        temp_path = os.path.join(self.out_dir, ".%d.tmp" % number)
        with open(temp_path, "wb") as f:
            f.write(data)
        os.rename(temp_path, final_path)
        self.stored += 1
        max_messages = self.options.max_messages
        if max_messages and self.stored >= max_messages:
            self.done.set()
        return number

    def rcpt_reply(self, address):
        for pattern, reply in self.options.rcpt_rules:
            if pattern.search(address):
                return reply
        return None


class Session:
    """One SMTP connection: RFC 5321 commands, RFC 3207 STARTTLS."""

    def __init__(self, sink, reader, writer):
        self.sink = sink
        self.reader = reader
        self.writer = writer
        sink.session_count += 1
        self.session_id = sink.session_count
        self.tls_version = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpts = []

    async def reply(self, text):
        self.writer.write(text.encode("utf-8") + b"\r\n")
        await self.writer.drain()

    async def read_line(self):
        line = await asyncio.wait_for(self.reader.readline(), IDLE_TIMEOUT_SECONDS)
        if not line:
            raise ConnectionResetError("peer closed")
        if len(line) > MAX_LINE_OCTETS:
            raise ValueError("line too long")
        return line

    def ehlo_lines(self):
        options = self.sink.options
        lines = ["localhost", "PIPELINING", "SIZE %d" % MAX_MESSAGE_OCTETS, "8BITMIME",
                 "ENHANCEDSTATUSCODES"]
        if not options.no_smtputf8:
            lines.append("SMTPUTF8")
        if self.sink.tls_context is not None and self.tls_version is None:
            lines.append("STARTTLS")
        return lines

    async def run(self):
        peer = self.writer.get_extra_info("peername")
        self.sink.log("connect", session=self.session_id, peer=str(peer[0]) if peer else "")
        try:
            await self.reply("220 localhost ESMTP smtp_sink")
            while not await self.handle_command(await self.read_line()):
                pass
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                ValueError, ssl.SSLError) as error:
            self.sink.log("close", session=self.session_id, reason=type(error).__name__)
        else:
            self.sink.log("close", session=self.session_id, reason="quit")
        finally:
            self.writer.close()

    async def handle_command(self, line):
        """Answers one command; returns True when the session must end."""
        text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
        verb, _, argument = text.partition(" ")
        verb = verb.upper()

        if verb in ("EHLO", "HELO"):
            self.reset()
            if verb == "HELO":
                await self.reply("250 localhost")
                return False
            lines = self.ehlo_lines()
            body = ["250-" + entry for entry in lines[:-1]] + ["250 " + lines[-1]]
            await self.reply("\r\n".join(body))
        elif verb == "STARTTLS":
            await self.start_tls()
        elif verb == "MAIL":
            await self.handle_mail(argument)
        elif verb == "RCPT":
            await self.handle_rcpt(argument)
        elif verb == "DATA":
            await self.handle_data()
        elif verb == "RSET":
            self.reset()
            await self.reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            await self.reply("250 2.0.0 Ok")
        elif verb == "VRFY":
            await self.reply("252 2.0.0 Cannot verify")
        elif verb == "QUIT":
            await self.reply("221 2.0.0 Bye")
            return True
        else:
            await self.reply("502 5.5.2 Command not recognized")
        return False

    async def start_tls(self):
        if self.sink.tls_context is None or self.tls_version is not None:
            await self.reply("502 5.5.1 STARTTLS not available")
            return
        await self.reply("220 2.0.0 Ready to start TLS")
        # RFC 3207 section 4.2: forget everything learned before the handshake.
        await self.writer.start_tls(self.sink.tls_context)
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.tls_version = ssl_object.version()
        self.reset()
        self.sink.log("starttls", session=self.session_id, version=self.tls_version,
                      cipher=ssl_object.cipher()[0])

    async def handle_mail(self, argument):
        match = re.match(r"(?i)FROM:\s*<([^>]*)>(.*)$", argument)
        if not match:
            await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        if self.sink.options.require_tls and self.tls_version is None:
            await self.reply("530 5.7.0 Must issue a STARTTLS command first")
            return
        parameters = match.group(2).upper().split()
        if "SMTPUTF8" in parameters and self.sink.options.no_smtputf8:
            await self.reply("555 5.5.4 SMTPUTF8 not supported")
            return
        self.reset()
        self.mail_from = match.group(1)
        self.mail_parameters = parameters
        await self.reply("250 2.1.0 Ok")

    async def handle_rcpt(self, argument):
        match = re.match(r"(?i)TO:\s*<([^>]+)>", argument)
        if self.mail_from is None:
            await self.reply("503 5.5.1 Need MAIL first")
            return
        if not match:
            await self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        address = match.group(1)
        rule_reply = self.sink.rcpt_reply(address)
        if rule_reply is not None:
            self.sink.log("reject", session=self.session_id, stage="rcpt", rcpt=address,
                          reply=rule_reply)
            await self.reply(rule_reply)
            return
        self.rcpts.append(address)
        await self.reply("250 2.1.5 Ok")

    async def read_data(self):
        """Reads DATA up to the lone dot and undoes RFC 5321 section 4.5.2 stuffing."""
        chunks = []
        size = 0
        while True:
            line = await asyncio.wait_for(self.reader.readline(), IDLE_TIMEOUT_SECONDS)
            if not line:
                raise ConnectionResetError("peer closed in DATA")
            if line == b".\r\n" or line == b".\n":
                return b"".join(chunks), size
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size <= MAX_MESSAGE_OCTETS:
                chunks.append(line)

    async def handle_data(self):
        if self.mail_from is None or not self.rcpts:
            await self.reply("503 5.5.1 Need MAIL and RCPT first")
            return
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        data, size = await self.read_data()
        if size > MAX_MESSAGE_OCTETS:
            self.reset()
            await self.reply("552 5.3.4 Message too big")
            return

        data_reply = self.sink.options.data_reply
        if data_reply and not data_reply.startswith("2"):
            self.sink.log("reject", session=self.session_id, stage="data", reply=data_reply,
                          size=size)
            self.reset()
            await self.reply(data_reply)
            return

        number = self.sink.store_message(data)
        self.sink.log("message", session=self.session_id, number=number,
                      mail_from=self.mail_from, rcpts=self.rcpts, size=size,
                      tls=self.tls_version, parameters=self.mail_parameters)
        self.reset()
        if self.sink.options.data_reply_delay > 0:
            # A slow peer: the message is stored, its 250 comes later.
            self.sink.log("slow_reply_begin", session=self.session_id, number=number)
            await asyncio.sleep(self.sink.options.data_reply_delay)
        await self.reply(data_reply or "250 2.0.0 Ok: stored as %d" % number)


def parse_reply_rule(text):
    match = re.fullmatch(r"(.+)=([245]\d\d(?: .*)?)", text)
    if not match:
        raise argparse.ArgumentTypeError("expected REGEX=CODE TEXT, got %r" % text)
    return re.compile(match.group(1), re.IGNORECASE), match.group(2)


def parse_options(argv):
    parser = argparse.ArgumentParser(description="loopback SMTP capture sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--no-starttls", action="store_true")
    parser.add_argument("--require-tls", action="store_true")
    parser.add_argument("--no-smtputf8", action="store_true")
    parser.add_argument("--max-messages", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=0)
    parser.add_argument("--rcpt-reply", dest="rcpt_rules", action="append", default=[],
                        type=parse_reply_rule)
    parser.add_argument("--data-reply")
    parser.add_argument("--data-reply-delay", type=float, default=0)
    options = parser.parse_args(argv)
    if bool(options.tls_cert) != bool(options.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if options.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("loopback only")
    if options.data_reply and not re.fullmatch(r"[245]\d\d( .*)?", options.data_reply):
        parser.error("--data-reply must be CODE TEXT")
    os.makedirs(options.dir, exist_ok=True)
    return options


async def serve(options):
    sink = Sink(options)

    async def on_connect(reader, writer):
        await Session(sink, reader, writer).run()

    server = await asyncio.start_server(on_connect, options.host, options.port,
                                        limit=MAX_LINE_OCTETS * 2, backlog=512)
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, sink.done.set)

    sink.log("listen", port=options.port, starttls=sink.tls_context is not None)
    print("smtp_sink: listening %s:%d" % (options.host, options.port), flush=True)
    try:
        if options.max_seconds > 0:
            await asyncio.wait_for(sink.done.wait(), options.max_seconds)
        else:
            await sink.done.wait()
    except asyncio.TimeoutError:
        pass
    server.close()
    # Give the session that stored the last message time to send its 250.
    await asyncio.sleep(0.2)
    sink.log("exit", stored=sink.stored)
    print("smtp_sink: exit after %d messages" % sink.stored, flush=True)


def main():
    options = parse_options(sys.argv[1:])
    asyncio.run(serve(options))


if __name__ == "__main__":
    main()
