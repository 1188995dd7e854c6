#!/bin/sh
# /init of the betrkv-vm guest (busybox sh, PID 1).  Installed by
# tools/vm/betrkv-vm, which also writes:
#   /etc/betrkv-vm/modules  modules to modprobe at boot, one per line, in order
#   /etc/betrkv-vm/cmd      the shell command to run (via /bin/sh -c)
# It sets up the guest, runs the command with stdin from /dev/null, prints
# "BETRKV-VM-EXIT <status>" and ends QEMU through isa-debug-exit (port 0xf4):
# QEMU then exits with (status << 1) | 1.  Anything that goes wrong before the
# command runs prints "BETRKV-VM-SETUP-FAILED: ..." and ends the VM without
# the final line, which the host treats as a failure.

export PATH=/bin:/sbin HOME=/ TERM=dumb
# No udev in the guest: let libdevmapper create /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# Write one byte to I/O port 0xf4 (isa-debug-exit), which ends QEMU at once.
vm_exit() {
	n=$1
	[ "$n" -gt 127 ] && n=127  # (n << 1) | 1 must fit in QEMU's 8-bit exit status
	# shellcheck disable=SC2059 # the format is built on purpose: \NNN octal
	printf "\\$(printf %03o "$n")" | dd of=/dev/port bs=1 seek=244 count=1 conv=notrunc 2>/dev/null
	sleep 2
	echo "betrkv-vm: isa-debug-exit did not end the VM; powering off" >&2
	poweroff -f
}

setup_failed() {
	echo "BETRKV-VM-SETUP-FAILED: $*"
	vm_exit 125
}

/bin/busybox mount -t proc proc /proc || setup_failed "mount /proc"
# applet symlinks; existing files (programs copied in by --bin) are kept
/bin/busybox --install -s /bin || setup_failed "busybox --install"
mount -t sysfs sysfs /sys || setup_failed "mount /sys"
mount -t devtmpfs devtmpfs /dev || setup_failed "mount /dev"
mkdir -p /dev/shm /dev/pts /tmp /run
mount -t tmpfs -o mode=1777 tmpfs /tmp || setup_failed "mount /tmp"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || setup_failed "mount /dev/shm"
mount -t tmpfs -o mode=755 tmpfs /run || setup_failed "mount /run"
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# The kernel's module autoloader calls /sbin/modprobe.
echo /sbin/modprobe > /proc/sys/kernel/modprobe

while read -r mod; do
	[ -n "$mod" ] || continue
	modprobe "$mod" || setup_failed "modprobe $mod"
done < /etc/betrkv-vm/modules

cd / || setup_failed "cd /"
/bin/sh -c "$(cat /etc/betrkv-vm/cmd)" < /dev/null
status=$?

cd /
sync
echo "BETRKV-VM-EXIT $status"
# Let the serial driver send everything buffered before QEMU goes away:
# stty's tcsetattr(TCSADRAIN) waits until the output has drained.
stty -F /dev/console -tostop 2>/dev/null
vm_exit "$status"
