"""Hostile requests: huge heads, control bytes, invalid UTF-8, NUL, garbage; the server stays up and the logs valid."""
import json
import socket

from hellodlib import raw_exchange, wait_for


def send_raw(h, data, tls=True):
    if tls:
        s = h.tls_socket()
    else:
        s = socket.create_connection(("127.0.0.1", h.http_port), timeout=5)
    try:
        return raw_exchange(s, data)
    finally:
        s.close()


def parse(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return int(lines[0].split()[1]), hdrs, body


def assert_alive_and_logs_valid(h):
    assert h.get("/healthz")[0] == 200
    lines = h.lines()  # strict UTF-8 + JSON for every line
    assert lines


def test_huge_header_gets_json_431(hellod):
    resp = send_raw(hellod, b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                    b"a" * 20000 + b"\r\n\r\n")
    st, hd, body = parse(resp)
    # civetweb reports an overlong head as a malformed message (400)
    assert st in (400, 431)
    assert hd["Content-Type"] == "application/json" and int(hd["Content-Length"]) == len(body)
    assert json.loads(body)["error"]
    assert hd["X-Content-Type-Options"] == "nosniff" and hd["X-Request-Id"]
    assert hd["Connection"] == "close"
    line = hellod.wait_log("request", status=st)
    assert line["route"] == "invalid"
    assert_alive_and_logs_valid(hellod)


def test_invalid_utf8_and_quotes_in_user_agent_and_path(hellod):
    ua = b"evil\xff\xfe\xc0\xaf\xed\xa0\x80 \"quoted\" back\\slash \xe2\x82"
    resp = send_raw(hellod, b"GET /he\"llo\\world?q=\"x\" HTTP/1.1\r\nHost: localhost\r\n"
                            b"X-Request-Id: ua-test\r\nUser-Agent: " + ua +
                    b"\r\nConnection: close\r\n\r\n")
    assert parse(resp)[0] == 404
    line = hellod.wait_log("request", request_id="ua-test")
    assert line["path"] == '/he"llo\\world'
    assert line["user_agent"].startswith("evil\ufffd")
    assert '"quoted" back\\slash' in line["user_agent"]
    assert_alive_and_logs_valid(hellod)


def test_control_characters_and_nul(hellod):
    probes = [
        b"GET /a\x01b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: a\x1b[31mred\x07\r\n\r\n",
        b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: nul\x00here\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        b"GET /helloworld HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"G\xc3\x89T /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: -5\r\n\r\n",
        b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /%00%ff%0d%0a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]
    for p in probes:
        resp = send_raw(hellod, p)
        if resp:  # civetweb may also just close; either way nothing may break
            st, hd, body = parse(resp)
            assert 400 <= st < 600 or st == 200, (p, resp[:200])
            if st >= 400:
                assert hd.get("Content-Type") == "application/json", (p, resp[:300])
                json.loads(body)
    # the same over the plain-HTTP port
    for p in probes[:3]:
        send_raw(hellod, p, tls=False)
    assert_alive_and_logs_valid(hellod)
    # %-encoded bytes stay encoded in the log (decode_url is off)
    assert wait_for(lambda: [l for l in hellod.access() if l["path"] == "/%00%ff%0d%0a"], 5)


def test_plain_bytes_on_tls_port(hellod):
    s = socket.create_connection(("127.0.0.1", hellod.tls_port), timeout=5)
    raw_exchange(s, b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.close()
    s = socket.create_connection(("127.0.0.1", hellod.tls_port), timeout=5)
    raw_exchange(s, b"\x16\x03\x01\x00\x05hello-not-really")
    s.close()
    assert wait_for(lambda: hellod.metrics()["hellod_tls_handshake_failures_total"] >= 1, 5)
    assert_alive_and_logs_valid(hellod)
    # civetweb's complaint went through log_message as a JSON line
    assert [l for l in hellod.lines() if l["msg"] == "civetweb"]


def test_many_headers_and_long_path(hellod):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    send_raw(hellod, b"GET /helloworld HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")
    resp = send_raw(hellod, b"GET /" + b"p" * 15000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st, _, _ = parse(resp)
    assert st in (404, 414, 431)
    assert_alive_and_logs_valid(hellod)
