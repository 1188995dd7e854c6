#!/bin/bash
# Run the engine comparison and print a Markdown table of medians.
#
#   tools/bench/matrix.sh            (settings from the environment)
#
# MODE=compare (the default): for each engine, each key distribution and
# RUNS times (seed = run number): a fresh store; load,a,b,c on THREADS
# threads; then, in a second process on the same store, the sync workload
# on SYNC_THREADS threads.
# MODE=scaling: for each engine, each distribution, each factor of SCALES
# and RUNS times: a fresh store of factor x RECORDS records, loaded only,
# on THREADS threads.
# Every process runs in a --cgroup-mem CGROUP memory cgroup (none when
# CGROUP is empty) with a --cache CACHE engine cache; FAIR=memory gives
# betrkv and betrkv-kernel CGROUP - BETRKV_MARGIN instead.  The raw CSV
# lines (prefixed with run and distribution) go to $OUT/raw.csv, the
# engines' notes to $OUT/stderr.log, the table, headed by the settings
# that produced it, to $OUT/summary.md.  Stops at the first failed process
# (including one whose reads did not return what was written).
set -euo pipefail
cd "$(dirname "$0")/../.."

die() {
	echo "matrix.sh: $*" >&2
	exit 2
}

MODE=${MODE:-compare}
case $MODE in
compare)
	ENGINES=${ENGINES:-rocksdb lmdb}
	DISTS=${DISTS:-uniform zipfian}
	;;
scaling)
	ENGINES=${ENGINES:-betrkv rocksdb}
	DISTS=${DISTS:-uniform}
	;;
*)
	die "MODE must be compare or scaling, not '$MODE'"
	;;
esac
BENCH=${BENCH:-build/bin/betrkv-bench}
DIR=${DIR:-/var/tmp/betrkv-bench}
OUT=${OUT:-$DIR/results}
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1m}
SCALES=${SCALES:-0.25 1 4}
OPS=${OPS:-200k}
SYNC_OPS=${SYNC_OPS:-20k}
VALUE=${VALUE:-1000}
CACHE=${CACHE:-256M}
CGROUP=${CGROUP-512M}
FAIR=${FAIR:-cache}
BETRKV_MARGIN=${BETRKV_MARGIN:-48M}
THREADS=${THREADS:-2}
SYNC_THREADS=${SYNC_THREADS:-4}

raw=$OUT/raw.csv
started=$(date -u '+%Y-%m-%d %H:%M UTC')

# scaled NUMBER BASE [FACTOR]: NUMBER, with an optional k/m/g/t suffix
# (powers of BASE, as the bench reads them), times FACTOR: an integer.
scaled() {
	awk -v n="$1" -v base="$2" -v f="${3:-1}" 'BEGIN {
		if (n !~ /^[0-9]+[kKmMgGtT]?$/)
			bad = "number " n
		else if (f !~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/)
			bad = "factor " f
		if (bad) {
			print "matrix.sh: bad " bad > "/dev/stderr"
			exit 1
		}
		printf "%.0f\n", (n + 0) * base ^ index("kmgt", tolower(substr(n, length(n)))) * f
	}'
}

case $FAIR in
cache)
	betrkv_cache=$CACHE
	;;
memory)
	[ -n "$CGROUP" ] || die "FAIR=memory needs a CGROUP"
	limit=$(scaled "$CGROUP" 1024)
	margin=$(scaled "$BETRKV_MARGIN" 1024)
	betrkv_cache=$((limit - margin))
	[ "$betrkv_cache" -gt 0 ] || die "BETRKV_MARGIN leaves no cache in CGROUP"
	;;
*)
	die "FAIR must be cache or memory, not '$FAIR'"
	;;
esac

cache_of() {
	case $1 in
	betrkv | betrkv-kernel)
		echo "$betrkv_cache"
		;;
	*)
		echo "$CACHE"
		;;
	esac
}

