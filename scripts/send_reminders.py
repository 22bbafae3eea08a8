#!/usr/bin/python3
"""send_reminders.py: the main job's sender. One appointment reminder per
synthetic patient goes to carepost's REST API, plus two messages to a domain
that offers no TLS; a manifest records what each message must look like on
arrival, for check_delivery.py.

    send_reminders.py --api http://127.0.0.1:8080 --key-file KEY --manifest OUT.json
                      [--shared-dir DIR] [--include-deceased]

Inputs (all read-only): the Synthea FHIR bundles in
SHARED/corpus/fhir-synthea/patients/*.json, checked against patients.tsv, and
the Postmark "comment-notification" template (inlined CSS, basic layout) from
SHARED/corpus/email-templates. Its placeholders are filled as a reminder note
written by the clinic's scheduling desk: body = the reminder sentence,
commenter_name = the desk, timestamp = when the reminder was issued,
action_url = the appointment page, notifications_url = reminder preferences,
attachment_details = the attached appointment letter. The template files are
sent exactly as shipped.

Patients with a deceasedDateTime get no reminder (sending one to a dead
patient's address is the classic scheduling blunder); --include-deceased
overrides that. FHIR has no Appointment resource in these bundles, so the
appointment is a follow-up check-up with the practitioner and organisation of
the patient's latest encounter, on a date derived from today.

The manifest holds no secrets, only synthetic data. Exit status is non-zero
if any message was not answered 202.
"""

import argparse
import base64
import csv
import datetime
import glob
import hashlib
import html
import json
import os
import re
import sys
import unicodedata
import urllib.error
import urllib.request

TEMPLATE_PATH = "corpus/email-templates/postmark-templates-inlined/basic/comment-notification"
PATIENTS_PATH = "corpus/fhir-synthea"
SENDER = {"email": "reminders@carepost.test", "name": "Clinic Reminders"}
RECIPIENT_DOMAIN = "clinic.test"
NOTLS_RECIPIENT = "someone@notls.test"
PORTAL = "https://portal.carepost.test"
SUBJECT_TEMPLATE = "Your appointment reminder for {{appointment_day}}"
HTTP_TIMEOUT_SECONDS = 30


def default_shared_dir():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("CAREPOST_SHARED_DIR", os.path.join(repo, "..", "shared"))


