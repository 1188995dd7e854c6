/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: the result lines, as an aligned table or as CSV.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "run.h"

enum format { FMT_TABLE, FMT_CSV };

struct report {
	enum format fmt;
	bool per_op;		/* a line per operation type too */
	uint64_t cgroup_mem;	/* 0: no limit */
	bool started;		/* the header is out */
};

void report_phase(struct report *rep, const struct bench *b,
		  const struct phase_result *r);

#endif /* BENCH_REPORT_H */
