#!/bin/sh
# Runs inside the VM (tools/run-tests.sh boots it): loads the module with
# the parameters given as arguments, runs every in-VM test program and the
# host unit tests that need the guest's kernel (crc32c through AF_ALG), each
# printing TAP.  Exits non-zero if any program failed.
cd /
dmesg -n 1
modprobe algif_hash && modprobe crypto_user
modprobe dm-flakey
insmod /lib/modules/betrkv.ko "$@" || { echo "not ok 1 insmod betrkv.ko"; exit 1; }
status=0
for t in /selftests/bind_test /selftests/refusal_test /selftests/control_test \
	 /selftests/udev_test \
	 /selftests/data_test /selftests/ioctl_fuzz /selftests/fault_test \
	 /selftests/crash_test \
	 /bin/fio_test.sh \
	 /unittests/test_crc32c /selftests/module_test; do
	echo "# ==== $t"
	"$t" || status=1
done
# A kernel with kmemleak (make check-debug): no leak may be reported.  Two
# scans, as an object is reported only once it is old enough.
leaks=/sys/kernel/debug/kmemleak
if [ -w "$leaks" ]; then
	echo scan > "$leaks"; sleep 6; echo scan > "$leaks"
	if grep -q unreferenced "$leaks"; then
		echo "not ok 1 kmemleak reports leaks"
		head -n 60 "$leaks"
		status=1
	fi
fi
# No oops or warning may have been logged along the way.
if dmesg | grep -E "WARNING:|BUG:|Oops|Call Trace" >/dev/null; then
	echo "not ok 1 kernel log has warnings"
	dmesg | tail -n 40
	status=1
fi
exit $status
