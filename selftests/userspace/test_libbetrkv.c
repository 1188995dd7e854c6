// SPDX-License-Identifier: GPL-2.0
/*
 * libbetrkv on the host, without the module: argument checks (made before
 * any system call), the ioctl arguments the library builds, how it reports
 * a missing or foreign control device, and its error texts.
 *
 * The real ioctls are exercised in the VM.  Here ioctl() itself is replaced
 * by a fake control device (this program's definition takes precedence
 * over libc's for the library linked into it) that checks the argument
 * structs as the module would and counts the calls; every other ioctl goes
 * to the kernel.  BETRKV_CONTROL_PATH points the library at /dev/null,
 * which opens anywhere, or at a path that does not exist.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "betrkv.h"

/* ---- the fake control device ---- */

static bool fake_on;		/* answer BETRKV_IOC_* (else: real ioctl) */
static int fake_calls;		/* BETRKV_IOC_* calls seen */
static int fake_ret;		/* errno to fail with, 0 to succeed */
static union {
	struct betrkv_format_args format;
	struct betrkv_bind_args bind;
	struct betrkv_unbind_args unbind;
	struct betrkv_list_args list;
	struct betrkv_status_args status;
} fake_seen;			/* the last argument struct, as passed */
static char fake_path[BETRKV_PATH_MAX];	/* the path it pointed to */

static const uint8_t fake_uuid[16] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len--)
		if (*b++)
			return false;
	return true;
}

/* -EINVAL unless @size is right and @reserved is zero, as the module checks. */
static int fake_check(uint32_t size, size_t want, const void *reserved,
		      size_t reserved_len)
{
	if (size != want)
		return -EINVAL;
	return all_zero(reserved, reserved_len) ? 0 : -E2BIG;
}

static int fake_copy_path(uint64_t path, uint32_t path_len)
{
	const char *p = (const char *)(uintptr_t)path;

	if (!path_len || path_len > BETRKV_PATH_MAX || strlen(p) + 1 != path_len)
		return -EINVAL;
	memcpy(fake_path, p, path_len);
	return 0;
}

static int fake_format(struct betrkv_format_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));

	fake_seen.format = *a;
	if (ret || a->flags || !all_zero(a->uuid, sizeof(a->uuid)))
		return ret ?: -EINVAL;
	ret = fake_copy_path(a->path, a->path_len);
	if (ret)
		return ret;
	memcpy(a->uuid, fake_uuid, sizeof(a->uuid));
	return 0;
}

static int fake_bind(struct betrkv_bind_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));

	fake_seen.bind = *a;
	if (ret || (a->flags & ~BETRKV_BIND_FLAGS) || a->index ||
	    !all_zero(a->uuid, sizeof(a->uuid)))
		return ret ?: -EINVAL;
	ret = fake_copy_path(a->path, a->path_len);
	if (ret)
		return ret;
	a->index = 7;
	memcpy(a->uuid, fake_uuid, sizeof(a->uuid));
	return 0;
}

static int fake_unbind(struct betrkv_unbind_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));

	fake_seen.unbind = *a;
	if (ret || a->flags || a->pad)
		return ret ?: -EINVAL;
	return a->index == 7 ? 0 : -ENOENT;
}

/* Bound: 2, 7 and 40. */
static int fake_list(struct betrkv_list_args *a)
{
	static const uint32_t bound[] = { 2, 7, 40 };
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	uint32_t i;

	fake_seen.list = *a;
	if (ret || a->flags || a->count)
		return ret ?: -EINVAL;
	if (a->capacity && !a->indices)
		return -EFAULT;
	for (i = 0; i < a->capacity && i < 3; i++)
		((uint32_t *)(uintptr_t)a->indices)[i] = bound[i];
	a->count = 3;
	return 0;
}

