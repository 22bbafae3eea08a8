"""Asynchronous bounces and complaints through carepost's own inbound SMTP
listener: VERP return paths per recipient, DSNs of every class (C09: hard
suppresses; mailbox full and blocklists do not; a delay is not final), an
ARF complaint to the feedback address, forged return paths refused, and the
whole shared bounce corpus pushed through the listener and through
`carepost bounce classify`, with its accuracy against expected.tsv."""

import csv
import json
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, SHARED, Carepost, Scenario, Sink, TestCA, free_port  # noqa: E402

BOUNCE_DOMAIN = "bounces.clinic.example.org"
CORPUS = os.path.join(SHARED, "corpus", "bounces")


def dsn(verp, recipient, block, message_id):
    return ("From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
            f"To: {verp}\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "Date: Thu, 03 Dec 2026 10:05:00 +0000\r\n"
            "Message-ID: <dsn-" + recipient.split("@")[0] + "@mx.example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
            "\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "Your message could not be delivered.\r\n"
            "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.net\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\n{block}\r\n"
            "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: Clinic <noreply@clinic.example.org>\r\nTo: {recipient}\r\n"
            f"Subject: Your appointment reminder\r\nMessage-ID: {message_id}\r\n"
            "\r\n--b1--\r\n")


def arf(recipient, message_id):
    return ("From: feedback@isp.example\r\nTo: fbl@" + BOUNCE_DOMAIN + "\r\n"
            "Subject: Abuse report\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"\r\n'
            "\r\n--f1\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
            "\r\n--f1\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {recipient}\r\n"
            "\r\n--f1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: Clinic <noreply@clinic.example.org>\r\nTo: {recipient}\r\n"
            f"Subject: Newsletter\r\nMessage-ID: {message_id}\r\n"
            "\r\n--f1--\r\n")


