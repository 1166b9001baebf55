#!/bin/sh
# with-secrets.sh CMD...: the entrypoint wrapper of the Elastic containers
# (elasticsearch, setup, kibana-setup, logstash, kibana). For every variable
# NAME__FILE in the environment it exports NAME with that file's content (the
# passwords the "secrets" job generated; Grafana does the same natively), unsets
# NAME__FILE, then execs CMD (the image's own entrypoint). So passwords reach
# the products through their environment, never a command line or the compose
# file. A missing or empty file stops the container with one clear line.
set -eu
for var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)__FILE=.*/\1/p'); do
    eval "file=\${${var}__FILE}"
    # shellcheck disable=SC2154 # set by the eval above
    if [ ! -s "$file" ]; then
        echo "with-secrets: $file (for $var) is missing or empty: run 'docker-compose up -d' so the secrets job creates it, see deploy/README.md" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$var=$value"
    unset "${var}__FILE"
done
exec "$@"
