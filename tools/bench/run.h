/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: workloads and the phases that run them.
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"
#include "gen.h"
#include "sys.h"

enum op { OP_INSERT, OP_READ, OP_UPDATE, OP_SCAN, OP_DELETE, N_OPS };

#define N_LOCKS		1024

struct workload;

struct bench {
	const struct engine_ops *ops;
	struct engine *e;
	struct engine_config cfg;	/* cfg.sync: that of the open engine */
	struct io_source io;
	struct keydist dist;
	bool sync_given;		/* --sync-policy overrides the default */
	enum sync_policy sync;
	unsigned int sync_every;	/* SYNC_EVERY_N: writes per sync */
	uint64_t seed;
	unsigned int phase_no;		/* phases run so far */
	/*
	 * ver[n]: the last version of record n this process wrote (the low
	 * half of the value's version; the high half is run_id), 0 if none.
	 * Writes of a record are serialised by locks[n % N_LOCKS].
	 */
	uint32_t *ver;
	uint64_t run_id;
	pthread_mutex_t locks[N_LOCKS];
};

struct phase {
	const struct workload *wl;
	uint64_t count;		/* operations, or records for sequential ones */
};

struct op_result {
	uint64_t ops;
	uint64_t p50, p99, p999, max;	/* nanoseconds */
};

struct phase_result {
	const char *phase;
	bool sequential;		/* no key distribution */
	enum sync_policy sync;
	double secs;
	struct op_result all;
	struct op_result op[N_OPS];
	uint64_t user_bytes;		/* keys + values written */
	struct io_counters io;		/* written and read during the phase */
	uint64_t cpu_ns;		/* the process's user + system CPU */
	/* From the engine's statistics; STAT_UNKNOWN where it keeps none. */
	uint64_t engine_bytes;		/* written during the phase */
	uint64_t engine_read_bytes;	/* read during the phase */
	uint64_t cache_high_water;	/* at the end of the phase */
	uint64_t rss_peak;
	bool have_cg_peak;
	uint64_t cg_peak;
	uint64_t bad;			/* mismatches and errors */
};

const struct workload *workload_find(const char *name);
bool workload_sequential(const struct workload *wl);
const char *op_name(enum op op);

int bench_init(struct bench *b);
int bench_run(struct bench *b, const struct phase *p, struct phase_result *r);
void bench_close(struct bench *b);

#endif /* BENCH_RUN_H */
