// SPDX-License-Identifier: GPL-2.0
/*
 * Checksum-valid but inconsistent trees (spec section 3: "a checksum-valid
 * block is still untrusted in what it says about other blocks"): a closed
 * store's nodes are rewritten with valid checksums into a root that is its
 * own child, a long chain, a child of the wrong height and a child with
 * keys outside its range.  Each must give -EUCLEAN from get, scan and
 * apply, never a hang (an alarm fails the test) or a crash.  Also the
 * scan's limits (spec section 1 and 4): @limit pairs when that many exist,
 * however many keys are deleted or excluded, and never more than @budget
 * bytes of pairs (the first aside).
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"
#include "../image_edit.h"

#define MiB		(1ull << 20)
#define NKEYS		10u

static void quiet(int level, const char *msg)
{
	if (getenv("BETRKV_TEST_LOG"))
		fprintf(stderr, "%s", msg);
}

static struct betrkv_engine_opts rw = { .cache_bytes = 4 * MiB };

/* A closed store's image, to rewrite. */
FIXTURE(image) {
	struct image img;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

FIXTURE_SETUP(image)
{
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_op op;
	struct betrkv_sb sb;
	u32 i;

	/* The verifier checks what the code made; these trees are crafted. */
	betrkv_tree_verify = false;
	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(32 * MiB, 512, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &rw, &e));
	for (i = 0; i < NKEYS; i++) {
		op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = self->key,
			.klen = model_key(i, self->key), .val = self->val, .vlen = 100 };
		model_value(i, 1, op.vlen, self->val);
		ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	}
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, image_open(&self->img, dev));
	ASSERT_NE(0, self->img.sb.cp.root);
}

FIXTURE_TEARDOWN(image)
{
	image_close(&self->img);
	betrkv_user_dev_close(self->img.dev);
}

/* An internal node @id of @height whose only child is @child. */
static struct betrkv_node *one_child(u64 id, u32 height, u64 child)
{
	struct betrkv_node *n = betrkv_node_alloc(id, height);

	n->children[0] = child;
	n->nchildren = 1;
	return n;
}

/*
 * get, scan and apply (puts that must reach the leaves) give -EUCLEAN; a
 * get that reads only a leaf's header and one run (@partial) may instead
 * answer, rightly, for a key the leaf's checked part holds.
 */
static void expect_euclean(struct __test_metadata *_metadata,
			   FIXTURE_DATA(image) *self, u32 key, bool partial)
{
	int err;

	struct betrkv_range r = { .lo = (const u8 *)"\0", .lolen = 1 };
	struct betrkv_op ops[8];
	struct betrkv_engine *e;
	struct betrkv_msgbuf out;
	struct betrkv_msg *v;
	bool more;
	u32 i;

	alarm(20);	/* a hang fails the test */
	ASSERT_EQ(0, betrkv_engine_open(self->img.dev, &rw, &e));
	err = model_get(e, self->key, model_key(key, self->key), &v);
	if (partial && !err)
		kfree(v);
	else
		EXPECT_EQ(-EUCLEAN, err);
	betrkv_msgbuf_init(&out);
	EXPECT_EQ(-EUCLEAN, betrkv_engine_scan(e, &r, false, 100, MiB, &out, &more));
	betrkv_msgbuf_free(&out);
	/* Heavier than a node: the root must flush to its children. */
	for (i = 0; i < ARRAY_SIZE(ops); i++)
		ops[i] = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = self->key,
			.klen = model_key(key, self->key), .val = self->val,
			.vlen = BETRKV_VALUE_MAX };
	for (i = 0; i < 8; i++) {
		/* Distinct keys below key 5, so the root's buffer grows. */
		ops[0].klen = model_key(i % 5, self->key);
		if (betrkv_engine_apply(e, &ops[0], 1, NULL) == -EUCLEAN)
			break;
	}
	EXPECT_GT(8, i) TH_LOG("apply never reached the bad node");
	betrkv_engine_close(e);
	alarm(0);
}

/* The rewriting itself keeps a good store good: the tests below can fail. */
TEST_F(image, rewrite_keeps_store)
{
	struct betrkv_node *n = betrkv_node_alloc(self->img.sb.cp.next_node_id, 0);
	struct betrkv_engine *e;
	struct betrkv_msg *v;

	ASSERT_EQ(0, image_write_node(&self->img, n));
	betrkv_node_free(n);
	ASSERT_EQ(0, image_commit(&self->img));
	ASSERT_EQ(0, betrkv_engine_open(self->img.dev, &rw, &e));
	EXPECT_EQ(0, model_get(e, self->key, model_key(3, self->key), &v));
	kfree(v);
	betrkv_engine_close(e);
}

/*
 * The encoder refuses a node that is its own child: write it with another
 * child, then patch the child ID (the first after the fixed header fields)
 * and seal the header again.
 */
