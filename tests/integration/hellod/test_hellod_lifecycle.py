"""hellod's process lifecycle: flags and exit codes, SIGTERM draining, the shutdown deadline."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from hellodlib import HELLOD, ROOT, parse_metrics, raw_exchange, wait_for


def run(args, env=None, timeout=10):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([HELLOD] + args, capture_output=True, text=True, env=e, timeout=timeout)


@pytest.mark.parametrize("args,env", [
    (["--tls-port", "70000"], None),
    (["--tls-port", "abc"], None),
    (["--threads", "0"], None),
    (["--request-timeout", "soon"], None),
    (["--max-request-size", "12 parsecs"], None),
    (["--log-level", "chatty"], None),
    (["--bind", "not-an-address"], None),
    (["--cert", "/tmp/only-cert.pem"], None),
    (["--no-such-flag"], None),
    (["stray-argument"], None),
    (["--http-port", "9443", "--tls-port", "9443"], None),
    ([], {"HELLOD_TLS_PORT": "-1"}),
    ([], {"HELLOD_KEEPALIVE_TIMEOUT": "forever"}),
])
def test_bad_config_exits_2_with_one_line(args, env):
    r = run(args, env)
    assert r.returncode == 2, (args, env, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), r.stderr
    assert r.stdout == ""


def test_help_and_version():
    r = run(["--help"])
    assert r.returncode == 0
    for flag in ("--tls-port", "--http-port", "--bind", "--cert", "--key", "--state-dir",
                 "--threads", "--log-file", "--log-level", "--shutdown-timeout",
                 "--max-request-size", "--request-timeout", "--keepalive-timeout"):
        assert flag in r.stdout, flag
    assert "HELLOD_TLS_PORT" in r.stdout
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("hellod ")


def test_options_md_matches_the_option_table():
    """service/OPTIONS.md is generated from the same table as --help."""
    r = run(["--help-markdown"])
    assert r.returncode == 0
    with open(os.path.join(ROOT, "service", "OPTIONS.md")) as f:
        doc = f.read()
    assert r.stdout.strip() in doc, "regenerate: build/hellod --help-markdown (see OPTIONS.md)"


def test_env_equivalents(hellod_factory):
    h = hellod_factory(env={"HELLOD_THREADS": "7", "HELLOD_HSTS_MAX_AGE": "60"})
    assert h.find("starting")["threads"] == 7
    assert h.get("/healthz")[1]["Strict-Transport-Security"] == "max-age=60"
    # the command line wins over the environment
    h2 = hellod_factory("--threads", "9", env={"HELLOD_THREADS": "7"})
    assert h2.find("starting")["threads"] == 9


def test_start_line_has_config_and_no_secrets(hellod):
    start = hellod.find("starting")
    for k in ("tls_port", "http_port", "bind", "threads", "log_level", "shutdown_timeout_ms",
              "max_request_size", "request_timeout_ms", "keepalive_timeout_ms", "version"):
        assert k in start, k
    key = open(os.path.join(hellod.state, "hellod-selfsigned.key")).read()
    body = key.split("-----")[2].strip().splitlines()[0]
    assert body not in hellod.text()


def test_port_in_use_is_a_clear_error(hellod, tmp_path):
    r = run(["--bind", "127.0.0.1", "--tls-port", str(hellod.tls_port), "--http-port", "0",
             "--state-dir", str(tmp_path / "s")])
    assert r.returncode not in (0, 2)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    err = [l for l in lines if l["msg"] == "cannot start server"]
    assert err and err[0]["level"] == "error" and str(hellod.tls_port) in err[0]["error"]


def test_sigterm_idle_exits_0(hellod):
    assert hellod.stop() == 0
    hellod.wait_log("shutdown started", signal="SIGTERM")
    assert hellod.find("stopped")


def test_sigint_exits_0(hellod):
    hellod.signal(signal.SIGINT)
    assert hellod.proc.wait(10) == 0
    hellod.wait_log("shutdown started", signal="SIGINT")


def inflight(h, conn):
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    return parse_metrics(r.read().decode())["hellod_http_requests_in_flight"]


def test_sigterm_drains_slow_inflight_request(hellod):
    # A keep-alive connection opened before shutdown, to watch /readyz.
    k = hellod.conn()
    k.request("GET", "/readyz")
    assert k.getresponse().read() == b'{"status":"ready"}'

    # The slow request: head sent, body half sent. hellod reads the whole
    # body before it answers, so the request stays in flight until we finish.
    s = hellod.tls_socket()
    s.sendall(b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: slow-one\r\n"
              b"Content-Length: 10\r\n\r\nhello")
    assert wait_for(lambda: inflight(hellod, k) >= 2, 5), "slow request never in flight"

    hellod.signal(signal.SIGTERM)
    hellod.wait_log("shutdown started")
    assert hellod.wait_log("listening stopped")["sockets"] == 2  # TLS and plain HTTP

    # /readyz on the existing connection now says 503 and closes it
    k.request("GET", "/readyz")
    r = k.getresponse()
    assert r.status == 503 and r.getheader("Connection") == "close"
    r.read()
    k.close()

    # listening stopped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hellod.tls_port), timeout=2).close()

    # still alive while the request is unfinished
    time.sleep(0.5)
    assert hellod.proc.poll() is None

    resp = raw_exchange(s, b"world")
    s.close()
    assert resp.startswith(b"HTTP/1.1 200 "), resp[:200]
    assert resp.endswith(b'{"message":"Hello World"}')
    assert b"Connection: close" in resp

    assert hellod.proc.wait(10) == 0
    line = hellod.find("request", request_id="slow-one")
    assert line and line["status"] == 200
    stopped = hellod.find("stopped")
    assert stopped and stopped["abandoned"] == 0


def test_shutdown_deadline_when_a_client_hangs(hellod_factory):
    h = hellod_factory("--shutdown-timeout", "1s", "--request-timeout", "30s")
    s = h.tls_socket()
    s.sendall(b"GET /helloworld HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhel")
    k = h.conn()
    assert wait_for(lambda: inflight(h, k) >= 2, 5)
    k.close()
    t0 = time.monotonic()
    h.signal(signal.SIGTERM)
    code = h.proc.wait(10)
    took = time.monotonic() - t0
    assert took < 4, f"took {took:.1f}s with a 1 s deadline"
    assert code == 0
    h.wait_log("shutdown deadline near; abandoning requests")
    s.close()
