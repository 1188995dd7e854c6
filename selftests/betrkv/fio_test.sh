#!/bin/sh
# fio through the betrkv ioengine (tools/fio/betrkv-engine.c), inside the VM,
# as root.  Prints TAP; exits non-zero if a test failed.
#
# Needs in the guest: fio, betrkvctl, the engine (default /bin/betrkv-fio.so)
# and a scratch disk (default /dev/vdd) whose contents it destroys.  Loads
# /lib/modules/betrkv.ko if the module is not loaded.
#
#   1  the raw disk: the reference job (psync, direct=1), for comparison
#   2  format and bind the disk
#   3  the same job through the engine: sequential 4 KiB writes with
#      verify=crc32c, end_fsync (betrkv_sync)
#   4  the store holds one key per block: 8 bytes, the offset big-endian
#   5  unbind and bind again: verify_only reads every block back
#   6  random writes + verify=crc32c, two jobs on one store (each its own
#      4 MiB: offset_increment works as on a disk), fsync=16
#   7  trim of the first 4 MiB deletes its 1024 keys, and only those
#   8  trimmed (absent) blocks read as zeros (verify_pattern=0)
#   9  with betrkv_absent_error=1 they fail with ENOENT instead
#  10  unbind
#
# The figures of tests 1 and 3 (fio's write and read lines) are printed as
# TAP comments.  Environment: FIO_DISK, FIO_ENGINE, FIO_SIZE (default 16M).
cd /
disk=${FIO_DISK:-/dev/vdd}
engine=${FIO_ENGINE:-/bin/betrkv-fio.so}
size=${FIO_SIZE:-16M}
out=/tmp/fio_test.out
n=0 status=0 store=""

ok() { n=$((n + 1)); echo "ok $n $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n $*"; status=1; }
skip_rest() {
	while [ "$n" -lt 10 ]; do n=$((n + 1)); echo "ok $n # SKIP $*"; done
	exit 0
}
# The fio output, as TAP comments.
show() { sed 's/^/# /' "$out"; }
# fio's figures: the "write:"/"read:" lines of each direction and the
# latency lines just below them.
figures() {
	echo "# ---- $1"
	grep -E '^ *(write|read|WRITE|READ): |^ *(clat|lat) \((u|m|n)sec\): ' "$out" |
		sed 's/^ */#   /'
}
# A counter of the store's statistics.
counter() { betrkvctl stats "$store" | sed -n "s/^$1: //p"; }
# No verify complaint and no I/O error in the fio output.
clean_output() {
	! grep -Eiq 'verify: |bad magic|bad header|crc32c: |verify failed|err= *[1-9]' "$out"
}

echo "1..10"
for p in fio betrkvctl; do
	command -v "$p" >/dev/null || skip_rest "$p is not in the guest"
done
[ -f "$engine" ] || skip_rest "no engine at $engine"
[ -b "$disk" ] || skip_rest "no disk $disk"
if ! grep -q '^betrkv ' /proc/modules; then
	insmod /lib/modules/betrkv.ko || { echo "not ok 1 insmod betrkv.ko"; exit 1; }
fi

common="--bs=4k --size=$size --eta=never --group_reporting"
seqjob="--name=seqwrite --rw=write --verify=crc32c --do_verify=1 --end_fsync=1 $common"

# 1: the reference: the same job on the raw disk.
if fio $seqjob --ioengine=psync --direct=1 --filename="$disk" > "$out" 2>&1 &&
   clean_output; then
	ok "raw disk: fio seqwrite + verify=crc32c (psync, direct=1)"
	figures "raw $disk, psync direct=1, bs=4k, $size, write then verify"
else
	show; not_ok "raw disk: fio seqwrite + verify=crc32c"
fi

# 2: a fresh store on the same disk.
if betrkvctl format "$disk" --yes > "$out" 2>&1 &&
   store=$(betrkvctl bind "$disk" 2> "$out") && [ -c "$store" ]; then
	ok "format and bind $disk as $store"
else
	show; not_ok "format and bind $disk"
	skip_rest "no store"
fi
bkv="--ioengine=external:$engine --filename=$store"

# 3: the same job through the engine.
if fio $seqjob $bkv > "$out" 2>&1 && clean_output; then
	ok "betrkv: fio seqwrite + verify=crc32c through the engine"
	figures "betrkv $store on $disk, engine, bs=4k, $size, write then verify"
else
	show; not_ok "betrkv: fio seqwrite + verify=crc32c through the engine"
fi

