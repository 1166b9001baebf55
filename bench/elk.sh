#!/bin/sh
# elk.sh: the logship -> Elasticsearch _bulk and Loki+ES fan-out benchmark of issue 4 (see bench/elk.py).
# Then issue 8's recovery figure (bench/elk_recovery.py): 10 % item 429s, an outage and restarts.
/usr/bin/python3 "$(dirname "$0")/elk.py" "$@" || exit $?
exec /usr/bin/python3 "$(dirname "$0")/elk_recovery.py"
