// SPDX-License-Identifier: GPL-2.0
/*
 * The device nodes and udev.  Without udev, devtmpfs alone gives
 * /dev/betrkv-control mode 0600 and /dev/betrkv<N> mode 0660 (the module's
 * devnode callbacks), and a store's uevent carries BETRKV_UUID.  Then with
 * udevd running the rule tools/udev/60-betrkv.rules (tools/run-tests.sh
 * copies it to /etc/udev/rules.d and udevadm to /bin): the store's node is
 * root:disk 0660, the control device root:root 0600, and
 * /dev/betrkv/by-uuid/<UUID> links to the store until it is unbound.  A
 * user outside group disk gets EACCES on every node; one in it (primary or
 * supplementary group) reads and writes the store, but not the control
 * device.  Skips the udev part when udevadm or the rule is missing.
 */
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "vmtest.h"
#include "cli.h"

#define NOBODY		65534
#define CONTROL		"/dev/" BETRKV_CONTROL_NAME
#define UDEVADM		"/bin/udevadm"
#define RULE		"/etc/udev/rules.d/60-betrkv.rules"
#define UDEVD_LOG	"/tmp/udevd.log"

static void store_node(u32 index, char path[64])
{
	snprintf(path, 64, "/dev/" BETRKV_DEVICE_PREFIX "%u", index);
}

/* Format DISK_A and bind it; the index, its UUID's text. */
static u32 bind_fresh(struct __test_metadata *_metadata, char uuid[CLI_UUID_LEN])
{
	struct betrkv_status_args st;
	u32 index;

	unbind_all();
	EXPECT_EQ(0, betrkv_format(DISK_A, NULL, NULL));
	EXPECT_EQ(0, betrkv_bind(DISK_A, NULL, &index));
	EXPECT_EQ(0, betrkv_status(index, &st));
	cli_format_uuid(st.uuid, uuid);
	return index;
}

/* Mode bits, owner and group of a character device node; false if none. */
static bool node_is(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(path, &st) || !S_ISCHR(st.st_mode)) {
		fprintf(stderr, "# %s: no character device\n", path);
		return false;
	}
	if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid) {
		fprintf(stderr, "# %s: mode %04o %u:%u, expected %04o %u:%u\n",
			path, st.st_mode & 07777, st.st_uid, st.st_gid, mode,
			uid, gid);
		return false;
	}
	return true;
}

/* The value of VAR=... in the uevent file of /dev/betrkv<index>, or "". */
static const char *uevent_var(u32 index, const char *var)
{
	static char line[256];
	char path[96];
	size_t len = strlen(var);
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/betrkv/betrkv%u/uevent", index);
	f = fopen(path, "r");
	if (!f)
		return "";
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, var, len) && line[len] == '=') {
			fclose(f);
			return line + len + 1;
		}
	}
	fclose(f);
	return "";
}

/* The child's checks: a failed one exits with its line number. */
#define CHILD_CHECK(cond) do {				\
	if (!(cond)) {					\
		fprintf(stderr, "# child: %s: line %d: %s\n", \
			#cond, __LINE__, strerror(errno)); \
		_exit(__LINE__ % 250 + 1);		\
	}						\
} while (0)

/* open() of @path fails with EACCES, for reading and for writing. */
static bool denied(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd >= 0 || errno != EACCES)
		return false;
	fd = open(path, O_RDONLY);
	return fd < 0 && errno == EACCES;
}

/* Run as nobody with group @gid and supplementary groups @groups. */
static void drop_to(gid_t gid, const gid_t *groups, size_t ngroups)
{
	CHILD_CHECK(setgroups(ngroups, groups) == 0);
	CHILD_CHECK(setgid(gid) == 0);
	CHILD_CHECK(setuid(NOBODY) == 0);
	CHILD_CHECK(geteuid() == NOBODY);
}

/* Outside group disk: every node and the by-uuid link refuse. */
static void child_outsider(u32 index, const char *link)
{
	char path[64];

	store_node(index, path);
	drop_to(NOBODY, NULL, 0);
	CHILD_CHECK(denied(path));
	CHILD_CHECK(denied(CONTROL));
	CHILD_CHECK(!link || denied(link));
	_exit(0);
}

/* In group disk: the store reads and writes, the control device refuses. */
static void child_insider(u32 index, gid_t disk, bool primary,
			  const char *link)
{
	static const char key[] = "udev-key", value[] = "udev-value";
	char path[64], buf[32];
	struct betrkv *s;
	size_t len;
	int fd;

	store_node(index, path);
	if (primary)
		drop_to(disk, NULL, 0);
	else
		drop_to(NOBODY, &disk, 1);
	CHILD_CHECK(betrkv_open(index, &s) == 0);
	CHILD_CHECK(betrkv_put(s, key, sizeof(key), value, sizeof(value), NULL) == 0);
	CHILD_CHECK(betrkv_get(s, key, sizeof(key), buf, sizeof(buf), &len) == 0);
	CHILD_CHECK(len == sizeof(value) && !memcmp(buf, value, len));
	CHILD_CHECK(betrkv_sync(s, NULL) == 0);
	betrkv_close(s);
	if (link) {
		fd = open(link, O_RDONLY);
		CHILD_CHECK(fd >= 0);
		close(fd);
	}
	CHILD_CHECK(denied(CONTROL));
	CHILD_CHECK(betrkv_list(NULL, 0) == -EACCES);
	_exit(0);
}

/* Run @call in a child; its exit status (0: every check held). */
#define IN_CHILD(call) ({					\
	pid_t pid = fork();					\
	int status = -1;					\
								\
	if (!pid) {						\
		call;						\
		_exit(0);					\
	}							\
	if (pid > 0 && waitpid(pid, &status, 0) == pid &&	\
	    WIFEXITED(status))					\
		status = WEXITSTATUS(status);			\
	status;							\
})

