"""The source tests' way to run logship (a module of its own, so that no test imports
another area's conftest): their default flags over tests/lib/logshipproc.py."""
import os
import sys

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.logshipproc import LogshipProcess  # noqa: E402

FLAGS = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms",
         "--retry-max-backoff", "1s", "--shutdown-timeout", "10s"]


def Logship(binary, workdir, loki_url, args, stdin=None):
    """One logship process shipping to loki_url; args are extra command-line arguments.
    start() waits for /metrics."""
    return LogshipProcess(binary, workdir, ["--loki", loki_url] + FLAGS + list(args),
                          stdin=stdin, ready="/metrics", ready_timeout=10, stop_timeout=20,
                          make_spool=True)
