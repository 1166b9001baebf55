"""Fixtures for the engine tests: the Loki stand-in and a factory of logship processes."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logship_harness import REPO, Logship, LokiReceiver  # noqa: E402


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


@pytest.fixture
def make_logship(logship_bin, tmp_path):
    started = []

    def make(outputs, args=(), stdin=None, start=True, workdir=None):
        ls = Logship(logship_bin, str(workdir or tmp_path), outputs, args, stdin)
        started.append(ls)
        if start:
            ls.start()
        return ls

    yield make
    for ls in started:
        if ls.proc is not None and ls.proc.poll() is None:
            ls.proc.kill()
            ls.proc.wait()
