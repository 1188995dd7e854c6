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
#include "block.h"
#include "nodefmt.h"
#include "superblock.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)
#define NKEYS		10u

static void quiet(int level, const char *msg)
{
	if (getenv("BETRKV_TEST_LOG"))
		fprintf(stderr, "%s", msg);
}

static struct betrkv_engine_opts rw = { .cache_bytes = 4 * MiB };

/* A closed store, its superblock and its indirection table, to rewrite. */
FIXTURE(image) {
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int sb_slot;
	struct betrkv_itable it;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
	u8 *buf;
};

static u64 itable_off(const struct betrkv_sb *sb)
{
	return sb->geo.itable_offset + sb->cp.itable_slot * sb->geo.itable_size;
}

FIXTURE_SETUP(image)
{
	const struct betrkv_geometry *g;
	struct betrkv_engine *e;
	struct betrkv_op op;
	const char *why;
	u32 i;

	/* The verifier checks what the code made; these trees are crafted. */
	betrkv_tree_verify = false;
	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(32 * MiB, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &self->sb));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &rw, &e));
	for (i = 0; i < NKEYS; i++) {
		op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = self->key,
			.klen = model_key(i, self->key), .val = self->val, .vlen = 100 };
		model_value(i, 1, op.vlen, self->val);
		ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
	}
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &self->sb, &self->sb_slot));
	g = &self->sb.geo;
	self->buf = kmalloc(max((u64)g->node_size, self->sb.cp.itable_bytes),
			    GFP_KERNEL);
	ASSERT_EQ(0, betrkv_dev_read(self->dev, itable_off(&self->sb), self->buf,
				     self->sb.cp.itable_bytes));
	ASSERT_EQ(0, betrkv_itable_init(&self->it, g->nodes_size / g->node_size,
					g->node_size));
	ASSERT_EQ(0, betrkv_itable_decode(&self->it, self->sb.uuid,
					  itable_off(&self->sb) / BETRKV_BLOCK_SIZE,
					  self->buf, self->sb.cp.itable_bytes, &why));
	ASSERT_NE(0, self->sb.cp.root);
}

FIXTURE_TEARDOWN(image)
{
	betrkv_itable_destroy(&self->it);
	betrkv_user_dev_close(self->dev);
	kfree(self->buf);
}

/* Write @n with valid checksums, in its slot or (new ID) in a free one. */
static void write_node(struct __test_metadata *_metadata,
		       FIXTURE_DATA(image) *self, const struct betrkv_node *n)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	struct betrkv_itable_ent ent = { .id = n->id };
	u64 off;

	if (betrkv_itable_lookup(&self->it, n->id, &ent))
		ASSERT_EQ(0, betrkv_itable_alloc(&self->it, &ent.slot));
	off = g->nodes_offset + (u64)ent.slot * g->node_size;
	ASSERT_EQ(0, betrkv_node_encode(n, self->sb.uuid, off / BETRKV_BLOCK_SIZE,
					self->buf, g->node_size, &ent.len));
	ASSERT_EQ(0, betrkv_dev_write(self->dev, off, self->buf, ent.len,
				      BETRKV_IO_FUA));
	ent.csum = betrkv_node_csum(self->buf);
	ASSERT_EQ(0, betrkv_itable_map(&self->it, &ent, BETRKV_ITABLE_LIVE));
	self->sb.cp.next_node_id = max(self->sb.cp.next_node_id, n->id + 1);
}

/* Write the indirection table and the superblock that points at it. */
static void commit(struct __test_metadata *_metadata, FIXTURE_DATA(image) *self)
{
	u64 len;
	u8 *buf;

	/* The table written is the frozen map: the live one as it is now. */
	ASSERT_EQ(0, betrkv_itable_freeze(&self->it));
	len = betrkv_itable_disk_bytes(&self->it);
	buf = kmalloc(len, GFP_KERNEL);

	betrkv_itable_encode(&self->it, self->sb.uuid,
			     itable_off(&self->sb) / BETRKV_BLOCK_SIZE, buf, len);
	ASSERT_EQ(0, betrkv_dev_write(self->dev, itable_off(&self->sb), buf, len,
				       BETRKV_IO_FUA));
	self->sb.cp.itable_bytes = len;
	self->sb.cp.itable_csum = betrkv_crc32c(NULL, 0, buf, len);
	kfree(buf);
	betrkv_itable_thaw(&self->it);
	ASSERT_EQ(0, betrkv_sb_write(self->dev, &self->sb, self->sb_slot));
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
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &rw, &e));
	err = betrkv_engine_get(e, self->key, model_key(key, self->key), &v);
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

