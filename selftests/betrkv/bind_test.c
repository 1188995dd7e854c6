// SPDX-License-Identifier: GPL-2.0
/*
 * Binding stores: format, bind, unbind, rebind, the generation and slot
 * each step leaves on disk, fallback to the other superblock copy, several
 * stores at once, read-only binds, and the per-store device and sysfs files.
 */
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "vmtest.h"

FIXTURE(store) {
	u8 uuid[16];
};

FIXTURE_SETUP(store)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	ASSERT_EQ(0, betrkv_format(DISK_A, NULL, self->uuid));
}

FIXTURE_TEARDOWN(store)
{
	unbind_all();
}

static u32 bind_ok(struct __test_metadata *_metadata, const char *path,
		   bool read_only)
{
	struct betrkv_bind_opts opts = { .read_only = read_only };
	u32 index = ~0u;

	EXPECT_EQ(0, betrkv_bind(path, &opts, &index));
	return index;
}

TEST_F(store, format_writes_both_copies)
{
	struct betrkv_sb sb0, sb1;

	ASSERT_EQ(0, sb_read(DISK_A, 0, &sb0));
	ASSERT_EQ(0, sb_read(DISK_A, 1, &sb1));
	EXPECT_EQ(1, sb0.generation);
	EXPECT_EQ(0, sb1.generation);
	EXPECT_EQ(0, memcmp(self->uuid, sb0.uuid, 16));
	EXPECT_EQ(0, memcmp(self->uuid, sb1.uuid, 16));
	EXPECT_EQ(dev_bytes(DISK_A), sb0.geo.device_bytes);
	EXPECT_EQ(BETRKV_NODE_SIZE_DEFAULT, sb0.geo.node_size);
	EXPECT_EQ(0, sb0.cp.root);
}

TEST_F(store, bind_unbind_rebind)
{
	struct betrkv_status_args st;
	struct betrkv_sb sb;
	u32 index;
	int gen;

	for (gen = 1; gen <= 4; gen++) {
		index = bind_ok(_metadata, DISK_A, false);
		ASSERT_EQ(0, betrkv_status(index, &st));
		EXPECT_EQ(gen, st.generation);
		EXPECT_EQ((gen + 1) % 2, st.sb_slot);
		EXPECT_EQ(BETRKV_STATE_LIVE, st.state);
		EXPECT_EQ(0, memcmp(self->uuid, st.uuid, 16));
		EXPECT_EQ(dev_bytes(DISK_A), st.device_bytes);
		EXPECT_STREQ("vda", st.backing_name);
		ASSERT_EQ(0, betrkv_unbind(index));
		/* Unbind's final checkpoint: the next generation, other slot. */
		ASSERT_EQ(0, sb_read(DISK_A, gen % 2, &sb));
		EXPECT_EQ(gen + 1, sb.generation);
		EXPECT_EQ(0, memcmp(self->uuid, sb.uuid, 16));
		ASSERT_EQ(0, sb_read(DISK_A, (gen + 1) % 2, &sb));
		EXPECT_EQ(gen, sb.generation);
	}
}

TEST_F(store, device_node_and_sysfs)
{
	char path[64], uuid[40];
	struct stat st;
	u32 index;

	index = bind_ok(_metadata, DISK_A, false);
	snprintf(path, sizeof(path), "/dev/betrkv%u", index);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 self->uuid[0], self->uuid[1], self->uuid[2], self->uuid[3],
		 self->uuid[4], self->uuid[5], self->uuid[6], self->uuid[7],
		 self->uuid[8], self->uuid[9], self->uuid[10], self->uuid[11],
		 self->uuid[12], self->uuid[13], self->uuid[14], self->uuid[15]);
	EXPECT_STREQ(uuid, store_attr(index, "uuid"));
	EXPECT_STREQ("vda", store_attr(index, "backing_dev"));
	EXPECT_STREQ("1", store_attr(index, "generation"));
	EXPECT_STREQ("live", store_attr(index, "state"));
	EXPECT_STREQ("67108864", store_attr(index, "device_bytes"));
	EXPECT_STREQ("262144", store_attr(index, "node_size"));
	EXPECT_EQ(BETRKV_FORMAT_VERSION, strtoul(store_attr(index, "format_version"), NULL, 10));
	ASSERT_EQ(0, betrkv_unbind(index));
	EXPECT_NE(0, stat(path, &st));
	EXPECT_STREQ("(missing)", store_attr(index, "uuid"));
}

