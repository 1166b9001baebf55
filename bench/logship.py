"""logship benchmark: 1,000,000 access-log lines from a file to a local Loki-protocol sink; floors; append->ack latency."""
# Not a test: it prints figures next to floors measured in the same run and the
# targets of issue 3. Also imported by elk.py for the shared runner.
#
# logship is pinned to core 0; the sink (bench/sink.c) and the pacer to core 1.
# CPU figures are utime+stime of logship (all threads) from /proc/<pid>/stat,
# peak RSS is its VmHWM. Latency: the pacer appends lines carrying
# "bench_wt":<unix ns> at a steady rate; the sink times each line from that write
# to the arrival of the request holding it (the sink answers at once, so arrival
# stands in for the acknowledgement).
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import random

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

LOGSHIP = os.environ.get("LOGSHIP_BIN", os.path.join(B.ROOT, "build", "logship"))
LINES = int(os.environ.get("BENCH_LINES", "1000000"))
RATE = int(os.environ.get("BENCH_RATE", "10000"))
LAT_SECONDS = float(os.environ.get("BENCH_LAT_SECONDS", "10"))
TIMEOUT = float(os.environ.get("BENCH_SHIP_TIMEOUT", "150"))
RESULTS = os.path.join(B.BENCH_BUILD, "logship-last.json")
SHIP_CPU, SINK_CPU = "0", "1"


