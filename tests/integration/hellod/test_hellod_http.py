"""hellod's HTTP behaviour over real TLS: routes, methods, headers, request ids, redirect, bodies."""
import json
import re
import socket

from hellodlib import raw_exchange

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def common_headers(h, tls=True):
    assert h["Content-Type"]
    assert "Content-Length" in h
    assert h["X-Content-Type-Options"] == "nosniff"
    assert HEX32.match(h["X-Request-Id"]) or h["X-Request-Id"]
    assert "Server" not in h, "no Server header (it would leak a version)"
    if tls:
        assert h["Strict-Transport-Security"].startswith("max-age=")


def test_helloworld_200(hellod):
    status, h, body = hellod.get("/helloworld")
    assert status == 200
    assert json.loads(body) == {"message": "Hello World"}
    assert body == b'{"message":"Hello World"}'
    assert h["Content-Type"] == "application/json"
    assert int(h["Content-Length"]) == len(body)
    assert HEX32.match(h["X-Request-Id"])
    common_headers(h)


def test_head_same_headers_no_body(hellod):
    _, hget, _ = hellod.get("/helloworld")
    # raw, so a body sent by mistake would show up before the close
    s = hellod.tls_socket()
    resp = raw_exchange(s, b"HEAD /helloworld HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    s.close()
    head, _, rest = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest == b""
    hdrs = dict(l.split(": ", 1) for l in head.decode().split("\r\n")[1:])
    assert hdrs["Content-Length"] == hget["Content-Length"]
    assert hdrs["Content-Type"] == hget["Content-Type"]
    common_headers(hdrs)


def test_other_methods_405_with_allow(hellod):
    for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, h, body = hellod.get("/helloworld", method=m)
        assert status == 405, m
        assert h["Allow"] == "GET, HEAD"
        assert json.loads(body) == {"error": "method not allowed"}
        common_headers(h)


def test_unknown_path_404_json(hellod):
    for path in ("/", "/nope", "/helloworld/", "/helloworldx", "/HELLOWORLD", "/hello%77orld"):
        status, h, body = hellod.get(path)
        assert status == 404, path
        assert h["Content-Type"] == "application/json"
        assert json.loads(body) == {"error": "not found"}
        common_headers(h)


def test_health_and_ready(hellod):
    status, h, body = hellod.get("/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, h, body = hellod.get("/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready"}
    common_headers(h)


def test_request_id_echo_rule(hellod):
    ok = ["abc", "0123-4567_89.ab:cd", "A" * 128, "dGVzdA==", "svc/1+2",
          "123e4567-e89b-12d3-a456-426614174000"]
    for rid in ok:
        _, h, _ = hellod.get("/helloworld", headers={"X-Request-Id": rid})
        assert h["X-Request-Id"] == rid
    bad = ["A" * 129, "has space", 'quote"', "semi;colon", "é"]
    for rid in bad:
        _, h, _ = hellod.get("/helloworld", headers={"X-Request-Id": rid.encode("utf-8")})
        assert h["X-Request-Id"] != rid and HEX32.match(h["X-Request-Id"]), rid
    ids = {hellod.get("/helloworld")[1]["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20
    # the id in the log is the one in the response
    hellod.get("/healthz", headers={"X-Request-Id": "trace-me-42"})
    assert hellod.wait_log("request", request_id="trace-me-42", path="/healthz")


def test_keep_alive_serves_many_requests_on_one_connection(hellod):
    c = hellod.conn()
    for _ in range(5):
        c.request("GET", "/helloworld")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b'{"message":"Hello World"}'
    # a request with a body is read fully, so the connection stays usable
    c.request("POST", "/helloworld", body=b"x" * 5000)
    r = c.getresponse()
    assert r.status == 405
    r.read()
    c.request("GET", "/helloworld", body=b"y" * 100)
    r = c.getresponse()
    assert r.status == 200
    r.read()
    c.close()


def test_body_larger_than_cap_gets_413(hellod_factory):
    h = hellod_factory("--max-request-size", "4KiB")
    s = h.tls_socket()
    resp = raw_exchange(s, b"POST /helloworld HTTP/1.1\r\nHost: localhost\r\n"
                           b"Content-Length: 100000\r\n\r\n" + b"z" * 1000)
    s.close()
    assert resp.startswith(b"HTTP/1.1 413 "), resp[:200]
    assert b"Connection: close" in resp
    assert h.get("/helloworld")[0] == 200


def redirect(h, request):
    s = socket.create_connection(("127.0.0.1", h.http_port), timeout=5)
    resp = raw_exchange(s, request)
    s.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = dict(l.split(": ", 1) for l in lines[1:])
    return int(lines[0].split()[1]), hdrs, body


def test_http_port_redirects_using_host(hellod):
    tp = hellod.tls_port
    st, hd, body = redirect(hellod, b"GET /helloworld?a=1&b=%20x HTTP/1.1\r\n"
                                    b"Host: example.com:8080\r\nConnection: close\r\n\r\n")
    assert st == 301
    assert hd["Location"] == f"https://example.com:{tp}/helloworld?a=1&b=%20x"
    assert json.loads(body) == {"location": hd["Location"]}
    assert hd["X-Content-Type-Options"] == "nosniff" and "X-Request-Id" in hd
    # no port in Host, other path, other method: 308 keeps the method
    st, hd, _ = redirect(hellod, b"POST /x/y HTTP/1.1\r\nHost: api.local\r\n"
                                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert st == 308 and hd["Location"] == f"https://api.local:{tp}/x/y"
    st, hd, _ = redirect(hellod, b"GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n")
    assert st == 301 and hd["Location"] == f"https://[::1]:{tp}/"
    # bytes that do not belong in a URL are percent-encoded, never copied raw
    st, hd, _ = redirect(hellod, b"GET /a\"b<c>{%zz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert st == 301 and hd["Location"] == f"https://h:{tp}/a%22b%3Cc%3E%7B%25zz"
    # (non-ASCII request targets are refused by civetweb itself: JSON 400)
    st, hd, body = redirect(hellod, b"GET /\xff HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert st == 400 and json.loads(body) == {"error": "Bad Request"} and "Location" not in hd
    # a Host that could inject text into Location is refused
    for host in (b"evil.com/x", b"a b", b"user@evil.com", b"", b"x:99999999"):
        st, hd, body = redirect(hellod, b"GET / HTTP/1.1\r\nHost: " + host +
                                b"\r\nConnection: close\r\n\r\n")
        assert st == 400 and "Location" not in hd, host
    # the redirect is logged as such
    line = hellod.wait_log("request", route="redirect", status=308)
    assert line["tls"] is False


def test_redirect_followed_reaches_https(hellod):
    st, hd, _ = redirect(hellod, b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Connection: close\r\n\r\n")
    assert st == 301
    assert hd["Location"] == f"https://localhost:{hellod.tls_port}/helloworld"
    status, _, body = hellod.get("/helloworld")
    assert status == 200 and body == b'{"message":"Hello World"}'


def test_http10_keep_alive_and_close(hellod):
    s = hellod.tls_socket()
    s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    first = b""
    while b'{"status":"ok"}' not in first:
        first += s.recv(4096)
    assert b"Connection: keep-alive" in first
    resp = raw_exchange(s, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in resp
    s.close()


def test_expect_100_continue(hellod):
    s = hellod.tls_socket()
    s.sendall(b"POST /helloworld HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
    first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
    resp = raw_exchange(s, b"abcde")
    s.close()
    assert resp.startswith(b"HTTP/1.1 405 ")


def test_stalled_body_gets_408_after_request_timeout(hellod_factory):
    h = hellod_factory("--request-timeout", "1s")
    s = h.tls_socket()
    resp = raw_exchange(s, b"POST /helloworld HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
                           b"X-Request-Id: stalled\r\n\r\nonly-part", timeout=8)
    s.close()
    assert resp.startswith(b"HTTP/1.1 408 "), resp[:100]
    assert b"Connection: close" in resp
    assert h.wait_log("request", request_id="stalled")["status"] == 408


def test_ipv6_bind(hellod_factory):
    import pytest
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    h = hellod_factory("--bind", "::1")
    raw = socket.create_connection(("::1", h.tls_port), timeout=5)
    with h.client_ctx().wrap_socket(raw, server_hostname="localhost") as s:
        resp = raw_exchange(s, b"GET /helloworld HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 ")
    line = h.wait_log("request", path="/helloworld")
    assert line["remote"] == "::1"


def test_absolute_form_targets(hellod):
    tp = hellod.tls_port
    s = hellod.tls_socket()
    resp = raw_exchange(s, b"GET https://any.example:%d/helloworld HTTP/1.1\r\nHost: any.example\r\n"
                           b"Connection: close\r\n\r\n" % tp)
    s.close()
    assert resp.startswith(b"HTTP/1.1 200 ") and resp.endswith(b'{"message":"Hello World"}')
    st, hd, _ = redirect(hellod, b"GET http://a.example:%d/x?y=1 HTTP/1.1\r\nHost: a.example\r\n"
                                 b"Connection: close\r\n\r\n" % hellod.http_port)
    assert st == 301 and hd["Location"] == f"https://a.example:{tp}/x?y=1"
