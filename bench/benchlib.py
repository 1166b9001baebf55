"""benchlib: shared helpers for the benchmarks: CPU time from /proc, free ports, log generation, the sink."""
# Benchmarks are not tests: nothing here asserts; it measures and prints.
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import http.client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH_BUILD = os.path.join(ROOT, "build", "bench")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def descendants(pid):
    """pid and all its descendant pids (from /proc/*/stat ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """Sum of utime+stime (seconds) of the given processes (all their threads)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK


def tree_cpu(roots):
    pids = []
    for r in roots:
        pids.extend(descendants(r))
    return cpu_seconds(pids)


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def stop(proc, sig=signal.SIGTERM, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def child_rusage_cmd(argv, stdout=subprocess.DEVNULL, stdin=None):
    """Run argv; return (cpu seconds of the child, wall seconds, stdout bytes or None)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=stdout, stdin=stdin)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    return ru.ru_utime + ru.ru_stime, wall, p.returncode


# --- access-log lines like hellod's -------------------------------------------

_PATHS = ["/helloworld"] * 8 + ["/healthz", "/metrics", "/readyz", "/nope"]
_UAS = ["curl/7.88.1", "Go-http-client/1.1", "kube-probe/1.28", "wrk"]


def access_line(ts_ns, rnd, extra=""):
    """One JSON access-log line in hellod's shape (about 220 bytes); extra is
    inserted verbatim before the closing brace (e.g. ',"bench_id":1')."""
    sec, ns = divmod(ts_ns, 1_000_000_000)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%06dZ" % (ns // 1000)
    path = _PATHS[rnd.randrange(len(_PATHS))]
    status = 404 if path == "/nope" else 200
    level = "warn" if status >= 400 else "info"
    return ('{"ts":"%s","level":"%s","service":"hellod","method":"GET",'
            '"path":"%s","status":%d,"bytes":%d,"duration_ms":%.3f,"remote":"10.0.%d.%d",'
            '"request_id":"%016x","user_agent":"%s"%s}\n') % (
        ts, level, path, status, 25 if status == 200 else 21, rnd.random() * 2,
        rnd.randrange(256), rnd.randrange(1, 255), rnd.getrandbits(64), _UAS[rnd.randrange(len(_UAS))], extra)


def generate_file(path, n, seed=42):
    """Write n lines ending at about now (1 line per 10 µs); returns total bytes."""
    rnd = random.Random(seed)
    start = time.time_ns() - n * 10_000
    total = 0
    with open(path, "w") as f:
        chunk = []
        for i in range(n):
            chunk.append(access_line(start + i * 10_000, rnd))
            if len(chunk) == 10000:
                s = "".join(chunk)
                total += len(s)
                f.write(s)
                chunk = []
        if chunk:
            s = "".join(chunk)
            total += len(s)
            f.write(s)
    return total


# --- the sink ------------------------------------------------------------------

class Sink:
    """bench/sink.c run as a child, pinned to `cpu`."""

    def __init__(self, workdir, cpu="1"):
        self.port_file = os.path.join(workdir, "sink.port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpu, os.path.join(BENCH_BUILD, "sink"), "--port-file", self.port_file])
        end = time.time() + 10
        while not os.path.exists(self.port_file):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("sink did not start")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"
        self._conn = None

    def _req(self, method, path):
        for _ in range(2):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self._conn.request(method, path)
                r = self._conn.getresponse()
                return r.read()
            except (OSError, http.client.HTTPException):
                self._conn = None
        raise RuntimeError("sink not answering")

    def stats(self):
        return json.loads(self._req("GET", "/_sink/stats"))

    def reset(self):
        self._req("POST", "/_sink/reset")

    def stop(self):
        stop(self.proc)


# --- sink capacity alone (its headroom) ------------------------------------------

def loki_protobuf(lines, labels='{service="hellod", level="info"}'):
    """A snappy-compressed PushRequest with one stream holding lines (list of str), encoded by the
    tests' encoder (tests/lib/lokipb.py)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from lib.lokipb import encode_push
    t = time.time_ns()
    return encode_push([(labels, [(t + i, ln.rstrip("\n")) for i, ln in enumerate(lines)])])


def sink_capacity(sink, seconds=2.0, batch=4000):
    """Push one pre-encoded 1 MiB-ish batch repeatedly; return (lines/s of sink CPU, pusher wall rate)."""
    rnd = random.Random(7)
    lines = [access_line(time.time_ns(), rnd) for _ in range(batch)]
    body = loki_protobuf(lines)
    sink.reset()
    c = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
    cpu0 = sink.stats()["cpu_s"]
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        c.request("POST", "/loki/api/v1/push", body, {"Content-Type": "application/x-protobuf"})
        c.getresponse().read()
        n += batch
    wall = time.monotonic() - t0
    st = sink.stats()
    c.close()
    cpu = st["cpu_s"] - cpu0
    sink.reset()
    return (st["loki_entries"] / cpu if cpu > 0 else float("inf")), n / wall, st["loki_entries"] == n
