#!/bin/sh
# docker-env.sh: make a usable Docker engine and the debian:bookworm-slim base image on this machine.
#
# No registry is reachable here, so the base image is built with debootstrap from the
# Debian mirror the machine already uses and imported; it is cached (skipped when the
# image exists). Installs docker.io, docker-compose and debootstrap with apt-get when
# missing and starts dockerd (vfs storage, no iptables) when none answers.
set -eu

log() { printf '[e2e] %s\n' "$*"; }

need_pkgs=""
command -v docker >/dev/null 2>&1 || need_pkgs="$need_pkgs docker.io"
command -v dockerd >/dev/null 2>&1 || need_pkgs="$need_pkgs docker.io"
command -v docker-compose >/dev/null 2>&1 || need_pkgs="$need_pkgs docker-compose"
command -v debootstrap >/dev/null 2>&1 || need_pkgs="$need_pkgs debootstrap"
if [ -n "$need_pkgs" ]; then
    log "installing:$need_pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (vfs, no iptables); log in /tmp/dockerd.log"
    # setsid: the engine outlives this script on purpose (cached images, later runs).
    setsid dockerd --storage-driver=vfs --iptables=false >/tmp/dockerd.log 2>&1 </dev/null &
    i=0
    until docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            log "dockerd did not come up within 60 s:"
            tail -n 30 /tmp/dockerd.log >&2 || true
            exit 1
        fi
        sleep 1
    done
fi

image=debian:bookworm-slim
if docker image inspect "$image" >/dev/null 2>&1; then
    if [ "$(docker run --rm "$image" stat -c %a /)" = 755 ]; then
        log "base image $image present (cached)"
        exit 0
    fi
    log "cached $image has a bad root directory mode: rebuilding it"
    docker rmi -f "$image" >/dev/null
fi

# The mirror the machine's own apt sources use (deb822 .sources or sources.list).
mirror=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
         awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
[ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null |
         awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
secmirror=$(printf '%s' "$mirror" | sed 's#/debian/*$#/debian-security#')

rootfs=$(mktemp -d /tmp/e2e-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# mktemp made it 0700, and "." becomes the image's "/": non-root users need 0755.
chmod 0755 "$rootfs"
log "debootstrap minbase bookworm from $mirror (about 30 s)"
if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/e2e-debootstrap.log 2>&1; then
    tail -n 30 /tmp/e2e-debootstrap.log >&2
    log "debootstrap failed"
    exit 1
fi
# Same apt layout as the official image (main, updates, security), plus deb-src for
# 'apt-get source civetweb' in build stages.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOT
Types: deb deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $secmirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
# Keep the image small, like the official slim image: no package cache, lists, docs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
       "$rootfs"/var/log/*.log
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$image" >/dev/null
log "imported $image"
