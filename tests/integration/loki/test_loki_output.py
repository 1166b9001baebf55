"""The logship binary's Loki output against the Loki stand-in: both encodings, the
status table as Loki answers (partial 400s, 429 with and without Retry-After, 5xx,
401, slow answers), tenant and auth headers, TLS and mTLS, and the batch bound."""
import datetime
import json
import os
import time

import pytest

from receivers.loki import LokiReceiver

NS = 1_000_000_000


def rfc3339(ns):
    s, frac = divmod(ns, NS)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def write_lines(path, start, n, ts0, step_ns=1000, level=None, pad=0, extra=None):
    """Append n JSON lines numbered from start; returns [(ts_ns, line)]."""
    out = []
    with open(path, "a") as f:
        for k in range(n):
            i = start + k
            ts = ts0 + k * step_ns
            d = {"ts": rfc3339(ts), "level": level or ("info" if i % 4 else "warn"), "msg": "request",
                 "i": i, "path": "/api/items/%d" % i}
            if pad:
                d["pad"] = "x" * pad
            if extra:
                d.update(extra)
            line = json.dumps(d, separators=(",", ":"))
            f.write(line + "\n")
            out.append((ts, line))
    return out


def wait_count(loki, n, ls, timeout=60):
    got = loki.wait_count(n, timeout)
    assert got >= n, "stored %d of %d: %s" % (got, n, ls.stderr_tail())
    return got


@pytest.mark.parametrize("encoding,ctype,cenc", [
    ("protobuf", "application/x-protobuf", ""),
    ("json", "application/json", "gzip"),
])
def test_delivers_labels_timestamps_and_headers(loki, run_logship, tmp_path, encoding, ctype, cenc):
    log = tmp_path / "app.log"
    t0 = time.time_ns() - 60 * NS
    sent = write_lines(log, 0, 3000, t0)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--loki-encoding", encoding,
                      "--label", "service=hello", "--tenant", "team-a", "--start-at", "head"])
    wait_count(loki, 3000, ls)
    got = {line: (labels, ts) for labels, ts, line in loki.entries()}
    assert len(got) == 3000
    for i, (ts, line) in enumerate(sent):
        labels, gts = got[line]
        assert gts == ts
        assert labels == {"service": "hello", "level": "info" if i % 4 else "warn"}
    reqs = loki.requests()
    assert all(r["content_type"] == ctype and r["content_encoding"] == cenc for r in reqs)
    assert all(r["tenant"] == "team-a" for r in reqs)
    assert all(r["status"] == 204 for r in reqs)
    # keep-alive: every push on one connection
    assert len({r["client_port"] for r in reqs}) == 1
    ls.wait_metric("logship_output_entries_total", lambda v: v == 3000, output="loki")
    assert ls.stop() == 0
    assert loki.count() == 3000


