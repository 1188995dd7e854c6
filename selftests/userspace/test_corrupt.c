// SPDX-License-Identifier: GPL-2.0
/*
 * Media corruption (spec section 3): bits flipped in a block of a closed
 * store.  Every read either returns the right answer or fails with
 * -EUCLEAN / -EIO, never wrong data; a block the store does not use changes
 * nothing; a superblock copy falls back to the other; a corrupt indirection
 * table fails the bind with -EUCLEAN.
 *
 * Lost and misdirected node writes (also section 3): an older copy of a
 * node back in its slot, with the same ID and length, whether the slot is
 * the one the node had then or another; and workloads whose node writes
 * the disk loses or misdirects.  Reads give the current value or -EUCLEAN
 * (or -EIO), never an older value.
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

/* The newest checkpoint of @dev: its superblock and indirection table. */
static void load_checkpoint(struct __test_metadata *_metadata,
			    struct betrkv_dev *dev, struct betrkv_sb *sb,
			    struct betrkv_itable *it)
{
	const struct betrkv_geometry *g = &sb->geo;
	const struct betrkv_checkpoint *cp = &sb->cp;
	const char *why;
	unsigned int slot;
	u64 off;
	u8 *buf;

	ASSERT_EQ(0, betrkv_sb_load(dev, sb, &slot));
	off = g->itable_offset + cp->itable_slot * g->itable_size;
	buf = kmalloc(cp->itable_bytes, GFP_KERNEL);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, betrkv_dev_read(dev, off, buf, cp->itable_bytes));
	ASSERT_EQ(0, betrkv_itable_init(it, g->nodes_size / g->node_size, g->node_size));
	ASSERT_EQ(0, betrkv_itable_decode(it, sb->uuid, off / BETRKV_BLOCK_SIZE,
					  buf, cp->itable_bytes, &why));
	kfree(buf);
}

