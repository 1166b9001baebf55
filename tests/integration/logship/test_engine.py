"""logship's engine end to end: the real binary, files and stdin in, the Loki stand-in out.

Delivery (exactly once when nothing fails, at least once across kill -9), outages,
retries, partial 400s, backpressure with a full spool, graceful shutdown, bad config."""
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from logship_harness import SAN, json_line, metric_sum, write_lines

NS = 1_000_000_000
OUTAGE_S = float(os.environ.get("LOGSHIP_TEST_OUTAGE_S", "60"))


def loki_args(loki, *extra):
    return ["--loki", loki.url] + list(extra)


def wait_stored(loki, n, timeout, ls=None):
    got = loki.wait_count(n, timeout=timeout)
    assert got >= n, "stored %d of %d%s" % (got, n, ("\n" + ls.stderr_tail()) if ls else "")
    return got


def test_100k_lines_exactly_once_with_labels_and_timestamps(loki, make_logship, tmp_path):
    path = str(tmp_path / "app.log")
    sent = write_lines(path, 0, 100_000, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path, "--label", "service=hello"])
    wait_stored(loki, 100_000, 120, ls)
    assert ls.stop() == 0
    entries = loki.entries()
    assert len(entries) == 100_000
    st = loki.stats()
    assert st["duplicates"] == 0 and st["entries_received"] == 100_000, st
    want = {line: ts for ts, line in sent}
    for labels, ts, line in entries:
        assert want.pop(line) == ts, "timestamp from the line's ts field"
        assert labels["service"] == "hello"
        assert labels["level"] == json.loads(line)["level"]
    assert not want
    m = ls.metrics() if ls.proc.poll() is None else None
    assert m is None  # stopped


def test_metrics_health_and_ready(loki, make_logship, tmp_path):
    import requests
    path = str(tmp_path / "a.log")
    write_lines(path, 0, 100, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path])
    wait_stored(loki, 100, 30, ls)
    assert requests.get(ls.url("/healthz"), timeout=5).status_code == 200
    assert requests.get(ls.url("/ready"), timeout=5).status_code == 200
    m = ls.wait_metric("logship_output_entries_total", lambda v: v >= 100, output="loki")
    text = requests.get(ls.url("/metrics"), timeout=5).text
    for fam in ("logship_output_batches_total", "logship_output_retries_total",
                "logship_output_dropped_total", "logship_output_send_seconds_bucket",
                "logship_output_up", "logship_output_lag_seconds", "logship_spool_bytes",
                "logship_spool_records", "logship_spool_dropped_total",
                "logship_output_ack_latency_seconds_bucket"):
        assert fam in text, fam
    assert m == 100
    assert ls.stop() == 0


@pytest.mark.parametrize("outage_s", [OUTAGE_S])
def test_loki_down_at_start_then_up(loki, make_logship, tmp_path, outage_s):
    loki.set_down(True)
    path = str(tmp_path / "app.log")
    write_lines(path, 0, 2000, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path])
    t0 = time.monotonic()
    n = 2000
    while time.monotonic() - t0 < outage_s:      # lines keep coming during the outage
        write_lines(path, n, 200)
        n += 200
        time.sleep(1)
    m = ls.metrics()
    assert metric_sum(m, "logship_output_retries_total", output="loki") >= 3
    assert metric_sum(m, "logship_output_up", output="loki") == 0
    assert metric_sum(m, "logship_output_lag_seconds", output="loki") > outage_s / 2
    assert loki.count() == 0
    loki.set_down(False)
    wait_stored(loki, n, 60, ls)
    assert loki.count() == n
    ls.wait_metric("logship_output_lag_seconds", lambda v: v == 0, output="loki")
    assert metric_sum(ls.metrics(), "logship_output_up", output="loki") == 1
    assert ls.stop() == 0


