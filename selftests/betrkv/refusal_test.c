// SPDX-License-Identifier: GPL-2.0
/*
 * Every refusal of FORMAT and BIND: the errno it gives, and that the
 * device is bit-for-bit unchanged afterwards.
 */
#include "kselftest_harness.h"
#include "vmtest.h"

FIXTURE(refusal) {
	u64 before;
	const char *disk;
};

FIXTURE_SETUP(refusal)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	self->disk = DISK_A;
	ASSERT_EQ(0, betrkv_format(DISK_A, NULL, NULL));
}

FIXTURE_TEARDOWN(refusal)
{
	unbind_all();
}

/* Take the fingerprint of @disk after the test has prepared it. */
static void snap(FIXTURE_DATA(refusal) *self, const char *disk)
{
	self->disk = disk;
	self->before = dev_fingerprint(disk);
}

/* Bind must fail with @err, log @reason, and leave the device as it was. */
static void expect_bind(struct __test_metadata *_metadata,
			FIXTURE_DATA(refusal) *self, int err, const char *reason)
{
	u32 index = ~0u;

	klog_clear();
	EXPECT_EQ(err, betrkv_bind(self->disk, NULL, &index));
	EXPECT_TRUE(klog_has(reason)) TH_LOG("no log line \"%s\"", reason);
	EXPECT_EQ(~0u, index);
	EXPECT_EQ(0, betrkv_list(NULL, 0));
	EXPECT_EQ(self->before, dev_fingerprint(self->disk));
}

TEST_F(refusal, not_formatted)
{
	dev_zero(DISK_A, 0, 2 * BETRKV_BLOCK_SIZE);
	snap(self, DISK_A);
	expect_bind(_metadata, self, -ENODATA, "vda: device is not formatted");
}

TEST_F(refusal, both_copies_corrupt)
{
	dev_flip(DISK_A, 0, 100);
	dev_flip(DISK_A, 1, 4000);
	snap(self, DISK_A);
	expect_bind(_metadata, self, -EUCLEAN,
		    "vda: both superblock copies are corrupt (copy 0: checksum mismatch; copy 1: checksum mismatch)");
}

TEST_F(refusal, one_copy_missing_other_corrupt)
{
	dev_zero(DISK_A, 0, BETRKV_BLOCK_SIZE);
	dev_flip(DISK_A, 1, 60);
	snap(self, DISK_A);
	expect_bind(_metadata, self, -EUCLEAN,
		    "(copy 0: no betrkv superblock magic; copy 1: checksum mismatch)");
}

/* The newest copy is of another format version: refused, whichever way. */
static void other_version(struct __test_metadata *_metadata,
			  FIXTURE_DATA(refusal) *self, u32 version)
{
	struct betrkv_sb sb;
	char reason[96];

	ASSERT_EQ(0, sb_read(DISK_A, 0, &sb));
	sb.generation = 2;
	sb.format_version = version;
	sb_put(DISK_A, 1, &sb);
	snap(self, DISK_A);
	snprintf(reason, sizeof(reason),
		 "vda: store has format version %u, this module supports %u",
		 version, BETRKV_FORMAT_VERSION);
	expect_bind(_metadata, self, -EOPNOTSUPP, reason);
}

TEST_F(refusal, format_version_from_the_future)
{
	other_version(_metadata, self, BETRKV_FORMAT_VERSION + 1);
}

TEST_F(refusal, format_version_from_the_past)
{
	other_version(_metadata, self, BETRKV_FORMAT_VERSION - 1);
}

TEST_F(refusal, geometry_does_not_match_device)
{
	u8 blocks[2 * BETRKV_BLOCK_SIZE];

	/* The superblocks of a 64 MiB store on a 96 MiB device. */
	raw_io(DISK_A, false, 0, blocks, sizeof(blocks));
	raw_io(DISK_BIG, true, 0, blocks, sizeof(blocks));
	snap(self, DISK_BIG);
	expect_bind(_metadata, self, -EMEDIUMTYPE,
		    "vdd: device size differs from the one the store was formatted on");
}

