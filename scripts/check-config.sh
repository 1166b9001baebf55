#!/bin/sh
# check-config.sh: `make check-config` (part of `make test`): static checks of
# the deployment, all offline and without a Docker daemon:
#   docker-compose config for every profile (and the e2e override), promtool
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
if need docker-compose docker-compose; then
    dc="docker-compose --env-file .env.example -f docker-compose.yml"
    for p in "" elk promtail monitoring proxy certbot; do
        # shellcheck disable=SC2086
        run "docker-compose config (profile ${p:-default})" $dc ${p:+--profile $p} config -q
    done
    run "docker-compose config (all profiles)" $dc --profile elk --profile promtail \
        --profile monitoring --profile proxy --profile certbot config -q
    run "docker-compose config (e2e override)" $dc -f tests/e2e/compose.e2e.yml \
        --profile elk --profile proxy config -q
    # every service has limits, a restart policy (one-shots excepted) and a healthcheck
    run "docker-compose: limits, restart policies, healthchecks" sh -c \
        "$dc --profile elk --profile promtail --profile monitoring --profile proxy --profile certbot config |
         $PY scripts/compose-policy.py"
fi
if docker compose version >/dev/null 2>&1; then
    run "docker compose v2 config (all profiles)" docker compose --env-file .env.example \
        -f docker-compose.yml --profile elk --profile promtail --profile monitoring \
        --profile proxy --profile certbot config -q
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
    mkdir -p "$tmp/nginx/certs" "$tmp/nginx/tmp"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$tmp/nginx/certs/tls.key" -out "$tmp/nginx/certs/tls.crt" \
        >/dev/null 2>&1
    # Same file, with the container paths moved into the temp dir. The resolver
    # (Docker's DNS) is only used at request time, so -t needs no network.
    sed -e "s# /tmp/# $tmp/nginx/tmp/#g" -e "s# /certs/# $tmp/nginx/certs/#g" \
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