static int fake_status(struct betrkv_status_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	uint32_t index = a->index;

	fake_seen.status = *a;
	if (ret || a->flags)
		return ret ?: -EINVAL;
	if (!all_zero(&a->state, sizeof(*a) - offsetof(struct betrkv_status_args, state)))
		return -EINVAL;
	if (index != 7)
		return -ENOENT;
	a->state = BETRKV_STATE_READONLY;
	memcpy(a->uuid, fake_uuid, sizeof(a->uuid));
	a->generation = 42;
	a->format_version = 1;
	a->logical_block_size = 512;
	a->device_bytes = 1ull << 30;
	a->node_size = 256 << 10;
	a->sb_slot = 1;
	a->journal_offset = 8192;
	a->journal_size = 16 << 20;
	a->itable_offset = 8192 + (16 << 20);
	a->itable_size = 69632;
	a->nodes_offset = 17563648;
	a->nodes_size = 4000ull << 18;
	a->cache_bytes = 64 << 20;
	a->backing_dev = (254 << 8) | 16;
	memset(a->backing_name, 'x', sizeof(a->backing_name));	/* no NUL */
	return 0;
}

static int fake_ioctl(unsigned long request, void *arg)
{
	switch (request) {
	case BETRKV_IOC_FORMAT:
		return fake_format(arg);
	case BETRKV_IOC_BIND:
		return fake_bind(arg);
	case BETRKV_IOC_UNBIND:
		return fake_unbind(arg);
	case BETRKV_IOC_LIST:
		return fake_list(arg);
	case BETRKV_IOC_STATUS:
		return fake_status(arg);
	}
	return -ENOTTY;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!fake_on || _IOC_TYPE(request) != BETRKV_IOCTL_TYPE)
		return syscall(SYS_ioctl, fd, request, arg);
	fake_calls++;
	ret = fake_ret ? -fake_ret : fake_ioctl(request, arg);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

/* Library calls go to the fake through /dev/null. */
static void use_fake(void)
{
	setenv("BETRKV_CONTROL_PATH", "/dev/null", 1);
	fake_on = true;
	fake_calls = 0;
	fake_ret = 0;
}

/* A path of @len characters (plus NUL), or NULL. */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memset(p, 'a', len);
	p[0] = '/';
	p[len] = '\0';
	return p;
}

/* ---- argument checks: no system call for invalid arguments ---- */

TEST(format_rejects_bad_paths)
{
	char *max = long_path(BETRKV_PATH_MAX - 1);
	char *over = long_path(BETRKV_PATH_MAX);

	ASSERT_NE(NULL, max);
	ASSERT_NE(NULL, over);
	use_fake();
	EXPECT_EQ(-EINVAL, betrkv_format(NULL, NULL, NULL));
	EXPECT_EQ(-EINVAL, betrkv_format("", NULL, NULL));
	EXPECT_EQ(-ENAMETOOLONG, betrkv_format(over, NULL, NULL));
	EXPECT_EQ(0, fake_calls);
	/* The longest path allowed reaches the module, NUL included. */
	EXPECT_EQ(0, betrkv_format(max, NULL, NULL));
	EXPECT_EQ(1, fake_calls);
	EXPECT_EQ(BETRKV_PATH_MAX, fake_seen.format.path_len);
	free(max);
	free(over);
}

TEST(format_rejects_bad_sizes)
{
	static const uint32_t bad_nodes[] = {
		1, 4096, BETRKV_NODE_SIZE_MIN / 2, BETRKV_NODE_SIZE_MIN + 4096,
		3 * BETRKV_NODE_SIZE_MIN, BETRKV_NODE_SIZE_MAX * 2, UINT32_MAX,
	};
	static const uint64_t bad_journals[] = {
		1, BETRKV_JOURNAL_SIZE_MIN - BETRKV_BLOCK_SIZE,
		BETRKV_JOURNAL_SIZE_MIN + 512, BETRKV_JOURNAL_SIZE_MAX + BETRKV_BLOCK_SIZE,
		UINT64_MAX,
	};
	struct betrkv_format_opts opts = { 0 };
	size_t i;

	use_fake();
	for (i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		opts.node_size = bad_nodes[i];
		EXPECT_EQ(-EINVAL, betrkv_format("/dev/vdb", &opts, NULL))
			TH_LOG("node size %u", bad_nodes[i]);
	}
	opts.node_size = 0;
	for (i = 0; i < sizeof(bad_journals) / sizeof(bad_journals[0]); i++) {
		opts.journal_size = bad_journals[i];
		EXPECT_EQ(-EINVAL, betrkv_format("/dev/vdb", &opts, NULL))
			TH_LOG("journal size %llu", (unsigned long long)bad_journals[i]);
	}
	EXPECT_EQ(0, fake_calls);
}