def test_429_storm_500s_and_timeouts_all_delivered_and_counted(loki, make_logship, tmp_path):
    path = str(tmp_path / "app.log")
    ls = make_logship(loki_args(loki, "--request-timeout", "1s"),
                      ["--source", path, "--batch-bytes", "16KiB"])
    loki.fail_next(8, status=429)
    loki.fail_next(4, status=500)
    loki.fail_next(2, status=429, retry_after="1")
    loki.drop_next(2)
    n = 0
    for _ in range(10):
        write_lines(path, n, 300)
        n += 300
        time.sleep(0.1)
    wait_stored(loki, n, 90, ls)
    loki.set_delay(3)                      # slower than --request-timeout: timeouts
    write_lines(path, n, 100)
    n += 100
    ls.wait_metric("logship_output_retries_total", lambda v: v >= 17, timeout=30, output="loki")
    loki.set_delay(0)
    wait_stored(loki, n, 60, ls)
    m = ls.metrics()
    assert metric_sum(m, "logship_output_retries_total", output="loki") >= 17
    assert metric_sum(m, "logship_output_dropped_total", output="loki") == 0
    assert len(set(loki.lines())) == n
    assert ls.stop() == 0


def test_partial_400_dropped_counted_and_stream_flows_on(loki, make_logship, tmp_path):
    path = str(tmp_path / "app.log")
    ls = make_logship(loki_args(loki), ["--source", path])
    now = time.time_ns()
    old = now - 30 * 24 * 3600 * NS            # older than reject_old_samples_max_age
    with open(path, "w") as f:
        for i in range(200):
            ts = old + i if i % 20 == 0 else now + i * 1000
            f.write(json_line(i, ts, level="info") + "\n")
    bad = 10
    wait_stored(loki, 200 - bad, 30, ls)
    ls.wait_metric("logship_output_dropped_total", lambda v: v == bad, output="loki")
    assert any(r["status"] == 400 for r in loki.requests())
    # and the stream keeps flowing afterwards
    write_lines(path, 1000, 500, ts0=time.time_ns())
    wait_stored(loki, 200 - bad + 500, 30, ls)
    assert metric_sum(ls.metrics(), "logship_output_dropped_total", output="loki") == bad
    assert "dropped" in ls.stderr_text()
    assert ls.stop() == 0


def test_kill9_at_random_moments_every_line_at_least_once(loki, make_logship, tmp_path):
    path = str(tmp_path / "app.log")
    open(path, "w").close()
    total = [0]
    stop = threading.Event()
    rate = 2000                                     # lines per second

    def writer():
        while not stop.is_set():
            write_lines(path, total[0], rate // 20)
            total[0] += rate // 20
            time.sleep(0.05)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    rnd = random.Random(int(os.environ.get("LOGSHIP_TEST_SEED", "0")) or None)
    kills = 0
    ls = make_logship(loki_args(loki), ["--source", path])
    try:
        for _ in range(6):
            time.sleep(rnd.uniform(0.3, 2.0))
            ls.kill9()
            kills += 1
            ls = make_logship(loki_args(loki), ["--source", path], workdir=tmp_path)
    finally:
        stop.set()
        t.join()
    n = total[0]
    wait_stored(loki, n, 120, ls)
    assert ls.stop() == 0
    lines = loki.lines()
    assert len(set(lines)) == n == len(lines)        # every line, once: the in-flight check finds replays
    dups = loki.stats()["duplicates"]
    # "duplicates" counts replays that reached the receiver (it stores them, as real Loki does
    # past the head block). Files resume after their last spooled line and maybe-sent entries
    # are looked up first, so a kill can only repeat a push in flight the lookup missed.
    per_kill = rate * 0.2 + rate * 0.25 + 500
    print("kills", kills, "lines", n, "duplicates", dups)
    assert dups <= kills * per_kill, (dups, kills)
    assert kills >= 5


def test_full_spool_stops_reading_bounded_memory_then_flows(loki, make_logship, tmp_path):
    loki.set_down(True)
    path = str(tmp_path / "big.log")
    n = 60_000
    write_lines(path, 0, n, pad=200, mode="w")       # ~17 MB
    size = os.path.getsize(path)
    max_spool = 2 * 1024 * 1024
    ls = make_logship(loki_args(loki), ["--source", path, "--spool-max-bytes", str(max_spool),
                                        "--max-line-bytes", "16KiB", "--batch-bytes", "64KiB"])
    ls.wait_metric("logship_spool_blocked", lambda v: v == 1, timeout=30)
    time.sleep(1)
    m1 = ls.metrics()
    # The cap is exported for the "spool nearly full" alert, and the spool respects it.
    assert metric_sum(m1, "logship_spool_max_bytes") == max_spool
    assert metric_sum(m1, "logship_spool_bytes") <= max_spool
    read1 = metric_sum(m1, "logship_source_bytes_total")
    time.sleep(1.5)
    m2 = ls.metrics()
    assert metric_sum(m2, "logship_source_bytes_total") == read1, "reading stopped"
    assert read1 < size / 2
    assert metric_sum(m2, "logship_spool_bytes") <= max_spool
    spool_files = sum(os.path.getsize(os.path.join(ls.spool, f))
                      for f in os.listdir(ls.spool) if f.startswith("seg-"))
    assert spool_files <= max_spool
    rss_mb = ls.rss_kb() / 1024
    assert rss_mb < (200 if SAN else 40), rss_mb
    loki.set_down(False)
    wait_stored(loki, n, 120, ls)
    assert loki.count() == n
    assert metric_sum(ls.metrics(), "logship_spool_dropped_total") == 0
    assert ls.stop() == 0


def test_drop_oldest_counts_what_it_drops(loki, make_logship, tmp_path):
    loki.set_down(True)
    path = str(tmp_path / "big.log")
    n = 30_000
    write_lines(path, 0, n, pad=200, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path, "--spool-max-bytes", "1MiB",
                                        "--max-line-bytes", "16KiB", "--on-full", "drop-oldest"])
    ls.wait_metric("logship_source_lines_total", lambda v: v >= n, timeout=60)
    ls.wait_metric("logship_spool_dropped_total", lambda v: v > 0, reason="full")
    loki.set_down(False)
    ls.wait_metric("logship_output_lag_seconds", lambda v: v == 0, timeout=60, output="loki")
    dropped = metric_sum(ls.metrics(), "logship_spool_dropped_total", reason="full")
    wait_stored(loki, n - dropped, 30, ls)
    time.sleep(0.5)
    assert loki.count() == n - dropped
    lines = loki.lines()
    # the newest data survived (a push groups entries by stream, so not necessarily last)
    assert max(json.loads(x)["i"] for x in lines) == n - 1
    assert ls.stop() == 0


