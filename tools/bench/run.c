// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: the workloads, and running one phase of a workload on
 * --threads threads.
 *
 * Sequential workloads visit each record once, the records split into
 * one contiguous range per thread: load inserts, verify reads, delete
 * deletes.  The others draw records from the key distribution and mix
 * reads, scans and updates as YCSB's core workloads A, B, C and E do (E
 * updates where YCSB inserts, so that the record count stays fixed); sync
 * only updates, each durable before it returns unless --sync-policy says
 * otherwise.
 *
 * Each read is checked: the value must be the one of its record, at a
 * version no older than the last this process wrote before the read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "run.h"

#define MAX_SCAN	100	/* YCSB maxscanlength, uniform 1..100 */
#define MAX_REPORTS	10	/* bad records reported per phase */

struct worker {
	struct bench *b;
	const struct workload *wl;
	pthread_barrier_t *start;
	pthread_t tid;
	uint64_t first;		/* sequential: the first record */
	uint64_t count;		/* records or operations */
	struct rng rng;
	unsigned char *buf;	/* a value */
	uint64_t writes;
	uint64_t user_bytes;
	uint64_t bad;
	struct hist hist[N_OPS];
};

struct workload {
	const char *name;
	/* sequential: what to do with each record */
	void (*each)(struct worker *w, uint64_t recno);
	unsigned int read_pct;	/* random: reads, scans, the rest updates */
	unsigned int scan_pct;
	enum sync_policy sync;	/* unless --sync-policy is given */
};

static const char *const op_names[N_OPS] = {
	[OP_INSERT] = "insert",
	[OP_READ] = "read",
	[OP_UPDATE] = "update",
	[OP_SCAN] = "scan",
	[OP_DELETE] = "delete",
};

static unsigned int reports;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void bad(struct worker *w, uint64_t recno, const char *what)
{
	w->bad++;
	if (__atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED) < MAX_REPORTS)
		fprintf(stderr, "betrkv-bench: %s: record %" PRIu64 ": %s\n",
			w->wl->name, recno, what);
}

static uint64_t min_version(const struct bench *b, uint64_t recno)
{
	uint32_t v = __atomic_load_n(&b->ver[recno], __ATOMIC_ACQUIRE);

	return v ? b->run_id << 32 | v : 0;
}

/* After a write: sync if --sync-policy every-N says it is time. */
static int sync_due(struct worker *w)
{
	struct bench *b = w->b;

	w->writes++;
	if (b->cfg.sync != SYNC_EVERY_N || w->writes % b->sync_every)
		return 0;
	return b->ops->sync(b->e);
}

static void do_write(struct worker *w, uint64_t recno, enum op op)
{
	struct bench *b = w->b;
	pthread_mutex_t *lock = &b->locks[recno % N_LOCKS];
	size_t vsize = b->cfg.value_size;
	char key[KEY_SIZE];
	uint64_t t0;
	uint32_t v;
	int rc;

	make_key(key, recno);
	pthread_mutex_lock(lock);
	v = b->ver[recno] + 1;
	make_value(w->buf, vsize, recno, b->run_id << 32 | v);
	t0 = now_ns();
	rc = b->ops->put(b->e, key, KEY_SIZE, w->buf, vsize);
	if (!rc)
		__atomic_store_n(&b->ver[recno], v, __ATOMIC_RELEASE);
	pthread_mutex_unlock(lock);
	if (!rc)
		rc = sync_due(w);
	hist_add(&w->hist[op], now_ns() - t0);
	w->user_bytes += KEY_SIZE + vsize;
	if (rc)
		bad(w, recno, "write failed");
}

static void do_insert(struct worker *w, uint64_t recno)
{
	do_write(w, recno, OP_INSERT);
}

static void do_read(struct worker *w, uint64_t recno)
{
	struct bench *b = w->b;
	uint64_t min = min_version(b, recno);
	size_t vsize = b->cfg.value_size, len;
	char key[KEY_SIZE];
	uint64_t t0;
	int rc;

	make_key(key, recno);
	t0 = now_ns();
	rc = b->ops->get(b->e, key, KEY_SIZE, w->buf, vsize, &len);
	hist_add(&w->hist[OP_READ], now_ns() - t0);
	if (rc == -ENOENT)
		bad(w, recno, "missing");
	else if (rc)
		bad(w, recno, "get failed");
	else if (!value_ok(w->buf, len, vsize, recno, min))
		bad(w, recno, "wrong value");
}

/* Scans run on a snapshot, so only the records' integrity is checked. */
static int scan_visit(const void *key, size_t klen, const void *val,
		      size_t vlen, void *arg)
{
	struct worker *w = arg;
	uint64_t recno = value_recno(val, vlen);
	char expect[KEY_SIZE];

	make_key(expect, recno);
	if (klen != KEY_SIZE || memcmp(key, expect, KEY_SIZE) ||
	    !value_ok(val, vlen, w->b->cfg.value_size, recno, 0))
		bad(w, recno, "scan returned a wrong record");
	return 0;
}