/*
 * The encoder refuses a node that is its own child: write it with another
 * child, then patch the child ID (the first after the fixed header fields)
 * and seal the header again.
 */
/* The rewriting itself keeps a good store good: the tests below can fail. */
TEST_F(image, rewrite_keeps_store)
{
	struct betrkv_node *n = betrkv_node_alloc(self->sb.cp.next_node_id, 0);
	struct betrkv_engine *e;
	struct betrkv_msg *v;

	write_node(_metadata, self, n);
	betrkv_node_free(n);
	commit(_metadata, self);
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &rw, &e));
	EXPECT_EQ(0, betrkv_engine_get(e, self->key, model_key(3, self->key), &v));
	kfree(v);
	betrkv_engine_close(e);
}

TEST_F(image, root_is_its_own_child)
{
	const struct betrkv_geometry *g = &self->sb.geo;
	u64 root = self->sb.cp.root, off, child = cpu_to_le64(root);
	u32 fixed = sizeof(struct betrkv_block_header) + 32, hdr_len;
	struct betrkv_node *n = one_child(root, 1, root + 1000);
	struct betrkv_itable_ent ent;
	__le32 raw;

	write_node(_metadata, self, n);
	betrkv_node_free(n);
	ASSERT_EQ(0, betrkv_itable_lookup(&self->it, root, &ent));
	off = g->nodes_offset + (u64)ent.slot * g->node_size;
	ASSERT_EQ(0, betrkv_dev_read(self->dev, off, self->buf, ent.len));
	memcpy(self->buf + fixed, &child, sizeof(child));
	memcpy(&raw, self->buf + sizeof(struct betrkv_block_header) + 16, sizeof(raw));
	hdr_len = le32_to_cpu(raw);
	betrkv_block_seal(self->buf, hdr_len, BETRKV_BLOCK_NODE, off / BETRKV_BLOCK_SIZE,
			  self->sb.uuid);
	ASSERT_EQ(0, betrkv_dev_write(self->dev, off, self->buf, ent.len, BETRKV_IO_FUA));
	/* The table records the new header: only the cycle is wrong. */
	ent.csum = betrkv_node_csum(self->buf);
	ASSERT_EQ(0, betrkv_itable_map(&self->it, &ent, BETRKV_ITABLE_LIVE));
	commit(_metadata, self);
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, long_chain)
{
	u64 leaf = self->sb.cp.root, id = self->sb.cp.next_node_id, below = leaf;
	struct betrkv_node *n;
	u32 i;

	/* 50 nodes, each claiming height 1, down to the leaf. */
	for (i = 0; i < 50; i++, id++) {
		n = one_child(id, 1, below);
		write_node(_metadata, self, n);
		betrkv_node_free(n);
		below = id;
	}
	self->sb.cp.root = below;
	commit(_metadata, self);
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, child_of_wrong_height)
{
	u64 leaf = self->sb.cp.root, id = self->sb.cp.next_node_id;
	struct betrkv_node *n = one_child(id, 2, leaf);

	write_node(_metadata, self, n);
	betrkv_node_free(n);
	self->sb.cp.root = id;
	commit(_metadata, self);
	expect_euclean(_metadata, self, 3, false);
}

TEST_F(image, child_keys_outside_range)
{
	u64 leaf = self->sb.cp.root, id = self->sb.cp.next_node_id;
	struct betrkv_node *n = one_child(id, 1, leaf), *empty;
	u32 len = model_key(5, self->key);

	/* Child 0 holds keys below key 5 only, but the leaf holds them all. */
	empty = betrkv_node_alloc(id + 1, 0);
	write_node(_metadata, self, empty);
	betrkv_node_free(empty);
	n->pivots[0] = betrkv_pivot_new(self->key, len);
	n->children[1] = id + 1;
	n->nchildren = 2;
	write_node(_metadata, self, n);
	betrkv_node_free(n);
	self->sb.cp.root = id;
	commit(_metadata, self);
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
