// SPDX-License-Identifier: GPL-2.0
/*
 * A full device: puts fail with -ENOSPC and change nothing, the store stays
 * consistent and readable (also after reopening), and deletes still go
 * through, also after batches of the largest values filled it.  Deletes
 * make room for new keys again (with a checkpoint, or when a put needs
 * it), also across a crash in the middle; deleting everything gives back
 * all but a few slots.  Overwriting the same keys
 * forever does not grow the space in use.
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB	(1ull << 20)
#define NKEYS	20000u
#define VLEN	2000u	/* the value size of the tests that fill the device */

FIXTURE(space) {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	struct model m;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

static struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB };

FIXTURE_SETUP(space)
{
	struct betrkv_sb sb;

	betrkv_user_set_log(quiet);
	/* About 70 node slots of 256 KiB: close to the smallest store. */
	ASSERT_EQ(0, betrkv_simdisk_create(18 * MiB + 656 * 1024, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	ASSERT_GE(72, sb.geo.nodes_size / sb.geo.node_size);
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	self->m.nkeys = NKEYS;
	self->m.vlen = malloc(NKEYS * sizeof(u32));
	self->m.version = calloc(NKEYS, sizeof(u32));
	memset(self->m.vlen, 0xff, NKEYS * sizeof(u32));
}

FIXTURE_TEARDOWN(space)
{
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->dev);
	free(self->m.vlen);
	free(self->m.version);
}

static int put(FIXTURE_DATA(space) *self, u32 i, u32 vlen)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = self->key,
				.klen = model_key(i, self->key), .val = self->val,
				.vlen = vlen };
	int err;

	model_value(i, self->m.version[i] + 1, vlen, self->val);
	err = betrkv_engine_apply(self->e, &op, 1, NULL);
	if (!err) {
		self->m.version[i]++;
		self->m.vlen[i] = vlen;
	}
	return err;
}

static int del(FIXTURE_DATA(space) *self, u32 i)
{
	struct betrkv_op op = { .type = BETRKV_OP_DEL, .key = self->key,
				.klen = model_key(i, self->key) };
	int err = betrkv_engine_apply(self->e, &op, 1, NULL);

	if (!err)
		self->m.vlen[i] = MODEL_ABSENT;
	return err;
}

static void check_all(struct __test_metadata *_metadata, FIXTURE_DATA(space) *self)
{
	struct betrkv_msg *v;
	u32 i;
	int err;

	for (i = 0; i < NKEYS; i++) {
		err = model_get(self->e, self->key, model_key(i, self->key), &v);
		if (self->m.vlen[i] == MODEL_ABSENT) {
			ASSERT_EQ(-ENOENT, err) TH_LOG("key %u", i);
			continue;
		}
		ASSERT_EQ(0, err) TH_LOG("key %u", i);
		ASSERT_EQ(self->m.vlen[i], v->vlen);
		model_value(i, self->m.version[i], v->vlen, self->val);
		ASSERT_EQ(0, memcmp(self->val, betrkv_msg_val(v), v->vlen)) TH_LOG("key %u", i);
		kfree(v);
	}
}

/* Put keys 0, 1, ... until the device is full; how many fit. */
static u32 fill(struct __test_metadata *_metadata, FIXTURE_DATA(space) *self)
{
	u32 i, stored = 0;
	int err = 0;

	for (i = 0; i < NKEYS && !err; i++) {
		err = put(self, i, VLEN);
		stored += !err;
	}
	EXPECT_EQ(-ENOSPC, err) TH_LOG("the device never filled: %u keys", stored);
	return stored;
}

static void reopen(struct __test_metadata *_metadata, FIXTURE_DATA(space) *self)
{
	ASSERT_EQ(0, betrkv_engine_close(self->e));
	self->e = NULL;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
}

