// SPDX-License-Identifier: GPL-2.0
/*
 * The superblock core: layout, encoding, every way a copy can be refused,
 * and picking the newest copy, on image files through the userspace
 * environment.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "block.h"
#include "superblock.h"
#include "../rng.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void quiet(int level, const char *msg)
{
}

static void check_geometry(struct __test_metadata *_metadata,
			   const struct betrkv_geometry *g)
{
	u64 nodes = g->nodes_size / g->node_size;

	ASSERT_EQ(2 * BETRKV_BLOCK_SIZE, g->journal_offset);
	ASSERT_EQ(g->journal_offset + g->journal_size, g->itable_offset);
	ASSERT_LE(g->itable_offset + 2 * g->itable_size, g->nodes_offset);
	ASSERT_EQ(0, g->nodes_offset % g->node_size);
	ASSERT_EQ(0, g->nodes_size % g->node_size);
	ASSERT_LE(g->nodes_offset + g->nodes_size, g->device_bytes);
	ASSERT_GE(nodes, BETRKV_MIN_NODES);
	ASSERT_GE(g->itable_size, BETRKV_BLOCK_SIZE + nodes * 2 * BETRKV_ITABLE_ENTRY_BYTES);
	ASSERT_EQ(0, g->itable_size % BETRKV_BLOCK_SIZE);
	/* Maximal: with one more node the regions would not fit. */
	u64 more_itable = ALIGN(BETRKV_BLOCK_SIZE + (nodes + 1) * 2 * BETRKV_ITABLE_ENTRY_BYTES,
				(u64)BETRKV_BLOCK_SIZE);
	u64 more_offset = ALIGN(g->itable_offset + 2 * more_itable, (u64)g->node_size);

	ASSERT_GT(more_offset + (nodes + 1) * g->node_size, g->device_bytes);
}

TEST(layout_defaults)
{
	struct betrkv_geometry g;
	const char *why = NULL;

	ASSERT_EQ(0, betrkv_layout(&g, GiB, 512, 0, 0, &why));
	EXPECT_EQ(BETRKV_NODE_SIZE_DEFAULT, g.node_size);
	EXPECT_EQ(GiB / 16, g.journal_size);
	EXPECT_EQ(512, g.logical_block_size);
	check_geometry(_metadata, &g);

	/* The default journal is clamped. */
	ASSERT_EQ(0, betrkv_layout(&g, 1ull << 40, 4096, 0, 0, &why));
	EXPECT_EQ(BETRKV_JOURNAL_SIZE_MAX, g.journal_size);
	check_geometry(_metadata, &g);
}

TEST(layout_many_sizes)
{
	struct betrkv_geometry g;
	const char *why;
	u64 size;
	u32 node;

	for (node = BETRKV_NODE_SIZE_MIN; node <= BETRKV_NODE_SIZE_MAX; node *= 2)
		for (size = 64 * MiB; size <= (1ull << 44); size = size * 3 + 4096)
			if (!betrkv_layout(&g, size, 512, node, 0, &why))
				check_geometry(_metadata, &g);
}

TEST(layout_rejects)
{
	struct betrkv_geometry g;
	const char *why;

	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 0, 0, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 1000, 0, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 256, 0, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 8192, 0, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 8192, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 3 * 65536, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 8 * MiB, 0, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 0, 100 << 10, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 0, MiB + 512, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, GiB, 512, 0, 2 * GiB, &why));
	EXPECT_EQ(-EINVAL, betrkv_layout(&g, 64 * MiB, 512, 0, 32 * MiB, &why));
	EXPECT_STREQ("journal size exceeds a quarter of the device", why);
	EXPECT_EQ(-ENOSPC, betrkv_layout(&g, MiB, 512, 0, 0, &why));
	EXPECT_EQ(-ENOSPC, betrkv_layout(&g, 0, 512, 0, 0, &why));
}

/* Device sizes near 2^64: the regions must fit without wrapping around. */
static const u64 huge_sizes[] = {
	0xfffffffffffff000ull, 0xffffffffffffe000ull, 0xfffffffffff00000ull,
	0xffffffff00000000ull, 0xfffff00000000000ull, 1ull << 63,
};

