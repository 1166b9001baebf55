"""hellodlib: helpers for hellod's integration tests (start the real binary on free ports, talk real TLS to it).

A uniquely named module (not conftest) so that test files can import it even
when pytest collects several areas, each with its own conftest.py, in one run."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HELLOD = os.environ.get("HELLOD_BIN") or os.path.join(ROOT, "build", "hellod")

# Every access line carries these (the list).
ACCESS_FIELDS = ("ts", "level", "service", "msg", "method", "path", "status", "bytes",
                 "duration_ms", "remote", "request_id", "user_agent", "tls")


def free_port():
    """A port that was free a moment ago (hellod itself binds the TLS port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, interval=0.02):
    """Poll pred until it returns something truthy; return that, or None on timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


class Hellod:
    """One hellod process: stdout (the JSON log) goes to a file the test can read."""

    def __init__(self, tmp_path, args=(), env=None, name="hellod"):
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state = self.dir / "state"
        self.log_path = self.dir / "stdout.log"
        self.err_path = self.dir / "stderr.log"
        self.args = list(args)
        self.env = env
        self.proc = None
        self.tls_port = None
        self.http_port = None
        self.health_port = None
        self.ca = None  # CA file clients trust; default: the self-signed certificate

    # --- process ---------------------------------------------------------
    def start(self, timeout=15.0):
        for _attempt in range(3):
            http_port = free_port()
            argv = [HELLOD, "--bind", "127.0.0.1", "--tls-port", "0",
                    "--http-port", str(http_port), "--state-dir", str(self.state),
                    "--shutdown-timeout", "5s"]
            if "--health-port" not in self.args:  # never the fixed default 9102 in tests
                argv += ["--health-port", str(free_port()), "--health-bind", "127.0.0.1"]
            argv += self.args
            env = dict(os.environ)
            env.update(self.env or {})
            with open(self.log_path, "ab") as out, open(self.err_path, "ab") as err:
                self.proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
            if "--tls-port" in self.args:  # fixed port (e.g. when "listening" is filtered out)
                self.tls_port = int(self.args[self.args.index("--tls-port") + 1])
                self.http_port = http_port
                if wait_for(lambda: self._accepting() or self.proc.poll() is not None, timeout) \
                        and self.proc.poll() is None:
                    return self
                continue
            line = wait_for(lambda: self.find("listening") or self.proc.poll() is not None,
                            timeout)
            if isinstance(line, dict):
                self.tls_port = line["tls_port"]
                self.http_port = line.get("http_port")
                self.health_port = line.get("health_port")
                return self
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError("hellod did not log 'listening' in time:\n" + self.text())
            # exited: maybe the HTTP port was taken meanwhile; try another
        raise AssertionError("hellod failed to start:\n" + self.text() + self.err_path.read_text())

    def _accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.tls_port), timeout=1).close()
            return True
        except OSError:
            return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # --- logs ------------------------------------------------------------
    def text(self):
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def lines(self):
        """Every complete log line, parsed; a line that is not JSON fails the test."""
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        out = []
        for raw in data.split(b"\n")[:-1]:  # the last piece is incomplete or empty
            text = raw.decode("utf-8")  # strict: the log must be valid UTF-8
            out.append(json.loads(text))
        return out

    def find(self, msg, **fields):
        for line in self.lines():
            if line.get("msg") == msg and all(line.get(k) == v for k, v in fields.items()):
                return line
        return None

    def access(self):
        return [l for l in self.lines() if l.get("msg") == "request"]

    def wait_log(self, msg, timeout=10.0, **fields):
        line = wait_for(lambda: self.find(msg, **fields), timeout)
        assert line, f"no log line {msg!r} {fields} in:\n{self.text()}"
        return line

    # --- TLS clients -----------------------------------------------------
    @property
    def cert(self):
        return str(self.state / "hellod-selfsigned.crt")

    def client_ctx(self, cafile=None):
        ctx = ssl.create_default_context(cafile=cafile or self.ca or self.cert)
        ctx.check_hostname = True
        return ctx

    def conn(self, timeout=10.0, ctx=None):
        return http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=timeout,
                                           context=ctx or self.client_ctx())

    def get(self, path, method="GET", headers=None, body=None, timeout=10.0):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def tls_socket(self, timeout=10.0, ctx=None):
        raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=timeout)
        return (ctx or self.client_ctx()).wrap_socket(raw, server_hostname="localhost")

    def metrics(self):
        status, _, body = self.get("/metrics")
        assert status == 200
        return parse_metrics(body.decode())


def parse_metrics(text):
    """{'name{labels}': value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def raw_exchange(sock, data, timeout=5.0):
    """Send bytes, read until the server closes or stops sending; return the bytes."""
    sock.settimeout(timeout)
    if data:
        sock.sendall(data)
    chunks = []
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            chunks.append(b)
    except (socket.timeout, ConnectionResetError, ssl.SSLError):
        pass
    return b"".join(chunks)


def check_access_line(line):
    for f in ACCESS_FIELDS:
        assert f in line, f"access line lacks {f}: {line}"
    assert line["service"] == "hellod"
    assert isinstance(line["status"], int)
    assert isinstance(line["bytes"], int)
    assert isinstance(line["duration_ms"], (int, float))
    assert isinstance(line["tls"], bool)
    assert line["ts"].endswith("Z") and len(line["ts"]) == 27, line["ts"]
