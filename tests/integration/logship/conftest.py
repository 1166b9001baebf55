"""Fixtures for the engine tests: the area's logship factory over the shared one (logship_bin, loki
and logship_factory come from tests/integration/conftest.py; defaults from logship_harness.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logship_harness import FLAGS  # noqa: E402


@pytest.fixture
def make_logship(logship_factory):
    """make_logship(outputs, args=(), stdin=None, start=True, workdir=None) -> a LogshipProcess with
    the area's FLAGS; start() waits for /healthz."""
    def make(outputs, args=(), stdin=None, start=True, workdir=None):
        return logship_factory(FLAGS + list(outputs) + list(args), workdir=workdir, start=start,
                               stdin=stdin, ready="/healthz", ready_timeout=15, stop_timeout=30)
    return make
