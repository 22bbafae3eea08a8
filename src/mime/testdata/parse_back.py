# parse_back.py - usage: python3 parse_back.py message.eml
# Parses a composed message with Python's email package (an implementation
# independent of ours) and prints what it found as one JSON object.
import base64, email, email.utils, json, re, sys
from email import policy

raw = open(sys.argv[1], "rb").read()
m = email.message_from_bytes(raw, policy=policy.SMTPUTF8)

def mailboxes(name):
    field = m[name]
    if field is None:
        return None
    return [{"name": a.display_name, "addr": a.addr_spec,
             "local": a.username, "domain": a.domain} for a in field.addresses]

parts = []
for p in m.walk():
    entry = {"type": p.get_content_type(), "multipart": p.is_multipart()}
    if not p.is_multipart():
        entry.update({
            "cte": (p["Content-Transfer-Encoding"] or "").lower(),
            "charset": p.get_content_charset(),
            "filename": p.get_filename(),
            "disposition": p.get_content_disposition(),
            "payload_b64": base64.b64encode(p.get_payload(decode=True)).decode(),
        })
    parts.append(entry)

date = email.utils.parsedate_to_datetime(m["Date"]) if m["Date"] else None
print(json.dumps({
    "subject": str(m["Subject"]) if m["Subject"] is not None else None,
    "subject_count": len(m.get_all("Subject") or []),
    "from": mailboxes("From"),
    "to": mailboxes("To"),
    "cc": mailboxes("Cc"),
    "reply_to": mailboxes("Reply-To"),
    "bcc_present": m.get_all("Bcc") is not None,
    "message_id": m["Message-ID"],
    "mime_version": m["MIME-Version"],
    "date_epoch": int(date.timestamp()) if date else None,
    "headers": [[k, str(v)] for k, v in m.items()],
    "parts": parts,
    "longest_line": max(len(l) for l in raw.split(b"\r\n")),
    "bare_newlines": len(re.findall(rb"(?<!\r)\n|\r(?!\n)", raw)),
    "defects": [type(d).__name__ for p in m.walk() for d in p.defects],
}))