# bench RUN DIST ARGS...: one process; its lines, prefixed, into raw.csv.
bench() {
	local run=$1 dist=$2
	shift 2
	echo "+ $BENCH $*" >&2
	"$BENCH" "$@" --format csv 2>> "$OUT/stderr.log" |
		tail -n +2 | sed "s/^/$run,$dist,/" >> "$raw"
}

# one_run ENGINE DIST RUN RECORDS: the processes of one run, on a fresh
# store.
one_run() {
	local engine=$1 dist=$2 run=$3 records=$4 store=$DIR/store
	local common=(--engine "$engine" --path "$store" --records "$records"
		      --value-size "$VALUE" --cache "$(cache_of "$engine")"
		      --dist "$dist" --seed "$run")

	if [ -n "$CGROUP" ]; then
		common+=(--cgroup-mem "$CGROUP")
	fi
	rm -rf "$store"
	if [ "$MODE" = scaling ]; then
		bench "$run" "$dist" "${common[@]}" --threads "$THREADS" \
			--workload load
	else
		bench "$run" "$dist" "${common[@]}" --ops "$OPS" \
			--threads "$THREADS" --workload load,a,b,c
		bench "$run" "$dist" "${common[@]}" --ops "$SYNC_OPS" \
			--threads "$SYNC_THREADS" --workload sync
	fi
	rm -rf "$store"
}

# What produced the table: the command that reproduces it, the build, the
# machine and the file system of the store.
preface() {
	local commit settings storage cache

	if commit=$(git rev-parse --short HEAD 2> /dev/null); then
		if ! git diff --quiet HEAD; then
			commit="$commit with uncommitted changes"
		fi
	else
		commit=unknown
	fi
	settings="MODE=$MODE ENGINES=\"$ENGINES\" DISTS=\"$DISTS\" RUNS=$RUNS RECORDS=$RECORDS"
	if [ "$MODE" = scaling ]; then
		settings="$settings SCALES=\"$SCALES\" THREADS=$THREADS"
	else
		settings="$settings OPS=$OPS SYNC_OPS=$SYNC_OPS THREADS=$THREADS SYNC_THREADS=$SYNC_THREADS"
	fi
	settings="$settings VALUE=$VALUE CACHE=$CACHE CGROUP=${CGROUP:-\"\"} FAIR=$FAIR"
	if [ "$FAIR" = memory ]; then
		settings="$settings BETRKV_MARGIN=$BETRKV_MARGIN"
	fi
	storage=$(sed -n '/^# betrkv-bench /{s/.* fs=\([^ ]*\) dev=\([^ ]*\) .*/\1 on \2/p;q}' \
		"$OUT/stderr.log")
	echo "    $settings tools/bench/matrix.sh"
	echo
	echo "betrkv $commit, started $started; $(nproc) CPUs, Linux $(uname -r), store on ${storage:-?};"
	if [ "$FAIR" = memory ]; then
		cache=$(awk -v b="$betrkv_cache" 'BEGIN { printf "%.1f MiB", b / 1048576 }')
		cache="$cache for betrkv (CGROUP - BETRKV_MARGIN), $CACHE for the others"
	else
		cache="$CACHE for every engine"
	fi
	echo "Values of $VALUE bytes; cache $cache; memory cgroup ${CGROUP:-none}."
	echo
}

# The summaries' awk functions: median(list) of a space-separated list of
# numbers; cell(k, c), the median of v[k, c], the values of field c of the
# lines of key k, or "-" where one of them is.
medians='
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function cell(k, c) {
	return (v[k, c] ~ /-/) ? "-" : median(v[k, c])
}'

# Fields of raw.csv: run, dist, then the bench's CSV (README.md, Output):
# 3 engine, 4 phase, 5 op, 6 dist, 7 thr, 8 sync, 9 ops, 10 secs,
# 11 ops_s, 12 p50_us, 13 p99_us, 14 p999_us, 15 max_us, 16 cpu_s_kop,
# 17 user_MB, 18 dev_MB, 19 wa_dev, 20 proc_MB, 21 wa_proc, 22 eng_MB,
# 23 wa_eng, 24 rd_MB, 25 rd_KB_op, 26 eng_rd_MB, 27 rss_MB, 28 cg_MB,
# 29 cache_hw_MB, 30 bad.

