#!/bin/bash
# Run every test and print one summary line, "N passed, N failed, N skipped".
#
#   tools/run-tests.sh [host|vm|dkms|man]...  (default: host vm dkms)
#
# host: each userspace test program (kselftest TAP), plain and under
#       AddressSanitizer + UndefinedBehaviorSanitizer; then each libFuzzer
#       target for FUZZ_RUNS (default 100000) inputs; then man.
# man:  `mandoc -T lint -W style` of each page in man/man*/, with man/ in
#       MANPATH so that cross references to this tree's pages resolve: any
#       message fails it (but notes on a stale mandoc.db, and references to
#       other pages, betrkv*(n) and libbetrkv*(n) aside, which a machine
#       without manual pages lacks).
# vm:   for each kernel, boots it in QEMU with the module built for it and
#       the disks the in-VM tests expect (selftests/betrkv/vmtest.h) and
#       runs selftests/betrkv/run.sh; then the hard-reset test (two boots
#       on the same disk images).  The kernels: VM_KERNELS (releases, e.g.
#       "6.1.0-57-amd64 6.12.95+deb12-amd64"), by default every installed
#       Debian kernel with its headers (the Makefile's VM_KVERS: 6.1 and
#       6.12 after make deps), each with build/modules/<release>/betrkv.ko
#       (make modules).  Every kernel runs the whole suite.
#       MODULE instead names one betrkv.ko, whose kernel (its vermagic) is
#       the one booted; VM_ROOT takes that kernel from under the directory
#       (betrkv-vm --root; make check-debug).  MODULE_ARGS are the module's
#       parameters for the suite.
#       /etc/udev/rules.d gets tools/udev/ and /bin udevadm (udev_test).
# dkms: tools/dkms-check.sh: `dkms build` of this tree for each of those
#       kernels, in a temporary /usr/src/betrkv-<version> (root only).
# Expects `make all` to have run.  Logs go to build/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
logs=$BUILD/test-logs
rm -rf "$logs"
mkdir -p "$logs"

pass=0 fail=0 skip=0
failed=()

# Count the top-level TAP results in log $1 of program $2 exiting with $3.
tally() {
	local log=$1 name=$2 rc=$3 p f s
	p=$(tr -d '\r' < "$log" | grep -cE '^ok [0-9]+' )
	s=$(tr -d '\r' < "$log" | grep -cE '^ok [0-9]+.*# SKIP' )
	f=$(tr -d '\r' < "$log" | grep -cE '^not ok [0-9]+' )
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed or exited non-zero without reporting a failure
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ "$f" -eq 0 ] || failed+=("$name")
	printf '%-40s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

