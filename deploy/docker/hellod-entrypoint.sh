#!/bin/sh
# hellod-entrypoint.sh: start hellod in a container with the compose defaults.
#
# - certificate: HELLOD_CERT/HELLOD_KEY (default /certs/tls.crt and tls.key on
#   the shared "certs" volume); a self-signed pair is made there when none
#   exists (gen-selfsigned, serialised across replicas).
# - log file: one per replica on the shared log volume,
#   /var/log/hello/<hostname>.log, which the logship sidecar follows.
# - reload: every $RELOAD_CHECK_SECONDS the certificate's mtime is checked; a
#   change (certbot renewal) sends hellod SIGHUP, which swaps the certificate
#   without dropping connections. The log file is rotated (renamed to .1, then
#   SIGHUP reopens it) once it passes $LOG_ROTATE_BYTES.
# SIGTERM/SIGINT are passed on, so hellod drains and exits with its own status.
set -eu

export HELLOD_CERT="${HELLOD_CERT:-/certs/tls.crt}"
export HELLOD_KEY="${HELLOD_KEY:-/certs/tls.key}"
if [ -z "${HELLOD_LOG_FILE+set}" ]; then
    HELLOD_LOG_FILE="/var/log/hello/$(hostname).log"
fi
export HELLOD_LOG_FILE
interval=${RELOAD_CHECK_SECONDS:-30}
max_bytes=${LOG_ROTATE_BYTES:-52428800}

note() {
    printf '{"level":"info","service":"hellod-entrypoint","msg":"%s"}\n' "$1" >&2
}

/usr/local/bin/gen-selfsigned "$HELLOD_CERT" "$HELLOD_KEY"

hellod "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
trap 'kill -HUP "$child" 2>/dev/null || true' HUP

(
    last=$(stat -c %Y "$HELLOD_CERT" 2>/dev/null || echo 0)
    while sleep "$interval"; do
        kill -0 "$child" 2>/dev/null || exit 0
        hup=
        now=$(stat -c %Y "$HELLOD_CERT" 2>/dev/null || echo 0)
        if [ "$now" != "$last" ]; then
            last=$now
            hup=1
            note "certificate changed: reloading"
        fi
        if [ -n "$HELLOD_LOG_FILE" ] && [ -f "$HELLOD_LOG_FILE" ] &&
           [ "$(stat -c %s "$HELLOD_LOG_FILE")" -gt "$max_bytes" ]; then
            mv -f "$HELLOD_LOG_FILE" "$HELLOD_LOG_FILE.1"
            hup=1
            note "log file rotated"
        fi
        if [ -n "$hup" ]; then
            kill -HUP "$child" 2>/dev/null || true
        fi
    done
) &
watcher=$!

# wait returns early when a trapped signal arrives; keep waiting until hellod exits.
status=0
while kill -0 "$child" 2>/dev/null; do
    if wait "$child"; then status=0; else status=$?; fi
done
kill "$watcher" 2>/dev/null || true
exit "$status"
