// SPDX-License-Identifier: GPL-2.0
/*
 * The engine against a reference map: random puts, deletes, gets, scans,
 * batches, syncs, checkpoints and close/reopen on an image file, every
 * result compared with the model, and the whole map compared at intervals
 * and after every reopen.  At least half of the keys are reused, values
 * span 0 bytes to the limit, the data is several times the cache budget and
 * the tree grows at least three levels deep.  Each test runs twice: with
 * checkpoints driven by the mutations (deterministic) and on the background
 * worker.
 *
 * BETRKV_SEED=<n> replays a run; a failure prints its seed.
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"

#define MiB		(1ull << 20)
#define NKEYS		20000u
#define CACHE_BYTES	(4 * MiB)

FIXTURE(engine) {
	char path[64];
	struct betrkv_engine_opts opts;
	u64 checkpoints, cp_forced;	/* before the last reopen */
	u64 writebacks;
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	struct model m;
	u64 seed, rng;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

FIXTURE_VARIANT(engine) {
	bool background;
};

FIXTURE_VARIANT_ADD(engine, inline) {
	.background = false,
};

FIXTURE_VARIANT_ADD(engine, background) {
	.background = true,
};

FIXTURE_SETUP(engine)
{
	struct betrkv_sb sb;
	const char *env = getenv("BETRKV_SEED");
	int fd;

	betrkv_user_set_log(quiet);
	self->opts = (struct betrkv_engine_opts){ .cache_bytes = CACHE_BYTES,
						  .background = variant->background };
	strcpy(self->path, "/tmp/betrkv-engine-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 512 * MiB));
	close(fd);
	ASSERT_EQ(0, betrkv_user_dev_open(self->path, false, false, &self->dev));
	/* A small journal: checkpoints begin often, on their own. */
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &self->opts, &self->e));
	self->m.nkeys = NKEYS;
	self->m.vlen = malloc(NKEYS * sizeof(u32));
	self->m.version = calloc(NKEYS, sizeof(u32));
	memset(self->m.vlen, 0xff, NKEYS * sizeof(u32));
	self->seed = env ? strtoull(env, NULL, 0) : 1;
	self->rng = self->seed;
	TH_LOG("seed %llu (BETRKV_SEED to replay)", self->seed);
}

FIXTURE_TEARDOWN(engine)
{
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->dev);
	unlink(self->path);
	free(self->m.vlen);
	free(self->m.version);
}

static void do_put(struct __test_metadata *_metadata,
		   FIXTURE_DATA(engine) *self, u32 i)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT };

	op.klen = model_key(i, self->key);
	op.key = self->key;
	op.vlen = model_vlen(&self->rng);
	model_value(i, self->m.version[i] + 1, op.vlen, self->val);
	op.val = self->val;
	ASSERT_EQ(0, betrkv_engine_apply(self->e, &op, 1, NULL)) TH_LOG("put key %u", i);
	self->m.version[i]++;
	self->m.vlen[i] = op.vlen;
}

static void do_delete(struct __test_metadata *_metadata,
		      FIXTURE_DATA(engine) *self, u32 i)
{
	struct betrkv_op op = { .type = BETRKV_OP_DEL };

	op.klen = model_key(i, self->key);
	op.key = self->key;
	ASSERT_EQ(0, betrkv_engine_apply(self->e, &op, 1, NULL)) TH_LOG("delete key %u", i);
	self->m.vlen[i] = MODEL_ABSENT;
}

/*
 * A get of key @i in one of its forms, chosen at random: into the caller's
 * buffer (cap exactly the value's length, more, or one byte short) or into
 * one the engine allocates (cap ample or one byte short).  A short cap is
 * -ERANGE with the length told and the buffer untouched.
 */
