# bench/bench.mk: the benchmark's helper programs, built by the main Makefile (included there) into $(BUILD)/bench/
# with the project's flags, so that a renamed or moved product symbol breaks `make bench-build`, not a bench run.
# Not part of the product; `make bench` builds these, then runs bench/run.sh.
#   sink         the Loki / _bulk stand-in the logship benchmarks ship to (decodes every body it is sent)
#   snappyc      the snappy floor: raw-block-compress a file in 1 MiB batches
#   loki_encode  micro-benchmark: protobuf+snappy against JSON+gzip (links liblogship.a)
#   es_encode    micro-benchmark: the _bulk NDJSON encoder (links liblogship.a)
BENCH_BINS := $(BUILD)/bench/sink $(BUILD)/bench/snappyc $(BUILD)/bench/loki_encode $(BUILD)/bench/es_encode

$(BUILD)/bench/sink: $(BUILD)/bench/sink.o $(BUILD)/tests/lib/lokipb.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lsnappy -lz

$(BUILD)/bench/snappyc: $(BUILD)/bench/snappyc.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lsnappy

$(BUILD)/bench/loki_encode $(BUILD)/bench/es_encode: $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/liblogship.a \
		$(BUILD)/libcommon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LOGSHIP_LIBS)

bench-build: $(BENCH_BINS)
