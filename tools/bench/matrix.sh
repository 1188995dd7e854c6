#!/bin/bash
# Run the engine comparison and print a Markdown table of medians.
#
#   tools/bench/matrix.sh            (settings from the environment)
#
# For each engine, each key distribution and RUNS times (seed = run
# number): a fresh store; load,a,b,c on THREADS threads; then, in a second
# process on the same store, the sync workload on SYNC_THREADS threads.
# Every process runs in a --cgroup-mem CGROUP memory cgroup.  The raw CSV
# lines (prefixed with run and distribution) go to $OUT/raw.csv, the
# engines' notes to $OUT/stderr.log.  Stops at the first failed process
# (including one whose reads did not return what was written).
set -euo pipefail
cd "$(dirname "$0")/../.."

BENCH=${BENCH:-build/bin/betrkv-bench}
DIR=${DIR:-/var/tmp/betrkv-bench}
OUT=${OUT:-$DIR/results}
ENGINES=${ENGINES:-rocksdb lmdb}
DISTS=${DISTS:-uniform zipfian}
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1m}
OPS=${OPS:-200k}
SYNC_OPS=${SYNC_OPS:-20k}
VALUE=${VALUE:-1000}
CACHE=${CACHE:-256M}
CGROUP=${CGROUP:-512M}
THREADS=${THREADS:-2}
SYNC_THREADS=${SYNC_THREADS:-4}

raw=$OUT/raw.csv

# bench RUN DIST ARGS...: one process; its lines, prefixed, into raw.csv.
bench() {
	local run=$1 dist=$2
	shift 2
	echo "+ $BENCH $*" >&2
	"$BENCH" "$@" --format csv 2>> "$OUT/stderr.log" |
		tail -n +2 | sed "s/^/$run,$dist,/" >> "$raw"
}

one_run() {
	local engine=$1 dist=$2 run=$3 store=$DIR/store
	local common=(--engine "$engine" --path "$store" --records "$RECORDS"
		      --value-size "$VALUE" --cache "$CACHE"
		      --cgroup-mem "$CGROUP" --dist "$dist" --seed "$run")

	rm -rf "$store"
	bench "$run" "$dist" "${common[@]}" --ops "$OPS" \
		--threads "$THREADS" --workload load,a,b,c
	bench "$run" "$dist" "${common[@]}" --ops "$SYNC_OPS" \
		--threads "$SYNC_THREADS" --workload sync
	rm -rf "$store"
}

# The median over the runs of each (engine, distribution, phase).
summary() {
	awk -F, -v engines="$ENGINES" -v dists="$DISTS" '
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$5 == "all" {
		k = $3 SUBSEP $2 SUBSEP $4
		thr[k] = $7; sync[k] = $8; runs[k]++; bad[k] += $30
		for (c = 11; c <= 29; c++)
			v[k, c] = v[k, c] " " $c
	}
	END {
		print "| engine | dist | phase | thr | sync | runs | ops/s | p50 us | p99 us | p99.9 us | WA dev | WA proc | WA eng | read KB/op | cgroup peak MB | cache hw MB | bad |"
		print "|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
		ne = split(engines, E, " "); nd = split(dists, D, " ")
		np = split("load a b c sync", P, " ")
		for (e = 1; e <= ne; e++) for (d = 1; d <= nd; d++)
		for (p = 1; p <= np; p++) {
			k = E[e] SUBSEP D[d] SUBSEP P[p]
			if (!(k in runs))
				continue
			printf "| %s | %s | %s | %s | %s | %d", E[e], D[d], P[p], thr[k], sync[k], runs[k]
			split("11 12 13 14 19 21 23 25 28 29", C, " ")
			for (i = 1; i <= 10; i++)
				printf " | %s", (v[k, C[i]] ~ /-/) ? "-" : median(v[k, C[i]])
			printf " | %d |\n", bad[k]
		}
	}' "$raw"
}

mkdir -p "$OUT"
: > "$raw"
: > "$OUT/stderr.log"
for engine in $ENGINES; do
	for dist in $DISTS; do
		for run in $(seq 1 "$RUNS"); do
			one_run "$engine" "$dist" "$run"
		done
	done
done
summary | tee "$OUT/summary.md"
