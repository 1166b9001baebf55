#!/bin/sh
# run.sh: `make e2e`. Brings up the real docker-compose.yml (plus the override
# tests/e2e/compose.e2e.yml that swaps the unpullable images for the
# project's protocol receivers) and checks, end to end (tests/e2e/e2e.py):
#   HTTPS /helloworld on the published port; the line reaching the Loki
#   receiver with the right labels and the Logstash (beats) receiver; through
#   the nginx proxy with --scale hellod=3, requests on all three replicas and
#   all their logs delivered; `docker-compose restart logship` mid-stream
#   losing nothing; logship recreated with ELK_OUTPUT=elasticsearch delivering
#   to the Elasticsearch receiver; Prometheus (profile monitoring, Debian's
#   build) scraping all hellod replicas and logship with the rules loaded. Always finishes with `down -v`. Exit status 0 only when
#   every check passed.
#
# Environment: E2E_KEEP=1 leaves the stack up for debugging (no down -v).
set -eu
cd "$(dirname "$0")/../.."
start=$(date +%s)

sh tests/e2e/docker-env.sh

project=hello-e2e
# Every published port is a free one on loopback (other tests share this machine).
export HELLOD_HTTPS_PUBLISH=127.0.0.1::8443 HELLOD_HTTP_PUBLISH=127.0.0.1::8080
for v in LOGSHIP_METRICS_PUBLISH LOKI_PUBLISH GRAFANA_PUBLISH ES_PUBLISH LOGSTASH_BEATS_PUBLISH \
         LOGSTASH_API_PUBLISH KIBANA_PUBLISH PROXY_HTTPS_PUBLISH PROXY_HTTP_PUBLISH \
         PROMETHEUS_PUBLISH ALERTMANAGER_PUBLISH CADVISOR_PUBLISH; do
    export "$v=127.0.0.1:"
done
# The stack as a user configures it in .env: logship also ships to Logstash over beats.
export ELK_OUTPUT=logstash HELLO_ENV=e2e HELLO_VERSION=e2e
export ELASTIC_PASSWORD=e2e-elastic-pw KIBANA_SYSTEM_PASSWORD=e2e-kibana-pw \
       LOGSTASH_INTERNAL_PASSWORD=e2e-logstash-pw LOGSHIP_ES_PASSWORD=e2e-logship-pw
export COMPOSE_PROJECT_NAME=$project
export E2E_COMPOSE="docker-compose -p $project -f docker-compose.yml -f tests/e2e/compose.e2e.yml --profile elk --profile proxy --profile monitoring"

cleanup() {
    rc=$?
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "[e2e] E2E_KEEP=1: stack left running ($E2E_COMPOSE down -v to remove)"
    else
        echo "[e2e] down -v"
        $E2E_COMPOSE down -v --remove-orphans >/tmp/e2e-down.log 2>&1 || cat /tmp/e2e-down.log >&2
    fi
    echo "[e2e] finished in $(( $(date +%s) - start )) s, exit $rc"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A stack left over by an interrupted run would skew the checks.
$E2E_COMPOSE down -v --remove-orphans >/dev/null 2>&1 || true

echo "[e2e] building the receivers, Prometheus and Alertmanager images"
t=$(date +%s)
docker build -q --network host -f tests/e2e/receivers.Dockerfile -t hello-e2e/receivers . >/dev/null
for target in prometheus alertmanager; do
    docker build -q --network host -f tests/e2e/monitoring.Dockerfile --target "$target" \
        -t "hello-e2e/$target" . >/dev/null
done
echo "[e2e] building hellod, logship and proxy images and starting the stack"
if ! $E2E_COMPOSE up -d --build >/tmp/e2e-up.log 2>&1; then
    tail -n 60 /tmp/e2e-up.log >&2
    echo "[e2e] FAIL: docker-compose up"
    exit 1
fi
echo "[e2e] stack up in $(( $(date +%s) - t )) s"

/usr/bin/python3 tests/e2e/e2e.py