TEST(layout_never_wraps)
{
	struct betrkv_geometry g;
	unsigned long long rng = 13;
	const char *why;
	u64 end, size;
	u32 node, i;

	for (node = BETRKV_NODE_SIZE_MIN; node <= BETRKV_NODE_SIZE_MAX; node *= 2) {
		for (i = 0; i < 64; i++) {
			size = i < ARRAY_SIZE(huge_sizes) ? huge_sizes[i] :
			       ~0ull - rng_next(&rng) % (1ull << 50) * 4096 - 4095;
			ASSERT_EQ(0, betrkv_layout(&g, size, 4096, node, 0, &why))
				TH_LOG("size %llx: %s", (unsigned long long)size, why);
			ASSERT_FALSE(__builtin_add_overflow(g.nodes_offset,
							    g.nodes_size, &end));
			ASSERT_LE(end, size);
			ASSERT_LE(g.itable_offset + 2 * g.itable_size, g.nodes_offset);
			ASSERT_GE(g.itable_size, BETRKV_BLOCK_SIZE + g.nodes_size /
				  node * 2 * BETRKV_ITABLE_ENTRY_BYTES);
		}
	}
}

/* The smallest device that holds a store: one byte less does not. */
TEST(layout_minimum_device)
{
	struct betrkv_geometry g;
	const char *why;
	u64 lo = 0, hi = GiB;

	while (hi - lo > 1) {
		u64 mid = lo + (hi - lo) / 2;

		if (betrkv_layout(&g, mid, 512, 0, 0, &why))
			lo = mid;
		else
			hi = mid;
	}
	ASSERT_EQ(0, betrkv_layout(&g, hi, 512, 0, 0, &why));
	EXPECT_EQ(BETRKV_MIN_NODES, g.nodes_size / g.node_size);
	EXPECT_EQ(-ENOSPC, betrkv_layout(&g, hi - 1, 512, 0, 0, &why));
}

static void make_sb(struct betrkv_sb *sb, u64 generation)
{
	const char *why;

	memset(sb, 0, sizeof(*sb));
	sb->format_version = BETRKV_FORMAT_VERSION;
	memcpy(sb->uuid, "0123456789abcdef", 16);
	sb->generation = generation;
	sb->format_time = 1700000000;
	betrkv_layout(&sb->geo, GiB, 512, 0, 0, &why);
}

/*
 * The regions of @nodes nodes after a journal of @journal bytes, computed
 * the way superblock.h lays them out, in plain u64 arithmetic that wraps.
 */
static void wrapped_geometry(struct betrkv_geometry *g, u64 device_bytes,
			     u32 node_size, u64 journal, u64 nodes)
{
	memset(g, 0, sizeof(*g));
	g->device_bytes = device_bytes;
	g->logical_block_size = 4096;
	g->node_size = node_size;
	g->journal_offset = 2 * BETRKV_BLOCK_SIZE;
	g->journal_size = journal;
	g->itable_offset = g->journal_offset + journal;
	g->itable_size = ALIGN(BETRKV_BLOCK_SIZE + nodes * 2 * BETRKV_ITABLE_ENTRY_BYTES,
			       (u64)BETRKV_BLOCK_SIZE);
	g->nodes_offset = ALIGN(g->itable_offset + 2 * g->itable_size, (u64)node_size);
	g->nodes_size = nodes * node_size;
}

/*
 * A checksum-valid superblock whose node region runs past 2^64 and wraps
 * around to "end" inside the device is corrupt, whatever node count near
 * the layout's first estimate (space / (node + its itable entries)) it
 * claims.
 */
TEST(wrapping_geometry_is_corrupt)
{
	static u8 blk[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb, out;
	u64 size, avail, nodes, end;
	u32 i, k, tried = 0;
	const char *why;

	for (i = 0; i < ARRAY_SIZE(huge_sizes) - 1; i++) {
		size = huge_sizes[i];
		avail = size - 2 * BETRKV_BLOCK_SIZE - BETRKV_JOURNAL_SIZE_MAX;
		nodes = avail / (BETRKV_NODE_SIZE_MIN + 4 * BETRKV_ITABLE_ENTRY_BYTES);
		for (k = 0; k < 8; k++) {
			make_sb(&sb, 3);
			wrapped_geometry(&sb.geo, size, BETRKV_NODE_SIZE_MIN,
					 BETRKV_JOURNAL_SIZE_MAX, nodes - k);
			end = sb.geo.nodes_offset + sb.geo.nodes_size;
			if (end >= sb.geo.nodes_offset || end > size)
				continue;	/* no wrap, or it does not "fit" */
			tried++;
			betrkv_sb_encode(&sb, 0, blk);
			EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why))
				TH_LOG("size %llx, %llu nodes", (unsigned long long)size,
				       (unsigned long long)(nodes - k));
		}
	}
	EXPECT_LT(0, tried);
}

