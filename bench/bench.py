#!/usr/bin/python3
"""bench.py: carepost's benchmark, with Postfix measured in the same run.

Run it through bench/run.sh (as root; see there for options). Phases:

  sink      the ceiling of one capture sink (no TLS, one message per
            connection, fed by Postfix's smtp-source), for bench_sink (the
            lean C++ sink the delivery phases use, bench/sink/) and for
            tests/support/smtp_sink.py; and, in every delivery phase, the
            sinks' CPU: on two cores, CPU the sinks burn is CPU the MTA under
            test does not get (smtp_sink.py costs more per message than
            carepost does, hence bench_sink; --sink python to compare).
  accept    POST /v1/messages, 5 KB HTML body, one recipient, keep-alive,
            32 connections, fsync on, delivery disabled: pure accept path.
            The same run fills the queue for the RSS figure (100,000).
  rss       VmRSS and VmHWM after accepting, then delivery switched on for a
            bounded window with the whole queue due: the peak.
  deliver   10,000 messages over 20 domains accepted with delivery disabled;
            carepost restarted with delivery on; time from the restart to
            the moment the store says every recipient is `delivered`
            (read-only SQLite polling, every 50 ms; it also adds up the time
            with recipients due but none `sending`: a stalled dispatcher).
            Sinks: STARTTLS with a certificate carepost verifies through
            [delivery] ca_file; DKIM is always on.
  e2e       the same 10,000 sent with delivery on: accept figures with
            delivery running, and time from the first POST to the last
            `delivered`.
  auth      (opt-in: --phases ...,auth) one carepost, delivery disabled,
            --auth-count messages per run with each way of presenting the
            key: Bearer key, signed request, OAuth token, Basic; run in that
            order and then in reverse (eight runs), and each method's figure
            is the mean of its two runs, so that drift (a growing store, a
            neighbour's load) falls on every method alike. Throughput is
            also shown as a percentage of the Bearer key's.
  webhooks  (opt-in: --phases ...,webhooks) the deliver workload, --webhook-count
            messages (default 5,000), without any webhook endpoint and with
            one endpoint on a loopback receiver (bench/webhook_receiver.py:
            asyncio, keep-alive, Nagle off, 204, HMAC checked on every
            request), registered before the first message; runs without,
            with, with, without (--webhook-rounds 2), after an uncounted
            1,000-message warm-up. The accept-time events
            (accepted, queued) are awaited before the restart, so the timed
            delivery carries the `delivered` events. Figures: delivery msg/s
            without and with (the ratio is what webhooks cost), events/s at
            the receiver while delivering, events received vs 3 per message,
            and the time from the last delivery to the last event. Events
            still missing --webhook-drain-timeout (60 s) after the last
            delivery, a bad signature or an out-of-order event fail the run.
  postfix   bench/peer/postfix-relay-peer.sh twice, on the same number of
            domains and sinks: drain (exactly the messages carepost
            delivered, replayed, signed by OpenDKIM, held, then released:
            the counterpart of `deliver`) and relay (smtp-source through the
            milter to the sinks: the counterpart of `e2e`).

Prints a table with every figure, the ratios and the targets; writes the
raw figures to WORK_DIR/results.json. Exits 0 when every phase ran and
every check passed (the targets decide nothing about the exit status).
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SUPPORT = os.path.join(REPO, "tests", "support")
PYTHON = "/usr/bin/python3"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SENDER_DOMAIN = "clinic.example.org"
POLL_SECONDS = 0.05
DKIM_SAMPLE = 5

PYTHON_SINK = [PYTHON, os.path.join(SUPPORT, "smtp_sink.py")]

TARGET_ACCEPT_RATE = 5000
TARGET_DELIVER_RATIO = 3.0
TARGET_RSS_MB = 300
TARGET_AUTH_PERCENT = 90  # signed and token: under 10% of the key's throughput lost

# The webhooks phase: loopback http endpoints must be allowed by the config;
# a one-recipient message that is delivered makes these three events.
WEBHOOK_CONFIG = ["[webhooks]", 'allow_insecure_hosts = "127.0.0.1"']
WEBHOOK_TYPES = ("accepted", "queued", "delivered")

AUTH_METHODS = ("key", "signed", "token", "basic")
AUTH_NAMES = {"key": "Bearer cpk_ key", "signed": "signed request (HMAC)",
              "token": "OAuth token, Bearer cpt_", "basic": "Basic key id:key"}

# Every phase measures the MTA, not the limits: per-key and per-org request
# and recipient limits far above any rate a bench reaches, and the anomaly
# hold (a sudden burst from one key) off.
UNLIMITED = ["[rate]", "key_requests_per_second = 1000000",
             "org_requests_per_second = 1000000",
             "key_recipients_per_hour = 1000000000",
             "org_recipients_per_hour = 1000000000",
             "[anomaly]", "enabled = false"]


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=30, process=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("process exited before listening on %d" % port)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open in %ds" % (port, seconds))


def process_cpu_seconds(pid):
    """User + system CPU of one process (threads included), from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except OSError:
        return 0.0


def machine_cpu_ticks():
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuWindow:
    """Machine CPU use between start() and stop(), as cores busy."""

    def start(self):
        self.begin = machine_cpu_ticks()
        self.wall = time.time()

    def stop(self):
        busy, total = machine_cpu_ticks()
        busy_delta, total_delta = busy - self.begin[0], total - self.begin[1]
        return round(os.cpu_count() * busy_delta / max(1, total_delta), 2)


