#!/bin/sh
# fetch-civetweb.sh DESTDIR: unpack Debian's civetweb source package into DESTDIR.
#
# Debian's binary civetweb is built for the OpenSSL 1.1 API and crashes on
# OpenSSL 3 (civetweb issue 1334), so we compile it ourselves from Debian's
# own, apt-verified source package. Nothing third-party is committed: this
# runs at build time. Needs a deb-src entry (scripts/deps.sh adds one).
set -eu
dest=${1:?usage: fetch-civetweb.sh DESTDIR}
version=1.15+dfsg
if [ -f "$dest/civetweb-$version/src/civetweb.c" ]; then
    exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get source "civetweb=$version-4" >fetch.log 2>&1 ||
      apt-get source civetweb >>fetch.log 2>&1); then
    cat "$tmp/fetch.log" >&2
    echo "fetch-civetweb: 'apt-get source civetweb' failed; run 'make deps' (as root) to add the deb-src entry" >&2
    exit 1
fi
src=$(find "$tmp" -maxdepth 1 -type d -name 'civetweb-*' | head -n 1)
[ -n "$src" ] && [ -f "$src/src/civetweb.c" ] || {
    echo "fetch-civetweb: no civetweb.c in the unpacked source" >&2
    exit 1
}
rm -rf "$dest/civetweb-$version"
mv "$src" "$dest/civetweb-$version"
