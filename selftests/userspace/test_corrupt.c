// SPDX-License-Identifier: GPL-2.0
/*
 * Media corruption (spec section 3): bits flipped in a block of a closed
 * store.  Every read either returns the right answer or fails with
 * -EUCLEAN / -EIO, never wrong data; a block the store does not use changes
 * nothing; a superblock copy falls back to the other; a corrupt indirection
 * table fails the bind with -EUCLEAN.
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)
#define NKEYS		3000u
#define TRIALS		300u

FIXTURE(corrupt) {
	struct betrkv_dev *dev;
	struct model m;
	struct betrkv_sb sb;
	u32 *slot_len;		/* per node slot: bytes in use, 0 if free */
	u64 rng;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

static struct betrkv_engine_opts rw = { .cache_bytes = 4 * MiB };
static struct betrkv_engine_opts ro = { .cache_bytes = 4 * MiB, .read_only = true };

/* Which node slots the checkpoint uses, from its indirection table. */
static void load_slots(struct __test_metadata *_metadata,
		       FIXTURE_DATA(corrupt) *self)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	const struct betrkv_checkpoint *cp = &self->sb.cp;
	u64 off = g->itable_offset + cp->itable_slot * g->itable_size;
	struct betrkv_itable it;
	const char *why;
	unsigned int slot;
	u8 *buf = kmalloc(cp->itable_bytes, GFP_KERNEL);
	u64 i;

	ASSERT_EQ(0, betrkv_sb_load(self->dev, &self->sb, &slot));
	ASSERT_EQ(0, betrkv_dev_read(self->dev, off, buf, cp->itable_bytes));
	ASSERT_EQ(0, betrkv_itable_init(&it, g->nodes_size / g->node_size, g->node_size));
	ASSERT_EQ(0, betrkv_itable_decode(&it, self->sb.uuid, off / BETRKV_BLOCK_SIZE,
					  buf, cp->itable_bytes, &why));
	self->slot_len = calloc(it.nslots, sizeof(u32));
	for (i = 0; i < it.map.cap; i++)
		if (it.map.tab[i].id)
			self->slot_len[it.map.tab[i].slot] = it.map.tab[i].len;
	betrkv_itable_destroy(&it);
	kfree(buf);
}

FIXTURE_SETUP(corrupt)
{
	struct betrkv_engine *e;
	struct betrkv_op op;
	unsigned int slot;
	u32 i;

	betrkv_user_set_log(quiet);
	self->rng = 11;
	ASSERT_EQ(0, betrkv_simdisk_create(32 * MiB, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &self->sb));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &rw, &e));
	self->m.nkeys = NKEYS;
	self->m.vlen = malloc(NKEYS * sizeof(u32));
	self->m.version = calloc(NKEYS, sizeof(u32));
	for (i = 0; i < NKEYS; i++) {
		op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = self->key,
			.klen = model_key(i, self->key), .val = self->val,
			.vlen = rng_below(&self->rng, 2000) };
		model_value(i, 1, op.vlen, self->val);
		ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
		self->m.vlen[i] = op.vlen;
		self->m.version[i] = 1;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &self->sb, &slot));
	load_slots(_metadata, self);
}

FIXTURE_TEARDOWN(corrupt)
{
	betrkv_user_dev_close(self->dev);
	free(self->m.vlen);
	free(self->m.version);
	free(self->slot_len);
}

enum where { HARMLESS, ITABLE, NODE };

/* What a block of the closed store holds. */
static enum where classify(FIXTURE_DATA(corrupt) *self, u64 off)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	const struct betrkv_checkpoint *cp = &self->sb.cp;
	u64 it_off = g->itable_offset + cp->itable_slot * g->itable_size;
	u64 slot;

	if (off >= it_off && off < it_off + cp->itable_bytes)
		return ITABLE;
	if (off < g->nodes_offset || off >= g->nodes_offset + g->nodes_size)
		return HARMLESS;	/* superblock copies, journal, other itable */
	slot = (off - g->nodes_offset) / g->node_size;
	return off - g->nodes_offset - slot * g->node_size < self->slot_len[slot] ?
	       NODE : HARMLESS;
}

/* Gets of every key: right or an error, never wrong. Returns the errors. */
static u32 read_all(struct __test_metadata *_metadata,
		    FIXTURE_DATA(corrupt) *self, struct betrkv_engine *e)
{
	struct betrkv_msg *v;
	u32 i, errors = 0;
	int err;

	for (i = 0; i < NKEYS; i++) {
		err = betrkv_engine_get(e, self->key, model_key(i, self->key), &v);
		if (err) {
			ASSERT_TRUE(err == -EUCLEAN || err == -EIO) TH_LOG("key %u: %d", i, err);
			errors++;
			continue;
		}
		ASSERT_EQ(self->m.vlen[i], v->vlen) TH_LOG("key %u: wrong data", i);
		model_value(i, 1, v->vlen, self->val);
		ASSERT_EQ(0, memcmp(self->val, betrkv_msg_val(v), v->vlen))
			TH_LOG("key %u: wrong data", i);
		kfree(v);
	}
	return errors;
}

TEST_F_TIMEOUT(corrupt, bit_flips, 300)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	u32 trial, hits[3] = { 0 }, errors, partial = 0;
	struct betrkv_engine *e;
	struct betrkv_dev *copy;
	enum where w;
	u64 off;
	int err;

	for (trial = 0; trial < TRIALS; trial++) {
		/* Half the trials aim at the node region, where the data is. */
		if (trial % 2)
			off = g->nodes_offset + rng_below(&self->rng, 4 << 20);
		else
			off = rng_next(&self->rng) % g->device_bytes;
		off = ALIGN_DOWN(off, (u64)BETRKV_BLOCK_SIZE);
		if (trial % 50 == 0)		/* a superblock copy */
			off = (trial / 50 % 2) * BETRKV_BLOCK_SIZE;
		if (trial % 50 == 25)		/* the indirection table */
			off = g->itable_offset +
			      self->sb.cp.itable_slot * g->itable_size;
		w = classify(self, off);
		ASSERT_EQ(0, betrkv_simdisk_clone(self->dev, &copy));
		betrkv_simdisk_corrupt(copy, off, rng_next(&self->rng));
		err = betrkv_engine_open(copy, &ro, &e);
		if (w == ITABLE) {
			ASSERT_EQ(-EUCLEAN, err) TH_LOG("trial %u: itable block %llu", trial, off);
		} else {
			ASSERT_EQ(0, err) TH_LOG("trial %u: block at %llu", trial, off);
			errors = read_all(_metadata, self, e);
			if (w == HARMLESS)
				ASSERT_EQ(0, errors) TH_LOG("trial %u: unused block %llu", trial, off);
			/* A corrupt leaf takes only its own keys with it. */
			partial += w == NODE && errors && errors < NKEYS;
			betrkv_engine_close(e);
		}
		hits[w] += !err || w == ITABLE;
		betrkv_user_dev_close(copy);
	}
	TH_LOG("trials: %u harmless, %u itable, %u node (%u lost only some keys)",
	       hits[HARMLESS], hits[ITABLE], hits[NODE], partial);
	EXPECT_GT(hits[NODE], TRIALS / 10);
	EXPECT_GT(partial, 0);
	EXPECT_GT(hits[ITABLE], 0);
}

TEST_HARNESS_MAIN
