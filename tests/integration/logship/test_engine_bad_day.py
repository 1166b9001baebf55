"""logship's engine on a bad day (issue 9 items 1, 4, 6; issue 8 item 7): a full spool filesystem
is backpressure that recovers without a restart, /healthz says "stuck" when it never recovers,
idle admin connections cannot starve probes, an unwritable spool directory exits 2 at once, and
`hellod | logship -` ships hellod's last line after a Ctrl-C to both.

The disk-full tests mount small tmpfs filesystems, so they need root (CI runs as root)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from logship_harness import REPO, metric_sum, write_lines
from lib.logshipproc import wait_for

HELLOD_BIN = os.environ.get("HELLOD_BIN", os.path.join(REPO, "build", "hellod"))

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="mounts a small tmpfs to fill the disk: needs root")


def loki_args(loki, *extra):
    return ["--loki", loki.url] + list(extra)


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs mounted on <tmp>/w/spool (the logship work dir's spool)."""
    work = tmp_path / "w"
    mnt = work / "spool"
    mnt.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    yield work
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path):
    """Write zeros to path until the filesystem is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError:
                break
    with open(path, "ab", buffering=0) as f:   # the last partial block too
        while True:
            try:
                if f.write(b"\0" * 512) == 0:
                    break
                n += 512
            except OSError:
                break
    return n


def status(ls, path):
    return requests.get(ls.url(path), timeout=5).status_code


def assert_all_lines(loki, n):
    got = sorted(json.loads(line)["i"] for line in loki.lines())
    assert len(set(got)) == n, "stored %d distinct of %d" % (len(set(got)), n)
    assert set(got) == set(range(n))


@needs_root
def test_disk_full_is_backpressure_then_all_delivered(loki, make_logship, small_fs):
    """More input than the 4 MiB filesystem holds, backend down: reading pauses (nothing lost),
    /ready is 503, the refused writes are counted; when the backend comes back, acknowledged
    segments are deleted, space returns and every line arrives without a restart."""
    loki.set_down(True)
    path = str(small_fs.parent / "big.log")
    n = 40_000
    write_lines(path, 0, n, pad=100, mode="w")          # ~9 MB, more than twice the filesystem
    # The cap is far above the filesystem: the disk fills first (the case).
    ls = make_logship(loki_args(loki), ["--source", path, "--spool-max-bytes", "64MiB",
                                        "--batch-bytes", "256KiB"], workdir=small_fs)
    ls.wait_metric("logship_spool_write_errors_total", 1, timeout=60, reason="nospace")
    assert status(ls, "/ready") == 503
    assert status(ls, "/healthz") == 200        # a down backend is not "stuck"
    read1 = ls.metric("logship_source_lines_total")
    time.sleep(1.0)
    assert ls.metric("logship_source_lines_total") <= read1 + 1, "reading paused"
    assert ls.metric("logship_spool_blocked") == 1
    assert read1 < n
    loki.set_down(False)
    loki.wait_count(n, timeout=120)
    assert_all_lines(loki, n)
    wait_for(lambda: status(ls, "/ready") == 200, 10, "ready again", ls)
    m = ls.metrics()
    assert metric_sum(m, "logship_spool_dropped_total") == 0
    assert metric_sum(m, "logship_spool_blocked") == 0
    log = ls.log()
    assert "filesystem full" in log and "reading resumed" in log
    assert ls.stop() == 0


@needs_root
def test_disk_full_then_kill9_and_restart_still_recovers(loki, make_logship, small_fs):
    """Killed while the disk is full of its own unsent spool: the restarted process starts paused
    (it leaves the free blocks to cursor writes), and when the backend returns every line
    arrives (the file source re-reads what never reached the spool)."""
    loki.set_down(True)
    path = str(small_fs.parent / "big.log")
    n = 30_000
    write_lines(path, 0, n, pad=100, mode="w")
    args = ["--source", path, "--spool-max-bytes", "64MiB", "--batch-bytes", "256KiB"]
    ls = make_logship(loki_args(loki), args, workdir=small_fs)
    ls.wait_metric("logship_spool_write_errors_total", 1, timeout=60, reason="nospace")
    ls.kill9()
    ls.start()
    ls.wait_metric("logship_spool_write_errors_total", 1, timeout=30, reason="nospace")
    assert status(ls, "/ready") == 503
    loki.set_down(False)
    loki.wait_count(n, timeout=120)
    assert_all_lines(loki, n)
    assert ls.stop() == 0


@needs_root
def test_disk_filled_by_another_file_then_freed_flows_without_restart(loki, make_logship, small_fs):
    """Someone else fills the spool's filesystem: reading pauses, /ready 503, and after
    --stall-timeout /healthz says stuck (a restart may help an orchestrator); deleting the file
    lets everything flow again in the same process."""
    path = str(small_fs.parent / "app.log")
    write_lines(path, 0, 1000, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path, "--stall-timeout", "3s"],
                      workdir=small_fs)
    loki.wait_count(1000, timeout=30)
    filler = os.path.join(ls.spool, "filler")
    fill(filler)
    write_lines(path, 1000, 5000)
    ls.wait_metric("logship_spool_write_errors_total", 1, timeout=30, reason="nospace")
    assert status(ls, "/ready") == 503
    r = None

    def stuck():
        nonlocal r
        r = requests.get(ls.url("/healthz"), timeout=5)
        return r.status_code == 503
    wait_for(stuck, 30, "/healthz 503 while the disk stays full", ls)
    body = r.json()
    assert body["status"] == "stuck" and "full" in body["reason"], body
    assert loki.count() < 6000
    os.unlink(filler)
    loki.wait_count(6000, timeout=60)
    assert_all_lines(loki, 6000)
    wait_for(lambda: status(ls, "/healthz") == 200 and status(ls, "/ready") == 200, 15,
             "healthy and ready again", ls)
    assert ls.metric("logship_spool_dropped_total") == 0
    assert ls.stop() == 0


def test_unwritable_spool_exits_2_with_path_and_reason(logship_bin, tmp_path):
    """A spool path under a regular file, a directory logship may not write (as user nobody),
    and a read-only filesystem: exit 2 at once with the path and the reason, instead of
    retrying forever."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [([], str(afile / "spool"), "Not a directory"), ([], str(afile), "Not a directory")]
    pub = None
    if os.geteuid() == 0 and shutil.which("setpriv"):
        pub = tempfile.mkdtemp(prefix="logship-perm-")       # /tmp: reachable by nobody
        os.chmod(pub, 0o755)
        os.mkdir(os.path.join(pub, "spool"), 0o755)
        with open(os.path.join(pub, "in.log"), "w"):
            pass
        os.chmod(os.path.join(pub, "in.log"), 0o644)
        cases.append((["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
                      os.path.join(pub, "spool"), "Permission denied"))
    ro = tmp_path / "ro"
    if os.geteuid() == 0:
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)],
                          capture_output=True).returncode == 0:
            cases.append(([], str(ro), "Read-only file system"))
        else:
            ro = None
    else:
        ro = None
    try:
        for prefix, spool, reason in cases:
            src = tmp_path / "in.log"
            src.write_text("")
            if prefix:
                src = os.path.join(pub, "in.log")
                if not os.access(logship_bin, os.X_OK) or not world_x(logship_bin):
                    continue
            t0 = time.monotonic()
            r = subprocess.run(prefix + [logship_bin, "--source", str(src), "--loki",
                                         "http://127.0.0.1:9", "--spool-dir", spool,
                                         "--metrics-addr", "none"],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            assert r.returncode == 2, (spool, r.returncode, r.stderr)
            assert time.monotonic() - t0 < 10
            assert spool in r.stderr and reason in r.stderr, r.stderr
            assert len(r.stderr.splitlines()) <= 3, r.stderr
    finally:
        if ro is not None:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)
        if pub is not None:
            shutil.rmtree(pub, ignore_errors=True)