TEST_F(refusal, device_claimed)
{
	int fd;

	snap(self, DISK_A);
	fd = open(DISK_A, O_RDONLY | O_EXCL);
	ASSERT_LE(0, fd);
	expect_bind(_metadata, self, -EBUSY, "bind /dev/vda: cannot claim the device (error -16)");
	EXPECT_EQ(-EBUSY, betrkv_format(DISK_A, NULL, NULL));
	close(fd);
	EXPECT_EQ(self->before, dev_fingerprint(DISK_A));
}

TEST_F(refusal, device_bound)
{
	u32 index, again = ~0u;

	ASSERT_EQ(0, betrkv_bind(DISK_A, NULL, &index));
	EXPECT_EQ(-EBUSY, betrkv_bind(DISK_A, NULL, &again));
	EXPECT_EQ(-EBUSY, betrkv_format(DISK_A, NULL, NULL));
	EXPECT_EQ(~0u, again);
	EXPECT_EQ(1, betrkv_list(NULL, 0));
}

TEST_F(refusal, not_a_block_device)
{
	u32 index;
	int fd;

	klog_clear();
	EXPECT_EQ(-ENOTBLK, betrkv_bind("/dev/null", NULL, &index));
	EXPECT_TRUE(klog_has("bind /dev/null: cannot claim the device (error -15)"));
	EXPECT_EQ(-ENOTBLK, betrkv_format("/dev/null", NULL, NULL));
	fd = open("/tmp/betrkv-file", O_CREAT | O_RDWR, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 64 << 20));
	close(fd);
	EXPECT_EQ(-ENOTBLK, betrkv_bind("/tmp/betrkv-file", NULL, &index));
	EXPECT_EQ(-ENOTBLK, betrkv_format("/tmp/betrkv-file", NULL, NULL));
	unlink("/tmp/betrkv-file");
	EXPECT_EQ(-ENOENT, betrkv_bind("/dev/no-such-disk", NULL, &index));
	EXPECT_EQ(0, betrkv_list(NULL, 0));
}

TEST_F(refusal, device_too_small)
{
	snap(self, DISK_SMALL);
	klog_clear();
	EXPECT_EQ(-ENOSPC, betrkv_format(DISK_SMALL, NULL, NULL));
	EXPECT_TRUE(klog_has("vdc: cannot format: device too small"));
	EXPECT_EQ(self->before, dev_fingerprint(DISK_SMALL));
}

/* Straight through the ioctl: libbetrkv refuses these before the kernel. */
TEST_F(refusal, bad_format_options)
{
	struct { u32 node_size; u64 journal_size; } bad[] = {
		{ .node_size = 12345 },
		{ .node_size = 8192 },
		{ .node_size = 8 << 20 },
		{ .journal_size = 4096 },
		{ .journal_size = (1 << 20) + 512 },
		{ .journal_size = 32 << 20 },	/* over a quarter of 64 MiB */
	};
	struct betrkv_format_args f;
	size_t i;
	int fd;

	snap(self, DISK_A);
	fd = open(BETRKV_CONTROL_PATH, O_RDWR);
	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		f = (struct betrkv_format_args){ .size = sizeof(f),
			.path = (u64)(uintptr_t)DISK_A, .path_len = sizeof(DISK_A),
			.node_size = bad[i].node_size,
			.journal_size = bad[i].journal_size };
		klog_clear();
		EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_FORMAT, &f)) TH_LOG("case %zu", i);
		EXPECT_EQ(EINVAL, errno);
		EXPECT_TRUE(klog_has("vda: cannot format: ")) TH_LOG("case %zu", i);
	}
	close(fd);
	EXPECT_EQ(self->before, dev_fingerprint(DISK_A));
}

TEST_F(refusal, bad_cache_budget)
{
	struct betrkv_bind_opts small = { .cache_bytes = 4096 };
	struct betrkv_bind_opts huge = { .cache_bytes = 1ull << 50 };
	u32 index;

	snap(self, DISK_A);
	klog_clear();
	EXPECT_EQ(-EINVAL, betrkv_bind(DISK_A, &small, &index));
	EXPECT_TRUE(klog_has("vda: cache of 4096 bytes is below 16 nodes"));
	EXPECT_EQ(-EINVAL, betrkv_bind(DISK_A, &huge, &index));
	EXPECT_EQ(0, betrkv_list(NULL, 0));
	EXPECT_EQ(self->before, dev_fingerprint(DISK_A));
}

TEST_HARNESS_MAIN
