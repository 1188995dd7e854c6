# SPDX-License-Identifier: GPL-2.0
#
# betrkv top-level build.
#
#   make            the module (kbuild), libbetrkv, the tools and the tests
#   make modules    the module for every installed Debian kernel (the VM's)
#   make dkms-source the DKMS source tree, /usr/src/betrkv-VERSION
#   make check      install what is missing, then run every test (host + VM)
#   make check-debug the in-VM tests on a debug kernel (KASAN, lockdep, ...)
#   make check-dkms `dkms build` for every installed kernel, in a temporary tree
#   make demo       install what is missing, then the main job in a VM
#   make install    modules_install, library, header, pkg-config file, tools
#   make clean
#
# KDIR selects the kernel build tree of `make module` (./betrkv.ko, what
# `make install` installs); by default the newest installed Debian headers.
# `make modules` builds build/modules/<release>/betrkv.ko for each release in
# VM_KVERS: by default every installed Debian kernel with its image and
# headers (6.1 and 6.12 after `make deps`), the kernels the VM tests boot.
# Userspace objects go to build/; fragments in the subdirectories
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
VM_KVERS	?= $(shell ls /boot/vmlinuz-*-amd64 2>/dev/null | sed 's|^/boot/vmlinuz-||' | \
			while read -r v; do test -f /lib/modules/$$v/build/Makefile && echo $$v; done | sort -V)

CC		?= cc
CFLAGS		?= -O2 -g
WARNFLAGS	:= -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
		   -Wmissing-prototypes -Werror=implicit-function-declaration
BASEFLAGS	:= -std=gnu11 -D_GNU_SOURCE -Iuapi -Iuserlib $(WARNFLAGS)
SANFLAGS	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
KSELFTEST	:= $(BUILD)/kselftest/kselftest_harness.h

.PHONY: all module modules user tests check check-debug check-dkms dkms-source demo install \
	clean deps FORCE
all: module modules user tests

module:
	@test -n "$(KDIR)" || { echo "no kernel headers found: make deps, or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# The module's sources: what kbuild needs to build betrkv.ko.
KMOD_SOURCES	:= Kbuild $(wildcard kmod/*.[ch] uapi/linux/*.h)

# kbuild writes its objects beside the sources, so each kernel's build runs
# in its own tree of symlinks to them (links to deleted files are removed).
VM_MODULES	:= $(foreach v,$(VM_KVERS),$(BUILD)/modules/$(v)/betrkv.ko)
modules: $(VM_MODULES)
	@test -n "$(VM_MODULES)" || { echo "no kernel image with headers found: make deps" >&2; exit 1; }
$(BUILD)/modules/%/betrkv.ko: FORCE
	@mkdir -p $(@D)/kmod $(@D)/uapi/linux
	@find $(@D) -xtype l -delete
	@for f in $(KMOD_SOURCES); do ln -sfn $(CURDIR)/$$f $(@D)/$$f; done
	$(MAKE) -C /lib/modules/$*/build M=$(CURDIR)/$(@D) modules
FORCE:

# The DKMS source tree: dkms.conf and the module's sources, then e.g.
#   dkms install betrkv/$(VERSION) -k <kernel release>   (for each kernel)
# `make check-dkms` builds it with dkms for each VM_KVERS in a temporary tree.
DKMS_SRC	?= $(DESTDIR)/usr/src/betrkv-$(VERSION)
dkms-source:
	rm -rf $(DKMS_SRC)/kmod $(DKMS_SRC)/uapi
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/uapi/linux
	for f in dkms.conf $(KMOD_SOURCES); do install -m 644 $$f $(DKMS_SRC)/$$f || exit 1; done
check-dkms:
	tools/run-tests.sh dkms

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

-include $(shell find $(BUILD) \( -path $(DEBUG_KERNEL) -o -path $(BUILD)/modules \) -prune \
	-o -name '*.d' -type f -print 2>/dev/null)
