# service/: hellod. Everything but main.c goes into libhellod.a so unit tests link it.
HELLOD_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out service/main.c,$(wildcard service/*.c)))
HELLOD_LIBS := $(CIVETWEB_LIBS)

$(BUILD)/libhellod.a: $(HELLOD_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# civetweb-hellod.o comes before the archives: it references hellod_accept etc. in libhellod.a.
$(BUILD)/hellod: $(BUILD)/service/main.o $(BUILD)/civetweb-hellod.o $(BUILD)/libhellod.a $(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(HELLOD_LIBS)
