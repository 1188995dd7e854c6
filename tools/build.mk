# betrkvctl: its helper library (parsing, formatting, command dispatch;
# linked by the tests too) and the program, linked statically so that it
# runs in the VM's initramfs without shared libraries.
CLI_SRCS	:= tools/cli.c
CLI_LIB		:= $(BUILD)/libbetrkvctl.a
CLI_SAN_LIB	:= $(BUILD)/libbetrkvctl-san.a
BETRKVCTL	:= $(BUILD)/bin/betrkvctl

$(BUILD)/obj/tools/%.o $(BUILD)/san/tools/%.o: BASEFLAGS += -Ikmod -Itools \
	-DBETRKV_VERSION=\"$(VERSION)\"

$(CLI_LIB): $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
	$(AR) rcs $@ $^
$(CLI_SAN_LIB): $(CLI_SRCS:%.c=$(BUILD)/san/%.o)
	$(AR) rcs $@ $^
$(BETRKVCTL): $(BUILD)/obj/tools/betrkvctl.o $(CLI_LIB) $(LIB_STATIC) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -static $^ -o $@ $(CORE_LDLIBS)

USER_TARGETS	+= $(CLI_LIB) $(CLI_SAN_LIB) $(BETRKVCTL)

# betrkv-log-replay: replays a dm-log-writes log onto a device up to a point
# (the in-VM crash test); static, for the initramfs.
LOG_REPLAY	:= $(BUILD)/bin/betrkv-log-replay

$(LOG_REPLAY): $(BUILD)/obj/tools/log-replay.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -static $^ -o $@

USER_TARGETS	+= $(LOG_REPLAY)