TEST(encode_decode_roundtrip)
{
	static u8 blk[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb, out;
	const char *why = NULL;
	unsigned int slot;

	make_sb(&sb, 7);
	sb.cp = (struct betrkv_checkpoint){ .seq = 99, .journal_pos = 1ull << 40,
		.journal_prev = 0x1234,
		.itable_bytes = 4096, .itable_slot = 1, .itable_csum = 0xabcd,
		.root = 5, .next_node_id = 6 };
	for (slot = 0; slot < 2; slot++) {
		betrkv_sb_encode(&sb, slot, blk);
		ASSERT_EQ(0, betrkv_sb_decode(blk, slot, &out, &why)) TH_LOG("%s", why);
		ASSERT_EQ(0, memcmp(&sb, &out, sizeof(sb)));
		EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, !slot, &out, &why));
		EXPECT_STREQ("block written for another location", why);
	}
}

/* Field offsets are the on-disk format: they never move. */
TEST(golden_offsets)
{
	static u8 blk[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb;
	u64 v64;
	u32 v32;

	make_sb(&sb, 0x1122334455667788ull);
	betrkv_sb_encode(&sb, 1, blk);
	memcpy(&v32, blk + 4, 4);
	EXPECT_EQ(BETRKV_BLOCK_SUPER, le32toh(v32));
	memcpy(&v64, blk + 8, 8);
	EXPECT_EQ(1, le64toh(v64));
	EXPECT_EQ(0, memcmp(blk + 16, "betrkvsb", 8));
	memcpy(&v32, blk + 24, 4);
	EXPECT_EQ(BETRKV_FORMAT_VERSION, le32toh(v32));
	EXPECT_EQ(0, memcmp(blk + 32, "0123456789abcdef", 16));
	memcpy(&v64, blk + 48, 8);
	EXPECT_EQ(0x1122334455667788ull, le64toh(v64));
	memcpy(&v64, blk + 64, 8);
	EXPECT_EQ(GiB, le64toh(v64));
	/* crc32c of the rest, salted, in the first four bytes. */
	memcpy(&v32, blk, 4);
	EXPECT_NE(0, v32);
}

/* Any single flipped bit is caught; a flipped magic reads as unformatted. */
TEST(every_bit_flip_is_refused)
{
	static u8 blk[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb, out;
	const char *why;
	size_t bit;
	int ret;

	make_sb(&sb, 3);
	betrkv_sb_encode(&sb, 0, blk);
	for (bit = 0; bit < BETRKV_BLOCK_SIZE * 8; bit++) {
		blk[bit / 8] ^= 1u << (bit % 8);
		ret = betrkv_sb_decode(blk, 0, &out, &why);
		blk[bit / 8] ^= 1u << (bit % 8);
		if (bit / 8 >= 16 && bit / 8 < 24) {
			ASSERT_EQ(-ENODATA, ret) TH_LOG("bit %zu", bit);
		} else {
			ASSERT_EQ(-EUCLEAN, ret) TH_LOG("bit %zu", bit);
		}
	}
	ASSERT_EQ(0, betrkv_sb_decode(blk, 0, &out, &why));
}

/* Re-seal a modified block so that only the semantic checks can refuse it. */
static void reseal(u8 *blk, unsigned int slot)
{
	betrkv_block_seal(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_SUPER, slot, NULL);
}

TEST(semantic_refusals)
{
	static u8 blk[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb, out;
	const char *why;

	make_sb(&sb, 3);
	sb.format_version = BETRKV_FORMAT_VERSION + 1;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EOPNOTSUPP, betrkv_sb_decode(blk, 0, &out, &why));
	EXPECT_EQ(3, out.generation);
	EXPECT_EQ(BETRKV_FORMAT_VERSION + 1, out.format_version);

	/* An older format is refused too: its nodes do not decode here. */
	make_sb(&sb, 3);
	sb.format_version = BETRKV_FORMAT_VERSION - 1;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EOPNOTSUPP, betrkv_sb_decode(blk, 0, &out, &why));

	make_sb(&sb, 3);
	sb.format_version = 0;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));

	make_sb(&sb, 3);
	betrkv_sb_encode(&sb, 0, blk);
	blk[BETRKV_BLOCK_SIZE - 1] = 1;
	reseal(blk, 0);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));
	EXPECT_STREQ("bad version or reserved bytes", why);

	make_sb(&sb, 3);
	sb.geo.nodes_size += sb.geo.node_size;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));
	EXPECT_STREQ("inconsistent geometry", why);

	make_sb(&sb, 3);
	sb.geo.node_size = 3;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));

	make_sb(&sb, 3);
	sb.cp.itable_slot = 2;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));
	EXPECT_STREQ("inconsistent checkpoint pointer", why);

	make_sb(&sb, 3);
	sb.cp.root = 9;
	sb.cp.next_node_id = 9;
	betrkv_sb_encode(&sb, 0, blk);
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));

	make_sb(&sb, 3);
	betrkv_sb_encode(&sb, 0, blk);
	blk[4] ^= 1;	/* type */
	EXPECT_EQ(-EUCLEAN, betrkv_sb_decode(blk, 0, &out, &why));
	EXPECT_STREQ("wrong block type", why);
}