def memory_status(pid):
    """VmRSS and VmHWM of a process in MB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                out[name] = round(int(value.split()[0]) / 1024, 1)
    return out


class Sinks:
    """K smtp_sink.py processes with STARTTLS; domain i goes to sink i % K."""

    def __init__(self, folder, count, cert, key, max_seconds, program):
        self.dirs = [os.path.join(folder, "sink%d" % k) for k in range(count)]
        self.ports = [free_port() for _ in range(count)]
        self.processes = []
        for port, folder_k in zip(self.ports, self.dirs):
            os.makedirs(folder_k)
            args = program + ["--port", str(port), "--dir", folder_k,
                              "--max-seconds", str(max_seconds)]
            if cert:
                args += ["--tls-cert", cert, "--tls-key", key]
            else:
                args += ["--no-starttls"]
            self.processes.append(subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, process in zip(self.ports, self.processes):
            wait_port(port, process=process)
        self.cpu_begin = [0.0] * count

    def routes(self, domains):
        return {"d%d.test" % i: "localhost:%d" % self.ports[i % len(self.ports)]
                for i in range(domains)}

    def mark_cpu(self):
        self.cpu_begin = [process_cpu_seconds(p.pid) for p in self.processes]

    def cpu_since_mark(self):
        return [process_cpu_seconds(p.pid) - b for p, b in zip(self.processes, self.cpu_begin)]

    def events(self):
        out = []
        for folder in self.dirs:
            path = os.path.join(folder, "sessions.log")
            if os.path.exists(path):
                with open(path) as f:
                    out += [json.loads(line) for line in f if line.strip()]
        return out

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class Receiver:
    """bench/webhook_receiver.py in its own process (its CPU is its own)."""

    def __init__(self, folder, port, secret, options):
        os.makedirs(folder, exist_ok=True)
        self.secret_file = os.path.join(folder, "webhook.secret")
        descriptor = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secret)
        self.port = port
        self.process = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "webhook_receiver.py"), "--port", str(port),
             "--secret-file", self.secret_file, "--verify-every", str(options.webhook_verify_every),
             "--max-seconds", str(3 * options.timeout + 2 * options.webhook_drain_timeout)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(folder, "receiver.log"), "wb"))
        wait_port(port, process=self.process)

    def stats(self, dump=False):
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/dump" if dump else "/stats")
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def wait_events(self, count, timeout):
        """(stats, True) once `count` distinct event ids arrived, or
        (stats, False) after `timeout` seconds."""
        deadline = time.time() + timeout
        while True:
            stats = self.stats()
            if stats["unique_ids"] >= count:
                return stats, True
            if time.time() >= deadline:
                return stats, False
            if self.process.poll() is not None:
                raise RuntimeError("webhook receiver exited")
            time.sleep(0.1)

    def cpu(self):
        return process_cpu_seconds(self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Carepost:
    """One carepost with its own folder: config, org, key, DKIM domain."""

    def __init__(self, binary, folder, routes, ca_file, options, extra_lines=()):
        self.binary = binary
        self.folder = folder
        os.makedirs(folder)
        self.port = free_port()
        self.config = os.path.join(folder, "carepost.toml")
        self.db = os.path.join(folder, "data", "carepost.db")
        lines = ["[server]", 'listen = "127.0.0.1:%d"' % self.port]
        if options.server_threads:
            lines.append("threads = %d" % options.server_threads)
        lines += ["[storage]", 'data_dir = "data"',
                  "[security]", 'master_key_file = "keys/master.key"',
                  "[delivery]", "enabled = false", 'ca_file = "%s"' % ca_file,
                  'tls_policy = "verified"', "backoff_seconds = [5, 10, 30]"]
        if options.delivery_threads:
            lines.append("threads = %d" % options.delivery_threads)
        if options.connections_per_domain:
            lines.append("connections_per_domain = %d" % options.connections_per_domain)
        lines += UNLIMITED
        lines += list(extra_lines)
        lines.append("[routes]")
        lines += ['"%s" = "%s"' % item for item in sorted(routes.items())]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.process = None
        self.log_file = None
        org = self.admin("org", "create", "Bench Clinic")
        self.org = org
        self.key = self.admin("key", "create", "--org", org, "--scope", "messages:send",
                              "--scope", "messages:read")
        record = self.admin("domain", "add", "--org", org, SENDER_DOMAIN)
        self.dkim_public = record.split(" TXT ", 1)[1].strip('"').encode()

    def admin(self, *args):
        result = subprocess.run([self.binary, *args, "--config", self.config],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError("carepost %s failed: %s" % (args[0], result.stderr[-300:]))
        return result.stdout.strip()

    def request(self, method, path, key, document=None):
        """One API request: (status, parsed JSON answer or {})."""
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps(document).encode() if document is not None else None
            headers = {"Authorization": "Bearer " + key}
            if body is not None:
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
            return answer.status, json.loads(raw) if raw.strip() else {}
        finally:
            connection.close()

    def start(self, delivery):
        environment = dict(os.environ, CAREPOST_DELIVERY_ENABLED="true" if delivery else "false")
        self.log_file = open(os.path.join(self.folder, "carepost.log"), "ab")
        self.process = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                        stdout=self.log_file, stderr=self.log_file,
                                        env=environment)
        wait_port(self.port, process=self.process)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def status_counts(self):
        """Recipients per status, read-only (WAL: never blocks the writer)."""
        connection = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            rows = connection.execute(
                "SELECT status, count(*) FROM recipients GROUP BY status").fetchall()
        finally:
            connection.close()
        return dict(rows)

    def retried(self):
        connection = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return connection.execute(
                "SELECT count(*) FROM recipients WHERE attempts > 1").fetchone()[0]
        finally:
            connection.close()


def run_loadgen(port, key, count, options, start=0, auth="key"):
    args = [PYTHON, os.path.join(HERE, "loadgen.py"), "--port", str(port), "--key", key,
            "--count", str(count), "--connections", str(options.connections),
            "--domains", str(options.domains), "--html-octets", str(options.html_octets),
            "--start", str(start), "--max-seconds", str(options.timeout), "--auth", auth]
    result = subprocess.run(args, capture_output=True, text=True, timeout=options.timeout + 60)
    if not result.stdout.strip():
        raise RuntimeError("loadgen failed: %s" % result.stderr[-300:])
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["errors"] or figures["count"] < count:
        raise RuntimeError("loadgen: %d of %d answered, %d errors (first: %s)" % (
            figures["count"], count, figures["errors"], figures["first_error"]))
    return figures


def wait_delivered(carepost, count, timeout):
    """(time when `count` recipients are delivered or None on timeout,
    seconds seen with recipients still due but none of them `sending`)."""
    started = time.time()
    deadline = started + timeout
    idle = 0.0
    last = started
    while time.time() < deadline:
        counts = carepost.status_counts()
        now = time.time()
        if counts.get("delivered", 0) >= count:
            return now, round(idle, 2)
        if counts.get("sending", 0) == 0:
            idle += now - last
        last = now
        if carepost.process.poll() is not None:
            raise RuntimeError("carepost exited during delivery")
        time.sleep(POLL_SECONDS)
    return None, round(idle, 2)


def check_delivered(sinks, carepost, count):
    """TLS on every message, DKIM on a sample, one copy per recipient."""
    import dkim

    events = sinks.events()
    messages = [e for e in events if e["event"] == "message"]
    recipients = [r for e in messages for r in e["rcpts"]]
    tls = sum(1 for e in messages if e.get("tls") in ("TLSv1.2", "TLSv1.3"))
    files = sorted(glob.glob(os.path.join(sinks.dirs[0], "*.eml")))[:DKIM_SAMPLE]
    good = 0
    for path in files:
        with open(path, "rb") as f:
            good += bool(dkim.verify(f.read(), dnsfunc=lambda name, timeout=5:
                                     carepost.dkim_public))
    sizes = [e["size"] for e in messages]
    check = {
        "stored": len(messages), "unique_recipients": len(set(recipients)),
        "tls": tls, "dkim_ok": good, "dkim_checked": len(files),
        "connections": sum(1 for e in events if e["event"] == "connect"),
        "mean_size": round(sum(sizes) / len(sizes)) if sizes else 0,
        "retried": carepost.retried(),
    }
    check["ok"] = (check["unique_recipients"] == count and check["stored"] == count
                   and tls == count and good == len(files) > 0)
    return check


class Bench:
    def __init__(self, options):
        self.options = options
        self.work = options.work_dir
        self.results = {"command": options.command}
        self.failures = []
        self.cleanups = []

    # ---- set-up -----------------------------------------------------------

    def prepare(self):
        marker = os.path.join(self.work, ".carepost-bench")
        if os.path.exists(self.work):
            if not os.path.exists(marker):
                raise RuntimeError("%s exists and was not made by bench" % self.work)
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        open(marker, "w").close()
        ca = os.path.join(self.work, "ca")
        subprocess.run([os.path.join(SUPPORT, "make-ca.sh"), ca, "issue", "sink",
                        "DNS:localhost", "IP:127.0.0.1"], check=True, stdout=subprocess.DEVNULL)
        self.ca_file = os.path.join(ca, "ca.crt")
        self.cert = os.path.join(ca, "sink.crt")
        self.key = os.path.join(ca, "sink.key")

    def sinks(self, name, tls=True):
        sinks = Sinks(os.path.join(self.work, name), self.options.sinks,
                      self.cert if tls else None, self.key, self.options.timeout + 120,
                      self.options.sink_program)
        self.cleanups.append(sinks.stop)
        return sinks

    def carepost(self, name, routes, extra_lines=()):
        instance = Carepost(self.options.binary, os.path.join(self.work, name), routes,
                            self.ca_file, self.options, extra_lines)
        self.cleanups.append(instance.stop)
        return instance

    # ---- phases -----------------------------------------------------------

    def phase_sink_ceiling(self):
        self.results["sink_ceiling"] = self.sink_ceiling("ceiling", self.options.sink_program)
        if self.options.sink_program != PYTHON_SINK:
            self.results["sink_ceiling_python"] = self.sink_ceiling("ceiling-python", PYTHON_SINK)

    def sink_ceiling(self, name, program):
        """One sink without TLS, fed by smtp-source: an upper bound per sink."""
        count = self.options.ceiling_count
        sink = Sinks(os.path.join(self.work, name), 1, None, None, 120, program)
        try:
            started = time.time()
            subprocess.run(["smtp-source", "-s", "20", "-m", str(count), "-l",
                            str(self.options.html_octets), "-f", "a@b.test", "-t", "p@d0.test",
                            "127.0.0.1:%d" % sink.ports[0]], check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
            deadline = time.time() + 30
            while time.time() < deadline:
                stored = sum(1 for e in sink.events() if e["event"] == "message")
                if stored >= count:
                    break
                time.sleep(POLL_SECONDS)
            seconds = time.time() - started
            cpu = sink.cpu_since_mark()[0]
        finally:
            sink.stop()
        return {"rate": round(count / seconds), "cpu": round(cpu, 2),
                "seconds": round(seconds, 2)}

    def phase_accept_and_rss(self):
        sinks = self.sinks("rss-sinks")
        carepost = self.carepost("accept", sinks.routes(self.options.domains))
        carepost.start(delivery=False)
        cpu0 = process_cpu_seconds(carepost.process.pid)
        window = CpuWindow()
        window.start()
        figures = run_loadgen(carepost.port, carepost.key, self.options.accept_count,
                              self.options)
        figures["machine_cores_busy"] = window.stop()
        figures["carepost_cpu"] = round(process_cpu_seconds(carepost.process.pid) - cpu0, 1)
        figures["rss_after"] = memory_status(carepost.process.pid)
        figures["db_mb"] = round(sum(os.path.getsize(p) for p in glob.glob(carepost.db + "*"))
                                 / 2**20)
        self.results["accept"] = figures
        carepost.stop()

        # The whole queue is due at once: what does the engine hold in memory?
        carepost.start(delivery=True)
        time.sleep(self.options.rss_window)
        memory = memory_status(carepost.process.pid)
        delivered = carepost.status_counts().get("delivered", 0)
        carepost.stop()
        sinks.stop()
        self.results["rss"] = {"queued": self.options.accept_count,
                               "after_accept": figures["rss_after"],
                               "delivering": memory, "window_s": self.options.rss_window,
                               "delivered_in_window": delivered}
        shutil.rmtree(os.path.join(carepost.folder, "data"), ignore_errors=True)

    def phase_auth(self):
        """Accept throughput per way of authenticating, on one server."""
        count = self.options.auth_count
        carepost = self.carepost("auth", {})
        carepost.start(delivery=False)

        # The first run after a start pays for cold caches and an empty
        # store; a warm-up, not counted, keeps that off the first method.
        warm_up = min(count, 5000)
        run_loadgen(carepost.port, carepost.key, warm_up, self.options, start=0)
        order = list(AUTH_METHODS) + list(reversed(AUTH_METHODS))
        runs = {method: [] for method in AUTH_METHODS}
        for index, method in enumerate(order, start=1):
            if carepost.process.poll() is not None:
                raise RuntimeError("carepost exited during the auth phase")
            cpu0 = process_cpu_seconds(carepost.process.pid)
            figures = run_loadgen(carepost.port, carepost.key, count, self.options,
                                  start=index * count, auth=method)
            figures["carepost_cpu"] = round(process_cpu_seconds(carepost.process.pid) - cpu0, 2)
            figures["carepost_cpu_us"] = round(1e6 * figures["carepost_cpu"] / count, 1)
            log("auth %s: %.0f msg/s, p50 %.1f ms, p99 %.1f ms" % (
                method, figures["rate"], figures["p50_ms"], figures["p99_ms"]))
            runs[method].append(figures)
        carepost.stop()
        shutil.rmtree(os.path.join(carepost.folder, "data"), ignore_errors=True)

        def mean(values):
            return round(sum(values) / len(values), 2)

        summary = {}
        for method, figures in runs.items():
            summary[method] = {
                name: mean([f[name] for f in figures])
                for name in ("rate", "p50_ms", "p99_ms", "carepost_cpu_us", "client_cpu_seconds")}
            summary[method]["runs"] = [f["rate"] for f in figures]
        for method in AUTH_METHODS:
            summary[method]["percent_of_key"] = round(
                100 * summary[method]["rate"] / summary["key"]["rate"], 1)
            summary[method]["cpu_percent_of_key"] = round(
                100 * summary[method]["carepost_cpu_us"] / summary["key"]["carepost_cpu_us"], 1)
        self.results["auth"] = {"count": count, "warm_up": warm_up, "order": order,
                                "methods": summary, "raw": runs}

    def phase_deliver(self):
        count = self.options.deliver_count
        figures, sinks, carepost = self.deliver_workload("deliver", count)
        figures["check"] = check_delivered(sinks, carepost, count)
        self.results["deliver"] = figures
        self.deliver_sinks = sinks
        if not figures["check"]["ok"]:
            self.failures.append("deliver check: %s" % figures["check"])

    def deliver_workload(self, name, count, extra_lines=(), before_accept=None,
                         after_accept=None, after_delivered=None):
        """The deliver workload: `count` messages accepted with delivery off,
        carepost restarted with delivery on, timed until the store says all
        are `delivered`. The hooks run with (carepost) before the loadgen,
        with (carepost) after it (delivery still off), and with (carepost,
        figures) once all are delivered, before carepost stops. Returns
        (figures, sinks, carepost); sinks and carepost are stopped."""
        sinks = self.sinks(name + "-sinks")
        carepost = self.carepost(name, sinks.routes(self.options.domains), extra_lines)
        carepost.start(delivery=False)
        if before_accept:
            before_accept(carepost)
        accepted = run_loadgen(carepost.port, carepost.key, count, self.options)
        if after_accept:
            after_accept(carepost)
        carepost.stop()

        sinks.mark_cpu()
        window = CpuWindow()
        window.start()
        started = time.time()
        carepost.start(delivery=True)
        finished, idle = wait_delivered(carepost, count, self.options.timeout)
        figures = {"machine_cores_busy": window.stop(), "idle_seconds": idle,
                   "carepost_cpu": round(process_cpu_seconds(carepost.process.pid), 2),
                   "sink_cpu": [round(c, 1) for c in sinks.cpu_since_mark()],
                   "statuses": carepost.status_counts(),
                   "rss": memory_status(carepost.process.pid),
                   "accept_rate": accepted["rate"], "started": started, "finished": finished}
        if finished is None:
            carepost.stop()
            sinks.stop()
            raise RuntimeError("%s: not all delivered in %ds: %s" % (
                name, self.options.timeout, figures["statuses"]))
        if after_delivered:
            after_delivered(carepost, figures)
        carepost.stop()
        sinks.stop()
        figures["seconds"] = round(finished - started, 2)
        figures["rate"] = round(count / (finished - started), 1)
        figures["sink_busy"] = [round(c / (finished - started), 2) for c in figures["sink_cpu"]]
        return figures, sinks, carepost

    def phase_end_to_end(self):
        count = self.options.deliver_count
        sinks = self.sinks("e2e-sinks")
        carepost = self.carepost("e2e", sinks.routes(self.options.domains))
        carepost.start(delivery=True)
        started = time.time()
        figures = run_loadgen(carepost.port, carepost.key, count, self.options,
                              start=count)
        finished, figures["idle_seconds"] = wait_delivered(carepost, count,
                                                           self.options.timeout)
        figures["carepost_cpu"] = round(process_cpu_seconds(carepost.process.pid), 1)
        carepost.stop()
        sinks.stop()
        if finished is None:
            raise RuntimeError("e2e: not all delivered in %ds" % self.options.timeout)
        figures["delivered_seconds"] = round(finished - started, 2)
        figures["delivered_rate"] = round(count / (finished - started), 1)
        figures["check"] = check_delivered(sinks, carepost, count)
        self.results["e2e"] = figures
        if not figures["check"]["ok"]:
            self.failures.append("e2e check: %s" % figures["check"])

    def phase_webhooks(self):
        """The deliver workload without and with one webhook endpoint."""
        count = self.options.webhook_count
        order = ["off", "on"] + ["on", "off"] * (self.options.webhook_rounds - 1)
        runs = {"off": [], "on": []}
        # The first carepost of a phase is the slowest (cold caches); a short
        # delivery, not counted, keeps that off the first counted run.
        warm_up = min(count, 1000)
        self.deliver_workload("webhooks-warm-up", warm_up, WEBHOOK_CONFIG)
        for index, mode in enumerate(order, start=1):
            name = "webhooks-%d-%s" % (index, mode)
            if mode == "off":
                figures, sinks, carepost = self.deliver_workload(name, count, WEBHOOK_CONFIG)
            else:
                figures, sinks, carepost = self.webhook_run(name, count)
            figures["check"] = check_delivered(sinks, carepost, count)
            figures["carepost_cpu_ms"] = round(1000 * figures["carepost_cpu"] / count, 3)
            log("webhooks run %d (%s): %.0f msg/s delivered in %.1f s" % (
                index, mode, figures["rate"], figures["seconds"]))
            runs[mode].append(figures)
            if not figures["check"]["ok"]:
                self.failures.append("webhooks %s check: %s" % (name, figures["check"]))

        def mean(mode, key):
            values = [f[key] for f in runs[mode]]
            return round(sum(values) / len(values), 3)

        summary = {"count": count, "order": order, "warm_up": warm_up, "runs": runs}
        for mode in ("off", "on"):
            summary[mode] = {"rate": mean(mode, "rate"), "runs": [f["rate"] for f in runs[mode]],
                             "carepost_cpu_ms": mean(mode, "carepost_cpu_ms"),
                             "cores_busy": mean(mode, "machine_cores_busy")}
        on = summary["on"]
        for key in ("event_rate_in_window", "event_rate_to_last", "drain_seconds",
                    "accept_event_rate", "accept_drain_seconds", "receiver_cpu_ms",
                    "carepost_cpu_drain_ms"):
            on[key] = mean("on", key)
        on["accept_rate_off"] = mean("off", "accept_rate")
        on["accept_rate_on"] = mean("on", "accept_rate")
        on["drain_max"] = max(f["drain_seconds"] for f in runs["on"])
        for key in ("events", "unique_ids", "expected", "bad_signature", "verified",
                    "out_of_order", "id_mismatch", "unparsable", "connections"):
            on[key] = sum(f["receiver"][key] for f in runs["on"])
        on["types"] = {t: sum(f["receiver"]["types"].get(t, 0) for f in runs["on"])
                       for t in sorted({t for f in runs["on"] for t in f["receiver"]["types"]})}
        summary["ratio"] = round(summary["on"]["rate"] / summary["off"]["rate"], 3)
        self.results["webhooks"] = summary

    def webhook_run(self, name, count):
        """One deliver workload with one endpoint on a loopback receiver
        registered before the first message. The accept-time events (accepted,
        queued) are waited for before the restart, so the timed delivery
        carries only the `delivered` events; then the receiver must get all
        3 x count within --webhook-drain-timeout of the last delivery."""
        drain_timeout = self.options.webhook_drain_timeout
        port = free_port()
        state = {}

        def before_accept(carepost):
            admin = carepost.admin("key", "create", "--org", carepost.org, "--scope", "admin")
            status, doc = carepost.request("POST", "/v1/webhooks", admin,
                                           {"url": "http://127.0.0.1:%d/hook" % port})
            if status != 201 or not str(doc.get("secret", "")).startswith("whsec_"):
                raise RuntimeError("POST /v1/webhooks answered %d: %s" % (
                    status, doc.get("error", doc)))
            receiver = Receiver(os.path.join(self.work, name + "-receiver"), port,
                                doc["secret"], self.options)
            self.cleanups.append(receiver.stop)
            state["receiver"] = receiver

        def after_accept(carepost):
            receiver = state["receiver"]
            posted = time.time()
            stats, reached = receiver.wait_events(2 * count, drain_timeout)
            if not reached:
                raise RuntimeError("webhooks: %d of %d accept-time events %ds after the last "
                                   "POST: %s" % (stats["unique_ids"], 2 * count, drain_timeout,
                                                 stats["types"]))
            state["accept"] = {"drain": round(stats["last"] - posted, 2),
                               "rate": round(stats["events"] / max(0.001, stats["last"]
                                                                   - stats["first"]), 1)}
            state["receiver_cpu"] = receiver.cpu()

        def after_delivered(carepost, figures):
            receiver = state["receiver"]
            stats, state["reached"] = receiver.wait_events(3 * count, drain_timeout)
            figures["carepost_cpu_drain_ms"] = round(
                1000 * process_cpu_seconds(carepost.process.pid) / count, 3)
            figures["receiver_cpu_ms"] = round(1000 * (receiver.cpu() - state["receiver_cpu"])
                                               / count, 3)
            state["dump"] = receiver.stats(dump=True)

        figures, sinks, carepost = self.deliver_workload(
            name, count, WEBHOOK_CONFIG, before_accept, after_accept, after_delivered)
        state["receiver"].stop()
        dump = state["dump"]
        started, finished = figures["started"], figures["finished"]
        arrivals = [t for t, _ in dump.pop("arrivals")]
        in_window = sum(1 for t in arrivals if started <= t <= finished)
        after_start = [t for t in arrivals if t >= started]
        last = max(after_start) if after_start else started
        figures["event_rate_in_window"] = round(in_window / (finished - started), 1)
        figures["events_after_restart"] = len(after_start)
        figures["event_rate_to_last"] = round(len(after_start) / max(0.001, last - started), 1)
        figures["drain_seconds"] = round(last - finished, 2)
        figures["accept_event_rate"] = state["accept"]["rate"]
        figures["accept_drain_seconds"] = state["accept"]["drain"]
        dump["expected"] = 3 * count
        figures["receiver"] = dump
        missing = [t for t in WEBHOOK_TYPES if dump["types"].get(t, 0) < count]
        if not state["reached"] or missing:
            self.failures.append(
                "webhooks %s: %d of %d events (%s) %ds after the last delivery" % (
                    name, dump["unique_ids"], 3 * count, dump["types"], drain_timeout))
        for key in ("bad_signature", "out_of_order", "id_mismatch", "unparsable"):
            if dump[key]:
                self.failures.append("webhooks %s: %s %d" % (name, key, dump[key]))
        return figures, sinks, carepost

    def run_peer(self, mode, extra_environment, size):
        count = self.options.deliver_count
        environment = dict(os.environ, MODE=mode, DOMAINS=str(self.options.domains),
                           SINKS=str(self.options.sinks), DKIM_DOMAIN=SENDER_DOMAIN,
                           TIMEOUT=str(self.options.timeout),
                           WORK_DIR=os.path.join(self.work, "postfix-" + mode),
                           PEER_PORT=str(free_port()), DKIM_PORT=str(free_port()),
                           SINK_PORT=str(self.peer_sink_port()), **extra_environment)
        if self.options.sink_program != PYTHON_SINK:
            environment["SINK_PROGRAM"] = self.options.sink_program[0]
        concurrency = max(20, self.options.domains)
        args = [os.path.join(HERE, "peer", "postfix-relay-peer.sh"), str(count),
                str(concurrency), str(size)]
        result = subprocess.run(args, capture_output=True, text=True, env=environment,
                                timeout=3 * self.options.timeout + 120)
        line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        match = re.search(r": (\d+) msg/s, wall ([\d.]+) s .*connections=(\d+); "
                          r"cores_busy=([\d.]+) sink_cpu=([\d.]+)", line)
        if result.returncode != 0 or not match:
            raise RuntimeError("postfix %s: exit %d: %s %s" % (
                mode, result.returncode, line, result.stderr[-300:]))
        return {"rate": int(match.group(1)), "seconds": float(match.group(2)),
                "connections": int(match.group(3)), "cores_busy": float(match.group(4)),
                "sink_cpu": float(match.group(5)), "line": line}

    def peer_sink_port(self):
        """A base port with SINKS free ports after it."""
        for _ in range(50):
            base = free_port()
            if all(self.port_is_free(base + k) for k in range(self.options.sinks)):
                return base
        raise RuntimeError("no run of free ports for the peer's sinks")

    @staticmethod
    def port_is_free(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    def phase_postfix(self):
        size = self.results.get("deliver", {}).get("check", {}).get("mean_size") or 7000
        replay = getattr(self, "deliver_sinks", None)
        extra = {"REPLAY_DIRS": ":".join(replay.dirs)} if replay else {}
        self.results["postfix_drain"] = self.run_peer("drain", extra, size)
        self.results["postfix_relay"] = self.run_peer("relay", {}, size)

    # ---- driver -----------------------------------------------------------

    def run(self):
        phases = [("sink", self.phase_sink_ceiling), ("accept", self.phase_accept_and_rss),
                  ("auth", self.phase_auth), ("deliver", self.phase_deliver),
                  ("e2e", self.phase_end_to_end), ("webhooks", self.phase_webhooks),
                  ("postfix", self.phase_postfix)]
        self.prepare()
        for name, phase in phases:
            if name not in self.options.phases:
                continue
            log("phase %s" % name)
            started = time.time()
            try:
                phase()
            except Exception as error:  # a failed phase is reported, the rest still run
                self.failures.append("%s: %s" % (name, error))
                log("phase %s failed: %s" % (name, error))
            finally:
                while self.cleanups:
                    self.cleanups.pop()()
            log("phase %s took %.0f s" % (name, time.time() - started))
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)
        print_table(self.results, self.options, self.failures)
        return 0 if not self.failures else 1


def ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"


def auth_rows(a, row):
    """One row per method: mean msg/s, share of the key's, latency, CPU."""
    row("auth: %d messages per run, key/signed/token/basic then reverse" % a["count"], "", "",
        "", "mean of 2 runs; %d-message warm-up not counted" % a["warm_up"])
    for method in AUTH_METHODS:
        m = a["methods"][method]
        target = ""
        if method in ("signed", "token"):
            verdict = "ok" if m["percent_of_key"] >= TARGET_AUTH_PERCENT else "SHORT"
            target = ">= %d%% of key: %s" % (TARGET_AUTH_PERCENT, verdict)
        row("auth %-25s (msg/s)" % AUTH_NAMES[method], "%.0f" % m["rate"], "",
            "%.1f%%" % m["percent_of_key"], target)
        row("  p50 / p99 (ms)", "%.1f / %.1f" % (m["p50_ms"], m["p99_ms"]), "", "",
            "runs %s msg/s" % " / ".join("%.0f" % x for x in m["runs"]))
        row("  carepost CPU per message (us)", "%.0f" % m["carepost_cpu_us"], "",
            "%.1f%%" % m["cpu_percent_of_key"],
            "loadgen CPU %.2f s per run" % m["client_cpu_seconds"])


