"""Fixtures for the Loki output tests: a throwaway PKI and the area's logship runner (logship_bin,
loki and logship_factory come from tests/integration/conftest.py)."""
import os
import subprocess
import sys

import pytest


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


# --- running the logship binary against the receiver (the shared factory, the area's flags) -----

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lokiflags import FLAGS  # noqa: E402


@pytest.fixture
def run_logship(logship_factory, tmp_path):
    """run_logship(args) starts logship (work dir tmp_path/ls<N>) and returns it; killed at teardown."""
    n = [0]

    def run(args):
        d = tmp_path / ("ls%d" % n[0])
        n[0] += 1
        d.mkdir()
        return logship_factory(FLAGS + list(args), workdir=d, ready="/healthz", ready_timeout=15,
                               stop_timeout=30)
    return run
