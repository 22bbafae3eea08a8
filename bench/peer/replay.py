#!/usr/bin/python3
"""replay.py: sends messages an smtp_sink.py stored to an SMTP server again.

    replay.py --port P --dirs DIR[:DIR...] [--count N] [--connections 20]

Reads each DIR/sessions.log (written by tests/support/smtp_sink.py) for the
envelope of every stored message (MAIL FROM, RCPT TO) and DIR/NUMBER.eml for
its octets, drops the DKIM-Signature fields of the header (the receiving
side signs again), and sends the first N (all by default) to 127.0.0.1:P over
--connections parallel SMTP sessions, many messages per session. Used by the
Postfix peer of the delivery benchmark to relay exactly the messages carepost
delivered. Prints "replay: sent N" and exits 0 only if every one was accepted.
"""

import argparse
import json
import os
import re
import smtplib
import sys
import threading

DKIM_FIELD = re.compile(rb"(?im)^DKIM-Signature:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*")


def load_envelopes(dirs, count):
    envelopes = []
    for folder in dirs:
        with open(os.path.join(folder, "sessions.log")) as log:
            for line in log:
                event = json.loads(line)
                if event.get("event") == "message":
                    path = os.path.join(folder, "%d.eml" % event["number"])
                    envelopes.append((path, event["mail_from"], event["rcpts"]))
    return envelopes[:count] if count else envelopes


def strip_signature(data):
    end = data.find(b"\r\n\r\n")
    end = len(data) if end < 0 else end + 2
    return DKIM_FIELD.sub(b"", data[:end]) + data[end:]


def send_share(port, envelopes, failures):
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="replay.carepost.test", timeout=60)
    client.ehlo()
    for path, mail_from, rcpts in envelopes:
        with open(path, "rb") as f:
            data = strip_signature(f.read())
        try:
            client.sendmail(mail_from, rcpts, data)
        except smtplib.SMTPException as error:
            failures.append(str(error)[:200])
    client.quit()


def main():
    parser = argparse.ArgumentParser(description="replay smtp_sink.py messages")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dirs", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--connections", type=int, default=20)
    options = parser.parse_args()
    if not 1 <= options.connections <= 100:
        parser.error("--connections must be 1..100")

    envelopes = load_envelopes(options.dirs.split(":"), options.count)
    failures = []
    threads = [threading.Thread(target=send_share,
                                args=(options.port, envelopes[k::options.connections], failures))
               for k in range(options.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("replay: sent %d, refused %d%s" % (len(envelopes) - len(failures), len(failures),
                                            "; first: " + failures[0] if failures else ""))
    return 0 if envelopes and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
