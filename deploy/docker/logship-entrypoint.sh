#!/bin/sh
# logship-entrypoint.sh: run logship with the arguments compose gives, plus the
# optional ELK output chosen by $ELK_OUTPUT:
#   none (default)   Loki only
#   logstash         --logstash $LOGSTASH_URL (default beats://logstash:5044)
#   elasticsearch    --elasticsearch $ELASTICSEARCH_URL (default
#                    http://elasticsearch:9200) as $ELASTIC_USER/$ELASTIC_PASSWORD
# Credentials travel in logship's environment (LOGSHIP_ES_USERNAME/PASSWORD),
# never on its command line, and are Elasticsearch's only: Loki never sees them.
set -eu
case "${ELK_OUTPUT:-none}" in
    none | "") ;;
    logstash)
        set -- "$@" --logstash "${LOGSTASH_URL:-beats://logstash:5044}" ;;
    elasticsearch)
        set -- "$@" --elasticsearch "${ELASTICSEARCH_URL:-http://elasticsearch:9200}"
        if [ -n "${ELASTIC_USER:-}" ]; then
            export LOGSHIP_ES_USERNAME="$ELASTIC_USER"
            export LOGSHIP_ES_PASSWORD="${ELASTIC_PASSWORD:-}"
        fi ;;
    *)
        echo "logship-entrypoint: ELK_OUTPUT must be none, logstash or elasticsearch, not '$ELK_OUTPUT'" >&2
        exit 2 ;;
esac
exec logship "$@"