# 4: keys are the offsets, 8 bytes big-endian: 0, 4096, 8192, ...
blocks=$(( $(echo "$size" | sed 's/M$//') * 256 ))
count=$(betrkvctl scan "$store" --keys-only | wc -l)
first=$(betrkvctl scan "$store" --keys-only --limit 3 | tr '\n' ' ')
want='\x00\x00\x00\x00\x00\x00\x00\x00 \x00\x00\x00\x00\x00\x00\x10\x00 \x00\x00\x00\x00\x00\x00 \x00 '
if [ "$count" -eq "$blocks" ] && [ "$first" = "$want" ]; then
	ok "the store holds $count keys, the offsets big-endian"
else
	echo "# $count keys (want $blocks); first: $first"
	not_ok "the store holds one big-endian offset key per block"
fi

# 5: the data outlives an unbind (final checkpoint) and a bind.
if betrkvctl unbind "$store" > "$out" 2>&1 &&
   store=$(betrkvctl bind "$disk" 2> "$out") && [ -c "$store" ] &&
   bkv="--ioengine=external:$engine --filename=$store" &&
   fio $seqjob $bkv --verify_only=1 > "$out" 2>&1 && clean_output &&
   grep -q 'read: ' "$out"; then
	ok "after unbind and bind, verify_only reads every block back"
else
	show; not_ok "after unbind and bind, verify_only reads every block back"
fi

# 6: random writes, two jobs (processes), each its own 4 MiB, with syncs:
# 2048 puts, and a betrkv_sync after every 16 of them (but the last 16,
# which the verify phase follows: 63 per job).
puts0=$(counter puts) syncs0=$(counter syncs)
if fio --name=randwrite --rw=randwrite --bs=4k --size=4M --numjobs=2 \
	--offset_increment=4M --fsync=16 --verify=crc32c --do_verify=1 \
	--eta=never --group_reporting $bkv > "$out" 2>&1 && clean_output &&
   grep -q 'WRITE: .* io=8192KiB' "$out" && grep -q 'READ: .* io=8192KiB' "$out"; then
	puts=$(( $(counter puts) - puts0 )) syncs=$(( $(counter syncs) - syncs0 ))
	if [ "$puts" -eq 2048 ] && [ "$syncs" -ge 126 ]; then
		ok "random writes + verify=crc32c, numjobs=2, fsync=16 ($puts puts, $syncs syncs)"
	else
		echo "# $puts puts (want 2048), $syncs syncs (want >= 126)"
		not_ok "random writes + verify=crc32c, numjobs=2, fsync=16: puts and syncs"
	fi
else
	show; not_ok "random writes + verify=crc32c, numjobs=2, fsync=16"
fi

# 7: trimming [0, 4M) deletes those 1024 keys and no others.
if fio --name=trim --rw=trim --bs=4k --size=4M --eta=never $bkv > "$out" 2>&1 &&
   clean_output; then
	in=$(betrkvctl scan "$store" '' '\x00\x00\x00\x00\x00\x40\x00\x00' --keys-only | wc -l)
	count=$(betrkvctl scan "$store" --keys-only | wc -l)
	if [ "$in" -eq 0 ] && [ "$count" -eq $((blocks - 1024)) ]; then
		ok "trim of 4 MiB deleted its 1024 keys ($count left)"
	else
		echo "# $in keys left in the range, $count in all (want 0, $((blocks - 1024)))"
		not_ok "trim of 4 MiB deletes its 1024 keys"
	fi
else
	show; not_ok "trim of 4 MiB deletes its 1024 keys"
fi

# 8: absent blocks read as zeros (the engine's default).
if fio --name=zeros --rw=write --bs=4k --size=4M --verify=pattern \
	--verify_pattern=0 --verify_only=1 --eta=never $bkv > "$out" 2>&1 &&
   clean_output && grep -q 'read: ' "$out"; then
	ok "trimmed blocks read as zeros"
else
	show; not_ok "trimmed blocks read as zeros"
fi

# 9: ... or fail with ENOENT when asked to.
# (Engine options follow --ioengine.)
if fio --name=absent --rw=read --bs=4k --size=4M --eta=never \
	$bkv --betrkv_absent_error=1 > "$out" 2>&1; then
	show; not_ok "betrkv_absent_error=1: reading a trimmed block fails (fio exited 0)"
elif grep -q 'No such file or directory' "$out"; then
	ok "betrkv_absent_error=1: reading a trimmed block fails with ENOENT"
else
	show; not_ok "betrkv_absent_error=1: reading a trimmed block fails with ENOENT"
fi

# 10
if betrkvctl unbind "$store" > "$out" 2>&1; then
	ok "unbind $store"
else
	show; not_ok "unbind $store"
fi
exit $status