def world_x(path):
    """Whether user nobody can run path (every directory on the way searchable)."""
    p = os.path.abspath(path)
    while True:
        if not os.stat(p).st_mode & 0o001:
            return False
        parent = os.path.dirname(p)
        if parent == p:
            return True
        p = parent


def test_idle_admin_connections_do_not_starve_probes(loki, make_logship, tmp_path):
    """150 idle connections (more than the listener keeps open) and 5 that trickle a request
    byte by byte: /healthz still answers within 1 s, every time."""
    path = str(tmp_path / "app.log")
    write_lines(path, 0, 10, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path])
    socks = []
    stop = threading.Event()
    try:
        for _ in range(150):
            socks.append(socket.create_connection(("127.0.0.1", ls.port), timeout=5))
        trick = [socket.create_connection(("127.0.0.1", ls.port), timeout=5) for _ in range(5)]
        socks.extend(trick)

        def trickle():
            req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
            i = 0
            while not stop.is_set() and i < len(req):
                for s in trick:
                    try:
                        s.send(req[i:i + 1])
                    except OSError:
                        pass
                i += 1
                stop.wait(0.2)
        th = threading.Thread(target=trickle, daemon=True)
        th.start()
        time.sleep(0.5)
        worst = 0.0
        for _ in range(10):
            t0 = time.monotonic()
            r = requests.get(ls.url("/healthz"), timeout=1)
            worst = max(worst, time.monotonic() - t0)
            assert r.status_code == 200
            time.sleep(0.2)
        print("worst /healthz time with 155 hostile connections: %.3f s" % worst)
    finally:
        stop.set()
        for s in socks:
            s.close()
    assert ls.stop() == 0


