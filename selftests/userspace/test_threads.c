// SPDX-License-Identifier: GPL-2.0
/*
 * Many callers at once, with checkpoints on the background worker: writer
 * threads each own the keys i with i % NWRITERS == their number and check
 * every get and scan of their keys against their own model (nobody else
 * changes those keys, so each answer must be exact); reader threads get and
 * scan any key and check that each value is whole (a value is a run of
 * 8-byte counters, see model_value()); a sync thread checks that the
 * durable sequence number only grows.  The cache is small, so queries read
 * partial nodes, evict and write back while mutations and checkpoints run.
 * At the end the store is reopened and every key checked.
 *
 * BETRKV_SEED=<n> picks the threads' seeds (timing still varies).
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"

#define MiB		(1ull << 20)
#define NKEYS		8000u
#define NWRITERS	3u
#define NREADERS	2u
#define OPS		6000u

struct shared {
	struct betrkv_engine *e;
	struct model m;			/* each writer's keys are its own */
	u64 seed;
	bool stop;
	int failed;			/* the first bad answer, as a line number */
};

struct worker {
	struct shared *sh;
	u32 no;
	pthread_t thread;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

#define CHECK(sh, cond) do {						\
	if (!(cond) && !__atomic_exchange_n(&(sh)->failed, __LINE__,	\
					    __ATOMIC_RELAXED))		\
		fprintf(stderr, "# line %d: %s\n", __LINE__, #cond);	\
} while (0)

/* A value made by model_value(): every byte but each eighth follows the last. */
static bool value_whole(const struct betrkv_msg *v)
{
	const u8 *b = betrkv_msg_val(v);
	u32 k;

	for (k = 1; k < v->vlen; k++)
		if (k % 8 && b[k] != (u8)(b[k - 1] + 1))
			return false;
	return true;
}

static bool failed(struct shared *sh)
{
	return __atomic_load_n(&sh->failed, __ATOMIC_RELAXED);
}

/* Until the writers are done, or an answer was bad. */
static bool running(struct shared *sh)
{
	return !__atomic_load_n(&sh->stop, __ATOMIC_RELAXED) && !failed(sh);
}

static void check_own(struct worker *w, u32 i)
{
	struct shared *sh = w->sh;
	struct betrkv_msg *v = NULL;
	int err = model_get(sh->e, w->key, model_key(i, w->key), &v);

	if (sh->m.vlen[i] == MODEL_ABSENT) {
		CHECK(sh, err == -ENOENT);
	} else {
		CHECK(sh, !err);
		if (!err) {
			model_value(i, sh->m.version[i], sh->m.vlen[i], w->val);
			CHECK(sh, v->vlen == sh->m.vlen[i] &&
				  !memcmp(betrkv_msg_val(v), w->val, v->vlen));
		}
	}
	kfree(v);
}

/* One page of a scan from key @i: own keys exact, all values whole. */
static void check_scan(struct worker *w, u32 i, bool own)
{
	struct shared *sh = w->sh;
	struct betrkv_range r = { .lo = w->key, .lolen = model_key(i, w->key) };
	struct betrkv_msgbuf out;
	u32 k, n, next = i;
	bool more;
	int err;

	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(sh->e, &r, false, 50, 1u << 20, &out, &more);
	CHECK(sh, !err);
	for (k = 0; !err && k < out.n; k++) {
		const u8 *kb = betrkv_msg_key(out.msgs[k]);

		n = (u32)kb[0] << 24 | kb[1] << 16 | kb[2] << 8 | kb[3];
		CHECK(sh, n >= next && n < NKEYS && value_whole(out.msgs[k]));
		/* Own keys skipped over must be absent; those seen must match. */
		for (; own && next <= n && next < NKEYS; next++)
			if (next % NWRITERS == w->no)
				CHECK(sh, (next == n) ==
					  (sh->m.vlen[next] != MODEL_ABSENT));
		if (own && n % NWRITERS == w->no) {
			model_value(n, sh->m.version[n], sh->m.vlen[n], w->val);
			CHECK(sh, out.msgs[k]->vlen == sh->m.vlen[n] &&
				  !memcmp(betrkv_msg_val(out.msgs[k]), w->val,
					  sh->m.vlen[n]));
		}
		next = n + 1;
	}
	betrkv_msgbuf_free(&out);
}

static void *writer(void *p)
{
	struct worker *w = p;
	struct shared *sh = w->sh;
	u64 rng = sh->seed * 31 + w->no;
	struct betrkv_op op;
	u32 k, i, r;
	int err;

	for (k = 0; k < OPS && !failed(sh); k++) {
		i = rng_below(&rng, NKEYS / NWRITERS) * NWRITERS + w->no;
		r = rng_below(&rng, 100);
		op = (struct betrkv_op){ .key = w->key, .klen = model_key(i, w->key) };
		if (r < 50) {
			op.type = BETRKV_OP_PUT;
			op.vlen = rng_below(&rng, 3000);
			op.val = w->val;
			model_value(i, sh->m.version[i] + 1, op.vlen, w->val);
			err = betrkv_engine_apply(sh->e, &op, 1, NULL);
			CHECK(sh, !err);
			sh->m.version[i]++;
			sh->m.vlen[i] = op.vlen;
		} else if (r < 60) {
			op.type = BETRKV_OP_DEL;
			err = betrkv_engine_apply(sh->e, &op, 1, NULL);
			CHECK(sh, !err);
			sh->m.vlen[i] = MODEL_ABSENT;
		} else if (r < 95) {
			check_own(w, i);
		} else {
			check_scan(w, i, true);
		}
	}
	return NULL;
}

static void *reader(void *p)
{
	struct worker *w = p;
	struct shared *sh = w->sh;
	u64 rng = sh->seed * 37 + w->no;
	struct betrkv_msg *v;
	u32 i;
	int err;

	while (running(sh)) {
		i = rng_below(&rng, NKEYS);
		if (rng_below(&rng, 20) == 0) {
			check_scan(w, i, false);
			continue;
		}
		v = NULL;
		err = model_get(sh->e, w->key, model_key(i, w->key), &v);
		CHECK(sh, err == -ENOENT || (!err && value_whole(v)));
		kfree(v);
	}
	return NULL;
}

static void *syncer(void *p)
{
	struct worker *w = p;
	struct shared *sh = w->sh;
	u64 durable = 0, d;

	while (running(sh)) {
		CHECK(sh, !betrkv_engine_sync(sh->e, &d) && d >= durable);
		durable = d;
		usleep(500);
	}
	return NULL;
}

TEST(threads)
{
	struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB, .background = true };
	struct worker ws[NWRITERS + NREADERS + 1] = { 0 };
	const char *env = getenv("BETRKV_SEED");
	struct betrkv_engine_stats st;
	char path[] = "/tmp/betrkv-threads-XXXXXX";
	struct shared sh = { 0 };
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	struct worker *w;
	u32 t, i;
	int fd;

