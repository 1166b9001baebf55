"""Delivery against a Loki that behaves as real Loki does (tests/receivers/loki.py): it stores
replays, rate-limits each stream with partial 429s that list at most 10 ignored entries, and
reports only the last stream of a push. logship must store every line exactly once anyway:
one stream per push, only the ignored entries resent, maybe-sent entries looked up with the
query API after a kill -9. Also the statuses of issue 9: 407 and a single-entry 413."""
import collections
import os
import random
import threading
import time

import pytest

from lib.logshipproc import LogshipProcess
from receivers.loki import LokiReceiver

from test_loki_output import NS, write_lines, wait_count  # noqa: E402
from lokiflags import FLAGS  # noqa: E402


def copies(loki):
    """Counter of (labels, ts, line) → times stored."""
    return collections.Counter((tuple(sorted(lab.items())), ts, line) for lab, ts, line in loki.entries())


@pytest.fixture
def loki29():
    """Loki 2.9: every replay is stored (log queries hide it, metric queries count it)."""
    r = LokiReceiver(version="2.9")
    r.start()
    yield r
    r.stop()


def test_per_stream_rate_limit_resends_only_the_ignored(loki29, run_logship, tmp_path):
    loki = loki29
    # 20 KB/s per stream, 30 KB burst: each stream's first push is only partly stored
    loki.set_limits(per_stream_rate_bytes=20_000, per_stream_burst_bytes=30_000)
    log = tmp_path / "app.log"
    n = 1500
    levels = ["info", "warn", "error"]
    with open(log, "w"):
        pass
    t0 = time.time_ns() - 60 * NS
    for k in range(0, n, 100):                          # three streams, interleaved
        write_lines(log, k, 100, t0 + k * 1000, level=levels[(k // 100) % 3], pad=100)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--retry-max-backoff", "500ms"])
    wait_count(loki, n, ls, timeout=90)
    time.sleep(0.5)
    st = loki.stats()
    print("429s", st["status_counts"].get(429, 0), "queries", st["query_requests"],
          "replays received", st["duplicates"])
    assert st["status_counts"].get(429, 0) >= 3, st["status_counts"]   # the limit did bite
    c = copies(loki)
    assert len(c) == n and loki.count() == n             # every line, once
    assert loki.stored_duplicates() == 0 and st["duplicates"] == 0   # nothing resent that was stored
    assert {dict(k[0])["level"] for k in c} == set(levels)
    assert ls.metric("logship_output_dropped_total", output="loki") == 0
    assert ls.stop() == 0


def test_407_is_a_config_error_and_data_is_kept(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.fail_next(2, status=407, body="Proxy Authentication Required")
    write_lines(log, 0, 100, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--config-error-retry", "300ms"])
    ls.wait_metric("logship_output_batches_total", lambda v: v >= 1, output="loki", result="config")
    wait_count(loki, 100, ls)
    assert ls.metric("logship_output_dropped_total", output="loki") == 0
    assert ls.stop() == 0


def test_413_for_a_single_entry_is_dropped_as_too_long(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.fail_next(1, status=413, body="Request Entity Too Large")
    write_lines(log, 0, 1, time.time_ns() - 10 * NS, pad=1000)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head"])
    ls.wait_metric("logship_output_dropped_total", lambda v: v == 1, output="loki", reason="line_too_long")
    write_lines(log, 1, 50, time.time_ns())
    wait_count(loki, 50, ls)
    time.sleep(0.3)
    assert loki.count() == 50
    assert ls.metric("logship_output_retries_total", output="loki") == 0   # not retried forever
    assert ls.stop() == 0


def _kill9_run(loki, logship_bin, tmp_path, n=20000, kills=10):
    """Append n lines while logship is killed -9 about every second, `kills` times;
    returns the last logship process, stopped cleanly after everything arrived."""
    log = str(tmp_path / "app.log")
    open(log, "w").close()
    # Each push takes 50 ms, so a kill often lands with a push in flight that Loki
    # then stores (the connection is gone, the push is not): the case to check.
    # The restart comes 150 ms later, after Loki stored it; a lookup made while Loki
    # is still storing cannot see it (README: the one case the check cannot cover).
    loki.set_delay(0.05)
    done = threading.Event()
    t0 = time.time_ns() - 120 * NS

    def writer():
        k = 0
        step = 200
        while k < n:
            write_lines(log, k, step, t0 + k * 1000, pad=60)
            k += step
            time.sleep(0.09)
        done.set()

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    rnd = random.Random(int(os.environ.get("LOGSHIP_TEST_SEED", "0")) or None)
    wd = tmp_path / "ls"
    wd.mkdir()
    ls = LogshipProcess(logship_bin, str(wd), FLAGS + ["--source", log, "--loki", loki.url,
                                                       "--start-at", "head"],
                        ready="/healthz", ready_timeout=15, stop_timeout=30)
    ls.start()
    try:
        for _ in range(kills):
            time.sleep(rnd.uniform(0.6, 1.4))
            ls.kill9()
            time.sleep(0.15)   # a supervisor's restart: after Loki finished the killed push
            ls.start()
    finally:
        th.join(120)
    assert done.is_set()
    wait_count(loki, n, ls, timeout=120)
    time.sleep(1.0)
    assert ls.stop() == 0
    return ls


def test_kill9_ten_times_every_line_exactly_once_with_the_query_api(loki29, logship_bin, tmp_path):
    loki = loki29
    ls = _kill9_run(loki, logship_bin, tmp_path)
    c = copies(loki)
    st = loki.stats()
    print("lines", len(c), "stored", loki.count(), "replays received", st["duplicates"],
          "queries", st["query_requests"])
    assert len(c) == 20000
    assert loki.stored_duplicates() == 0 and loki.count() == 20000
    assert "maybe_sent" in ls.stderr_text()       # the check ran after the restarts


def test_kill9_ten_times_query_api_refused_duplicates_bounded(loki29, logship_bin, tmp_path):
    loki = loki29
    loki.set_query_status(404)
    ls = _kill9_run(loki, logship_bin, tmp_path)
    c = copies(loki)
    dups = loki.stored_duplicates()
    text = ls.stderr_text()
    # every resend the output could not check is counted as maybe-duplicate in its log
    unchecked = sum(int(x.split('"')[0]) for x in text.split('"resent_unchecked":"')[1:])
    print("lines", len(c), "stored", loki.count(), "duplicates", dups, "resent unchecked", unchecked)
    assert len(c) == 20000                         # every line stored
    assert dups <= unchecked                       # no more than the in-flight pushes
