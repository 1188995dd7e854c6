# SPDX-License-Identifier: GPL-2.0
#
# betrkv top-level build.
#
#   make            the module (kbuild), libbetrkv, the tools and the tests
#   make check      install what is missing, then run every test (host + VM)
#   make check-debug the in-VM tests on a debug kernel (KASAN, lockdep, ...)
#   make demo       install what is missing, then the main job in a VM
#   make install    modules_install, library, header, pkg-config file, tools
#   make clean
#
# KDIR selects the kernel build tree; by default the newest installed Debian
# headers.  Userspace objects go to build/; fragments in the subdirectories
# (*/build.mk) add their own targets to this one make.

BUILD		:= build
PREFIX		?= /usr/local
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
BINDIR		?= $(PREFIX)/sbin
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
MANDIR		?= $(PREFIX)/share/man
UDEVRULESDIR	?= /lib/udev/rules.d
DESTDIR		?=
VERSION		:= 0.1.0

KDIR		?= $(shell ls -d /usr/src/linux-headers-*-amd64 /lib/modules/*/build \
			2>/dev/null | sort -V | tail -n 1)
KVER		?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
			$(KDIR)/include/generated/utsrelease.h 2>/dev/null)

CC		?= cc
CFLAGS		?= -O2 -g
WARNFLAGS	:= -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
		   -Wmissing-prototypes -Werror=implicit-function-declaration
BASEFLAGS	:= -std=gnu11 -D_GNU_SOURCE -Iuapi -Iuserlib $(WARNFLAGS)
SANFLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
KSELFTEST	:= $(BUILD)/kselftest/kselftest_harness.h

.PHONY: all module user tests check check-debug demo install clean deps
all: module user tests

module:
	@test -n "$(KDIR)" || { echo "no kernel headers found: make deps, or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

$(KSELFTEST):
	tools/fetch-kselftest.sh $(BUILD)/kselftest $(BUILD)/linux-source

# Objects: $(BUILD)/obj/<path>.o (normal) and $(BUILD)/san/<path>.o
# (AddressSanitizer + UndefinedBehaviorSanitizer).
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -g $(SANFLAGS) -MMD -MP -c $< -o $@

include kmod/user/build.mk
include userlib/build.mk
include tools/build.mk
include tools/bench/build.mk
include selftests/build.mk
include tools/fio/build.mk

user: $(USER_TARGETS)
tests: $(TEST_TARGETS)

deps:
	tools/install-deps.sh

check: deps
	$(MAKE) all
	tools/run-tests.sh

# The debug kernel is built once (tools/vm/build-debug-kernel.sh) and the
# module is built against it from a copy of its sources, beside the normal one.
DEBUG_KERNEL	:= $(BUILD)/debug-kernel
check-debug: deps
	$(MAKE) all
	tools/vm/build-debug-kernel.sh $(DEBUG_KERNEL)
	rm -rf $(DEBUG_KERNEL)/module
	mkdir -p $(DEBUG_KERNEL)/module
	cp -r Kbuild kmod uapi $(DEBUG_KERNEL)/module/
	$(MAKE) -C $(DEBUG_KERNEL)/obj M=$(CURDIR)/$(DEBUG_KERNEL)/module modules
	VM_ROOT=$(DEBUG_KERNEL)/root MODULE=$(DEBUG_KERNEL)/module/betrkv.ko \
		MODULE_ARGS=verify_tree=1 tools/run-tests.sh vm

demo: deps
	$(MAKE) all
	tools/demo.sh

install: all
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) modules_install
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 644 uapi/linux/betrkv.h $(DESTDIR)$(INCLUDEDIR)/linux/
	install -m 644 userlib/betrkv.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(BUILD)/libbetrkv.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libbetrkv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libbetrkv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libbetrkv.so.0
	ln -sf libbetrkv.so.0 $(DESTDIR)$(LIBDIR)/libbetrkv.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
		userlib/libbetrkv.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libbetrkv.pc
	install -m 755 $(BUILD)/bin/betrkvctl $(DESTDIR)$(BINDIR)/
	for s in 1 3 4 8; do install -d $(DESTDIR)$(MANDIR)/man$$s && \
		cp -P man/man$$s/*.$$s $(DESTDIR)$(MANDIR)/man$$s/ 2>/dev/null || true; done
	install -D -m 644 tools/udev/60-betrkv.rules $(DESTDIR)$(UDEVRULESDIR)/60-betrkv.rules

clean:
	-test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(DEBUG_KERNEL) -prune -o -name '*.d' -type f -print 2>/dev/null)