static void check_get(struct __test_metadata *_metadata,
		      FIXTURE_DATA(engine) *self, u32 i)
{
	static u8 got[BETRKV_VALUE_MAX + 1];
	u32 klen = model_key(i, self->key), want = self->m.vlen[i];
	u32 form = rng_below(&self->rng, 5);
	bool absent = want == MODEL_ABSENT, alloc = form >= 3;
	bool shorted = (form == 2 || form == 4) && !absent && want;
	struct betrkv_val v = { .buf = alloc ? NULL : got, .cap = U32_MAX };
	int err;

	if (form == 0 && !absent)
		v.cap = want;
	else if (shorted)
		v.cap = want - 1;
	memset(got, 0xa5, sizeof(got));
	err = betrkv_engine_get(self->e, self->key, klen, &v);
	if (absent) {
		ASSERT_EQ(-ENOENT, err) TH_LOG("key %u should be absent", i);
	} else if (shorted) {
		ASSERT_EQ(-ERANGE, err) TH_LOG("key %u: cap %u for %u bytes", i, v.cap, want);
		ASSERT_EQ(want, v.len) TH_LOG("key %u: length not told", i);
	} else {
		ASSERT_EQ(0, err) TH_LOG("key %u, form %u", i, form);
		ASSERT_EQ(want, v.len) TH_LOG("key %u", i);
		model_value(i, self->m.version[i], want, self->val);
		ASSERT_EQ(0, memcmp(self->val, v.buf ?: got, want)) TH_LOG("key %u", i);
		if (!alloc)
			ASSERT_EQ(0xa5, got[want]) TH_LOG("key %u: written past the value", i);
	}
	if (alloc) {
		ASSERT_EQ(err || !want, !v.buf) TH_LOG("key %u: buffer %p", i, v.buf);
		kvfree(v.buf);
	} else if (err) {
		ASSERT_EQ(0xa5, got[0]) TH_LOG("key %u: a failed get wrote the buffer", i);
	}
}

/* The whole map: one scan sees every key and value; gets sample it. */
static void check_all(struct __test_metadata *_metadata, FIXTURE_DATA(engine) *self)
{
	u32 i;

	model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 500);
	for (i = 0; i < NKEYS; i += 1 + rng_below(&self->rng, 40))
		check_get(_metadata, self, i);
}

static void do_batch(struct __test_metadata *_metadata,
		     FIXTURE_DATA(engine) *self)
{
	static u8 keys[16][BETRKV_KEY_MAX];
	struct betrkv_op ops[16];
	u32 n = 1 + rng_below(&self->rng, 16), k, i, vlen[16];
	u32 idx[16], base[16];
	u8 *vals = malloc(16 * 2048);

	for (k = 0; k < n; k++) {
		/* Some batches write one key twice: the later op wins. */
		idx[k] = k && rng_below(&self->rng, 4) == 0 ? idx[k - 1] :
			 rng_below(&self->rng, NKEYS);
		ops[k] = (struct betrkv_op){ .key = keys[k],
			.klen = model_key(idx[k], keys[k]),
			.type = rng_below(&self->rng, 3) ? BETRKV_OP_PUT : BETRKV_OP_DEL };
		vlen[k] = rng_below(&self->rng, 2048);
		base[k] = self->m.version[idx[k]];
		model_value(idx[k], base[k] + 1 + k, vlen[k], vals + k * 2048);
		ops[k].val = vals + k * 2048;
		ops[k].vlen = ops[k].type == BETRKV_OP_PUT ? vlen[k] : 0;
	}
	ASSERT_EQ(0, betrkv_engine_apply(self->e, ops, n, NULL));
	for (k = 0; k < n; k++) {
		i = idx[k];
		if (ops[k].type == BETRKV_OP_DEL) {
			self->m.vlen[i] = MODEL_ABSENT;
		} else {
			self->m.vlen[i] = vlen[k];
			self->m.version[i] = base[k] + 1 + k;
		}
	}
	free(vals);
}

static void reopen(struct __test_metadata *_metadata, FIXTURE_DATA(engine) *self)
{
	struct betrkv_engine_stats st;

	betrkv_engine_stats(self->e, &st);
	self->checkpoints += st.checkpoints;
	self->cp_forced += st.cache.cp_forced;
	self->writebacks += st.cache.writebacks;
	ASSERT_EQ(0, betrkv_engine_close(self->e));
	self->e = NULL;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &self->opts, &self->e));
}

