#!/bin/sh
# deploy-hook.sh: certbot's --deploy-hook. Copies the renewed certificate
# ($RENEWED_LINEAGE/fullchain.pem, privkey.pem) into the shared "certs" volume
# as tls.crt/tls.key, owned by uid 10001 (hellod, nginx), key first and each
# by rename, so a reader never sees a half-written file. The certificate's
# new mtime makes hellod and nginx reload (SIGHUP) within 30 s.
set -eu
src=${RENEWED_LINEAGE:?deploy-hook: RENEWED_LINEAGE is not set}
install -m 0600 -o 10001 -g 10001 "$src/privkey.pem" /certs/tls.key.new
install -m 0644 -o 10001 -g 10001 "$src/fullchain.pem" /certs/tls.crt.new
mv -f /certs/tls.key.new /certs/tls.key
mv -f /certs/tls.crt.new /certs/tls.crt
echo "deploy-hook: installed the certificate from $src into /certs"
