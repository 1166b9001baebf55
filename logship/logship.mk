# logship/: the shipper. Everything but main.c goes into liblogship.a so unit tests link it.
LOGSHIP_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out logship/main.c,$(wildcard logship/*.c)))
LOGSHIP_LIBS := -ljson-c -lcurl -lz -lsnappy $(CIVETWEB_LIBS) -lm

$(BUILD)/liblogship.a: $(LOGSHIP_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/logship: $(BUILD)/logship/main.o $(BUILD)/liblogship.a $(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LOGSHIP_LIBS)
