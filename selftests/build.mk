# Tests.  Every selftests/userspace/*.c is a host test program (kselftest
# harness, TAP output), built twice: plain and with ASan+UBSan.  Every
# selftests/betrkv/*.c is a test program that runs inside the VM against the
# module; those are linked statically so the initramfs needs no libraries.
# All link the core library, libbetrkv and the CLI's helper library.

UTEST_SRCS	:= $(wildcard selftests/userspace/*.c)
UTEST_BINS	:= $(UTEST_SRCS:selftests/userspace/%.c=$(BUILD)/tests/%)
UTEST_SAN_BINS	:= $(UTEST_SRCS:selftests/userspace/%.c=$(BUILD)/tests-san/%)
VMTEST_SRCS	:= $(wildcard selftests/betrkv/*.c)
VMTEST_BINS	:= $(VMTEST_SRCS:selftests/betrkv/%.c=$(BUILD)/vmtests/%)

TEST_CFLAGS	:= -I$(BUILD)/kselftest -Ikmod -Itools -Wno-missing-prototypes
TEST_LIBS	:= $(CLI_LIB) $(LIB_STATIC) $(CORE_LIB)
TEST_SAN_LIBS	:= $(CLI_SAN_LIB) $(LIB_SAN_STATIC) $(CORE_SAN_LIB)

$(BUILD)/tests/%: selftests/userspace/%.c $(TEST_LIBS) $(KSELFTEST)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(TEST_CFLAGS) $(CFLAGS) -MMD -MP $< -o $@ $(TEST_LIBS) $(CORE_LDLIBS) -lpthread
$(BUILD)/tests-san/%: selftests/userspace/%.c $(TEST_SAN_LIBS) $(KSELFTEST)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(TEST_CFLAGS) -O1 -g $(SANFLAGS) -MMD -MP $< -o $@ $(TEST_SAN_LIBS) $(CORE_LDLIBS) -lpthread
$(BUILD)/vmtests/%: selftests/betrkv/%.c $(TEST_LIBS) $(KSELFTEST)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(TEST_CFLAGS) $(CFLAGS) -MMD -MP -static $< -o $@ $(TEST_LIBS) $(CORE_LDLIBS) -lpthread

# The replay tool's host test includes its source.
$(BUILD)/tests/test_log_replay $(BUILD)/tests-san/test_log_replay: tools/log-replay.c

TEST_TARGETS	+= $(UTEST_BINS) $(UTEST_SAN_BINS) $(VMTEST_BINS)

# libFuzzer targets (clang): selftests/fuzz/fuzz_*.c, each linked with the
# core sources instrumented for coverage, ASan and UBSan.  The test command
# runs each briefly (tools/run-tests.sh); run one longer with e.g.
#   build/fuzz/fuzz_superblock -max_total_time=600
FUZZ_SRCS	:= $(wildcard selftests/fuzz/*.c)
FUZZ_BINS	:= $(FUZZ_SRCS:selftests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CORE	:= $(CORE_SRCS)

$(BUILD)/fuzz/%: selftests/fuzz/%.c $(FUZZ_CORE)
	@mkdir -p $(dir $@)
	clang $(BASEFLAGS) -Ikmod -O1 -g -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $< $(FUZZ_CORE) -o $@ $(CORE_LDLIBS) -lpthread

TEST_TARGETS	+= $(FUZZ_BINS)
