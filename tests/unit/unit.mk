# tests/unit/: cmocka tests. The file name says what a test links:
#   test_common_*.c → libcommon.a
#   test_hellod_*.c → libhellod.a + libcommon.a + civetweb
#   test_logship_*.c → liblogship.a + libcommon.a + civetweb and logship's libraries
#   every test_logship_* also links libtesthelp.a: the shared test modules (tests/lib/*.c: the Loki protobuf
#   decoder; tests/unit/fake_*.c: the in-process fake servers). An archive, so a test pulls in only what it uses.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
TESTHELP_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/lib/*.c tests/unit/fake_*.c))

$(BUILD)/libtesthelp.a: $(TESTHELP_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/unit/test_common_%: $(BUILD)/tests/unit/test_common_%.o $(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka -lm -lpthread

$(BUILD)/tests/unit/test_hellod_%: $(BUILD)/tests/unit/test_hellod_%.o $(BUILD)/libhellod.a \
		$(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(HELLOD_LIBS)

$(BUILD)/tests/unit/test_logship_%: $(BUILD)/tests/unit/test_logship_%.o $(BUILD)/libtesthelp.a \
		$(BUILD)/liblogship.a $(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(LOGSHIP_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
