# The single entry point for building, testing, running and measuring.
#
#   make            build hellod and logship (build/)
#   make deps       install the Debian packages everything needs (root)
#   make test       static checks, unit tests, integration tests, the same
#                   again under ASan+UBSan, fuzz smoke runs, config checks
#   make run        run hellod in the foreground, piped into logship
#   make bench      benchmarks (not part of the tests; make bench-build only builds their helpers)
#   make e2e        the docker-compose stack end to end
#
# SAN=1 builds into build-san/ with AddressSanitizer and UBSan.

SAN ?=
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC      ?= cc
PYTHON  ?= /usr/bin/python3
CFLAGS  ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-missing-field-initializers
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -I. $(WARNFLAGS) $(CFLAGS) $(SANFLAGS) \
             -Icommon -Ilogship -I$(CIVETWEB_DIR)/include -DPROJECT_VERSION='"$(VERSION)"' -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)

# civetweb comes from Debian's source package at build time (never committed),
# compiled for the OpenSSL 3 API, linked (not dlopen'ed), with IPv6.
CIVETWEB_VER := 1.15+dfsg
CIVETWEB_DIR := third_party/civetweb-$(CIVETWEB_VER)
CIVETWEB_CFLAGS := -std=gnu11 -O2 -g -w $(SANFLAGS) -I$(CIVETWEB_DIR)/include \
    -DOPENSSL_API_3_0 -DNO_SSL_DL -DNO_CGI -DUSE_IPV6 -DNO_FILES -DNO_CACHING \
    -DSOCKET_TIMEOUT_QUANTUM=200
# SOCKET_TIMEOUT_QUANTUM: how long an idle connection's poll() runs before it
# rechecks the stop flag (civetweb's default is 2 s); 200 ms keeps shutdown prompt.
CIVETWEB_LIBS := -lssl -lcrypto -lpthread -ldl
# hellod links its own copy of civetweb with build-time hooks (the source is
# never patched). civetweb's master thread calls hellod_accept and every
# socket close goes through hellod_close (service/connguard.c), so hellod
# caps connections per client address before one can own a worker thread.
# civetweb's head scanner rejects any byte that is not isprint(), HTAB
# included (RFC 9110 allows HTAB in field values): with glibc's ctype macros
# off (__NO_CTYPE), isprint is hellod_isprint (service/framing.c), which also
# takes HTAB; a tab anywhere else still fails civetweb's parser.
# MG_MAX_HEADERS cannot be raised with -D: civetweb.h defines it (64)
# unconditionally, so service/framing.c refuses a head that reaches it.
# SSL_pending is hellod_ssl_pending (service/tlsctx.c), which also sees a
# complete record OpenSSL read ahead, so hellod can turn read-ahead on (one
# read(2) per request record, not two) without civetweb stalling in poll().
HELLOD_CIVETWEB_HOOKS := -Daccept=hellod_accept -Dclose=hellod_close \
    -D__NO_CTYPE -Disprint=hellod_isprint -DSSL_pending=hellod_ssl_pending

.PHONY: all deps test unit integration test-san fuzz-smoke check-style check-config \
        run bench bench-build e2e clean civetweb
.DEFAULT_GOAL := all
# Keep objects of pattern-rule chains (test and fuzz objects): they are not throw-away intermediates.
.SECONDARY:

all: $(BUILD)/hellod $(BUILD)/logship

deps:
	sh scripts/deps.sh

$(CIVETWEB_DIR)/src/civetweb.c:
	sh scripts/fetch-civetweb.sh third_party

civetweb: $(BUILD)/civetweb.o
$(BUILD)/civetweb.o: $(CIVETWEB_DIR)/src/civetweb.c
	@mkdir -p $(@D)
	$(CC) $(CIVETWEB_CFLAGS) -c $< -o $@
$(BUILD)/civetweb-hellod.o: $(CIVETWEB_DIR)/src/civetweb.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CIVETWEB_CFLAGS) $(HELLOD_CIVETWEB_HOOKS) -c $< -o $@

# Headers of civetweb are needed before any of our objects compile.
$(BUILD)/%.o: %.c | $(CIVETWEB_DIR)/src/civetweb.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

include common/common.mk
include service/service.mk
include logship/logship.mk
include tests/unit/unit.mk
include tests/fuzz/fuzz.mk
include bench/bench.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- tests -------------------------------------------------------------------
PYTEST := $(PYTHON) -m pytest -q -p no:cacheprovider

test: check-style unit integration test-san fuzz-smoke check-config
	@echo "make test: all suites passed"

integration: $(BUILD)/hellod $(BUILD)/logship
	HELLOD_BIN=$(abspath $(BUILD)/hellod) LOGSHIP_BIN=$(abspath $(BUILD)/logship) SANITIZED=$(SAN) \
	    $(PYTEST) tests/integration

# The same unit and integration suites, built with ASan+UBSan.
test-san:
	$(MAKE) SAN=1 unit integration

check-style:
	sh scripts/check-style.sh

check-config:
	sh scripts/check-config.sh

# --- running -----------------------------------------------------------------
run: $(BUILD)/hellod $(BUILD)/logship
	mkdir -p run/state run/spool
	$(BUILD)/hellod --state-dir run/state | \
	    $(BUILD)/logship --source - --label service=hellod --loki $${LOKI_URL:-http://127.0.0.1:3100} \
	        --spool-dir run/spool

bench: all bench-build
	sh bench/run.sh

e2e:
	sh tests/e2e/run.sh

clean:
	rm -rf build build-san build-fuzz
