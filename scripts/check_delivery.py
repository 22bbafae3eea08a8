#!/usr/bin/python3
"""check_delivery.py: the main job's judge. It checks, with tools that share
no code with carepost, that every message in the manifest of
send_reminders.py arrived as it should, or was held as it should.

    check_delivery.py --manifest M.json --api URL --key-file KEY
                      --clinic-dir PFDIR --notls-dir PFDIR --dkim-records FILE
                      --config carepost.toml [--carepost-bin BIN] [--timeout 120]

Checks, each a row of the summary:
  status     GET /v1/messages/{id} reaches "delivered" for every recipient of a
             clinic.test message, and "deferred" with reason "tls_required"
             for the notls.test ones (bounded wait).
  file       exactly one Maildir file per clinic.test recipient, none extra.
  dkim       every DKIM-Signature verifies with python3-dkim against the TXT
             records printed by `carepost domain add` (no DNS), d= is the
             sender's domain and From is signed.
  headers    From, To display name and Subject read back with Python's email.
  text/html  the text/plain and text/html parts hold the filled-in values,
             and no "{{" is left.
  attach     the attachment's name, type and sha256 equal what was sent.
  tls        Postfix's log shows a TLS session (1.2 or later) on the SMTP
             connection that carried each delivered message.
  notls      the no-TLS Postfix stored nothing, accepted no MAIL, yet saw a
             connection (so the deferral came from a real attempt).
  audit      `carepost audit verify --config FILE` exits 0.
Exit status 0 only if every check passed.
"""

import argparse
import email
import email.policy
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import dkim

import importlib.util

# dkimpy verifies Ed25519 signatures only when PyNaCl (python3-nacl) exists.
HAS_NACL = importlib.util.find_spec("nacl") is not None

HTTP_TIMEOUT_SECONDS = 15
LOG_LINE = re.compile(r"^\S+ +\S+ \S+ \S+ (?P<program>\S+)\[(?P<pid>\d+)\]: (?P<text>.*)$")


class Report:
    """Collects (subject, check, ok, detail) rows and prints them as a table."""

    def __init__(self):
        self.rows = []

    def add(self, subject, check, ok, detail=""):
        self.rows.append((subject, check, bool(ok), detail))
        return ok

    def failures(self):
        return [row for row in self.rows if not row[2]]

    def print_table(self):
        width = max([len(r[0]) for r in self.rows] + [7])
        print("\n%-*s  %-9s %-4s %s" % (width, "subject", "check", "", "detail"))
        print("-" * (width + 40))
        for subject, check, ok, detail in self.rows:
            print("%-*s  %-10s %-4s %s" % (width, subject, check, "ok" if ok else "FAIL", detail))
        failed = len(self.failures())
        print("-" * (width + 40))
        print("main-job: %d passed, %d failed" % (len(self.rows) - failed, failed))


def get_message(api, key, message_id):
    request = urllib.request.Request(
        "%s/v1/messages/%s" % (api.rstrip("/"), message_id),
        headers={"Authorization": "Bearer " + key})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ValueError, OSError) as error:
        return {"error": str(error)[:200]}


def is_settled(entry, answer):
    """True when the recipients reached a state that cannot change into the expected one."""
    statuses = [r.get("status") for r in answer.get("recipients", [])]
    if not statuses:
        return False
    if entry["expect_status"] == "delivered":
        return all(s in ("delivered", "bounced", "failed") for s in statuses)
    return all(s != "queued" and s != "sending" for s in statuses)


def wait_for_statuses(options, key, messages, report):
    """Polls the API until every message settles or the deadline passes."""
    deadline = time.monotonic() + options.timeout
    answers = {}
    pending = [m for m in messages if m.get("id")]
    while pending and time.monotonic() < deadline:
        for entry in list(pending):
            answer = get_message(options.api, key, entry["id"])
            answers[entry["id"]] = answer
            if is_settled(entry, answer):
                pending.remove(entry)
        if pending:
            time.sleep(1)

    for entry in messages:
        label = entry.get("id", "?")[:12] + " " + entry["recipient"]
        if not entry.get("id"):
            report.add(label, "status", False, "not accepted: HTTP %s" % entry.get("http_status"))
            continue
        recipients = answers.get(entry["id"], {}).get("recipients", [])
        ok = bool(recipients)
        details = []
        for r in recipients:
            details.append("%s attempts=%s code=%s reason=%s" % (
                r.get("status"), r.get("attempts"), r.get("last_code"), r.get("reason")))
            ok = ok and r.get("status") == entry["expect_status"]
            if entry.get("expect_reason"):
                ok = ok and r.get("reason") == entry["expect_reason"]
        if not recipients:
            details.append(str(answers.get(entry["id"], "no answer"))[:120])
        report.add(label, "status", ok, "; ".join(details))


