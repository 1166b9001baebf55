"""Self-test of the Loki stand-in (tests/receivers/loki.py): each behaviour that
backends.md documents for Loki 2.8, and each scripted failure, is proven here,
so that the logship tests built on it test logship and not the receiver."""
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest
import requests
import snappy

from lib.lokipb import encode_push
from receivers.loki import LokiReceiver, NS, go_time_string, parse_label_string

PUSH = "/loki/api/v1/push"
RECEIVER = os.path.join(os.path.dirname(__file__), "..", "..", "receivers", "loki.py")


# the protobuf encoder (the inverse of the receiver's decoder) is tests/lib/lokipb.py's
_pb_push = encode_push


def _json_push(streams):
    return {"streams": [{"stream": labels, "values": [[str(ts), line] for ts, line in values]}
                        for labels, values in streams]}


def now_ns():
    return time.time_ns()


def post_json(r, doc, **kw):
    return requests.post(r.url + PUSH, json=doc, timeout=10, **kw)


# --- push: formats -----------------------------------------------------------------------
def test_json_push_204_and_stored(loki):
    t = now_ns()
    resp = post_json(loki, _json_push([({"service": "hello", "level": "info"}, [(t, "a"), (t + 1, "b")])]))
    assert resp.status_code == 204
    assert resp.text == ""
    assert loki.entries() == [({"level": "info", "service": "hello"}, t, "a"),
                              ({"level": "info", "service": "hello"}, t + 1, "b")]
    req = loki.requests()[-1]
    assert req["format"] == "json" and req["status"] == 204 and req["entries"] == 2


