"""Fixtures for the ELK output tests: the Elasticsearch, Logstash and Lumberjack stand-ins,
the Loki one for fan-out, and a runner for the logship binary."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elkutil import REPO, Logship  # noqa: E402  (also puts tests/ on sys.path)

from receivers.elasticsearch import ElasticsearchReceiver  # noqa: E402
from receivers.logstash import LogstashHttpReceiver, LogstashTcpReceiver  # noqa: E402
from receivers.lumberjack import LumberjackReceiver  # noqa: E402


@pytest.fixture
def logship_bin():
    path = os.environ.get("LOGSHIP_BIN", os.path.join(REPO, "build", "logship"))
    if not os.access(path, os.X_OK):
        pytest.fail("logship binary not built: %s (run make)" % path)
    return path


@pytest.fixture
def run_logship(logship_bin, tmp_path):
    """run_logship(args) -> a started Logship; all are stopped at teardown."""
    started = []

    def start(args, workdir=None):
        wd = workdir or str(tmp_path / ("ls%d" % len(started)))
        os.makedirs(wd, exist_ok=True)
        ls = Logship(logship_bin, wd, args).start()
        started.append(ls)
        return ls
    yield start
    for ls in started:
        if ls.alive():
            ls.proc.kill()
            ls.proc.wait()


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
def loki():
    from receivers.loki import LokiReceiver
    r = LokiReceiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def rng():
    seed = int(os.environ.get("ELK_SEED", str(random.randrange(1 << 30))))
    print("ELK_SEED=%d" % seed)
    return random.Random(seed)
