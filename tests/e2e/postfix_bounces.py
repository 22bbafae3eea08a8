"""Bounces, deferrals and a later DSN with Postfix as the real receiving MTA.

A private Postfix (tests/support/postfix-sink.sh) answers RCPT from an
access map: gone@ 550 5.1.1, listed@ 554 5.7.1 (a blocklist), busy@ 450
4.2.1; ok@ is delivered to a Maildir. It takes any later.test recipient and
then bounces it through its error transport, so Postfix itself writes an RFC
3464 DSN to carepost's VERP return path and routes it (transport map) to
carepost's inbound bounce listener. Checked: recipient statuses, events and
their classes, suppressions (hard bounces only), and the signed webhook
stream, whose every signature is verified here with our own HMAC."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SUPPORT, Carepost, Scenario, TestCA, free_port  # noqa: E402
from events_and_webhooks import Receiver, wait_for  # noqa: E402

BOUNCE_DOMAIN = "bounces.clinic.example.org"
SINK = os.path.join(SUPPORT, "postfix-sink.sh")
ACCESS = """\
gone@clinic.test 550 5.1.1 User unknown
busy@clinic.test 450 4.2.1 Mailbox busy
listed@clinic.test 554 5.7.1 Service unavailable; client host blocked using a DNS blocklist
"""


def maillog_dsn_lines(pf_dir, listen_port):
    """What Postfix logged about DSNs and the route to carepost's listener."""
    path = os.path.join(pf_dir, "log", "maillog")
    if not os.path.exists(path):
        return ["(no maillog)"]
    keys = ("later.test", "bounce", "non-delivery", f":{listen_port}", "warning", "error",
            "fatal", "panic")
    return [line.rstrip() for line in open(path, errors="replace")
            if any(k in line for k in keys)]


