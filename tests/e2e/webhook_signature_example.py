"""The shell verification example in docs/webhooks.md accepts a correctly
signed body and rejects the same body with one byte changed, and a stale
timestamp.

The signature is computed here with Python's hmac, independently of the
C++ code, exactly as docs/webhooks.md specifies: HMAC-SHA256(secret,
"<t>.<raw body>") as lower-case hex. Needs no server.
"""
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import time

MARKER = "<!-- webhook-verify-example -->"
DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def example_block():
    lines = DOC.read_text(encoding="utf-8").splitlines()
    at = lines.index(MARKER)
    if lines[at + 1].strip() != "```sh":
        sys.exit("FAIL: no ```sh block right after the marker")
    end = lines.index("```", at + 2)
    return "\n".join(lines[at + 2:end]) + "\n"


def sign(secret, t, body):
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256)
    return "t=%d,v1=%s" % (t, mac.hexdigest())


def run(block, folder, body, signature, secret):
    (folder / "body.json").write_bytes(body)
    env = dict(os.environ, SIGNATURE=signature, SECRET=secret)
    done = subprocess.run(
        ["bash", "-c", block], cwd=folder, env=env, capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def main():
    block = example_block()
    secret = "whsec_" + secrets.token_urlsafe(24)
    body = json.dumps({
        "id": "evt_" + secrets.token_hex(8), "type": "delivered", "time": int(time.time()),
        "message_id": "msg_1", "recipient_id": "rcp_1", "email": "a@clinic.test",
        "reply_code": 250, "enhanced_status": "2.0.0", "reason": "ok 'quoted' $HOME",
        "bounce_class": ""}, separators=(",", ":")).encode()
    now = int(time.time())
    failures = []
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        checks = [
            ("signed body", body, sign(secret, now, body), secret, "valid"),
            ("one byte changed", body[:-2] + b"X" + body[-1:], sign(secret, now, body), secret,
             "invalid"),
            ("other secret", body, sign(secret, now, body), secret + "x", "invalid"),
            ("stale timestamp", body, sign(secret, now - 301, body), secret, "invalid"),
        ]
        for label, data, signature, key, expected in checks:
            got = run(block, folder, data, signature, key)
            print("%-18s -> %s" % (label, got))
            if got != expected:
                failures.append("%s: expected %r, got %r" % (label, expected, got))
    if failures:
        sys.exit("FAIL: " + "; ".join(failures))
    print("PASS")


if __name__ == "__main__":
    main()
