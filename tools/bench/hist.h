/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: a log-bucketed latency histogram in the style of
 * HdrHistogram: each power of two is split into HIST_HALF sub-buckets,
 * so a recorded value is known to within 1/HIST_HALF (about 3%).
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	6
#define HIST_HALF	(1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS	((66 - HIST_SUB_BITS) * HIST_HALF)

struct hist {
	uint64_t total;
	uint64_t max;
	uint64_t count[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t value);
void hist_merge(struct hist *dst, const struct hist *src);
uint64_t hist_percentile(const struct hist *h, double pct);

#endif /* BENCH_HIST_H */
