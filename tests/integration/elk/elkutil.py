"""Helpers for the ELK output tests (a uniquely named module: every test area has a conftest.py):
the area's logship process options, line generators, polling."""
import json
import os
import sys
import time


TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.logshipproc import wait_for  # noqa: E402

# How long the "backend down" fan-out test keeps one backend away (issue 4: minutes;
# the brief allows 60-90 s so that the suite stays short).
OUTAGE_SECONDS = float(os.environ.get("ELK_OUTAGE_SECONDS", "60"))


def wait_until(fn, timeout=30.0, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value (tests/lib/logshipproc.py's wait_for)."""
    return wait_for(fn, timeout, what, interval=interval)


# Line timestamps start an hour ago (Loki refuses entries older than a week or out of order by
# more than an hour), one per millisecond, with nanosecond digits so that precision is checked.
BASE_S = int(time.time()) - 3600


def ts_of(i):
    """The RFC 3339 timestamp (ns) carried by line i."""
    sec = BASE_S + i // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%09dZ" % ((i % 1000) * 1000000 + 123457)


def index_day(i, pattern="%Y.%m.%d"):
    return time.strftime(pattern, time.gmtime(BASE_S + i // 1000))


def json_line(i, **extra):
    d = {"ts": ts_of(i), "level": "info", "seq": i, "msg": "request %d done" % i}
    d.update(extra)
    return json.dumps(d, separators=(",", ":"))


def write_lines(path, lines, mode="a"):
    with open(path, mode) as f:
        for ln in lines:
            f.write(ln + "\n")
        f.flush()
        os.fsync(f.fileno())


# How the area's logship processes run (options of tests/lib/logshipproc.py's LogshipProcess, given to
# the logship_factory fixture): start() does not wait (tests poll), stdout and stderr of every run go
# to one log (log()), the spool directory exists beforehand, and each start takes a fresh metrics port.
PROCESS = dict(ready=None, stop_timeout=30, make_spool=True, merge_stdout=True, new_port_per_start=True,
               stderr_name="logship.log")


# Common flags: short batches and short backoffs, so tests stay quick.
FAST = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms", "--retry-max-backoff", "2s",
        "--shutdown-timeout", "5s", "--label", "service=hello"]


