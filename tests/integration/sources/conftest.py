"""Fixtures for the source tests: the area's logship runner over the shared factory (logship_bin,
loki and logship_factory come from tests/integration/conftest.py; defaults from sourceslib.py)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from sourceslib import logship_args, PROCESS  # noqa: E402


@pytest.fixture
def run_logship(logship_factory, loki):
    """run_logship(args, stdin=None, workdir=None) -> a started Logship shipping to the Loki
    stand-in; every one is stopped at the end."""
    def run(args, stdin=None, workdir=None):
        return logship_factory(logship_args(loki.url, args), workdir=workdir, stdin=stdin, **PROCESS)
    return run
