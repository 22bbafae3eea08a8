#!/usr/bin/python3
"""Field cases C01, C02, C03, C05, C07, C08 and C13 through the whole path:
REST API -> compose -> seal -> store -> DKIM -> SMTP over verified TLS -> a
real SMTP sink, checked with python3-dkim and Python's email package. Also
the bad-certificate destination and several RCPT in one transaction."""

import base64
import email
import hashlib
import re
from email import policy

import dkim.canonicalization

from harness import Carepost, Scenario, Sink, TestCA, verify_dkim

s = Scenario("field_cases")
ca = TestCA(s.folder)
rogue = TestCA(s.folder + "/rogue")  # a CA carepost does not trust
utf8_sink = Sink(s.folder, "utf8", ca)
ascii_sink = Sink(s.folder, "ascii", ca, extra=["--no-smtputf8"])
bad_cert_sink = Sink(s.folder, "badcert", rogue)
for sink in (utf8_sink, ascii_sink, bad_cert_sink):
    s.cleanups.append(sink.stop)
cp = Carepost(s.folder, {
    "example.org": f"localhost:{utf8_sink.port}",
    "xn--bcher-kva.example": f"localhost:{utf8_sink.port}",
    "example.net": f"localhost:{ascii_sink.port}",
    "badcert.test": f"localhost:{bad_cert_sink.port}",
}, ca.ca_file)
s.cleanups.append(cp.stop)
KEY = cp.dkim_public()
FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}


def send_and_fetch(body, sink=utf8_sink):
    """Sends, waits for a final status, returns (status doc, raw message)."""
    before = len(sink.messages())
    st, doc = cp.send(body)
    if st != 202:
        return None, None
    final = cp.wait_status(doc["id"])
    msgs = sink.messages()
    return final, (msgs[before] if len(msgs) == before + 1 else None)


def parsed(raw):
    return email.message_from_bytes(raw, policy=policy.default)


def part(raw, ctype):
    m = email.message_from_bytes(raw)
    return [p for p in m.walk() if p.get_content_type() == ctype][0].get_payload(decode=True)


def longest_line(raw):
    return max(len(l) for l in raw.split(b"\r\n"))


def bare_line_ends(raw):
    return len(re.findall(rb"(?<!\r)\n|\r(?!\n)", raw))


def relay_wrap(raw, limit=998):
    out = []
    for line in raw.split(b"\r\n"):
        while len(line) > limit:
            out.append(line[:limit])
            line = b" " + line[limit:]
        out.append(line)
    return b"\r\n".join(out)


