"""Fixtures for hellod's integration tests (helpers live in hellodlib.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hellodlib import Hellod  # noqa: E402


@pytest.fixture
def hellod_factory(tmp_path):
    started = []

    def make(*args, env=None, name=None, start=True):
        h = Hellod(tmp_path, args, env=env, name=name or f"hellod{len(started)}")
        started.append(h)
        return h.start() if start else h

    yield make
    for h in started:
        h.kill()


@pytest.fixture
def hellod(hellod_factory):
    return hellod_factory()