static void do_scan(struct worker *w, uint64_t recno)
{
	struct bench *b = w->b;
	unsigned int max = 1 + rng_below(&w->rng, MAX_SCAN);
	char key[KEY_SIZE];
	uint64_t t0;
	int n;

	make_key(key, recno);
	t0 = now_ns();
	n = b->ops->scan(b->e, key, KEY_SIZE, max, scan_visit, w);
	hist_add(&w->hist[OP_SCAN], now_ns() - t0);
	if (n < 0)
		bad(w, recno, "scan failed");
	else if (!n)
		bad(w, recno, "scan found nothing");
}

static void do_delete(struct worker *w, uint64_t recno)
{
	struct bench *b = w->b;
	char key[KEY_SIZE];
	uint64_t t0;
	size_t len;
	int rc;

	make_key(key, recno);
	t0 = now_ns();
	rc = b->ops->del(b->e, key, KEY_SIZE);
	if (!rc)
		rc = sync_due(w);
	hist_add(&w->hist[OP_DELETE], now_ns() - t0);
	w->user_bytes += KEY_SIZE;
	if (rc == -ENOENT)
		bad(w, recno, "missing");
	else if (rc)
		bad(w, recno, "delete failed");
	else if (b->ops->get(b->e, key, KEY_SIZE, w->buf,
			     b->cfg.value_size, &len) != -ENOENT)
		bad(w, recno, "still there after delete");
}

static const struct workload workloads[] = {
	{ .name = "load", .each = do_insert },
	{ .name = "a", .read_pct = 50 },
	{ .name = "b", .read_pct = 95 },
	{ .name = "c", .read_pct = 100 },
	{ .name = "e", .scan_pct = 95 },
	{ .name = "sync", .sync = SYNC_EVERY_OP },
	{ .name = "verify", .each = do_read },
	{ .name = "delete", .each = do_delete },
};

const struct workload *workload_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(workloads[i].name, name))
			return &workloads[i];
	return NULL;
}

bool workload_sequential(const struct workload *wl)
{
	return wl->each;
}

const char *op_name(enum op op)
{
	return op_names[op];
}

