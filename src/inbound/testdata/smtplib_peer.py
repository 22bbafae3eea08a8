"""A peer for the inbound listener test, driven by Python's smtplib.

Usage: smtplib_peer.py PORT GOOD_RCPT BAD_RCPT MESSAGE_FILE
Runs one session: a pipelined group (MAIL, two RCPT, DATA written at once
and the replies read afterwards), the message, then an ordinary smtplib
sendmail() to one refused and one good recipient, then QUIT. Prints one
JSON object with every reply code it saw.
"""
import json
import smtplib
import sys

port, good, bad, message_file = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with open(message_file, "rb") as f:
    message = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

out = {}
smtp = smtplib.SMTP("127.0.0.1", int(port), timeout=10)
out["ehlo"] = smtp.ehlo("peer.test")[0]
out["pipelining"] = smtp.has_extn("pipelining")
out["size"] = smtp.esmtp_features.get("size", "")

# RFC 2920: the whole group goes out in one write; replies come back in order.
group = "MAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (good, bad)
smtp.send(group.encode())
out["group"] = [smtp.getreply()[0] for _ in range(4)]
stuffed = message.replace(b"\r\n.", b"\r\n..")
if stuffed.startswith(b"."):
    stuffed = b"." + stuffed
smtp.send(stuffed + b".\r\n")
out["data"] = smtp.getreply()[0]

try:
    refused = smtp.sendmail("", [bad, good], b"Subject: second\r\n\r\nsecond message\r\n")
    out["sendmail_refused"] = {k: v[0] for k, v in refused.items()}
except smtplib.SMTPException as e:
    out["sendmail_error"] = repr(e)
out["quit"] = smtp.quit()[0]
print(json.dumps(out))