def read_patient_index(shared_dir):
    """patients.tsv rows keyed by file name: the oracle for the bundles' Patient."""
    path = os.path.join(shared_dir, PATIENTS_PATH, "patients.tsv")
    with open(path, encoding="utf-8", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def resources_of(bundle, resource_type):
    return [e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == resource_type]


def resource_by_reference(bundle, reference):
    for entry in bundle["entry"]:
        if entry.get("fullUrl") == reference:
            return entry["resource"]
    return None


def human_name(name):
    parts = name.get("prefix", []) + name.get("given", []) + [name.get("family", "")]
    return " ".join(p for p in parts if p)


def slug(text):
    """ASCII local part from a person's name: 'Agustín' -> 'agustin'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def read_patient(path, index_row):
    """Extracts what a reminder needs from one bundle; checks it against patients.tsv."""
    with open(path, encoding="utf-8") as f:
        bundle = json.load(f)
    patient = resources_of(bundle, "Patient")[0]
    name = next((n for n in patient["name"] if n.get("use") == "official"), patient["name"][0])
    given, family = name["given"][0], name["family"]
    if index_row and (index_row["given"], index_row["family"]) != (given, family):
        raise ValueError("%s: Patient name disagrees with patients.tsv" % path)

    encounters = resources_of(bundle, "Encounter")
    latest = max(encounters, key=lambda e: e["period"]["start"])
    organisation = resource_by_reference(bundle, latest["serviceProvider"]["reference"])
    practitioner = None
    for participant in latest.get("participant", []):
        practitioner = resource_by_reference(bundle, participant["individual"]["reference"])
    if practitioner is None:
        practitioner = resources_of(bundle, "Practitioner")[0]
    reason = latest["type"][0].get("text", "visit")
    reason = re.sub(r"^Encounter for |\s*\(procedure\)$", "", reason)

    address = organisation.get("address", [{}])[0]
    place = ", ".join(filter(None, [" ".join(address.get("line", [])), address.get("city"),
                                    address.get("state")]))
    return {
        "patient_id": patient["id"],
        "given": given,
        "family": family,
        "deceased": bool(patient.get("deceasedDateTime")),
        "reason": reason,
        "organisation": organisation["name"],
        "place": place,
        "practitioner": human_name(practitioner["name"][0]),
    }


def appointment_time(number, today):
    """A weekday morning slot a few days ahead, distinct per patient."""
    day = today + datetime.timedelta(days=3 + number)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time(9, 0)) + datetime.timedelta(
        minutes=30 * number)


def pdf_string(text):
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return "(" + escaped + ")"


def make_pdf(lines):
    """A one-page PDF 1.4 with the given lines in Helvetica (WinAnsi), built by hand."""
    stream = "BT /F1 12 Tf 72 740 Td 16 TL\n"
    stream += "".join(pdf_string(line) + " '\n" for line in lines) + "ET\n"
    stream_bytes = stream.encode("cp1252", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream_bytes) + stream_bytes + b"endstream",
    ]
    # The binary comment marks the file as 8-bit, so transports must not
    # treat it as text: the attachment really tests base64 handling.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_offset = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref_offset)
    return bytes(out)


def read_template(shared_dir):
    folder = os.path.join(shared_dir, TEMPLATE_PATH)
    with open(os.path.join(folder, "content.html"), encoding="utf-8") as f:
        html_text = f.read()
    with open(os.path.join(folder, "content.txt"), encoding="utf-8") as f:
        plain_text = f.read()
    return {"subject": SUBJECT_TEMPLATE, "text": plain_text, "html": html_text}


def build_reminder(patient, number, now, template):
    """The request body and the manifest entry for one patient's reminder."""
    when = appointment_time(number, now.date())
    day = when.strftime("%A %d %B %Y").replace(" 0", " ")
    clock = when.strftime("%H:%M")
    appointment_id = "%s-%s" % (patient["patient_id"][:8], when.strftime("%Y%m%d%H%M"))
    full_name = "%s %s" % (patient["given"], patient["family"])
    body = ("This is a reminder of the %s appointment for %s on %s at %s with %s at %s, %s. "
            "Please arrive 15 minutes early and bring a photo ID." % (
                patient["reason"], full_name, day, clock, patient["practitioner"],
                patient["organisation"], patient["place"]))

    letter = make_pdf([
        "Appointment letter",
        "Patient: " + full_name,
        "When: %s at %s" % (day, clock),
        "With: " + patient["practitioner"],
        "Where: %s, %s" % (patient["organisation"], patient["place"]),
        "Reference: " + appointment_id,
    ])
    filename = "appointment-%s.pdf" % appointment_id
    template_data = {
        "appointment_day": day,
        "body": body,
        "commenter_name": "the scheduling desk of " + patient["organisation"],
        "timestamp": now.strftime("%Y-%m-%d %H:%M UTC"),
        "action_url": "%s/appointments/%s" % (PORTAL, appointment_id),
        "notifications_url": PORTAL + "/preferences/reminders",
        "attachment_details": [{
            "attachment_name": filename,
            "attachment_url": "%s/appointments/%s.pdf" % (PORTAL, appointment_id),
            "attachment_size": "%d bytes" % len(letter),
            "attachment_type": "PDF",
        }],
    }
    subject = SUBJECT_TEMPLATE.replace("{{appointment_day}}", day)
    email = "%s.%s@%s" % (slug(patient["given"]), slug(patient["family"]), RECIPIENT_DOMAIN)
    request = {
        "from": SENDER,
        "to": [{"email": email, "name": full_name}],
        "subject": subject,
        "template": template,
        "template_data": template_data,
        "attachments": [{"filename": filename, "content_type": "application/pdf",
                         "content": base64.b64encode(letter).decode()}],
    }
    # Values an honest renderer must show. The organisation name holds "&",
    # so the HTML part must carry it escaped; the text part is only checked
    # for values with no HTML-special characters.
    expected = {
        "kind": "clinic",
        "recipient": email,
        "recipient_name": full_name,
        "subject": subject,
        "attachment": {"filename": filename, "content_type": "application/pdf",
                       "sha256": hashlib.sha256(letter).hexdigest(), "size": len(letter)},
        "text_contains": [patient["given"], day, clock, patient["practitioner"]],
        "html_contains": [patient["given"], day, clock],
        "expect_status": "delivered",
    }
    if not re.search("[\"']", patient["organisation"]):
        expected["html_contains"].append(html.escape(patient["organisation"], quote=False))
    return request, expected


def build_notls_message(number, now, template):
    """A message for the destination without STARTTLS: it must be held, not sent."""
    note = "Test note %d for a destination that offers no TLS." % number
    attachment = ("carepost main job, no-TLS destination, message %d\n" % number).encode()
    filename = "note-%d.txt" % number
    template_data = {
        "appointment_day": now.strftime("%A %d %B %Y"),
        "body": note,
        "commenter_name": "the main job",
        "timestamp": now.strftime("%Y-%m-%d %H:%M UTC"),
        "action_url": PORTAL + "/notes/%d" % number,
        "notifications_url": PORTAL + "/preferences/reminders",
        "attachment_details": [],
    }
    subject = SUBJECT_TEMPLATE.replace("{{appointment_day}}", template_data["appointment_day"])
    request = {
        "from": SENDER,
        "to": [{"email": NOTLS_RECIPIENT, "name": "Someone"}],
        "subject": subject,
        "template": template,
        "template_data": template_data,
        "attachments": [{"filename": filename, "content_type": "text/plain",
                         "content": base64.b64encode(attachment).decode()}],
    }
    expected = {
        "kind": "notls",
        "recipient": NOTLS_RECIPIENT,
        "subject": subject,
        "attachment": {"filename": filename, "content_type": "text/plain",
                       "sha256": hashlib.sha256(attachment).hexdigest(),
                       "size": len(attachment)},
        "expect_status": "deferred",
        "expect_reason": "tls_required",
    }
    return request, expected


def post_message(api, key, request):
    """POST /v1/messages; returns (HTTP status, parsed JSON or raw text)."""
    data = json.dumps(request).encode("utf-8")
    http_request = urllib.request.Request(
        api.rstrip("/") + "/v1/messages", data=data, method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(http_request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def send_one(api, key, request, expected):
    """Sends one message and fills the manifest entry from the answer; returns success."""
    status, answer = post_message(api, key, request)
    expected["http_status"] = status
    ok = status == 202 and isinstance(answer, dict) and answer.get("id")
    if ok:
        expected["id"] = answer["id"]
        expected["recipient_ids"] = [r.get("id") for r in answer.get("recipients", [])]
        statuses = [r.get("status") for r in answer.get("recipients", [])]
        ok = len(statuses) == len(request["to"])
    else:
        # An API error body names the field at fault and never echoes PHI.
        expected["error"] = answer if isinstance(answer, dict) else str(answer)[:300]
    label = expected["id"] if ok else "FAILED"
    print("  %-6s %-40s -> %s %s" % (expected["kind"], expected["recipient"], status, label))
    return bool(ok)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", default=os.environ.get("CAREPOST_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--key-file", help="file holding the API key (else $CAREPOST_API_KEY)")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--shared-dir", default=default_shared_dir())
    parser.add_argument("--include-deceased", action="store_true")
    options = parser.parse_args()

    if options.key_file:
        with open(options.key_file) as f:
            key = f.read().strip()
    else:
        key = os.environ.get("CAREPOST_API_KEY", "")
    if not key:
        parser.error("no API key: --key-file or CAREPOST_API_KEY")

    template = read_template(options.shared_dir)
    index = read_patient_index(options.shared_dir)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    pattern = os.path.join(options.shared_dir, PATIENTS_PATH, "patients", "*.json")
    bundles = sorted(glob.glob(pattern))
    if not bundles:
        sys.exit("send_reminders: no patient bundles at " + pattern)

    manifest = {"created": now.isoformat(), "api": options.api, "sender": SENDER["email"],
                "template": TEMPLATE_PATH, "messages": [], "skipped": []}
    failures = 0
    print("send_reminders: %d patient bundles" % len(bundles))
    for number, path in enumerate(bundles):
        relative = os.path.relpath(path, os.path.join(options.shared_dir, PATIENTS_PATH))
        patient = read_patient(path, index.get(relative))
        if patient["deceased"] and not options.include_deceased:
            manifest["skipped"].append({"file": relative, "reason": "deceased"})
            print("  skip   %-40s (deceased)" % os.path.basename(relative).split("_")[0])
            continue
        request, expected = build_reminder(patient, number, now, template)
        expected["source"] = relative
        failures += not send_one(options.api, key, request, expected)
        manifest["messages"].append(expected)

    for number in (1, 2):
        request, expected = build_notls_message(number, now, template)
        failures += not send_one(options.api, key, request, expected)
        manifest["messages"].append(expected)

    with open(options.manifest, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
    sent = len(manifest["messages"]) - failures
    print("send_reminders: %d accepted, %d refused, %d skipped; manifest %s" % (
        sent, failures, len(manifest["skipped"]), options.manifest))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
