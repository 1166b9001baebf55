"""A faithful stand-in for Grafana Loki 2.8's push and query API, for tests.

It behaves as /work/shared/docs/backends.md describes a real Loki: JSON bodies
(optionally gzip/deflate), protobuf + raw snappy bodies (decoded by hand here),
string timestamps, 204 on success, Loki 2.8's validation (missing labels, too
old, too new, line too long, too many label names, "entry too far behind"),
partial 400s that store the valid entries with Loki's exact body format, and the
query side (query_range, labels, label values, series, ready). As real Loki does,
and never more kindly:
  - replays are NOT reliably dropped: "2.8" (the default) drops an exact
    duplicate only while the original is in the stream's head block (the last
    ~256 KiB of the stream, chunk_block_size) or is its last entry; "2.9" and
    "3" store every replay and hide it from log queries only;
  - the per-stream rate limit (3 MB/s, burst 15 MB) stores the entries that fit
    and answers 429 listing at most 10 ignored entries, then "total ignored: N
    out of M";
  - only the LAST stream of a push is reported: an earlier stream's ingester
    error is swallowed (204 when the last stream was fine);
  - the distributor's tenant limit refuses a whole push (429, nothing stored),
    and its validation 400 carries only the last validation message.
Limits are Loki 2.x's defaults (no line size limit, 30 label names);
version="3" takes 3.x's (256 KB lines, 15 label names).
On top of that it can be scripted to fail: 429/500/503 for the next N pushes,
a token-bucket rate limit, slow answers, dropped connections, and "down"
(the listener is closed, so connections are refused).

In-process:
    from receivers.loki import LokiReceiver
    r = LokiReceiver(); r.start(); ... r.url, r.port ...; r.entries(); r.stop()
As a program (the docker e2e runs it as the "loki" service):
    /usr/bin/python3 tests/receivers/loki.py --host 127.0.0.1 --port 0 [--port-file F]
Out of process, /_receiver/ is a small admin API (see _Handler._admin).

Only the standard library and python3-snappy (Debian) are used.
"""

import argparse
import gzip
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import snappy

NS = 1_000_000_000

# Loki 2.x defaults (pkg/validation/limits.go, pkg/ingester).
DEFAULT_LIMITS = {
    "reject_old_samples_max_age_ns": 7 * 24 * 3600 * NS,   # 168h
    "creation_grace_period_ns": 10 * 60 * NS,              # 10m
    "max_line_size": 0,                                    # 0 = unlimited in 2.x (256KB in 3.x)
    "max_label_names_per_series": 30,                      # 15 in 3.x
    "out_of_order_window_ns": 3600 * NS,                   # max_chunk_age (2h) / 2
    "ingestion_burst_bytes": 6 * 1024 * 1024,              # ingestion_burst_size_mb 6
    "max_entries_limit_per_query": 5000,
    "max_returned_errors": 10,                             # ingester max_returned_stream_errors
    "per_stream_rate_bytes": 3 * 1024 * 1024,              # per_stream_rate_limit 3MB
    "per_stream_burst_bytes": 15 * 1024 * 1024,            # per_stream_rate_limit_burst 15MB
    "chunk_block_size": 262144,                            # ingester chunk_block_size: the head block
}
LOKI3_LIMITS = {"max_line_size": 256 * 1024, "max_label_names_per_series": 15}
VERSIONS = ("2.8", "2.9", "3")

LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_VECTOR_RE = re.compile(r"^\s*vector\(\s*[0-9.]+\s*\)(\s*\+\s*vector\(\s*[0-9.]+\s*\))*\s*$")


class BadRequest(Exception):
    """A whole-request 400 (the body could not be read at all)."""


# --- time formatting as Go prints it -------------------------------------------------

def go_time_string(ts_ns):
    """time.Time.String() in UTC: '2026-11-27 20:57:14.967224927 +0000 UTC'."""
    sec, frac = divmod(ts_ns, NS)
    base = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
    if frac:
        base += "." + ("%09d" % frac).rstrip("0")
    return base + " +0000 UTC"


def go_rfc3339(ts_ns):
    """time.Format(time.RFC3339) in UTC: seconds precision, 'Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ns // NS))


# --- labels --------------------------------------------------------------------------

def labels_string(pairs):
    """Loki's labels.String(): {a="1", b="2"} with Go-quoted values."""
    return "{" + ", ".join('%s=%s' % (k, json.dumps(v, ensure_ascii=False)) for k, v in pairs) + "}"


def _read_go_string(s, i):
    """Parse a Go string literal ("..." with escapes, or `raw`) at s[i]; return (value, next)."""
    if i >= len(s):
        raise ValueError("expected a string at col %d" % (i + 1))
    q = s[i]
    if q == "`":
        j = s.find("`", i + 1)
        if j < 0:
            raise ValueError("unterminated raw string")
        return s[i + 1:j], j + 1
    if q != '"':
        raise ValueError("expected '\"' at col %d" % (i + 1))
    out = []
    i += 1
    esc = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
           "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    while i < len(s):
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= len(s):
                break
            n = s[i + 1]
            if n in esc:
                out.append(esc[n])
                i += 2
                continue
            if n in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[n]
                hexs = s[i + 2:i + 2 + width]
                if len(hexs) != width:
                    raise ValueError("bad escape")
                out.append(chr(int(hexs, 16)))
                i += 2 + width
                continue
            raise ValueError("unknown escape sequence")
        out.append(c)
        i += 1
    raise ValueError("unterminated quoted string")


def _skip_ws(s, i):
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def parse_matchers(s, i=0, allow_ops=("=", "!=", "=~", "!~")):
    """Parse '{name<op>"value", ...}' from s[i]; return ([(name, op, value)], next index)."""
    i = _skip_ws(s, i)
    if i >= len(s) or s[i] != "{":
        raise ValueError("expected '{'")
    i += 1
    out = []
    while True:
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == "}":
            return out, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ValueError("unexpected character at col %d" % (i + 1))
        name = m.group(0)
        i = _skip_ws(s, m.end())
        op = None
        for cand in ("=~", "!~", "!=", "="):
            if s.startswith(cand, i):
                op = cand
                break
        if op is None or op not in allow_ops:
            raise ValueError("unexpected operator at col %d" % (i + 1))
        i = _skip_ws(s, i + len(op))
        value, i = _read_go_string(s, i)
        out.append((name, op, value))
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return out, i + 1
        raise ValueError("expected ',' or '}' at col %d" % (i + 1))


