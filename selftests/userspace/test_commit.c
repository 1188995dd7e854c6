// SPDX-License-Identifier: GPL-2.0
/*
 * The periodic commit (spec section 2: an acknowledged mutation becomes
 * durable within the store's commit interval even if nobody calls sync).
 *
 * A store on the simulated crash disk, with checkpoints and the commit on
 * the background worker, takes a few puts and no sync.  After the interval
 * the disk is cloned and the clone crashed (every write not made durable
 * lands, vanishes or tears): a read-only open of the clone must return
 * every put.  With the commit off, the same puts are still only in the
 * journal's memory buffer and no crash keeps them.  The commit must cost
 * nothing while the store is idle, and an interval over the maximum is
 * refused.
 */
#include <time.h>

#include "kselftest_harness.h"
#include "engine.h"
#include "user/simdisk.h"
#include "../rng.h"

#define MiB		(1ull << 20)
#define NPUTS		5u
#define INTERVAL_MS	50u
/* How long a test waits for the commit before it gives up. */
#define WAIT_MS		5000u

FIXTURE(commit) {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	unsigned long long rng;
	u8 val[NPUTS][64];
};

static void quiet(int level, const char *msg)
{
}

FIXTURE_SETUP(commit)
{
	struct betrkv_sb sb;

	betrkv_user_set_log(quiet);
	self->rng = 0x636f6d6d6974ull;
	ASSERT_EQ(0, betrkv_simdisk_create(40 * MiB, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
}

FIXTURE_TEARDOWN(commit)
{
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->dev);
}

static void open_store(struct __test_metadata *_metadata,
		       FIXTURE_DATA(commit) *self, u32 commit_ms)
{
	struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB,
					   .background = true,
					   .commit_ms = commit_ms };

	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
}

static void key_of(u32 i, u8 key[8])
{
	memcpy(key, "commit", 6);
	key[6] = '0' + i / 10;
	key[7] = '0' + i % 10;
}

/* NPUTS acknowledged puts of random values, and no sync. */
static void put_all(struct __test_metadata *_metadata,
		    FIXTURE_DATA(commit) *self)
{
	u8 key[8];
	u32 i, j;

	for (i = 0; i < NPUTS; i++) {
		struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = key,
					.klen = sizeof(key), .val = self->val[i],
					.vlen = sizeof(self->val[i]) };

		for (j = 0; j < sizeof(self->val[i]); j++)
			self->val[i][j] = rng_next(&self->rng);
		key_of(i, key);
		ASSERT_EQ(0, betrkv_engine_apply(self->e, &op, 1, NULL));
	}
}

static void sleep_ms(u32 ms)
{
	struct timespec t = { .tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&t, NULL);
}

/* Wait until the store reports every put durable, at most WAIT_MS. */
static void wait_durable(FIXTURE_DATA(commit) *self)
{
	struct betrkv_engine_stats st;
	u32 waited;

	for (waited = 0; waited < WAIT_MS; waited += 10) {
		betrkv_engine_stats(self->e, &st);
		if (st.durable_seq >= st.seq)
			return;
		sleep_ms(10);
	}
}

/*
 * Crash a clone of the disk as it is now (@seed picks what each pending
 * write does) and open it read-only: how many of the puts it holds, with
 * their values.
 */
static u32 puts_after_crash(struct __test_metadata *_metadata,
			    FIXTURE_DATA(commit) *self, u64 seed)
{
	struct betrkv_engine_opts ro = { .cache_bytes = 4 * MiB, .read_only = true };
	struct betrkv_engine *e;
	struct betrkv_dev *copy;
	u8 key[8], got[sizeof(self->val[0])];
	u32 i, found = 0;

	if (betrkv_simdisk_clone(self->dev, &copy))
		return ~0u;
	betrkv_simdisk_crash(copy, seed);
	if (betrkv_engine_open(copy, &ro, &e)) {
		betrkv_user_dev_close(copy);
		return ~0u;
	}
	for (i = 0; i < NPUTS; i++) {
		struct betrkv_val v = { .buf = got, .cap = sizeof(got) };

		key_of(i, key);
		if (betrkv_engine_get(e, key, sizeof(key), &v))
			continue;
		EXPECT_EQ(sizeof(self->val[i]), v.len);
		if (v.len == sizeof(self->val[i]))
			EXPECT_EQ(0, memcmp(self->val[i], got, v.len));
		found++;
	}
	betrkv_engine_close(e);
	betrkv_user_dev_close(copy);
	return found;
}

/* Acknowledged puts survive any crash after the interval, with no sync. */
TEST_F(commit, durable_after_the_interval)
{
	struct betrkv_engine_stats st;
	u64 seed;

	open_store(_metadata, self, INTERVAL_MS);
	put_all(_metadata, self);
	wait_durable(self);
	betrkv_engine_stats(self->e, &st);
	EXPECT_EQ(0, st.syncs);
	EXPECT_EQ(st.seq, st.durable_seq);
	EXPECT_LT(0, st.journal.flushes);
	for (seed = 1; seed <= 8; seed++)
		EXPECT_EQ(NPUTS, puts_after_crash(_metadata, self, seed))
			TH_LOG("crash seed %llu", (unsigned long long)seed);
}

/* With the commit off the puts stay in memory: a crash loses them. */
TEST_F(commit, off_leaves_them_in_memory)
{
	struct betrkv_engine_stats st;

	open_store(_metadata, self, 0);
	put_all(_metadata, self);
	sleep_ms(4 * INTERVAL_MS);
	betrkv_engine_stats(self->e, &st);
	EXPECT_EQ(0, st.journal.flushes);
	EXPECT_GT(st.seq, st.durable_seq);
	EXPECT_EQ(0, puts_after_crash(_metadata, self, 1));
}

/* An idle store, or one with everything synced, writes nothing. */
TEST_F(commit, idle_costs_no_io)
{
	struct betrkv_simdisk_stats before, after;
	u64 durable;

	open_store(_metadata, self, INTERVAL_MS);
	betrkv_simdisk_stats(self->dev, &before);
	sleep_ms(6 * INTERVAL_MS);
	betrkv_simdisk_stats(self->dev, &after);
	EXPECT_EQ(before.writes, after.writes);
	put_all(_metadata, self);
	ASSERT_EQ(0, betrkv_engine_sync(self->e, &durable));
	betrkv_simdisk_stats(self->dev, &before);
	sleep_ms(6 * INTERVAL_MS);
	betrkv_simdisk_stats(self->dev, &after);
	EXPECT_EQ(before.writes, after.writes);
}

/* Over BETRKV_COMMIT_MS_MAX, or without the worker: EINVAL. */
TEST_F(commit, bad_interval_refused)
{
	struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB,
					   .background = true,
					   .commit_ms = BETRKV_COMMIT_MS_MAX + 1 };

	EXPECT_EQ(-EINVAL, betrkv_engine_open(self->dev, &opts, &self->e));
	opts.commit_ms = BETRKV_COMMIT_MS_MAX;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	EXPECT_EQ(0, betrkv_engine_close(self->e));
	opts.background = false;
	opts.commit_ms = INTERVAL_MS;
	self->e = NULL;
	EXPECT_EQ(-EINVAL, betrkv_engine_open(self->dev, &opts, &self->e));
	self->e = NULL;
}

TEST_HARNESS_MAIN
