"""Slowloris: idle and half-sent connections beyond --threads cannot starve a new request.

civetweb gives each connection a worker thread for its whole life, so the
defence is the time limits: a stalled TLS handshake or request head holds a
thread for at most --request-timeout, an idle keep-alive connection for at
most --keepalive-timeout. The first test holds three times --threads such
connections and a new request must still be served promptly. The second is
the control: with long timeouts the same probe is starved, which shows the
probe can fail and that the timeouts are what protects."""
import socket
import threading
import time

from hellodlib import wait_for

THREADS = 4


def attack(h, stop):
    """Open 3*THREADS hostile connections of five kinds; return them (and a
    trickler thread that keeps the half-sent heads dribbling)."""
    socks = []
    # 1. TCP connect to the TLS port, never start the handshake
    for _ in range(4):
        socks.append(socket.create_connection(("127.0.0.1", h.tls_port), timeout=5))
    # 2. finish the TLS handshake, never send a request
    for _ in range(2):
        socks.append(h.tls_socket())
    # 3. TLS, then a request head sent one byte at a time, never finished
    half = [h.tls_socket() for _ in range(3)]
    for s in half:
        s.sendall(b"GET /helloworld HTTP/1.1\r\n")
    socks += half
    # 4. idle on the plain-HTTP port
    for _ in range(2):
        socks.append(socket.create_connection(("127.0.0.1", h.http_port), timeout=5))
    # 5. a keep-alive connection that goes idle after one request
    ka = h.conn()
    ka.request("GET", "/healthz")
    ka.getresponse().read()
    if ka.sock is not None:  # hellod may already have shed it (most threads are held)
        socks.append(ka.sock)

    def trickle():
        while not stop.is_set():
            for s in half:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            stop.wait(0.2)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    return socks, t, ka


def probe(h, timeout):
    """Time until a fresh connection gets its /helloworld answer, or None."""
    t0 = time.monotonic()
    try:
        status, _, body = h.get("/helloworld", timeout=timeout)
    except (OSError, TimeoutError):
        return None
    if status != 200 or body != b'{"message":"Hello World"}':
        return None
    return time.monotonic() - t0


def run_attack(h, probe_timeout):
    stop = threading.Event()
    socks, t, ka = attack(h, stop)
    assert len(socks) >= 3 * THREADS - 1  # the keep-alive one may have been shed
    time.sleep(0.3)  # let the workers pick the hostile connections up
    try:
        return probe(h, probe_timeout)
    finally:
        stop.set()
        t.join(2)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        ka.close()


def test_idle_and_half_sent_connections_cannot_starve_new_ones(hellod_factory):
    # the per-address cap off: this test is about the timeouts alone (the
    # attack and the probe share 127.0.0.1; test_hellod_slowclients covers the cap)
    h = hellod_factory("--threads", str(THREADS), "--request-timeout", "1s",
                       "--keepalive-timeout", "1s", "--max-conns-per-addr", "0")
    took = run_attack(h, probe_timeout=10)
    # liveness bound, not a benchmark: every hostile connection is cut after ~1 s,
    # so the probe waits at most a few such rounds
    assert took is not None and took < 8, f"new request starved ({took})"
    assert h.get("/healthz")[0] == 200


def test_control_long_timeouts_do_starve(hellod_factory):
    # No per-address cap: then only the timeouts protect, and 60 s is too long.
    h = hellod_factory("--threads", str(THREADS), "--request-timeout", "60s",
                       "--keepalive-timeout", "60s", "--max-conns-per-addr", "0")
    # (the first byte of a TLS record and nothing more: the kernel hands the
    # connection over (TCP_DEFER_ACCEPT waits for data) and its handshake
    # holds a thread; a full attack handshake would be starved itself)
    idle = [socket.create_connection(("127.0.0.1", h.tls_port), timeout=5)
            for _ in range(THREADS + 2)]
    for s in idle:
        s.sendall(b"\x16")
    time.sleep(0.3)
    try:
        assert probe(h, 3) is None, "the probe got through although every thread was held"
    finally:
        for s in idle:
            s.close()
    # once the hostile connections are gone, service resumes
    assert wait_for(lambda: probe(h, 5), 10)
