// SPDX-License-Identifier: GPL-2.0
/*
 * Red-team: journal records of impossible shape, with valid checksums
 * (spec section 4: "Every byte read from the device is treated as hostile
 * until its checksum and its structure have been checked; a malformed
 * block is a corruption error, never a crash or an overrun"; section 1:
 * keys are 1..KEY_MAX bytes, values 0..VALUE_MAX).  The records are written
 * by the journal's own writer, which does not check what it is given, onto
 * a closed store's journal; then the store is opened.  Each must fail with
 * EUCLEAN, not crash, and not serve an out-of-contract key or value.
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "superblock.h"
#include "block.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)

static void quiet(int level, const char *msg)
{
	if (getenv("BETRKV_TEST_LOG"))
		fprintf(stderr, "%s", msg);
}

static int noop(void *ctx, u64 seq, const struct betrkv_op *ops, u32 nops)
{
	return 0;
}

static u8 big[BETRKV_VALUE_MAX + 4096];

/* A store with a few keys, closed; then @ops appended at seq cp.seq + 1 + @gap. */
static int craft(struct __test_metadata *_metadata, struct betrkv_dev **devp,
		 const struct betrkv_op *ops, u32 nops, u64 gap)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_journal_params p = {};
	struct betrkv_journal *j;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int slot;
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = (const u8 *)"good",
				.klen = 4, .val = big, .vlen = 10 };
	u64 last;
	bool salv;

	betrkv_user_set_log(quiet);
	EXPECT_EQ(0, betrkv_simdisk_create(48 * MiB, 512, &dev));
	EXPECT_EQ(0, betrkv_sb_format(dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	EXPECT_EQ(0, betrkv_engine_open(dev, &o, &e));
	EXPECT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	EXPECT_EQ(0, betrkv_sb_load(dev, &sb, &slot));
	p.dev = dev;
	p.offset = sb.geo.journal_offset;
	p.size = sb.geo.journal_size;
	p.uuid = sb.uuid;
	p.start_pos = sb.cp.journal_pos;
	p.start_prev = sb.cp.journal_prev;
	p.start_seq = sb.cp.seq;
	EXPECT_EQ(0, betrkv_journal_create(&p, &j));
	EXPECT_EQ(0, betrkv_journal_replay(j, noop, NULL, &last, &salv));
	/* A good record first, then the bad one. */
	op.key = (const u8 *)"good2";
	op.klen = 5;
	EXPECT_EQ(0, betrkv_journal_append(j, sb.cp.seq + 1, &op, 1));
	EXPECT_EQ(0, betrkv_journal_append(j, sb.cp.seq + 2 + gap, ops, nops));
	EXPECT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	*devp = dev;
	alarm(30);
	return betrkv_engine_open(dev, &o, &e) ?: (betrkv_engine_close(e), 0);
}

static __attribute__((unused)) void expect_rejected(struct __test_metadata *_metadata,
			    const struct betrkv_op *ops, u32 nops)
{
	struct betrkv_dev *dev = NULL;
	int err = craft(_metadata, &dev, ops, nops, 0);

	EXPECT_EQ(-EUCLEAN, err);
	alarm(0);
	if (dev)
		betrkv_user_dev_close(dev);
}

/* Probe: more ops than the ioctl allows (the engine takes any number). */
TEST(many_ops)
{
	static struct betrkv_op ops[BETRKV_BATCH_OPS_MAX + 1];
	struct betrkv_dev *dev = NULL;
	u32 i;
	int err;

	for (i = 0; i <= BETRKV_BATCH_OPS_MAX; i++)
		ops[i] = (struct betrkv_op){ .type = BETRKV_OP_DEL, .key = big, .klen = 1 };
	err = craft(_metadata, &dev, ops, BETRKV_BATCH_OPS_MAX + 1, 0);
	EXPECT_TRUE(err == 0 || err == -EUCLEAN);
	alarm(0);
	betrkv_user_dev_close(dev);
}

TEST(delete_with_value)
{
	struct betrkv_op op = { .type = BETRKV_OP_DEL, .key = big, .klen = 3, .val = big, .vlen = 5 };
	struct betrkv_dev *dev = NULL;
	int err = craft(_metadata, &dev, &op, 1, 0);

	/* Either rejected or the value ignored; no crash. */
	EXPECT_TRUE(err == 0 || err == -EUCLEAN) TH_LOG("err %d", err);
	alarm(0);
	betrkv_user_dev_close(dev);
}

/* Regression probe: a well-formed record after a seq gap opens fine. */
TEST(seq_gap)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = big, .klen = 3, .val = big, .vlen = 5 };
	struct betrkv_dev *dev = NULL;
	int err = craft(_metadata, &dev, &op, 1, 1000);

	EXPECT_TRUE(err == 0 || err == -EUCLEAN) TH_LOG("err %d", err);
	alarm(0);
	betrkv_user_dev_close(dev);
}


/*
 * Patched records: the journal writer puts good records in one block; the
 * test rewrites fields of the records there and seals the block again (it
 * is the last block of the chain, so no link breaks).
 */
#define JHDR	(sizeof(struct betrkv_block_header) + 32)
enum patch { P_KLEN0, P_KLEN_BIG, P_TYPE, P_NOPS0, P_SEQ_DUP, P_SEQ_BACK, P_LEN_HUGE,
	     P_LEN_SHORT, P_VLEN_HUGE, P_NOPS_HUGE };

