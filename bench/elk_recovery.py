"""elk recovery benchmark: how long logship takes to store N lines in Elasticsearch when 10 % of the
_bulk items are answered 429, the cluster is away for 30 s and logship is restarted twice (kill -9,
then SIGTERM during the outage), next to a clean run of the same lines (issue 8). The time after the
outage is split: the wait for logship's first try after it (a full-jitter backoff draw whose ceiling
doubled through the outage: random, up to tens of seconds) and the time to store the rest."""
# Not a test: prints seconds, and checks only that everything was stored exactly once (the
# figure means nothing otherwise). The cluster is tests/receivers/elasticsearch.py (Python, slower
# than build/bench/sink, so the clean figure is not bench/elk.py's throughput). Default backoff
# (0.5 s doubling to 5 min), as shipped. Knobs: BENCH_RECOVERY_LINES (100000),
# BENCH_RECOVERY_OUTAGE (30), BENCH_RECOVERY_SEED (1), LOGSHIP_BIN.
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from lib.logshipproc import LogshipProcess  # noqa: E402
from receivers.elasticsearch import ElasticsearchReceiver  # noqa: E402

LOGSHIP = os.environ.get("LOGSHIP_BIN", os.path.join(ROOT, "build", "logship"))
LINES = int(os.environ.get("BENCH_RECOVERY_LINES", "100000"))
OUTAGE = float(os.environ.get("BENCH_RECOVERY_OUTAGE", "30"))
SEED = int(os.environ.get("BENCH_RECOVERY_SEED", "1"))
BASE = ["--batch-wait", "50ms", "--shutdown-timeout", "5s", "--label", "service=hello"]


def write_file(path, n):
    t0 = int(time.time()) - 3600
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i // 1000)) +
                                ".%03dZ" % (i % 1000), "level": "info", "seq": i,
                                "msg": "request %d done" % i}, separators=(",", ":")) + "\n")


def wait(fn, timeout):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def proc(workdir, src, es):
    return LogshipProcess(LOGSHIP, workdir, ["--source", src, "--elasticsearch", es.url] + BASE,
                          ready=None, stop_timeout=30, make_spool=True, merge_stdout=True,
                          new_port_per_start=True, stderr_name="logship.log")


def run(d, es, rough):
    src = os.path.join(d, "rough.log" if rough else "clean.log")
    write_file(src, LINES)
    ls = proc(os.path.join(d, "rough" if rough else "clean"), src, es)
    t0 = time.monotonic()
    ls.start()
    t_up = t0
    if rough:
        wait(lambda: es.count() >= LINES * 0.2, 300)
        ls.kill9()
        ls.start()
        wait(lambda: es.count() >= LINES * 0.4, 300)
        es.set_down(True)
        t_down = time.monotonic()
        time.sleep(OUTAGE / 2)
        ls.stop()
        ls.start()
        time.sleep(max(0.0, t_down + OUTAGE - time.monotonic()))
        c_up = es.count()
        es.set_down(False)
        t_up = time.monotonic()
        wait(lambda: es.count() > c_up, 900)
    t_first = time.monotonic()        # the first answer that stored something after the outage
    wait(lambda: es.count() >= LINES, 900)
    t_done = time.monotonic()
    ls.stop()
    seqs = sorted(s["seq"] for _, _, s in es.docs())
    ok = seqs == list(range(LINES))
    return t_done - t0, t_done - t_up, t_first - t_up, ok


def main():
    if not os.access(LOGSHIP, os.X_OK):
        print("elk recovery benchmark: SKIPPED (%s not built yet)" % LOGSHIP)
        return
    d = tempfile.mkdtemp(prefix="bench-elk-recovery-", dir=os.environ.get("BENCH_TMP", "/tmp"))
    es = ElasticsearchReceiver().start()
    try:
        for sub in ("clean", "rough"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        clean, _, _, ok1 = run(d, es, False)
        es.reset()
        es.add_rule(429, fraction=0.10, seed=random.Random(SEED).randint(1, 1 << 30))
        total, after, reconnect, ok2 = run(d, es, True)
        statuses = es.stats()["statuses"]
        print("elk recovery benchmark: %d lines to the test Elasticsearch receiver, default backoff" % LINES)
        print("  clean run                                      %6.1f s%s" % (clean, "" if ok1 else "  (NOT exactly once!)"))
        print("  10 %% item 429s, %.0f s outage, kill -9, SIGTERM  %6.1f s in all, %.1f s after the outage%s"
              % (OUTAGE, total, after, "" if ok2 else "  (NOT exactly once!)"))
        print("    of which %.1f s until the first store (the outage's backoff draw, random), %.1f s to "
              "store the rest (%.1fx the clean run)" % (reconnect, after - reconnect, (after - reconnect) / clean))
        print("  item statuses: %s" % json.dumps(statuses, sort_keys=True))
    finally:
        es.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
