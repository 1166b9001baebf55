"""logship → Logstash: the http input (200 done, 429 backs off and retries), beats (Lumberjack v2:
delivered only when ACKed, at least once through dropped connections, late ACKs with keep-alives,
TLS), and tcp json_lines (no acknowledgement)."""
import collections
import subprocess

import pytest

from elkutil import FAST, json_line, ts_of, wait_until, write_lines


def ls_args(url, src, *extra):
    return ["--source", src, "--logstash", url] + FAST + list(extra)


# ---- http input ----

def test_http_input_429_backs_off_and_delivers_everything(logstash_http, run_logship, tmp_path):
    logstash_http.fail_next(5, status=429)
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(200)])
    ls = run_logship(ls_args(logstash_http.url, src))
    wait_until(lambda: logstash_http.count() >= 200, what="200 events")
    wait_until(lambda: ls.metric_sum("logship_output_retries_total", output="logstash",
                                     reason="rate_limited") >= 5, what="5 rate-limit retries counted")
    assert ls.stop() == 0
    statuses = collections.Counter(r["status"] for r in logstash_http.requests())
    assert statuses[429] == 5
    evs = logstash_http.events()
    assert sorted(e["seq"] for e in evs) == list(range(200))    # 429'd batches stored nothing
    e = next(x for x in evs if x["seq"] == 7)
    assert e["@timestamp"] == ts_of(7) and e["service"] == "hello" and e["msg"] == "request 7 done"


def test_http_input_queue_full_for_a_while(logstash_http, run_logship, tmp_path):
    logstash_http.set_queue_full(True)
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(50)])
    ls = run_logship(ls_args(logstash_http.url, src))
    wait_until(lambda: sum(1 for r in logstash_http.requests() if r["status"] == 429) >= 3, what="429s")
    assert logstash_http.count() == 0
    logstash_http.set_queue_full(False)
    wait_until(lambda: logstash_http.count() == 50, what="delivery after the queue drained")
    assert ls.stop() == 0


# ---- beats (Lumberjack v2) ----

def acked_seqs(lj):
    return {r["event"]["seq"] for r in lj.records() if r["acked"]}


def test_beats_delivers_every_line_through_dropped_connections(lumberjack, run_logship, tmp_path):
    n = 3000
    lumberjack.drop_before_ack(2)        # two windows: connection closed instead of the ACK
    lumberjack.partial_then_drop(1)      # one window: half ACKed, then closed
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(n)])
    ls = run_logship(ls_args(lumberjack.url, src, "--batch-bytes", "32KiB"))
    wait_until(lambda: len(acked_seqs(lumberjack)) == n, timeout=60, what="every line ACKed")
    assert ls.stop() == 0
    st = lumberjack.stats()
    assert st["drops"] == 3 and st["errors"] == [] and st["connections"] >= 4
    recs = lumberjack.records()
    seen = collections.Counter(r["event"]["seq"] for r in recs)
    assert set(seen) == set(range(n))            # at least once
    dup = {s for s, c in seen.items() if c > 1}
    assert dup, "dropped windows must have been resent"
    # only lines whose first delivery was not ACKed are repeated
    first_acked = {}
    for r in recs:
        first_acked.setdefault(r["event"]["seq"], r["acked"])
    assert all(not first_acked[s] for s in dup)
    # windows are Filebeat-shaped: sequence numbers 1..n within each window
    by_window = collections.defaultdict(list)
    for r in recs:
        by_window[(r["conn"], r["window"])].append(r["seq"])
    assert all(v == list(range(1, len(v) + 1)) for v in by_window.values())


def test_beats_spool_advances_only_on_ack(lumberjack, run_logship, tmp_path):
    """No ACK ever comes: windows reach the server (the first holds 10 events, then ever smaller
    ones: the window halves on every timeout) but the lines stay in the spool; after kill -9 and a
    restart against a server that ACKs, every one is sent again."""
    n = 500
    lumberjack.set_no_ack(True)
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(n)])
    wd = str(tmp_path / "ls")
    args = ls_args(lumberjack.url, src, "--request-timeout", "1s")
    ls = run_logship(args, workdir=wd)
    wait_until(lambda: ls.metric_sum("logship_output_retries_total", output="logstash") >= 2,
               what="two ACK timeouts retried")
    sent = {r["event"]["seq"] for r in lumberjack.records()}
    assert set(range(10)) <= sent, sorted(sent)        # the first window went out, unacknowledged
    assert lumberjack.stats()["window_sizes"][:2] == [10, 5]
    assert ls.metric_sum("logship_output_entries_total", output="logstash") == 0
    ls.kill9()
    lumberjack.reset()                                 # forget what it saw; ACK from now on
    ls2 = run_logship(args, workdir=wd)
    wait_until(lambda: acked_seqs(lumberjack) == set(range(n)), what="everything resent and ACKed")
    assert ls2.stop() == 0


