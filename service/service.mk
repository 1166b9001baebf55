# service/: hellod. Everything but main.c goes into libhellod.a so unit tests link it.
HELLOD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out service/main.c,$(wildcard service/*.c)))
HELLOD_LIBS := $(CIVETWEB_LIBS)

$(BUILD)/libhellod.a: $(HELLOD_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/hellod: $(BUILD)/service/main.o $(BUILD)/libhellod.a $(BUILD)/libcommon.a $(BUILD)/civetweb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HELLOD_LIBS)
