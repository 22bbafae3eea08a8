"""Shared pieces of the end-to-end scenarios: a real carepost process with
its own data folder, a TLS-capable SMTP sink on loopback, and API calls.

Every scenario runs the real binary (CAREPOST_BIN) against real peers on
127.0.0.1; nothing here is a mock of carepost.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPPORT = os.path.join(REPO, "tests", "support")
BIN = os.environ.get("CAREPOST_BIN", os.path.join(REPO, "build", "src", "app", "carepost"))
SHARED = os.environ.get("CAREPOST_SHARED_DIR", os.path.join(REPO, "..", "shared"))
PYTHON = "/usr/bin/python3"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open in {seconds}s")


class TestCA:
    """A throw-away CA (tests/support/make-ca.sh) and a leaf for localhost."""

    def __init__(self, folder):
        self.dir = os.path.join(folder, "ca")
        subprocess.run([os.path.join(SUPPORT, "make-ca.sh"), self.dir], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(SUPPORT, "make-ca.sh"), self.dir, "issue", "localhost"],
                       check=True, stdout=subprocess.DEVNULL)
        self.ca_file = os.path.join(self.dir, "ca.crt")
        self.cert = os.path.join(self.dir, "localhost.crt")
        self.key = os.path.join(self.dir, "localhost.key")


class Sink:
    """tests/support/smtp_sink.py on a free port; messages land in self.dir."""

    def __init__(self, folder, name, ca=None, extra=()):
        self.dir = os.path.join(folder, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        args = [PYTHON, os.path.join(SUPPORT, "smtp_sink.py"), "--port", str(self.port),
                "--dir", self.dir, "--max-seconds", "900"]
        if ca:
            args += ["--tls-cert", ca.cert, "--tls-key", ca.key]
        else:
            args += ["--no-starttls"]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def messages(self):
        names = sorted((f for f in os.listdir(self.dir) if f.endswith(".eml")),
                       key=lambda f: int(f.split(".")[0]))
        return [open(os.path.join(self.dir, f), "rb").read() for f in names]

    def session_log(self):
        path = os.path.join(self.dir, "sessions.log")
        if not os.path.exists(path):
            return []
        return [json.loads(l) for l in open(path) if l.strip()]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Carepost:
    """A carepost server with its own data folder, org, key and DKIM domain."""

    def __init__(self, folder, routes, ca_file="", sender_domain="clinic.example.org",
                 scopes=("messages:send", "messages:read", "templates:write"), extra_config=""):
        self.folder = folder
        self.port = free_port()
        self.config = os.path.join(folder, "carepost.toml")
        lines = [
            "[server]", f'listen = "127.0.0.1:{self.port}"',
            "[storage]", 'data_dir = "data"',
            "[security]", 'master_key_file = "keys/master.key"',
            "[delivery]", f'ca_file = "{ca_file}"', 'tls_policy = "verified"',
            "backoff_seconds = [2, 4, 8]",
            extra_config,
        ]
        # Scenarios about delivery send bursts that abnormal-sending
        # detection and rate limits would stop; those that test them set
        # their own [anomaly] and [rate] sections.
        if "[anomaly]" not in extra_config:
            lines += ["[anomaly]", "enabled = false"]
        if "[rate]" not in extra_config:
            lines += ["[rate]", "key_requests_per_second = 1000000",
                      "org_requests_per_second = 1000000",
                      "key_recipients_per_hour = 1000000000",
                      "org_recipients_per_hour = 1000000000"]
        lines += [
            "[routes]",
        ] + [f'"{d}" = "{t}"' for d, t in routes.items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(folder, "carepost.log")
        self.proc = None
        self.org = self.admin("org", "create", "Test Clinic")
        self.key = self.admin("key", "create", "--org", self.org,
                              *[a for s in scopes for a in ("--scope", s)])
        self.dkim_record = self.admin("domain", "add", "--org", self.org, sender_domain)
        self.start()

    def admin(self, *args, check=True):
        r = subprocess.run([BIN, *args, "--config", self.config], capture_output=True, text=True,
                           timeout=60)
        with open(os.path.join(self.folder, "admin.log"), "a") as f:
            f.write(r.stderr)
        if check and r.returncode != 0:
            raise RuntimeError(f"carepost {args[0]} failed: {r.stderr}")
        return r.stdout.strip() if check else r

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config],
                                     stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def dkim_public(self):
        """The TXT value printed by `domain add`, as bytes for dkim.verify."""
        return self.dkim_record.split(" TXT ", 1)[1].strip('"').encode()

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = text
        return resp.status, doc

    def send(self, body, **kw):
        return self.request("POST", "/v1/messages", body, **kw)

    def wait_status(self, message_id, done=("delivered", "bounced", "failed"), seconds=60):
        deadline = time.time() + seconds
        doc = None
        while time.time() < deadline:
            status, doc = self.request("GET", f"/v1/messages/{message_id}")
            if status == 200 and all(r["status"] in done for r in doc["recipients"]):
                return doc
            time.sleep(0.1)
        return doc

    def logs(self):
        text = open(self.log_path, "rb").read()
        admin = os.path.join(self.folder, "admin.log")
        if os.path.exists(admin):
            text += open(admin, "rb").read()
        return text


def verify_dkim(raw, public_record):
    import dkim
    return dkim.verify(raw, dnsfunc=lambda name, timeout=5: public_record)


class Scenario:
    """Collects checks; prints 'N passed, M failed' and exits with the result."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.cleanups = []
        self.folder = tempfile.mkdtemp(prefix=f"cp-{name}-")

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}")
        return ok

    def finish(self):
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:  # cleanup must not hide the result
                print(f"  cleanup: {e}")
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        if self.failed == 0:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            print(f"  kept {self.folder} for inspection")
        sys.exit(1 if self.failed else 0)


class Tarpit:
    """An MX that accepts connections and never finishes its greeting: one
    "220-" continuation line every 5 s to each connection (so no single read
    times out), for at most 10 minutes."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.held = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._drip, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        deadline = time.time() + 600
        while not self.stopped.is_set() and time.time() < deadline:
            try:
                c, _ = self.sock.accept()
                with self.lock:
                    self.held.append(c)
            except OSError:
                pass

    def _drip(self):
        deadline = time.time() + 600
        while not self.stopped.is_set() and time.time() < deadline:
            with self.lock:
                for c in list(self.held):
                    try:
                        c.sendall(b"220-still here\r\n")
                    except OSError:
                        self.held.remove(c)
            self.stopped.wait(5)

    def stop(self):
        self.stopped.set()
        with self.lock:
            for c in self.held:
                c.close()
        self.sock.close()
