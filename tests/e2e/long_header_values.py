#!/usr/bin/python3
"""Long header values: a 4xx for what cannot be sent, and no refusal of
ordinary long values.

- An attachment `content_type` with a 1,200-character token passed the
  type/subtype check, made a header line over 998 octets, and the request
  failed with 500 `line_too_long`. Bad input must be a 4xx naming
  `attachments[0].content_type`, never a 500.
- `List-Unsubscribe` with an https URL over 78 characters (any one-click
  unsubscribe token, RFC 8058) and `References` holding a message id over
  78 characters were refused with 422 "value must be ASCII text": a word
  that cannot be folded at 78 may still be sent (RFC 5322 §2.1.1: 998).
  Expected: accepted, delivered with the value intact, DKIM verifying.
"""

import email
import re
from email import policy

from harness import Carepost, Scenario, Sink, TestCA, verify_dkim

s = Scenario("long_header_values")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
good = {"from": FROM, "to": [{"email": "patient@example.org"}], "subject": "Hi", "text": "Hello"}

for label, ctype in (("long subtype", "application/" + "x" * 1200),
                     ("long type", "x" * 1200 + "/pdf")):
    st, doc = cp.send({**good, "attachments": [{"filename": "a.pdf", "content": "eA==",
                                                 "content_type": ctype}]})
    s.check(400 <= st < 500 and doc["error"].get("field") == "attachments[0].content_type",
            f"attachment content_type with a {label}: 4xx naming the field ({st} {doc})")

unsubscribe = "<https://unsubscribe.clinic.example.org/u/" + "T0k3n" * 24 + ">"
references = "<" + "a1b2c3d4" * 12 + "@clinic.example.org>"
st, doc = cp.send({**good, "subject": "long values",
                   "headers": {"List-Unsubscribe": unsubscribe,
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                               "References": references, "In-Reply-To": references}})
s.check(st == 202, f"long List-Unsubscribe and References accepted ({st} {doc})")
if st == 202:
    r = cp.wait_status(doc["id"], seconds=30)["recipients"][0]
    s.check(r["status"] == "delivered", f"delivered ({r['status']} {r['reason']})")
    raw = sink.messages()[-1]
    m = email.message_from_bytes(raw, policy=policy.compat32)

    def unfolded(name):
        value = m.get(name, "")
        return re.sub(r"\r?\n[ \t]", " ", value).strip()
    s.check(unfolded("List-Unsubscribe").replace(" ", "") == unsubscribe,
            "List-Unsubscribe arrives intact")
    s.check(unfolded("References").replace(" ", "") == references, "References arrives intact")
    s.check(all(len(line) <= 998 for line in raw.split(b"\r\n")), "no line over 998 octets")
    s.check(verify_dkim(raw, cp.dkim_public()), "DKIM verifies")
s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
