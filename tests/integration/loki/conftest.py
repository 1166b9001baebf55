"""Fixtures for the Loki output tests: the Loki stand-in and the logship binary."""
import os
import subprocess
import sys

import pytest

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.logshipproc import LogshipProcess  # noqa: E402
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lokiflags import FLAGS  # noqa: E402


@pytest.fixture
def run_logship(logship_bin, tmp_path):
    """run_logship(args) starts logship (work dir tmp_path/ls<N>) and returns it; killed at teardown."""
    procs = []

    def run(args):
        d = tmp_path / ("ls%d" % len(procs))
        d.mkdir()
        ls = LogshipProcess(logship_bin, str(d), FLAGS + list(args), ready="/healthz",
                            ready_timeout=15, stop_timeout=30)
        procs.append(ls)
        return ls.start()

    yield run
    for ls in procs:
        if ls.proc and ls.proc.poll() is None:
            ls.proc.kill()
            ls.proc.wait()
