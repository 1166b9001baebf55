#!/usr/bin/env bash
# setup.sh elasticsearch|kibana: one-shot set-up of the "elk" profile
# (idempotent; safe to re-run with `docker-compose --profile elk run --rm setup`).
# "elasticsearch" (compose service "setup", once Elasticsearch is healthy;
# Logstash and Kibana wait for it, so they never log in before their users exist):
#   - the kibana_system password (Kibana's own user),
#   - role hello_writer (write to the logs-hello-* data streams) and the users
#     logstash_internal (Logstash) and logship_writer (logship shipping straight
#     to Elasticsearch, ELK_OUTPUT=elasticsearch),
#   - index template logs-hello (data stream, mappings for hellod's fields).
# "kibana" (compose service "kibana-setup", once Kibana is healthy):
#   - the Kibana data view "hello logs" over logs-hello-*.
# Passwords come from the environment (elk/with-secrets.sh reads the files of
# the "secrets" job), never from this file.
set -euo pipefail

ES_URL=${ES_URL:-http://elasticsearch:9200}
KIBANA_URL=${KIBANA_URL:-http://kibana:5601}

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

mode=${1:-}
[[ "$mode" == elasticsearch || "$mode" == kibana ]] || die "usage: setup.sh elasticsearch|kibana"

check_password() { # NAME VALUE: non-empty and safe to embed in JSON
    [[ -n "$2" ]] || die "$1 is empty: the secrets job did not run (docker-compose up -d runs it)"
    [[ ${#2} -ge 8 ]] || die "$1 must be at least 8 characters"
    [[ "$2" =~ ^[A-Za-z0-9._~+=@%^*!-]+$ ]] || die "$1 may hold only letters, digits and ._~+=@%^*!-"
}
check_password ELASTIC_PASSWORD "${ELASTIC_PASSWORD:-}"
# curl reads the credentials from a file (-K), so no command line shows them
auth=$(mktemp)
trap 'rm -f "$auth"' EXIT
printf 'user = "elastic:%s"\n' "$ELASTIC_PASSWORD" >"$auth"

es() { # METHOD PATH [JSON]: call Elasticsearch as elastic; fail on HTTP >= 300
    local method=$1 path=$2 body=${3:-} out code
    out=$(mktemp)
    code=$(curl -sS -o "$out" -w '%{http_code}' -K "$auth" \
        -X "$method" -H 'Content-Type: application/json' ${body:+--data-binary "$body"} \
        "${ES_URL}${path}") || code=000
    if [[ "$code" -ge 300 || "$code" -lt 200 ]]; then
        log "$method $path -> $code: $(head -c 500 "$out")"
        rm -f "$out"
        return 1
    fi
    rm -f "$out"
}

if [[ "$mode" == elasticsearch ]]; then
check_password KIBANA_SYSTEM_PASSWORD "${KIBANA_SYSTEM_PASSWORD:-}"
check_password LOGSTASH_INTERNAL_PASSWORD "${LOGSTASH_INTERNAL_PASSWORD:-}"
log "waiting for Elasticsearch at $ES_URL"
for _ in $(seq 1 120); do
    if es GET '/_cluster/health?wait_for_status=yellow&timeout=5s' 2>/dev/null; then break; fi
    sleep 2
done
es GET '/_cluster/health?wait_for_status=yellow&timeout=5s' || die "Elasticsearch is not reachable"

log "kibana_system password"
es POST /_security/user/kibana_system/_password "{\"password\":\"${KIBANA_SYSTEM_PASSWORD}\"}"

log "role hello_writer"
es PUT /_security/role/hello_writer '{
  "cluster": ["monitor", "manage_index_templates", "manage_ilm"],
  "indices": [{"names": ["logs-hello-*"],
               "privileges": ["create_doc", "create_index", "auto_configure", "view_index_metadata"]}]
}'

log "user logstash_internal"
es PUT /_security/user/logstash_internal "{\"password\":\"${LOGSTASH_INTERNAL_PASSWORD}\",
  \"roles\":[\"hello_writer\"],\"full_name\":\"Logstash (hello pipeline)\"}"

if [[ -n "${LOGSHIP_ES_PASSWORD:-}" ]]; then
    check_password LOGSHIP_ES_PASSWORD "$LOGSHIP_ES_PASSWORD"
    user=${LOGSHIP_ES_USER:-logship_writer}
    [[ "$user" =~ ^[A-Za-z0-9._-]+$ ]] || die "LOGSHIP_ES_USER has unexpected characters"
    log "user $user"
    es PUT "/_security/user/$user" "{\"password\":\"${LOGSHIP_ES_PASSWORD}\",
      \"roles\":[\"hello_writer\"],\"full_name\":\"logship (direct to Elasticsearch)\"}"
else
    log "LOGSHIP_ES_PASSWORD unset: no logship_writer user (needed only for ELK_OUTPUT=elasticsearch)"
fi

log "index template logs-hello (data stream)"
es PUT /_index_template/logs-hello '{
  "index_patterns": ["logs-hello-*"],
  "data_stream": {},
  "priority": 200,
  "composed_of": ["logs@mappings", "logs@settings", "ecs@mappings"],
  "ignore_missing_component_templates": ["logs@mappings", "logs@settings", "ecs@mappings"],
  "template": {
    "settings": {"number_of_replicas": 0},
    "mappings": {
      "properties": {
        "@timestamp":  {"type": "date_nanos"},
        "ts":          {"type": "date_nanos"},
        "level":       {"type": "keyword"},
        "service":     {"type": "keyword"},
        "msg":         {"type": "keyword"},
        "method":      {"type": "keyword"},
        "path":        {"type": "keyword"},
        "status":      {"type": "short"},
        "bytes":       {"type": "long"},
        "duration_ms": {"type": "float"},
        "remote":      {"type": "keyword"},
        "request_id":  {"type": "keyword"},
        "user_agent":  {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
        "tls":         {"type": "keyword"},
        "env":         {"type": "keyword"},
        "shipper":     {"type": "keyword"}
      }
    }
  }
}'

log "done (Elasticsearch)"
exit 0
fi

log "waiting for Kibana at $KIBANA_URL (for the data view)"
for _ in $(seq 1 150); do
    if curl -fsS -K "$auth" "$KIBANA_URL/api/status" 2>/dev/null |
        grep -q '"level":"available"'; then
        break
    fi
    sleep 2
done
code=$(curl -sS -o /dev/null -w '%{http_code}' -K "$auth" \
    -X POST -H 'kbn-xsrf: setup' -H 'Content-Type: application/json' \
    "$KIBANA_URL/api/data_views/data_view" --data-binary '{
      "override": true,
      "data_view": {"id": "logs-hello", "name": "hello logs", "title": "logs-hello-*",
                    "timeFieldName": "@timestamp"}}') || code=000
if [[ "$code" != 200 ]]; then
    die "creating the Kibana data view failed (HTTP $code); re-run: docker-compose --profile elk run --rm kibana-setup"
fi
log "done"
