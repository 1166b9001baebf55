"""Issue 10: no header bytes in logs, strict framing (smuggling shapes get 400 and a closed connection), HTAB in values,
OPTIONS * and foreign absolute-form targets answered, 431 for an oversized head, a FIFO certificate cannot block signals."""
import json
import os
import shutil
import signal
import socket

import pytest

from hellodlib import raw_exchange, wait_for
from test_hellod_tls import make_cert

SECRET_AUTH = "Basic dXNlcjpzZWNyZXQtYXV0aA=="
SECRET_COOKIE = "session=secret-cookie-4711"
MARKER = "marker-value-93a1"
SECRETS = (SECRET_AUTH, "dXNlcjpzZWNyZXQtYXV0aA", "secret-cookie-4711", MARKER)
HDRS = ("Authorization: " + SECRET_AUTH + "\r\nCookie: " + SECRET_COOKIE +
        "\r\nX-Marker: " + MARKER + "\r\n").encode()


def exchange(h, data, tls=True, timeout=5.0):
    """Send raw bytes on a fresh connection; return (responses, closed_by_server)."""
    if tls:
        s = h.tls_socket(timeout=timeout)
    else:
        s = socket.create_connection(("127.0.0.1", h.http_port), timeout=timeout)
    try:
        s.sendall(data)
        s.settimeout(timeout)
        chunks, closed = [], False
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    closed = True
                    break
                chunks.append(b)
        except (socket.timeout, TimeoutError):
            pass
        except (ConnectionResetError, OSError):
            closed = True
        return b"".join(chunks), closed
    finally:
        s.close()


def statuses(resp):
    """Status codes of every response in a byte stream (heads start with HTTP/1.1)."""
    out = []
    for part in resp.split(b"HTTP/1.1 ")[1:]:
        code = part[:3]
        if code.isdigit():
            out.append(int(code))
    return out


