#!/bin/sh
# check-config.sh: `make check-config` (part of `make test`): static checks of
# the deployment, all offline and without a Docker daemon:
#   docker-compose config for every profile (the e2e override and
#   deploy/compose.direct.yml too), the compose policy (scripts/compose-policy.py:
#   hardening or a listed exception, only the edge on a public address, no
#   secret in any environment), no password in .env.example, the secrets job
#   (generates every file for its one reader; refuses placeholders), promtool
#   check config/rules (+ rule unit tests), amtool check-config, nginx -t on
#   the proxy config (with a throw-away self-signed certificate), yamllint,
#   ShellCheck (warnings and errors) on every shell script in the repo, the Grafana dashboard's
#   JSON and datasources, the Kubernetes manifests (scripts/validate-k8s.py,
#   python3-kubernetes models) and, when build/logship exists, logship
#   --check-config on the compose and k8s logship configurations.
# Every check runs; the exit status is 1 if any failed, with a summary.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
failed=""
passed=0

run() { # NAME CMD...: run one check, keep its output only when it fails
    name=$1
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "check-config: ok   $name"
    else
        failed="$failed
  $name"
        echo "check-config: FAIL $name (exit $rc)"
        printf '%s\n' "$out" | sed 's/^/    /' | tail -n 40
    fi
}

need() { # TOOL PACKAGE
    if ! command -v "$1" >/dev/null 2>&1; then
        failed="$failed
  $1 missing (apt-get install $2; make deps)"
        echo "check-config: FAIL $1 is not installed (Debian package $2)"
        return 1
    fi
}

