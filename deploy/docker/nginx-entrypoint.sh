#!/bin/sh
# nginx-entrypoint.sh: run nginx in the foreground with the shared certificate,
# making a self-signed one first when the "certs" volume is empty, and
# reloading nginx (SIGHUP, graceful) when the certificate changes (certbot
# renewal); checked every $RELOAD_CHECK_SECONDS. The JSON access log that
# logship ships (/var/log/edge/access.log) is rotated once it passes
# $LOG_ROTATE_BYTES: renamed to .1 (logship follows the rename), then SIGUSR1
# makes nginx reopen it.
set -eu
crt=/certs/tls.crt
access=/var/log/edge/access.log
interval=${RELOAD_CHECK_SECONDS:-30}
max_bytes=${LOG_ROTATE_BYTES:-52428800}
/usr/local/bin/gen-selfsigned "$crt" /certs/tls.key
nginx -g 'daemon off;' "$@" &
child=$!
trap 'kill -QUIT "$child" 2>/dev/null || true' TERM INT QUIT
trap 'kill -HUP "$child" 2>/dev/null || true' HUP
(
    last=$(stat -c %Y "$crt" 2>/dev/null || echo 0)
    while sleep "$interval"; do
        kill -0 "$child" 2>/dev/null || exit 0
        now=$(stat -c %Y "$crt" 2>/dev/null || echo 0)
        if [ "$now" != "$last" ]; then
            last=$now
            echo '{"level":"info","service":"nginx-entrypoint","msg":"certificate changed: reloading"}' >&2
            kill -HUP "$child" 2>/dev/null || true
        fi
        if [ -f "$access" ] && [ "$(stat -c %s "$access")" -gt "$max_bytes" ]; then
            mv -f "$access" "$access.1"
            echo '{"level":"info","service":"nginx-entrypoint","msg":"access log rotated"}' >&2
            kill -USR1 "$child" 2>/dev/null || true
        fi
    done
) &
watcher=$!
status=0
while kill -0 "$child" 2>/dev/null; do
    if wait "$child"; then status=0; else status=$?; fi
done
kill "$watcher" 2>/dev/null || true
exit "$status"
