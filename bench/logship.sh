#!/bin/sh
# logship.sh: the logship -> Loki benchmark of issue 3 (see bench/logship.py for what it measures and how).
exec /usr/bin/python3 "$(dirname "$0")/logship.py" "$@"