/* Which node slots the checkpoint uses, from its indirection table. */
static void load_slots(struct __test_metadata *_metadata,
		       FIXTURE_DATA(corrupt) *self)
{
	struct betrkv_itable it;
	u64 i;

	load_checkpoint(_metadata, self->dev, &self->sb, &it);
	self->slot_len = calloc(it.nslots, sizeof(u32));
	for (i = 0; i < it.map.cap; i++)
		if (it.map.tab[i].id)
			self->slot_len[it.map.tab[i].slot] = it.map.tab[i].len;
	betrkv_itable_destroy(&it);
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
		err = model_get(e, self->key, model_key(i, self->key), &v);
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

#define LOST_TRIALS	20u
#define LOST_ROUNDS	8u

/*
 * Does @v hold key @i's value at @version?  Every version has the length
 * of the fixture's, so that a leaf keeps its length and an older copy of it
 * differs only in content.
 */
static bool lost_is(FIXTURE_DATA(corrupt) *self, const struct betrkv_msg *v,
		    u32 i, u32 version)
{
	if (v->vlen != self->m.vlen[i])
		return false;
	model_value(i, version, v->vlen, self->val);
	return !memcmp(self->val, betrkv_msg_val(v), v->vlen);
}

/*
 * Key @i reads as @durable (its version at the last checkpoint) or @tried
 * (the one a put since tried to set), or fails with -EUCLEAN / -EIO: never
 * an older version, never anything else.  Returns whether it failed.
 */
static bool lost_check(struct __test_metadata *_metadata,
		       FIXTURE_DATA(corrupt) *self, struct betrkv_engine *e,
		       u32 i, u32 durable, u32 tried)
{
	struct betrkv_msg *v;
	u32 old;
	int err;

	err = model_get(e, self->key, model_key(i, self->key), &v);
	if (err) {
		EXPECT_TRUE(err == -EUCLEAN || err == -EIO) TH_LOG("key %u: %d", i, err);
		return true;
	}
	for (old = 1; old < durable && !lost_is(self, v, i, old); old++)
		;
	EXPECT_TRUE(lost_is(self, v, i, durable) || lost_is(self, v, i, tried))
		TH_LOG("key %u: not version %u or %u%s", i, durable, tried,
		       old < durable ? " but an older one" : "");
	kfree(v);
	return false;
}

/* Put a new version of about a third of the keys; 0 or the first error. */
static int lost_round(FIXTURE_DATA(corrupt) *self, struct betrkv_engine *e,
		      u32 *tried, u32 version)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = self->key,
				.val = self->val };
	u32 i;
	int err;

	for (i = 0; i < NKEYS; i++) {
		if (rng_below(&self->rng, 3))
			continue;
		tried[i] = version;
		op.klen = model_key(i, self->key);
		op.vlen = self->m.vlen[i];
		model_value(i, version, op.vlen, self->val);
		err = betrkv_engine_apply(e, &op, 1, NULL);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Rounds of puts, each ended by a checkpoint, on a disk that loses or
 * misdirects some node writes; reads during the rounds and after a reopen
 * give the current value or a corruption error, never an old one.
 */
TEST_F_TIMEOUT(corrupt, lost_node_writes, 300)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	struct betrkv_simdisk_faults f = { .off = g->nodes_offset,
		.len = g->nodes_size, .lose = 30, .misdirect = 10 };
	u32 *durable = malloc(NKEYS * sizeof(u32)), *tried = malloc(NKEYS * sizeof(u32));
	u32 trial, round, i, failed = 0, read = 0, refused = 0;
	struct betrkv_simdisk_stats st;
	struct betrkv_engine *e;
	struct betrkv_dev *copy;
	u64 faults = 0;
	int err;

	ASSERT_TRUE(durable && tried);
	for (trial = 0; trial < LOST_TRIALS; trial++) {
		ASSERT_EQ(0, betrkv_simdisk_clone(self->dev, &copy));
		f.seed = trial + 1;
		ASSERT_EQ(0, betrkv_simdisk_set_faults(copy, &f));
		ASSERT_EQ(0, betrkv_engine_open(copy, &rw, &e));
		for (i = 0; i < NKEYS; i++)
			durable[i] = tried[i] = 1;
		for (round = 0, err = 0; round < LOST_ROUNDS && !err; round++) {
			err = lost_round(self, e, tried, round + 2) ?:
			      betrkv_engine_checkpoint(e);
			if (!err)
				memcpy(durable, tried, NKEYS * sizeof(u32));
			for (i = rng_below(&self->rng, 50); i < NKEYS; i += 50)
				failed += lost_check(_metadata, self, e, i,
						     durable[i], tried[i]);
			/* A reopen allocates from the first slot again. */
			if (!err) {
				betrkv_engine_close(e);
				ASSERT_EQ(0, betrkv_engine_open(copy, &rw, &e));
			}
		}
		f.lose = f.misdirect = 0;
		ASSERT_EQ(0, betrkv_simdisk_set_faults(copy, &f));
		f.lose = 30;
		f.misdirect = 10;
		betrkv_engine_close(e);
		betrkv_simdisk_stats(copy, &st);
		faults += st.lost + st.misdirected;
		err = betrkv_engine_open(copy, &ro, &e);
		if (err) {
			ASSERT_EQ(-EUCLEAN, err) TH_LOG("trial %u", trial);
			refused++;
		} else {
			for (i = 0; i < NKEYS; i++, read++)
				failed += lost_check(_metadata, self, e, i,
						     durable[i], tried[i]);
			betrkv_engine_close(e);
		}
		betrkv_user_dev_close(copy);
	}
	TH_LOG("%llu node writes lost or misdirected; %u of %u reads failed; %u reopens refused",
	       faults, failed, read, refused);
	EXPECT_GT(faults, 0);
	EXPECT_GT(failed, 0);
	EXPECT_GT(read, NKEYS * LOST_TRIALS / 2);
	free(durable);
	free(tried);
}

FIXTURE(stale) {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	u8 key[BETRKV_KEY_MAX], val[100];
};

FIXTURE_SETUP(stale)
{
	struct betrkv_sb sb;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(32 * MiB, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &rw, &self->e));
}

FIXTURE_TEARDOWN(stale)
{
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->dev);
}

/* Key 0 at @version, then a checkpoint; the root's entry afterwards. */
static void stale_put(struct __test_metadata *_metadata, FIXTURE_DATA(stale) *self,
		      u32 version, struct betrkv_itable_ent *root)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = self->key,
				.klen = model_key(0, self->key), .val = self->val,
				.vlen = sizeof(self->val) };
	struct betrkv_itable it;
	struct betrkv_sb sb;

	model_value(0, version, op.vlen, self->val);
	ASSERT_EQ(0, betrkv_engine_apply(self->e, &op, 1, NULL));
	ASSERT_EQ(0, betrkv_engine_checkpoint(self->e));
	load_checkpoint(_metadata, self->dev, &sb, &it);
	ASSERT_EQ(0, betrkv_itable_lookup(&it, sb.cp.root, root));
	betrkv_itable_destroy(&it);
}

