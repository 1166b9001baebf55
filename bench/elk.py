"""elk benchmark: the same 1,000,000 lines to a fast Elasticsearch _bulk sink, and fan-out to Loki and _bulk together."""
# Not a test: prints lines/s and CPU-s per million lines next to the Loki-only
# figures of bench/logship.py from the same `make bench` (read from
# build/bench/logship-last.json; measured here again when that file is absent).
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import logship as L  # noqa: E402


def main():
    os.sched_setaffinity(0, {int(L.SINK_CPU)})
    d = tempfile.mkdtemp(prefix="bench-elk-", dir=os.environ.get("BENCH_TMP", "/tmp"))
    sink = None
    try:
        if not os.access(L.LOGSHIP, os.X_OK):
            print(f"elk benchmark: SKIPPED ({L.LOGSHIP} not built yet)")
            return
        helptext = L.logship_help()
        if "--elasticsearch" not in helptext:
            print("elk benchmark: SKIPPED (logship --help lists no --elasticsearch yet)")
            return
        path = os.path.join(d, "access.log")
        nbytes = B.generate_file(path, L.LINES)
        print(f"elk benchmark: {L.LINES} lines ({nbytes / L.LINES:.0f} bytes each), logship on core "
              f"{L.SHIP_CPU}, one sink (Loki push + _bulk) on core {L.SINK_CPU}")
        sink = B.Sink(d, L.SINK_CPU)
        rows = []
        loki_only = None
        try:
            with open(L.RESULTS) as f:
                prev = json.load(f)
            loki_only = prev.get("protobuf") or prev.get("default")
            src = "from bench/logship.py in this run"
        except (OSError, ValueError):
            pass
        if loki_only is None:
            loki_only = L.ship_file(d, sink, path, L.LINES, [("--loki", sink.url)], tag="loki")
            src = "measured here"
        rows.append((f"Loki only ({src})", loki_only))
        rows.append(("Elasticsearch _bulk only",
                     L.ship_file(d, sink, path, L.LINES, [("--elasticsearch", sink.url)], tag="es")))
        rows.append(("fan-out Loki + Elasticsearch",
                     L.ship_file(d, sink, path, L.LINES,
                                 [("--loki", sink.url), ("--elasticsearch", sink.url)], tag="fanout")))
        print()
        for name, r in rows:
            print(f"  {name:44s} {L.describe(r)}")
        lo = rows[0][1]["cpu_per_million"]
        if lo == lo and lo > 0:
            print(f"\n  CPU per million lines as a multiple of Loki only: _bulk "
                  f"{rows[1][1]['cpu_per_million'] / lo:.2f}x, fan-out {rows[2][1]['cpu_per_million'] / lo:.2f}x")
    finally:
        if sink:
            sink.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
