#!/bin/bash
# Run every test and print one summary line, "N passed, N failed, N skipped".
#
#   tools/run-tests.sh [host|vm|man]...  (default: host vm)
#
# host: each userspace test program (kselftest TAP), plain and under
#       AddressSanitizer + UndefinedBehaviorSanitizer; then each libFuzzer
#       target for FUZZ_RUNS (default 100000) inputs; then man.
# man:  `mandoc -T lint -W style` of each page in man/man*/: any message
#       fails it, but cross references to pages not installed here.
# vm:   boots the installed kernel in QEMU with the disks the in-VM tests
#       expect (selftests/betrkv/vmtest.h) and runs selftests/betrkv/run.sh;
#       then the hard-reset test (two boots on the same disk images).
#       VM_ROOT boots the kernel under that directory instead (betrkv-vm
#       --root), MODULE names the betrkv.ko built for it and MODULE_ARGS
#       are its parameters for the suite (make check-debug).  VM_KERNEL
#       picks the kernel release to boot (betrkv-vm --kernel; default the
#       newest), which must be the one betrkv.ko was built for.
#       /etc/udev/rules.d gets tools/udev/ and /bin udevadm (udev_test).
# Expects `make all` to have run.  Logs go to build/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODULE=${MODULE:-betrkv.ko}
vm_kernel=(${VM_ROOT:+--root "$VM_ROOT"} ${VM_KERNEL:+--kernel "$VM_KERNEL"})
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
		elif mandoc -T lint -W style "$page" 2>&1 |
		     grep -v 'referenced manual not found\|mandoc\.db' > "$log"; [ ! -s "$log" ]; then
			echo "ok 1 $name" >> "$log"
		else
			echo "not ok 1 $name" >> "$log"
		fi
		tally "$log" "$name" 0
		grep -v '^ok ' "$log" | head -n 30
	done
}

run_vm() {
	local rc udevadm
	udevadm=$(command -v udevadm || true)
	tools/vm/betrkv-vm "${vm_kernel[@]}" --module "$MODULE" \
		--dir "$BUILD/vmtests:/selftests" --dir "$BUILD/tests:/unittests" \
		--dir tools/udev:/etc/udev/rules.d ${udevadm:+--bin "$udevadm"} \
		--bin selftests/betrkv/run.sh --bin "$(command -v dmsetup)" \
		--bin "$BUILD/bin/betrkv-log-replay" --bin "$BUILD/bin/betrkvctl" \
		--bin selftests/betrkv/fio_test.sh --bin "$(command -v fio)" \
		--bin "$BUILD/fio/betrkv-fio.so" \
		--disk 64M --disk 64M --disk 8M --disk 96M \
		--disk-opts logical_block_size=4096,physical_block_size=4096 --disk 64M \
		--timeout 1200 --log "$logs/vm.log" -- /bin/run.sh ${MODULE_ARGS:-} > "$logs/vm.out" 2>&1
	rc=$?
	tally "$logs/vm.log" "vm selftests" "$rc"
	if [ "$rc" -ne 0 ]; then
		echo "---- VM exited with status $rc; last lines of its console:"
		tr -d '\r' < "$logs/vm.log" | grep -vE '^ok ' | tail -n 60
	fi
}

# A hard reset in the middle of a workload: phase 1 runs it and resets the
# VM with sysrq; a second boot on the same images binds and checks.
run_reset() {
	local dir rc
	dir=$(mktemp -d)
	truncate -s 64M "$dir/data.img"
	truncate -s 1M "$dir/note.img"
	tools/vm/betrkv-vm "${vm_kernel[@]}" --module "$MODULE" --bin "$BUILD/vmtests/crash_test" \
		--image "$dir/data.img" --image "$dir/note.img" --timeout 300 \
		--log "$logs/reset1.log" -- \
		'insmod /lib/modules/betrkv.ko && crash_test --reset-phase1' \
		> "$logs/reset1.out" 2>&1
	rc=$?	# 70: the guest ended without a status, as a reset does
	if [ "$rc" -ne 70 ] ||
	   ! tr -d '\r' < "$logs/reset1.log" | grep -q '^betrkv-reset: resetting$' ||
	   ! grep -q 'sysrq: Resetting' "$logs/reset1.log" ||
	   grep -qE 'Kernel panic|BUG:|Oops|WARNING:' "$logs/reset1.log"; then
		echo "not ok 1 reset phase 1 (status $rc)" > "$logs/reset2.log"
		tally "$logs/reset2.log" "vm reset" 1
		tail -n 30 "$logs/reset1.log"
		rm -rf "$dir"
		return
	fi
	tools/vm/betrkv-vm "${vm_kernel[@]}" --module "$MODULE" --bin "$BUILD/vmtests/crash_test" \
		--image "$dir/data.img" --image "$dir/note.img" --timeout 300 \
		--log "$logs/reset2.log" -- \
		'insmod /lib/modules/betrkv.ko && crash_test --reset-phase2' \
		> "$logs/reset2.out" 2>&1
	rc=$?
	tally "$logs/reset2.log" "vm reset" "$rc"
	[ "$rc" -eq 0 ] || tail -n 30 "$logs/reset2.log"
	rm -rf "$dir"
}

start=$(date +%s)
for what in "${@:-host vm}"; do
	for w in $what; do
		case $w in
		host) run_host; run_fuzz; run_man ;;
		vm) run_vm; run_reset ;;
		man) run_man ;;
		*) echo "usage: $0 [host|vm|man]..." >&2; exit 2 ;;
		esac
	done
done
echo "# test time: $(( $(date +%s) - start )) s; logs in $logs"
[ ${#failed[@]} -eq 0 ] || echo "# failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