# The median over the runs of each (engine, distribution, phase).
compare_summary() {
	awk -F, -v engines="$ENGINES" -v dists="$DISTS" "$medians"'
	$5 == "all" {
		k = $3 SUBSEP $2 SUBSEP $4
		thr[k] = $7; sync[k] = $8; runs[k]++; bad[k] += $30
		for (c = 11; c <= 29; c++)
			v[k, c] = v[k, c] " " $c
	}
	END {
		print "| engine | dist | phase | thr | sync | runs | ops/s | cpu s/kop | p50 us | p99 us | p99.9 us | dev MB written | WA dev | WA proc | WA eng | read MB | read KB/op | cgroup peak MB | cache hw MB | bad |"
		print "|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
		ne = split(engines, E, " "); nd = split(dists, D, " ")
		np = split("load a b c sync", P, " ")
		nc = split("11 16 12 13 14 18 19 21 23 24 25 28 29", C, " ")
		for (e = 1; e <= ne; e++) for (d = 1; d <= nd; d++)
		for (p = 1; p <= np; p++) {
			k = E[e] SUBSEP D[d] SUBSEP P[p]
			if (!(k in runs))
				continue
			printf "| %s | %s | %s | %s | %s | %d", E[e], D[d], P[p], thr[k], sync[k], runs[k]
			for (i = 1; i <= nc; i++)
				printf " | %s", cell(k, C[i])
			printf " | %d |\n", bad[k]
		}
	}' "$raw"
}

# The median over the runs of each (engine, distribution, records) of the
# load, and each engine's ops/s over RocksDB's at the same records.
scaling_summary() {
	awk -F, -v engines="$ENGINES" -v dists="$DISTS" -v records="$1" "$medians"'
	$5 == "all" && $4 == "load" {
		k = $3 SUBSEP $2 SUBSEP $9
		runs[k]++
		for (c = 11; c <= 29; c++)
			v[k, c] = v[k, c] " " $c
	}
	END {
		print "| engine | dist | records | runs | ops/s | WA dev | WA eng | cpu s/kop | dev MB written | ops/s vs rocksdb |"
		print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
		ne = split(engines, E, " "); nd = split(dists, D, " ")
		nr = split(records, R, " ")
		nc = split("11 19 23 16 18", C, " ")
		for (e = 1; e <= ne; e++) for (d = 1; d <= nd; d++)
		for (r = 1; r <= nr; r++) {
			k = E[e] SUBSEP D[d] SUBSEP R[r]
			if (!(k in runs))
				continue
			printf "| %s | %s | %s | %d", E[e], D[d], R[r], runs[k]
			for (i = 1; i <= nc; i++)
				printf " | %s", cell(k, C[i])
			rk = "rocksdb" SUBSEP D[d] SUBSEP R[r]
			if (E[e] != "rocksdb" && (rk in runs) && cell(rk, 11) > 0)
				printf " | %.2f |\n", cell(k, 11) / cell(rk, 11)
			else
				printf " | - |\n"
		}
	}' "$raw"
}

# The store sizes, in records.
if [ "$MODE" = scaling ]; then
	sizes=
	for factor in $SCALES; do
		sizes="$sizes $(scaled "$RECORDS" 1000 "$factor")"
	done
else
	sizes=$(scaled "$RECORDS" 1000)
fi
mkdir -p "$OUT"
: > "$raw"
: > "$OUT/stderr.log"
for engine in $ENGINES; do
	for dist in $DISTS; do
		for n in $sizes; do
			for run in $(seq 1 "$RUNS"); do
				one_run "$engine" "$dist" "$run" "$n"
			done
		done
	done
done
{
	preface
	if [ "$MODE" = scaling ]; then
		scaling_summary "$sizes"
	else
		compare_summary
	fi
} | tee "$OUT/summary.md"
