#!/bin/sh
# run.sh: 'make bench': builds the benchmark helpers (bench/bench.mk, through the main Makefile), runs the hellod, logship and ELK benchmarks, and
# keeps the output as a dated record in bench/results/latest.txt. Benchmarks print figures; they never fail a build
# on a missed target. Environment knobs: BENCH_DURATION (s per wrk run, default 10), BENCH_LINES (default 1000000),
# HELLOD_BIN, LOGSHIP_BIN.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
make -s all bench-build   # (make bench has built them already; this is for running run.sh by hand)
mkdir -p bench/results
out=bench/results/latest.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo "make bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "machine: $(uname -srm), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
         "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "tools: $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1-2), wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'),"\
         "gunicorn $($PY -c 'import gunicorn; print(gunicorn.__version__)'), flask $($PY -c 'import importlib.metadata as m; print(m.version("flask"))')"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine makes the figures noisy)"
    echo
    echo "== hellod (issue 2) =="
    $PY bench/hellod.py || echo "hellod benchmark: failed (exit $?)"
    echo
    echo "== logship -> Loki (issue 3) =="
    rm -f build/bench/logship-last.json
    sh bench/logship.sh || echo "logship benchmark: failed (exit $?)"
    echo
    echo "== logship -> Elasticsearch, fan-out (issue 4) =="
    sh bench/elk.sh || echo "elk benchmark: failed (exit $?)"
    echo
    echo "== encoders alone (micro-benchmarks owned by the Loki and ELK engineers, shortened) =="
    build/bench/loki_encode --lines 200000 --rounds 1 || echo "loki_encode: failed (exit $?)"
    build/bench/es_encode 200000 || echo "es_encode: failed (exit $?)"
    echo
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$tmp"
cp "$tmp" "$out"
echo "(saved to $out)"