def webhook_rows(w, row):
    """Delivery with and without one endpoint, and what the receiver got."""
    off, on = w["off"], w["on"]
    row("webhooks: deliver %d, no endpoint (msg/s)" % w["count"], "%.0f" % off["rate"], "", "",
        "runs %s" % " / ".join("%.0f" % x for x in off["runs"]))
    row("webhooks: same, 1 loopback endpoint (msg/s)", "%.0f" % on["rate"], "",
        "%.2fx" % w["ratio"], "runs %s; ratio = with / without" % " / ".join(
            "%.0f" % x for x in on["runs"]))
    row("  carepost CPU per message, without / with (ms)", "%.2f / %.2f" % (
        off["carepost_cpu_ms"], on["carepost_cpu_ms"]), "",
        "%.2fx" % (on["carepost_cpu_ms"] / off["carepost_cpu_ms"]),
        "restart -> last delivered; steadier than msg/s")
    row("  events/s to receiver while delivering", "%.0f" % on["event_rate_in_window"], "", "",
        "%.0f/s restart -> last event" % on["event_rate_to_last"])
    row("  last event after last delivery (s)", "%.2f" % on["drain_seconds"], "", "",
        "max %.2f; negative: events kept pace" % on["drain_max"])
    row("  events received / expected", "%d / %d" % (on["unique_ids"], on["expected"]), "", "",
        " ".join("%s %d" % item for item in on["types"].items()))
    row("  signatures checked / bad", "%d / %d" % (on["verified"], on["bad_signature"]), "", "",
        "dup %d, out of order %d, %d connection(s), %d run(s) with" % (
            on["events"] - on["unique_ids"], on["out_of_order"], on["connections"],
            len(on["runs"])))
    row("  accept-time events/s (accepted, queued)", "%.0f" % on["accept_event_rate"], "", "",
        "last %.2f s after last POST; accept %.0f vs %.0f msg/s" % (
            on["accept_drain_seconds"], on["accept_rate_on"], on["accept_rate_off"]))
    row("  CPU per message incl. drain (ms)", "%.2f" % on["carepost_cpu_drain_ms"], "", "",
        "receiver %.2f ms/msg (3 events); cores busy %.2f vs %.2f" % (
            on["receiver_cpu_ms"], on["cores_busy"], off["cores_busy"]))


