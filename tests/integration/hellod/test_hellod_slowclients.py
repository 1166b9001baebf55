"""Slow clients from one address (idle, trickling, idle keep-alive, reopened as hellod closes them) cannot starve others.

Runs tests/lib/slowclients.py briefly. Availability is asserted loosely (the
bench reports the real figure); the probes come from another loopback
address, as a real client would."""
import json
import os
import subprocess
import sys

from hellodlib import ROOT

HARNESS = os.path.join(ROOT, "tests", "lib", "slowclients.py")
THREADS = 8


def run_harness(h, *args, duration=10):
    argv = [sys.executable, HARNESS, "--host", "127.0.0.1", "--port", str(h.tls_port), "--tls",
            "--insecure", "--probe-source", "127.0.0.9", "--duration", str(duration)] + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_one_address_holding_3x_threads_cannot_starve_others(hellod_factory):
    h = hellod_factory("--threads", str(THREADS))
    out = run_harness(h, "--mode", "mixed", "--per-source", str(3 * THREADS),
                      "--sources", "127.0.0.2",
                      "--probe-url", f"https://127.0.0.1:{h.tls_port}/helloworld")
    assert out["probes"] >= 10
    # loose: the bench measures the real figure (>= 99 %)
    assert out["ratio"] >= 0.8, out
    m = h.metrics()
    assert m["hellod_connections_refused_total"] >= 1  # the cap did the work
    assert h.find("connection refused: per-address limit reached")
    # the health listener answers the probes' twin on its own threads
    out = run_harness(h, "--mode", "mixed", "--per-source", str(3 * THREADS),
                      "--sources", "127.0.0.3",
                      "--probe-url", f"http://127.0.0.1:{h.health_port}/healthz", duration=6)
    assert out["ratio"] >= 0.8, out


def test_harness_refuses_non_loopback_targets():
    r = subprocess.run([sys.executable, HARNESS, "--host", "192.0.2.1", "--port", "443",
                        "--probe-url", "https://192.0.2.1/", "--duration", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "loopback" in r.stderr
