"""Helpers for the source tests (a module of its own, so that no test imports
another area's conftest): run the real logship binary, read its /metrics, stop it."""
import os
import re
import signal
import socket
import subprocess
import time

import requests

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')


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


class Logship:
    """One logship process. args are extra command-line arguments."""

    def __init__(self, binary, workdir, loki_url, args, stdin=None):
        self.binary = binary
        self.workdir = workdir
        self.spool = os.path.join(workdir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.port = free_port()
        self.stderr_path = os.path.join(workdir, "logship.stderr")
        self.args = [binary, "--loki", loki_url, "--spool-dir", self.spool,
                     "--metrics-addr", "127.0.0.1:%d" % self.port,
                     "--batch-wait", "50ms", "--retry-initial-backoff", "100ms",
                     "--retry-max-backoff", "1s", "--shutdown-timeout", "10s"] + list(args)
        self.stdin = stdin
        self.proc = None

    def start(self):
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.args, stdin=self.stdin if self.stdin is not None
                                     else subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("logship exited early (%s): %s" %
                                     (self.proc.returncode, self.stderr_tail()))
            try:
                requests.get(self.url("/metrics"), timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError("logship /metrics did not come up: " + self.stderr_tail())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def metrics(self):
        r = requests.get(self.url("/metrics"), timeout=5)
        r.raise_for_status()
        return parse_metrics(r.text)

    def metric(self, name, **labels):
        """Sum of every series of name whose labels include the given ones."""
        total = 0.0
        for (n, ls), v in self.metrics().items():
            if n != name:
                continue
            if all('%s="%s"' % (k, val) in ls for k, val in labels.items()):
                total += v
        return total

    def wait_metric(self, name, at_least, timeout=30, **labels):
        deadline = time.monotonic() + timeout
        v = 0
        while time.monotonic() < deadline:
            self.assert_alive()
            v = self.metric(name, **labels)
            if v >= at_least:
                return v
            time.sleep(0.05)
        raise AssertionError("%s%s stayed at %s < %s" % (name, labels, v, at_least))

    def assert_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("logship died (%s): %s" % (self.proc.returncode,
                                                              self.stderr_tail()))

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("logship did not stop within %ss" % timeout)
        finally:
            self.err.close()

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""
