"""Fixtures every integration area shares, defined once: the logship binary, the Loki stand-in, and
the one factory of logship processes (logship_factory). Area conftests add only their own fixtures
and defaults; helpers tests import live in uniquely named modules (tests/lib/, <area>lib.py ...),
never in a conftest, because every area has one."""
import os
import sys

import pytest

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.logshipproc import LogshipProcess, logship_binary  # noqa: E402
from receivers.loki import LokiReceiver  # noqa: E402


@pytest.fixture
def logship_bin():
    path = logship_binary()
    if not os.access(path, os.X_OK):
        pytest.fail("logship binary not built: %s (run make)" % path)
    return path


@pytest.fixture
def loki():
    r = LokiReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def logship_factory(logship_bin, tmp_path):
    """logship_factory(args, workdir=None, start=True, **opts) -> a LogshipProcess over workdir
    (default tmp_path; created if missing), started unless start=False; opts go to LogshipProcess
    (readiness, timeouts, stdin ...). Every process still running at teardown is killed."""
    started = []

    def make(args, workdir=None, start=True, **opts):
        wd = str(workdir or tmp_path)
        os.makedirs(wd, exist_ok=True)
        ls = LogshipProcess(logship_bin, wd, args, **opts)
        started.append(ls)
        return ls.start() if start else ls

    yield make
    for ls in started:
        if ls.alive():
            ls.proc.kill()
            ls.proc.wait()
