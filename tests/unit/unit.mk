# tests/unit/: cmocka tests. The file name says what a test links:
#   test_common_*.c → libcommon.a
#   test_hellod_*.c → libhellod.a + libcommon.a + civetweb
#   test_logship_*.c → liblogship.a + libcommon.a + civetweb and logship's libraries
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))

$(BUILD)/tests/unit/test_common_%: $(BUILD)/tests/unit/test_common_%.o $(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka -lm -lpthread

$(BUILD)/tests/unit/test_hellod_%: $(BUILD)/tests/unit/test_hellod_%.o $(BUILD)/libhellod.a \
		$(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(HELLOD_LIBS)

$(BUILD)/tests/unit/test_logship_%: $(BUILD)/tests/unit/test_logship_%.o $(BUILD)/liblogship.a \
		$(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka $(LOGSHIP_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
