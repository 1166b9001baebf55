#!/bin/sh
# deps.sh: install every Debian package the build, the tests and the benchmarks need.
#
# Run as root on Debian 12 (or a derivative with the same package names).
# Adds a deb-src entry for the main archive so that scripts/fetch-civetweb.sh
# can run 'apt-get source civetweb'. Idempotent.
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: run as root (it calls apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

srcfile=/etc/apt/sources.list.d/hello-deb-src.sources
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
    # Reuse the mirror the machine already uses for binaries.
    mirror=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
             awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
    [ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list |
             awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    cat >"$srcfile" <<EOT
Types: deb-src
URIs: $mirror
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
fi

apt-get update -qq
# build: compiler, civetweb's source package tooling, and the libraries we link
pkgs="build-essential clang dpkg-dev xz-utils pkg-config
      libssl-dev openssl libjson-c-dev libcurl4-openssl-dev zlib1g-dev
      libsnappy-dev libprotobuf-c-dev libcmocka-dev libclang-rt-14-dev"
# tests: Debian's python3 with pytest, the protocol receivers' decoders, tools
pkgs="$pkgs python3 python3-pytest python3-requests python3-snappy python3-protobuf
      curl procps iproute2 psmisc"
# config checks and the deployment
pkgs="$pkgs yamllint shellcheck prometheus prometheus-alertmanager docker-compose
      python3-yaml python3-kubernetes"
# benchmarks
pkgs="$pkgs wrk nginx python3-flask gunicorn"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "deps.sh: packages installed"
