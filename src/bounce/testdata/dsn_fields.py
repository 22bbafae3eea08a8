# Independent reader of RFC 3464 per-recipient fields, using Python's email
# package. Prints one line per recipient block:
#   file <TAB> recipient <TAB> action <TAB> status
# Run with /usr/bin/python3. Line endings are normalised to CRLF first.
# A file that starts with an mbox "From " line is read as a mailbox (Python's
# mailbox module), one bounce per message in it.
import email
import mailbox
import sys
from email import policy


def address(value):
    value = str(value or "")
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").strip()


def top_level_parts(message):
    """Parts of the bounce itself, not of a message it returns."""
    yield message
    if message.is_multipart() and message.get_content_type() != "message/rfc822":
        for part in message.get_payload():
            yield from top_level_parts(part)


def messages(path):
    raw = open(path, "rb").read()
    if not raw.startswith(b"From "):
        yield raw
        return
    for entry in mailbox.mbox(path, create=False):
        yield entry.as_bytes(unixfrom=False)


for path, raw in ((p, r) for p in sys.argv[1:] for r in messages(p)):
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for part in top_level_parts(message):
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if not isinstance(payload, list):
            continue
        for block in payload[1:]:
            recipient = address(block["Final-Recipient"]) or address(block["Original-Recipient"])
            if not recipient:
                continue
            action = str(block["Action"] or "").strip().lower()
            status = str(block["Status"] or "").strip().split(" ")[0]
            print("\t".join([path, recipient, action, status]))
