// SPDX-License-Identifier: GPL-2.0
/*
 * A full device: puts fail with -ENOSPC and change nothing, the store stays
 * consistent and readable (also after reopening), and deletes still go
 * through.  Overwriting the same keys forever does not grow the space in
 * use.
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB	(1ull << 20)
#define NKEYS	20000u

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
	ASSERT_EQ(0, betrkv_simdisk_create(17 * MiB + 768 * 1024, 512, &self->dev));
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
		err = betrkv_engine_get(self->e, self->key, model_key(i, self->key), &v);
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

TEST_F_TIMEOUT(space, full_device, 120)
{
	u32 i, stored = 0;
	int err = 0;

	for (i = 0; i < NKEYS && !err; i++) {
		err = put(self, i, 2000);
		stored += !err;
	}
	ASSERT_EQ(-ENOSPC, err) TH_LOG("the device never filled: %u keys", stored);
	TH_LOG("%u keys of 2000 bytes before ENOSPC", stored);
	EXPECT_LT(stored * 2000ull, 16 * MiB);
	EXPECT_GT(stored * 2000ull, 4 * MiB);
	/* Consistent and readable, now and after reopening. */
	check_all(_metadata, self);
	ASSERT_EQ(0, betrkv_engine_close(self->e));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	check_all(_metadata, self);
	EXPECT_EQ(-ENOSPC, put(self, NKEYS - 1, 2000));
	/* Deletes still go through on a full device. */
	for (i = 0; i < stored; i += 2)
		ASSERT_EQ(0, del(self, i)) TH_LOG("delete %u", i);
	ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
	check_all(_metadata, self);
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
