#!/bin/sh
# gen-selfsigned.sh CERT KEY: make sure a certificate and key exist at CERT/KEY.
#
# When either is missing, writes a self-signed ECDSA P-256 pair (397 days,
# SAN from $CERT_SAN, default localhost, 127.0.0.1, ::1 and the compose service
# names) the same shape hellod makes for itself. Existing files are never
# replaced (certbot's deploy hook owns them once a real certificate is there).
# Serialised with flock, so replicas starting together on one shared volume
# cannot interleave their writes.
set -eu
crt=${1:?usage: gen-selfsigned CERT KEY}
key=${2:?usage: gen-selfsigned CERT KEY}
# Fast path without the lock: also works on a read-only mount (a Kubernetes Secret).
if [ -s "$crt" ] && [ -s "$key" ]; then
    exit 0
fi
dir=$(dirname "$crt")
mkdir -p "$dir"
exec 9>"$dir/.selfsigned.lock"
flock -w 60 9
if [ -s "$crt" ] && [ -s "$key" ]; then
    exit 0
fi
umask 077
san=${CERT_SAN:-DNS:localhost,DNS:hellod,DNS:proxy,IP:127.0.0.1,IP:::1}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 397 \
    -subj "/CN=${CERT_CN:-localhost}" -addext "subjectAltName=$san" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$key.tmp" -out "$crt.tmp" 2>/dev/null
chmod 0600 "$key.tmp"
chmod 0644 "$crt.tmp"
mv -f "$key.tmp" "$key"
mv -f "$crt.tmp" "$crt"
printf '{"level":"warn","service":"gen-selfsigned","msg":"generated a self-signed certificate","cert":"%s","san":"%s"}\n' "$crt" "$san" >&2
