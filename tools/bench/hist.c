// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: latency histogram.  Values below 2^HIST_SUB_BITS have a
 * bucket each; above, a value with its top bit at position msb falls in
 * one of the HIST_HALF buckets of width 2^(msb - HIST_SUB_BITS + 1) that
 * split [2^msb, 2^(msb + 1)).
 */
#include <math.h>

#include "hist.h"

static unsigned int hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < (1u << HIST_SUB_BITS))
		return v;
	msb = 63 - __builtin_clzll(v);
	shift = msb - HIST_SUB_BITS + 1;
	return (shift + 1) * HIST_HALF + (v >> shift) - HIST_HALF;
}

/* The middle of bucket i, the value a percentile falling in it reports. */
static uint64_t hist_value(unsigned int i)
{
	unsigned int shift;
	uint64_t low;

	if (i < (1u << HIST_SUB_BITS))
		return i;
	shift = i / HIST_HALF - 1;
	low = (uint64_t)(i % HIST_HALF + HIST_HALF) << shift;
	return low + ((1ULL << shift) >> 1);
}

void hist_add(struct hist *h, uint64_t value)
{
	h->count[hist_index(value)]++;
	h->total++;
	if (value > h->max)
		h->max = value;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->total += src->total;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The smallest value at or below which pct percent of the values lie. */
uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank = (uint64_t)ceil(pct / 100.0 * h->total);
	uint64_t seen = 0, v;
	unsigned int i;

	if (!h->total)
		return 0;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			break;
	}
	v = hist_value(i);
	return v < h->max ? v : h->max;
}