TEST(format_accepts_limits)
{
	struct betrkv_format_opts opts = {
		.node_size = BETRKV_NODE_SIZE_MIN,
		.journal_size = BETRKV_JOURNAL_SIZE_MAX,
	};

	use_fake();
	EXPECT_EQ(0, betrkv_format("/dev/vdb", &opts, NULL));
	opts.node_size = BETRKV_NODE_SIZE_MAX;
	opts.journal_size = BETRKV_JOURNAL_SIZE_MIN;
	EXPECT_EQ(0, betrkv_format("/dev/vdb", &opts, NULL));
	EXPECT_EQ(2, fake_calls);
	EXPECT_EQ(BETRKV_NODE_SIZE_MAX, fake_seen.format.node_size);
	EXPECT_EQ(BETRKV_JOURNAL_SIZE_MIN, fake_seen.format.journal_size);
}

TEST(bind_rejects_bad_arguments)
{
	char *over = long_path(BETRKV_PATH_MAX);
	uint32_t index = 99;

	ASSERT_NE(NULL, over);
	use_fake();
	EXPECT_EQ(-EINVAL, betrkv_bind(NULL, NULL, &index));
	EXPECT_EQ(-EINVAL, betrkv_bind("", NULL, &index));
	EXPECT_EQ(-EINVAL, betrkv_bind("/dev/vdb", NULL, NULL));
	EXPECT_EQ(-ENAMETOOLONG, betrkv_bind(over, NULL, &index));
	EXPECT_EQ(0, fake_calls);
	EXPECT_EQ(99, index);
	free(over);
}

TEST(list_and_status_reject_bad_arguments)
{
	use_fake();
	EXPECT_EQ(-EINVAL, betrkv_list(NULL, 1));
	EXPECT_EQ(-EINVAL, betrkv_status(7, NULL));
	EXPECT_EQ(0, fake_calls);
}

/* ---- the argument structs the library builds ---- */

TEST(format_fills_args)
{
	struct betrkv_format_opts opts = {
		.node_size = 512 << 10, .journal_size = 8 << 20,
	};
	uint8_t uuid[16] = { 0 };

	use_fake();
	ASSERT_EQ(0, betrkv_format("/dev/vdb", &opts, uuid));
	EXPECT_EQ(1, fake_calls);
	EXPECT_EQ(sizeof(struct betrkv_format_args), fake_seen.format.size);
	EXPECT_EQ(0, fake_seen.format.flags);
	EXPECT_EQ(9, fake_seen.format.path_len);
	EXPECT_STREQ("/dev/vdb", fake_path);
	EXPECT_EQ(512 << 10, fake_seen.format.node_size);
	EXPECT_EQ(8 << 20, fake_seen.format.journal_size);
	EXPECT_EQ(0, memcmp(uuid, fake_uuid, 16));
	/* No options, no UUID wanted: defaults (0) go to the module. */
	ASSERT_EQ(0, betrkv_format("/dev/vdc", NULL, NULL));
	EXPECT_EQ(0, fake_seen.format.node_size);
	EXPECT_EQ(0, fake_seen.format.journal_size);
	EXPECT_STREQ("/dev/vdc", fake_path);
}

TEST(format_keeps_uuid_on_failure)
{
	uint8_t uuid[16];

	use_fake();
	fake_ret = ENOSPC;
	memset(uuid, 0x5a, sizeof(uuid));
	EXPECT_EQ(-ENOSPC, betrkv_format("/dev/vdb", NULL, uuid));
	EXPECT_EQ(0x5a, uuid[0]);
	EXPECT_EQ(0x5a, uuid[15]);
}

TEST(bind_fills_args)
{
	struct betrkv_bind_opts opts = { .cache_bytes = 1 << 20, .read_only = true };
	uint32_t index = 0;

	use_fake();
	ASSERT_EQ(0, betrkv_bind("/dev/vdb", &opts, &index));
	EXPECT_EQ(7, index);
	EXPECT_EQ(sizeof(struct betrkv_bind_args), fake_seen.bind.size);
	EXPECT_EQ(BETRKV_BIND_RDONLY, fake_seen.bind.flags);
	EXPECT_EQ(1 << 20, fake_seen.bind.cache_bytes);
	EXPECT_EQ(9, fake_seen.bind.path_len);
	EXPECT_STREQ("/dev/vdb", fake_path);
	ASSERT_EQ(0, betrkv_bind("/dev/vdc", NULL, &index));
	EXPECT_EQ(0, fake_seen.bind.flags);
	EXPECT_EQ(0, fake_seen.bind.cache_bytes);
}