	betrkv_user_set_log(quiet);
	sh.seed = env ? strtoull(env, NULL, 0) : 1;
	TH_LOG("seed %llu (BETRKV_SEED to pick another)", sh.seed);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 256 * MiB));
	close(fd);
	ASSERT_EQ(0, betrkv_user_dev_open(path, false, false, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &sh.e));
	sh.m.nkeys = NKEYS;
	sh.m.vlen = malloc(NKEYS * sizeof(u32));
	sh.m.version = calloc(NKEYS, sizeof(u32));
	memset(sh.m.vlen, 0xff, NKEYS * sizeof(u32));
	for (t = 0; t < ARRAY_SIZE(ws); t++) {
		w = &ws[t];
		w->sh = &sh;
		w->no = t;
		ASSERT_EQ(0, pthread_create(&w->thread, NULL,
					    t < NWRITERS ? writer :
					    t < NWRITERS + NREADERS ? reader : syncer, w));
	}
	for (t = 0; t < NWRITERS; t++)
		pthread_join(ws[t].thread, NULL);
	__atomic_store_n(&sh.stop, true, __ATOMIC_RELAXED);
	for (; t < ARRAY_SIZE(ws); t++)
		pthread_join(ws[t].thread, NULL);
	ASSERT_EQ(0, sh.failed) TH_LOG("a bad answer at line %d", sh.failed);
	betrkv_engine_stats(sh.e, &st);
	TH_LOG("%llu puts, %llu gets, %llu scans, %llu syncs, %llu checkpoints, "
	       "%llu forced node writes, cache high water %llu of %llu",
	       st.puts, st.gets, st.scans, st.syncs, st.checkpoints,
	       st.cache.cp_forced, st.cache.high_water, st.cache_bytes);
	EXPECT_GT(st.checkpoints, 3);
	ASSERT_EQ(0, betrkv_engine_close(sh.e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &sh.e));
	for (i = 0; i < NKEYS; i++) {
		ws[0].no = i % NWRITERS;
		check_own(&ws[0], i);
	}
	ASSERT_EQ(0, sh.failed) TH_LOG("a bad answer at line %d after reopening",
				       sh.failed);
	ASSERT_EQ(0, betrkv_engine_close(sh.e));
	betrkv_user_dev_close(dev);
	unlink(path);
	free(sh.m.vlen);
	free(sh.m.version);
}

TEST_HARNESS_MAIN
