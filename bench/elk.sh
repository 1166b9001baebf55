#!/bin/sh
# elk.sh: the logship -> Elasticsearch _bulk and Loki+ES fan-out benchmark of issue 4 (see bench/elk.py).
exec /usr/bin/python3 "$(dirname "$0")/elk.py" "$@"
