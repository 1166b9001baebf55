#!/bin/sh
# logship-entrypoint.sh: run logship with the arguments compose gives, plus the
# optional ELK output chosen by $ELK_OUTPUT:
#   none (default)   Loki only
#   logstash         --logstash $LOGSTASH_URL (default beats://logstash:5044)
#   elasticsearch    --elasticsearch $ELASTICSEARCH_URL (default
#                    http://elasticsearch:9200) as $ELASTIC_USER, with the
#                    password in the file $ELASTIC_PASSWORD_FILE (the secrets job's)
# The password is handed over as a file (--es-password-file), never on the
# command line or in the environment, and is Elasticsearch's only: Loki never
# sees it.
set -eu
case "${ELK_OUTPUT:-none}" in
    none | "") ;;
    logstash)
        set -- "$@" --logstash "${LOGSTASH_URL:-beats://logstash:5044}" ;;
    elasticsearch)
        set -- "$@" --elasticsearch "${ELASTICSEARCH_URL:-http://elasticsearch:9200}"
        if [ -n "${ELASTIC_USER:-}" ]; then
            set -- "$@" --es-username "$ELASTIC_USER" \
                --es-password-file "${ELASTIC_PASSWORD_FILE:-/run/secrets/logship/logship_es_password}"
        fi ;;
    *)
        echo "logship-entrypoint: ELK_OUTPUT must be none, logstash or elasticsearch, not '$ELK_OUTPUT'" >&2
        exit 2 ;;
esac
exec logship "$@"
