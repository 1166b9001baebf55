#!/usr/bin/env python3
"""slowclients: a bounded slow-client attack on a loopback HTTP(S) server, measuring whether fresh requests still get answers.

Attack connections (per source address, --per-source of them) are held open
and reopened as the server closes them, at a bounded rate:
  idle       connect and send nothing (not even a TLS ClientHello);
  trickle    finish the TLS handshake (with --tls), send a request line, then
             one header byte every --trickle-interval seconds, never ending the head;
  keepalive  send one complete request, read the answer, then sit idle on the
             kept-alive connection;
  mixed      the three in turn.
Meanwhile a probe every --probe-interval seconds opens a fresh connection from
--probe-source, asks for --probe-url and counts it answered when a complete
response arrives within --probe-timeout seconds.

Loopback only (127.0.0.0/8, ::1): anything else is refused with exit status 2.
Bounded: at most 4096 attack connections per source, 64 sources, 600 s.
At the end it prints one JSON line:
  {"probes":N,"answered":K,"ratio":K/N,"p50_ms":..,"p90_ms":..,"max_ms":..,
   "attack_opened":..,"attack_reset":..,"attack_open_max":..,"mode":..,...}

  python3 tests/lib/slowclients.py --host 127.0.0.1 --port 8443 --tls --mode mixed \\
      --per-source 96 --sources 127.0.0.2 --duration 60 \\
      --probe-url https://127.0.0.1:8443/helloworld --probe-source 127.0.0.9 --insecure
"""
import argparse
import asyncio
import ipaddress
import json
import resource
import ssl
import sys
import time
import urllib.parse

MAX_PER_SOURCE = 4096
MAX_SOURCES = 64
MAX_DURATION = 600.0


def loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


def tls_ctx(insecure, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Stats:
    def __init__(self):
        self.opened = 0
        self.reset = 0       # connect refused/reset, or closed before it was ever used
        self.open_now = 0
        self.open_max = 0
        self.probes = 0
        self.answered = 0
        self.lat = []
        self.probe_errors = {}

    def conn_up(self):
        self.opened += 1
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)

    def conn_down(self):
        self.open_now -= 1


class Bucket:
    """The first burst connections at once, then at most rate new ones a second (per source),
    so reopening stays bounded."""

    def __init__(self, rate, burst):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = burst
        self.next = time.monotonic()

    async def take(self, deadline):
        if self.burst > 0:
            self.burst -= 1
            return
        now = time.monotonic()
        if self.next < now:
            self.next = now
        wait = self.next - now
        self.next += self.interval
        if wait > 0:
            await asyncio.sleep(min(wait, max(0.0, deadline - now)))