def check_2047(raw, name, want):
    """C05's four properties for one header (its check script, as a function)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    lines = head.split("\r\n")
    i = next(k for k, l in enumerate(lines) if l.lower().startswith(name.lower() + ":"))
    phys = [lines[i]]
    for l in lines[i + 1:]:
        if l[:1] not in (" ", "\t"):
            break
        phys.append(l)
    problems = [f"line {len(l)}" for l in phys if len(l) > 78]
    value = "".join(phys)[len(name) + 1:].strip()
    out, pos, prev = "", 0, False
    for m in re.finditer(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=", value):
        gap = value[pos:m.start()]
        if not (prev and gap.strip() == ""):
            out += gap
        if len(m.group(0)) > 75:
            problems.append(f"word {len(m.group(0))}")
        data = m.group(3)
        import binascii
        raw_word = base64.b64decode(data) if m.group(2) in "bB" else \
            binascii.a2b_qp(data.replace("_", " "))
        try:
            out += raw_word.decode(m.group(1))
        except UnicodeDecodeError:
            problems.append("split character")
            out += raw_word.decode(m.group(1), "replace")
        pos, prev = m.end(), True
    out += value[pos:]
    if out != want:
        problems.append(f"decoded {out!r}")
    return problems


# C01: whitespace-only trailing lines; the signature must verify and bh= must
# be the relaxed hash of the body actually emitted.
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@example.org"}],
                             "subject": "C01 trailing whitespace",
                             "text": "Dear patient,\n\nYour  appointment \t is confirmed. \t\n \n\t\n\n"})
s.check(raw is not None and verify_dkim(raw, KEY), "C01 DKIM verifies (python3-dkim)")
if raw:
    body = raw.split(b"\r\n\r\n", 1)[1]
    want = base64.b64encode(hashlib.sha256(
        dkim.canonicalization.Relaxed.canonicalize_body(body)).digest()).decode()
    sig = re.sub(r"\s+", "", parsed(raw)["DKIM-Signature"])
    s.check(f"bh={want}" in sig, "C01 bh= is the relaxed hash of the emitted body")
    s.check("c=relaxed/relaxed" in sig and "a=rsa-sha256" in sig, "C01 relaxed/relaxed rsa-sha256")

# C02: a 1593-octet HTML line.
url = "https://portal.clinic.example.org/invite?token=" + "A1b2C3d4" * 180
html = ('<html><body><p>Welcome to the patient portal.</p><p><a href="%s">Activate your account'
        '</a></p></body></html>' % url)
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@example.org"}],
                             "subject": "Activate your portal account", "html": html})
s.check(raw is not None and longest_line(raw) <= 998 and bare_line_ends(raw) == 0,
        f"C02 no line over 998 octets ({raw and longest_line(raw)})")
s.check(raw is not None and verify_dkim(raw, KEY) and verify_dkim(relay_wrap(raw), KEY),
        "C02 DKIM verifies as sent and after a line-splitting relay")
if raw:
    decoded = re.sub(rb"\r?\n\Z", b"", part(raw, "text/html"))
    s.check(hashlib.sha256(decoded).hexdigest() ==
            "3c653a8dfef52fbbb00ba8f0e91bdbce30b76fe3e6c0290901e22942aee05ba0",
            "C02 HTML decodes byte-exact")

# C03: lines that are a lone dot.
before = len(utf8_sink.messages())
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@example.org"}],
                             "subject": "C03 dots",
                             "text": "Lab summary follows.\n.\n.hidden line\n..two dots\n.\nend of summary\n"})
s.check(raw is not None and len(utf8_sink.messages()) == before + 1, "C03 exactly one message")
s.check(raw is not None and part(raw, "text/plain") ==
        b"Lab summary follows.\r\n.\r\n.hidden line\r\n..two dots\r\n.\r\nend of summary\r\n",
        "C03 decoded text is the input with CRLF")
s.check(raw is not None and verify_dkim(raw, KEY), "C03 DKIM verifies")

# C05: encoded words never split a character, stay within 75/78.
emoji = "\U0001F600" * 40
german = ("Ihr Befund: Überweisung für Röntgenaufnahme – Kontrolltermin nächste Woche, "
          "Größenänderung äöü")
name = "Praxis Dr. Müller-Lüdenscheidt – Kinder- und Jugendmedizin Größenwahn"
for subject in (emoji, german):
    final, raw = send_and_fetch({"from": {"email": "noreply@clinic.example.org", "name": name},
                                 "to": [{"email": "patient@example.org"}],
                                 "subject": subject, "text": "C05"})
    problems = check_2047(raw, "Subject", subject) if raw else ["not delivered"]
    s.check(not problems, f"C05 subject {subject[:12]!r}... {problems}")
    if raw:
        frm = parsed(raw)["From"].addresses[0]
        s.check(frm.display_name == name and frm.addr_spec == "noreply@clinic.example.org",
                "C05 display name round-trips")
        s.check(verify_dkim(raw, KEY), "C05 DKIM verifies")

# C07 d: a display name with a comma and quotes stays one address.
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@example.org"}],
                             "reply_to": {"name": 'Front Desk, Ward 3 "East"',
                                          "email": "frontdesk@clinic.example.org"},
                             "subject": "C07-d", "text": "See you tomorrow."})
if raw:
    s.check(b'\r\nReply-To: "Front Desk, Ward 3 \\"East\\"" <frontdesk@clinic.example.org>\r\n'
            in raw, "C07-d Reply-To header exact")
    rt = parsed(raw)["Reply-To"].addresses
    s.check(len(rt) == 1 and rt[0].display_name == 'Front Desk, Ward 3 "East"',
            "C07-d parses as one address")
    s.check(parsed(raw).get_all("Bcc") is None, "C07-d no Bcc header")
else:
    s.check(False, "C07-d delivered")

# C08 a: IDN domain -> A-label in envelope and header.
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@bücher.example",
                                                   "name": "Jörg Bücher"}],
                             "subject": "C08-a IDN domain", "text": "Test"})
events = [e for e in utf8_sink.session_log() if e["event"] == "message"]
s.check(bool(events) and events[-1]["rcpts"] == ["patient@xn--bcher-kva.example"],
        "C08-a RCPT TO uses the A-label")
if raw:
    to_raw = re.search(rb"^To:(.*(?:\r\n[ \t].*)*)", raw, re.M).group(1)
    specs = re.findall(rb"<([^>]*)>", to_raw)
    s.check(specs == [b"patient@xn--bcher-kva.example"], f"C08-a To addr-spec {specs}")
    a = email.message_from_bytes(raw, policy=policy.SMTPUTF8)["To"].addresses[0]
    s.check(a.display_name == "Jörg Bücher", "C08-a display name decodes")

# C08 b: non-ASCII local part, to a hop with SMTPUTF8 ...
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "пациент@example.org",
                                                   "name": "Пациент"}],
                             "subject": "C08-b UTF-8 local part", "text": "Test"})
events = [e for e in utf8_sink.session_log() if e["event"] == "message"]
s.check(bool(events) and events[-1]["rcpts"] == ["пациент@example.org"] and
        "SMTPUTF8" in events[-1]["parameters"], "C08-b raw UTF-8 RCPT with MAIL ... SMTPUTF8")
if raw:
    s.check("<пациент@example.org>".encode() in raw and b"=?" not in
            re.search(rb"^To:.*$", raw, re.M).group(0).split(b"<")[1], "C08-b To in raw UTF-8")
# ... and to one without: permanent 5.6.7, nothing delivered, no retry loop.
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "пациент@example.net"}],
                             "subject": "C08-b no SMTPUTF8", "text": "Test"}, ascii_sink)
r = final["recipients"][0] if final else {}
s.check(r.get("status") == "bounced" and r.get("last_enhanced") == "5.6.7",
        f"C08-b without SMTPUTF8: bounced 5.6.7 ({r.get('status')} {r.get('last_enhanced')})")
s.check(raw is None and not ascii_sink.messages(), "C08-b nothing stored at the ASCII hop")

# C13: template contexts through a stored template.
c13 = {"id": "c13-results",
       "subject": "Results from {{clinic}} (ref {{ref}})",
       "text": "Hello {{name}},\n{{clinic}} has new results (ref {{ref}}).\n",
       "html": "<p>Hello {{name}},</p><p>{{clinic}} has new results (ref {{ref}}).</p>"
               "<p>{{{signature_html}}}</p><p>{{&signature_html}}</p>"}
cp.request("POST", "/v1/templates", c13)
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "patient@example.org"}],
                             "template_id": "c13-results",
                             "template_data": {"clinic": 'Smith & Jones "Kids" Clinic',
                                               "ref": "<A-42>",
                                               "name": "<script>alert(1)</script>",
                                               "signature_html": "<b>Dr. Lee</b>"}})
if raw:
    m = parsed(raw)
    s.check(b'\r\nSubject: Results from Smith & Jones "Kids" Clinic (ref <A-42>)\r\n' in raw,
            "C13 raw Subject line exact")
    text = m.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    s.check(text.rstrip("\n") == 'Hello <script>alert(1)</script>,\nSmith & Jones "Kids" Clinic '
            'has new results (ref <A-42>).', f"C13 text exact {text!r}")
    html = m.get_body(preferencelist=("html",)).get_content().rstrip("\r\n")
    s.check(html == '<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;,</p><p>Smith &amp; Jones '
            '&quot;Kids&quot; Clinic has new results (ref &lt;A-42&gt;).</p><p><b>Dr. Lee</b></p>'
            '<p><b>Dr. Lee</b></p>', f"C13 html exact {html!r}")
else:
    s.check(False, "C13 delivered")

# Several recipients at one domain share one transaction; cc/bcc are
# envelope recipients, and bcc never appears in the headers.
final, raw = send_and_fetch({"from": FROM, "to": [{"email": "a@example.org"}, "b@example.org"],
                             "cc": ["c@example.org"], "bcc": ["d@example.org"],
                             "subject": "several", "text": "x"})
events = [e for e in utf8_sink.session_log() if e["event"] == "message"]
s.check(bool(events) and sorted(events[-1]["rcpts"]) ==
        ["a@example.org", "b@example.org", "c@example.org", "d@example.org"],
        "four RCPT in one transaction")
s.check(raw is not None and b"d@example.org" not in raw.split(b"\r\n\r\n")[0], "bcc not in headers")
s.check(final and all(r["status"] == "delivered" for r in final["recipients"]),
        "all four delivered")

# A certificate from a CA we do not trust: no plaintext, deferred tls_required.
st, doc = cp.send({"from": FROM, "to": ["patient@badcert.test"], "subject": "tls", "text": "x"})
final = cp.wait_status(doc["id"], done=("deferred", "delivered", "bounced", "failed"))
r = final["recipients"][0]
s.check(r["status"] == "deferred" and r["reason"] == "tls_required",
        f"untrusted certificate: deferred tls_required ({r['status']} {r['reason']})")
s.check(not bad_cert_sink.messages() and
        not [e for e in bad_cert_sink.session_log() if e["event"] == "message"],
        "untrusted-certificate host received nothing")

s.check(cp.proc.poll() is None, "server never crashed")
s.finish()