TEST_F_TIMEOUT(space, full_device, 120)
{
	u32 i, stored = fill(_metadata, self);

	TH_LOG("%u keys of %u bytes before ENOSPC", stored, VLEN);
	EXPECT_LT(stored * (u64)VLEN, 16 * MiB);
	EXPECT_GT(stored * (u64)VLEN, 4 * MiB);
	/* Consistent and readable, now and after reopening. */
	check_all(_metadata, self);
	reopen(_metadata, self);
	check_all(_metadata, self);
	EXPECT_EQ(-ENOSPC, put(self, NKEYS - 1, VLEN));
	/* Deletes still go through on a full device. */
	for (i = 0; i < stored; i += 2)
		ASSERT_EQ(0, del(self, i)) TH_LOG("delete %u", i);
	ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
	check_all(_metadata, self);
}

/* Delete three keys in four of the first @stored; how many were deleted. */
static u32 delete_most(struct __test_metadata *_metadata,
		       FIXTURE_DATA(space) *self, u32 stored)
{
	u32 i, deleted = 0;

	for (i = 0; i < stored; i++) {
		if (i % 4 == 0)
			continue;
		EXPECT_EQ(0, del(self, i)) TH_LOG("delete %u", i);
		deleted++;
	}
	return deleted;
}

/* Put new keys from @from on until the device is full; how many fit. */
static u32 put_new(FIXTURE_DATA(space) *self, u32 from)
{
	u32 i, n = 0;
	int err = 0;

	for (i = from; i < NKEYS && !err; i++) {
		err = put(self, i, VLEN);
		n += !err;
	}
	return n;
}

/*
 * Deletes plus a checkpoint make room: after deleting three keys in four
 * of a full device, new keys of at least a third of the bytes deleted fit
 * again.
 */
TEST_F_TIMEOUT(space, deletes_make_room, 120)
{
	struct betrkv_engine_stats full, st;
	u32 stored = fill(_metadata, self), deleted, reput;

	betrkv_engine_stats(self->e, &full);
	deleted = delete_most(_metadata, self, stored);
	ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
	betrkv_engine_stats(self->e, &st);
	TH_LOG("%u keys stored, %u deleted: slots %llu -> %llu of %llu",
	       stored, deleted, full.slots_used, st.slots_used, st.slots_total);
	EXPECT_GT(full.slots_used - full.slots_used / 3, st.slots_used);
	check_all(_metadata, self);
	reput = put_new(self, stored);
	TH_LOG("%u new keys fit after the deletes", reput);
	EXPECT_GE(reput, deleted / 3);
	check_all(_metadata, self);
	model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 100);
	reopen(_metadata, self);
	check_all(_metadata, self);
	model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 100);
}

/* Without a checkpoint of its own, a put that needs the room finds it. */
TEST_F_TIMEOUT(space, deletes_make_room_for_puts, 120)
{
	u32 stored = fill(_metadata, self), deleted, reput;

	deleted = delete_most(_metadata, self, stored);
	reput = put_new(self, stored);
	TH_LOG("%u keys stored, %u deleted, %u new keys fit",
	       stored, deleted, reput);
	EXPECT_GE(reput, deleted / 3);
	check_all(_metadata, self);
	reopen(_metadata, self);
	check_all(_metadata, self);
}

/*
 * A crash at any I/O of a checkpoint and its drain rounds recovers the
 * store as it was before (the deletes were synced), and the room is still
 * there to be had.
 */
