#!/bin/sh
# secrets.sh: the one-shot "secrets" compose service. Makes sure every password
# and key the stack uses exists, in the named volumes mounted under
# /run/secrets/{grafana,elastic,logship}, each file readable only by the uid of
# the service that reads it, so no password is known in advance (none is in the
# compose file, .env.example or an image).
#
# A value given in the environment (from .env) is used on the first start;
# empty means "generate one" (openssl rand). The stack refuses to start (this
# job exits 1, and every service waits for it) when a value is a known
# placeholder or too short, or when it differs from the one the stack was
# initialised with (Grafana and Elasticsearch keep the first password in their
# data; deploy/README.md says how to change one). Values are never printed.
#
# Runs as root with only CAP_CHOWN (give each file to its reader) and
# CAP_DAC_READ_SEARCH (compare with files that belong to other uids), on no network.
set -eu
umask 077
base=${SECRETS_DIR:-/run/secrets}

die() {
    printf 'secrets: REFUSING TO START THE STACK: %s\n' "$*" >&2
    exit 1
}
note() { printf 'secrets: %s\n' "$*" >&2; }

placeholder() { # VALUE: true for values anyone could guess
    v=$(printf '%s' "$1" | tr 'A-Z' 'a-z')
    case $v in
        change-me* | changeme* | change_me* | admin* | password* | secret* | elastic* | kibana* | \
        logstash* | grafana* | test* | example* | 123456*) return 0 ;;
    esac
    return 1
}

# put DIR/NAME OWNER VALUE: write atomically, mode 0400, owned by its reader.
put() {
    f=$base/$1/$2
    printf '%s' "$4" >"$f.tmp"
    chmod 0400 "$f.tmp"
    chown "$3" "$f.tmp"
    mv -f "$f.tmp" "$f"
}

# ensure DIR NAME OWNER [VAR]: DIR/NAME exists, holds $VAR when that is set
# (else a random value), and belongs to OWNER. Sets $value.
ensure() {
    dir=$1 name=$2 owner=$3 var=${4:-}
    given=
    if [ -n "$var" ]; then
        eval "given=\${$var:-}"
    fi
    f=$base/$dir/$name
    if [ -n "$given" ]; then
        placeholder "$given" &&
            die "$var in .env is a placeholder. Delete the line (a random password is generated into the volume ${dir}-secrets) or set a password of your own, 12 or more characters."
        [ "${#given}" -ge 12 ] || die "$var in .env is shorter than 12 characters."
        printf '%s' "$given" | grep -qE '^[A-Za-z0-9._~+=@%^*!-]+$' ||
            die "$var may hold only letters, digits and ._~+=@%^*!- (it is embedded in JSON)."
    fi
    if [ -s "$f" ]; then
        value=$(cat "$f")
        if [ -n "$given" ] && [ "$given" != "$value" ]; then
            die "$var in .env differs from the password this stack was initialised with. Remove it from .env, or change the password as deploy/README.md describes (section Passwords)."
        fi
        chown "$owner" "$f"
        return 0
    fi
    if [ -n "$given" ]; then
        value=$given
        note "$dir/$name: from .env"
    else
        value=$(openssl rand -hex 24)
        note "$dir/$name: generated"
    fi
    put "$dir" "$name" "$owner" "$value"
}

for d in grafana elastic logship; do
    [ -d "$base/$d" ] && [ -w "$base/$d" ] || die "$base/$d is not a writable volume"
done

# Grafana (uid 472)
ensure grafana admin_password 472:0 GRAFANA_ADMIN_PASSWORD
# Elasticsearch, Kibana, Logstash and the setup jobs (uid 1000)
ensure elastic elastic_password 1000:0 ELASTIC_PASSWORD
ensure elastic kibana_system_password 1000:0 KIBANA_SYSTEM_PASSWORD
ensure elastic logstash_internal_password 1000:0 LOGSTASH_INTERNAL_PASSWORD
# Kibana's encryption keys (saved objects, sessions, reports): fixed, so they
# survive restarts
ensure elastic kibana_security_key 1000:0
ensure elastic kibana_eso_key 1000:0
ensure elastic kibana_reporting_key 1000:0
# logship's Elasticsearch user: the setup job creates it with the copy in the
# elastic volume (uid 1000), logship logs in with the copy in its own (uid 10001)
ensure elastic logship_es_password 1000:0 LOGSHIP_ES_PASSWORD
if [ ! -s "$base/logship/logship_es_password" ] ||
   [ "$(cat "$base/logship/logship_es_password")" != "$value" ]; then
    put logship logship_es_password 10001:10001 "$value"
    note "logship/logship_es_password: copied"
fi
chown 10001:10001 "$base/logship/logship_es_password"
note "all secrets in place"
