// SPDX-License-Identifier: GPL-2.0
/*
 * The module's lifetime: it cannot be unloaded while a store is bound (or
 * while the control device is open), and it loads again cleanly after.
 */
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "vmtest.h"

static int unload(void)
{
	return syscall(SYS_delete_module, "betrkv", O_NONBLOCK) ? -errno : 0;
}

static int load(void)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static bool loaded(void)
{
	return access("/sys/module/betrkv", F_OK) == 0;
}

TEST(unload_while_bound)
{
	struct betrkv_status_args st;
	u32 index;

	betrkv_user_set_log(quiet_core);
	ASSERT_TRUE(loaded());
	unbind_all();
	ASSERT_EQ(0, betrkv_format(DISK_A, NULL, NULL));
	ASSERT_EQ(0, betrkv_bind(DISK_A, NULL, &index));

	EXPECT_EQ(-EWOULDBLOCK, unload());
	ASSERT_TRUE(loaded());
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(BETRKV_STATE_LIVE, st.state);
	EXPECT_EQ(1, st.generation);

	ASSERT_EQ(0, betrkv_unbind(index));
	ASSERT_EQ(0, unload());
	EXPECT_FALSE(loaded());
	EXPECT_NE(0, access(BETRKV_CONTROL_PATH, F_OK));
	EXPECT_EQ(-ENODEV, betrkv_list(NULL, 0));	/* no control device */

	/* Loaded again, the store is where unbind left it. */
	ASSERT_EQ(0, load());
	ASSERT_EQ(0, betrkv_bind(DISK_A, NULL, &index));
	ASSERT_EQ(0, betrkv_status(index, &st));
	EXPECT_EQ(2, st.generation);
	ASSERT_EQ(0, betrkv_unbind(index));
}

TEST(unload_while_control_open)
{
	int fd = open(BETRKV_CONTROL_PATH, O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EWOULDBLOCK, unload());
	close(fd);
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load());
}

TEST_HARNESS_MAIN
