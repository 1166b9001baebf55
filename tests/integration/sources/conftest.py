"""Fixtures for the source tests: the Loki stand-in and logship processes (see sourceslib)."""
import os
import sys

import pytest

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from receivers.loki import LokiReceiver  # noqa: E402
from sourceslib import Logship  # noqa: E402

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


@pytest.fixture
def run_logship(logship_bin, loki, tmp_path):
    """run_logship(args, stdin=None) → a started Logship; every one is stopped at the end."""
    started = []

    def run(args, stdin=None, workdir=None):
        ls = Logship(logship_bin, str(workdir or tmp_path), loki.url, args, stdin=stdin)
        started.append(ls)
        return ls.start()

    yield run
    for ls in started:
        if ls.proc is not None and ls.proc.poll() is None:
            ls.proc.kill()
            ls.proc.wait()
