# service/: hellod. Everything but main.c goes into libhellod.a so unit tests link it.
HELLOD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out service/main.c,$(wildcard service/*.c)))
HELLOD_LIBS := $(CIVETWEB_LIBS)

# civetweb build flags hellod depends on (see the report to the lead; these
# belong in the top-level CIVETWEB_CFLAGS):
#  - MAX_REQUEST_SIZE is an enum constant inside civetweb.c (the runtime option
#    max_request_size), so -DMAX_REQUEST_SIZE=... breaks the compile; hellod sets
#    the option at run time instead.
#  - SOCKET_TIMEOUT_QUANTUM bounds how long an idle connection's poll() runs
#    before it rechecks the stop flag (default 2000 ms): 200 ms makes mg_stop,
#    and so hellod's shutdown, prompt.
CIVETWEB_CFLAGS := $(filter-out -DMAX_REQUEST_SIZE=%,$(CIVETWEB_CFLAGS))
ifeq ($(filter -DSOCKET_TIMEOUT_QUANTUM=%,$(CIVETWEB_CFLAGS)),)
CIVETWEB_CFLAGS += -DSOCKET_TIMEOUT_QUANTUM=200
endif

$(BUILD)/libhellod.a: $(HELLOD_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/hellod: $(BUILD)/service/main.o $(BUILD)/libhellod.a $(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HELLOD_LIBS)

# Fuzz targets for hellod's parsers (tests/fuzz/fuzz_hellod_*.c), built like
# the ones in tests/fuzz/fuzz.mk (whose variables are used at recipe time):
# the target links the service objects it needs, not main.c or civetweb.
FUZZ_HELLOD_OBJS := build-fuzz/obj/service/route.o build-fuzz/obj/service/reqid.o
build-fuzz/fuzz_hellod_%: build-fuzz/obj/tests/fuzz/fuzz_hellod_%.o $(FUZZ_HELLOD_OBJS) \
		build-fuzz/libcommon.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ -lm -lpthread
