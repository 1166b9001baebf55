#!/bin/sh
# certbot.sh: the "certbot" compose service (certbot/certbot image). Obtains a
# Let's Encrypt certificate for $CERTBOT_DOMAIN with the HTTP-01 challenge
# (certbot's standalone server on port 80 of this container; the nginx proxy
# forwards /.well-known/acme-challenge/ to it), installs it into the shared
# "certs" volume (deploy-hook.sh), then tries a renewal every 12 hours.
# hellod and nginx notice the new file and reload on SIGHUP (their entrypoints).
set -eu
domain=${CERTBOT_DOMAIN:-}
email=${CERTBOT_EMAIL:-}
if [ -z "$domain" ] || [ -z "$email" ]; then
    echo "certbot: set CERTBOT_DOMAIN and CERTBOT_EMAIL in .env (see deploy/README.md)" >&2
    exit 1
fi
staging=
if [ "${CERTBOT_STAGING:-1}" = 1 ]; then
    staging=--staging
fi
hook="sh /certbot/deploy-hook.sh"
if [ ! -d "/etc/letsencrypt/live/$domain" ]; then
    # shellcheck disable=SC2086
    certbot certonly --standalone --non-interactive --agree-tos -m "$email" -d "$domain" \
        --http-01-port 80 $staging --deploy-hook "$hook"
fi
# Install the current certificate on every start (the volume may be new).
RENEWED_LINEAGE="/etc/letsencrypt/live/$domain" sh /certbot/deploy-hook.sh
trap 'exit 0' TERM INT
while :; do
    sleep 43200 &
    wait $! || true
    certbot renew --standalone --non-interactive --http-01-port 80 --deploy-hook "$hook" || true
done
