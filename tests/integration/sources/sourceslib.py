"""The source tests' way to run logship (a module of its own, so that no test imports
another area's conftest): their default flags and process options for tests/lib/logshipproc.py
(the process factory is the logship_factory fixture, tests/integration/conftest.py)."""

FLAGS = ["--batch-wait", "50ms", "--retry-initial-backoff", "100ms",
         "--retry-max-backoff", "1s", "--shutdown-timeout", "10s"]

# start() waits for /metrics; the spool directory exists beforehand.
PROCESS = dict(ready="/metrics", ready_timeout=10, stop_timeout=20, make_spool=True)


def logship_args(loki_url, args):
    """The command line (after --spool-dir/--metrics-addr) of a source test shipping to loki_url."""
    return ["--loki", loki_url] + FLAGS + list(args)