run_host() {
	local t name rc
	for t in "$BUILD"/tests/* "$BUILD"/tests-san/*; do
		[ -x "$t" ] || continue
		name=${t#"$BUILD"/}
		"$t" > "$logs/${name//\//_}.log" 2>&1
		rc=$?
		tally "$logs/${name//\//_}.log" "$name" "$rc"
		[ "$rc" -eq 0 ] || tail -n 30 "$logs/${name//\//_}.log"
	done
}

# Each libFuzzer target runs briefly from an empty corpus (a fixed seed:
# the same inputs every run); one test each.
run_fuzz() {
	local f name log rc corpus runs
	for f in "$BUILD"/fuzz/*; do
		[ -x "$f" ] || continue
		name=${f#"$BUILD"/}
		log=$logs/${name//\//_}.log
		corpus=$(mktemp -d)
		runs=${FUZZ_RUNS:-100000}
		# Each input of fuzz_image opens a whole store: a fifth as many.
		[ "$name" != fuzz/fuzz_image ] || runs=$((runs / 5))
		"$f" -runs="$runs" -seed=1 -artifact_prefix="$logs/" \
			"$corpus" > "$log" 2>&1
		rc=$?
		rm -rf "$corpus"
		if [ "$rc" -eq 0 ]; then echo "ok 1 $name" >> "$log"; else echo "not ok 1 $name" >> "$log"; fi
		tally "$log" "$name" "$rc"
		[ "$rc" -eq 0 ] || tail -n 30 "$log"
	done
}

# Each man page, linted; one test each.
run_man() {
	local page name log
	for page in man/man*/*.[1-9]; do
		[ -f "$page" ] && [ ! -L "$page" ] || continue
		name=$page
		log=$logs/${name//\//_}.log
		if ! command -v mandoc > /dev/null; then
			echo "ok 1 $name # SKIP mandoc not installed" > "$log"
		elif MANPATH=$PWD/man:$(manpath 2> /dev/null) \
		     mandoc -T lint -W style "$page" 2>&1 |
		     grep -v -e 'mandoc\.db' \
			     -e 'manual not found: Xr [^lb]' \
			     -e 'manual not found: Xr b[^e]' \
			     -e 'manual not found: Xr l[^i]' > "$log"; [ ! -s "$log" ]; then
			echo "ok 1 $name" >> "$log"
		else
			echo "not ok 1 $name" >> "$log"
		fi
		tally "$log" "$name" 0
		grep -v '^ok ' "$log" | head -n 30
	done
}

# The installed Debian kernels with headers, oldest first (as VM_KVERS).
installed_kernels() {
	local k v
	for k in /boot/vmlinuz-*-amd64; do
		v=${k#/boot/vmlinuz-}
		[ -f "/lib/modules/$v/build/Makefile" ] && echo "$v"
	done | sort -V
}

# run_vm LABEL BETRKV-VM-ARGS...: the in-VM suite on one kernel.
run_vm() {
	local label=$1 rc udevadm
	shift
	udevadm=$(command -v udevadm || true)
	tools/vm/betrkv-vm "$@" \
		--dir "$BUILD/vmtests:/selftests" --dir "$BUILD/tests:/unittests" \
		--dir tools/udev:/etc/udev/rules.d ${udevadm:+--bin "$udevadm"} \
		--bin selftests/betrkv/run.sh --bin "$(command -v dmsetup)" \
		--bin "$BUILD/bin/betrkv-log-replay" --bin "$BUILD/bin/betrkvctl" \
		--bin selftests/betrkv/fio_test.sh --bin "$(command -v fio)" \
		--bin "$BUILD/fio/betrkv-fio.so" \
		--disk 64M --disk 64M --disk 8M --disk 96M \
		--disk-opts logical_block_size=4096,physical_block_size=4096 --disk 64M \
		--timeout 1200 --log "$logs/vm-$label.log" -- /bin/run.sh ${MODULE_ARGS:-} \
		> "$logs/vm-$label.out" 2>&1
	rc=$?
	tally "$logs/vm-$label.log" "vm $label selftests" "$rc"
	if [ "$rc" -ne 0 ]; then
		echo "---- VM exited with status $rc; last lines of its console:"
		tr -d '\r' < "$logs/vm-$label.log" | grep -vE '^ok ' | tail -n 60
	fi
}

# A hard reset in the middle of a workload: phase 1 runs it and resets the
# VM with sysrq; a second boot on the same images binds and checks.
# run_reset LABEL BETRKV-VM-ARGS...
run_reset() {
	local label=$1 dir rc r=$logs/reset-$1
	shift
	dir=$(mktemp -d)
	truncate -s 64M "$dir/data.img"
	truncate -s 1M "$dir/note.img"
	tools/vm/betrkv-vm "$@" --bin "$BUILD/vmtests/crash_test" \
		--image "$dir/data.img" --image "$dir/note.img" --timeout 300 \
		--log "$r-1.log" -- \
		'insmod /lib/modules/betrkv.ko && crash_test --reset-phase1' \
		> "$r-1.out" 2>&1
	rc=$?	# 70: the guest ended without a status, as a reset does
	if [ "$rc" -ne 70 ] ||
	   ! tr -d '\r' < "$r-1.log" | grep -q '^betrkv-reset: resetting$' ||
	   ! grep -q 'sysrq: Resetting' "$r-1.log" ||
	   grep -qE 'Kernel panic|BUG:|Oops|WARNING:' "$r-1.log"; then
		echo "not ok 1 reset phase 1 (status $rc)" > "$r-2.log"
		tally "$r-2.log" "vm $label reset" 1
		tail -n 30 "$r-1.log"
		rm -rf "$dir"
		return
	fi
	tools/vm/betrkv-vm "$@" --bin "$BUILD/vmtests/crash_test" \
		--image "$dir/data.img" --image "$dir/note.img" --timeout 300 \
		--log "$r-2.log" -- \
		'insmod /lib/modules/betrkv.ko && crash_test --reset-phase2' \
		> "$r-2.out" 2>&1
	rc=$?
	tally "$r-2.log" "vm $label reset" "$rc"
	[ "$rc" -eq 0 ] || tail -n 30 "$r-2.log"
	rm -rf "$dir"
}

# The suite on each kernel, with the time it took.
run_vms() {
	local v label args=()
	if [ -n "${VM_ROOT:-}" ] || [ -n "${MODULE:-}" ]; then
		# one kernel: the one MODULE is built for
		v=$(modinfo -F vermagic "${MODULE:-betrkv.ko}" 2>/dev/null | cut -d' ' -f1)
		[ -z "${VM_ROOT:-}" ] || args+=(--root "$VM_ROOT")
		[ -z "$v" ] || args+=(--kernel "$v")
		label=${v%-amd64}
		vm_one "${label:-unknown}" "${args[@]}" --module "${MODULE:-betrkv.ko}"
		return
	fi
	for v in ${VM_KERNELS:-$(installed_kernels)}; do
		label=${v%-amd64}
		if [ ! -f "$BUILD/modules/$v/betrkv.ko" ]; then
			echo "not ok 1 no $BUILD/modules/$v/betrkv.ko: run make modules" > "$logs/vm-$label.log"
			tally "$logs/vm-$label.log" "vm $label selftests" 1
			continue
		fi
		vm_one "$label" --kernel "$v" --module "$BUILD/modules/$v/betrkv.ko"
	done
}
vm_one() {
	local label=$1 t
	shift
	t=$(date +%s)
	run_vm "$label" "$@"
	run_reset "$label" "$@"
	echo "# vm $label: $(( $(date +%s) - t )) s"
}

run_dkms() {
	local rc
	# shellcheck disable=SC2046,SC2086 # a list of releases on purpose
	tools/dkms-check.sh ${VM_KERNELS:-$(installed_kernels)} > "$logs/dkms.log" 2>&1
	rc=$?
	tally "$logs/dkms.log" "dkms build" "$rc"
	[ "$rc" -eq 0 ] || tail -n 30 "$logs/dkms.log"
}

start=$(date +%s)
for what in "${@:-host vm dkms}"; do
	for w in $what; do
		case $w in
		host) run_host; run_fuzz; run_man ;;
		vm) run_vms ;;
		dkms) run_dkms ;;
		man) run_man ;;
		*) echo "usage: $0 [host|vm|dkms|man]..." >&2; exit 2 ;;
		esac
	done
done
echo "# test time: $(( $(date +%s) - start )) s; logs in $logs"
[ ${#failed[@]} -eq 0 ] || echo "# failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