def parse_label_string(s):
    """A stream's Prometheus label string → sorted [(name, value)]. ValueError if malformed."""
    matchers, end = parse_matchers(s, 0, allow_ops=("=",))
    if _skip_ws(s, end) != len(s):
        raise ValueError("unexpected trailing characters")
    d = {}
    for name, _, value in matchers:
        d[name] = value
    return sorted(d.items())


# --- protobuf (hand-decoded, as Loki's logproto) ---------------------------------------

def _varint(buf, i):
    result = 0
    shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("unexpected EOF")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift >= 70:
            raise ValueError("integer overflow")


def _fields(buf):
    """Yield (field number, wire type, value) of one message; LEN values are memoryview slices."""
    i = 0
    n = len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ValueError("illegal tag 0 (wire type %d)" % wt)
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            ln, i = _varint(buf, i)
            if ln > n - i:
                raise ValueError("unexpected EOF")
            v = buf[i:i + ln]
            i += ln
        elif wt == 1:
            if i + 8 > n:
                raise ValueError("unexpected EOF")
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            if i + 4 > n:
                raise ValueError("unexpected EOF")
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("illegal wireType %d for field %d" % (wt, field))
        yield field, wt, v


def _signed64(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def decode_push_request(raw):
    """protobuf PushRequest → [(labels string, [(ts_ns, line, metadata dict)])]."""
    streams = []
    mv = memoryview(raw)
    for field, wt, sv in _fields(mv):
        if field != 1:
            continue
        if wt != 2:
            raise ValueError("PushRequest: wrong wireType for field streams")
        labels = ""
        entries = []
        for f2, wt2, v2 in _fields(sv):
            if f2 == 1 and wt2 == 2:
                labels = bytes(v2).decode("utf-8", "replace")
            elif f2 == 2 and wt2 == 2:
                sec = 0
                nanos = 0
                line = b""
                meta = {}
                for f3, wt3, v3 in _fields(v2):
                    if f3 == 1 and wt3 == 2:
                        for f4, wt4, v4 in _fields(v3):
                            if f4 == 1 and wt4 == 0:
                                sec = _signed64(v4)
                            elif f4 == 2 and wt4 == 0:
                                nanos = _signed64(v4)
                    elif f3 == 2 and wt3 == 2:
                        line = v3
                    elif f3 == 3 and wt3 == 2:
                        name = value = ""
                        for f5, wt5, v5 in _fields(v3):
                            if f5 == 1 and wt5 == 2:
                                name = bytes(v5).decode("utf-8", "replace")
                            elif f5 == 2 and wt5 == 2:
                                value = bytes(v5).decode("utf-8", "replace")
                        meta[name] = value
                entries.append((sec * NS + nanos, bytes(line).decode("utf-8", "replace"), meta))
            elif f2 in (1, 2):
                raise ValueError("StreamAdapter: wrong wireType for field %d" % f2)
        streams.append((labels, entries))
    return streams


def decode_json_push(raw):
    """JSON push body → [(labels pairs, [(ts_ns, line, metadata)])]. BadRequest if malformed."""
    prefix = "loghttp.PushRequest.Streams: "
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(prefix + "ReadObjectCB: %s" % e)
    if not isinstance(doc, dict):
        raise BadRequest("ReadObjectCB: expect { or n, but found %s" % type(doc).__name__)
    sl = doc.get("streams")
    if sl is None:
        return []
    if not isinstance(sl, list):
        raise BadRequest(prefix + "ReadArrayCB: expect [ or n")
    out = []
    for st in sl:
        if not isinstance(st, dict):
            raise BadRequest(prefix + "[]*loghttp.Stream: ReadObjectCB: expect { or n")
        labels = st.get("stream", {})
        if labels is None:
            labels = {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Labels: ReadString: expects \" or n")
        values = st.get("values", [])
        if values is None:
            values = []
        if not isinstance(values, list):
            raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: ReadArrayCB: expect [ or n")
        entries = []
        for v in values:
            if not isinstance(v, list) or len(v) not in (2, 3):
                raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: "
                                 "unmarshalerDecoder: Value is array, but can't find closing ']' symbol")
            ts, line = v[0], v[1]
            if not isinstance(ts, str):
                raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: "
                                 "unmarshalerDecoder: Value is string, but can't find closing '\"' symbol")
            if not isinstance(line, str):
                raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: "
                                 "unmarshalerDecoder: expected string for the line")
            try:
                if not re.fullmatch(r"-?[0-9]+", ts):
                    raise ValueError(ts)
                ts_ns = int(ts)
            except ValueError:
                raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: "
                                 "unmarshalerDecoder: strconv.ParseInt: parsing %s: invalid syntax"
                                 % json.dumps(ts))
            meta = {}
            if len(v) == 3:
                if not isinstance(v[2], dict) or not all(isinstance(x, str) for x in v[2].values()):
                    raise BadRequest(prefix + "[]*loghttp.Stream: loghttp.Stream.Values: "
                                     "structured metadata must be an object of strings")
                meta = dict(v[2])
            entries.append((ts_ns, line, meta))
        out.append((sorted(labels.items()), entries))
    return out


# --- the store ---------------------------------------------------------------------

class _Stream:
    __slots__ = ("tenant", "labels", "key", "entries", "seen", "highest", "head", "head_bytes", "last",
                 "tokens", "t")

    def __init__(self, tenant, labels, burst):
        self.tenant = tenant
        self.labels = labels            # sorted [(name, value)]
        self.key = labels_string(labels)
        self.entries = []               # [(ts_ns, line, meta)] in arrival order
        self.seen = set()               # {(ts_ns, line)} ever stored (to count replays)
        self.highest = None             # newest ts_ns seen in this stream
        self.head = set()               # {(ts_ns, line)} in the head block (2.8 drops these replays)
        self.head_bytes = 0
        self.last = None                # the stream's last entry (2.8 drops its replay too)
        self.tokens = float(burst)      # per-stream rate limiter (golang.org/x/time/rate)
        self.t = time.monotonic()


