#!/usr/bin/python3
"""One unusual but valid recipient must not bounce the others of its message.

Two addresses the API accepts (202) but the SMTP client refused at delivery
time with `invalid_envelope`, a permanent error applied to the whole
transaction, so every recipient at the same domain was bounced with it:
- a quoted local part with a space, `"a b"@example.org` (valid in RCPT TO,
  RFC 5321 §4.1.2 Quoted-string);
- a UTF-8 local part given only in `bcc` (the SMTPUTF8 need was worked out
  from the header addresses only, and Bcc is never a header).
The peer here offers SMTPUTF8. Expected: the ordinary recipient is delivered
in both cases; the odd one is either refused at the API with a 4xx naming
its field, or delivered too.
"""

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("odd_recipient_bounces_the_rest")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

cases = [
    ("quoted local part with a space", {"to": ["plain1@example.org", '"a b"@example.org']},
     "to[1].email"),
    ("UTF-8 local part only in bcc", {"to": ["plain2@example.org"],
                                      "bcc": ["пациент@example.org"]}, "bcc[0].email"),
]
for what, recipients, odd_field in cases:
    st, doc = cp.send({"from": FROM, "subject": what, "text": "x", **recipients})
    if st != 202:
        s.check(400 <= st < 500 and doc["error"].get("field") == odd_field,
                f"{what}: refused at the API with its field ({st} {doc})")
        continue
    doc = cp.wait_status(doc["id"], seconds=30)
    by = {r["email"]: r for r in doc["recipients"]}
    plain = next(r for e, r in by.items() if e.startswith("plain"))
    odd = next(r for e, r in by.items() if not e.startswith("plain"))
    s.check(plain["status"] == "delivered",
            f"{what}: the ordinary recipient is delivered ({plain['status']} {plain['reason']})")
    s.check(odd["status"] == "delivered",
            f"{what}: the accepted odd recipient is delivered too ({odd['status']} {odd['reason']})")

s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