def print_table(r, options, failures):
    rows = []

    def row(name, value, peer="", ratio_text="", target=""):
        rows.append((name, str(value), str(peer), ratio_text, target))

    for key, name in (("sink_ceiling", options.sink), ("sink_ceiling_python", "python")):
        if key in r:
            s = r[key]
            row("sink ceiling, %s, 1 process, no TLS (msg/s)" % name, s["rate"], "", "",
                "sink CPU %.1f s in %.1f s" % (s["cpu"], s["seconds"]))
    if "accept" in r:
        a = r["accept"]
        verdict = "ok" if a["rate"] >= TARGET_ACCEPT_RATE else "SHORT %.0f%%" % (
            100 * (1 - a["rate"] / TARGET_ACCEPT_RATE))
        row("accept, delivery off (msg/s)", a["rate"], "", "",
            ">= %d: %s" % (TARGET_ACCEPT_RATE, verdict))
        row("accept latency p50 / p99 (ms)", "%.1f / %.1f" % (a["p50_ms"], a["p99_ms"]))
        row("accept: carepost CPU / cores busy", "%.0f s / %.2f" % (
            a["carepost_cpu"], a["machine_cores_busy"]), "", "",
            "loadgen CPU %.1f s" % a["client_cpu_seconds"])
    if "auth" in r:
        auth_rows(r["auth"], row)
    if "rss" in r:
        m = r["rss"]
        peak = max(m["after_accept"]["VmHWM"], m["delivering"]["VmHWM"])
        verdict = "ok" if peak <= TARGET_RSS_MB else "OVER by %.0f MB" % (peak - TARGET_RSS_MB)
        row("RSS after accepting %d (MB)" % m["queued"], m["after_accept"]["VmRSS"])
        row("peak RSS (VmHWM), %d queued (MB)" % m["queued"], peak, "", "",
            "<= %d: %s" % (TARGET_RSS_MB, verdict))
        row("  of which while delivering (MB)", m["delivering"]["VmHWM"], "", "",
            "%d delivered in %d s" % (m["delivered_in_window"], m["window_s"]))
    if "webhooks" in r:
        webhook_rows(r["webhooks"], row)
    drain = r.get("postfix_drain", {}).get("rate")
    relay = r.get("postfix_relay", {}).get("rate")
    if "deliver" in r:
        d = r["deliver"]
        x = d["rate"] / drain if drain else 0
        verdict = ("ok" if x >= TARGET_DELIVER_RATIO else "SHORT %.0f%%" % (
            100 * (1 - x / TARGET_DELIVER_RATIO))) if drain else ""
        row("deliver, queue -> sinks (msg/s)", d["rate"], drain or "-",
            ratio(d["rate"], drain), ">= %.0fx: %s" % (TARGET_DELIVER_RATIO, verdict))
        row("  wall (s)", d["seconds"], r.get("postfix_drain", {}).get("seconds", "-"))
        row("  of which nothing in flight (s)", d["idle_seconds"], "", "",
            "recipients due, none `sending`")
        row("  SMTP connections", d["check"]["connections"],
            r.get("postfix_drain", {}).get("connections", "-"))
        count = options.deliver_count
        peer = r.get("postfix_drain", {})
        row("  cores busy, whole machine", d["machine_cores_busy"], peer.get("cores_busy", "-"))
        row("  sink CPU per message (ms)", "%.2f" % (1000 * sum(d["sink_cpu"]) / count),
            "%.2f" % (1000 * peer["sink_cpu"] / count) if peer else "-")
        row("  carepost CPU per message (ms)", "%.2f" % (1000 * d["carepost_cpu"] / count))
        row("  busiest sink process (cores)", max(d["sink_busy"]), "", "",
            "one sink saturated" if max(d["sink_busy"]) >= 0.85 else "no sink saturated")
        row("  checks", "tls %d/%d dkim %d/%d uniq %d retried %d" % (
            d["check"]["tls"], d["check"]["stored"], d["check"]["dkim_ok"],
            d["check"]["dkim_checked"], d["check"]["unique_recipients"],
            d["check"]["retried"]), "", "", "mean size %d B" % d["check"]["mean_size"])
    if "e2e" in r:
        e = r["e2e"]
        row("accept, delivery on (msg/s)", e["rate"], "", "",
            "p50 %.1f / p99 %.1f ms" % (e["p50_ms"], e["p99_ms"]))
        row("end to end, POST -> sinks (msg/s)", e["delivered_rate"], relay or "-",
            ratio(e["delivered_rate"], relay), "Postfix: smtp-source relay")
    elif relay:
        row("Postfix relay, smtp-source -> sinks", "-", relay)

    headers = ("figure", "carepost", "Postfix", "ratio", "target / note")
    widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print()
    print("carepost benchmark: %d domains, %d %s sinks (STARTTLS, verified), "
          "%d connections, %d B HTML" % (options.domains, options.sinks, options.sink,
                                        options.connections, options.html_octets))
    print(line)
    print("-" * len(line))
    for x in rows:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)).rstrip())
    print("command: %s" % r["command"])
    for name in ("postfix_drain", "postfix_relay"):
        if name in r:
            print(r[name]["line"])
    for failure in failures:
        print("FAILED: %s" % failure)
    print("raw figures: %s" % os.path.join(options.work_dir, "results.json"))


