"""Helpers for the engine tests: the area's default logship flags, and line generators.
The process wrapper, free_port and the metrics parser live in tests/lib/logshipproc.py; the
process factory is the logship_factory fixture (tests/integration/conftest.py).
(Its own module name, because every test area has a conftest.py.)"""
import datetime
import json
import os
import sys
import time

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.logshipproc import REPO, metric_sum  # noqa: E402,F401  (REPO, metric_sum: used by tests)

# Memory bounds differ under ASan (shadow memory, quarantine). `make SAN=1 integration`
# says so in SANITIZED=1; a binary under build-san/ run by hand is recognised too.
SAN = os.environ.get("SANITIZED") == "1" or "build-san" in os.environ.get("LOGSHIP_BIN", "")

# The engine tests' defaults: short batches, backoffs and fsync interval, so tests stay quick.
FLAGS = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms",
         "--retry-max-backoff", "2s", "--shutdown-timeout", "10s",
         "--spool-fsync-interval", "200ms"]


def rfc3339(ns):
    s, frac = divmod(ns, 1_000_000_000)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def json_line(i, ts_ns, level=None, pad=0):
    """A hellod-like JSON access log line; unique per i."""
    d = {"ts": rfc3339(ts_ns), "level": level or ("info" if i % 3 else "warn"),
         "msg": "request", "i": i, "path": "/api/items/%d" % i}
    if pad:
        d["pad"] = "x" * pad
    return json.dumps(d, separators=(",", ":"))


def write_lines(path, start, n, ts0=None, step_ns=1000, pad=0, mode="a"):
    """Append n JSON lines numbered from start; returns their (ts_ns, line) list."""
    ts0 = ts0 if ts0 is not None else time.time_ns()
    out = []
    with open(path, mode) as f:
        for k in range(n):
            i = start + k
            ts = ts0 + k * step_ns
            line = json_line(i, ts, pad=pad)
            f.write(line + "\n")
            out.append((ts, line))
    return out
