"""hellod's /metrics: Prometheus text whose counters move, with route templates (never raw paths) as labels."""
import time

from hellodlib import wait_for


def req_count(m, method, route, status):
    return m.get(f'hellod_http_requests_total{{method="{method}",route="{route}",status="{status}"}}', 0)


def test_metrics_exposition_and_counters_move(hellod):
    status, h, body = hellod.get("/metrics")
    assert status == 200
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for name in ("hellod_http_requests_total", "hellod_http_request_duration_seconds",
                 "hellod_http_requests_in_flight", "hellod_tls_handshake_failures_total",
                 "process_start_time_seconds", "hellod_build_info"):
        assert f"# TYPE {name} " in text, name

    before = hellod.metrics()
    for _ in range(3):
        hellod.get("/helloworld")
    hellod.get("/helloworld", method="HEAD")
    hellod.get("/helloworld", method="POST")
    hellod.get("/no/such/thing/12345")
    hellod.get("/another-unknown-path")
    after = hellod.metrics()

    assert req_count(after, "GET", "helloworld", 200) - req_count(before, "GET", "helloworld", 200) == 3
    assert req_count(after, "HEAD", "helloworld", 200) - req_count(before, "HEAD", "helloworld", 200) == 1
    assert req_count(after, "POST", "helloworld", 405) - req_count(before, "POST", "helloworld", 405) == 1
    assert req_count(after, "GET", "not_found", 404) - req_count(before, "GET", "not_found", 404) == 2
    # raw paths never become label values
    assert "12345" not in "".join(after) and "another-unknown" not in "".join(after)

    cnt = 'hellod_http_request_duration_seconds_count{route="helloworld"}'
    assert after[cnt] - before.get(cnt, 0) == 5
    inf = 'hellod_http_request_duration_seconds_bucket{route="helloworld",le="+Inf"}'
    assert after[inf] == after[cnt]
    assert after["hellod_http_requests_in_flight"] == 1  # the scrape itself

    start = after["process_start_time_seconds"]
    assert time.time() - 60 < start <= time.time()
    info = [k for k in after if k.startswith("hellod_build_info{")]
    assert info and after[info[0]] == 1 and 'version="' in info[0]


def test_redirects_and_bad_requests_are_counted(hellod):
    import socket
    from hellodlib import raw_exchange
    s = socket.create_connection(("127.0.0.1", hellod.http_port), timeout=5)
    raw_exchange(s, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    s.close()
    s = hellod.tls_socket()
    raw_exchange(s, b"\x01\x02 nonsense\r\n\r\n")
    s.close()
    m = wait_for(lambda: (lambda m: req_count(m, "GET", "redirect", 301) >= 1 and m)(hellod.metrics()), 5)
    assert m
    assert any(k.startswith('hellod_http_requests_total{') and 'route="invalid"' in k and 'status="400"' in k
               for k in m)