TEST_F_TIMEOUT(engine, model, 300)
{
	struct betrkv_engine_stats st;
	u64 durable = 0, d;
	u64 live_bytes = 0;
	u32 op, i;

	for (i = 0; i < NKEYS; i++)
		do_put(_metadata, self, i);
	for (op = 0; op < 40000; op++) {
		u32 r = rng_below(&self->rng, 1000);

		i = rng_below(&self->rng, NKEYS);
		if (r < 450)
			do_put(_metadata, self, i);
		else if (r < 600)
			do_delete(_metadata, self, i);
		else if (r < 850)
			check_get(_metadata, self, i);
		else if (r < 880)
			model_check_scan(_metadata, self->e, &self->m, i,
					 min(NKEYS, i + rng_below(&self->rng, 400)),
					 1 + rng_below(&self->rng, 100));
		else if (r < 960)
			do_batch(_metadata, self);
		else if (r < 990) {
			ASSERT_EQ(0, betrkv_engine_sync(self->e, &d));
			ASSERT_LE(durable, d);
			durable = d;
		} else if (r < 996) {
			ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
		} else {
			reopen(_metadata, self);
			check_all(_metadata, self);
		}
		if (op % 10000 == 0)
			check_all(_metadata, self);
	}
	check_all(_metadata, self);
	betrkv_engine_stats(self->e, &st);
	for (i = 0; i < NKEYS; i++)
		if (self->m.vlen[i] != MODEL_ABSENT)
			live_bytes += self->m.vlen[i];
	TH_LOG("height %u, %llu nodes, %llu live bytes, cache high water %llu, evictions %llu",
	       st.height, st.nodes, live_bytes, st.cache.high_water, st.cache.evictions);
	self->checkpoints += st.checkpoints;
	self->cp_forced += st.cache.cp_forced;
	self->writebacks += st.cache.writebacks;
	TH_LOG("%llu checkpoints, %llu node writes forced by a checkpoint in progress, %llu written back ahead of eviction",
	       self->checkpoints, self->cp_forced, self->writebacks);
	EXPECT_GT(self->checkpoints, 50);
	/* The worker, or the mutating caller, writes back ahead of eviction. */
	if (!variant->background)
		EXPECT_GT(self->cp_forced, 0);
	EXPECT_GT(self->writebacks, 0);
	EXPECT_GE(st.height, 3);
	EXPECT_GE(live_bytes, 4 * CACHE_BYTES);
	EXPECT_GT(st.cache.evictions, 0);
	reopen(_metadata, self);
	check_all(_metadata, self);
}

/*
 * A point query on a cold cache reads a node's header and one segment, not
 * the whole node, and the headers stay cached; a scan afterwards still sees
 * everything.
 */
TEST_F_TIMEOUT(engine, point_reads, 120)
{
	struct betrkv_engine_stats st;
	u64 bytes_before, gets = 4000;
	u32 i;

	/*
	 * In key order, then again at random: buffers hold messages, and
	 * nodes written again have layers appended in their slots.
	 */
	for (i = 0; i < NKEYS; i++)
		do_put(_metadata, self, i);
	for (i = 0; i < NKEYS; i++)
		do_put(_metadata, self, rng_below(&self->rng, NKEYS));
	betrkv_engine_stats(self->e, &st);
	EXPECT_GT(st.cache.node_appends, 0);
	reopen(_metadata, self);
	betrkv_engine_stats(self->e, &st);
	bytes_before = st.cache.node_bytes_read;
	for (i = 0; i < gets; i++)
		check_get(_metadata, self, rng_below(&self->rng, NKEYS));
	betrkv_engine_stats(self->e, &st);
	TH_LOG("%llu gets: %llu misses, %llu reads, %llu bytes read (node size %u), %llu reads skipped by Bloom filters",
	       gets, st.cache.misses, st.cache.node_reads,
	       st.cache.node_bytes_read - bytes_before, st.node_size,
	       st.cache.bloom_skips);
	/* Buffers of internal nodes are mostly not read at all. */
	EXPECT_GT(st.cache.bloom_skips, gets / 2);
	EXPECT_GT(st.cache.misses, gets / 2);
	EXPECT_LT(st.cache.node_bytes_read - bytes_before,
		  st.cache.misses * st.node_size / 8);
	/* Headers outlive their segments in the cache: mostly one read a miss. */
	EXPECT_LT(st.cache.node_reads, st.cache.misses * 5 / 4);
	check_all(_metadata, self);
}

TEST_HARNESS_MAIN
