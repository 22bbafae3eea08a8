#!/usr/bin/python3
"""Bad input gets a clear 4xx JSON error naming the field, never a 500;
idempotency replays; templates version; PHI canaries never reach logs, error
bodies or the raw database files (bodies are sealed at rest)."""

import base64
import glob
import os

from harness import Carepost, Scenario, Sink, TestCA

s = Scenario("bad_input_and_privacy")
ca = TestCA(s.folder)
sink = Sink(s.folder, "sink", ca)
s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {"example.org": f"localhost:{sink.port}"}, ca.ca_file)
s.cleanups.append(cp.stop)

FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
good = {"from": FROM, "to": [{"email": "patient@example.org"}], "subject": "Hi", "text": "Hello"}


def expect_error(body, status_set, field=None, code=None, raw=None, what=""):
    status, doc = cp.send(body, raw=raw)
    ok = status in status_set and isinstance(doc, dict) and "error" in doc
    if ok and field is not None:
        ok = doc["error"].get("field") == field
    if ok and code is not None:
        ok = doc["error"].get("code") == code
    s.check(ok, f"{what}: {status} {doc}")


# Malformed and mistyped input.
expect_error(None, {400}, code="invalid_json", raw="{not json", what="malformed JSON")
expect_error(None, {400}, code="invalid_json", raw="[1,2]", what="JSON that is not an object")
expect_error({**good, "to": "patient@example.org"}, {400}, field="to", what="to not an array")
expect_error({**good, "subject": 5}, {400}, field="subject", what="subject not a string")
expect_error({k: v for k, v in good.items() if k != "from"}, {400}, field="from", what="no from")
expect_error({**good, "to": []}, {400, 422}, field="to", what="no recipients")
expect_error({**good, "to": [{"email": "not-an-address"}]}, {400, 422}, field="to[0].email",
             code="invalid_address", what="invalid address")
expect_error({**good, "attachments": [{"filename": "a.txt", "content": "!!"}]}, {400, 422},
             field="attachments[0].content", what="attachment not base64")
expect_error({**good, "attachments": [{"filename": "a.txt", "content": "Qr======"}]}, {400, 422},
             field="attachments[0].content", what="misplaced base64 padding")
expect_error({**good, "from": {"email": "x@unknown-domain.test"}}, {422},
             field="from.email", what="sender domain not set up")

# C07: CR/LF in every header-bound field is refused with the field's path.
c07 = [
    ({**good, "reply_to": {"name": "Front Desk\r\nBcc: attacker@example.net",
                           "email": "frontdesk@clinic.example.org"}}, "reply_to.name"),
    ({**good, "reply_to": {"name": "Front Desk",
                           "email": "frontdesk@clinic.example.org\r\nBcc: attacker@example.net"}},
     "reply_to.email"),
    ({**good, "from": {"email": "noreply@clinic.example.org", "name": "Clinic\nX-Priority: 1"}},
     "from.name"),
    ({**good, "to": [{"email": "patient@example.org", "name": "Pat\rBcc: attacker@example.net"}]},
     "to[0].name"),
    ({**good, "subject": "C07-c\r\nBcc: attacker@example.net"}, "subject"),
    ({**good, "headers": {"X-Case-Ref": "42\r\nBcc: attacker@example.net"}}, "headers.X-Case-Ref"),
    ({**good, "headers": {"X-Bad\r\nName": "1"}}, "headers"),
    ({**good, "subject": "nul\u0000byte"}, "subject"),
]
for body, field in c07:
    expect_error(body, {400, 422}, field=field, code="header_injection", what=f"C07 {field}")
expect_error({**good, "headers": {"Bcc": "attacker@example.net"}}, {400, 422},
             field="headers.Bcc", what="Bcc is not a settable header")

# Oversized body: 413 with a JSON error, the server keeps running.
big = "A" * (26 * 1024 * 1024)
status, doc = cp.send({**good, "text": big})
s.check(status == 413 and doc["error"]["code"] in ("payload_too_large", "message_too_large"),
        f"26 MB text is refused with 413 ({status})")
s.check(cp.request("GET", "/v1/health")[0] == 200, "server alive after oversized body")

# Authentication.
status, doc = cp.request("POST", "/v1/messages", good, headers={"Authorization": "Bearer nope"})
s.check(status == 401 and doc["error"]["code"] == "unauthorized", "bad key gives 401")
status, _ = cp.request("GET", "/v1/health", headers={"Authorization": ""})
s.check(status == 200, "health needs no key")