TEST(devtmpfs_modes)
{
	char uuid[CLI_UUID_LEN], path[64], dev[32];
	struct stat st;
	u32 index;

	betrkv_user_set_log(quiet_core);
	index = bind_fresh(_metadata, uuid);
	store_node(index, path);
	/* devtmpfs makes nodes root:root; only the mode is the module's. */
	EXPECT_TRUE(node_is(CONTROL, 0600, 0, 0));
	EXPECT_TRUE(node_is(path, 0660, 0, 0));
	ASSERT_EQ(0, stat(path, &st));
	snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	EXPECT_STREQ(dev, store_attr(index, "dev"));
	EXPECT_EQ(0, IN_CHILD(child_outsider(index, NULL)));
	EXPECT_EQ(0, betrkv_unbind(index));
}

TEST(uevent_uuid)
{
	char uuid[CLI_UUID_LEN], uuid2[CLI_UUID_LEN], name[32];
	u32 index;

	betrkv_user_set_log(quiet_core);
	index = bind_fresh(_metadata, uuid);
	snprintf(name, sizeof(name), BETRKV_DEVICE_PREFIX "%u", index);
	EXPECT_STREQ(uuid, uevent_var(index, "BETRKV_UUID"));
	EXPECT_STREQ(uuid, store_attr(index, "uuid"));
	EXPECT_STREQ(name, uevent_var(index, "DEVNAME"));
	EXPECT_STREQ("0660", uevent_var(index, "DEVMODE"));
	EXPECT_EQ(0, betrkv_unbind(index));
	/* Another format, another UUID, and the uevent follows it. */
	index = bind_fresh(_metadata, uuid2);
	EXPECT_STRNE(uuid, uuid2);
	EXPECT_STREQ(uuid2, uevent_var(index, "BETRKV_UUID"));
	EXPECT_EQ(0, betrkv_unbind(index));
}

/* The gid of group disk, added to /etc/group (as gid 6) if missing. */
static gid_t disk_gid(void)
{
	char line[256];
	unsigned int gid;
	FILE *f = fopen("/etc/group", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "disk:%*[^:]:%u:", &gid) == 1) {
			fclose(f);
			return gid;
		}
	if (f)
		fclose(f);
	vm_sh("echo disk:x:6: >> /etc/group");
	return 6;
}

/* Start udevd (udevadm called as udevd); its pid, once it listens. */
static pid_t udevd_start(void)
{
	pid_t pid;
	int i, fd;

	if (access("/etc/nsswitch.conf", F_OK))
		vm_sh("printf 'passwd: files\\ngroup: files\\n' > /etc/nsswitch.conf");
	pid = fork();
	if (!pid) {
		fd = open(UDEVD_LOG, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("SYSTEMD_LOG_TARGET", "console", 1);
		execl(UDEVADM, "udevd", (char *)NULL);
		_exit(127);
	}
	for (i = 0; pid > 0 && i < 300; i++) {
		if (!vm_sh(UDEVADM " control --ping >/dev/null 2>&1"))
			return pid;
		usleep(100 * 1000);
	}
	return -1;
}

static void udevd_stop(pid_t pid)
{
	int i;

	vm_sh(UDEVADM " control --exit >/dev/null 2>&1");
	for (i = 0; i < 100 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	if (i == 100) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int settle(void)
{
	return vm_sh(UDEVADM " settle --timeout=60");
}

TEST(udev_rule)
{
	char uuid[CLI_UUID_LEN], path[64], link[128], real[PATH_MAX];
	struct stat st;
	gid_t disk;
	pid_t udevd;
	u32 index;

	if (access(UDEVADM, X_OK) || access(RULE, R_OK))
		SKIP(return, "no %s or no %s", UDEVADM, RULE);
	betrkv_user_set_log(quiet_core);
	unbind_all();
	disk = disk_gid();
	udevd = udevd_start();
	ASSERT_LT(0, udevd) {
		vm_sh("cat " UDEVD_LOG);
	}

	/* No ASSERT from here on: udevd must be stopped at the end. */
	index = bind_fresh(_metadata, uuid);
	store_node(index, path);
	snprintf(link, sizeof(link), "/dev/betrkv/by-uuid/%s", uuid);
	/* The store's add event came from the bind; the control device's now. */
	EXPECT_EQ(0, vm_sh(UDEVADM " trigger --action=add /sys/class/misc/"
			   BETRKV_CONTROL_NAME));
	EXPECT_EQ(0, settle());
	EXPECT_TRUE(node_is(path, 0660, 0, disk));
	EXPECT_TRUE(node_is(CONTROL, 0600, 0, 0));
	EXPECT_EQ(0, lstat(link, &st));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_STREQ(path, realpath(link, real) ? real : "(unresolved)");

	EXPECT_EQ(0, IN_CHILD(child_outsider(index, link)));
	EXPECT_EQ(0, IN_CHILD(child_insider(index, disk, false, link)));
	EXPECT_EQ(0, IN_CHILD(child_insider(index, disk, true, link)));

	/* Unbound, the store's node and its link go away. */
	EXPECT_EQ(0, betrkv_unbind(index));
	EXPECT_EQ(0, settle());
	EXPECT_NE(0, lstat(link, &st));
	EXPECT_NE(0, stat(path, &st));
	udevd_stop(udevd);
	if (!_metadata->passed)
		vm_sh("tail -n 30 " UDEVD_LOG);
}

TEST_HARNESS_MAIN
