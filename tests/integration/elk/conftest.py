"""Fixtures for the ELK output tests: the Elasticsearch, Logstash and Lumberjack stand-ins and the
area's logship runner (logship_bin, loki and logship_factory come from tests/integration/conftest.py)."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elkutil import PROCESS  # noqa: E402  (also puts tests/ on sys.path)

from receivers.elasticsearch import ElasticsearchReceiver  # noqa: E402
from receivers.logstash import LogstashHttpReceiver, LogstashTcpReceiver  # noqa: E402
from receivers.lumberjack import LumberjackReceiver  # noqa: E402


@pytest.fixture
def run_logship(logship_factory, tmp_path):
    """run_logship(args, workdir=None) -> a started Logship (start() does not wait: tests poll);
    each gets its own work directory tmp_path/ls<N> unless given one."""
    n = [0]

    def start(args, workdir=None):
        wd = workdir or str(tmp_path / ("ls%d" % n[0]))
        n[0] += 1
        return logship_factory(args, workdir=wd, **PROCESS)
    return start


@pytest.fixture
def es():
    r = ElasticsearchReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def lumberjack():
    r = LumberjackReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def logstash_http():
    r = LogstashHttpReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def logstash_tcp():
    r = LogstashTcpReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def rng():
    seed = int(os.environ.get("ELK_SEED", str(random.randrange(1 << 30))))
    print("ELK_SEED=%d" % seed)
    return random.Random(seed)
