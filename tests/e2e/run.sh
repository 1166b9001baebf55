#!/bin/sh
# run.sh: `make e2e`. Brings up the real docker-compose.yml (plus the override
# tests/e2e/compose.e2e.yml that swaps the unpullable images for the
# project's protocol receivers) and checks, end to end (tests/e2e/e2e.py):
#   the published ports are exactly the documented ones (hellod has none);
#   HTTPS /helloworld through the edge (nginx) with one HSTS header and the
#   request id passed through; hellod's and nginx's lines reaching the Loki
#   receiver labelled service="hellod" / service="nginx", and the Logstash
#   (beats) receiver; --scale hellod=3 behind the edge, requests on all three
#   replicas and all their logs delivered; the slow-client harness
#   (tests/lib/slowclients.py) against the edge leaving >= 99 % of fresh
#   requests answered within 2 s; `docker-compose restart logship` mid-stream
#   losing nothing; logship recreated with ELK_OUTPUT=elasticsearch delivering
#   to the Elasticsearch receiver with the generated password; Prometheus
#   (profile monitoring, Debian's build) scraping all hellod replicas and
#   logship with the rules loaded; and a second project refusing to start with
#   a placeholder password. Always finishes with `down -v`. Exit status 0 only
#   when every check passed.
#
# Environment: E2E_KEEP=1 leaves the stack up for debugging (no down -v).
set -eu
cd "$(dirname "$0")/../.."
start=$(date +%s)

sh tests/e2e/docker-env.sh

project=hello-e2e
# Every published port is a free one on loopback (other tests share this machine).
for v in LOGSHIP_METRICS_PUBLISH LOKI_PUBLISH GRAFANA_PUBLISH ES_PUBLISH LOGSTASH_BEATS_PUBLISH \
         LOGSTASH_API_PUBLISH KIBANA_PUBLISH PROXY_HTTPS_PUBLISH PROXY_HTTP_PUBLISH \
         PROMETHEUS_PUBLISH ALERTMANAGER_PUBLISH CADVISOR_PUBLISH; do
    export "$v=127.0.0.1:"
done
# The stack as a user configures it in .env: logship also ships to Logstash
# over beats. No password is set: the secrets job generates them all.
export ELK_OUTPUT=logstash HELLO_ENV=e2e HELLO_VERSION=e2e
unset GRAFANA_ADMIN_PASSWORD ELASTIC_PASSWORD KIBANA_SYSTEM_PASSWORD LOGSTASH_INTERNAL_PASSWORD \
      LOGSHIP_ES_PASSWORD 2>/dev/null || true
export COMPOSE_PROJECT_NAME=$project
export E2E_COMPOSE="docker-compose -p $project -f docker-compose.yml -f tests/e2e/compose.e2e.yml --profile elk --profile monitoring"

cleanup() {
    rc=$?
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "[e2e] E2E_KEEP=1: stack left running ($E2E_COMPOSE down -v to remove)"
    else
        echo "[e2e] down -v"
        $E2E_COMPOSE down -v --remove-orphans >/tmp/e2e-down.log 2>&1 || cat /tmp/e2e-down.log >&2
        docker-compose -p "$project-refuse" -f docker-compose.yml down -v --remove-orphans \
            >/dev/null 2>&1 || true
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
echo "[e2e] building hellod, logship, secrets and proxy images and starting the stack"
if ! $E2E_COMPOSE up -d --build >/tmp/e2e-up.log 2>&1; then
    tail -n 60 /tmp/e2e-up.log >&2
    echo "[e2e] FAIL: docker-compose up"
    exit 1
fi
echo "[e2e] stack up in $(( $(date +%s) - t )) s"

/usr/bin/python3 tests/e2e/e2e.py
