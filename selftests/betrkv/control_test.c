// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/betrkv-control with malformed arguments, straight through ioctl():
 * struct sizes, pointers, paths, flags and reserved fields each get their
 * errno and change nothing; and administration needs CAP_SYS_ADMIN.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "vmtest.h"

FIXTURE(ctl) {
	int fd;
	u64 before;
	void *unmapped;
};

FIXTURE_SETUP(ctl)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	ASSERT_EQ(0, betrkv_format(DISK_A, NULL, NULL));
	self->before = dev_fingerprint(DISK_A);
	self->fd = open(BETRKV_CONTROL_PATH, O_RDWR);
	ASSERT_LE(0, self->fd);
	self->unmapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->unmapped);
	munmap(self->unmapped, 4096);
}

FIXTURE_TEARDOWN(ctl)
{
	/* Nothing any test here did may have bound or written anything. */
	EXPECT_EQ(0, betrkv_list(NULL, 0));
	EXPECT_EQ(self->before, dev_fingerprint(DISK_A));
	close(self->fd);
	unbind_all();
}

static int ctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static struct betrkv_bind_args bind_args(const char *path)
{
	return (struct betrkv_bind_args){ .size = sizeof(struct betrkv_bind_args),
		.path = (u64)(uintptr_t)path, .path_len = strlen(path) + 1 };
}

TEST_F(ctl, struct_sizes)
{
	struct {
		struct betrkv_bind_args a;
		u64 extra[2];
	} big;
	char line[80];

	big.a = bind_args("/dev/null");
	big.a.size = 8;
	klog_clear();
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &big));
	snprintf(line, sizeof(line), "bind: argument size 8, expected %zu", sizeof(big.a));
	EXPECT_TRUE(klog_has(line));
	big.a.size = sizeof(big.a) - 8;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &big));
	big.a.size = 4097;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &big));
	/* A larger struct from a newer caller: fine while the extra is zero. */
	big.a.size = sizeof(big);
	big.extra[0] = big.extra[1] = 0;
	EXPECT_EQ(-ENOTBLK, ctl(self->fd, BETRKV_IOC_BIND, &big));
	big.extra[1] = 1;
	EXPECT_EQ(-E2BIG, ctl(self->fd, BETRKV_IOC_BIND, &big));
	/* A newer caller's command number encodes its larger struct. */
	big.extra[1] = 0;
	EXPECT_EQ(-ENOTBLK, ctl(self->fd, _IOWR(BETRKV_IOCTL_TYPE, 0x02, big), &big));
}

TEST_F(ctl, bad_pointers)
{
	struct betrkv_bind_args a = bind_args(DISK_A);
	struct betrkv_list_args l = { .size = sizeof(l), .capacity = 4,
				      .indices = (u64)(uintptr_t)self->unmapped };
	u32 index;

	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_BIND, NULL));
	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_BIND, self->unmapped));
	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_STATUS, (void *)1));
	a.path = 1;
	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.path = (u64)(uintptr_t)self->unmapped;
	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_BIND, &a));
	/* LIST writes nothing it cannot; with a store bound it must write. */
	EXPECT_EQ(0, ctl(self->fd, BETRKV_IOC_LIST, &l));
	ASSERT_EQ(0, betrkv_bind(DISK_A, &(struct betrkv_bind_opts){ .read_only = true },
				 &index));
	l.count = 0;
	EXPECT_EQ(-EFAULT, ctl(self->fd, BETRKV_IOC_LIST, &l));
	ASSERT_EQ(0, betrkv_unbind(index));
}

TEST_F(ctl, bad_paths)
{
	char path[BETRKV_PATH_MAX + 8];
	struct betrkv_bind_args a = bind_args(DISK_A);

	a.path_len = 0;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.path_len = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.path_len = strlen(DISK_A);		/* no NUL inside the length */
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.path_len = strlen(DISK_A) + 2;	/* NUL before the end */
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	memset(path, 'a', sizeof(path));
	path[sizeof(path) - 1] = '\0';
	a.path = (u64)(uintptr_t)path;
	a.path_len = sizeof(path);
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
}