def test_admin_http_answers(loki, make_logship, tmp_path):
    """The admin listener's small HTTP surface: GET and HEAD on the three paths (a query string
    ignored), 404 elsewhere, 405 for other methods, 400 for garbage, and each answer closes."""
    path = str(tmp_path / "app.log")
    write_lines(path, 0, 10, mode="w")
    ls = make_logship(loki_args(loki), ["--source", path])
    r = requests.get(ls.url("/metrics?x=1"), timeout=5)
    assert r.status_code == 200 and "logship_spool_bytes" in r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert r.headers["Connection"] == "close"
    h = requests.head(ls.url("/healthz"), timeout=5)
    assert h.status_code == 200 and h.content == b"" and h.headers["Content-Length"] == "3"
    assert requests.get(ls.url("/ready"), timeout=5).text == "ready\n"
    assert requests.get(ls.url("/nope"), timeout=5).status_code == 404
    p = requests.post(ls.url("/healthz"), data=b"x", timeout=5)
    assert p.status_code == 405 and p.headers["Allow"] == "GET, HEAD"
    with socket.create_connection(("127.0.0.1", ls.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    assert ls.stop() == 0


def test_ctrl_c_to_hellod_pipe_logship_ships_hellods_last_line(loki, logship_bin, tmp_path):
    """`hellod | logship -` and SIGINT to both (a terminal's Ctrl-C goes to the process
    group): logship reads stdin to its end, so hellod's shutdown lines arrive in Loki."""
    if not os.access(HELLOD_BIN, os.X_OK):
        pytest.skip("hellod not built: %s" % HELLOD_BIN)
    state = tmp_path / "state"
    state.mkdir()
    spool = tmp_path / "spool"
    hellod = subprocess.Popen(
        [HELLOD_BIN, "--state-dir", str(state), "--bind", "127.0.0.1", "--tls-port", "0",
         "--http-port", "0", "--health-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
    pgid = hellod.pid
    err = open(tmp_path / "logship.stderr", "wb")
    ls = subprocess.Popen(
        [logship_bin, "-", "--loki", loki.url, "--label", "service=hellod", "--spool-dir",
         str(spool), "--metrics-addr", "none", "--batch-wait", "50ms"],
        stdin=hellod.stdout, stderr=err, process_group=pgid)
    hellod.stdout.close()
    try:
        wait_for(lambda: loki.count() >= 1, 30, "hellod's start lines in Loki")
        os.killpg(pgid, signal.SIGINT)
        assert hellod.wait(timeout=30) == 0
        assert ls.wait(timeout=30) == 0
    finally:
        for p in (hellod, ls):
            if p.poll() is None:
                p.kill()
                p.wait()
        err.close()
    entries = loki.entries()
    assert entries and all(lab.get("service") == "hellod" for lab, _, _ in entries)
    msgs = [json.loads(line).get("msg", "") for _, _, line in entries]
    # hellod's shutdown lines, written after the SIGINT, and its very last one.
    assert "shutdown started" in msgs, msgs
    assert msgs[-1] == "stopped", msgs[-5:]