def main():
    sc = Scenario("postfix_bounces")
    # Postfix daemons (user postfix) must reach the instance under it.
    os.chmod(sc.folder, 0o755)
    ca = TestCA(sc.folder)
    listen_port = free_port()
    pf_port = free_port()
    pf_dir = os.path.join(sc.folder, "postfix")
    access = os.path.join(sc.folder, "access")
    with open(access, "w") as f:
        f.write(ACCESS)
    subprocess.run([SINK, "start", pf_dir, str(pf_port), "--tls", ca.dir,
                    "--domains", "clinic.test", "--access", access, "--fail-later", "later.test",
                    "--route", f"{BOUNCE_DOMAIN}=127.0.0.1:{listen_port}"],
                   check=True, timeout=60, stdout=subprocess.DEVNULL)
    sc.cleanups.append(lambda: subprocess.run([SINK, "stop", pf_dir], timeout=60,
                                              stdout=subprocess.DEVNULL))
    receiver = Receiver()
    sc.cleanups.append(receiver.stop)
    config = "\n".join(["[bounce]", f'domain = "{BOUNCE_DOMAIN}"',
                        f'listen = "127.0.0.1:{listen_port}"',
                        "[webhooks]", 'allow_insecure_hosts = "127.0.0.1"'])
    cp = Carepost(sc.folder, {"clinic.test": f"localhost:{pf_port}",
                              "later.test": f"localhost:{pf_port}"}, ca.ca_file,
                  scopes=("admin",), extra_config=config)
    sc.cleanups.append(cp.stop)

    st, doc = cp.request("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{receiver.port}/hook"})
    sc.check(st == 201 and doc.get("secret", "").startswith("whsec_"),
             f"webhook endpoint on loopback registered ({st})")
    receiver.secret = doc["secret"]

    FROM = {"email": "noreply@clinic.example.org", "name": "Clinic"}
    who = ["ok@clinic.test", "gone@clinic.test", "listed@clinic.test", "busy@clinic.test"]
    st, doc = cp.send({"from": FROM, "to": who, "subject": "Reminder", "text": "See you."})
    sc.check(st == 202, f"message to clinic.test accepted ({st})")
    mid = doc["id"]
    st, doc = cp.send({"from": FROM, "to": ["later@later.test"], "subject": "Results",
                       "text": "Ready."})
    sc.check(st == 202, f"message to later.test accepted ({st})")
    mid_later = doc["id"]
    rid_later = doc["recipients"][0]["id"]

    first = cp.wait_status(mid, done=("delivered", "bounced", "deferred", "failed"), seconds=60)
    by = {r["email"]: r for r in (first or {}).get("recipients", [])}
    print(f"  statuses: {[(e, r['status'], r.get('last_code')) for e, r in by.items()]}")

    # ---- ok: delivered into the Maildir --------------------------------
    sc.check(by.get("ok@clinic.test", {}).get("status") == "delivered", "ok@ delivered")
    new = os.path.join(pf_dir, "mail", "clinic.test", "new")
    found = []
    if os.path.isdir(new):
        for name in os.listdir(new):
            head = open(os.path.join(new, name), "rb").read().split(b"\n\n", 1)[0]
            found += [ln for ln in head.splitlines() if ln.lower().startswith(b"delivered-to:")]
    sc.check(found == [b"Delivered-To: ok@clinic.test"],
             f"exactly one Maildir file, for ok@ ({found})")

    # ---- gone: 550 5.1.1 at RCPT: hard, suppressed ----------------------
    gone = by.get("gone@clinic.test", {})
    sc.check(gone.get("status") == "bounced" and gone.get("last_code") == 550 and
             gone.get("last_enhanced") == "5.1.1",
             f"gone@ bounced with 550 5.1.1 ({gone.get('status')} {gone.get('last_code')} "
             f"{gone.get('last_enhanced')})")
    # ---- listed: 554 5.7.1 blocklist: a block, not suppressed -----------
    listed = by.get("listed@clinic.test", {})
    sc.check(listed.get("status") == "bounced" and listed.get("last_code") == 554,
             f"listed@ bounced with 554 ({listed.get('status')} {listed.get('last_code')})")
    # ---- busy: 450 4.2.1: deferred, retried later -----------------------
    busy = by.get("busy@clinic.test", {})
    sc.check(busy.get("status") == "deferred" and busy.get("last_code") in (450, 451) and
             busy.get("next_attempt_at") is not None,
             f"busy@ deferred with a next attempt ({busy.get('status')} {busy.get('last_code')})")

    st, doc = cp.request("GET", f"/v1/events?message_id={mid}&limit=500")
    events = doc["data"] if st == 200 else []
    kinds = {}
    for e in events:
        kinds.setdefault(e["email"], []).append(
            (e["type"], e["bounce_class"], e["reply_code"], e["enhanced_status"]))
    sc.check(("bounced", "hard", 550, "5.1.1") in kinds.get("gone@clinic.test", []),
             f"gone@: bounced/hard event, 550 5.1.1 ({kinds.get('gone@clinic.test')})")
    sc.check(any(t == "bounced" and c == "block" and code == 554
                 for t, c, code, _ in kinds.get("listed@clinic.test", [])),
             f"listed@: bounced/block event ({kinds.get('listed@clinic.test')})")
    sc.check(any(t == "deferred" and code in (450, 451) and es == "4.2.1"
                 for t, _, code, es in kinds.get("busy@clinic.test", [])),
             f"busy@: deferred event, 450 4.2.1 ({kinds.get('busy@clinic.test')})")
    sc.check(any(t == "delivered" and code == 250 for t, _, code, _ in
                 kinds.get("ok@clinic.test", [])), "ok@: delivered event, 250")

    # ---- later: Postfix takes it, then its DSN comes back ----------------
    def later_events():
        st, doc = cp.request("GET", f"/v1/events?message_id={mid_later}&limit=500")
        return doc["data"] if st == 200 else []

    got_dsn = wait_for(lambda: any(e["type"] == "bounced" for e in later_events()), seconds=30)
    lev = later_events()
    types = [e["type"] for e in lev]
    ok_dsn = sc.check(got_dsn and "delivered" in types and "bounced" in types and
                      types.index("delivered") < types.index("bounced"),
                      f"later@: delivered to Postfix first, then bounced by its DSN ({types})")
    bounce = next((e for e in lev if e["type"] == "bounced"), {})
    ok_dsn &= sc.check(bounce.get("bounce_class") == "hard" and
                       bounce.get("recipient_id") == rid_later and
                       bounce.get("email") == "later@later.test" and
                       bounce.get("enhanced_status") == "5.1.1",
                       f"the DSN bounce is hard, 5.1.1, for that recipient "
                       f"({bounce.get('bounce_class')} {bounce.get('enhanced_status')} "
                       f"{bounce.get('reason')})")
    st, doc = cp.request("GET", f"/v1/messages/{mid_later}")
    later_status = doc["recipients"][0]["status"] if st == 200 else st
    ok_dsn &= sc.check(later_status == "bounced", f"later@ status is bounced ({later_status})")
    log = maillog_dsn_lines(pf_dir, listen_port)
    ok_dsn &= sc.check(any(f"127.0.0.1[127.0.0.1]:{listen_port}" in ln and "status=sent" in ln
                           for ln in log),
                       "Postfix logged its DSN as sent to carepost's listener")
    if not ok_dsn:
        print("  --- Postfix maillog (DSN related) ---")
        for ln in log[-40:]:
            print(f"  | {ln}")

    # ---- Suppressions: hard bounces only --------------------------------
    supp = {}
    for addr in who + ["later@later.test"]:
        st, doc = cp.request("GET", f"/v1/suppressions?email={addr}")
        supp[addr.split("@")[0]] = [r["reason"] for r in doc["data"]] if st == 200 else st
    sc.check(supp == {"ok": [], "gone": ["hard_bounce"], "listed": [], "busy": [],
                      "later": ["hard_bounce"]},
             f"only gone@ and later@ (hard) are suppressed ({supp})")

    # ---- Webhooks: all signed, each message's events in seq order --------
    snapshots = {}
    for m in (mid, mid_later):
        st, doc = cp.request("GET", f"/v1/events?message_id={m}&limit=500")
        snapshots[m] = [e["id"] for e in doc["data"]] if st == 200 else []

    def hooked(m):
        return [e["id"] for e in list(receiver.events) if e["message_id"] == m]

    arrived = wait_for(lambda: all(set(ids) <= set(hooked(m)) for m, ids in snapshots.items()),
                       seconds=30)
    sc.check(arrived, "every recorded event reached the webhook")
    for m, ids in snapshots.items():
        seen = [i for i in hooked(m) if i in set(ids)]
        sc.check(seen == ids and len(set(hooked(m))) == len(hooked(m)),
                 f"message {m}: webhook order equals the event log order, no repeats "
                 f"({len(seen)} of {len(ids)})")
    hook_types = {(e["email"], e["type"], e["bounce_class"]) for e in list(receiver.events)}
    sc.check({("gone@clinic.test", "bounced", "hard"), ("listed@clinic.test", "bounced", "block"),
              ("ok@clinic.test", "delivered", ""), ("later@later.test", "delivered", ""),
              ("later@later.test", "bounced", "hard")} <= hook_types and
             any(e == "busy@clinic.test" and t == "deferred" for e, t, _ in hook_types),
             "the webhook heard each outcome with its class")
    sc.check(receiver.bad == 0 and len(receiver.events) > 0,
             f"every webhook request's signature verified ({len(receiver.events)} requests, "
             f"{receiver.bad} bad)")
    sc.finish()


if __name__ == "__main__":
    main()