def test_beats_late_ack_with_keepalives_is_not_a_timeout(lumberjack, run_logship, tmp_path):
    lumberjack.set_ack_delay(2.5, keepalive=0.4)      # ACK 0 every 0.4 s, the real ACK after 2.5 s
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(100)])
    ls = run_logship(ls_args(lumberjack.url, src, "--request-timeout", "1s"))
    wait_until(lambda: len(acked_seqs(lumberjack)) == 100, timeout=30, what="delivery with late ACKs")
    assert ls.stop(timeout=30) == 0
    seen = collections.Counter(r["event"]["seq"] for r in lumberjack.records())
    assert max(seen.values()) == 1, "a keep-alive ACK must restart the timeout, not cause a resend"
    assert lumberjack.stats()["drops"] == 0


def make_cert(tmp_path):
    key, crt = str(tmp_path / "lj.key"), str(tmp_path / "lj.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return crt, key


def test_beats_over_tls(run_logship, tmp_path):
    from receivers.lumberjack import LumberjackReceiver
    crt, key = make_cert(tmp_path)
    lj = LumberjackReceiver(certfile=crt, keyfile=key).start()
    try:
        assert lj.url.startswith("beats+tls://")
        src = str(tmp_path / "app.log")
        write_lines(src, [json_line(i) for i in range(50)])
        # an unknown CA: nothing is delivered, the failure is logged
        bad = run_logship(ls_args(lj.url, src), workdir=str(tmp_path / "bad"))
        wait_until(lambda: "certificate" in bad.log(), what="a certificate error logged")
        assert lj.count() == 0
        bad.kill9()
        ls = run_logship(ls_args(lj.url, src, "--ca-file", crt))
        wait_until(lambda: len(acked_seqs(lj)) == 50, what="delivery over TLS")
        assert ls.stop() == 0
    finally:
        lj.stop()


# ---- tcp json_lines ----

def test_tcp_json_lines(logstash_tcp, run_logship, tmp_path):
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(1000)] + ["not json at all"])
    ls = run_logship(ls_args(logstash_tcp.url, src))
    wait_until(lambda: logstash_tcp.count() == 1001, what="1001 events")
    assert ls.stop() == 0
    evs = logstash_tcp.events()
    assert sorted(e["seq"] for e in evs if "seq" in e) == list(range(1000))
    assert any(e.get("message") == "not json at all" for e in evs)
    assert not any("_jsonparsefailure" in e.get("tags", []) for e in evs)


def test_beats_large_batches_are_split_into_windows(lumberjack, run_logship, tmp_path):
    n = 10000
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(n)])
    ls = run_logship(ls_args(lumberjack.url, src, "--batch-bytes", "4MiB"))
    wait_until(lambda: len(acked_seqs(lumberjack)) == n, timeout=60, what="every line ACKed")
    assert ls.stop() == 0
    sizes = collections.Counter((r["conn"], r["window"]) for r in lumberjack.records())
    assert max(sizes.values()) == 2048             # one batch, several windows of at most 2048
    assert len(lumberjack.records()) == n          # nothing resent


@pytest.mark.parametrize("mode", ["stall", "close"])
def test_beats_server_capping_its_window_still_gets_everything(mode, lumberjack, run_logship, tmp_path):
    """A beats server that refuses windows of more than 500 events (it reads them, ACKs nothing,
    and stays silent or hangs up): logship's window starts small, grows while ACKed, halves on
    the refusal, and every line arrives once. A fixed 2048-event window never got anything in."""
    n = 5000
    lumberjack.set_max_window(500, mode)
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(n)])
    ls = run_logship(ls_args(lumberjack.url, src, "--request-timeout", "2s"))
    wait_until(lambda: len(acked_seqs(lumberjack)) == n, timeout=60, what="every line ACKed")
    assert ls.stop() == 0
    st = lumberjack.stats()
    assert st["refused_windows"] >= 1, st                   # the cap was hit, and survived
    sizes = st["window_sizes"]
    assert sizes[0] <= 10 and max(sizes) > 500, sizes       # starts small, probes past the cap
    first = next(i for i, w in enumerate(sizes) if w > 500)
    assert all(w <= 500 for w in sizes[first + 1:]), sizes  # then stays under it
    assert sorted(r["event"]["seq"] for r in lumberjack.records()) == list(range(n))  # once each


def test_http_input_407_from_a_proxy_keeps_the_data(logstash_http, run_logship, tmp_path):
    """407 (a proxy wants credentials) is a configuration error: nothing dropped, delivered once
    the proxy lets the requests through."""
    logstash_http.fail_next(3, status=407)
    src = str(tmp_path / "app.log")
    write_lines(src, [json_line(i) for i in range(100)])
    ls = run_logship(ls_args(logstash_http.url, src, "--config-error-retry", "200ms"))
    wait_until(lambda: logstash_http.count() >= 100, what="100 events after the 407s")
    assert ls.metric_sum("logship_output_dropped_total", output="logstash") == 0
    assert ls.metric_sum("logship_output_retries_total", output="logstash", reason="config") >= 3
    assert ls.stop() == 0
    assert sorted(e["seq"] for e in logstash_http.events()) == list(range(100))
    assert "proxy" in ls.log()
