"""Events, signed webhooks, synchronous bounce classes, suppressions, open
and click tracking, and RFC 8058 one-click unsubscribe (field cases C09's
synchronous variant and C14), end to end with a real SMTP peer and a
webhook receiver on loopback that checks every signature."""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Carepost, Scenario, Sink, TestCA, verify_dkim  # noqa: E402

PHI = "CANARY-PHI-7Q2"  # planted in subjects and bodies; must reach no event or webhook


class Receiver:
    """A webhook endpoint that verifies each signature with its own HMAC."""

    def __init__(self):
        self.secret = None
        self.events = []
        self.bad = 0
        self.raw = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = dict(p.split("=", 1) for p in self.headers["Carepost-Signature"].split(","))
                good = outer.secret and hmac.compare_digest(
                    sig.get("v1", ""),
                    hmac.new(outer.secret.encode(), sig["t"].encode() + b"." + body,
                             hashlib.sha256).hexdigest())
                if good and abs(time.time() - int(sig["t"])) < 300:
                    doc = json.loads(body)
                    if doc["id"] != self.headers["Carepost-Event-Id"]:
                        outer.bad += 1
                    outer.events.append(doc)
                    outer.raw += body
                else:
                    outer.bad += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def wait_for(predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def main():
    sc = Scenario("events_and_webhooks")
    ca = TestCA(sc.folder)
    sink = Sink(sc.folder, "sink", ca, extra=[
        "--rcpt-reply", "^gone@=550 5.1.1 <gone@example.net>: Recipient address rejected: "
        "User unknown",
        "--rcpt-reply", "^listed@=554 5.7.1 Service unavailable; client host [127.0.0.1] "
        "blocked using a DNS blocklist",
        "--rcpt-reply", "^full@=552 5.2.2 mailbox is full (quota exceeded)",
        "--rcpt-reply", "^later@=451 4.3.0 try again later"])
    sc.cleanups.append(sink.stop)
    receiver = Receiver()
    sc.cleanups.append(receiver.stop)
    config = "\n".join([
        "escalate_after_seconds = 3",
        "[tracking]", 'base_url = "https://track.clinic.example.org"',
        "[webhooks]", 'allow_insecure_hosts = "127.0.0.1"',
    ])
    cp = Carepost(sc.folder, {"example.net": f"localhost:{sink.port}"}, ca.ca_file,
                  scopes=("admin",), extra_config=config)
    sc.cleanups.append(cp.stop)
    FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}

    # ---- Webhook endpoints -----------------------------------------------
    for bad in ("http://10.0.0.1/hook", "https://169.254.169.254/latest", "http://[::1]:9/x",
                "ftp://127.0.0.1/x"):
        st, doc = cp.request("POST", "/v1/webhooks", {"url": bad})
        sc.check(st == 422 and doc["error"]["code"] in ("endpoint_not_allowed", "invalid_url"),
                 f"webhook URL {bad} is refused ({st})")
    st, doc = cp.request("POST", "/v1/webhooks",
                         {"url": f"http://127.0.0.1:{receiver.port}/hook"})
    sc.check(st == 201 and doc["secret"].startswith("whsec_"),
             f"a loopback endpoint allowed by the configuration is registered ({st})")
    receiver.secret = doc["secret"]
    hook_id = doc["id"]
    st, doc = cp.request("GET", f"/v1/webhooks/{hook_id}")
    sc.check(st == 200 and "secret" not in doc, "the webhook secret is shown once")

    # ---- Delivered, with its events in order ------------------------------
    st, doc = cp.send({"from": FROM, "to": ["ok@example.net"], "subject": f"Visit {PHI}",
                       "text": f"Body {PHI}"})
    mid = doc["id"]
    cp.wait_status(mid)
    sc.check(wait_for(lambda: any(e["type"] == "delivered" and e["message_id"] == mid
                                  for e in receiver.events)),
             "the webhook hears of the delivery within seconds")
    ours = [e["type"] for e in receiver.events if e["message_id"] == mid]
    sc.check(ours == ["accepted", "queued", "delivered"],
             f"events of one message arrive in order ({ours})")
    sc.check(receiver.bad == 0, "every webhook request carries a valid signature")
    st, doc = cp.request("GET", f"/v1/messages/{mid}/events")
    sc.check(st == 200 and [e["type"] for e in doc["data"]] == ["accepted", "queued", "delivered"],
             "GET /v1/messages/{id}/events lists them")
    delivered = doc["data"][-1]
    sc.check(delivered["email"] == "ok@example.net" and delivered["recipient_id"].startswith("rcp_")
             and delivered["reply_code"] == 250 and delivered["id"].startswith("evt_"),
             "an event carries its ids, address and reply code")

    # ---- Synchronous bounces, classified (C09) ----------------------------
    st, doc = cp.send({"from": FROM, "to": ["gone@example.net", "listed@example.net",
                                            "full@example.net", "later@example.net"],
                       "subject": f"Results {PHI}", "text": "x"})
    mid2 = doc["id"]
    cp.wait_status(mid2, done=("bounced", "deferred", "failed", "delivered"))
    st, doc = cp.request("GET", f"/v1/events?message_id={mid2}&type=bounced")
    classes = {e["email"]: (e["bounce_class"], e["reason"]) for e in doc["data"]}
    sc.check(classes.get("gone@example.net", ("",))[0] == "hard", f"550 5.1.1: hard ({classes})")
    sc.check(classes.get("listed@example.net", ("",))[0] == "block",
             "554 5.7.1 blocklist: block, our problem, not the recipient's")
    sc.check(classes.get("full@example.net", ("",))[0] == "soft",
             "552 5.2.2 mailbox full: soft")
    st, doc = cp.request("GET", f"/v1/events?message_id={mid2}&type=deferred")
    sc.check(any(e["email"] == "later@example.net" for e in doc["data"]), "451: a deferred event")

    def escalations():
        return cp.request("GET", f"/v1/events?message_id={mid2}&type=escalated")[1]["data"]
    sc.check(wait_for(lambda: len(escalations()) == 1, 30) and
             escalations()[0]["email"] == "later@example.net",
             "still deferred past delivery.escalate_after_seconds: one escalated event")
    supp = {}
    for who in ("gone", "listed", "full", "later"):
        st, doc = cp.request("GET", f"/v1/suppressions?email={who}@example.net")
        supp[who] = [r["reason"] for r in doc["data"]]
    sc.check(supp == {"gone": ["hard_bounce"], "listed": [], "full": [], "later": []},
             f"only the hard bounce suppresses the address ({supp})")

    before = len(sink.messages())
    st, doc = cp.send({"from": FROM, "to": ["gone@example.net", "ok@example.net"],
                       "subject": "again", "text": "x"})
    statuses = {r["email"]: r["status"] for r in doc["recipients"]}
    sc.check(statuses == {"gone@example.net": "suppressed", "ok@example.net": "queued"},
             f"a suppressed address gets no delivery; the others do ({statuses})")
    cp.wait_status(doc["id"], done=("delivered", "suppressed"))
    sc.check(len(sink.messages()) == before + 1, "only one copy went out")
    st, doc = cp.request("GET", f"/v1/events?type=suppressed&message_id={doc['id']}")
    sc.check(len(doc["data"]) == 1 and doc["data"][0]["email"] == "gone@example.net",
             "the suppressed recipient has a suppressed event")
    st, _ = cp.request("DELETE", "/v1/suppressions?email=gone%40example.net&stream=")
    st2, doc = cp.request("GET", "/v1/suppressions?email=gone@example.net")
    sc.check(st == 200 and doc["data"] == [], f"an admin removes a suppression ({st})")
    st, doc = cp.request("POST", "/v1/suppressions", {"email": "Manual@Example.net"})
    st2, doc2 = cp.send({"from": FROM, "to": ["manual@example.net"], "subject": "x", "text": "x"})
    sc.check(st == 201 and doc2["recipients"][0]["status"] == "suppressed",
             f"a suppression added by hand applies, whatever the case ({st})")

    # ---- Tracking ---------------------------------------------------------
    html = ('<html><body><p>Hello</p><a href="https://portal.clinic.example.org/visit?id=1">'
            'Portal</a> <a href="mailto:help@clinic.example.org">Mail us</a>'
            ' <a href="#top">Top</a></body></html>')
    st, doc = cp.send({"from": FROM, "to": ["ok@example.net"], "subject": "Tracked",
                       "html": html, "track_clicks": True, "track_opens": True})
    sc.check(st == 422 and doc["error"]["code"] == "tracking_not_allowed",
             f"mail carrying PHI (the default) is not tracked ({st})")
    st, doc = cp.send({"from": FROM, "to": ["ok@example.net"], "subject": "Tracked",
                       "html": html, "track_clicks": True, "track_opens": True, "phi": False})
    tracked_mid = doc["id"]
    cp.wait_status(tracked_mid)
    raw = sink.messages()[-1]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(("html",)).get_content()
    clicks = re.findall(r'href="https://track\.clinic\.example\.org/t/c/([A-Za-z0-9_-]+)"', body)
    opens = re.findall(r'src="https://track\.clinic\.example\.org/t/o/([A-Za-z0-9_-]+)"', body)
    sc.check(len(clicks) == 1 and len(opens) == 1 and "mailto:help@clinic.example.org" in body
             and 'href="#top"' in body, "http links rewritten; mailto and anchors left alone")
    st, _ = cp.request("GET", f"/t/c/{clicks[0]}")
    conn_headers = {}
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=10)
    c.request("GET", f"/t/c/{clicks[0]}")
    r = c.getresponse()
    r.read()
    sc.check(r.status == 302 and r.getheader("Location") ==
             "https://portal.clinic.example.org/visit?id=1", "a click redirects to the original link")
    c.request("GET", f"/t/c/{clicks[0][:-2]}AA")
    r = c.getresponse()
    r.read()
    sc.check(r.status == 404, "a tampered click token is not redirected anywhere")
    c.request("GET", f"/t/o/{opens[0]}")
    r = c.getresponse()
    gif = r.read()
    sc.check(r.status == 200 and gif.startswith(b"GIF89a") and
             r.getheader("Content-Type") == "image/gif", "the open pixel is a GIF")
    c.close()
    sc.check(wait_for(lambda: {e["type"] for e in receiver.events
                               if e["message_id"] == tracked_mid} >= {"opened", "clicked"}),
             "opened and clicked events reach the webhook")

    # Tracking switched on for a stream by the organisation.
    cp.admin("org", "settings", "--org", cp.org, "--tracked-stream", "campaign")
    variants = {"stream, no PHI": {"phi": False},
                "stream, PHI (default)": {},
                "stream, message says no": {"phi": False, "track_clicks": False,
                                            "track_opens": False}}
    tracked = {}
    for label, extra in variants.items():
        body = {"from": FROM, "to": ["ok@example.net"], "subject": "Campaign", "html": html,
                "stream": "campaign", "list_unsubscribe": False}
        body.update(extra)
        st, doc = cp.send(body)
        cp.wait_status(doc["id"])
        part = email.message_from_bytes(sink.messages()[-1], policy=email.policy.default)
        tracked[label] = (st, "/t/c/" in part.get_body(("html",)).get_content())
    sc.check(tracked == {"stream, no PHI": (202, True), "stream, PHI (default)": (202, False),
                         "stream, message says no": (202, False)},
             f"a tracked stream: on by default, never for PHI, off when the message says ({tracked})")

    # A link whose target holds a line break (from template data, or an
    # entity) is never tracked, so it can never reach a Location header.
    st, doc = cp.send({"from": FROM, "to": ["ok@example.net"], "subject": "x", "phi": False,
                       "track_clicks": True,
                       "template": {"subject": "s", "html":
                                    '<a href="https://portal.example/r?n={{name}}">x</a>'},
                       "template_data": {"name": "Bob\nSet-Cookie: pwn=1"}})
    cp.wait_status(doc["id"])
    body = email.message_from_bytes(sink.messages()[-1], policy=email.policy.default)
    html_part = body.get_body(("html",)).get_content()
    sc.check("/t/c/" not in html_part, "a link with a line break is left untracked")

    # One mailbox, many spellings: the suppression list sees one.
    st, _ = cp.request("POST", "/v1/suppressions", {"email": "pat@exämple.net"})
    spellings = ["pat@xn--exmple-cua.net", "pat@EXÄMPLE.net", '"pat"@exämple.net', "PAT@exämple.net"]
    got = [cp.send({"from": FROM, "to": [s_], "subject": "x", "text": "x"})[1]["recipients"][0]
           ["status"] for s_ in spellings]
    sc.check(got == ["suppressed"] * 4, f"suppression holds for every spelling ({got})")

    # ---- C14: one-click unsubscribe -------------------------------------
    long_local = "patient." + "x" * 50
    for to in ("patient@example.net", f"{long_local}@example.net"):
        st, doc = cp.send({"from": {"email": "news@clinic.example.org", "name": "Clinic News"},
                           "to": [{"email": to}], "stream": "newsletter", "list_unsubscribe": True,
                           "subject": "C14 December newsletter", "text": "Flu shots are available.",
                           "html": "<p>Flu shots are available.</p>"})
        sc.check(st == 202, f"newsletter accepted ({st})")
        cp.wait_status(doc["id"])
    raws = sink.messages()[-2:]
    urls = []
    for raw in raws:
        m = email.message_from_bytes(raw)
        lu = re.sub(r"\s+", "", m["List-Unsubscribe"] or "")
        found = re.search(r"<(https://[^>]+)>", lu)
        urls.append(found.group(1) if found else "")
        tags = dict(t.split("=", 1) for t in re.sub(r"\s+", "", m["DKIM-Signature"]).split(";")
                    if "=" in t)
        signed = [x.lower() for x in tags["h"].split(":")]
        sc.check("list-unsubscribe" in signed and "list-unsubscribe-post" in signed,
                 "DKIM h= covers List-Unsubscribe and List-Unsubscribe-Post")
        sc.check(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click",
                 "List-Unsubscribe-Post is exact")
        sc.check(verify_dkim(raw, cp.dkim_public()), "the signature verifies (python3-dkim)")
    sc.check(all(u.startswith("https://track.clinic.example.org/u/") for u in urls),
             f"List-Unsubscribe is an https URL in angle brackets ({urls[0][:60]})")
    sc.check(len(urls[1]) > 78, "the long case needs a URL over 78 characters")
    for u in urls:
        token = u.rsplit("/", 1)[1]
        leaks = [form for form in ("patient", "example.net")
                 if form in u.lower() or form.encode().hex() in u.lower()]
        sc.check(not leaks, "the token shows no address (clear or hex)")

    path = "/u/" + urls[0].rsplit("/", 1)[1]
    c = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    st, doc = cp.request("GET", "/v1/suppressions?email=patient@example.net")
    sc.check(r.status == 200 and doc["data"] == [], "GET (a link scanner) changes nothing")
    for attempt in range(2):
        c.request("POST", path, body="List-Unsubscribe=One-Click",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        sc.check(200 <= r.status < 300, f"one-click POST {attempt + 1} answers 2xx ({r.status})")
    # RFC 8058 prefers multipart/form-data; media types ignore case.
    c.request("POST", "/u/" + urls[1].rsplit("/", 1)[1],
              body=("--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                    "One-Click\r\n--xyz--\r\n"),
              headers={"Content-Type": "Multipart/Form-Data; boundary=xyz"})
    r = c.getresponse()
    r.read()
    st, doc = cp.request("GET", f"/v1/suppressions?email={long_local}@example.net")
    sc.check(r.status == 200 and len(doc["data"]) == 1, f"a multipart one-click POST works ({r.status})")
    st, doc = cp.request("GET", "/v1/suppressions?email=patient@example.net")
    sc.check([(d["stream"], d["reason"], d["source"]) for d in doc["data"]] ==
             [("newsletter", "unsubscribe", "one-click")],
             f"exactly one suppression: newsletter, unsubscribe, one-click ({doc['data']})")
    c.request("POST", path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"),
              body="List-Unsubscribe=One-Click",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    sc.check(400 <= r.status < 500, f"a tampered token gets 4xx ({r.status})")
    c.close()
    st, doc = cp.send({"from": FROM, "to": ["patient@example.net"], "stream": "newsletter",
                       "subject": "Next", "text": "x"})
    st2, doc2 = cp.send({"from": FROM, "to": ["patient@example.net"], "subject": "Reminder",
                         "text": "x"})
    sc.check(doc["recipients"][0]["status"] == "suppressed" and
             doc2["recipients"][0]["status"] == "queued",
             "the newsletter stream is suppressed; transactional mail still goes")
    sc.check(wait_for(lambda: any(e["type"] == "unsubscribed" for e in receiver.events)),
             "the webhook hears of the unsubscribe")

    # ---- Event API: filters and cursor -------------------------------------
    st, doc = cp.request("GET", "/v1/events?limit=3")
    seen, after, pages = [], 0, 0
    while pages < 100:
        st, doc = cp.request("GET", f"/v1/events?limit=3&after={after}")
        seen += doc["data"]
        pages += 1
        if doc["next_cursor"] is None:
            break
        after = doc["next_cursor"]
    ids = [e["id"] for e in seen]
    sc.check(len(ids) == len(set(ids)) and len(ids) > 20, f"cursor pagination ({len(ids)} events)")
    rid = delivered["recipient_id"]
    st, doc = cp.request("GET", f"/v1/events?recipient_id={rid}")
    sc.check(st == 200 and {e["recipient_id"] for e in doc["data"]} == {rid},
             "filter by recipient")
    st, doc = cp.request("GET", f"/v1/events?since={int(time.time()) + 3600}")
    sc.check(st == 200 and doc["data"] == [], "filter by time")

    # ---- Nothing of the content in events or webhooks ------------------
    st, doc = cp.request("GET", "/v1/events?limit=500")
    sc.check(PHI not in json.dumps(doc) and PHI.encode() not in receiver.raw,
             "no subject or body text in events or webhook payloads")
    sc.check(PHI.encode() not in cp.logs(), "nor in the logs")
    sc.check(receiver.bad == 0, "no webhook request failed its signature check")
    sc.finish()


if __name__ == "__main__":
    main()