def test_json_gzip_and_deflate(loki):
    t = now_ns()
    raw = json.dumps(_json_push([({"job": "gz"}, [(t, "gzipped")])])).encode()
    r1 = requests.post(loki.url + PUSH, data=gzip.compress(raw), timeout=10,
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw2 = json.dumps(_json_push([({"job": "gz"}, [(t + 1, "deflated")])])).encode()
    r2 = requests.post(loki.url + PUSH, data=co.compress(raw2) + co.flush(), timeout=10,
                       headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert (r1.status_code, r2.status_code) == (204, 204)
    assert loki.lines() == ["gzipped", "deflated"]
    assert [q["content_encoding"] for q in loki.requests()] == ["gzip", "deflate"]
    bad = requests.post(loki.url + PUSH, data=raw, timeout=10,
                        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert bad.status_code == 400
    br = requests.post(loki.url + PUSH, data=raw, timeout=10,
                       headers={"Content-Type": "application/json", "Content-Encoding": "br"})
    assert br.status_code == 400 and "not supported" in br.text


def test_protobuf_snappy_push(loki):
    t = now_ns()
    body = _pb_push([('{service="hello", level="warn"}', [(t, "p1", {"trace_id": "abc"}), (t + 5, "p2")]),
                     ('{service="other"}', [(t, "q\"1")])])
    resp = requests.post(loki.url + PUSH, data=body, timeout=10,
                         headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 204, resp.text
    got = sorted(loki.entries(), key=lambda e: (e[2]))
    assert got == [({"level": "warn", "service": "hello"}, t, "p1"),
                   ({"level": "warn", "service": "hello"}, t + 5, "p2"),
                   ({"service": "other"}, t, 'q"1')]
    assert loki.requests()[-1]["format"] == "protobuf"
    assert loki.requests()[-1]["decoded_bytes"] == len(snappy.uncompress(body))


def test_non_json_content_type_is_read_as_snappy(loki):
    raw = json.dumps(_json_push([({"job": "x"}, [(now_ns(), "l")])]))
    resp = requests.post(loki.url + PUSH, data=raw, timeout=10, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400
    assert resp.text == "snappy: corrupt input\n"
    garbage = requests.post(loki.url + PUSH, data=b"\xff\x00garbage", timeout=10,
                            headers={"Content-Type": "application/x-protobuf"})
    assert garbage.status_code == 400 and garbage.text == "snappy: corrupt input\n"
    assert loki.count() == 0


def test_protobuf_that_is_not_a_push_request_is_400(loki):
    resp = requests.post(loki.url + PUSH, data=snappy.compress(b"\x0a\xff\xff\xff\x0f"), timeout=10,
                         headers={"Content-Type": "application/x-protobuf"})
    assert resp.status_code == 400


def test_numeric_timestamp_is_400(loki):
    doc = {"streams": [{"stream": {"job": "n"}, "values": [[now_ns(), "numeric ts"]]}]}
    resp = post_json(loki, doc)
    assert resp.status_code == 400
    assert resp.text.startswith("loghttp.PushRequest.Streams")
    assert loki.count() == 0


def test_bad_json_is_400(loki):
    resp = requests.post(loki.url + PUSH, data=b'{"streams":[{"stream"', timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.text.startswith("loghttp.PushRequest")


def test_empty_streams_is_204(loki):
    assert post_json(loki, {"streams": []}).status_code == 204
    assert post_json(loki, {"streams": [{"stream": {"a": "b"}, "values": []}]}).status_code == 204
    assert loki.count() == 0


def test_missing_labels_is_400(loki):
    resp = post_json(loki, _json_push([({}, [(now_ns(), "no labels")])]))
    assert resp.status_code == 400
    assert resp.text == "error at least one label pair is required per stream\n"
    pb = requests.post(loki.url + PUSH, data=_pb_push([("{}", [(now_ns(), "x")])]), timeout=10,
                       headers={"Content-Type": "application/x-protobuf"})
    assert pb.status_code == 400 and "at least one label pair" in pb.text


def test_too_many_label_names_is_400(loki):
    labels = {"l%02d" % i: "v" for i in range(31)}
    resp = post_json(loki, _json_push([(labels, [(now_ns(), "x")])]))
    assert resp.status_code == 400 and "31 label names; limit 30" in resp.text   # 2.x's default
    three = LokiReceiver(version="3").start()
    try:
        labels = {"l%02d" % i: "v" for i in range(16)}
        resp = post_json(three, _json_push([(labels, [(now_ns(), "x")])]))
        assert resp.status_code == 400 and "16 label names; limit 15" in resp.text
    finally:
        three.stop()


def test_too_new_too_old_and_too_long_are_partial(loki):
    t = now_ns()
    future = t + 3600 * NS
    doc = _json_push([({"job": "test-future"}, [(t, "fine"), (future, "future")])])
    resp = post_json(loki, doc)
    assert resp.status_code == 400
    assert resp.text == ("entry for stream '{job=\"test-future\"}' has timestamp too new: %s\n"
                         % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(future // NS)))
    old = t - 8 * 24 * 3600 * NS
    resp = post_json(loki, _json_push([({"job": "test-old"}, [(old, "old"), (t, "fine2")])]))
    assert resp.status_code == 400 and "has timestamp too old" in resp.text
    big = "x" * 307200
    # no line size limit by default in 2.x; the 2.8 this body came from had max_line_size 256KB
    assert post_json(loki, _json_push([({"job": "test-2x"}, [(t, big)])])).status_code == 204
    loki.set_limits(max_line_size=262144)
    resp = post_json(loki, _json_push([({"job": "test-big"}, [(t, big), (t + 1, "fine3")])]))
    assert resp.status_code == 400
    assert resp.text == ("Max entry size '262144' bytes exceeded for stream '{job=\"test-big\"}' while "
                         "adding an entry with length '307200' bytes\n")
    assert sorted(loki.lines()) == sorted(["fine", "fine2", "fine3", big])


def test_entry_too_far_behind_is_partial_with_loki_body(loki):
    t = now_ns()
    behind = t - 2 * 3600 * NS
    resp = post_json(loki, _json_push([({"job": "test"}, [(t, "new"), (behind, "behind")])]))
    assert resp.status_code == 400
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t - 3600 * NS) // NS))
    assert resp.text == ("entry with timestamp %s ignored, reason: 'entry too far behind, oldest "
                         "acceptable timestamp is: %s' for stream: {job=\"test\"}, user 'fake', "
                         "total ignored: 1 out of 2\n" % (go_time_string(behind), cutoff))
    assert loki.lines() == ["new"]
    # Within the hour, out of order is accepted.
    assert post_json(loki, _json_push([({"job": "test"}, [(t - 1800 * NS, "half an hour")])])).status_code == 204
    # Another stream is independent.
    assert post_json(loki, _json_push([({"job": "other"}, [(behind, "behind")])])).status_code == 204
    # Several ignored: the count says so, the tenant is named.
    resp = post_json(loki, _json_push([({"job": "test"}, [(behind, "a"), (behind + 1, "b"), (t, "c")])]),
                     headers={"X-Scope-OrgID": "fake"})
    assert resp.status_code == 400 and resp.text.endswith("total ignored: 2 out of 3\n")


def test_go_time_string():
    assert go_time_string(1795813034967224927) == "2026-11-27 20:57:14.967224927 +0000 UTC"
    assert go_time_string(1795813034000000000) == "2026-11-27 20:57:14 +0000 UTC"
    assert go_time_string(1795813034500000000) == "2026-11-27 20:57:14.5 +0000 UTC"


def test_label_string_parsing():
    assert parse_label_string('{service="hello", level="info"}') == [("level", "info"), ("service", "hello")]
    assert parse_label_string('{a="x\\"y\\\\z"}') == [("a", 'x"y\\z')]
    with pytest.raises(ValueError):
        parse_label_string('{a="unterminated}')
    with pytest.raises(ValueError):
        parse_label_string('{a=~"re"}')


def test_exact_duplicates_dropped_only_in_the_head_block(loki):
    t = now_ns()
    doc = _json_push([({"job": "d"}, [(t, "same"), (t, "same"), (t, "other line same ts")])])
    assert post_json(loki, doc).status_code == 204
    assert post_json(loki, doc).status_code == 204
    assert loki.lines() == ["same", "other line same ts"]
    assert loki.stats()["duplicates"] == 4 and loki.stored_duplicates() == 0
    # after 400 KiB of later lines in the stream the original has left the head block:
    # Loki 2.8 stores the replay (and returns it again)
    filler = [(t + 1 + i, "%06d" % i + "f" * 1018) for i in range(400)]
    assert post_json(loki, _json_push([({"job": "d"}, filler)])).status_code == 204
    assert post_json(loki, _json_push([({"job": "d"}, [(t, "same")])])).status_code == 204
    assert loki.lines().count("same") == 2 and loki.stored_duplicates() == 1
    # a replay of that replay lands while it is the last entry (and in the head): dropped
    assert post_json(loki, _json_push([({"job": "d"}, [(t, "same")])])).status_code == 204
    assert loki.stored_duplicates() == 1
    res = _query(loki, '{job="d"}', limit=5000, direction="forward", start=str(t), end=str(t + 1)).json()
    assert [v[1] for s in res["data"]["result"] for v in s["values"]] == ["same", "other line same ts", "same"]


def test_loki_29_stores_replays_and_hides_them_from_log_queries():
    r = LokiReceiver(version="2.9").start()
    try:
        t = now_ns()
        doc = _json_push([({"job": "d"}, [(t, "a"), (t + 1, "b")])])
        assert post_json(r, doc).status_code == 204
        assert post_json(r, doc).status_code == 204
        assert r.count() == 4 and r.stored_duplicates() == 2   # what count_over_time sees
        res = _query(r, '{job="d"}', limit=100, direction="forward", start=str(t)).json()
        assert [v[1] for s in res["data"]["result"] for v in s["values"]] == ["a", "b"]
    finally:
        r.stop()


def test_per_stream_rate_limit_stores_part_and_lists_ten(loki):
    loki.set_limits(per_stream_rate_bytes=1, per_stream_burst_bytes=1000)
    t = now_ns()
    entries = [(t + i, "%03d" % i + "x" * 97) for i in range(25)]   # 100 bytes each: 10 fit
    resp = post_json(loki, _json_push([({"job": "r"}, entries)]), headers={"X-Scope-OrgID": "fake"})
    assert resp.status_code == 429
    lines = resp.text.split("\n")
    listed = [ln for ln in lines if ln.startswith("entry with timestamp ")]
    assert len(listed) == 10                                      # max_returned_stream_errors
    assert listed[0] == ("entry with timestamp %s ignored, reason: 'Per stream rate limit exceeded "
                         "(limit: 0MB/sec) while attempting to ingest for stream '{job=\"r\"}' totaling "
                         "100B, consider splitting a stream via additional labels or contact your Loki "
                         "administrator to see if the limit can be increased' for stream: {job=\"r\"},"
                         % go_time_string(t + 10))
    assert resp.text.endswith("user 'fake', total ignored: 15 out of 25\n")
    assert loki.lines() == [e[1] for e in entries[:10]]
    # another stream has its own bucket
    assert post_json(loki, _json_push([({"job": "s"}, entries[:5])])).status_code == 204


def test_only_the_last_stream_of_a_push_is_reported(loki):
    t = now_ns()
    assert post_json(loki, _json_push([({"job": "a"}, [(t, "newest")])])).status_code == 204
    behind = (t - 2 * 3600 * NS, "behind")
    # [a: 2 h behind a's newest, b: fresh] → 204 and a's entry is not stored
    resp = post_json(loki, _json_push([({"job": "a"}, [behind]), ({"job": "b"}, [(t, "fresh")])]))
    assert resp.status_code == 204
    assert "behind" not in loki.lines()
    # [b, a] → 400 naming a's entry
    resp = post_json(loki, _json_push([({"job": "b"}, [(t + 1, "fresh2")]), ({"job": "a"}, [behind])]))
    assert resp.status_code == 400 and resp.text.endswith("total ignored: 1 out of 1\n")


def test_distributor_400_carries_the_last_message_only(loki):
    loki.set_limits(max_line_size=100)
    t = now_ns()
    old = t - 8 * 24 * 3600 * NS
    resp = post_json(loki, _json_push([({"job": "m"}, [(old, "o1"), (old + 1, "o2"), (t, "y" * 200),
                                                       (t + 1, "ok")])]))
    assert resp.status_code == 400
    assert resp.text.startswith("Max entry size '100' bytes exceeded") and "total ignored" not in resp.text
    assert loki.lines() == ["ok"]


def test_query_status_refuses_the_query_api(loki):
    loki.set_query_status(404)
    assert _query(loki, '{job="x"}').status_code == 404
    loki.set_query_status(None)
    assert _query(loki, '{job="x"}').status_code == 200


def test_tenant_recorded_and_separate(loki):
    t = now_ns()
    assert post_json(loki, _json_push([({"job": "t"}, [(t, "a")])]), headers={"X-Scope-OrgID": "team-a"}).status_code == 204
    assert post_json(loki, _json_push([({"job": "t"}, [(t, "b")])])).status_code == 204
    assert [q["tenant"] for q in loki.requests()] == ["team-a", None]
    assert [e[2] for e in loki.entries(tenant="team-a")] == ["a"]
    q = requests.get(loki.url + "/loki/api/v1/query_range", params={"query": '{job="t"}'},
                     headers={"X-Scope-OrgID": "team-a"}, timeout=10).json()
    assert [v[1] for s in q["data"]["result"] for v in s["values"]] == ["a"]


# --- scripted failures -----------------------------------------------------------------
def test_fail_next_429_has_loki_body_and_no_retry_after(loki):
    loki.fail_next(2, status=429)
    doc = _json_push([({"job": "r"}, [(now_ns(), "x")])])
    r1, r2, r3 = post_json(loki, doc), post_json(loki, doc), post_json(loki, doc)
    assert (r1.status_code, r2.status_code, r3.status_code) == (429, 429, 204)
    assert r1.text.startswith("Ingestion rate limit exceeded for user fake")
    assert "Retry-After" not in r1.headers
    assert loki.lines() == ["x"]
    loki.fail_next(1, status=429, retry_after=7)
    assert post_json(loki, doc).headers.get("Retry-After") == "7"


def test_fail_next_500_503(loki):
    loki.fail_next(1, status=500)
    loki.fail_next(1, status=503)
    doc = _json_push([({"job": "r"}, [(now_ns(), "x")])])
    assert [post_json(loki, doc).status_code for _ in range(3)] == [500, 503, 204]
    assert loki.stats()["status_counts"] == {500: 1, 503: 1, 204: 1}


def test_fail_for_a_while(loki):
    loki.fail_for(0.5, status=503)
    doc = _json_push([({"job": "r"}, [(now_ns(), "x")])])
    assert post_json(loki, doc).status_code == 503
    time.sleep(0.6)
    assert post_json(loki, doc).status_code == 204


def test_rate_limit_token_bucket(loki):
    loki.set_rate_limit(1000, burst=1000)
    t = now_ns()
    ok = post_json(loki, _json_push([({"job": "rl"}, [(t, "a" * 800)])]))
    limited = post_json(loki, _json_push([({"job": "rl"}, [(t + 1, "b" * 800)])]))
    assert ok.status_code == 204
    assert limited.status_code == 429
    assert limited.text == ("Ingestion rate limit exceeded for user fake (limit: 1000 bytes/sec) while "
                            "attempting to ingest '1' lines totaling '800' bytes, reduce log volume or "
                            "contact your Loki administrator to see if the limit can be increased\n")
    assert "Retry-After" not in limited.headers
    loki.set_rate_limit(None)
    assert post_json(loki, _json_push([({"job": "rl"}, [(t + 1, "b" * 800)])])).status_code == 204


def test_push_bigger_than_burst_is_always_429(loki):
    loki.set_limits(ingestion_burst_bytes=10000)
    t = now_ns()
    doc = _json_push([({"job": "burst"}, [(t + i, "y" * 1000) for i in range(11)])])
    assert post_json(loki, doc).status_code == 429
    assert post_json(loki, doc).status_code == 429
    assert loki.count() == 0


def test_delay_makes_clients_time_out(loki):
    loki.set_delay(1.5)
    with pytest.raises(requests.exceptions.Timeout):
        post_json_timeout(loki, 0.3)
    loki.set_delay(0)
    assert post_json_timeout(loki, 5).status_code == 204


def post_json_timeout(r, timeout):
    return requests.post(r.url + PUSH, json=_json_push([({"job": "slow"}, [(now_ns(), "s")])]),
                         timeout=timeout)


def test_drop_closes_connection_without_answer(loki):
    loki.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_json(loki, _json_push([({"job": "d"}, [(now_ns(), "x")])]))
    assert post_json(loki, _json_push([({"job": "d"}, [(now_ns(), "y")])])).status_code == 204
    assert loki.lines() == ["y"]


def test_down_refuses_connections_and_cuts_keepalive(loki):
    s = requests.Session()
    doc = _json_push([({"job": "down"}, [(now_ns(), "before")])])
    assert s.post(loki.url + PUSH, json=doc, timeout=5).status_code == 204
    loki.set_down(True)
    with pytest.raises(requests.exceptions.ConnectionError):
        s.post(loki.url + PUSH, json=doc, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", loki.port), timeout=2).close()
    loki.set_down(False)
    doc2 = _json_push([({"job": "down"}, [(now_ns(), "after")])])
    assert s.post(loki.url + PUSH, json=doc2, timeout=5).status_code == 204
    assert loki.lines() == ["before", "after"]


def test_down_for_seconds_comes_back(loki):
    loki.set_down(True, seconds=0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", loki.port), timeout=2).close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if requests.get(loki.url + "/ready", timeout=1).status_code == 200:
                break
        except requests.exceptions.ConnectionError:
            time.sleep(0.05)
    else:
        pytest.fail("receiver did not come back up")


def test_keepalive_reuses_one_connection(loki):
    s = requests.Session()
    for i in range(5):
        assert s.post(loki.url + PUSH, json=_json_push([({"job": "ka"}, [(now_ns(), str(i))])]),
                      timeout=5).status_code == 204
    assert len({q["client_port"] for q in loki.requests()}) == 1


def test_ready_delay():
    r = LokiReceiver(ready_delay=0.5).start()
    try:
        resp = requests.get(r.url + "/ready", timeout=5)
        assert resp.status_code == 503 and "not ready" in resp.text
        # pushes already work while /ready says no, as with a real Loki
        assert post_json(r, _json_push([({"job": "early"}, [(now_ns(), "x")])])).status_code == 204
        time.sleep(0.6)
        assert requests.get(r.url + "/ready", timeout=5).status_code == 200
    finally:
        r.stop()


# --- query side ---------------------------------------------------------------------------
def _query(r, q, **params):
    params["query"] = q
    return requests.get(r.url + "/loki/api/v1/query_range", params=params, timeout=10)


def test_query_range_matchers_limit_direction(loki):
    t = now_ns() - 60 * NS
    post_json(loki, _json_push([({"service": "hello", "level": "info"}, [(t + i, "i%d" % i) for i in range(5)]),
                                ({"service": "hello", "level": "error"}, [(t + 10, "e0")]),
                                ({"service": "other", "level": "info"}, [(t + 20, "o0")])]))
    res = _query(loki, '{service="hello"}', limit=100, direction="forward").json()
    assert res["status"] == "success" and res["data"]["resultType"] == "streams"
    vals = [(s["stream"]["level"], v) for s in res["data"]["result"] for v in s["values"]]
    assert sorted(v[1][1] for v in vals) == ["e0", "i0", "i1", "i2", "i3", "i4"]
    info = [s for s in res["data"]["result"] if s["stream"] == {"service": "hello", "level": "info"}][0]
    assert info["values"] == [[str(t + i), "i%d" % i] for i in range(5)]
    back = _query(loki, '{service="hello", level!="error"}', limit=2).json()
    assert back["data"]["result"][0]["values"] == [[str(t + 4), "i4"], [str(t + 3), "i3"]]
    rex = _query(loki, '{service=~"hel.*|oth.+", level=~"info"}', limit=100).json()
    assert sorted(s["stream"]["service"] for s in rex["data"]["result"]) == ["hello", "other"]
    nre = _query(loki, '{level="info", service!~"hel.*"}', limit=100).json()
    assert [s["stream"]["service"] for s in nre["data"]["result"]] == ["other"]
    win = _query(loki, '{service="hello"}', start=str(t + 1), end=str(t + 3), direction="forward").json()
    assert [v[1] for s in win["data"]["result"] for v in s["values"]] == ["i1", "i2"]
    flt = _query(loki, '{service="hello"} |= "i3"').json()
    assert [v[1] for s in flt["data"]["result"] for v in s["values"]] == ["i3"]
    assert _query(loki, '{service="hello"', limit=1).status_code == 400
    assert _query(loki, '{service=~".*"}').status_code == 400
    assert _query(loki, '{service="hello"}', limit=5001).status_code == 400


def test_labels_values_series(loki):
    t = now_ns()
    post_json(loki, _json_push([({"service": "hello", "level": "info"}, [(t, "a")]),
                                ({"service": "db", "env": "prod"}, [(t, "b")])]))
    assert requests.get(loki.url + "/loki/api/v1/labels", timeout=5).json() == {
        "status": "success", "data": ["env", "level", "service"]}
    assert requests.get(loki.url + "/loki/api/v1/label/service/values", timeout=5).json()["data"] == ["db", "hello"]
    ser = requests.get(loki.url + "/loki/api/v1/series", params={"match[]": '{env="prod"}'}, timeout=5).json()
    assert ser["data"] == [{"service": "db", "env": "prod"}]


def test_metrics(loki):
    post_json(loki, _json_push([({"job": "m"}, [(now_ns(), "x"), (now_ns() + 1, "y")])]))
    text = requests.get(loki.url + "/metrics", timeout=5).text
    assert "loki_distributor_lines_received_total 2" in text
    assert 'loki_request_total{route="loki_api_v1_push",status_code="204"} 1' in text


def test_concurrent_pushes_and_100k_lines(loki):
    """Thread-safety and volume: 8 threads × 25 pushes × 500 lines, protobuf and JSON mixed."""
    base = now_ns()
    errors = []

    def worker(w):
        s = requests.Session()
        for b in range(25):
            ents = [(base + (b * 500 + i) * 1000 + w, "w%d b%d i%d" % (w, b, i)) for i in range(500)]
            if w % 2:
                resp = s.post(loki.url + PUSH, data=_pb_push([('{w="%d"}' % w, ents)]), timeout=30,
                              headers={"Content-Type": "application/x-protobuf"})
            else:
                resp = s.post(loki.url + PUSH, json=_json_push([({"w": str(w)}, ents)]), timeout=30)
            if resp.status_code != 204:
                errors.append(resp.text)
    ths = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    assert errors == []
    assert loki.count() == 100000
    assert len(set(loki.lines())) == 100000


# --- as a program, with the admin API -------------------------------------------------------
def test_program_and_admin_api(tmp_path):
    port_file = tmp_path / "port"
    p = subprocess.Popen(["/usr/bin/python3", RECEIVER, "--host", "127.0.0.1", "--port", "0",
                          "--port-file", str(port_file), "--ready-delay", "30"],
                         stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        assert int(port_file.read_text()) == port
        url = "http://127.0.0.1:%d" % port
        assert requests.get(url + "/ready", timeout=5).status_code == 503
        assert requests.post(url + "/_receiver/ready", json={"delay": 0}, timeout=5).status_code == 200
        assert requests.get(url + "/ready", timeout=5).status_code == 200
        assert requests.post(url + "/_receiver/fail", json={"n": 1, "status": 500}, timeout=5).ok
        doc = _json_push([({"job": "prog"}, [(now_ns(), "hello")])])
        assert requests.post(url + PUSH, json=doc, timeout=5, headers={"X-Scope-OrgID": "t1"}).status_code == 500
        assert requests.post(url + PUSH, json=doc, timeout=5, headers={"X-Scope-OrgID": "t1"}).status_code == 204
        ents = requests.get(url + "/_receiver/entries", timeout=5).json()
        assert [(e["labels"], e["line"], e["tenant"]) for e in ents] == [({"job": "prog"}, "hello", "t1")]
        state = requests.get(url + "/_receiver/state", timeout=5).json()
        assert state["stored"] == 1 and state["status_counts"] == {"500": 1, "204": 1}
        reqs = requests.get(url + "/_receiver/requests", timeout=5).json()
        assert [q["status"] for q in reqs] == [500, 204]
        assert requests.post(url + "/_receiver/delay", json={"seconds": 1.0}, timeout=5).ok
        with pytest.raises(requests.exceptions.Timeout):
            requests.post(url + PUSH, json=doc, timeout=0.3)
        assert requests.post(url + "/_receiver/delay", json={"seconds": 0}, timeout=5).ok
        assert requests.post(url + "/_receiver/down", json={"seconds": 1.0}, timeout=5).ok
        time.sleep(0.3)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url + "/ready", timeout=2)
        time.sleep(1.2)
        assert requests.get(url + "/ready", timeout=5).status_code == 200
        assert requests.post(url + "/_receiver/reset", timeout=5).ok
        assert requests.get(url + "/_receiver/state", timeout=5).json()["stored"] == 0
        assert requests.post(url + "/_receiver/nope", timeout=5).status_code == 404
    finally:
        p.terminate()
        assert p.wait(10) == 0


def test_tls_and_mtls(pki):
    r = LokiReceiver(tls_cert=pki["server.crt"], tls_key=pki["server.key"]).start()
    try:
        assert r.url.startswith("https://")
        doc = _json_push([({"job": "tls"}, [(now_ns(), "over tls")])])
        assert requests.post(r.url + PUSH, json=doc, verify=pki["ca.crt"], timeout=10).status_code == 204
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(r.url + PUSH, json=doc, verify=pki["other.crt"], timeout=10)
        assert r.lines() == ["over tls"]
    finally:
        r.stop()
    m = LokiReceiver(tls_cert=pki["server.crt"], tls_key=pki["server.key"], client_ca=pki["ca.crt"]).start()
    try:
        doc = _json_push([({"job": "mtls"}, [(now_ns(), "with client cert")])])
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.post(m.url + PUSH, json=doc, verify=pki["ca.crt"], timeout=10)
        assert requests.post(m.url + PUSH, json=doc, verify=pki["ca.crt"], timeout=10,
                             cert=(pki["client.crt"], pki["client.key"])).status_code == 204
        assert m.lines() == ["with client cert"]
        assert m.stats()["tls_failures"] >= 1
    finally:
        m.stop()


def test_grafana_health_check_and_buildinfo(loki):
    q = requests.get(loki.url + "/loki/api/v1/query", params={"query": "vector(1)+vector(1)"}, timeout=5).json()
    assert q["status"] == "success" and q["data"]["resultType"] == "vector"
    assert q["data"]["result"][0]["value"][1] == "2"
    assert requests.get(loki.url + "/loki/api/v1/status/buildinfo", timeout=5).json()["version"].startswith("2.8")
    post_json(loki, _json_push([({"job": "s"}, [(now_ns(), "x")])]))
    assert requests.get(loki.url + "/loki/api/v1/index/stats", params={"query": '{job="s"}'},
                        timeout=5).json()["entries"] == 1


def test_chunked_request_body(loki):
    raw = json.dumps(_json_push([({"job": "chunked"}, [(now_ns(), "in chunks")])])).encode()
    parts = (raw[i:i + 7] for i in range(0, len(raw), 7))
    resp = requests.post(loki.url + PUSH, data=parts, timeout=10, headers={"Content-Type": "application/json"})
    assert resp.status_code == 204
    assert loki.requests()[-1]["headers"].get("Transfer-Encoding") == "chunked"
    assert loki.lines() == ["in chunks"]


def test_request_logged_before_its_entries_are_visible(loki):
    """A reader that sees stored entries also sees the push that stored them."""
    bad = []
    for k in range(20):
        loki.reset()
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                if loki.count() > 0:
                    if not loki.requests():
                        bad.append(k)
                    return
        th = threading.Thread(target=watch)
        th.start()
        post_json(loki, _json_push([({"job": "vis"}, [(now_ns() + i, "l%d" % i) for i in range(2000)])]))
        stop.set()
        th.join(10)
    assert bad == []