/* Key 0 read through a fresh open of @dev: 0 and its version, or the error. */
static int stale_read(struct __test_metadata *_metadata, FIXTURE_DATA(stale) *self,
		      struct betrkv_dev *dev, bool scan, u32 newest, u32 *version)
{
	struct betrkv_range r = { .lo = self->key, .lolen = model_key(0, self->key) };
	struct betrkv_msgbuf out;
	struct betrkv_msg *v = NULL;
	struct betrkv_engine *e;
	bool more;
	int err;

	EXPECT_EQ(0, betrkv_engine_open(dev, &ro, &e));
	betrkv_msgbuf_init(&out);
	if (scan) {
		err = betrkv_engine_scan(e, &r, false, 1, MiB, &out, &more);
		if (!err && out.n == 1)
			v = out.msgs[0];
	} else {
		err = model_get(e, self->key, r.lolen, &v);
	}
	for (*version = 1; !err && *version <= newest; ++*version) {
		model_value(0, *version, sizeof(self->val), self->val);
		if (v && v->vlen == sizeof(self->val) &&
		    !memcmp(betrkv_msg_val(v), self->val, v->vlen))
			break;
	}
	if (!scan)
		kfree(v);
	betrkv_msgbuf_free(&out);
	betrkv_engine_close(e);
	return err;
}

/*
 * With @old (an older copy of the root) written over @slot, the root's
 * slot now, gets (header and segment) and scans (whole node) fail with
 * -EUCLEAN; without it they give version @newest.
 */
static void expect_stale(struct __test_metadata *_metadata, FIXTURE_DATA(stale) *self,
			 u32 slot, const u8 *old, u32 len, u32 newest)
{
	const struct betrkv_geometry *g;
	struct betrkv_dev *copy;
	struct betrkv_sb sb;
	unsigned int sb_slot;
	u32 version, scan;

	ASSERT_EQ(0, betrkv_sb_load(self->dev, &sb, &sb_slot));
	g = &sb.geo;
	ASSERT_EQ(0, betrkv_simdisk_clone(self->dev, &copy));
	for (scan = 0; scan < 2; scan++) {
		ASSERT_EQ(0, stale_read(_metadata, self, copy, scan, newest, &version));
		EXPECT_EQ(newest, version);
	}
	ASSERT_EQ(0, betrkv_dev_write(copy, g->nodes_offset + (u64)slot * g->node_size,
				      old, len, BETRKV_IO_FUA));
	for (scan = 0; scan < 2; scan++) {
		EXPECT_EQ(-EUCLEAN, stale_read(_metadata, self, copy, scan, newest,
					       &version))
			TH_LOG("%s returned version %u of %u", scan ? "scan" : "get",
			       version, newest);
	}
	betrkv_user_dev_close(copy);
}

/*
 * An older, checksum-valid copy of a node with the same ID and length in
 * the node's current slot: copied there from the slot it was written to (a
 * misdirected write), or left there by a lost write when the node comes
 * back to a slot it had before (slots are reused after two checkpoints).
 */
TEST_F(stale, old_copy_in_slot)
{
	struct betrkv_itable_ent first, now;
	struct betrkv_sb sb;
	unsigned int sb_slot;
	u32 version = 1, nslots;
	u8 *old;

	stale_put(_metadata, self, version, &first);
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &sb, &sb_slot));
	nslots = sb.geo.nodes_size / sb.geo.node_size;
	old = malloc(first.len);
	ASSERT_NE(NULL, old);
	ASSERT_EQ(0, betrkv_dev_read(self->dev, sb.geo.nodes_offset +
				     (u64)first.slot * sb.geo.node_size, old, first.len));

	/* Appended in its slot until that is full, then written whole anew. */
	do
		stale_put(_metadata, self, ++version, &now);
	while (now.slot == first.slot && version < 4 * nslots);
	TH_LOG("node %llu moved to slot %u at version %u", now.id, now.slot, version);
	ASSERT_EQ(first.id, now.id);
	ASSERT_EQ(first.len, now.len);
	ASSERT_NE(first.slot, now.slot);
	expect_stale(_metadata, self, now.slot, old, first.len, version);

	while ((now.slot != first.slot || now.hdr) &&
	       version < 4 * BETRKV_NODE_LAYERS_MAX * nslots)
		stale_put(_metadata, self, ++version, &now);
	TH_LOG("node %llu back in slot %u at version %u", now.id, now.slot, version);
	ASSERT_EQ(first.slot, now.slot);
	ASSERT_EQ(first.id, now.id);
	ASSERT_EQ(first.len, now.len);
	expect_stale(_metadata, self, now.slot, old, first.len, version);
	free(old);
}

TEST_HARNESS_MAIN
