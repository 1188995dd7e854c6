// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: device and process I/O counters, CPU time, peak RSS, page
 * cache.
 *
 * Device bytes come from field 7 (sectors written) of the stat file of
 * the block device holding --path (st_dev of the path, or st_rdev when it
 * is a block device itself).  They count everything written to that
 * device, by any process, including the file system's journal and
 * metadata.  Process bytes come from write_bytes in /proc/self/io: what
 * this process caused to be written, counted when a page is first dirtied
 * (a page rewritten before writeback counts once) or when direct I/O is
 * submitted; the file system's own journal writes are not in it.
 * Process read bytes come from read_bytes there: what this process had
 * read from storage (reads submitted to a block device, direct I/O
 * included); reads served by the page cache are not in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "sys.h"

static const struct {
	unsigned long magic;
	const char *name;
} fs_names[] = {
	{ 0xef53, "ext4" },
	{ 0x58465342, "xfs" },
	{ 0x9123683e, "btrfs" },
	{ 0xf2f52010, "f2fs" },
	{ 0x01021994, "tmpfs" },
	{ 0x794c7630, "overlayfs" },
	{ 0x6969, "nfs" },
};

static void fs_name(const char *path, char *buf, size_t size)
{
	struct statfs sfs;
	size_t i;

	if (statfs(path, &sfs)) {
		snprintf(buf, size, "?");
		return;
	}
	for (i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++) {
		if (fs_names[i].magic == (unsigned long)sfs.f_type) {
			snprintf(buf, size, "%s", fs_names[i].name);
			return;
		}
	}
	snprintf(buf, size, "0x%lx", (unsigned long)sfs.f_type);
}

/* Find the block device under path; none for tmpfs and the like. */
void io_source_init(struct io_source *s, const char *path)
{
	char link[48], target[PATH_MAX];
	struct stat st;
	dev_t dev;
	ssize_t n;

	memset(s, 0, sizeof(*s));
	fs_name(path, s->fs, sizeof(s->fs));
	if (stat(path, &st))
		return;
	dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	if (S_ISBLK(st.st_mode))
		snprintf(s->fs, sizeof(s->fs), "blockdev");
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u",
		 major(dev), minor(dev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	snprintf(s->dev, sizeof(s->dev), "%s", strrchr(target, '/') + 1);
	snprintf(s->stat_path, sizeof(s->stat_path), "%s/stat", link);
}

static uint64_t dev_written(const struct io_source *s)
{
	unsigned long long f[7];
	FILE *fp;
	int n;

	if (!s->dev[0])
		return 0;
	fp = fopen(s->stat_path, "r");
	if (!fp)
		return 0;
	n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
		   &f[2], &f[3], &f[4], &f[5], &f[6]);
	fclose(fp);
	return n == 7 ? f[6] * 512 : 0;
}

/* A "NAME: VALUE" line of a /proc file. */
static uint64_t proc_field(const char *path, const char *name)
{
	char line[256];
	size_t len = strlen(name);
	uint64_t val = 0;
	FILE *fp;

	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		if (!strncmp(line, name, len) && line[len] == ':') {
			sscanf(line + len + 1, "%" SCNu64, &val);
			break;
		}
	}
	fclose(fp);
	return val;
}

void io_read(const struct io_source *s, struct io_counters *c)
{
	c->dev_bytes = dev_written(s);
	c->proc_bytes = proc_field("/proc/self/io", "write_bytes");
	c->proc_read_bytes = proc_field("/proc/self/io", "read_bytes");
}

/* Write text to a sysfs/procfs/cgroupfs file; async-signal-safe. */
int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int read_u64(const char *path, uint64_t *val)
{
	unsigned long long v;
	FILE *fp = fopen(path, "r");
	int n;

	if (!fp)
		return -errno;
	n = fscanf(fp, "%llu", &v);
	fclose(fp);
	if (n != 1)
		return -EINVAL;
	*val = v;
	return 0;
}

/* Write back everything dirty on the file system under path. */
int path_syncfs(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (syncfs(fd))
		rc = -errno;
	close(fd);
	return rc;
}

static int evict_one(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	int fd;

	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return 0;
}

/*
 * Drop the cached pages of the files under path (or of path itself), so
 * that a run in a memory cgroup does not read pages cached, and charged
 * elsewhere, by an earlier run.
 */
void path_evict(const char *path)
{
	nftw(path, evict_one, 16, FTW_PHYS);
}

/*
 * User + system CPU time of the process in nanoseconds: all its threads,
 * the engine's background threads included, and the kernel's work done in
 * them (system calls, the module's ioctls), but not kernel threads' work.
 */
uint64_t cpu_time_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/* Reset VmHWM (Linux 4.0+). */
void rss_reset_peak(void)
{
	write_file("/proc/self/clear_refs", "5");
}

uint64_t rss_peak(void)
{
	return proc_field("/proc/self/status", "VmHWM") * 1024;
}
