# The betrkv fio ioengine (tools/fio/betrkv-engine.c): a shared object that
# fio loads with ioengine=external:build/fio/betrkv-fio.so.  It is compiled
# against the headers of the installed fio's Debian source package, fetched
# and configured at build time into $(BUILD)/fio/src by
# tools/fio/fetch-fio-source.sh (never committed), and links libbetrkv
# statically (its symbols kept local), so it needs nothing of betrkv at run
# time and exports only `ioengine`.
#
#   make -f Makefile -f tools/fio/build.mk build/fio/betrkv-fio.so
#
# (or `include tools/fio/build.mk` in the Makefile, after userlib/build.mk).
ifndef BETRKV_FIO_MK
BETRKV_FIO_MK	:= 1

BUILD		?= build
FIO_SRC		:= $(BUILD)/fio/src
FIO_HEADERS	:= $(FIO_SRC)/config-host.h
FIO_ENGINE	:= $(BUILD)/fio/betrkv-fio.so
FIO_LIBBETRKV	:= $(or $(LIB_STATIC),$(BUILD)/libbetrkv.a)

# The project's warnings, plus what fio's own build gives its sources
# (config-host.h first, large-file defines).  Default visibility: fio looks
# up the `ioengine` symbol.
FIO_ENGINE_CFLAGS := -std=gnu11 -fPIC $(WARNFLAGS) \
	-include $(FIO_HEADERS) -D_GNU_SOURCE -D_LARGEFILE_SOURCE \
	-D_FILE_OFFSET_BITS=64 -I$(FIO_SRC) -Iuserlib -Iuapi

# Checked again when dpkg's database changes (fio upgraded: new headers).
$(FIO_HEADERS): tools/fio/fetch-fio-source.sh $(wildcard /var/lib/dpkg/status)
	tools/fio/fetch-fio-source.sh $(FIO_SRC)
	@touch $@

$(FIO_ENGINE): tools/fio/betrkv-engine.c $(FIO_HEADERS) $(FIO_LIBBETRKV) \
		userlib/betrkv.h tools/fio/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(FIO_ENGINE_CFLAGS) $(CFLAGS) \
		-DBETRKV_FIO_VERSION="\"$$(sed -n 's/^FIO_VERSION = //p' $(FIO_SRC)/FIO-VERSION-FILE)\"" \
		-shared -Wl,--as-needed -Wl,--exclude-libs,ALL $(LDFLAGS) $< $(FIO_LIBBETRKV) -o $@

.PHONY: fio-engine
fio-engine: $(FIO_ENGINE)

TEST_TARGETS	+= $(FIO_ENGINE)

endif