TEST_F(image, root_is_its_own_child)
{
	u64 root = self->img.sb.cp.root, child = cpu_to_le64(root);
	u32 fixed = sizeof(struct betrkv_block_header) + 32;
	struct betrkv_node *n = one_child(root, 1, root + 1000);
	struct betrkv_itable_ent ent;

	ASSERT_EQ(0, image_write_node(&self->img, n));
	betrkv_node_free(n);
	ASSERT_EQ(0, image_read_raw(&self->img, root, &ent));
	memcpy(self->img.buf + fixed, &child, sizeof(child));
	/* The table records the new header: only the cycle is wrong. */
	ASSERT_EQ(0, image_reseal_raw(&self->img, &ent));
	ASSERT_EQ(0, image_commit(&self->img));
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, long_chain)
{
	u64 leaf = self->img.sb.cp.root, id = self->img.sb.cp.next_node_id, below = leaf;
	struct betrkv_node *n;
	u32 i;

	/* 50 nodes, each claiming height 1, down to the leaf. */
	for (i = 0; i < 50; i++, id++) {
		n = one_child(id, 1, below);
		ASSERT_EQ(0, image_write_node(&self->img, n));
		betrkv_node_free(n);
		below = id;
	}
	self->img.sb.cp.root = below;
	ASSERT_EQ(0, image_commit(&self->img));
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, child_of_wrong_height)
{
	u64 leaf = self->img.sb.cp.root, id = self->img.sb.cp.next_node_id;
	struct betrkv_node *n = one_child(id, 2, leaf);

	ASSERT_EQ(0, image_write_node(&self->img, n));
	betrkv_node_free(n);
	self->img.sb.cp.root = id;
	ASSERT_EQ(0, image_commit(&self->img));
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, child_keys_outside_range)
{
	u64 leaf = self->img.sb.cp.root, id = self->img.sb.cp.next_node_id;
	struct betrkv_node *n = one_child(id, 1, leaf), *empty;
	u32 len = model_key(5, self->key);

	/* Child 0 holds keys below key 5 only, but the leaf holds them all. */
	empty = betrkv_node_alloc(id + 1, 0);
	ASSERT_EQ(0, image_write_node(&self->img, empty));
	betrkv_node_free(empty);
	n->pivots[0] = betrkv_pivot_new(self->key, len);
	n->children[1] = id + 1;
	n->nchildren = 2;
	ASSERT_EQ(0, image_write_node(&self->img, n));
	betrkv_node_free(n);
	self->img.sb.cp.root = id;
	ASSERT_EQ(0, image_commit(&self->img));
	expect_euclean(_metadata, self, 3, true);
}

/* A store of @n keys, every other one deleted if @holes. */
static struct betrkv_engine *scan_store(struct __test_metadata *_metadata,
					struct betrkv_dev **dev, u32 n, u32 vlen,
					bool holes, u8 *key, u8 *val)
{
	struct betrkv_engine *e;
	struct betrkv_op op;
	struct betrkv_sb sb;
	u32 i;

	betrkv_user_set_log(quiet);
	EXPECT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, dev));
	EXPECT_EQ(0, betrkv_sb_format(*dev, 0, 0, &sb));
	EXPECT_EQ(0, betrkv_engine_open(*dev, &rw, &e));
	for (i = 0; i < n; i++) {
		op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = key,
			.klen = model_key(i, key), .val = val, .vlen = vlen };
		EXPECT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	}
	for (i = 1; holes && i < n; i += 2) {
		op = (struct betrkv_op){ .type = BETRKV_OP_DEL, .key = key,
			.klen = model_key(i, key) };
		EXPECT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	}
	return e;
}

/* Pairs of one scan from key @from with @limit. */
static u32 scan_count(struct __test_metadata *_metadata, struct betrkv_engine *e,
		      u8 *key, u32 from, bool excl, u32 limit, u64 budget,
		      u64 *bytes)
{
	struct betrkv_range r = { .lo = key, .lolen = model_key(from, key) };
	struct betrkv_msgbuf out;
	bool more;
	u32 n;

	betrkv_msgbuf_init(&out);
	EXPECT_EQ(0, betrkv_engine_scan(e, &r, excl, limit, budget, &out, &more));
	n = out.n;
	if (bytes)
		*bytes = out.bytes;
	betrkv_msgbuf_free(&out);
	return n;
}

TEST(scan_limits)
{
	static u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
	struct betrkv_dev *dev;
	struct betrkv_engine *e = scan_store(_metadata, &dev, 2000, 10, true,
					     key, val);

	/* Half the keys deleted: still @limit pairs. */
	EXPECT_EQ(100, scan_count(_metadata, e, key, 0, false, 100, MiB, NULL));
	/* From a deleted key, excluded: @limit, not one more. */
	EXPECT_EQ(100, scan_count(_metadata, e, key, 1, true, 100, MiB, NULL));
	EXPECT_EQ(1, scan_count(_metadata, e, key, 1, true, 1, MiB, NULL));
	/* No limit at all: every pair. */
	EXPECT_EQ(1000, scan_count(_metadata, e, key, 0, false, U32_MAX, 16 * MiB, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

TEST(scan_budget)
{
	static u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
	u64 budget = 256 << 10, bytes;
	struct betrkv_dev *dev;
	struct betrkv_engine *e = scan_store(_metadata, &dev, 16, 60000, false,
					     key, val);
	u32 n;

	n = scan_count(_metadata, e, key, 0, false, 4096, budget, &bytes);
	EXPECT_LE(bytes, budget);
	EXPECT_GE(n, budget / (60000 + BETRKV_MSG_OVERHEAD + BETRKV_KEY_MAX))
		TH_LOG("%u pairs, %llu bytes", n, bytes);
	/* A budget below one pair still returns that pair. */
	EXPECT_EQ(1, scan_count(_metadata, e, key, 0, false, 4096, 1, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

TEST_HARNESS_MAIN