FIXTURE(image) {
	char path[64];
	struct betrkv_dev *dev;
};

FIXTURE_SETUP(image)
{
	int fd;

	betrkv_user_set_log(quiet);
	strcpy(self->path, "/tmp/betrkv-sb-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 256 * MiB));
	close(fd);
	ASSERT_EQ(0, betrkv_user_dev_open(self->path, false, false, &self->dev));
}

FIXTURE_TEARDOWN(image)
{
	betrkv_user_dev_close(self->dev);
	unlink(self->path);
}

static void flip(const char *path, u64 off)
{
	u8 b;
	int fd = open(path, O_RDWR);

	if (pread(fd, &b, 1, off) == 1) {
		b ^= 0x10;
		if (pwrite(fd, &b, 1, off) != 1)
			abort();
	}
	close(fd);
}

TEST_F(image, format_then_load)
{
	struct betrkv_sb sb, got;
	unsigned int slot = 9;

	ASSERT_EQ(0, betrkv_sb_format(self->dev, 512 << 10, 0, &sb));
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
	EXPECT_EQ(0, slot);
	EXPECT_EQ(1, got.generation);
	EXPECT_EQ(0, memcmp(sb.uuid, got.uuid, 16));
	EXPECT_EQ(0x40, got.uuid[6] & 0xf0);
	EXPECT_EQ(512 << 10, got.geo.node_size);
	EXPECT_EQ(0, got.cp.root);
}

TEST_F(image, fallback_and_refusals)
{
	struct betrkv_sb sb, got;
	unsigned int slot;

	EXPECT_EQ(-ENODATA, betrkv_sb_load(self->dev, &got, &slot));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));

	flip(self->path, 100);				/* copy 0 */
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
	EXPECT_EQ(1, slot);
	EXPECT_EQ(0, got.generation);
	EXPECT_EQ(0, memcmp(sb.uuid, got.uuid, 16));

	flip(self->path, BETRKV_BLOCK_SIZE + 100);	/* copy 1 too */
	EXPECT_EQ(-EUCLEAN, betrkv_sb_load(self->dev, &got, &slot));

	flip(self->path, 100);				/* copy 0 repaired */
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
	EXPECT_EQ(0, slot);
}

TEST_F(image, newest_generation_wins)
{
	struct betrkv_sb sb, got;
	unsigned int slot, i;

	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	for (i = 2; i < 6; i++) {
		sb.generation = i;
		ASSERT_EQ(0, betrkv_sb_write(self->dev, &sb, i % 2));
		ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
		EXPECT_EQ(i, got.generation);
		EXPECT_EQ(i % 2, slot);
	}
}

TEST_F(image, future_version)
{
	struct betrkv_sb sb, got;
	unsigned int slot;

	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	/* A newer format in the newest copy: refused, never the older copy. */
	sb.generation = 2;
	sb.format_version = BETRKV_FORMAT_VERSION + 1;
	ASSERT_EQ(0, betrkv_sb_write(self->dev, &sb, 1));
	EXPECT_EQ(-EOPNOTSUPP, betrkv_sb_load(self->dev, &got, &slot));
	/* In the older copy only: the newest, current one is used. */
	sb.generation = 3;
	sb.format_version = BETRKV_FORMAT_VERSION;
	ASSERT_EQ(0, betrkv_sb_write(self->dev, &sb, 0));
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
	EXPECT_EQ(3, got.generation);
}

TEST_F(image, geometry_mismatch)
{
	struct betrkv_sb sb, got;
	unsigned int slot;

	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	betrkv_user_dev_close(self->dev);
	ASSERT_EQ(0, truncate(self->path, 512 * MiB));
	ASSERT_EQ(0, betrkv_user_dev_open(self->path, true, false, &self->dev));
	EXPECT_EQ(-EMEDIUMTYPE, betrkv_sb_load(self->dev, &got, &slot));
}

TEST_F(image, format_refusal_writes_nothing)
{
	struct betrkv_sb sb, got;
	unsigned int slot;

	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &sb));
	EXPECT_EQ(-EINVAL, betrkv_sb_format(self->dev, 12345, 0, &got));
	EXPECT_EQ(-EINVAL, betrkv_sb_format(self->dev, 0, 200 * MiB, &got));
	ASSERT_EQ(0, betrkv_sb_load(self->dev, &got, &slot));
	EXPECT_EQ(0, memcmp(sb.uuid, got.uuid, 16));
	EXPECT_EQ(1, got.generation);
}

TEST_HARNESS_MAIN