def parse_options(argv):
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.environ.get(
        "CAREPOST_BIN", os.path.join(REPO, "build", "src", "app", "carepost")))
    parser.add_argument("--work-dir", default="/tmp/carepost-bench")
    parser.add_argument("--phases", default="sink,accept,deliver,e2e,postfix")
    parser.add_argument("--accept-count", type=int, default=100_000)
    parser.add_argument("--deliver-count", type=int, default=10_000)
    parser.add_argument("--auth-count", type=int, default=20_000,
                        help="messages per run in the auth phase (8 runs)")
    parser.add_argument("--ceiling-count", type=int, default=3000)
    parser.add_argument("--webhook-count", type=int, default=5000,
                        help="messages per run in the webhooks phase")
    parser.add_argument("--webhook-rounds", type=int, default=2,
                        help="1: without, with; 2: without, with, with, without")
    parser.add_argument("--webhook-drain-timeout", type=int, default=60,
                        help="seconds the receiver may lag before events count as missing")
    parser.add_argument("--webhook-verify-every", type=int, default=1,
                        help="the receiver checks the HMAC of every Nth request")
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--sinks", type=int, default=4)
    parser.add_argument("--sink", choices=("cpp", "python"), default="cpp",
                        help="bench_sink (C++, default) or tests/support/smtp_sink.py")
    parser.add_argument("--sink-binary", default=os.environ.get(
        "BENCH_SINK_BINARY", os.path.join(REPO, "build-bench", "bench_sink")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--html-octets", type=int, default=5120)
    parser.add_argument("--rss-window", type=int, default=20)
    parser.add_argument("--timeout", type=int, default=300, help="per phase step, seconds")
    parser.add_argument("--server-threads", type=int, default=0)
    parser.add_argument("--delivery-threads", type=int, default=0)
    parser.add_argument("--connections-per-domain", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="small counts (20,000 accepted, 2,000 delivered, 5,000 per "
                        "auth run): a smoke run")
    options = parser.parse_args(argv)
    if options.quick:
        options.accept_count = min(options.accept_count, 20_000)
        options.deliver_count = min(options.deliver_count, 2_000)
        options.rss_window = min(options.rss_window, 5)
        options.auth_count = min(options.auth_count, 5_000)
        options.webhook_count = min(options.webhook_count, 1_000)
    options.phases = set(options.phases.split(","))
    if options.sink == "cpp":
        if not os.access(options.sink_binary, os.X_OK):
            parser.error("no bench_sink at %s (bench/run.sh builds it)" % options.sink_binary)
        options.sink_program = [options.sink_binary]
    else:
        options.sink_program = PYTHON_SINK
    if not 1 <= options.accept_count <= 200_000 or not 1 <= options.deliver_count <= 100_000:
        parser.error("--accept-count is 1..200000, --deliver-count 1..100000")
    if not 1 <= options.auth_count <= 100_000:
        parser.error("--auth-count is 1..100000")
    if not 1 <= options.webhook_count <= 100_000 or not 1 <= options.webhook_rounds <= 3:
        parser.error("--webhook-count is 1..100000, --webhook-rounds 1..3")
    if not 5 <= options.webhook_drain_timeout <= 600 or options.webhook_verify_every < 1:
        parser.error("--webhook-drain-timeout is 5..600 s, --webhook-verify-every >= 1")
    unknown = options.phases - {"sink", "accept", "auth", "deliver", "e2e", "webhooks",
                                "postfix"}
    if unknown:
        parser.error("unknown phase(s): %s" % ", ".join(sorted(unknown)))
    if not 1 <= options.sinks <= 16 or not 1 <= options.domains <= 100:
        parser.error("--sinks is 1..16, --domains 1..100")
    if not 10 <= options.timeout <= 1800 or not 1 <= options.rss_window <= 300:
        parser.error("--timeout is 10..1800 s, --rss-window 1..300 s")
    if not os.access(options.binary, os.X_OK):
        parser.error("no carepost binary at %s (build it, or set CAREPOST_BIN)"
                     % options.binary)
    options.command = "bench/run.sh " + " ".join(shlex.quote(a) for a in argv)
    return options


def main():
    options = parse_options(sys.argv[1:])
    if os.geteuid() != 0 and "postfix" in options.phases:
        sys.exit("bench: the Postfix peer needs root")
    return Bench(options).run()


if __name__ == "__main__":
    sys.exit(main())
