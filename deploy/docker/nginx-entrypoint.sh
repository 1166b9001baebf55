#!/bin/sh
# nginx-entrypoint.sh: run nginx in the foreground with the shared certificate,
# making a self-signed one first when the "certs" volume is empty, and
# reloading nginx (nginx -s reload, graceful) when the certificate changes
# (certbot renewal); checked every $RELOAD_CHECK_SECONDS.
set -eu
crt=/certs/tls.crt
interval=${RELOAD_CHECK_SECONDS:-30}
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
    done
) &
watcher=$!
status=0
while kill -0 "$child" 2>/dev/null; do
    if wait "$child"; then status=0; else status=$?; fi
done
kill "$watcher" 2>/dev/null || true
exit "$status"