TEST_F_TIMEOUT(space, crash_while_draining, 600)
{
	u32 *vlen = malloc(NKEYS * sizeof(u32));
	u32 *version = malloc(NKEYS * sizeof(u32));
	u32 stored = fill(_metadata, self), deleted, reput;
	struct betrkv_simdisk_stats before, after;
	struct betrkv_engine_stats st;
	struct betrkv_dev *snap;
	u64 ios = 1, n, rng = 1;

	deleted = delete_most(_metadata, self, stored);
	ASSERT_EQ(0, betrkv_engine_sync(self->e, NULL));
	ASSERT_EQ(0, betrkv_simdisk_clone(self->dev, &snap));
	memcpy(vlen, self->m.vlen, NKEYS * sizeof(u32));
	memcpy(version, self->m.version, NKEYS * sizeof(u32));
	/* Round 0 counts the I/Os of the checkpoint; round n dies at I/O n. */
	for (n = 0; n < ios; n++) {
		betrkv_engine_close(self->e);
		self->e = NULL;
		betrkv_user_dev_close(self->dev);
		ASSERT_EQ(0, betrkv_simdisk_clone(snap, &self->dev));
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
		betrkv_simdisk_stats(self->dev, &before);
		if (n)
			betrkv_simdisk_arm(self->dev, n - 1);
		ASSERT_EQ(n ? -EIO : 0, betrkv_engine_checkpoint(self->e))
			TH_LOG("I/O %llu", n);
		if (!n) {
			betrkv_simdisk_stats(self->dev, &after);
			betrkv_engine_stats(self->e, &st);
			ios = after.reads + after.writes - before.reads - before.writes;
			TH_LOG("%llu checkpoints in %llu I/Os", st.checkpoints, ios);
			ASSERT_LT(2, st.checkpoints) TH_LOG("no drain rounds");
		}
		betrkv_simdisk_arm(self->dev, 0);
		betrkv_engine_close(self->e);
		self->e = NULL;
		betrkv_simdisk_crash(self->dev, rng_next(&rng));
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e))
			TH_LOG("I/O %llu: recovery failed", n);
		check_all(_metadata, self);
		reput = put_new(self, stored);
		EXPECT_GE(reput, deleted / 3) TH_LOG("I/O %llu", n);
		check_all(_metadata, self);
		memcpy(self->m.vlen, vlen, NKEYS * sizeof(u32));
		memcpy(self->m.version, version, NKEYS * sizeof(u32));
	}
	betrkv_user_dev_close(snap);
	free(vlen);
	free(version);
}

/* Deleting every key of a full device and checkpointing frees its nodes. */
TEST_F_TIMEOUT(space, delete_everything, 120)
{
	struct betrkv_engine_stats st;
	u32 i, stored = fill(_metadata, self);

	for (i = 0; i < stored; i++)
		ASSERT_EQ(0, del(self, i)) TH_LOG("delete %u", i);
	ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
	betrkv_engine_stats(self->e, &st);
	TH_LOG("%u keys deleted: %llu nodes in %llu of %llu slots, height %u",
	       stored, st.nodes, st.slots_used, st.slots_total, st.height);
	EXPECT_GE(4, st.slots_used);
	check_all(_metadata, self);
	reopen(_metadata, self);
	check_all(_metadata, self);
	/* The room is there: the same keys fit again. */
	EXPECT_LE(stored - stored / 10, fill(_metadata, self));
}

/*
 * Random puts of every size and deletes on a full device: a put succeeds
 * or fails with -ENOSPC, a delete succeeds, the store always matches the
 * model (also after reopening), and puts keep succeeding as deletes make
 * room.
 */
TEST_F_TIMEOUT(space, random_full, 300)
{
	u32 op, k, r, puts = 0, full = 0, late = 0;
	u64 rng = 3;
	int err;

	for (op = 1; op <= 60000; op++) {
		k = rng_below(&rng, NKEYS);
		r = rng_below(&rng, 100);
		if (r < 60) {
			err = put(self, k, model_vlen(&rng));
			ASSERT_TRUE(!err || err == -ENOSPC) TH_LOG("op %u: %d", op, err);
			puts += !err;
			full += !!err;
			late += !err && full;
		} else if (r < 99) {
			ASSERT_EQ(0, del(self, k)) TH_LOG("op %u", op);
		} else {
			ASSERT_EQ(0, betrkv_engine_checkpoint(self->e)) TH_LOG("op %u", op);
		}
		if (op % 20000 == 0)
			check_all(_metadata, self);
	}
	TH_LOG("%u puts went in, %u found the device full, %u after the first did",
	       puts, full, late);
	EXPECT_LT(0, full);
	EXPECT_LT(1000, late);
	model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 100);
	reopen(_metadata, self);
	check_all(_metadata, self);
}