TEST_F(store, unbind_refused_while_open)
{
	char path[64];
	u32 index;
	int fd;

	index = bind_ok(_metadata, DISK_A, false);
	snprintf(path, sizeof(path), "/dev/betrkv%u", index);
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, betrkv_unbind(index));
	EXPECT_STREQ("live", store_attr(index, "state"));
	/* Data ioctls are not there yet: the device says so. */
	EXPECT_EQ(-1, ioctl(fd, _IO(BETRKV_IOCTL_TYPE, 0x40)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
	EXPECT_EQ(0, betrkv_unbind(index));
	EXPECT_EQ(-ENOENT, betrkv_unbind(index));
	EXPECT_EQ(-ENOENT, betrkv_unbind(BETRKV_MAX_STORES + 5));
}

TEST_F(store, fallback_to_other_copy)
{
	struct betrkv_status_args st;
	struct betrkv_sb sb;
	u32 index;

	dev_flip(DISK_A, 0, 200);
	index = bind_ok(_metadata, DISK_A, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(0, st.generation);
	EXPECT_EQ(1, st.sb_slot);
	EXPECT_EQ(0, memcmp(self->uuid, st.uuid, 16));
	ASSERT_EQ(0, betrkv_unbind(index));
	/* The final checkpoint went to the damaged slot, repairing it. */
	ASSERT_EQ(0, sb_read(DISK_A, 0, &sb));
	EXPECT_EQ(1, sb.generation);

	dev_flip(DISK_A, 1, 3000);
	dev_flip(DISK_A, 1, 8);		/* a copy claiming another location */
	index = bind_ok(_metadata, DISK_A, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(1, st.generation);
	EXPECT_EQ(0, st.sb_slot);
}

TEST_F(store, two_stores_at_once)
{
	struct betrkv_status_args st;
	u8 uuid_b[16];
	u32 a, b, idx[4];

	ASSERT_EQ(0, betrkv_format(DISK_B, NULL, uuid_b));
	EXPECT_NE(0, memcmp(self->uuid, uuid_b, 16));
	a = bind_ok(_metadata, DISK_A, false);
	b = bind_ok(_metadata, DISK_B, false);
	EXPECT_NE(a, b);
	ASSERT_EQ(2, betrkv_list(idx, 4));
	EXPECT_EQ(a < b ? a : b, idx[0]);
	EXPECT_EQ(a < b ? b : a, idx[1]);
	EXPECT_EQ(2, betrkv_list(idx, 1));
	EXPECT_EQ(2, betrkv_list(NULL, 0));
	ASSERT_EQ(0, betrkv_status(b, &st));
	EXPECT_STREQ("vdb", st.backing_name);
	EXPECT_EQ(0, memcmp(uuid_b, st.uuid, 16));
	ASSERT_EQ(0, betrkv_status(a, &st));
	EXPECT_STREQ("vda", st.backing_name);
	ASSERT_EQ(0, betrkv_unbind(a));
	ASSERT_EQ(1, betrkv_list(idx, 4));
	EXPECT_EQ(b, idx[0]);
	ASSERT_EQ(0, betrkv_unbind(b));
	EXPECT_EQ(0, betrkv_list(idx, 4));
	EXPECT_EQ(-ENOENT, betrkv_status(a, &st));
}

TEST_F(store, read_only_bind_writes_nothing)
{
	struct betrkv_status_args st;
	u64 before;
	u32 index;

	before = dev_fingerprint(DISK_A);
	index = bind_ok(_metadata, DISK_A, true);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(BETRKV_STATE_READONLY, st.state);
	EXPECT_STREQ("read-only", store_attr(index, "state"));
	EXPECT_EQ(1, st.generation);
	/* A read-only bind still claims the device. */
	EXPECT_EQ(-EBUSY, betrkv_bind(DISK_A, NULL, &index));
	ASSERT_EQ(0, betrkv_unbind(index));
	EXPECT_EQ(before, dev_fingerprint(DISK_A));
}

TEST_F(store, read_only_device)
{
	struct betrkv_bind_opts ro = { .read_only = true };
	u64 before = dev_fingerprint(DISK_A);
	int fd, on = 1, off = 0;
	u32 index;

	fd = open(DISK_A, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BLKROSET, &on));
	klog_clear();
	EXPECT_EQ(-EROFS, betrkv_bind(DISK_A, NULL, &index));
	EXPECT_TRUE(klog_has("bind /dev/vda: cannot claim the device read-write: it is read-only"));
	EXPECT_EQ(-EROFS, betrkv_format(DISK_A, NULL, NULL));
	EXPECT_EQ(0, betrkv_bind(DISK_A, &ro, &index));
	EXPECT_EQ(0, betrkv_unbind(index));
	ASSERT_EQ(0, ioctl(fd, BLKROSET, &off));
	close(fd);
	EXPECT_EQ(before, dev_fingerprint(DISK_A));
}

TEST_F(store, cache_budget)
{
	struct betrkv_bind_opts opts = { .cache_bytes = 32 << 20 };
	struct betrkv_status_args st;
	u32 index;

	ASSERT_EQ(0, betrkv_bind(DISK_A, &opts, &index));
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(32 << 20, st.cache_bytes);
	EXPECT_STREQ("33554432", store_attr(index, "cache_bytes"));
	ASSERT_EQ(0, betrkv_unbind(index));
	index = bind_ok(_metadata, DISK_A, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(BETRKV_CACHE_BYTES_DEFAULT, st.cache_bytes);
}

TEST_F(store, format_options)
{
	struct betrkv_format_opts opts = { .node_size = 512 << 10,
					   .journal_size = 4 << 20 };
	struct betrkv_status_args st;
	u32 index;

	ASSERT_EQ(0, betrkv_format(DISK_B, &opts, NULL));
	index = bind_ok(_metadata, DISK_B, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(512 << 10, st.node_size);
	EXPECT_EQ(4 << 20, st.journal_size);
	EXPECT_EQ(2 * BETRKV_BLOCK_SIZE, st.journal_offset);
	EXPECT_EQ(st.journal_offset + st.journal_size, st.itable_offset);
	EXPECT_LE(st.itable_offset + 2 * st.itable_size, st.nodes_offset);
	EXPECT_LE(st.nodes_offset + st.nodes_size, st.device_bytes);
}

TEST_F(store, four_k_sectors)
{
	struct betrkv_status_args st;
	u32 index;
	int fd, lbs = 0;

	fd = open(DISK_4K, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BLKSSZGET, &lbs));
	close(fd);
	ASSERT_EQ(4096, lbs);
	ASSERT_EQ(0, betrkv_format(DISK_4K, NULL, NULL));
	index = bind_ok(_metadata, DISK_4K, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(4096, st.logical_block_size);
	ASSERT_EQ(0, betrkv_unbind(index));
	index = bind_ok(_metadata, DISK_4K, false);
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(2, st.generation);
}

TEST_HARNESS_MAIN
