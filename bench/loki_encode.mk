# bench/loki_encode.mk: the Loki encoding micro-benchmark (CPU and wire bytes of protobuf+snappy vs JSON+gzip).
# Run from the repo root:  make -f bench/loki_encode.mk run   (builds build/bench/loki_encode, then runs it)
# It compiles logship/out/loki_encode.c and the common/ pieces it uses directly, so it does not depend on the
# rest of logship building. LOKI_BENCH_ARGS, e.g. "--lines 200000 --rounds 1", shortens it.
CC      ?= cc
CFLAGS  ?= -O2 -g
BENCH_BUILD ?= build/bench
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-missing-field-initializers
LOKI_BENCH_SRCS := bench/loki_encode.c logship/out/loki_encode.c logship/out/gzip.c logship/core/labels.c common/buf.c common/jsonw.c
LOKI_BENCH_ARGS ?=

$(BENCH_BUILD)/loki_encode: $(LOKI_BENCH_SRCS) logship/out/loki_encode.h logship/out/gzip.h common/buf.h common/jsonw.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -I. -Icommon -Ilogship $(WARN) $(CFLAGS) -o $@ $(LOKI_BENCH_SRCS) -lsnappy -lz

run: $(BENCH_BUILD)/loki_encode
	$(BENCH_BUILD)/loki_encode $(LOKI_BENCH_ARGS)

.PHONY: run