static void run_random(struct worker *w)
{
	const struct workload *wl = w->wl;
	unsigned int r;
	uint64_t i, recno;

	for (i = 0; i < w->count; i++) {
		recno = keydist_next(&w->b->dist, &w->rng);
		r = rng_below(&w->rng, 100);
		if (r < wl->read_pct)
			do_read(w, recno);
		else if (r < wl->read_pct + wl->scan_pct)
			do_scan(w, recno);
		else
			do_write(w, recno, OP_UPDATE);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t recno;

	pthread_barrier_wait(w->start);
	if (!w->wl->each) {
		run_random(w);
		return NULL;
	}
	for (recno = w->first; recno < w->first + w->count; recno++)
		w->wl->each(w, recno);
	return NULL;
}

/* Open the engine with the sync policy, or reopen it to change policy. */
static int engine_ready(struct bench *b, enum sync_policy sync)
{
	bool first = !b->e;

	if (b->e && b->cfg.sync == sync)
		return 0;
	if (b->e)
		b->ops->close(b->e);
	b->cfg.sync = sync;
	b->e = b->ops->open(&b->cfg);
	if (!b->e) {
		fprintf(stderr, "betrkv-bench: cannot open %s at %s\n",
			b->ops->name, b->cfg.path);
		return -1;
	}
	if (first)
		io_source_init(&b->io, b->cfg.path);
	return 0;
}

struct sample {
	struct io_counters io;
	struct engine_stats eng;
	uint64_t cpu_ns;
};

static void stats_unknown(struct engine_stats *st)
{
	st->bytes_written = STAT_UNKNOWN;
	st->bytes_read = STAT_UNKNOWN;
	st->cache_high_water = STAT_UNKNOWN;
}

static void take_sample(struct bench *b, struct sample *s)
{
	s->cpu_ns = cpu_time_ns();
	io_read(&b->io, &s->io);
	stats_unknown(&s->eng);
	if (b->ops->stats && b->ops->stats(b->e, &s->eng))
		stats_unknown(&s->eng);
}

/*
 * Untimed, after the operations: let the engine finish the background
 * work they caused, make everything durable, and write back the file
 * system, so that the bytes written and the CPU time spent are counted in
 * this phase.
 */
static int quiesce(struct bench *b)
{
	int rc = b->ops->settle ? b->ops->settle(b->e) : 0;

	if (!rc)
		rc = b->ops->sync(b->e);
	if (!rc)
		rc = path_syncfs(b->cfg.path);
	return rc;
}

static void worker_init(struct worker *w, struct bench *b,
			const struct phase *p, unsigned int t)
{
	unsigned int n = b->cfg.threads;

	w->b = b;
	w->wl = p->wl;
	w->first = p->count * t / n;
	w->count = p->count * (t + 1) / n - w->first;
	rng_seed(&w->rng, b->seed ^ (uint64_t)b->phase_no << 48 ^
		 (uint64_t)t << 32);
}

static void op_result(struct op_result *o, const struct hist *h)
{
	o->ops = h->total;
	o->p50 = hist_percentile(h, 50.0);
	o->p99 = hist_percentile(h, 99.0);
	o->p999 = hist_percentile(h, 99.9);
	o->max = h->max;
}

static void collect(struct phase_result *r, struct worker *ws,
		    unsigned int n)
{
	struct hist all, op[N_OPS];
	unsigned int t, i;

	memset(&all, 0, sizeof(all));
	memset(op, 0, sizeof(op));
	for (t = 0; t < n; t++) {
		for (i = 0; i < N_OPS; i++) {
			hist_merge(&op[i], &ws[t].hist[i]);
			hist_merge(&all, &ws[t].hist[i]);
		}
		r->user_bytes += ws[t].user_bytes;
		r->bad += ws[t].bad;
	}
	op_result(&r->all, &all);
	for (i = 0; i < N_OPS; i++)
		op_result(&r->op[i], &op[i]);
}

static void start_workers(struct bench *b, const struct phase *p,
			  struct worker *ws, pthread_barrier_t *start)
{
	unsigned int t;

	for (t = 0; t < b->cfg.threads; t++) {
		worker_init(&ws[t], b, p, t);
		ws[t].start = start;
		ws[t].buf = malloc(b->cfg.value_size);
		if (!ws[t].buf ||
		    pthread_create(&ws[t].tid, NULL, worker_main, &ws[t])) {
			fprintf(stderr, "betrkv-bench: cannot start thread\n");
			exit(1);
		}
	}
}

/* Run the workers; the phase's wall-clock time in seconds. */
static double run_workers(struct bench *b, const struct phase *p,
			  struct phase_result *r)
{
	unsigned int t, n = b->cfg.threads;
	struct worker *ws = calloc(n, sizeof(*ws));
	pthread_barrier_t start;
	uint64_t t0, t1;

	if (!ws) {
		fprintf(stderr, "betrkv-bench: out of memory\n");
		exit(1);
	}
	pthread_barrier_init(&start, NULL, n + 1);
	start_workers(b, p, ws, &start);
	/* Before the workers are released: after, this thread may not run. */
	t0 = now_ns();
	pthread_barrier_wait(&start);
	for (t = 0; t < n; t++)
		pthread_join(ws[t].tid, NULL);
	t1 = now_ns();
	pthread_barrier_destroy(&start);
	collect(r, ws, n);
	for (t = 0; t < n; t++)
		free(ws[t].buf);
	free(ws);
	return (t1 - t0) / 1e9;
}

static uint64_t stat_delta(uint64_t v0, uint64_t v1)
{
	return v0 == STAT_UNKNOWN || v1 == STAT_UNKNOWN ? STAT_UNKNOWN : v1 - v0;
}

static void phase_deltas(struct phase_result *r, const struct sample *s0,
			 const struct sample *s1)
{
	r->io.dev_bytes = s1->io.dev_bytes - s0->io.dev_bytes;
	r->io.proc_bytes = s1->io.proc_bytes - s0->io.proc_bytes;
	r->io.proc_read_bytes = s1->io.proc_read_bytes - s0->io.proc_read_bytes;
	r->cpu_ns = s1->cpu_ns - s0->cpu_ns;
	r->engine_bytes = stat_delta(s0->eng.bytes_written,
				     s1->eng.bytes_written);
	r->engine_read_bytes = stat_delta(s0->eng.bytes_read,
					  s1->eng.bytes_read);
	r->cache_high_water = s1->eng.cache_high_water;
	r->rss_peak = rss_peak();
	r->have_cg_peak = cgroup_peak(&r->cg_peak);
}

int bench_run(struct bench *b, const struct phase *p, struct phase_result *r)
{
	enum sync_policy sync = b->sync_given ? b->sync : p->wl->sync;
	struct sample s0, s1;

	if (p->wl->scan_pct && !b->ops->scan) {
		fprintf(stderr, "betrkv-bench: %s cannot scan (workload %s)\n",
			b->ops->name, p->wl->name);
		return -1;
	}
	if (engine_ready(b, sync))
		return -1;
	memset(r, 0, sizeof(*r));
	r->phase = p->wl->name;
	r->sequential = workload_sequential(p->wl);
	r->sync = sync;
	reports = 0;
	take_sample(b, &s0);
	rss_reset_peak();
	cgroup_reset_peak();
	r->secs = run_workers(b, p, r);
	if (quiesce(b)) {
		fprintf(stderr, "betrkv-bench: %s: sync after the phase failed\n",
			r->phase);
		r->bad++;
	}
	take_sample(b, &s1);
	phase_deltas(r, &s0, &s1);
	b->phase_no++;
	return 0;
}

int bench_init(struct bench *b)
{
	unsigned int i;

	b->ver = calloc(b->cfg.records, sizeof(*b->ver));
	if (!b->ver) {
		fprintf(stderr, "betrkv-bench: out of memory\n");
		return -1;
	}
	b->run_id = (uint32_t)time(NULL);
	for (i = 0; i < N_LOCKS; i++)
		pthread_mutex_init(&b->locks[i], NULL);
	return 0;
}

void bench_close(struct bench *b)
{
	if (b->e)
		b->ops->close(b->e);
	b->e = NULL;
	free(b->ver);
}