TEST(bind_reports_module_errors)
{
	static const int errs[] = {
		ENOTBLK, EBUSY, EROFS, ENODATA, EUCLEAN, EOPNOTSUPP,
		EMEDIUMTYPE, EPERM, ENOENT,
	};
	uint32_t index = 99;
	size_t i;

	use_fake();
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		fake_ret = errs[i];
		EXPECT_EQ(-errs[i], betrkv_bind("/dev/vdb", NULL, &index));
	}
	EXPECT_EQ(99, index);
}

TEST(unbind_fills_args)
{
	use_fake();
	EXPECT_EQ(0, betrkv_unbind(7));
	EXPECT_EQ(sizeof(struct betrkv_unbind_args), fake_seen.unbind.size);
	EXPECT_EQ(7, fake_seen.unbind.index);
	EXPECT_EQ(-ENOENT, betrkv_unbind(8));
	EXPECT_EQ(8, fake_seen.unbind.index);
	fake_ret = EBUSY;
	EXPECT_EQ(-EBUSY, betrkv_unbind(7));
}

TEST(list_counts_and_fills)
{
	uint32_t idx[4] = { 111, 111, 111, 111 };

	use_fake();
	EXPECT_EQ(3, betrkv_list(NULL, 0));
	EXPECT_EQ(0, fake_seen.list.capacity);
	EXPECT_EQ(0, fake_seen.list.indices);
	EXPECT_EQ(sizeof(struct betrkv_list_args), fake_seen.list.size);
	/* Fewer entries than stores: the count is still the total. */
	EXPECT_EQ(3, betrkv_list(idx, 2));
	EXPECT_EQ(2, idx[0]);
	EXPECT_EQ(7, idx[1]);
	EXPECT_EQ(111, idx[2]);
	EXPECT_EQ(3, betrkv_list(idx, 4));
	EXPECT_EQ(40, idx[2]);
	EXPECT_EQ(111, idx[3]);
}

TEST(status_fills_and_terminates_name)
{
	struct betrkv_status_args st;

	use_fake();
	memset(&st, 0xaa, sizeof(st));
	ASSERT_EQ(0, betrkv_status(7, &st));
	EXPECT_EQ(sizeof(struct betrkv_status_args), fake_seen.status.size);
	EXPECT_EQ(7, fake_seen.status.index);
	EXPECT_EQ(7, st.index);
	EXPECT_EQ(BETRKV_STATE_READONLY, st.state);
	EXPECT_EQ(42, st.generation);
	EXPECT_EQ(1, st.sb_slot);
	EXPECT_EQ(64 << 20, st.cache_bytes);
	EXPECT_EQ(0, memcmp(st.uuid, fake_uuid, 16));
	/* The module filled all 32 bytes; the library ends the string. */
	EXPECT_EQ(31, strlen(st.backing_name));
}

TEST(status_keeps_struct_on_failure)
{
	struct betrkv_status_args st;

	use_fake();
	memset(&st, 0xaa, sizeof(st));
	EXPECT_EQ(-ENOENT, betrkv_status(3, &st));
	EXPECT_EQ(0xaaaaaaaau, st.index);
	EXPECT_EQ(0xaaaaaaaaaaaaaaaaull, st.generation);
}

/* ---- the control device itself ---- */

TEST(missing_control_device_is_enodev)
{
	struct betrkv_status_args st;
	uint32_t index = 99, idx[2];

	use_fake();
	setenv("BETRKV_CONTROL_PATH", "/nonexistent/betrkv-control", 1);
	EXPECT_EQ(-ENODEV, betrkv_format("/dev/vdb", NULL, NULL));
	EXPECT_EQ(-ENODEV, betrkv_bind("/dev/vdb", NULL, &index));
	EXPECT_EQ(-ENODEV, betrkv_unbind(0));
	EXPECT_EQ(-ENODEV, betrkv_list(idx, 2));
	EXPECT_EQ(-ENODEV, betrkv_status(0, &st));
	EXPECT_EQ(0, fake_calls);
	EXPECT_EQ(99, index);
	EXPECT_STREQ("betrkv module not loaded (no /dev/betrkv-control)",
		     betrkv_errstr(-ENODEV));
}