# Idempotency-Key: same key and body -> same answer; other body -> 409.
h = {"Idempotency-Key": "retry-123"}
st1, d1 = cp.send(good, headers=h)
st2, d2 = cp.send(good, headers=h)
st3, d3 = cp.send({**good, "subject": "other"}, headers=h)
s.check(st1 == 202 and st2 == 202 and d1 == d2, "same Idempotency-Key and body replays")
s.check(st3 == 409 and d3["error"]["code"] == "idempotency_conflict", "same key, other body: 409")

# Templates: create, fetch, new version on update; C13 escaping contexts.
c13 = {"id": "c13-results",
       "subject": "Results from {{clinic}} (ref {{ref}})",
       "text": "Hello {{name}},\n{{clinic}} has new results (ref {{ref}}).\n",
       "html": "<p>Hello {{name}},</p><p>{{clinic}} has new results (ref {{ref}}).</p>"
               "<p>{{{signature_html}}}</p><p>{{&signature_html}}</p>"}
st, d = cp.request("POST", "/v1/templates", c13)
s.check(st == 201 and d == {"id": "c13-results", "version": 1}, f"template created {st} {d}")
st, d = cp.request("PUT", "/v1/templates/c13-results", {**c13, "text": c13["text"] + "Bye\n"})
s.check(st == 201 and d["version"] == 2, "update makes version 2")
st, d = cp.request("GET", "/v1/templates/c13-results?version=1")
s.check(st == 200 and d["version"] == 1 and d["text"] == c13["text"], "version 1 kept")
st, d = cp.request("POST", "/v1/templates", {**c13, "id": "bad", "html": "{{#open}}"})
s.check(st in (400, 422) and d["error"]["code"] == "template_syntax", "syntax error refused")

# Canaries: PHI planted in every field must never show up in logs or errors,
# and the body canary never in the raw database files.
CANARY_SUBJECT = "CANARYSUBJ7431"
CANARY_BODY = "CANARYBODY9902"
CANARY_FILE = "CANARYFILE5520.pdf"
CANARY_LOCAL = "canarylocal6613"
body = {"from": FROM, "to": [{"email": f"{CANARY_LOCAL}@example.org", "name": "Pat"}],
        "subject": f"Your results {CANARY_SUBJECT}", "text": f"Result: {CANARY_BODY}",
        "html": f"<p>{CANARY_BODY}</p>",
        "attachments": [{"filename": CANARY_FILE, "content_type": "application/pdf",
                         "content": base64.b64encode(f"%PDF {CANARY_BODY}".encode()).decode()}]}
st, accepted = cp.send(body)
s.check(st == 202, f"canary message accepted ({st})")
errors = []
for bad in ({**body, "to": [{"email": f"{CANARY_LOCAL}@@example.org"}]},
            {**body, "subject": f"{CANARY_SUBJECT}\r\nBcc: x@example.net"},
            {**body, "attachments": [{"filename": CANARY_FILE, "content": "%%%"}]}):
    errors.append(str(cp.send(bad)[1]))
doc = cp.wait_status(accepted["id"])
s.check(doc and doc["recipients"][0]["status"] == "delivered", "canary message delivered")
status_text = str(cp.request("GET", f"/v1/messages/{accepted['id']}")[1])
logs = cp.logs().decode("utf-8", "replace")
for canary in (CANARY_SUBJECT, CANARY_BODY, CANARY_FILE, CANARY_LOCAL):
    s.check(canary not in logs, f"{canary} not in logs")
    s.check(all(canary not in e for e in errors), f"{canary} not in error bodies")
for canary in (CANARY_SUBJECT, CANARY_BODY, CANARY_FILE):
    s.check(canary not in status_text, f"{canary} not in message status")
raw = b""
for path in glob.glob(os.path.join(cp.folder, "data", "carepost.db*")):
    raw += open(path, "rb").read()
s.check(len(raw) > 0, "database files found")
for canary in (CANARY_SUBJECT, CANARY_BODY, CANARY_FILE):
    s.check(canary.encode() not in raw, f"{canary} not in raw database or WAL")
delivered = b"".join(sink.messages())
s.check(CANARY_BODY.encode() in delivered or base64.b64encode(CANARY_BODY.encode())[:8] in delivered,
        "the sink did receive the message (the canary test can fail)")

s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
