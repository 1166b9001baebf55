# logship/: the shipper. Everything but main.c goes into liblogship.a so unit tests link it.
# Objects live under $(BUILD)/obj/logship/ because $(BUILD)/logship is the binary.
# The folders are the pipeline: core/ (contracts), in/ (sources), spool/ (the disk buffer), out/ (backends),
# engine/ (the reader loop and the delivery threads); main, config and the admin endpoint stay at the top.
LOGSHIP_SRCS := $(filter-out logship/main.c,$(wildcard logship/*.c logship/*/*.c))
LOGSHIP_OBJS := $(patsubst logship/%.c,$(BUILD)/obj/logship/%.o,$(LOGSHIP_SRCS))
# OpenSSL for the outputs' TLS (logship serves its admin endpoint itself: no civetweb in it).
LOGSHIP_LIBS := -ljson-c -lcurl -lz -lsnappy -lssl -lcrypto -lpthread -lm

$(BUILD)/obj/logship/%.o: logship/%.c | $(CIVETWEB_DIR)/src/civetweb.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/liblogship.a: $(LOGSHIP_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/logship: $(BUILD)/obj/logship/main.o $(BUILD)/liblogship.a $(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LOGSHIP_LIBS)