def main():
    sc = Scenario("bounces_inbound")
    ca = TestCA(sc.folder)
    sink = Sink(sc.folder, "sink", ca)
    sc.cleanups.append(sink.stop)
    listen_port = free_port()
    config = "\n".join(["[bounce]", f'domain = "{BOUNCE_DOMAIN}"',
                        f'listen = "127.0.0.1:{listen_port}"', 'feedback_peers = "127.0.0.1"'])
    cp = Carepost(sc.folder, {"example.net": f"localhost:{sink.port}"}, ca.ca_file,
                  scopes=("admin",), extra_config=config)
    sc.cleanups.append(cp.stop)
    FROM = "noreply@clinic.example.org"

    who = ["hard", "soft", "block", "delay", "complain", "corpus", "victim"]
    st, doc = cp.send({"from": FROM, "to": [f"{w}@example.net" for w in who],
                       "subject": "Reminder", "text": "See you."})
    mid = doc["id"]
    ids = {r["email"].split("@")[0]: r["id"] for r in doc["recipients"]}
    final = cp.wait_status(mid)
    sc.check(final and all(r["status"] == "delivered" for r in final["recipients"]),
             "all delivered to the first MTA")

    # Each recipient went in its own transaction with its own return path.
    sessions = [e for e in sink.session_log() if e.get("event") == "message"]
    verp = {}
    for e in sessions:
        for rcpt in e["rcpts"]:
            verp[rcpt.split("@")[0]] = e["mail_from"]
    pattern = re.compile(r"^bounce\+(rcp_[0-9a-f]{24})-[0-9a-f]{16}@" + re.escape(BOUNCE_DOMAIN)
                         + "$")
    sc.check(all(pattern.match(verp.get(w, "")) and pattern.match(verp[w]).group(1) == ids[w]
                 for w in who), f"VERP return path per recipient ({verp.get('hard')})")
    raw = sink.messages()[0].decode()
    message_id = re.search(r"^Message-ID: (<[^>]+>)", raw, re.M | re.I).group(1)
    sc.check(message_id.startswith(f"<{mid}@"), "the Message-ID names the message")

    smtp = smtplib.SMTP("127.0.0.1", listen_port, timeout=30)
    blocks = {
        "hard": "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.net\r\n"
                "Diagnostic-Code: smtp; 550 5.1.1 <hard@example.net>: Recipient address\r\n"
                "    rejected: User unknown in virtual mailbox table",
        "soft": "Action: failed\r\nStatus: 5.2.2\r\n"
                "Diagnostic-Code: X-Postfix; mailbox is full (quota exceeded)",
        "block": "Action: failed\r\nStatus: 5.7.1\r\nRemote-MTA: dns; mx.example.net\r\n"
                 "Diagnostic-Code: smtp; 554 5.7.1 Service unavailable; client host\r\n"
                 "    [192.0.2.25] blocked using a DNS blocklist",
        "delay": "Action: delayed\r\nStatus: 4.4.1\r\n"
                 "Will-Retry-Until: Sat, 05 Dec 2026 10:05:00 +0000\r\n"
                 "Diagnostic-Code: X-Postfix; connect to mx.example.net[198.51.100.7]:25:\r\n"
                 "    Connection timed out",
    }
    for w, block in blocks.items():
        refused = smtp.sendmail("", [verp[w]],
                                dsn(verp[w], f"{w}@example.net", block, message_id).encode())
        sc.check(refused == {}, f"the listener takes the {w} DSN")
    refused = smtp.sendmail("", [f"fbl@{BOUNCE_DOMAIN}"],
                            arf("complain@example.net", message_id).encode())
    sc.check(refused == {}, "the listener takes the ARF complaint")
    forged = verp["hard"][:-len(BOUNCE_DOMAIN) - 3] + ("00" if not verp["hard"].endswith(
        "00@" + BOUNCE_DOMAIN) else "11") + "@" + BOUNCE_DOMAIN
    code, _ = smtp.docmd("MAIL FROM:<>")
    code, _ = smtp.docmd(f"RCPT TO:<{forged}>")
    sc.check(code == 550, f"a forged return path is refused ({code})")
    smtp.docmd("RSET")

    # Anyone can quote a Message-ID: a bounce sent to the feedback address
    # counts for nothing, and complaints count only from feedback peers.
    victim_block = ("Action: failed\r\nStatus: 5.1.1\r\n"
                    "Diagnostic-Code: smtp; 550 5.1.1 user unknown")
    smtp.sendmail("", [f"fbl@{BOUNCE_DOMAIN}"],
                  dsn(f"fbl@{BOUNCE_DOMAIN}", "victim@example.net", victim_block,
                      message_id).encode())
    stranger = smtplib.SMTP("127.0.0.1", listen_port, timeout=30,
                            source_address=("127.0.0.2", 0))
    stranger.sendmail("", [f"fbl@{BOUNCE_DOMAIN}"], arf("victim@example.net", message_id).encode())
    stranger.quit()

    st, doc = cp.request("GET", f"/v1/messages/{mid}/events")
    by = {}
    for e in doc["data"]:
        by.setdefault(e["email"].split("@")[0], []).append((e["type"], e["bounce_class"]))
    sc.check(("bounced", "hard") in by.get("hard", []), f"hard DSN: bounced/hard ({by.get('hard')})")
    sc.check(("bounced", "soft") in by.get("soft", []), "mailbox full: bounced/soft")
    sc.check(("bounced", "block") in by.get("block", []), "blocklist: bounced/block")
    sc.check(("deferred", "delay") in by.get("delay", []), "delay notice: a deferred event")
    sc.check(any(t == "complained" for t, _ in by.get("complain", [])), "ARF: complained")
    status = {r["email"].split("@")[0]: r["status"]
              for r in cp.request("GET", f"/v1/messages/{mid}")[1]["recipients"]}
    sc.check(status["victim"] == "delivered" and
             cp.request("GET", "/v1/suppressions?email=victim@example.net")[1]["data"] == [],
             "forged reports to the feedback address change nothing")
    sc.check(status["hard"] == "bounced" and status["delay"] == "delivered",
             f"a later bounce changes the status; a delay does not ({status})")
    supp = {w: [r["reason"] for r in cp.request(
        "GET", f"/v1/suppressions?email={w}@example.net")[1]["data"]] for w in who[:5]}
    sc.check(supp == {"hard": ["hard_bounce"], "soft": [], "block": [], "delay": [],
                      "complain": ["complaint"]},
             f"only the hard bounce and the complaint suppress (C09) ({supp})")

    # ---- The whole corpus, through the listener ------------------------
    files = sorted(os.listdir(os.path.join(CORPUS, "messages")))
    answers = {}
    for name in files:
        data = open(os.path.join(CORPUS, "messages", name), "rb").read()
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        try:
            smtp.sendmail("", [verp["corpus"]], data)
            answers["250"] = answers.get("250", 0) + 1
        except smtplib.SMTPException as e:
            answers[str(getattr(e, "smtp_code", type(e).__name__))] = \
                answers.get(str(getattr(e, "smtp_code", type(e).__name__)), 0) + 1
            smtp = smtplib.SMTP("127.0.0.1", listen_port, timeout=30)
    smtp.quit()
    print(f"  corpus through the listener: {len(files)} messages, answers {answers}")
    sc.check(answers.get("250", 0) == len(files), "every corpus message is taken (250)")
    st, doc = cp.request("GET", f"/v1/events?recipient_id={ids['corpus']}&limit=500")
    print(f"  events recorded for the corpus recipient: {len(doc['data'])}")
    sc.check(st == 200 and len(doc["data"]) > len(files) // 2,
             "most corpus reports become events of the recipient they came back for")

    # ---- Accuracy: carepost bounce classify vs expected.tsv ------------
    out = subprocess.run([BIN, "bounce", "classify"] +
                         [os.path.join(CORPUS, "messages", f) for f in files],
                         capture_output=True, text=True, timeout=300)
    got = {}
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        got.setdefault(os.path.basename(rec["file"]), []).append(rec)
    # An exact repeat of a row counts once; rows of one file that share an
    # index (two recipients both numbered 1) are taken in order.
    rows, seen_rows, position = [], set(), {}
    for row in csv.DictReader(open(os.path.join(CORPUS, "expected.tsv")), delimiter="\t"):
        key = tuple(row.values())
        if key in seen_rows:
            continue
        seen_rows.add(key)
        name = os.path.basename(row["file"])
        row["position"] = position.get(name, 0)
        position[name] = row["position"] + 1
        rows.append(row)
    right_rcpt = right_hard = right_reason = 0
    for row in rows:
        recs = got.get(os.path.basename(row["file"]), [])
        i = row["position"]
        if i >= len(recs) or "@" not in (recs[i]["recipient"] or ""):
            continue
        right_rcpt += 1
        if recs[i]["hard"] == (row["hard_bounce"] == "true"):
            right_hard += 1
        if recs[i]["reason"] == row["reason"]:
            right_reason += 1
    n = len(rows)
    print(f"  classify accuracy over {n} rows: recipient {100 * right_rcpt / n:.1f}%, "
          f"recipient+hard/soft {100 * right_hard / n:.1f}%, reason {100 * right_reason / n:.1f}%")
    sc.check(out.returncode == 0 and right_rcpt / n >= 0.95, "right recipient on at least 95%")
    sc.check(right_reason / n >= 0.85, "exact reason on at least 85%")
    sc.check(right_hard / n >= 0.95, "right recipient and right hard/soft on at least 95%")
    sc.finish()


if __name__ == "__main__":
    main()