def test_sigterm_flushes_what_was_read(loki, make_logship, tmp_path):
    path = str(tmp_path / "app.log")
    write_lines(path, 0, 500, mode="w")
    # A batch wait far longer than the test: only the shutdown drain can send it.
    ls = make_logship(loki_args(loki), ["--source", path, "--batch-wait", "60s"])
    ls.wait_metric("logship_spool_records", lambda v: v >= 500, timeout=30)
    assert loki.count() == 0
    assert ls.stop(signal.SIGTERM) == 0
    assert loki.count() == 500
    # positions were saved: a restart reads nothing again
    ls2 = make_logship(loki_args(loki), ["--source", path], workdir=tmp_path)
    time.sleep(1.5)
    assert ls2.stop() == 0
    assert loki.stats()["entries_received"] == 500


def test_stdin_pipe(loki, make_logship, tmp_path):
    lines = [json_line(i, time.time_ns() + i) for i in range(3000)]
    ls = make_logship(loki_args(loki), ["-", "--label", "service=hello"],
                      stdin=subprocess.PIPE)
    for i in range(0, len(lines), 500):
        ls.proc.stdin.write(("\n".join(lines[i:i + 500]) + "\n").encode())
        ls.proc.stdin.flush()
        time.sleep(0.05)
    ls.proc.stdin.close()                 # EOF: logship sends everything, then exits 0
    assert ls.proc.wait(timeout=30) == 0
    assert sorted(loki.lines()) == sorted(lines)


