# betrkv-bench: the YCSB-style benchmark of key-value engines
# (tools/bench/README.md).  A host tool, linked dynamically against the
# engines it compares.
BENCH_SRCS	:= $(wildcard tools/bench/*.c)
BENCH		:= $(BUILD)/bin/betrkv-bench
BENCH_LDLIBS	:= -lrocksdb -llmdb -lpthread -lm $(CORE_LDLIBS)

# The betrkv backend is the engine core itself; betrkv-kernel is libbetrkv.
$(BUILD)/obj/tools/bench/engine_betrkv.o: BASEFLAGS += -Ikmod
$(BUILD)/obj/tools/bench/engine_kernel.o: BASEFLAGS += -Itools

$(BENCH): $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o) $(CLI_LIB) $(LIB_STATIC) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(BENCH_LDLIBS)

USER_TARGETS	+= $(BENCH)
