# The engine core built for userspace: libbetrkv-core.a (and a sanitizer
# build of it) for tests, fuzzers, benchmarks and betrkvctl dump-super.
# Every kmod/*.c but the kernel-only files, and the userspace environment.
KERNEL_ONLY_SRCS := kmod/env_kernel.c kmod/main.c kmod/store.c kmod/sysfs.c \
		    kmod/uargs.c kmod/dataio.c
CORE_SRCS	:= $(filter-out $(KERNEL_ONLY_SRCS),$(wildcard kmod/*.c)) \
		   $(wildcard kmod/user/*.c)
CORE_LIB	:= $(BUILD)/libbetrkv-core.a
CORE_SAN_LIB	:= $(BUILD)/libbetrkv-core-san.a
CORE_LDLIBS	:= -l:libkcapi.a

$(CORE_LIB): $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
	$(AR) rcs $@ $^
$(CORE_SAN_LIB): $(CORE_SRCS:%.c=$(BUILD)/san/%.o)
	$(AR) rcs $@ $^

$(BUILD)/obj/kmod/%.o $(BUILD)/san/kmod/%.o: BASEFLAGS += -Ikmod

USER_TARGETS	+= $(CORE_LIB) $(CORE_SAN_LIB)