def test_bad_config_exit_2_one_line(logship_bin, tmp_path):
    def run(*args, env=None):
        return subprocess.run([logship_bin] + list(args), capture_output=True, timeout=20,
                              env=env, stdin=subprocess.DEVNULL)

    base = ["--spool-dir", str(tmp_path / "s"), "--metrics-addr", "127.0.0.1:0"]
    cases = [
        ["--source", "x.log"],                                        # no output
        ["--loki", "http://127.0.0.1:1"],                             # no source
        ["--source", "x.log", "--loki", "ftp://x"],                   # bad URL
        ["--source", "x.log", "--loki", "http://x", "--label", "bad"],
        ["--source", "x.log", "--loki", "http://x", "--batch-bytes", "lots"],
        ["--source", "x.log", "--loki", "http://x", "--no-such-flag"],
        ["--source", "x.log", "--loki", "http://x", "--format", "xml"],
        ["--source", "x.log", "--loki", "http://x", "--metrics-addr", "nowhere"],
        ["--source", "x.log", "--loki", "http://x", "--spool-max-bytes", "1MiB",
         "--max-line-bytes", "1MiB"],
    ]
    for c in cases:
        r = run(*(base + c))
        assert r.returncode == 2, (c, r.stderr)
        err = r.stderr.decode()
        assert err.count("\n") == 1 and err.startswith("logship: "), (c, err)
    good = base + ["--source", "x.log", "--loki", "http://127.0.0.1:3100"]
    r = run(*(good + ["--check-config"]))
    assert r.returncode == 0, r.stderr
    # the config file: same keys; unknown keys are errors; the command line wins
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"source": ["x.log"], "loki": "http://127.0.0.1:3100",
                               "spool-dir": str(tmp_path / "s"), "batch-wait": "150ms",
                               "label": ["service=hello", "env=test"]}))
    assert run("--config", str(cfg), "--check-config").returncode == 0
    cfg.write_text(json.dumps({"source": "x.log", "loki": "http://x", "bogus": 1}))
    r = run("--config", str(cfg), "--check-config")
    assert r.returncode == 2 and b"bogus" in r.stderr
    cfg.write_text("{not json")
    assert run("--config", str(cfg), "--check-config").returncode == 2
    env = dict(os.environ, LOGSHIP_BATCH_BYTES="nonsense")
    assert run(*(good + ["--check-config"]), env=env).returncode == 2
    assert run("--help").returncode == 0
    assert run("--version").returncode == 0


def test_fanout_dead_output_does_not_slow_the_other_then_catches_up(loki, make_logship, tmp_path):
    from receivers.loki import LokiReceiver
    second = LokiReceiver().start()
    try:
        second.set_down(True)
        path = str(tmp_path / "app.log")
        ls = make_logship(["--loki", loki.url, "--loki", second.url], ["--source", path])
        n = 0
        for _ in range(10):
            write_lines(path, n, 500)
            n += 500
            time.sleep(0.2)
        wait_stored(loki, n, 30, ls)              # the live one is not held back
        m = ls.metrics()
        assert metric_sum(m, "logship_output_entries_total", output="loki") == n
        assert metric_sum(m, "logship_output_entries_total", output="loki-2") == 0
        assert metric_sum(m, "logship_output_retries_total", output="loki-2") >= 1
        assert metric_sum(m, "logship_output_lag_seconds", output="loki-2") > 0
        assert second.count() == 0
        second.set_down(False)
        wait_stored(second, n, 60, ls)
        assert sorted(second.lines()) == sorted(loki.lines())
        assert loki.stats()["duplicates"] == 0 and second.stats()["duplicates"] == 0
        assert ls.stop() == 0
    finally:
        second.stop()


def test_stdin_writer_blocks_when_spool_full_then_all_flows(loki, make_logship, tmp_path):
    loki.set_down(True)
    ls = make_logship(loki_args(loki), ["-", "--spool-max-bytes", "1MiB", "--max-line-bytes", "16KiB"],
                      stdin=subprocess.PIPE)
    n = 40_000
    now = time.time_ns()
    payload = ("\n".join(json_line(i, now + i, pad=150) for i in range(n)) + "\n").encode()
    written = [0]

    def feed():
        try:
            for k in range(0, len(payload), 65536):
                ls.proc.stdin.write(payload[k:k + 65536])
                ls.proc.stdin.flush()
                written[0] = k + 65536
            ls.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    ls.wait_metric("logship_spool_blocked", lambda v: v == 1, timeout=30)
    time.sleep(1)
    w1 = written[0]
    time.sleep(1)
    assert t.is_alive() and written[0] == w1 < len(payload), "the writer is blocked"
    assert metric_sum(ls.metrics(), "logship_spool_bytes") <= 1024 * 1024
    loki.set_down(False)
    t.join(timeout=90)
    assert not t.is_alive()
    assert ls.proc.wait(timeout=60) == 0             # EOF: drained, exit 0
    assert loki.count() == n
