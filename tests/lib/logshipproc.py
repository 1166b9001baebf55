"""The one harness every integration area uses to run the real logship binary: a free-port
helper, a Prometheus text parser, and a process wrapper (start with stderr to a file, wait for
/healthz or /metrics, read metrics and RSS, SIGTERM / kill -9, tail the log). Tests get processes
from the one factory, the logship_factory fixture (tests/integration/conftest.py); area defaults
(flags, outputs, readiness) stay in the areas and are passed in; this module has a name no
area uses, so that running the whole suite cannot import the wrong one."""
import os
import re
import signal
import socket
import subprocess
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def logship_binary():
    """The path of the logship binary under test: $LOGSHIP_BIN, else build/logship of this checkout."""
    return os.environ.get("LOGSHIP_BIN", os.path.join(REPO, "build", "logship"))


def wait_for(pred, timeout, what, ls=None, interval=0.05):
    """Poll pred() until it returns something truthy and return that; after timeout seconds fail
    with what (and the tail of ls's log when a LogshipProcess is given)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %s s waiting for %s%s" %
                                 (timeout, what, ("\n" + ls.stderr_tail()) if ls else ""))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """Prometheus text -> {(name, labels-string or ''): value}; comments and junk skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if m:
            try:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def parse_labels(labels):
    """'{a="x",b="y"}' -> {"a": "x", "b": "y"}."""
    return dict(LABEL_RE.findall(labels or ""))


def metric_sum(metrics, name, **labels):
    """Sum of every series of name (in a parse_metrics dict) whose labels include the given ones."""
    total = 0.0
    for (n, lab), v in metrics.items():
        if n != name:
            continue
        have = parse_labels(lab)
        if all(have.get(k) == str(val) for k, val in labels.items()):
            total += v
    return total


class LogshipProcess:
    """One logship process over a work directory whose spool survives restarts.

    args: everything after --spool-dir/--metrics-addr (the area's default flags, outputs, extras).
    ready: "/healthz", "/metrics" or None (start() does not wait).
    make_spool: create workdir/spool first (otherwise logship must create it).
    merge_stdout: stdout goes to the log file too (else to /dev/null).
    new_port_per_start: pick a fresh metrics port at every start (else one per object)."""

    def __init__(self, binary, workdir, args, stdin=None, ready="/healthz", ready_timeout=15,
                 stop_timeout=30, make_spool=False, merge_stdout=False,
                 new_port_per_start=False, stderr_name="logship.stderr"):
        self.binary = binary
        self.workdir = workdir
        self.spool = os.path.join(workdir, "spool")
        if make_spool:
            os.makedirs(self.spool, exist_ok=True)
        self.extra = list(args)
        self.stdin = stdin
        self.ready = ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.merge_stdout = merge_stdout
        self.new_port_per_start = new_port_per_start
        self.stderr_path = os.path.join(workdir, stderr_name)
        self.port = free_port()
        self.proc = None
        self.err = None
        self.runs = 0

    @property
    def args(self):
        """The argv start() runs."""
        return [self.binary, "--spool-dir", self.spool,
                "--metrics-addr", "127.0.0.1:%d" % self.port] + self.extra

    @property
    def metrics_port(self):
        return self.port

    def start(self, wait=True):
        if self.new_port_per_start and self.runs > 0:
            self.port = free_port()
        self.runs += 1
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            self.args, stdin=self.stdin if self.stdin is not None else subprocess.DEVNULL,
            stdout=self.err if self.merge_stdout else subprocess.DEVNULL, stderr=self.err)
        if not wait or self.ready is None:
            return self
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("logship exited early (%s): %s" %
                                     (self.proc.returncode, self.stderr_tail()))
            try:
                requests.get(self.url(self.ready), timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError("logship %s did not come up: %s" % (self.ready, self.stderr_tail()))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("logship died (%s): %s" % (self.proc.returncode,
                                                              self.stderr_tail()))

    def metrics(self):
        """Parsed /metrics (see parse_metrics); raises requests errors when unreachable."""
        r = requests.get(self.url("/metrics"), timeout=5)
        r.raise_for_status()
        return parse_metrics(r.text)

    def metric(self, name, **labels):
        """Sum of the series of name whose labels include the given ones."""
        return metric_sum(self.metrics(), name, **labels)

    def metric_sum(self, name, **labels):
        """Like metric(), but NaN when /metrics is unreachable, so that no comparison holds
        for a dead process."""
        try:
            return self.metric(name, **labels)
        except requests.RequestException:
            return float("nan")

    def wait_metric(self, name, pred, timeout=30, **labels):
        """Poll until pred(value) holds (a number n means value >= n); returns the value.
        Fails on timeout or when the process dies."""
        test = pred if callable(pred) else (lambda v: v >= pred)
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                v = self.metric(name, **labels)
                if test(v):
                    return v
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("metric %s%s never matched (last %s): %s" %
                             (name, labels, v, self.stderr_tail()))

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _close_err(self):
        if self.err is not None and not self.err.closed:
            self.err.close()

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Send sig (SIGTERM) and wait; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("logship did not stop within %s s: %s" %
                                 (timeout, self.stderr_tail()))
        finally:
            self._close_err()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_err()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=4000):
        return self.stderr_text()[-n:]

    def log(self):
        """Everything the process (all its runs) wrote to the log file."""
        return self.stderr_text()
