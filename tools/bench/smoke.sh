#!/bin/bash
# Smoke test of betrkv-bench (a few seconds): every engine but
# betrkv-kernel (it needs a store bound by the module) with tiny sizes and
# every workload; the output format; that every read returned what was
# last written (the bench counts "bad" operations and exits 1 if any); that
# the check does catch wrong values; the every-N sync policy; the memory
# cgroup when there is one.  TAP lines, then "N passed, N failed, N skipped".
#
#   tools/bench/smoke.sh [BENCH]        (default build/bin/betrkv-bench)
set -uo pipefail
cd "$(dirname "$0")/../.."
BENCH=${1:-build/bin/betrkv-bench}
ENGINES=$("$BENCH" --help | sed -n 's/^usage: betrkv-bench --engine \([^ ]*\) .*/\1/p' | tr '|' ' ')
HEADER=engine,phase,op,dist,thr,sync,ops,secs,ops_s,p50_us,p99_us,p999_us,max_us,cpu_s_kop,user_MB,dev_MB,wa_dev,proc_MB,wa_proc,eng_MB,wa_eng,rd_MB,rd_KB_op,eng_rd_MB,rss_MB,cg_MB,cache_hw_MB,bad
CGROOT=/sys/fs/cgroup/memory

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 pass=0 fail=0 skip=0

ok() {
	n=$((n + 1)) pass=$((pass + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1)) fail=$((fail + 1))
	echo "not ok $n - $1"
	sed 's/^/# /' "$tmp/out" "$tmp/err" "$tmp/check" 2> /dev/null | tail -n 20
}

skipped() {
	n=$((n + 1)) skip=$((skip + 1))
	echo "ok $n - $1 # SKIP $2"
}

# bench ENGINE ARGS...: run on a fresh store; output in $tmp/out, $tmp/err.
bench() {
	local engine=$1
	shift
	rm -rf "$tmp/store" "$tmp/check"
	"$BENCH" --engine "$engine" --path "$tmp/store" --seed 7 "$@" \
		> "$tmp/out" 2> "$tmp/err"
}

# check_csv PHASES COUNTS COLUMN VALUE: the CSV in $tmp/out has the header
# and one "all" line per phase, in order, each with its operation count,
# 28 fields, numeric latencies, cpu_s_kop and rd_MB, no bad operation, and
# VALUE in COLUMN.
check_csv() {
	awk -F, -v header="$HEADER" -v phases="$1" -v counts="$2" \
	    -v col="$3" -v want="$4" '
	NR == 1 {
		if ($0 != header)
			err = err "header: " $0 "\n"
		next
	}
	{
		i++
		split(phases, p, " ")
		split(counts, c, " ")
		if (NF != 28 || $2 != p[i] || $3 != "all" || $7 != c[i])
			err = err "line " NR ": " $0 "\n"
		if ($10 !~ /^[0-9]+\.[0-9]$/ || $12 !~ /^[0-9]+\.[0-9]$/)
			err = err "latency: " $0 "\n"
		if ($14 !~ /^[0-9]+\.[0-9][0-9][0-9][0-9]$/)
			err = err "cpu_s_kop: " $0 "\n"
		if ($22 !~ /^[0-9]+\.[0-9]$/)
			err = err "rd_MB: " $0 "\n"
		if ($28 != 0 || $col !~ want)
			err = err "values: " $0 "\n"
	}
	END {
		if (i != split(phases, p, " "))
			err = err i " result lines\n"
		printf "%s", err
		exit err != ""
	}' "$tmp/out" > "$tmp/check"
}

all_workloads() {
	local e=$1

	bench "$e" --records 2000 --ops 2000 --threads 2 --format csv \
		--workload load,a,b,c,e,sync:200,verify,delete
	if [ $? -eq 0 ] && check_csv "load a b c e sync verify delete" \
		"2000 2000 2000 2000 2000 200 2000 2000" 6 '^(none|every-op)$'; then
		ok "$e: every workload, 2 threads, all reads matched"
	else
		not_ok "$e: every workload, 2 threads, all reads matched"
	fi
}

table_format() {
	local e=$1

	bench "$e" --records 500 --ops 500 --workload load,c --per-op
	if [ $? -eq 0 ] &&
	   grep -q "^engine  *phase  *op  *dist .* bad$" "$tmp/out" &&
	   [ "$(grep -cE "^$e +(load +insert|load +all|c +read|c +all) " "$tmp/out")" -eq 4 ]; then
		ok "$e: table format with --per-op"
	else
		not_ok "$e: table format with --per-op"
	fi
}

# Values written at 100 bytes read back as if 200 must all be reported.
catches_mismatch() {
	local e=$1

	bench "$e" --records 300 --value-size 100 --workload load --format csv &&
	"$BENCH" --engine "$e" --path "$tmp/store" --records 300 \
		--value-size 200 --workload verify --format csv \
		> "$tmp/out" 2> "$tmp/err"
	if [ $? -eq 1 ] && [ "$(tail -n 1 "$tmp/out" | cut -d, -f28)" = 300 ]; then
		ok "$e: wrong values are counted and fail the run"
	else
		not_ok "$e: wrong values are counted and fail the run"
	fi
}

every_n() {
	local e=$1

	bench "$e" --records 1000 --sync-policy every-100 --format csv \
		--workload load,verify
	if [ $? -eq 0 ] && check_csv "load verify" "1000 1000" 6 '^every-100$'; then
		ok "$e: --sync-policy every-100"
	else
		not_ok "$e: --sync-policy every-100"
	fi
}

in_cgroup() {
	local e=$1 pid rc

	if [ ! -e "$CGROOT/memory.limit_in_bytes" ] || [ "$(id -u)" -ne 0 ]; then
		skipped "$e: --cgroup-mem" "no cgroup v1 memory controller, or not root"
		return
	fi
	rm -rf "$tmp/store" "$tmp/check"
	"$BENCH" --engine "$e" --path "$tmp/store" --records 1000 --ops 2000 \
		--cgroup-mem 128M --format csv --workload load,c \
		> "$tmp/out" 2> "$tmp/err" &
	pid=$!
	wait "$pid"
	rc=$?
	if [ "$rc" -eq 0 ] && check_csv "load c" "1000 2000" 26 '^[0-9]+\.[0-9]$' &&
	   [ -z "$(find "$CGROOT" -name "betrkv-bench.$pid" -type d)" ]; then
		ok "$e: --cgroup-mem, group removed at exit"
	else
		not_ok "$e: --cgroup-mem, group removed at exit"
	fi
}

for e in $ENGINES; do
	if [ "$e" = betrkv-kernel ]; then
		skipped "$e" "needs a store bound by the module (tools/demo.sh runs it in the VM)"
		continue
	fi
	all_workloads "$e"
	table_format "$e"
	catches_mismatch "$e"
	every_n "$e"
	in_cgroup "$e"
done
echo "1..$n"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