TEST(default_control_path)
{
	uint32_t idx[1];

	if (!access(BETRKV_CONTROL_PATH, F_OK))
		SKIP(return, BETRKV_CONTROL_PATH " exists here (module loaded)");
	unsetenv("BETRKV_CONTROL_PATH");
	EXPECT_EQ(-ENODEV, betrkv_list(idx, 1));
	setenv("BETRKV_CONTROL_PATH", "", 1);	/* empty: the default */
	EXPECT_EQ(-ENODEV, betrkv_list(idx, 1));
}

TEST(foreign_control_device_is_enotty)
{
	uint32_t idx[1];

	setenv("BETRKV_CONTROL_PATH", "/dev/null", 1);
	fake_on = false;	/* the kernel answers */
	EXPECT_EQ(-ENOTTY, betrkv_list(idx, 1));
	EXPECT_EQ(-ENOTTY, betrkv_unbind(0));
	EXPECT_STREQ("not a betrkv control device (ioctl not supported)",
		     betrkv_errstr(-ENOTTY));
}

TEST(unopenable_control_device_keeps_errno)
{
	setenv("BETRKV_CONTROL_PATH", "/", 1);	/* a directory: O_RDWR fails */
	EXPECT_EQ(-EISDIR, betrkv_unbind(0));
}

/* ---- texts ---- */

TEST(errstr_betrkv_meanings)
{
	EXPECT_STREQ("no betrkv store on the device (not formatted)",
		     betrkv_errstr(-ENODATA));
	EXPECT_STREQ("both superblock copies are corrupt", betrkv_errstr(-EUCLEAN));
	EXPECT_STREQ("store format is newer than this module",
		     betrkv_errstr(-EOPNOTSUPP));
	EXPECT_STREQ("store geometry does not match the device",
		     betrkv_errstr(-EMEDIUMTYPE));
	EXPECT_STREQ("device or store is busy (claimed by someone else, or open)",
		     betrkv_errstr(-EBUSY));
	EXPECT_STREQ("not a block device", betrkv_errstr(-ENOTBLK));
	EXPECT_STREQ("device is read-only (bind it read-only)",
		     betrkv_errstr(-EROFS));
	EXPECT_STREQ("operation needs CAP_SYS_ADMIN", betrkv_errstr(-EPERM));
	EXPECT_STREQ("device is too small for a store", betrkv_errstr(-ENOSPC));
	EXPECT_STREQ("too many stores bound", betrkv_errstr(-EMFILE));
	/* A positive errno means the same. */
	EXPECT_STREQ("both superblock copies are corrupt", betrkv_errstr(EUCLEAN));
}

TEST(errstr_falls_back_to_strerror)
{
	EXPECT_STREQ("No such file or directory", betrkv_errstr(-ENOENT));
	EXPECT_STREQ("Input/output error", betrkv_errstr(-EIO));
	EXPECT_STREQ("Invalid argument", betrkv_errstr(-EINVAL));
	EXPECT_STREQ("Unknown error 9999", betrkv_errstr(-9999));
	EXPECT_STREQ("Unknown error -2147483648", betrkv_errstr(INT_MIN));
	EXPECT_STREQ("Success", betrkv_errstr(0));
}

TEST(state_names)
{
	EXPECT_STREQ("live", betrkv_state_name(BETRKV_STATE_LIVE));
	EXPECT_STREQ("read-only", betrkv_state_name(BETRKV_STATE_READONLY));
	EXPECT_STREQ("failed", betrkv_state_name(BETRKV_STATE_FAILED));
	EXPECT_STREQ("unknown", betrkv_state_name(0));
	EXPECT_STREQ("unknown", betrkv_state_name(4));
	EXPECT_STREQ("unknown", betrkv_state_name(UINT32_MAX));
}

TEST_HARNESS_MAIN
