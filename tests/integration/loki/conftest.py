"""Fixtures for the Loki output tests: the Loki stand-in and the logship binary."""
import os
import sys

import pytest

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