async def wait_closed(reader, deadline):
    """Read (discarding) until the peer closes or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(4096), max(0.05, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return
        except (ConnectionError, OSError, ssl.SSLError):
            return
        if not data:
            return


def request(host, path):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowclients\r\n\r\n" % (path, host)).encode()


async def attacker(a, mode, src, bucket, stats, deadline, ctx):
    """One attack slot: hold a connection of this mode, reopen it when the server closes it."""
    while time.monotonic() < deadline:
        await bucket.take(deadline)
        if time.monotonic() >= deadline:
            return
        use_tls = a.tls and mode != "idle"
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx if use_tls else None,
                                        server_hostname=a.server_name if use_tls else None,
                                        local_addr=(src, 0)),
                timeout=max(0.1, min(10.0, deadline - time.monotonic())))
        except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
            stats.reset += 1
            await asyncio.sleep(0.05)
            continue
        stats.conn_up()
        try:
            if mode == "idle":
                await wait_closed(reader, deadline)
            elif mode == "trickle":
                writer.write(b"GET / HTTP/1.1\r\n")
                await writer.drain()
                while time.monotonic() < deadline:
                    try:
                        data = await asyncio.wait_for(reader.read(4096), a.trickle_interval)
                        if not data:
                            break
                    except asyncio.TimeoutError:
                        writer.write(b"X")
                        await writer.drain()
            else:  # keepalive
                writer.write(request(a.host, "/healthz"))
                await writer.drain()
                # the answer, then idle until the server closes the connection
                await wait_closed(reader, deadline)
        except (ConnectionError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            stats.reset += 1
        finally:
            stats.conn_down()
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - closing a broken transport
                pass


async def probe_once(a, url, ctx, stats):
    stats.probes += 1
    t0 = time.monotonic()
    host = url.hostname
    port = url.port or (443 if url.scheme == "https" else 80)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query

    async def go():
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ctx if url.scheme == "https" else None,
            server_hostname=a.server_name if url.scheme == "https" else None,
            local_addr=(a.probe_source, 0) if a.probe_source else None)
        try:
            writer.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                          "User-Agent: slowclients-probe\r\n\r\n" % (path, url.netloc)).encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            return status
        finally:
            writer.close()

    try:
        status = await asyncio.wait_for(go(), a.probe_timeout)
    except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError, ValueError,
            asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        k = type(e).__name__
        stats.probe_errors[k] = stats.probe_errors.get(k, 0) + 1
        return
    if 200 <= status < 500:
        stats.answered += 1
        stats.lat.append((time.monotonic() - t0) * 1000.0)
    else:
        k = "status_%d" % status
        stats.probe_errors[k] = stats.probe_errors.get(k, 0) + 1


async def prober(a, stats, deadline):
    url = urllib.parse.urlsplit(a.probe_url)
    ctx = tls_ctx(a.insecure, a.cafile) if url.scheme == "https" else None
    tasks = []
    await asyncio.sleep(a.warmup)
    while time.monotonic() < deadline:
        tasks.append(asyncio.ensure_future(probe_once(a, url, ctx, stats)))
        await asyncio.sleep(a.probe_interval)
    if tasks:
        await asyncio.gather(*tasks)


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))], 1)


async def run(a):
    stats = Stats()
    t_end = time.monotonic() + a.duration
    modes = ["idle", "trickle", "keepalive"] if a.mode == "mixed" else [a.mode]
    ctx = tls_ctx(a.insecure, a.cafile) if a.tls else None
    tasks = []
    for src in a.sources:
        bucket = Bucket(a.reopen_rate, a.per_source)
        for i in range(a.per_source):
            tasks.append(asyncio.ensure_future(
                attacker(a, modes[i % len(modes)], src, bucket, stats, t_end, ctx)))
    tasks.append(asyncio.ensure_future(prober(a, stats, t_end)))
    await asyncio.gather(*tasks)
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true", help="attack connections speak TLS (idle ones never start it)")
    p.add_argument("--server-name", default="localhost", help="SNI for TLS connections")
    p.add_argument("--mode", choices=["idle", "trickle", "keepalive", "mixed"], default="mixed")
    p.add_argument("--per-source", type=int, default=10, help="attack connections held per source address")
    p.add_argument("--sources", default="127.0.0.1", help="comma-separated loopback source addresses")
    p.add_argument("--duration", type=float, default=10.0, help="seconds (at most 600)")
    p.add_argument("--reopen-rate", type=float, default=4.0,
                   help="new attack connections a second per source (after the initial burst)")
    p.add_argument("--trickle-interval", type=float, default=3.0)
    p.add_argument("--probe-url", required=True)
    p.add_argument("--probe-source", default=None, help="source address of the probes")
    p.add_argument("--probe-timeout", type=float, default=2.0)
    p.add_argument("--probe-interval", type=float, default=0.25)
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of attack before the first probe")
    p.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    p.add_argument("--cafile", default=None)
    a = p.parse_args(argv)

    a.sources = [s.strip() for s in a.sources.split(",") if s.strip()]
    url = urllib.parse.urlsplit(a.probe_url)
    targets = [a.host, url.hostname or ""] + a.sources + ([a.probe_source] if a.probe_source else [])
    bad = [t for t in targets if not loopback(t)]
    if bad:
        print("slowclients: loopback addresses only, refusing %s" % ", ".join(bad), file=sys.stderr)
        return 2
    if not (0 < a.per_source <= MAX_PER_SOURCE) or not (0 < len(a.sources) <= MAX_SOURCES) or \
            not (0 < a.duration <= MAX_DURATION) or a.probe_interval <= 0:
        print("slowclients: out of bounds (per-source 1..%d, sources 1..%d, duration 0..%d s)"
              % (MAX_PER_SOURCE, MAX_SOURCES, MAX_DURATION), file=sys.stderr)
        return 2
    # one descriptor per attack connection, plus probes
    need = a.per_source * len(a.sources) + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    a.warmup = min(a.warmup, a.duration / 2)

    stats = asyncio.run(run(a))
    out = {
        "probes": stats.probes,
        "answered": stats.answered,
        "ratio": round(stats.answered / stats.probes, 4) if stats.probes else None,
        "p50_ms": percentile(stats.lat, 50),
        "p90_ms": percentile(stats.lat, 90),
        "max_ms": round(max(stats.lat), 1) if stats.lat else None,
        "probe_timeout_s": a.probe_timeout,
        "probe_errors": stats.probe_errors,
        "attack_opened": stats.opened,
        "attack_reset": stats.reset,
        "attack_open_max": stats.open_max,
        "mode": a.mode,
        "per_source": a.per_source,
        "sources": len(a.sources),
        "duration_s": a.duration,
    }
    print(json.dumps(out, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