/* Put a batch of @n random keys with values of @vlen bytes; 0 or the error. */
static int put_batch(FIXTURE_DATA(space) *self, u64 *rng, u32 n, u32 vlen)
{
	static u8 keys[8][BETRKV_KEY_MAX], vals[8][BETRKV_VALUE_MAX];
	struct betrkv_op ops[8] = {};
	u32 i, k[8];
	int err;

	for (i = 0; i < n; i++) {
		k[i] = rng_below(rng, NKEYS);
		model_value(k[i], self->m.version[k[i]] + 1, vlen, vals[i]);
		ops[i] = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = keys[i],
					     .klen = model_key(k[i], keys[i]),
					     .val = vals[i], .vlen = vlen };
	}
	err = betrkv_engine_apply(self->e, ops, n, NULL);
	for (i = 0; !err && i < n; i++) {
		self->m.version[k[i]] += i + 1 == n || k[i] != k[i + 1];
		self->m.vlen[k[i]] = vlen;
	}
	return err;
}

/*
 * Batches of @seed's random sizes and keys, of the largest values, until
 * batches have failed with -ENOSPC 32 times; how many went in.
 */
static u32 fill_large(struct __test_metadata *_metadata,
		      FIXTURE_DATA(space) *self, u32 seed)
{
	u32 fails = 0, puts = 0;
	u64 rng = seed;
	int err;

	while (fails < 32) {
		err = put_batch(self, &rng, 1 + rng_below(&rng, 8), BETRKV_VALUE_MAX);
		ASSERT_TRUE(!err || err == -ENOSPC) TH_LOG("seed %u: error %d", seed, err);
		fails += !!err;
		puts += !err;
	}
	return puts;
}

static void delete_all(struct __test_metadata *_metadata,
		       FIXTURE_DATA(space) *self, u32 seed)
{
	u32 i;

	for (i = 0; i < NKEYS; i++) {
		if (self->m.vlen[i] == MODEL_ABSENT)
			continue;
		ASSERT_EQ(0, del(self, i)) TH_LOG("seed %u: delete %u", seed, i);
	}
}

/*
 * On a full device, whatever shape the tree is in, every delete succeeds:
 * fill an empty store with batches of the largest values until they no
 * longer fit, delete every key one by one, and after a checkpoint most of
 * the same batches fit again.  Many seeds, so that the fill stops with the tree in
 * many shapes and heights.
 */
TEST_F_TIMEOUT(space, delete_after_large_batches, 900)
{
	u32 seed, puts, again, total = 0, total_again = 0;
	struct betrkv_sb sb;

	for (seed = 1; seed <= 200; seed++) {
		betrkv_engine_close(self->e);
		self->e = NULL;
		ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
		puts = fill_large(_metadata, self, seed);
		delete_all(_metadata, self, seed);
		ASSERT_EQ(0, betrkv_engine_checkpoint(self->e)) TH_LOG("seed %u", seed);
		check_all(_metadata, self);
		again = fill_large(_metadata, self, seed);
		ASSERT_LE(puts * 2 / 3, again) TH_LOG("seed %u: %u batches, then %u",
						      seed, puts, again);
		total += puts;
		total_again += again;
		delete_all(_metadata, self, seed);
		reopen(_metadata, self);
		check_all(_metadata, self);
	}
	TH_LOG("%u batches in all, %u after deleting everything", total, total_again);
	EXPECT_LE(total - total / 20, total_again);
}

TEST_F_TIMEOUT(space, overwrite_forever, 120)
{
	struct betrkv_engine_stats st;
	u64 peak = 0;
	u32 round, i;

	/* 100 rounds over 2000 keys: 200 MB into a 17 MiB device. */
	for (round = 0; round < 100; round++) {
		for (i = 0; i < 2000; i++)
			ASSERT_EQ(0, put(self, i, 1000)) TH_LOG("round %u key %u", round, i);
		betrkv_engine_stats(self->e, &st);
		peak = max(peak, st.slots_used);
	}
	TH_LOG("peak %llu of %llu slots", peak, st.slots_total);
	EXPECT_LT(peak, st.slots_total);
	check_all(_metadata, self);
}

TEST_HARNESS_MAIN
