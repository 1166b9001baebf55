"""Helpers for the ELK output tests (a uniquely named module: every test area has a conftest.py):
a runner for the logship binary (start, SIGTERM, kill -9, /metrics), line generators, polling."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


REPO = os.path.dirname(TESTS_DIR)
# How long the "backend down" fan-out test keeps one backend away (issue 4: minutes;
# the brief allows 60-90 s so that the suite stays short).
OUTAGE_SECONDS = float(os.environ.get("ELK_OUTAGE_SECONDS", "60"))


def wait_until(fn, timeout=30.0, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Line timestamps start an hour ago (Loki refuses entries older than a week or out of order by
# more than an hour), one per millisecond, with nanosecond digits so that precision is checked.
BASE_S = int(time.time()) - 3600


def ts_of(i):
    """The RFC 3339 timestamp (ns) carried by line i."""
    sec = BASE_S + i // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%09dZ" % ((i % 1000) * 1000000 + 123457)


def index_day(i, pattern="%Y.%m.%d"):
    return time.strftime(pattern, time.gmtime(BASE_S + i // 1000))


def json_line(i, **extra):
    d = {"ts": ts_of(i), "level": "info", "seq": i, "msg": "request %d done" % i}
    d.update(extra)
    return json.dumps(d, separators=(",", ":"))


def write_lines(path, lines, mode="a"):
    with open(path, mode) as f:
        for ln in lines:
            f.write(ln + "\n")
        f.flush()
        os.fsync(f.fileno())


class Logship:
    """One logship process over a spool directory that survives restarts."""

    def __init__(self, binary, workdir, args):
        self.binary = binary
        self.workdir = workdir
        self.args = list(args)
        self.spool = os.path.join(workdir, "spool")
        self.proc = None
        self.metrics_port = None
        self.runs = 0
        os.makedirs(self.spool, exist_ok=True)

    def start(self):
        self.metrics_port = free_port()
        self.runs += 1
        log = open(os.path.join(self.workdir, "logship-%d.log" % self.runs), "wb")
        cmd = [self.binary, "--spool-dir", self.spool,
               "--metrics-addr", "127.0.0.1:%d" % self.metrics_port] + self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("logship did not exit within %d s of SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def log(self):
        out = []
        for i in range(1, self.runs + 1):
            p = os.path.join(self.workdir, "logship-%d.log" % i)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def metrics(self):
        """Parsed /metrics: {(name, frozenset(labels.items())): value}; None when unreachable."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            labels = {}
            name = name_labels
            if "{" in name_labels:
                name, _, rest = name_labels.partition("{")
                for part in rest.rstrip("}").split('",'):
                    if "=" in part:
                        k, _, v = part.partition("=")
                        labels[k.strip()] = v.strip().strip('"')
            try:
                out[(name, frozenset(labels.items()))] = float(value)
            except ValueError:
                pass
        return out

    def metric_sum(self, name, **want):
        """Sum of the series of name whose labels include want; NaN when /metrics is
        unreachable, so that no comparison holds for a dead process."""
        m = self.metrics()
        if m is None:
            return float("nan")
        return sum(v for (n, labels), v in m.items()
                   if n == name and all((k, val) in labels for k, val in want.items()))


# Common flags: short batches and short backoffs, so tests stay quick.
FAST = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms", "--retry-max-backoff", "2s",
        "--shutdown-timeout", "5s", "--label", "service=hello"]


