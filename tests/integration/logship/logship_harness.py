"""Helpers for the engine tests: a line generator, /metrics parsing, and a class that runs
the real logship binary, reads its /metrics and its RSS, and stops or kills it.
(Its own module name, because every test area has a conftest.py.)"""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from receivers.loki import LokiReceiver  # noqa: E402

REPO = os.path.dirname(TESTS_DIR)
METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')
SAN = "build-san" in os.environ.get("LOGSHIP_BIN", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """{(name, labels-string or ''): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric_sum(metrics, name, **labels):
    """Sum of every series of name whose labels include the given ones."""
    total = 0.0
    for (n, lab), v in metrics.items():
        if n != name:
            continue
        if all('%s="%s"' % (k, val) in lab for k, val in labels.items()):
            total += v
    return total


def rfc3339(ns):
    s, frac = divmod(ns, 1_000_000_000)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def json_line(i, ts_ns, level=None, pad=0):
    """A hellod-like JSON access log line; unique per i."""
    d = {"ts": rfc3339(ts_ns), "level": level or ("info" if i % 3 else "warn"),
         "msg": "request", "i": i, "path": "/api/items/%d" % i}
    if pad:
        d["pad"] = "x" * pad
    return json.dumps(d, separators=(",", ":"))


def write_lines(path, start, n, ts0=None, step_ns=1000, pad=0, mode="a"):
    """Append n JSON lines numbered from start; returns their (ts_ns, line) list."""
    ts0 = ts0 if ts0 is not None else time.time_ns()
    out = []
    with open(path, mode) as f:
        for k in range(n):
            i = start + k
            ts = ts0 + k * step_ns
            line = json_line(i, ts, pad=pad)
            f.write(line + "\n")
            out.append((ts, line))
    return out


class Logship:
    """One logship process on a work directory (its spool survives restarts)."""

    def __init__(self, binary, workdir, outputs, args=(), stdin=None):
        self.binary = binary
        self.workdir = workdir
        self.spool = os.path.join(workdir, "spool")
        self.port = free_port()
        self.stderr_path = os.path.join(workdir, "logship.stderr")
        self.args = [binary, "--spool-dir", self.spool,
                     "--metrics-addr", "127.0.0.1:%d" % self.port,
                     "--batch-wait", "50ms", "--retry-initial-backoff", "100ms",
                     "--retry-max-backoff", "2s", "--shutdown-timeout", "10s",
                     "--spool-fsync-interval", "200ms"] + list(outputs) + list(args)
        self.stdin = stdin
        self.proc = None

    def start(self, wait=True):
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.args, stdin=self.stdin if self.stdin is not None
                                     else subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        if not wait:
            return self
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("logship exited early (%s): %s" %
                                     (self.proc.returncode, self.stderr_tail()))
            try:
                requests.get(self.url("/healthz"), timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError("logship /healthz did not come up: " + self.stderr_tail())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def metrics(self):
        r = requests.get(self.url("/metrics"), timeout=5)
        r.raise_for_status()
        return parse_metrics(r.text)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def wait_metric(self, name, pred, timeout=30, **labels):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            try:
                v = metric_sum(self.metrics(), name, **labels)
                if pred(v):
                    return v
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("metric %s%s never matched (last %s): %s" %
                             (name, labels, v, self.stderr_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("logship did not stop: " + self.stderr_tail())
        self.err.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.err.close()

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