def test_partial_400_too_new_and_line_too_long_dropped_and_counted(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.set_limits(max_line_size=256 * 1024)                       # 3.x's default (2.x: none)
    now = time.time_ns()
    write_lines(log, 0, 100, now - 30 * NS)
    write_lines(log, 100, 1, now + 3600 * NS)                       # an hour ahead: too new
    write_lines(log, 101, 100, now - 20 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--max-line-bytes", "1MiB", "--label-field", ""])
    wait_count(loki, 200, ls)
    ls.wait_metric("logship_output_dropped_total", lambda v: v == 1, output="loki", reason="too_new")
    write_lines(log, 201, 1, time.time_ns(), pad=300 * 1024)        # 300 KiB: over Loki's 256 KiB
    write_lines(log, 202, 100, time.time_ns())
    wait_count(loki, 300, ls)
    ls.wait_metric("logship_output_dropped_total", lambda v: v == 1, output="loki", reason="line_too_long")
    # Both in one push: Loki's distributor names only the last rejected entry; both are
    # counted (the query API shows which were not stored), under "mixed", not one reason.
    with open(log, "a") as f:
        f.write(json.dumps({"ts": rfc3339(time.time_ns() + 3600 * NS), "i": 302}) + "\n")
        f.write(json.dumps({"ts": rfc3339(time.time_ns()), "i": 303, "pad": "y" * 300 * 1024}) + "\n")
        f.write(json.dumps({"ts": rfc3339(time.time_ns()), "i": 304}) + "\n")
    wait_count(loki, 301, ls)
    ls.wait_metric("logship_output_dropped_total", lambda v: v == 4, output="loki")
    assert ls.metric("logship_output_dropped_total", output="loki", reason="mixed") == 2
    assert ls.metric("logship_output_dropped_total", output="loki", reason="line_too_long") == 1
    # the stream keeps flowing after the drops
    write_lines(log, 305, 50, time.time_ns())
    wait_count(loki, 351, ls)
    time.sleep(0.3)
    assert loki.count() == 351
    assert ls.metric("logship_output_retries_total", output="loki") == 0
    assert "has timestamp too new" in ls.stderr_tail(100000)
    assert ls.stop() == 0


def test_partial_400_too_far_behind_counts_n_of_m(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    now = time.time_ns()
    write_lines(log, 0, 10, now - 5 * NS, level="info")
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head"])
    wait_count(loki, 10, ls)
    # three entries two hours behind the stream's newest, then fresh ones
    write_lines(log, 10, 3, now - 2 * 3600 * NS, level="info")
    write_lines(log, 13, 5, now, level="info")
    wait_count(loki, 15, ls)
    ls.wait_metric("logship_output_dropped_total", lambda v: v == 3, output="loki", reason="too_far_behind")
    assert "total ignored: 3 out of" in ls.stderr_tail(100000)
    assert ls.stop() == 0
    assert loki.count() == 15


def test_429_retry_after_and_5xx_retried_and_counted(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.fail_next(3, status=429)
    loki.fail_next(1, status=429, retry_after="1")
    loki.fail_next(2, status=503)
    loki.fail_next(1, status=500)
    write_lines(log, 0, 2000, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head"])
    wait_count(loki, 2000, ls)
    ls.wait_metric("logship_output_retries_total", lambda v: v >= 4, output="loki", reason="rate_limited")
    ls.wait_metric("logship_output_retries_total", lambda v: v >= 3, output="loki", reason="server_error")
    statuses = [r["status"] for r in loki.requests()]
    assert statuses[:7] == [429, 429, 429, 429, 503, 503, 500]
    # the Retry-After of 1 s was honoured: the push after it came at least ~1 s later
    reqs = loki.requests()
    assert reqs[4]["time"] - reqs[3]["time"] >= 0.9
    assert ls.stop() == 0
    assert loki.count() == 2000


def test_slow_loki_timeouts_retried_without_duplicates(run_logship, tmp_path):
    loki = LokiReceiver(version="2.9").start()      # stores every replay: nothing hides a resend
    log = tmp_path / "app.log"
    loki.set_delay(1.5)
    write_lines(log, 0, 500, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--request-timeout", "400ms"])
    ls.wait_metric("logship_output_retries_total", lambda v: v >= 2, output="loki", reason="timeout")
    loki.set_delay(0)
    wait_count(loki, 500, ls)
    time.sleep(0.5)
    # Every timed-out push was stored late by the slow Loki (1.5 s after the client gave up).
    # A retry looks its entries up first, but one made while an earlier attempt is still
    # being processed cannot see it: each such attempt may store a copy. Counted exactly:
    timeouts = ls.metric("logship_output_retries_total", output="loki", reason="timeout")
    dups = loki.stored_duplicates()
    print("timed-out attempts", timeouts, "stored duplicates", dups,
          "found by the query API", ls.metric("logship_output_duplicates_total", output="loki"))
    assert len({(ts, line) for _, ts, line in loki.entries()}) == 500
    assert dups <= timeouts * 500
    assert loki.stats()["query_requests"] >= 1   # the retries were checked
    assert ls.stop() == 0
    loki.stop()


def test_401_is_a_config_error_and_data_is_kept(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.fail_next(1, status=401, body="no org id")
    write_lines(log, 0, 100, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--config-error-retry", "500ms"])
    ls.wait_metric("logship_output_batches_total", lambda v: v >= 1, output="loki", result="config")
    wait_count(loki, 100, ls)
    assert ls.metric("logship_output_dropped_total", output="loki") == 0
    assert "no org id" in ls.stderr_tail(100000)
    assert ls.stop() == 0


def test_basic_auth_and_rotated_bearer_token_sent(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    write_lines(log, 0, 10, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--username", "shipper", "--password", "pa:ss"])
    wait_count(loki, 10, ls)
    assert {r["headers"].get("Authorization") for r in loki.requests()} == {"Basic c2hpcHBlcjpwYTpzcw=="}
    assert ls.stop() == 0

    loki.reset()
    token = tmp_path / "token"
    token.write_text("first-token\n")
    log2 = tmp_path / "app2.log"
    write_lines(log2, 0, 10, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log2), "--loki", loki.url, "--start-at", "head",
                      "--bearer-token-file", str(token)])
    wait_count(loki, 10, ls)
    assert loki.requests()[-1]["headers"]["Authorization"] == "Bearer first-token"
    tmp = tmp_path / "token.new"
    tmp.write_text("second-token\n")
    os.replace(tmp, token)                      # rotated the way kubelet does it
    write_lines(log2, 10, 10, time.time_ns())
    wait_count(loki, 20, ls)
    assert loki.requests()[-1]["headers"]["Authorization"] == "Bearer second-token"
    assert ls.stop() == 0


def test_tls_and_mtls(pki, run_logship, tmp_path):
    tls = LokiReceiver(tls_cert=pki["server.crt"], tls_key=pki["server.key"]).start()
    mtls = LokiReceiver(tls_cert=pki["server.crt"], tls_key=pki["server.key"],
                        client_ca=pki["ca.crt"]).start()
    try:
        log = tmp_path / "app.log"
        write_lines(log, 0, 200, time.time_ns() - 10 * NS)
        ls = run_logship(["--source", str(log), "--loki", tls.url, "--start-at", "head",
                          "--ca-file", pki["ca.crt"]])
        wait_count(tls, 200, ls)
        assert ls.stop() == 0

        # mTLS without a client certificate: nothing gets in, retried as connection errors
        ls = run_logship(["--source", str(log), "--loki", mtls.url, "--start-at", "head",
                          "--ca-file", pki["ca.crt"]])
        ls.wait_metric("logship_output_retries_total", lambda v: v >= 2, output="loki")
        assert mtls.count() == 0
        ls.proc.kill()
        ls.proc.wait()

        ls = run_logship(["--source", str(log), "--loki", mtls.url, "--start-at", "head",
                          "--ca-file", pki["ca.crt"], "--cert", pki["client.crt"], "--key", pki["client.key"]])
        wait_count(mtls, 200, ls)
        assert ls.stop() == 0

        # a CA that did not sign the server's certificate: refused, retried, nothing sent
        ls = run_logship(["--source", str(log), "--loki", tls.url, "--start-at", "head",
                          "--ca-file", pki["other.crt"]])
        before = tls.stats()["push_requests"]
        ls.wait_metric("logship_output_retries_total", lambda v: v >= 2, output="loki")
        assert tls.stats()["push_requests"] == before
        ls.proc.kill()
        ls.proc.wait()
    finally:
        tls.stop()
        mtls.stop()


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_push_never_exceeds_batch_bytes_decoded(loki, run_logship, tmp_path, encoding):
    """JSON escaping can make a push much larger than the raw bytes the engine counts;
    the output splits so Loki never decodes more than --batch-bytes per push."""
    log = tmp_path / "app.log"
    quotes = {"q": "\"\\" * 200}                       # each byte escapes to two
    write_lines(log, 0, 400, time.time_ns() - 10 * NS, extra=quotes)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head",
                      "--loki-encoding", encoding, "--batch-bytes", "8KiB", "--batch-wait", "1s"])
    wait_count(loki, 400, ls)
    reqs = loki.requests()
    assert len(reqs) > 1
    assert max(r["decoded_bytes"] for r in reqs) <= 8192
    assert ls.stop() == 0
    assert loki.count() == 400


def test_dropped_connections_and_outage_retried_then_delivered(loki, run_logship, tmp_path):
    log = tmp_path / "app.log"
    loki.drop_next(3)                                   # read the push, hang up without an answer
    write_lines(log, 0, 1000, time.time_ns() - 10 * NS)
    ls = run_logship(["--source", str(log), "--loki", loki.url, "--start-at", "head"])
    wait_count(loki, 1000, ls)
    assert ls.metric("logship_output_retries_total", output="loki", reason="connection") >= 3
    loki.set_down(True)                                 # connections refused
    write_lines(log, 1000, 1000, time.time_ns())
    ls.wait_metric("logship_output_retries_total", lambda v: v >= 5, output="loki", reason="connection")
    ls.wait_metric("logship_output_up", lambda v: v == 0, output="loki")
    loki.set_down(False)
    wait_count(loki, 2000, ls)
    ls.wait_metric("logship_output_up", lambda v: v == 1, output="loki")
    assert ls.stop() == 0
    assert loki.count() == 2000
