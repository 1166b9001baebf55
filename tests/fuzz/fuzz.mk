# tests/fuzz/: libFuzzer targets, built with clang into build-fuzz/.
# The file name says what a target links, as for unit tests:
#   fuzz_common_*.c → common;  fuzz_logship_*.c → logship (not main.c) + common;
#   fuzz_hellod_*.c → the pure service objects (routing, request ids) + common
# Libraries are archives, so a target pulls in only the objects it uses.
# 'make fuzz-smoke' runs each target for FUZZ_SECONDS over its seed corpus
# (tests/fuzz/corpus/<target>/ when present).
FUZZ_SECONDS ?= 10
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -Icommon -Ilogship -I$(CIVETWEB_DIR)/include -g -O1 \
               -DPROJECT_VERSION='"fuzz"' -fsanitize=fuzzer-no-link $(FUZZ_SAN) -Wall -Wextra -Werror -Wno-missing-field-initializers
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))
FUZZ_COMMON_OBJS := $(patsubst %.c,build-fuzz/obj/%.o,$(wildcard common/*.c))
FUZZ_LOGSHIP_OBJS := $(patsubst %.c,build-fuzz/obj/%.o,$(filter-out logship/main.c,$(wildcard logship/*.c logship/*/*.c)))

build-fuzz/obj/%.o: %.c | $(CIVETWEB_DIR)/src/civetweb.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build-fuzz/civetweb.o: $(CIVETWEB_DIR)/src/civetweb.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(filter-out $(SANFLAGS),$(CIVETWEB_CFLAGS)) $(FUZZ_SAN) -c $< -o $@

build-fuzz/libcommon.a: $(FUZZ_COMMON_OBJS)
	rm -f $@ && ar rcs $@ $^
build-fuzz/liblogship.a: $(FUZZ_LOGSHIP_OBJS)
	rm -f $@ && ar rcs $@ $^
# the shared test modules a target may use (tests/lib/*.c: the Loki protobuf decoder)
build-fuzz/libtesthelp.a: $(patsubst %.c,build-fuzz/obj/%.o,$(wildcard tests/lib/*.c))
	rm -f $@ && ar rcs $@ $^

build-fuzz/fuzz_common_%: build-fuzz/obj/tests/fuzz/fuzz_common_%.o build-fuzz/libcommon.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ -ljson-c -lm -lpthread

build-fuzz/fuzz_logship_%: build-fuzz/obj/tests/fuzz/fuzz_logship_%.o build-fuzz/libtesthelp.a \
		build-fuzz/liblogship.a build-fuzz/libcommon.a build-fuzz/civetweb.o
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LOGSHIP_LIBS)

FUZZ_HELLOD_OBJS := build-fuzz/obj/service/route.o build-fuzz/obj/service/reqid.o \
                    build-fuzz/obj/service/framing.o
build-fuzz/fuzz_hellod_%: build-fuzz/obj/tests/fuzz/fuzz_hellod_%.o $(FUZZ_HELLOD_OBJS) \
		build-fuzz/libcommon.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ -lm -lpthread

fuzz: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); corpus=build-fuzz/corpus/$$n; mkdir -p $$corpus; \
	    if [ -d tests/fuzz/corpus/$$n ]; then cp -r tests/fuzz/corpus/$$n/. $$corpus/; fi; \
	    echo "== $$n ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $$corpus >build-fuzz/$$n.log 2>&1 || \
	        { tail -n 60 build-fuzz/$$n.log; exit 1; }; \
	done