tmp=$(mktemp -d /tmp/check-config.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --- docker-compose ------------------------------------------------------------------
all_profiles="--profile elk --profile promtail --profile monitoring --profile certbot"
if need docker-compose docker-compose; then
    dc="docker-compose --env-file .env.example -f docker-compose.yml"
    for p in "" elk promtail monitoring certbot; do
        # shellcheck disable=SC2086
        run "docker-compose config (profile ${p:-default})" $dc ${p:+--profile $p} config -q
    done
    # shellcheck disable=SC2086
    run "docker-compose config (all profiles)" $dc $all_profiles config -q
    run "docker-compose config (e2e override)" $dc -f tests/e2e/compose.e2e.yml \
        --profile elk --profile monitoring config -q
    run "docker-compose config (deploy/compose.direct.yml)" $dc -f deploy/compose.direct.yml config -q
    # limits, restart policies, healthchecks, hardening or a listed exception,
    # only the edge on a non-loopback address, no secret in the environment:
    # with .env.example and with no .env at all
    : >"$tmp/empty.env"
    for envf in .env.example "$tmp/empty.env"; do
        run "docker-compose policy ($(basename "$envf"))" sh -c \
            "docker-compose --env-file '$envf' -f docker-compose.yml $all_profiles config |
             $PY scripts/compose-policy.py"
    done
fi
if docker compose version >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    run "docker compose v2 config (all profiles)" docker compose --env-file .env.example \
        -f docker-compose.yml $all_profiles config -q
fi

# --- passwords: none known in advance ------------------------------------------------
# .env.example sets no password; the secrets job refuses placeholders and
# generates the rest (run here on a temp dir instead of the volumes).
run ".env.example holds no password" sh -c \
    "! grep -nE '^[A-Z_]*(PASSWORD|SECRET|TOKEN|KEY)[A-Z_]*=.' .env.example"
fresh_secrets() { # ENV...: deploy/secrets/secrets.sh on empty dirs under $tmp/secrets
    rm -rf "$tmp/secrets"
    mkdir -p "$tmp/secrets/grafana" "$tmp/secrets/elastic" "$tmp/secrets/logship"
    env -i PATH="$PATH" SECRETS_DIR="$tmp/secrets" "$@" sh deploy/secrets/secrets.sh
}
mode_owner() { stat -c '%a %u' "$tmp/secrets/$1"; }
secrets_generated() {
    fresh_secrets &&
    [ "$(mode_owner grafana/admin_password)" = "400 472" ] &&
    [ "$(mode_owner elastic/elastic_password)" = "400 1000" ] &&
    [ "$(mode_owner logship/logship_es_password)" = "400 10001" ] &&
    [ "$(wc -c <"$tmp/secrets/elastic/kibana_eso_key")" -ge 32 ] &&
    cmp "$tmp/secrets/elastic/logship_es_password" "$tmp/secrets/logship/logship_es_password" &&
    ! cmp -s "$tmp/secrets/elastic/elastic_password" "$tmp/secrets/grafana/admin_password" &&
    # a second start keeps them, and accepts the same value given in .env
    cp "$tmp/secrets/elastic/elastic_password" "$tmp/first" &&
    env -i PATH="$PATH" SECRETS_DIR="$tmp/secrets" ELASTIC_PASSWORD="$(cat "$tmp/first")" \
        sh deploy/secrets/secrets.sh &&
    cmp "$tmp/first" "$tmp/secrets/elastic/elastic_password"
}
secrets_refused() { # VAR=VALUE MESSAGE: the job exits 1 with MESSAGE and writes nothing for it
    ! fresh_secrets "$1" 2>"$tmp/secrets.err" && cat "$tmp/secrets.err" &&
    grep -q "$2" "$tmp/secrets.err" && [ ! -e "$tmp/secrets/grafana/admin_password" ]
}
with_secrets_env() { # the Elastic entrypoint wrapper: NAME__FILE -> NAME, missing file -> exit 2
    printf 'pw-from-file' >"$tmp/ws"
    [ "$(env -i PATH="$PATH" A__FILE="$tmp/ws" sh elk/with-secrets.sh sh -c 'echo "$A:${A__FILE:-unset}"')" \
        = "pw-from-file:unset" ] &&
    { env -i PATH="$PATH" A__FILE="$tmp/missing" sh elk/with-secrets.sh true 2>/dev/null; [ $? -eq 2 ]; }
}
run "elk/with-secrets.sh: NAME__FILE becomes NAME; a missing file stops with 2" with_secrets_env
if [ "$(id -u)" = 0 ]; then
    run "secrets job: generates every secret, 0400, owned by its reader" secrets_generated
    run "secrets job: refuses a placeholder password" secrets_refused \
        GRAFANA_ADMIN_PASSWORD=change-me-grafana "GRAFANA_ADMIN_PASSWORD in .env is a placeholder"
    run "secrets job: refuses a short password" secrets_refused \
        GRAFANA_ADMIN_PASSWORD=Xk3-short "shorter than 12"
else
    echo "check-config: skip the secrets job checks (they chown: need root)"
fi

# --- Prometheus / Alertmanager --------------------------------------------------------
if need promtool prometheus; then
    run "promtool check config" promtool check config deploy/prometheus/prometheus.yml
    run "promtool check rules" promtool check rules deploy/prometheus/rules/hello.yml
    run "promtool test rules" promtool test rules deploy/prometheus/tests/hello_test.yml
fi
if need amtool prometheus-alertmanager; then
    run "amtool check-config" amtool check-config deploy/alertmanager/alertmanager.yml
fi

# --- nginx -t on a test copy of the proxy config ---------------------------------------
if need nginx nginx && need openssl openssl; then
    mkdir -p "$tmp/nginx/certs" "$tmp/nginx/tmp" "$tmp/nginx/log"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$tmp/nginx/certs/tls.key" -out "$tmp/nginx/certs/tls.crt" \
        >/dev/null 2>&1
    # Same file, with the container paths moved into the temp dir. The resolver
    # (Docker's DNS) is only used at request time, so -t needs no network.
    sed -e "s# /tmp/# $tmp/nginx/tmp/#g" -e "s# /certs/# $tmp/nginx/certs/#g" \
        -e "s# /var/log/edge/# $tmp/nginx/log/#g" \
        deploy/nginx/nginx.conf >"$tmp/nginx/nginx.conf"
    cp /etc/nginx/mime.types "$tmp/nginx/" 2>/dev/null || true
    run "nginx -t (deploy/nginx/nginx.conf)" nginx -t -q -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" \
        -g "error_log $tmp/nginx/error.log;"
fi

# --- YAML, JSON, shell ------------------------------------------------------------------
if need yamllint yamllint; then
    run "yamllint" yamllint -s .
fi
run "Grafana dashboards and datasources" $PY scripts/check-grafana.py
if need shellcheck shellcheck; then
    # *.sh files, and any other file whose first line is a sh/bash/dash shebang
    find . \( -path ./build -o -path './build-*' -o -path ./third_party -o -path ./.git \) -prune \
        -o -type f -print |
    while IFS= read -r f; do
        case $f in
            *.sh) echo "$f" ;;
            *) head -c 64 "$f" | grep -qE '^#!.*/(env )?(ba|da)?sh( |$)' && echo "$f" ;;
        esac
    done | sort -u >"$tmp/scripts"
    run "shellcheck ($(wc -l <"$tmp/scripts") scripts)" \
        sh -c "xargs -d '\n' shellcheck -x -S warning <'$tmp/scripts'"
fi

# --- Kubernetes --------------------------------------------------------------------------
run "kubernetes manifests (python3-kubernetes models)" $PY scripts/validate-k8s.py deploy/k8s

# --- logship's own validation of the configurations we ship ------------------------------
if [ -x build/logship ]; then
    sed -n '/^  logship.json: |$/,/^[^ ]/p' deploy/k8s/10-configmap.yaml | sed '1d;s/^    //' \
        >"$tmp/logship.json"
    run "logship --check-config (k8s logship.json)" build/logship --config "$tmp/logship.json" \
        --spool-dir "$tmp/spool" --check-config
    run "logship --check-config (compose command)" sh -c "
        docker-compose --env-file .env.example -f docker-compose.yml config |
        $PY scripts/compose-policy.py --print-command logship >'$tmp/args' &&
        xargs -d '\n' build/logship --spool-dir '$tmp/spool2' --check-config <'$tmp/args'"
else
    echo "check-config: skip logship --check-config (no build/logship; run make first)"
fi

if [ -n "$failed" ]; then
    echo "check-config: $passed passed, FAILED:$failed"
    exit 1
fi
echo "check-config: all $passed checks passed"
