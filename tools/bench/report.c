// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: result lines.
 *
 * One line per phase (op "all"), and with --per-op one more per operation
 * type that ran (latencies only).  The sequential phases (load, verify,
 * delete) have no key distribution: "seq".  Latencies are in
 * microseconds; cpu_s_kop is the process's user + system CPU seconds
 * (all threads, the phase's untimed settle and sync included) per 1000
 * operations.  Sizes are in MiB; write amplification is bytes written over
 * user bytes (keys + values): wa_dev from the block device's sectors
 * written, wa_proc from this process's write_bytes, wa_eng from the
 * engine's own statistics.  Reads: rd_MB from this process's read_bytes
 * (storage reads; the page cache's hits are not in it), rd_KB_op the same
 * in KiB per operation of the phase, eng_rd_MB from the engine's own
 * statistics.  cache_hw_MB: the engine's cache at the end of the phase:
 * its high-water mark since the engine was opened where the engine keeps
 * one (betrkv; betrkv-kernel: since the store was bound), else its size
 * then (RocksDB's block cache usage); LMDB has no cache of its own.  "-"
 * marks what is unknown or meaningless (no device, no writes, no
 * operations, what the engine does not count).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "report.h"

enum col {
	C_ENGINE, C_PHASE, C_OP, C_DIST, C_THR, C_SYNC, C_OPS, C_SECS,
	C_RATE, C_P50, C_P99, C_P999, C_MAX, C_CPU, C_USER, C_DEV, C_WA_DEV,
	C_PROC, C_WA_PROC, C_ENG, C_WA_ENG, C_RD, C_RD_OP, C_ENG_RD, C_RSS,
	C_CG, C_CACHE_HW, C_BAD, N_COLS
};

#define CELL	32

/* Negative widths align left. */
static const struct {
	const char *name;
	int width;
} cols[N_COLS] = {
	[C_ENGINE] = { "engine", -8 },	[C_PHASE] = { "phase", -6 },
	[C_OP] = { "op", -6 },		[C_DIST] = { "dist", -7 },
	[C_THR] = { "thr", 3 },		[C_SYNC] = { "sync", -9 },
	[C_OPS] = { "ops", 9 },		[C_SECS] = { "secs", 7 },
	[C_RATE] = { "ops_s", 9 },	[C_P50] = { "p50_us", 8 },
	[C_P99] = { "p99_us", 8 },	[C_P999] = { "p999_us", 8 },
	[C_MAX] = { "max_us", 9 },	[C_CPU] = { "cpu_s_kop", 9 },
	[C_USER] = { "user_MB", 8 },	[C_DEV] = { "dev_MB", 8 },
	[C_WA_DEV] = { "wa_dev", 6 },	[C_PROC] = { "proc_MB", 8 },
	[C_WA_PROC] = { "wa_proc", 7 },	[C_ENG] = { "eng_MB", 8 },
	[C_WA_ENG] = { "wa_eng", 6 },	[C_RD] = { "rd_MB", 8 },
	[C_RD_OP] = { "rd_KB_op", 8 },	[C_ENG_RD] = { "eng_rd_MB", 9 },
	[C_RSS] = { "rss_MB", 7 },	[C_CG] = { "cg_MB", 7 },
	[C_CACHE_HW] = { "cache_hw_MB", 11 },	[C_BAD] = { "bad", 4 },
};

typedef char row_t[N_COLS][CELL];

static const char *dist_name(enum key_dist d)
{
	return d == DIST_UNIFORM ? "uniform" : "zipfian";
}

static void sync_name(char *buf, size_t size, enum sync_policy sync,
		      unsigned int every)
{
	if (sync == SYNC_EVERY_N)
		snprintf(buf, size, "every-%u", every);
	else
		snprintf(buf, size, "%s", sync == SYNC_NONE ? "none" : "every-op");
}

static void emit(const struct report *rep, row_t row)
{
	int i;

	for (i = 0; i < N_COLS; i++) {
		if (rep->fmt == FMT_CSV)
			printf("%s%s", i ? "," : "", row[i]);
		else
			printf("%s%*s", i ? " " : "", cols[i].width, row[i]);
	}
	putchar('\n');
}

static void size_text(char *buf, uint64_t bytes)
{
	if (bytes && !(bytes % (1ULL << 30)))
		snprintf(buf, CELL, "%" PRIu64 "G", bytes >> 30);
	else if (bytes && !(bytes % (1ULL << 20)))
		snprintf(buf, CELL, "%" PRIu64 "M", bytes >> 20);
	else
		snprintf(buf, CELL, "%" PRIu64, bytes);
}

/* The configuration, as a comment line: stdout for a table, else stderr. */
static void header(struct report *rep, const struct bench *b)
{
	FILE *out = rep->fmt == FMT_CSV ? stderr : stdout;
	char cache[CELL], cg[CELL] = "none";
	row_t row;
	int i;

	size_text(cache, b->cfg.cache_bytes);
	if (rep->cgroup_mem)
		size_text(cg, rep->cgroup_mem);
	fprintf(out, "# betrkv-bench engine=%s path=%s fs=%s dev=%s records=%" PRIu64
		" key_size=%d value_size=%zu cache=%s cgroup_mem=%s seed=%" PRIu64 "\n",
		b->ops->name, b->cfg.path, b->io.fs,
		b->io.dev[0] ? b->io.dev : "none", b->cfg.records, KEY_SIZE,
		b->cfg.value_size, cache, cg, b->seed);
	if (b->io.dev[0])
		fprintf(out, "# dev_MB: sectors written in %s (all of %s, every process)\n",
			b->io.stat_path, b->io.dev);
	else
		fprintf(out, "# dev_MB: none (no block device under the path)\n");
	fprintf(out, "# cpu_s_kop: CPU s (user+sys, all threads, settle+sync) per 1000 ops\n");
	fprintf(out, "# proc_MB, rd_MB: write_bytes, read_bytes in /proc/self/io (not the page cache's hits); rd_KB_op: KiB read per op\n");
	fprintf(out, "# eng_MB, eng_rd_MB: bytes written, read by the engine's statistics\n");
	fprintf(out, "# cache_hw_MB: the engine's cache, its high-water mark since open (rocksdb: block cache usage at phase end; lmdb: none)\n");
	for (i = 0; i < N_COLS; i++)
		snprintf(row[i], CELL, "%s", cols[i].name);
	emit(rep, row);
	rep->started = true;
}

static void mb(char *buf, uint64_t bytes, bool known)
{
	if (known)
		snprintf(buf, CELL, "%.1f", bytes / 1048576.0);
	else
		snprintf(buf, CELL, "-");
}

static void ratio(char *buf, uint64_t num, uint64_t den, bool known)
{
	if (known && den)
		snprintf(buf, CELL, "%.2f", (double)num / den);
	else
		snprintf(buf, CELL, "-");
}

static bool stat_known(uint64_t v)
{
	return v != STAT_UNKNOWN;
}

static void fill_latency(row_t row, const struct op_result *o, double secs)
{
	snprintf(row[C_OPS], CELL, "%" PRIu64, o->ops);
	snprintf(row[C_RATE], CELL, "%.0f", secs > 0 ? o->ops / secs : 0.0);
	snprintf(row[C_P50], CELL, "%.1f", o->p50 / 1e3);
	snprintf(row[C_P99], CELL, "%.1f", o->p99 / 1e3);
	snprintf(row[C_P999], CELL, "%.1f", o->p999 / 1e3);
	snprintf(row[C_MAX], CELL, "%.1f", o->max / 1e3);
}

static void fill_io(row_t row, const struct bench *b,
		    const struct phase_result *r)
{
	bool dev = b->io.dev[0];

	if (r->all.ops)
		snprintf(row[C_CPU], CELL, "%.4f",
			 r->cpu_ns / 1e6 / r->all.ops);
	mb(row[C_USER], r->user_bytes, true);
	mb(row[C_DEV], r->io.dev_bytes, dev);
	ratio(row[C_WA_DEV], r->io.dev_bytes, r->user_bytes, dev);
	mb(row[C_PROC], r->io.proc_bytes, true);
	ratio(row[C_WA_PROC], r->io.proc_bytes, r->user_bytes, true);
	mb(row[C_ENG], r->engine_bytes, stat_known(r->engine_bytes));
	ratio(row[C_WA_ENG], r->engine_bytes, r->user_bytes,
	      stat_known(r->engine_bytes));
	mb(row[C_RD], r->io.proc_read_bytes, true);
	ratio(row[C_RD_OP], r->io.proc_read_bytes, r->all.ops * 1024, true);
	mb(row[C_ENG_RD], r->engine_read_bytes,
	   stat_known(r->engine_read_bytes));
	mb(row[C_RSS], r->rss_peak, true);
	mb(row[C_CG], r->cg_peak, r->have_cg_peak);
	mb(row[C_CACHE_HW], r->cache_high_water,
	   stat_known(r->cache_high_water));
	snprintf(row[C_BAD], CELL, "%" PRIu64, r->bad);
}

static void fill_row(row_t row, const struct bench *b,
		     const struct phase_result *r, const char *op)
{
	int i;

	for (i = 0; i < N_COLS; i++)
		snprintf(row[i], CELL, "-");
	snprintf(row[C_ENGINE], CELL, "%s", b->ops->name);
	snprintf(row[C_PHASE], CELL, "%s", r->phase);
	snprintf(row[C_OP], CELL, "%s", op);
	snprintf(row[C_DIST], CELL, "%s",
		 r->sequential ? "seq" : dist_name(b->dist.kind));
	snprintf(row[C_THR], CELL, "%u", b->cfg.threads);
	sync_name(row[C_SYNC], CELL, r->sync, b->sync_every);
	snprintf(row[C_SECS], CELL, "%.2f", r->secs);
}

void report_phase(struct report *rep, const struct bench *b,
		  const struct phase_result *r)
{
	row_t row;
	int i;

	if (!rep->started)
		header(rep, b);
	fill_row(row, b, r, "all");
	fill_latency(row, &r->all, r->secs);
	fill_io(row, b, r);
	emit(rep, row);
	for (i = 0; rep->per_op && i < N_OPS; i++) {
		if (!r->op[i].ops)
			continue;
		fill_row(row, b, r, op_name(i));
		fill_latency(row, &r->op[i], r->secs);
		emit(rep, row);
	}
	fflush(stdout);
}