def read_dkim_records(path):
    """Maps 'selector._domainkey.domain' to its TXT value, from `domain add` output."""
    records = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"\s*(\S+\._domainkey\.\S+?)\.?\s+(?:IN\s+)?TXT\s+(.*)$", line)
            if match:
                value = "".join(re.findall(r'"([^"]*)"', match.group(2))) or match.group(2)
                records[match.group(1).lower()] = value.strip().encode()
    return records


def signature_tags(header_value):
    value = re.sub(r"\s+", "", header_value)
    return dict(tag.split("=", 1) for tag in value.split(";") if "=" in tag)


def check_dkim(raw, sender_domain, records, report, label):
    """Every DKIM-Signature must verify; at least one must be RSA-SHA256 for our domain."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    signatures = message.get_all("DKIM-Signature") or []
    if not signatures:
        return report.add(label, "dkim", False, "no DKIM-Signature")

    def dnsfunc(name, timeout=5):
        key = name.decode().rstrip(".").lower() if isinstance(name, bytes) else name
        return records.get(key.rstrip(".").lower())

    verifier = dkim.DKIM(raw)
    results = []
    ok = True
    has_rsa = False
    for index, header in enumerate(signatures):
        tags = signature_tags(header)
        algorithm = tags.get("a", "?")
        if tags.get("a") == "ed25519-sha256" and not HAS_NACL:
            results.append("ed25519 d=%s not checked (python3-nacl missing)" % tags.get("d"))
            continue
        try:
            verified = verifier.verify(idx=index, dnsfunc=dnsfunc)
        except Exception as error:  # dkimpy raises for keys it cannot load.
            verified = False
            algorithm += "(%s)" % type(error).__name__
        signed = [h.lower() for h in tags.get("h", "").split(":")]
        right_domain = tags.get("d", "").lower() == sender_domain
        good = verified and right_domain and "from" in signed
        has_rsa = has_rsa or (good and tags.get("a") == "rsa-sha256")
        ok = ok and good
        results.append("%s d=%s s=%s c=%s %s" % (algorithm, tags.get("d"), tags.get("s"),
                                                 tags.get("c", "simple/simple"),
                                                 "pass" if good else "FAIL"))
    return report.add(label, "dkim", ok and has_rsa, "; ".join(results))


def part_text(part):
    return part.get_content() if part is not None else ""


def check_content(message, entry, sender, report, label):
    """Headers, both alternative bodies and the attachment, as a mail reader sees them."""
    from_ok = message["From"] is not None and \
        message["From"].addresses[0].addr_spec.lower() == sender
    to_names = [a.display_name for a in message["To"].addresses] if message["To"] else []
    headers_ok = (from_ok and message["Subject"] == entry["subject"]
                  and entry.get("recipient_name") in to_names)
    report.add(label, "headers", headers_ok, "subject=%r to=%r" % (
        str(message["Subject"])[:60], to_names))

    for kind, key in (("plain", "text_contains"), ("html", "html_contains")):
        body = part_text(message.get_body(preferencelist=(kind,)))
        missing = [s for s in entry.get(key, []) if s not in body]
        leftover = "{{" in body
        report.add(label, "text/" + kind, body and not missing and not leftover,
                   "%d chars%s%s" % (len(body), "; missing %r" % missing if missing else "",
                                     "; unrendered {{ left" if leftover else ""))

    want = entry["attachment"]
    found = [p for p in message.iter_attachments() if p.get_filename() == want["filename"]]
    if len(found) != 1:
        names = [p.get_filename() for p in message.iter_attachments()]
        report.add(label, "attach", False, "want 1 %s, found %r" % (want["filename"], names))
        return
    payload = found[0].get_payload(decode=True) or b""
    digest = hashlib.sha256(payload).hexdigest()
    ok = digest == want["sha256"] and found[0].get_content_type() == want["content_type"]
    report.add(label, "attach", ok, "%s %d bytes sha256 %s" % (
        found[0].get_content_type(), len(payload), "match" if digest == want["sha256"]
        else "MISMATCH"))


def read_log(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def tls_by_queue_id(log_lines):
    """Maps each queue id created by smtpd to the TLS line of its connection (or None)."""
    session_tls = {}
    queue_tls = {}
    for line in log_lines:
        match = LOG_LINE.match(line)
        if not match or not match.group("program").endswith("/smtpd"):
            continue
        pid, text = match.group("pid"), match.group("text")
        if text.startswith("connect from "):
            session_tls[pid] = None
        elif "TLS connection established from" in text:
            version = re.search(r": (TLSv[0-9.]+) with", text)
            session_tls[pid] = version.group(1) if version else "TLS?"
        else:
            queued = re.match(r"([0-9A-F]+): client=", text)
            if queued:
                queue_tls[queued.group(1)] = session_tls.get(pid)
    return queue_tls


def maildir_files(sink_dir):
    return sorted(glob.glob(os.path.join(sink_dir, "mail", "*", "new", "*")) +
                  glob.glob(os.path.join(sink_dir, "mail", "*", "cur", "*")))


def canonical_bytes(path):
    """Maildir stores LF line ends; DKIM and SMTP are defined on CRLF."""
    with open(path, "rb") as f:
        return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def check_clinic(options, manifest, records, report):
    messages = [m for m in manifest["messages"] if m["kind"] == "clinic"]
    by_recipient = {m["recipient"].lower(): m for m in messages}
    files = {}
    for path in maildir_files(options.clinic_dir):
        raw = canonical_bytes(path)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        recipient = str(parsed.get("Delivered-To", "")).lower()
        files.setdefault(recipient, []).append((path, raw, parsed))

    queue_tls = tls_by_queue_id(read_log(os.path.join(options.clinic_dir, "log", "maillog")))
    sender_domain = manifest["sender"].split("@")[1]
    for recipient in sorted(set(files) - set(by_recipient)):
        report.add(recipient, "file", False, "unexpected delivery (%d files)" %
                   len(files[recipient]))

    for entry in messages:
        label = entry.get("id", "?")[:12] + " " + entry["recipient"]
        got = files.get(entry["recipient"].lower(), [])
        if not report.add(label, "file", len(got) == 1, "%d file(s) in Maildir" % len(got)):
            if not got:
                continue
        path, raw, parsed = got[0]
        check_dkim(raw, sender_domain, records, report, label)
        check_content(parsed, entry, manifest["sender"], report, label)

        received = str(parsed.get("Received", ""))
        queue_id = re.search(r"\bid ([0-9A-F]+)\b", received)
        version = queue_tls.get(queue_id.group(1)) if queue_id else None
        report.add(label, "tls", version in ("TLSv1.2", "TLSv1.3"),
                   "queue id %s, log: %s" % (queue_id.group(1) if queue_id else "?",
                                             version or "no TLS line for its connection"))


def check_notls(options, report):
    stored = maildir_files(options.notls_dir)
    report.add("notls.test", "mailbox", not stored, "%d file(s) stored" % len(stored))
    log = read_log(os.path.join(options.notls_dir, "log", "maillog"))
    queued = [l for l in log if re.search(r": [0-9A-F]+: client=|status=sent|from=<", l)]
    # Sessions that said EHLO: the start-up probe of postfix-sink.sh only
    # connects, so it cannot pass for an attempt by carepost.
    sessions = [l for l in log if "/smtpd[" in l and re.search(r": disconnect from .* ehlo=", l)]
    report.add("notls.test", "log", not queued, "%d queued/MAIL lines" % len(queued))
    report.add("notls.test", "attempt", bool(sessions),
               "%d SMTP session(s) with EHLO seen (carepost tried, then held the mail)" %
               len(sessions))


def check_audit(options, report):
    if not options.config:
        return report.add("carepost", "audit", False, "no --config given")
    command = [options.carepost_bin, "audit", "verify", "--config", options.config]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        detail = (result.stdout + result.stderr).strip().splitlines()
        return report.add("carepost", "audit", result.returncode == 0, "exit %d %s" % (
            result.returncode, detail[-1][:80] if detail else ""))
    except (OSError, subprocess.TimeoutExpired) as error:
        return report.add("carepost", "audit", False, str(error)[:100])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--clinic-dir", required=True)
    parser.add_argument("--notls-dir", required=True)
    parser.add_argument("--dkim-records", required=True)
    parser.add_argument("--config")
    parser.add_argument("--carepost-bin", default=os.environ.get("CAREPOST_BIN", "carepost"))
    parser.add_argument("--timeout", type=float, default=120)
    options = parser.parse_args()

    with open(options.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    with open(options.key_file) as f:
        key = f.read().strip()
    records = read_dkim_records(options.dkim_records)
    report = Report()
    report.add("carepost", "dkim-txt", bool(records), "%d record(s): %s" % (
        len(records), ", ".join(records)))

    wait_for_statuses(options, key, manifest["messages"], report)
    # The API says "delivered" once Postfix answered 250 to DATA, a moment
    # before its virtual agent moves the file into new/: wait, bounded.
    expected_files = sum(1 for m in manifest["messages"] if m["kind"] == "clinic")
    deadline = time.monotonic() + 15
    while (len(maildir_files(options.clinic_dir)) < expected_files
           and time.monotonic() < deadline):
        time.sleep(0.2)
    check_clinic(options, manifest, records, report)
    check_notls(options, report)
    check_audit(options, report)

    report.print_table()
    sys.exit(1 if report.failures() else 0)


if __name__ == "__main__":
    main()