static int patched(struct __test_metadata *_metadata, enum patch what)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_journal_params p = {};
	struct betrkv_journal *j;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int slot;
	static u8 key[BETRKV_KEY_MAX + 1];
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = key, .klen = 4, .val = big,
				.vlen = 10 };
	u8 blk[BETRKV_BLOCK_SIZE], *r1, *r2;
	u64 last, off;
	u32 v, first;
	bool salv;
	int err;

	betrkv_user_set_log(quiet);
	memset(key, 'k', sizeof(key));
	EXPECT_EQ(0, betrkv_simdisk_create(48 * MiB, 512, &dev));
	EXPECT_EQ(0, betrkv_sb_format(dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	EXPECT_EQ(0, betrkv_engine_open(dev, &o, &e));
	EXPECT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	EXPECT_EQ(0, betrkv_sb_load(dev, &sb, &slot));
	p.dev = dev;
	p.offset = sb.geo.journal_offset;
	p.size = sb.geo.journal_size;
	p.uuid = sb.uuid;
	p.start_pos = sb.cp.journal_pos;
	p.start_prev = sb.cp.journal_prev;
	p.start_seq = sb.cp.seq;
	EXPECT_EQ(0, betrkv_journal_create(&p, &j));
	EXPECT_EQ(0, betrkv_journal_replay(j, noop, NULL, &last, &salv));
	/* Record 1: key of 1024, value 1.  Record 2: key 4, value 10. */
	op.klen = BETRKV_KEY_MAX;
	op.vlen = 1;
	EXPECT_EQ(0, betrkv_journal_append(j, sb.cp.seq + 1, &op, 1));
	op.klen = 4;
	op.vlen = 10;
	EXPECT_EQ(0, betrkv_journal_append(j, sb.cp.seq + 2, &op, 1));
	EXPECT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);

	off = sb.geo.journal_offset +
	      (sb.cp.journal_pos / BETRKV_BLOCK_SIZE) % (sb.geo.journal_size / BETRKV_BLOCK_SIZE) *
	      BETRKV_BLOCK_SIZE;
	EXPECT_EQ(0, betrkv_dev_read(dev, off, blk, sizeof(blk)));
	first = blk[JHDR - 10] | blk[JHDR - 9] << 8;
	EXPECT_NE(0xffff, first);
	r1 = blk + JHDR + first;
	r2 = r1 + 16 + 12 + BETRKV_KEY_MAX + 1;
	memcpy(&v, r1, 4);
	EXPECT_EQ(16 + 12 + BETRKV_KEY_MAX + 1, le32_to_cpu(v)) TH_LOG("layout not as expected");
	switch (what) {
	case P_KLEN0:		/* klen 0, the key byte counted as value: len consistent */
		v = 0; memcpy(r1 + 20, &v, 4);
		v = BETRKV_KEY_MAX + 1; memcpy(r1 + 24, &v, 4);
		break;
	case P_KLEN_BIG:	/* klen 1025, value 0 */
		v = BETRKV_KEY_MAX + 1; memcpy(r1 + 20, &v, 4);
		v = 0; memcpy(r1 + 24, &v, 4);
		break;
	case P_TYPE:
		v = 7; memcpy(r1 + 16, &v, 4);
		break;
	case P_NOPS0:
		v = 0; memcpy(r2 + 4, &v, 4);
		break;
	case P_SEQ_DUP:
		memcpy(r2 + 8, r1 + 8, 8);
		break;
	case P_SEQ_BACK: {
		u64 q;

		memcpy(&q, r1 + 8, 8);
		q -= 1;		/* equal to the checkpoint's */
		memcpy(r2 + 8, &q, 8);
		break;
	}
	case P_LEN_HUGE:
		v = 0xfffffff0u; memcpy(r2, &v, 4);
		break;
	case P_LEN_SHORT:
		v = 16; memcpy(r2, &v, 4);
		break;
	case P_VLEN_HUGE:
		v = 0xfffffff0u; memcpy(r2 + 24, &v, 4);
		break;
	case P_NOPS_HUGE:
		v = 0x7fffffffu; memcpy(r2 + 4, &v, 4);
		break;
	}
	betrkv_block_seal(blk, sizeof(blk), BETRKV_BLOCK_JOURNAL, off / BETRKV_BLOCK_SIZE, sb.uuid);
	EXPECT_EQ(0, betrkv_dev_write(dev, off, blk, sizeof(blk), BETRKV_IO_FUA));
	alarm(30);
	err = betrkv_engine_open(dev, &o, &e);
	if (!err) {
		struct betrkv_msg *m = NULL;
		int g = model_get(e, key, 4, &m);

		TH_LOG("opened; get of key 2: %d", g);
		if (!g)
			kfree(m);
		betrkv_engine_close(e);
	}
	alarm(0);
	betrkv_user_dev_close(dev);
	return err;
}

TEST(patch_klen0)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_KLEN0)); }
TEST(patch_klen_big)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_KLEN_BIG)); }
TEST(patch_type)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_TYPE)); }
TEST(patch_nops0)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_NOPS0)); }
TEST(patch_seq_dup)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_SEQ_DUP)); }
TEST(patch_seq_back)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_SEQ_BACK)); }
TEST(patch_len_huge)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_LEN_HUGE)); }
TEST(patch_len_short)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_LEN_SHORT)); }
TEST(patch_vlen_huge)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_VLEN_HUGE)); }
TEST(patch_nops_huge)	{ EXPECT_EQ(-EUCLEAN, patched(_metadata, P_NOPS_HUGE)); }

TEST_HARNESS_MAIN