# Every shape: (name, raw request). Each carries Authorization, Cookie and a marker header.
HOSTILE = [
    ("non-ascii target", b"GET /x\xe9 HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("control in target", b"GET /a\x01b HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("bad version", b"GET /x HTTP/1.1 extra\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("no version", b"GET /x\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("bad method", b"G\xc3\x89T /x HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("garbage", b"\x00\x01" + HDRS + b"\r\n"),
    ("bare LF", b"GET /x\xff HTTP/1.1\nHost: localhost\n" + HDRS.replace(b"\r\n", b"\n") + b"\n"),
    ("HTTP/9", b"GET /x HTTP/9.9\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("obs-fold", b"GET /x HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n" + HDRS + b"\r\n"),
    ("space before colon", b"GET /x HTTP/1.1\r\nHost : localhost\r\n" + HDRS + b"\r\n"),
    ("huge head", b"GET /x HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"X-Big: " + b"a" * 20000 +
     b"\r\n\r\n"),
    ("too many fields", b"GET /x HTTP/1.1\r\nHost: localhost\r\n" +
     b"".join(b"X-F%d: v\r\n" % i for i in range(70)) + HDRS + b"\r\n"),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n" + HDRS + b"\r\n"),
    ("absolute other host", b"GET http://other.example/x HTTP/1.1\r\nHost: localhost\r\n" +
     HDRS + b"\r\n"),
    ("target with CR", b"GET /x\rAuthorization: " + SECRET_AUTH.encode() + b" HTTP/1.1\r\n" +
     HDRS + b"\r\n"),
]


def test_no_header_value_reaches_any_log_line(hellod):
    for name, raw in HOSTILE:
        exchange(hellod, raw, timeout=3)
        exchange(hellod, raw, tls=False, timeout=3)
    # every shape was answered or at least logged; wait for the last access line
    assert wait_for(lambda: len(hellod.access()) >= len(HOSTILE), 10)
    text = hellod.log_path.read_bytes().decode("utf-8", errors="replace")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the log:\n{text[-3000:]}"
    for line in hellod.access():
        if line["path"] is None:
            continue
        assert "\r" not in line["path"] and "\n" not in line["path"] and " " not in line["path"]
    assert hellod.get("/healthz")[0] == 200


SMUGGLING = [
    ("two Content-Length", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
     b"Content-Length: 38\r\n\r\nGET /nothere HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("CL with TE", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /nothere HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("TE with space before colon", b"POST /helloworld HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("TE not chunked", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
     b"\r\n0\r\n\r\n"),
    ("TE identity", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
     b"Content-Length: 3\r\n\r\nabc"),
    ("TE twice", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("CL with sign", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
    ("CL list", b"POST /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"),
    ("space before colon", b"GET /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello"),
    ("obs-fold hides CL", b"GET /helloworld HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n"
     b"Content-Length: 38\r\n\r\nGET /nothere HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("fold on first line", b"GET /helloworld HTTP/1.1\r\n Host: x\r\n\r\n"),
    ("65 fields hide TE", b"GET /helloworld HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-F%d: v\r\n" % i for i in range(64)) +
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("name,raw", SMUGGLING, ids=[n for n, _ in SMUGGLING])
def test_smuggling_shapes_get_400_and_close(hellod, name, raw):
    resp, closed = exchange(hellod, raw)
    assert statuses(resp) == [400], (name, resp[:400])
    assert b"\r\nConnection: close\r\n" in resp
    assert closed, f"{name}: connection left open"
    line = hellod.wait_log("request", status=400)
    assert line["route"] == "invalid"
    m = hellod.metrics()
    assert m["hellod_framing_rejects_total"] >= 1 or name in ("TE not chunked",)


def test_equal_duplicate_content_length_and_64_fields_are_fine(hellod):
    resp, _ = exchange(hellod, b"POST /helloworld HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
    assert statuses(resp) == [405]
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(62))
    resp, _ = exchange(hellod, b"GET /helloworld HTTP/1.1\r\nHost: x\r\n" + fields +
                       b"Connection: close\r\n\r\n")
    assert statuses(resp) == [200]


def test_htab_inside_a_value_is_accepted(hellod):
    resp, _ = exchange(hellod, b"GET /helloworld HTTP/1.1\r\nHost: x\r\nX-Request-Id: tab-ok\r\n"
                                b"User-Agent: a\tb\r\nX-T:\tlead and\ttrail\t\r\nConnection: close\r\n\r\n")
    assert statuses(resp) == [200], resp[:300]
    line = hellod.wait_log("request", request_id="tab-ok")
    assert line["user_agent"] == "a\tb"
    # a tab anywhere else is still refused
    resp, _ = exchange(hellod, b"GET /hello\tworld HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(resp) == [400]
    resp, _ = exchange(hellod, b"GET /helloworld HTTP/1.1\r\nHost\t: x\r\n\r\n")
    assert statuses(resp) == [400]


def test_options_asterisk_and_foreign_absolute_form_are_answered_and_logged(hellod):
    resp, closed = exchange(hellod, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Request-Id: opt-star\r\n\r\n")
    assert statuses(resp) == [200] and b"\r\nAllow: GET, HEAD\r\n" in resp and closed
    line = hellod.wait_log("request", request_id="opt-star")
    assert line["path"] == "*" and line["route"] == "server" and line["method"] == "OPTIONS"

    resp, closed = exchange(hellod, b"GET * HTTP/1.1\r\nHost: x\r\nX-Request-Id: get-star\r\n\r\n")
    assert statuses(resp) == [400]
    hellod.wait_log("request", request_id="get-star", status=400)

    resp, closed = exchange(hellod, b"GET http://other.example/helloworld HTTP/1.1\r\nHost: x\r\n"
                                    b"X-Request-Id: abs-other\r\n\r\n")
    assert statuses(resp) == [421] and closed
    body = json.loads(resp.partition(b"\r\n\r\n")[2])
    assert body["error"]
    line = hellod.wait_log("request", request_id="abs-other")
    assert line["status"] == 421 and line["path"] == "http://other.example/helloworld"

    # absolute-form naming this server's port is served (RFC 9112 3.2.2)
    target = b"https://localhost:%d/helloworld" % hellod.tls_port
    resp, _ = exchange(hellod, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(resp) == [200]
    # keep-alive: a normal request, then OPTIONS * on the same connection, both answered
    resp, _ = exchange(hellod, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(resp) == [200, 200]


def test_oversized_head_gets_431_and_a_bad_byte_400(hellod):
    resp, closed = exchange(hellod, b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nX-Big: " +
                            b"a" * 20000 + b"\r\n\r\n")
    assert statuses(resp) == [431] and closed
    hellod.wait_log("request", status=431)
    resp, _ = exchange(hellod, b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nX-Bad: \x01\r\n\r\n")
    assert statuses(resp) == [400]


def test_fifo_certificate_cannot_block_sighup_or_sigterm(hellod_factory, tmp_path):
    crt, key = make_cert(tmp_path, "fifo-test")
    live_crt = tmp_path / "live.crt"
    shutil.copy(crt, live_crt)
    h = hellod_factory("--cert", str(live_crt), "--key", str(key), "--shutdown-timeout", "3s")
    h.ca = str(crt)
    live_crt.unlink()
    os.mkfifo(live_crt)
    h.signal(signal.SIGHUP)
    line = h.wait_log("certificate reload failed; keeping the old one")
    assert "not a regular file" in line["error"]
    assert h.get("/helloworld")[0] == 200  # still serving, on the old certificate
    h.signal(signal.SIGHUP)  # and again: nothing is stuck
    assert wait_for(lambda: len([l for l in h.lines()
                                 if l["msg"] == "certificate reload failed; keeping the old one"]) >= 2, 5)
    h.signal(signal.SIGTERM)
    assert h.proc.wait(10) == 0  # before the fix: blocked in open() for ever
    h.wait_log("stopped")


def test_fifo_certificate_refused_at_start(hellod_factory, tmp_path):
    crt, key = make_cert(tmp_path, "fifo-start")
    fifo = tmp_path / "fifo.crt"
    os.mkfifo(fifo)
    h = hellod_factory("--cert", str(fifo), "--key", str(key), start=False)
    with pytest.raises(AssertionError):
        h.start(timeout=5)
    assert h.proc.wait(5) != 0
    assert "not a regular file" in h.text()
