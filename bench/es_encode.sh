#!/bin/sh
# es_encode.sh: build and run the _bulk encoder micro-benchmark (bench/es_encode.c) against the
# current build's libraries. Usage: sh bench/es_encode.sh [lines]   (run from the repo root)
set -eu
make -s build/liblogship.a build/libcommon.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -g -I. -Icommon -Ilogship -Wall -Wextra -Werror -o build/bench/es_encode \
    bench/es_encode.c build/liblogship.a build/libcommon.a -lcrypto -lz
exec build/bench/es_encode "${1:-1000000}"