def logship_help():
    try:
        r = subprocess.run([LOGSHIP, "--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except OSError:
        return ""


def logship_argv(source, spool, outputs, extra=()):
    """outputs: list of (flag, url) e.g. [("--loki", url), ("--elasticsearch", url)]."""
    argv = ["taskset", "-c", SHIP_CPU, LOGSHIP, "--source", source, "--format", "json",
            "--start-at", "head", "--label", "service=hellod", "--label-field", "level",
            "--ts-field", "ts", "--spool-dir", spool,
            "--metrics-addr", f"127.0.0.1:{B.free_port()}", "--log-level", "warn"]
    for flag, url in outputs:
        argv += [flag, url]
    return argv + list(extra)


def ship_file(workdir, sink, source, n, outputs, extra=(), tag="run"):
    """Run logship over `source` (n lines) until the sink holds n entries per output.

    Returns a dict: lines_per_s, cpu_s, cpu_per_million, hwm_mb, sink_cpu_s, complete, seconds."""
    spool = os.path.join(workdir, "spool-" + tag)
    shutil.rmtree(spool, ignore_errors=True)
    os.makedirs(spool)
    sink.reset()
    sink_cpu0 = sink.stats()["cpu_s"]
    want_loki = n if any(f == "--loki" for f, _ in outputs) else 0
    want_es = n if any(f == "--elasticsearch" for f, _ in outputs) else 0
    errlog = open(os.path.join(workdir, f"logship-{tag}.log"), "wb")
    t0_ns = time.time_ns()
    p = subprocess.Popen(logship_argv(source, spool, outputs, extra),
                         stdout=subprocess.DEVNULL, stderr=errlog)
    errlog.close()
    end = time.time() + TIMEOUT
    cpu = hwm = None
    st = sink.stats()
    while time.time() < end and p.poll() is None:
        st = sink.stats()
        cpu = B.cpu_seconds([p.pid])
        hwm = B.vm_hwm_kb(p.pid)
        if st["loki_entries"] >= want_loki and st["es_docs"] >= want_es:
            break
        time.sleep(0.05)
    died = p.poll() is not None
    B.stop(p)
    if died or not (st["loki_entries"] >= want_loki and st["es_docs"] >= want_es):
        with open(os.path.join(workdir, f"logship-{tag}.log"), errors="replace") as f:
            tail = f.read()[-1500:]
        print(f"  logship ({tag}) {'exited' if died else 'did not finish'}; its stderr ends with:\n{tail}")
    got = min(x for x in (st["loki_entries"] if want_loki else None,
                          st["es_docs"] if want_es else None) if x is not None)
    secs = (st["last_ns"] - t0_ns) / 1e9 if st["last_ns"] else float("nan")
    r = {
        "lines": got, "complete": got >= n, "died": died, "seconds": secs,
        "lines_per_s": got / secs if secs and secs == secs else 0.0,
        "cpu_s": cpu if cpu is not None else float("nan"),
        "hwm_mb": hwm / 1024 if hwm else float("nan"),
        "sink_cpu_s": st["cpu_s"] - sink_cpu0,
        "bad": st["loki_bad"] + st["es_bad"],
        "requests": st["loki_requests"] + st["es_requests"],
    }
    r["cpu_per_million"] = r["cpu_s"] / got * 1e6 if got else float("nan")
    return r


def describe(r):
    s = (f"{r['lines_per_s']:10.0f} lines/s  {r['cpu_per_million']:6.2f} CPU-s/M  "
         f"{r['hwm_mb']:6.1f} MB peak RSS  sink busy {100 * r['sink_cpu_s'] / r['seconds']:4.1f}%  "
         f"{r['requests']} requests")
    if not r["complete"]:
        s += f"  INCOMPLETE: {r['lines']} lines arrived" + (" (logship exited)" if r["died"] else "")
    if r["bad"]:
        s += f"  {r['bad']} bodies the sink could not decode"
    return s


def floors(path, n):
    scale = 1e6 / n
    out = {}
    cat = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
    wc = subprocess.Popen(["wc", "-c"], stdin=cat.stdout, stdout=subprocess.DEVNULL)
    cat.stdout.close()
    _, _, ru = os.wait4(cat.pid, 0)
    wc.wait()
    out["cat (into a pipe)"] = (ru.ru_utime + ru.ru_stime) * scale
    cpu, _, _ = B.child_rusage_cmd(["gzip", "-1", "-c", path])
    out["gzip -1"] = cpu * scale
    cpu, _, _ = B.child_rusage_cmd([os.path.join(B.BENCH_BUILD, "snappyc"), path])
    out["snappy (1 MiB blocks)"] = cpu * scale
    return out


def pace(path, rate, seconds):
    """Append lines at `rate`/s for `seconds`, each stamped with its write time."""
    rnd = random.Random(11)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    written = 0
    total = int(rate * seconds)
    try:
        while written < total:
            due = min(total, int((time.monotonic() - t0) * rate))
            if due > written:
                now = time.time_ns()
                chunk = "".join(
                    B.access_line(now, rnd, ',"bench_id":%d,"bench_wt":%d' % (i, now))
                    for i in range(written, due))
                os.write(fd, chunk.encode())
                written = due
            time.sleep(0.001)
    finally:
        os.close(fd)
    return written


def latency(workdir, sink, outputs, extra=()):
    spool = os.path.join(workdir, "spool-lat")
    src = os.path.join(workdir, "paced.log")
    shutil.rmtree(spool, ignore_errors=True)
    os.makedirs(spool)
    open(src, "w").close()
    sink.reset()
    errlog = open(os.path.join(workdir, "logship-lat.log"), "wb")
    argv = logship_argv(src, spool, outputs, extra)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errlog)
    errlog.close()
    mport = int(argv[argv.index("--metrics-addr") + 1].rsplit(":", 1)[1])
    B.wait_port(mport, 10, p)
    time.sleep(0.5)
    cpu0 = B.cpu_seconds([p.pid])
    n = pace(src, RATE, LAT_SECONDS)
    end = time.time() + 10
    st = sink.stats()
    while time.time() < end and st["lat_n"] < n:
        time.sleep(0.1)
        st = sink.stats()
    cpu = B.cpu_seconds([p.pid]) - cpu0
    hwm = B.vm_hwm_kb(p.pid)
    B.stop(p)
    return {"sent": n, "timed": st["lat_n"], "p50_ms": st["lat_p50_us"] / 1000,
            "p99_ms": st["lat_p99_us"] / 1000, "max_ms": st["lat_max_us"] / 1000,
            "cpu_per_million": cpu / n * 1e6 if n else float("nan"),
            "hwm_mb": hwm / 1024 if hwm else float("nan")}


def main():
    os.sched_setaffinity(0, {int(SINK_CPU)})  # the harness and pacer stay off logship's core
    d = tempfile.mkdtemp(prefix="bench-logship-", dir=os.environ.get("BENCH_TMP", "/tmp"))
    sink = None
    results = {}
    try:
        path = os.path.join(d, "access.log")
        nbytes = B.generate_file(path, LINES)
        print(f"logship benchmark: {LINES} JSON access-log lines, {nbytes / LINES:.0f} bytes each on average "
              f"({nbytes / 1e6:.0f} MB), logship on core {SHIP_CPU}, sink and pacer on core {SINK_CPU}")
        print("\nfloors, CPU-s per million lines of the same bytes:")
        for name, v in floors(path, LINES).items():
            print(f"  {name:24s} {v:6.2f}")
        sink = B.Sink(d, SINK_CPU)
        cap, _, ok = B.sink_capacity(sink)
        print(f"\nsink alone (protobuf+snappy, 4000-line pushes): {cap / 1e6:.1f} M lines per CPU-second"
              f"{'' if ok else ' (COUNT MISMATCH)'}")
        if not os.access(LOGSHIP, os.X_OK):
            print(f"\nlogship: SKIPPED ({LOGSHIP} not built yet)")
            return
        helptext = logship_help()
        encodings = ["protobuf", "json"] if "--loki-encoding" in helptext else [None]
        print(f"\nlogship file -> Loki sink ({LINES} lines, defaults unless shown; "
              f"spool on {d}):")
        for enc in encodings:
            extra = ["--loki-encoding", enc] if enc else []
            r = ship_file(d, sink, path, LINES, [("--loki", sink.url)], extra, tag=enc or "loki")
            results[enc or "default"] = r
            print(f"  {('loki ' + (enc or '')):16s} {describe(r)}")
        lat = latency(d, sink, [("--loki", sink.url)])
        results["latency"] = lat
        print(f"\nappend -> ack latency at a steady {RATE} lines/s for {LAT_SECONDS:.0f} s "
              f"(ack = arrival at the sink): p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
              f"max {lat['max_ms']:.1f} ms ({lat['timed']}/{lat['sent']} lines timed); "
              f"logship {lat['cpu_per_million']:.2f} CPU-s/M, {lat['hwm_mb']:.1f} MB peak RSS at that rate")
        main_r = results[encodings[0] or "default"]
        print("\ntargets (issue 3) vs measured:")
        rows = [("CPU-s per million lines to Loki <= 1.6", main_r["cpu_per_million"], 1.6, "CPU-s"),
                ("peak RSS < 20 MB", main_r["hwm_mb"], 20.0, "MB"),
                (f"p99 append->ack < 250 ms at {RATE} lines/s", lat["p99_ms"], 250.0, "ms")]
        for label, v, lim, unit in rows:
            print(f"  {label:46s} measured {v:7.2f} {unit:5s} {'met' if v <= lim else 'MISSED'}")
        print("  reference (quoted from the issue, not measured here): fluent-bit tail -> loki "
              "4.8 CPU-s per million such lines, 60 MB RSS")
    finally:
        if results:
            os.makedirs(B.BENCH_BUILD, exist_ok=True)
            with open(RESULTS, "w") as f:
                json.dump(results, f)
        if sink:
            sink.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