class _Failure:
    def __init__(self, status, body=None, retry_after=None, headers=None):
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.headers = headers or {}


def _loki_body(status, tenant):
    if status == 429:
        return ("Ingestion rate limit exceeded for user %s (limit: 52428 bytes/sec) while attempting "
                "to ingest '60' lines totaling '61440' bytes, reduce log volume or contact your Loki "
                "administrator to see if the limit can be increased" % tenant)
    if status == 500:
        return "rpc error: code = Unknown desc = an error occurred while pushing to ingester"
    if status == 503:
        return "at least 2 live replicas required, could only find 0"
    return "error"


class LokiReceiver:
    """The Loki stand-in. All methods are thread-safe."""

    def __init__(self, host="127.0.0.1", port=0, ready_delay=0.0, limits=None, now=None,
                 tls_cert=None, tls_key=None, client_ca=None, version="2.8", query_status=None):
        """tls_cert/tls_key serve HTTPS; client_ca additionally requires a client
        certificate signed by it (mTLS). version: "2.8", "2.9" or "3" (replay
        handling and default limits, see the module doc). query_status: answer
        every query_range with this status (the query API refused or absent)."""
        if version not in VERSIONS:
            raise ValueError("version must be one of %s" % (VERSIONS,))
        self.version = version
        self._query_status = query_status
        self.host = host
        self._tls = None
        if tls_cert:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self._tls = ctx
        self._want_port = port
        self.port = None
        self.limits = dict(DEFAULT_LIMITS)
        if version == "3":
            self.limits.update(LOKI3_LIMITS)
        if limits:
            self.limits.update(limits)
        self._initial = (dict(self.limits), query_status)
        self._now = now or time.time_ns
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self._ready_at = time.monotonic() + ready_delay
        self._down_timer = None
        self._reset_state()

    # -- lifecycle ------------------------------------------------------------------
    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self._tls else "http", self.host, self.port)

    def start(self):
        """Bind (port 0 → a free port) and serve in a background thread. Returns self."""
        self._listen()
        return self

    def stop(self):
        """Stop serving and close every connection."""
        self._stopping.set()
        with self._lock:
            t = self._down_timer
            self._down_timer = None
        if t:
            t.cancel()
        self._unlisten()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _listen(self):
        receiver = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

            def handle_error(self, request, client_address):
                pass   # failed handshakes and cut connections are expected in tests

        class Handler(_Handler):
            pass
        Handler.receiver = receiver
        port = self.port if self.port is not None else self._want_port
        srv = Server((self.host, port), Handler)
        if self._tls:
            # The handshake runs lazily in the handler thread, not in accept().
            srv.socket = self._tls.wrap_socket(srv.socket, server_side=True,
                                               do_handshake_on_connect=False)
        self.port = srv.server_address[1]
        th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              name="loki-receiver", daemon=True)
        with self._lock:
            self._server = srv
            self._thread = th
            self._stats["listens"] += 1
        th.start()

    def _unlisten(self):
        with self._lock:
            srv, th = self._server, self._thread
            self._server = self._thread = None
            conns = list(self._conns)
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        for c in conns:   # keep-alive connections outlive the listener: cut them
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if th is not None:
            th.join(5)

    # -- scripting ------------------------------------------------------------------
    def fail_next(self, n, status=429, body=None, retry_after=None, headers=None):
        """Answer the next n pushes with status (Loki's body for 429/500/503 unless body is
        given) without storing anything. retry_after adds a Retry-After header (Loki never
        sends one; a proxy might)."""
        with self._lock:
            for _ in range(n):
                self._failures.append(_Failure(status, body, retry_after, headers))

    def fail_for(self, seconds, status=429, body=None, retry_after=None):
        """Answer every push with status for the next `seconds` seconds."""
        with self._lock:
            self._fail_until = (time.monotonic() + seconds, _Failure(status, body, retry_after))

    def drop_next(self, n):
        """Read the next n pushes, then close the connection without answering."""
        with self._lock:
            self._drops += n

    def set_delay(self, seconds):
        """Wait this long before answering each push (slow Loki; clients time out)."""
        with self._lock:
            self._delay = float(seconds)

    def set_rate_limit(self, bytes_per_sec, burst=None):
        """Scripted tenant rate limit (token bucket over line bytes, as Loki's distributor);
        None removes it. A push over the bucket gets Loki's 429 and stores nothing."""
        with self._lock:
            if bytes_per_sec is None:
                self._rate = None
            else:
                burst = int(burst if burst is not None else bytes_per_sec)
                self._rate = {"rate": float(bytes_per_sec), "burst": burst,
                              "tokens": float(burst), "t": time.monotonic()}

    def set_down(self, down, seconds=None):
        """down=True closes the listener (connections are refused) and cuts open
        connections; down=False listens again on the same port. With seconds, come back
        up by itself after that long."""
        with self._lock:
            t = self._down_timer
            self._down_timer = None
            is_down = self._server is None
        if t:
            t.cancel()
        if down and not is_down:
            self._unlisten()
        elif not down and is_down and not self._stopping.is_set():
            self._listen()
        if down and seconds:
            t = threading.Timer(seconds, self.set_down, args=(False,))
            t.daemon = True
            with self._lock:
                self._down_timer = t
            t.start()

    def set_query_status(self, status):
        """Answer every query_range with this status (404: no query API behind the push URL,
        401: the gateway refuses, 503: queriers down); None serves queries again."""
        with self._lock:
            self._query_status = status

    def query_status(self):
        with self._lock:
            return self._query_status

    def set_ready_delay(self, seconds):
        """GET /ready answers 503 for the next `seconds` seconds (Loki's ingester ring warm-up)."""
        with self._lock:
            self._ready_at = time.monotonic() + seconds

    def set_limits(self, **kw):
        """Override validation limits (keys of DEFAULT_LIMITS)."""
        with self._lock:
            for k, v in kw.items():
                if k not in DEFAULT_LIMITS:
                    raise KeyError(k)
                self.limits[k] = v

    def reset(self):
        """Forget everything stored, every scripted failure and every limit or query
        status set since start."""
        with self._lock:
            self._reset_state()
            self.limits = dict(self._initial[0])
            self._query_status = self._initial[1]

    def _reset_state(self):
        self._streams = {}          # (tenant, label key) → _Stream
        self._arrivals = []         # [(stream, ts_ns, line)] in storage order
        self._requests = []         # request log (dicts)
        self._failures = []
        self._fail_until = None
        self._drops = 0
        self._delay = 0.0
        self._rate = None
        self._stats = {"push_requests": 0, "entries_received": 0, "entries_stored": 0,
                       "entries_ignored": 0, "duplicates": 0, "duplicates_dropped": 0,
                       "bytes_received": 0, "query_requests": 0,
                       "connections": 0, "listens": 1 if getattr(self, "_server", None) else 0,
                       "dropped_connections": 0}
        self._status_counts = {}
        self._tls_errors = []

    # -- readback -------------------------------------------------------------------
    def entries(self, tenant=None):
        """Stored entries in storage order: [(labels dict, ts_ns, line)]."""
        with self._lock:
            return [(dict(s.labels), ts, line) for s, ts, line in self._arrivals
                    if tenant is None or s.tenant == tenant]

    def entries_full(self):
        """Stored entries with tenant and structured metadata: list of dicts."""
        with self._lock:
            out = []
            for s, ts, line in self._arrivals:
                out.append({"tenant": s.tenant, "labels": dict(s.labels), "ts": ts, "line": line})
            return out

    def stored_duplicates(self):
        """Extra copies stored: for each (tenant, stream, ts, line) stored k times, k - 1.
        What a metric query (count_over_time) over-counts."""
        with self._lock:
            seen = {}
            for s, ts, line in self._arrivals:
                k = (id(s), ts, line)
                seen[k] = seen.get(k, 0) + 1
            return sum(c - 1 for c in seen.values())

    def count(self):
        """Number of entries stored (stored replays count again, as Loki stores them)."""
        with self._lock:
            return len(self._arrivals)

    def lines(self):
        with self._lock:
            return [line for _, _, line in self._arrivals]

    def requests(self):
        """The push request log: dicts with method, path, status, headers, content_type,
        content_encoding, tenant, bytes, entries, stored, ignored, body (response)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def stats(self):
        with self._lock:
            d = dict(self._stats)
            d["status_counts"] = dict(self._status_counts)
            d["streams"] = len(self._streams)
            d["stored"] = len(self._arrivals)
            d["down"] = self._server is None
            d["tls_errors"] = list(self._tls_errors[-10:])
            return d

    def wait_count(self, n, timeout=30.0):
        """Block until at least n entries are stored; return the count (may be < n on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.count()
            if c >= n or time.monotonic() >= deadline:
                return c
            time.sleep(0.02)

    # -- the push path --------------------------------------------------------------
    def _take_failure(self):
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            if self._fail_until:
                until, f = self._fail_until
                if time.monotonic() < until:
                    return f
                self._fail_until = None
            return None

    def _take_drop(self):
        with self._lock:
            if self._drops > 0:
                self._drops -= 1
                self._stats["dropped_connections"] += 1
                return True
            return False

    def _rate_allow(self, nbytes):
        """Token bucket as golang.org/x/time/rate AllowN; with no scripted rate only the
        burst applies (Loki never admits a push bigger than its burst)."""
        with self._lock:
            if nbytes > self.limits["ingestion_burst_bytes"]:
                return False, int(self.limits["ingestion_burst_bytes"])
            r = self._rate
            if r is None:
                return True, 0
            now = time.monotonic()
            r["tokens"] = min(r["burst"], r["tokens"] + (now - r["t"]) * r["rate"])
            r["t"] = now
            if nbytes > r["burst"] or r["tokens"] < nbytes:
                return False, int(r["rate"])
            r["tokens"] -= nbytes
            return True, 0

    def push(self, streams, tenant, labels_are_strings, rec=None):
        """Apply Loki 2.8's distributor + ingester logic to decoded streams.
        Returns (status, body, counts dict). When entries are stored, rec (the
        request log entry) is logged under the same lock, so a reader that sees
        the entries also sees the request."""
        lim = self.limits
        now = self._now()
        received = sum(len(e) for _, e in streams)
        validation_err = None
        valid = []   # [(labels pairs, [(ts, line, meta)])]
        for labels, entries in streams:
            if not entries:
                continue
            if labels_are_strings:
                try:
                    pairs = parse_label_string(labels)
                except ValueError as e:
                    validation_err = "error parsing labels %s: %s" % (labels, e)
                    continue
            else:
                pairs = labels
            if not pairs:
                validation_err = "error at least one label pair is required per stream"
                continue
            bad_name = [k for k, _ in pairs if not LABEL_NAME_RE.match(k)]
            if bad_name:
                validation_err = "error parsing labels %s: invalid label name %s" % (
                    labels_string(pairs), bad_name[0])
                continue
            key = labels_string(pairs)
            if len(pairs) > lim["max_label_names_per_series"]:
                validation_err = "entry for stream '%s' has %d label names; limit %d" % (
                    key, len(pairs), lim["max_label_names_per_series"])
                continue
            keep = []
            for ts, line, meta in entries:
                if ts < now - lim["reject_old_samples_max_age_ns"]:
                    validation_err = ("entry for stream '%s' has timestamp too old: %s, oldest "
                                      "acceptable timestamp is: %s" % (
                                          key, go_rfc3339(ts),
                                          go_rfc3339(now - lim["reject_old_samples_max_age_ns"])))
                    continue
                if ts > now + lim["creation_grace_period_ns"]:
                    validation_err = "entry for stream '%s' has timestamp too new: %s" % (
                        key, go_rfc3339(ts))
                    continue
                ln = len(line.encode("utf-8"))
                if lim["max_line_size"] and ln > lim["max_line_size"]:
                    validation_err = ("Max entry size '%d' bytes exceeded for stream '%s' while "
                                      "adding an entry with length '%d' bytes" % (
                                          lim["max_line_size"], key, ln))
                    continue
                keep.append((ts, line, meta))
            if keep:
                valid.append((pairs, keep))
        counts = {"received": received, "stored": 0, "ignored": 0, "duplicates": 0}
        if not valid:
            counts["ignored"] = received
            if validation_err:
                return 400, validation_err, counts
            return 204, "", counts
        nbytes = sum(len(line.encode("utf-8")) for _, es in valid for _, line, _ in es)
        nlines = sum(len(es) for _, es in valid)
        ok, limit = self._rate_allow(nbytes)
        if not ok:
            counts["ignored"] = received
            return 429, ("Ingestion rate limit exceeded for user %s (limit: %d bytes/sec) while "
                         "attempting to ingest '%d' lines totaling '%d' bytes, reduce log volume or "
                         "contact your Loki administrator to see if the limit can be increased"
                         % (tenant, limit, nlines, nbytes)), counts
        ingester_err = None
        window = lim["out_of_order_window_ns"]
        with self._lock:
            for pairs, entries in valid:
                skey = (tenant, labels_string(pairs))
                st = self._streams.get(skey)
                if st is None:
                    st = self._streams[skey] = _Stream(tenant, pairs, lim["per_stream_burst_bytes"])
                failed = []
                rate_limited = 0
                # the stream's limiter refills once per push (Loki: rate.Limiter AllowN per entry)
                tnow = time.monotonic()
                st.tokens = min(float(lim["per_stream_burst_bytes"]),
                                st.tokens + (tnow - st.t) * lim["per_stream_rate_bytes"])
                st.t = tnow
                for ts, line, meta in entries:
                    if st.highest is not None and ts < st.highest - window:
                        failed.append((ts, "entry too far behind, oldest acceptable timestamp is: %s"
                                       % go_rfc3339(st.highest - window)))
                        continue
                    nb = len(line.encode("utf-8"))
                    if nb > st.tokens:
                        rate_limited += 1
                        failed.append((ts, "Per stream rate limit exceeded (limit: %dMB/sec) while "
                                       "attempting to ingest for stream '%s' totaling %dB, consider "
                                       "splitting a stream via additional labels or contact your Loki "
                                       "administrator to see if the limit can be increased"
                                       % (lim["per_stream_rate_bytes"] // (1024 * 1024), st.key, nb)))
                        continue
                    st.tokens -= nb
                    k = (ts, line)
                    replay = k in st.seen
                    if replay:
                        counts["duplicates"] += 1
                    if self.version == "2.8" and (k in st.head or k == st.last):
                        counts["dropped_duplicates"] = counts.get("dropped_duplicates", 0) + 1
                    else:
                        st.seen.add(k)
                        st.entries.append((ts, line, meta))
                        self._arrivals.append((st, ts, line))
                        counts["stored"] += 1
                        st.head.add(k)
                        st.head_bytes += nb
                        st.last = k
                        if st.head_bytes >= lim["chunk_block_size"]:
                            st.head = set()   # the head block is cut into a block
                            st.head_bytes = 0
                    if st.highest is None or ts > st.highest:
                        st.highest = ts
                # Loki 2.8/2.9 return the result of the LAST stream only (instance.Push)
                ingester_err = None
                if failed:
                    shown = failed[:lim["max_returned_errors"]]
                    parts = ["entry with timestamp %s ignored, reason: '%s' for stream: %s"
                             % (go_time_string(ts), why, st.key) for ts, why in shown]
                    ingester_err = (429 if rate_limited else 400,
                                    ",\n".join(parts) + ", user '%s', total ignored: %d out of %d"
                                    % (tenant, len(failed), len(entries)))
            self._stats["entries_stored"] += counts["stored"]
            self._stats["duplicates"] += counts["duplicates"]
            self._stats["duplicates_dropped"] += counts.get("dropped_duplicates", 0)
            counts["ignored"] = received - counts["stored"] - counts.get("dropped_duplicates", 0)
            if ingester_err:
                status, body = ingester_err
            elif validation_err:
                status, body = 400, validation_err
            else:
                status, body = 204, ""
            if rec is not None:
                _fill_rec(rec, status, body, counts)
                self._log_request_locked(rec)
                rec["_logged"] = True
        return status, body, counts

    def _log_request(self, rec):
        with self._lock:
            self._log_request_locked(rec)

    def _log_request_locked(self, rec):
        self._requests.append(rec)
        if len(self._requests) > 100000:
            del self._requests[:10000]
        st = rec["status"]
        self._status_counts[st] = self._status_counts.get(st, 0) + 1
        self._stats["push_requests"] += 1
        self._stats["entries_received"] += rec.get("entries", 0)
        self._stats["entries_ignored"] += rec.get("ignored", 0)
        self._stats["bytes_received"] += rec.get("bytes", 0)

    # -- the query path -------------------------------------------------------------
    def query(self, matchers, filters, start, end, limit, direction, tenant=None):
        """Entries of streams matching all matchers with start <= ts < end, the `limit` first
        in `direction`, grouped by stream as Loki returns them."""
        regs = []
        for name, op, value in matchers:
            if op in ("=~", "!~"):
                regs.append((name, op, re.compile("(?s:" + value + ")")))
            else:
                regs.append((name, op, value))
        line_filters = []
        for op, value in filters:
            line_filters.append((op, re.compile(value) if op in ("|~", "!~") else value))
        hits = []
        with self._lock:
            for st in self._streams.values():
                if tenant is not None and st.tenant != tenant:
                    continue
                d = dict(st.labels)
                if not _match(d, regs):
                    continue
                shown = set()
                for ts, line, _ in st.entries:
                    if start <= ts < end and _line_match(line, line_filters):
                        if self.version != "2.8":
                            # 2.9+: a stored replay is hidden from log queries (not from metrics)
                            if (ts, line) in shown:
                                continue
                            shown.add((ts, line))
                        hits.append((ts, st, line))
        hits.sort(key=lambda h: h[0], reverse=(direction == "backward"))
        hits = hits[:limit]
        by_stream = {}
        order = []
        for ts, st, line in hits:
            if id(st) not in by_stream:
                by_stream[id(st)] = (st, [])
                order.append(id(st))
            by_stream[id(st)][1].append([str(ts), line])
        result = [{"stream": dict(by_stream[k][0].labels), "values": by_stream[k][1]} for k in order]
        return result, len(hits)

    def label_names(self, tenant=None):
        with self._lock:
            names = {k for st in self._streams.values()
                     if tenant is None or st.tenant == tenant for k, _ in st.labels}
        return sorted(names)

    def label_values(self, name, tenant=None):
        with self._lock:
            vals = {v for st in self._streams.values()
                    if tenant is None or st.tenant == tenant for k, v in st.labels if k == name}
        return sorted(vals)

    def series(self, matcher_sets, tenant=None):
        out = []
        with self._lock:
            for st in self._streams.values():
                if tenant is not None and st.tenant != tenant:
                    continue
                d = dict(st.labels)
                for ms in matcher_sets:
                    if _match(d, ms):
                        out.append(d)
                        break
        return out

    def ready(self):
        return time.monotonic() >= self._ready_at


def _fill_rec(rec, status, body, counts):
    rec["status"] = status
    rec["body"] = body
    rec.update({"entries": counts.get("received", 0), "stored": counts.get("stored", 0),
                "ignored": counts.get("ignored", 0), "duplicates": counts.get("duplicates", 0)})


def _match(d, matchers):
    for name, op, value in matchers:
        v = d.get(name, "")
        if op == "=" and v != value:
            return False
        if op == "!=" and v == value:
            return False
        if op == "=~" and not value.fullmatch(v):
            return False
        if op == "!~" and value.fullmatch(v):
            return False
    return True


def _line_match(line, filters):
    for op, value in filters:
        if op == "|=" and value not in line:
            return False
        if op == "!=" and value in line:
            return False
        if op == "|~" and not value.search(line):
            return False
        if op == "!~" and value.search(line):
            return False
    return True


def parse_logql(q):
    """A LogQL log query: a stream selector then optional line filters (|= != |~ !~).
    Returns (matchers with compiled regexes, filters). ValueError when unsupported."""
    matchers, i = parse_matchers(q, 0)
    compiled = []
    for name, op, value in matchers:
        if op in ("=~", "!~"):
            compiled.append((name, op, value))
        else:
            compiled.append((name, op, value))
    # Loki: at least one matcher must not match the empty string.
    def empty_ok(op, value):
        if op == "=":
            return value == ""
        if op == "!=":
            return value != ""
        if op == "=~":
            return re.fullmatch("(?s:" + value + ")", "") is not None
        return re.fullmatch("(?s:" + value + ")", "") is None
    if not any(not empty_ok(op, v) for _, op, v in compiled):
        raise ValueError("queries require at least one regexp or equality matcher that does not "
                         "have an empty-compatible value. For instance, app=~\".*\" does not meet "
                         "this requirement, but app=~\".+\" will")
    filters = []
    while True:
        i = _skip_ws(q, i)
        if i >= len(q):
            break
        op = q[i:i + 2]
        if op not in ("|=", "!=", "|~", "!~"):
            raise ValueError("syntax error: unexpected %r (only line filters are supported here)" % q[i:])
        value, i = _read_go_string(q, _skip_ws(q, i + 2))
        filters.append((op, value))
    return compiled, filters


def parse_loki_time(s, default):
    """Loki's query time parameter: integer ns (or s if <= 10 digits), float s, or RFC 3339."""
    if s is None or s == "":
        return default
    if re.fullmatch(r"-?[0-9]+", s):
        v = int(s)
        return v * NS if len(s.lstrip("-")) <= 10 else v
    try:
        return int(float(s) * NS)
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", s)
    if not m:
        raise ValueError("cannot parse %r to a valid timestamp" % s)
    import calendar
    sec = calendar.timegm(time.strptime(m.group(1) + " " + m.group(2), "%Y-%m-%d %H:%M:%S"))
    frac = int((m.group(3) or "0").ljust(9, "0"))
    tz = m.group(4)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        sec -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return sec * NS + frac


# --- HTTP ------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "loki-receiver"
    sys_version = ""
    receiver = None  # set per server

    def log_message(self, fmt, *args):   # quiet
        pass

    def setup(self):
        if hasattr(self.request, "do_handshake"):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ValueError) as e:
                with self.receiver._lock:
                    self.receiver._stats["tls_failures"] = self.receiver._stats.get("tls_failures", 0) + 1
                    self.receiver._tls_errors.append(str(e))
                raise
            self.request.settimeout(None)
        super().setup()
        with self.receiver._lock:
            self.receiver._conns.add(self.connection)
            self.receiver._stats["connections"] += 1

    def finish(self):
        try:
            super().finish()
        finally:
            with self.receiver._lock:
                self.receiver._conns.discard(self.connection)

    # -- helpers
    def _send(self, status, body=b"", ctype="text/plain; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if status != 204 and body:
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _json(self, status, obj):
        self._send(status, json.dumps(obj), "application/json; charset=UTF-8")

    def _error(self, status, msg):
        # Loki answers errors as http.Error does: plain text, newline-terminated.
        self._send(status, msg + "\n")

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # -- routing
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        p = u.path
        r = self.receiver
        tenant = self.headers.get("X-Scope-OrgID")
        if p == "/ready":
            if r.ready():
                self._send(200, "ready\n")
            else:
                self._send(503, "Ingester not ready: waiting for 15s after being ready\n")
        elif p == "/metrics":
            self._send(200, self._metrics(), "text/plain; version=0.0.4; charset=utf-8")
        elif p == "/loki/api/v1/query" and _VECTOR_RE.match((qs.get("query") or [""])[-1]):
            # Grafana's data source health check: vector(1)+vector(1)
            total = sum(float(x) for x in re.findall(r"vector\(\s*([0-9.]+)\s*\)", qs["query"][-1]))
            self._json(200, {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [time.time(), "%g" % total]}]}})
        elif p in ("/loki/api/v1/query_range", "/loki/api/v1/query"):
            self._query(qs, tenant)
        elif p == "/loki/api/v1/status/buildinfo":
            self._json(200, {"version": "2.8.0-receiver", "revision": "", "branch": "",
                             "goVersion": ""})
        elif p == "/loki/api/v1/index/stats":
            st = r.stats()
            self._json(200, {"streams": st["streams"], "chunks": 0, "entries": st["stored"],
                             "bytes": st["bytes_received"]})
        elif p == "/loki/api/v1/labels":
            self._json(200, {"status": "success", "data": r.label_names(tenant)})
        elif p.startswith("/loki/api/v1/label/") and p.endswith("/values"):
            name = urllib.parse.unquote(p[len("/loki/api/v1/label/"):-len("/values")])
            self._json(200, {"status": "success", "data": r.label_values(name, tenant)})
        elif p == "/loki/api/v1/series":
            self._series(qs, tenant)
        elif p.startswith("/_receiver/"):
            self._admin("GET", p, qs, b"")
        elif p == "/loki/api/v1/push":
            self._error(405, "Method Not Allowed")
        else:
            self._error(404, "404 page not found")

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        p = u.path
        if p in ("/loki/api/v1/push", "/api/prom/push"):
            self._push()
            return
        body = self._read_body()
        if p.startswith("/_receiver/"):
            self._admin("POST", p, urllib.parse.parse_qs(u.query), body)
        elif p == "/loki/api/v1/series":
            self._series(urllib.parse.parse_qs(body.decode("utf-8", "replace")),
                         self.headers.get("X-Scope-OrgID"))
        else:
            self._error(404, "404 page not found")

    # -- push
    def _push(self):
        r = self.receiver
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        hdrs = {k: v for k, v in self.headers.items()}
        ctype_full = self.headers.get("Content-Type", "")
        cenc = self.headers.get("Content-Encoding", "")
        tenant_hdr = self.headers.get("X-Scope-OrgID")
        tenant = tenant_hdr or "fake"
        rec = {"method": "POST", "path": self.path, "headers": hdrs, "content_type": ctype_full,
               "content_encoding": cenc, "tenant": tenant_hdr, "bytes": len(raw),
               "entries": 0, "stored": 0, "ignored": 0, "time": time.time(),
               "client_port": self.client_address[1]}
        if r._take_drop():
            rec["status"] = 0
            r._log_request(rec)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        with r._lock:
            delay = r._delay
        if delay > 0:
            r._stopping.wait(delay)
        f = r._take_failure()
        if f is not None:
            body = f.body if f.body is not None else _loki_body(f.status, tenant)
            headers = dict(f.headers)
            if f.retry_after is not None:
                headers["Retry-After"] = str(f.retry_after)
            rec["status"] = f.status
            rec["body"] = body
            r._log_request(rec)
            self._send(f.status, body + "\n" if body else b"", headers=headers)
            return
        status, body, counts = self._decode_and_push(raw, ctype_full, cenc, tenant, rec)
        if not rec.pop("_logged", False):
            _fill_rec(rec, status, body, counts)
            r._log_request(rec)
        if status == 204:
            self._send(204)
        else:
            self._error(status, body)

    def _decode_and_push(self, raw, ctype_full, cenc, tenant, rec):
        r = self.receiver
        try:
            if cenc in ("", "snappy"):
                data = raw
            elif cenc == "gzip":
                try:
                    data = gzip.decompress(raw)
                except (OSError, EOFError, zlib.error) as e:
                    raise BadRequest("gzip: invalid header" if isinstance(e, OSError) else str(e))
            elif cenc == "deflate":
                try:
                    data = zlib.decompress(raw, -15)   # Go's flate.NewReader: raw DEFLATE
                except zlib.error as e:
                    raise BadRequest("flate: corrupt input (%s)" % e)
            else:
                raise BadRequest("Content-Encoding %s not supported" % json.dumps(cenc))
            mtype = ctype_full.split(";")[0].strip().lower()
            if not mtype:
                raise BadRequest("mime: no media type")
            rec["decoded_bytes"] = len(data)    # what the JSON or protobuf decoder reads
            if mtype == "application/json":
                rec["format"] = "json"
                streams = decode_json_push(data)
                return r.push(streams, tenant, labels_are_strings=False, rec=rec)
            rec["format"] = "protobuf"
            try:
                pb = snappy.uncompress(data)
            except Exception:
                raise BadRequest("snappy: corrupt input")
            rec["decoded_bytes"] = len(pb)
            try:
                streams = decode_push_request(pb)
            except ValueError as e:
                raise BadRequest("proto: %s" % e)
            return r.push(streams, tenant, labels_are_strings=True, rec=rec)
        except BadRequest as e:
            return 400, str(e), {}

    # -- query
    def _query(self, qs, tenant):
        r = self.receiver
        with r._lock:
            r._stats["query_requests"] += 1
        qst = r.query_status()
        if qst is not None:
            self._error(qst, {401: "no org id", 404: "404 page not found",
                              503: "too many unhealthy instances in the ring"}.get(qst, "error"))
            return

        def one(k, d=None):
            v = qs.get(k)
            return v[-1] if v else d
        q = one("query")
        if not q:
            self._error(400, "parse error : syntax error: unexpected $end")
            return
        try:
            matchers, filters = parse_logql(q)
        except (ValueError, re.error) as e:
            self._error(400, "parse error at line 1, col 1: %s" % e)
            return
        now = time.time_ns()
        try:
            if self.path.startswith("/loki/api/v1/query_range"):
                end = parse_loki_time(one("end"), now)
                since = one("since")
                start = parse_loki_time(one("start"), end - (3600 * NS if not since else 0))
            else:
                end = parse_loki_time(one("time"), now) + 1
                start = 0
            limit = int(one("limit", "100"))
        except ValueError as e:
            self._error(400, str(e))
            return
        direction = (one("direction", "backward") or "backward").lower()
        if direction not in ("forward", "backward"):
            self._error(400, "invalid direction %r" % direction)
            return
        maxl = r.limits["max_entries_limit_per_query"]
        if limit > maxl:
            self._error(400, "max entries limit per query exceeded, limit > max_entries_limit (%d > %d)"
                        % (limit, maxl))
            return
        if end < start:
            self._error(400, "end timestamp must not be before or equal to start time")
            return
        result, n = r.query(matchers, filters, start, end, limit, direction, tenant)
        self._json(200, {"status": "success", "data": {
            "resultType": "streams", "result": result,
            "stats": {"summary": {"totalEntriesReturned": n}}}})

    def _series(self, qs, tenant):
        sets = []
        try:
            for m in qs.get("match[]", []) + qs.get("match", []):
                ms, _ = parse_matchers(m, 0)
                sets.append([(n, op, re.compile("(?s:" + v + ")") if op in ("=~", "!~") else v)
                             for n, op, v in ms])
        except (ValueError, re.error) as e:
            self._error(400, "parse error: %s" % e)
            return
        if not sets:
            self._error(400, "match[] is required")
            return
        self._json(200, {"status": "success", "data": self.receiver.series(sets, tenant)})

    def _metrics(self):
        s = self.receiver.stats()
        lines = [
            "# TYPE loki_distributor_lines_received_total counter",
            "loki_distributor_lines_received_total %d" % s["entries_received"],
            "# TYPE loki_distributor_bytes_received_total counter",
            "loki_distributor_bytes_received_total %d" % s["bytes_received"],
            "# TYPE loki_ingester_entries_stored_total counter",
            "loki_ingester_entries_stored_total %d" % s["entries_stored"],
            "# TYPE loki_discarded_samples_total counter",
            "loki_discarded_samples_total %d" % s["entries_ignored"],
            "# TYPE loki_ingester_duplicates_total counter",
            "loki_ingester_duplicates_total %d" % s["duplicates"],
            "# TYPE loki_ingester_streams gauge",
            "loki_ingester_streams %d" % s["streams"],
            "# TYPE loki_request_total counter",
        ]
        for st, n in sorted(s["status_counts"].items()):
            lines.append('loki_request_total{route="loki_api_v1_push",status_code="%d"} %d' % (st, n))
        return "\n".join(lines) + "\n"

    # -- admin
    def _admin(self, method, path, qs, body):
        """/_receiver/ API for out-of-process control (JSON in, JSON out):
        GET  state                     counters, status counts, down, stored
        GET  entries?offset=&limit=    stored entries [{tenant,labels,ts,line}] in storage order
        GET  requests?offset=&limit=   push request log
        POST reset                     forget everything
        POST fail   {n, status, body?, retry_after?}  next n pushes fail
        POST fail_for {seconds, status, body?, retry_after?}
        POST drop   {n}                next n pushes: connection closed without answer
        POST delay  {seconds}          slow answers
        POST down   {seconds}          refuse connections for that long (then come back)
        POST ready  {delay}            /ready is 503 for that long
        POST rate_limit {bytes_per_sec, burst}  (bytes_per_sec null removes it)
        POST limits {key: value}       override limits (keys of DEFAULT_LIMITS, e.g.
                                       per_stream_rate_bytes, per_stream_burst_bytes)
        POST query_status {status}     every query_range answers status (null: serve)
        """
        r = self.receiver
        name = path[len("/_receiver/"):].strip("/")
        try:
            args = json.loads(body) if body.strip() else {}
        except ValueError:
            self._error(400, "bad JSON")
            return

        def qint(k, d):
            v = qs.get(k)
            return int(v[-1]) if v else d
        try:
            if method == "GET" and name == "state":
                self._json(200, r.stats())
            elif method == "GET" and name == "entries":
                off, lim = qint("offset", 0), qint("limit", 1 << 62)
                self._json(200, r.entries_full()[off:off + lim])
            elif method == "GET" and name == "requests":
                off, lim = qint("offset", 0), qint("limit", 1 << 62)
                self._json(200, r.requests()[off:off + lim])
            elif method == "POST" and name == "reset":
                r.reset()
                self._json(200, {"ok": True})
            elif method == "POST" and name == "fail":
                r.fail_next(int(args.get("n", 1)), int(args.get("status", 429)), args.get("body"),
                            args.get("retry_after"))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "fail_for":
                r.fail_for(float(args["seconds"]), int(args.get("status", 429)), args.get("body"),
                           args.get("retry_after"))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "drop":
                r.drop_next(int(args.get("n", 1)))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "delay":
                r.set_delay(float(args.get("seconds", 0)))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "down":
                self._json(200, {"ok": True})
                secs = float(args.get("seconds", 5))
                threading.Thread(target=r.set_down, args=(True, secs), daemon=True).start()
            elif method == "POST" and name == "ready":
                r.set_ready_delay(float(args.get("delay", 0)))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "rate_limit":
                r.set_rate_limit(args.get("bytes_per_sec"), args.get("burst"))
                self._json(200, {"ok": True})
            elif method == "POST" and name == "query_status":
                st = args.get("status")
                r.set_query_status(int(st) if st is not None else None)
                self._json(200, {"ok": True})
            elif method == "POST" and name == "limits":
                r.set_limits(**args)
                self._json(200, {"ok": True})
            else:
                self._error(404, "unknown admin endpoint %s %s" % (method, name))
        except (KeyError, ValueError, TypeError) as e:
            self._error(400, "bad admin request: %s" % e)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Loki push/query stand-in for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--ready-delay", type=float, default=0.0,
                    help="GET /ready answers 503 for this many seconds after start")
    ap.add_argument("--max-line-size", type=int, default=None,
                    help="0 = unlimited (Loki 2.x's default; 3.x: 262144)")
    ap.add_argument("--loki-version", choices=VERSIONS, default="2.8",
                    help="replay handling and default limits of this Loki version")
    ap.add_argument("--query-status", type=int, default=None,
                    help="answer every query_range with this status (the query API refused)")
    ap.add_argument("--max-entries-limit", type=int,
                    default=DEFAULT_LIMITS["max_entries_limit_per_query"])
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="its private key (PEM)")
    ap.add_argument("--client-ca", help="require client certificates signed by this CA (mTLS)")
    args = ap.parse_args(argv)
    limits = {"max_entries_limit_per_query": args.max_entries_limit}
    if args.max_line_size is not None:
        limits["max_line_size"] = args.max_line_size
    r = LokiReceiver(args.host, args.port, ready_delay=args.ready_delay, limits=limits,
                     tls_cert=args.tls_cert, tls_key=args.tls_key, client_ca=args.client_ca,
                     version=args.loki_version, query_status=args.query_status)
    r.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % r.port)
        os.replace(tmp, args.port_file)
    print(r.port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    r.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
