# libbetrkv: static (plain and sanitizer) and shared builds of userlib/.
# The shared library exports only the betrkv_* API (hidden visibility by
# default, plus the version script userlib/libbetrkv.map).
LIB_SRCS	:= userlib/betrkv.c
LIB_STATIC	:= $(BUILD)/libbetrkv.a
LIB_SAN_STATIC	:= $(BUILD)/libbetrkv-san.a
LIB_SONAME	:= libbetrkv.so.0
LIB_SHARED	:= $(BUILD)/libbetrkv.so.$(VERSION)
LIB_MAP		:= userlib/libbetrkv.map

$(BUILD)/obj/userlib/%.o $(BUILD)/san/userlib/%.o: BASEFLAGS += -fvisibility=hidden

$(LIB_STATIC): $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
	$(AR) rcs $@ $^
$(LIB_SAN_STATIC): $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
	$(AR) rcs $@ $^
$(LIB_SHARED): $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=$(LIB_MAP) \
		-Wl,-z,defs -Wl,--as-needed $(LDFLAGS) \
		$(filter %.o,$^) -o $@
	ln -sf libbetrkv.so.$(VERSION) $(BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(BUILD)/libbetrkv.so

USER_TARGETS	+= $(LIB_STATIC) $(LIB_SAN_STATIC) $(LIB_SHARED)
