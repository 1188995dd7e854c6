# The engine core built for userspace: libbetrkv-core.a (and a sanitizer
# build of it) for tests, fuzzers, benchmarks and betrkvctl dump-super.
CORE_SRCS	:= kmod/block.c kmod/superblock.c kmod/user/env_user.c \
		   kmod/user/crc32c.c
CORE_LIB	:= $(BUILD)/libbetrkv-core.a
CORE_SAN_LIB	:= $(BUILD)/libbetrkv-core-san.a
CORE_LDLIBS	:= -l:libkcapi.a

$(CORE_LIB): $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
	$(AR) rcs $@ $^
$(CORE_SAN_LIB): $(CORE_SRCS:%.c=$(BUILD)/san/%.o)
	$(AR) rcs $@ $^

$(BUILD)/obj/kmod/%.o $(BUILD)/san/kmod/%.o: BASEFLAGS += -Ikmod

USER_TARGETS	+= $(CORE_LIB) $(CORE_SAN_LIB)
