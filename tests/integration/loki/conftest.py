"""Fixtures for the Loki output tests: the Loki stand-in and the logship binary."""
import os
import re
import signal
import socket
import time
import subprocess
import sys

import pytest
import requests

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from receivers.loki import LokiReceiver  # noqa: E402

REPO = os.path.dirname(TESTS_DIR)


@pytest.fixture
def loki():
    r = LokiReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def logship_bin():
    path = os.environ.get("LOGSHIP_BIN", os.path.join(REPO, "build", "logship"))
    if not os.access(path, os.X_OK):
        pytest.fail("logship binary not built: %s (run make)" % path)
    return path


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, all made with the openssl CLI. Returns a dict of paths."""
    d = str(tmp_path_factory.mktemp("pki"))
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=logship test CA", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=" + who, cwd=d)
        _openssl("x509", "-req", "-in", who + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", who + ".crt", "-days", "2", "-extfile", who + ".ext", cwd=d)
    # a second CA that signed nothing we serve: verification against it must fail
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "other.key", "-out", "other.crt", "-days", "2", "-subj", "/CN=other CA", cwd=d)
    return {k: os.path.join(d, k) for k in
            ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "other.crt")}


# --- running the logship binary against the receiver --------------------------------------

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LokiLogship:
    """One logship process shipping files to Loki, with /metrics readback."""

    def __init__(self, binary, workdir, args):
        self.workdir = workdir
        self.port = _free_port()
        self.stderr_path = os.path.join(workdir, "logship.stderr")
        self.args = [binary, "--spool-dir", os.path.join(workdir, "spool"),
                     "--metrics-addr", "127.0.0.1:%d" % self.port, "--batch-wait", "50ms",
                     "--retry-initial-backoff", "100ms", "--retry-max-backoff", "1s",
                     "--shutdown-timeout", "10s"] + list(args)
        self.proc = None
        self.err = None

    def start(self):
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("logship exited (%s): %s" % (self.proc.returncode, self.stderr()))
            try:
                requests.get("http://127.0.0.1:%d/healthz" % self.port, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError("logship did not come up: " + self.stderr())

    def metrics(self):
        r = requests.get("http://127.0.0.1:%d/metrics" % self.port, timeout=5)
        r.raise_for_status()
        out = {}
        for line in r.text.splitlines():
            m = METRIC_RE.match(line)
            if m and not line.startswith("#"):
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
        return out

    def metric(self, name, **labels):
        return sum(v for (n, lab), v in self.metrics().items() if n == name and
                   all('%s="%s"' % kv in lab for kv in labels.items()))

    def wait_metric(self, name, pred, timeout=30, **labels):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            try:
                v = self.metric(name, **labels)
                if pred(v):
                    return v
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("%s%s never matched (last %s): %s" % (name, labels, v, self.stderr()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("logship did not stop: " + self.stderr())
            self.err.close()
            return rc
        return self.proc.returncode if self.proc else None

    def stderr(self, n=3000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


@pytest.fixture
def run_logship(logship_bin, tmp_path):
    """run_logship(args) starts logship (work dir tmp_path/ls<N>) and returns it; killed at teardown."""
    procs = []

    def run(args):
        d = tmp_path / ("ls%d" % len(procs))
        d.mkdir()
        ls = LokiLogship(logship_bin, str(d), args)
        procs.append(ls)
        return ls.start()

    yield run
    for ls in procs:
        if ls.proc and ls.proc.poll() is None:
            ls.proc.kill()
            ls.proc.wait()