TEST_F(ctl, flags_and_reserved)
{
	struct betrkv_bind_args a = bind_args(DISK_A);
	struct betrkv_format_args f = { .size = sizeof(f),
		.path = (u64)(uintptr_t)DISK_A, .path_len = strlen(DISK_A) + 1 };
	struct betrkv_unbind_args u = { .size = sizeof(u) };
	struct betrkv_status_args s = { .size = sizeof(s) };
	struct betrkv_list_args l = { .size = sizeof(l) };

	a.flags = 0x80;
	klog_clear();
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	EXPECT_TRUE(klog_has("bind: unknown flags 0x80"));
	a.flags = 0;
	a.reserved[6] = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.reserved[6] = 0;
	a.index = 3;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	f.flags = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_FORMAT, &f));
	f.flags = 0;
	f.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_FORMAT, &f));
	u.pad = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_UNBIND, &u));
	s.flags = 2;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_STATUS, &s));
	l.reserved[3] = 9;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_LIST, &l));
	l.reserved[3] = 0;
	s.flags = 0;
	s.index = 0;
	EXPECT_EQ(-ENOENT, ctl(self->fd, BETRKV_IOC_STATUS, &s));
	s.index = ~0u;
	EXPECT_EQ(-ENOENT, ctl(self->fd, BETRKV_IOC_STATUS, &s));
	EXPECT_EQ(-ENOTTY, ctl(self->fd, _IOWR(BETRKV_IOCTL_TYPE, 0x3f, u64), &s));
	EXPECT_EQ(-ENOTTY, ctl(self->fd, _IOWR('x', 0x01, struct betrkv_format_args), &f));
}

/*
 * The bind options: salvage only read-only, a commit interval only with
 * its flag and up to its maximum; each refusal names its reason and binds
 * nothing.
 */
TEST_F(ctl, bind_options)
{
	struct betrkv_bind_args a = bind_args(DISK_A);

	klog_clear();
	a.flags = BETRKV_BIND_SALVAGE;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	EXPECT_TRUE(klog_has("bind: salvage needs a read-only bind"));
	a.flags = 0;
	a.commit_ms = 100;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	EXPECT_TRUE(klog_has("bind: commit interval given without its flag"));
	a.flags = BETRKV_BIND_COMMIT_MS;
	a.commit_ms = BETRKV_COMMIT_MS_MAX + 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	EXPECT_TRUE(klog_has("bind: commit interval of 600001 ms is over 600000 ms"));
	a.commit_ms = ~0u;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
	a.commit_ms = 0;
	a.pad = 1;
	EXPECT_EQ(-EINVAL, ctl(self->fd, BETRKV_IOC_BIND, &a));
}

/* Without CAP_SYS_ADMIN: no format, bind or unbind; list and status work. */
TEST_F(ctl, needs_cap_sys_admin)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2];
	struct betrkv_status_args st;
	u32 index, ro_index;

	ASSERT_EQ(0, betrkv_bind(DISK_A, &(struct betrkv_bind_opts){ .read_only = true },
				 &ro_index));
	ASSERT_EQ(0, syscall(SYS_capget, &hdr, caps));
	caps[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	ASSERT_EQ(0, syscall(SYS_capset, &hdr, caps));

	EXPECT_EQ(-EPERM, betrkv_format(DISK_B, NULL, NULL));
	EXPECT_EQ(-EPERM, betrkv_bind(DISK_B, NULL, &index));
	EXPECT_EQ(-EPERM, betrkv_unbind(ro_index));
	EXPECT_EQ(1, betrkv_list(NULL, 0));
	EXPECT_EQ(0, betrkv_status(ro_index, &st));

	caps[CAP_SYS_ADMIN / 32].effective |= 1u << (CAP_SYS_ADMIN % 32);
	ASSERT_EQ(0, syscall(SYS_capset, &hdr, caps));
	EXPECT_EQ(0, betrkv_unbind(ro_index));
}

TEST_HARNESS_MAIN
