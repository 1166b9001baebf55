# common/: code both programs link (buffers, JSON writer, logger, metrics, config).
COMMON_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard common/*.c))

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
