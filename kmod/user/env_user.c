// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace environment of the betrkv core: logging, randomness, time
 * and block I/O on a file or block device (optionally O_DIRECT; flushes are
 * fdatasync).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "../env.h"

struct betrkv_dev {
	char *name;
	int fd;
	u64 size;
	u32 block_size;
};

static void log_stderr(int level, const char *msg)
{
	fprintf(stderr, "betrkv: %s\n", msg);
}

static void (*log_fn)(int level, const char *msg) = log_stderr;

/**
 * betrkv_user_set_log() - route the core's log lines.
 * @fn: called with each line (no trailing newline); NULL silences the core
 */
void betrkv_user_set_log(void (*fn)(int level, const char *msg))
{
	log_fn = fn;
}

void betrkv_user_log(int level, const char *fmt, ...)
{
	char line[512];
	size_t len;
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	log_fn(level, line);
}

void get_random_bytes(void *buf, size_t len)
{
	u8 *p = buf;
	ssize_t n;

	while (len) {
		n = getrandom(p, len, 0);
		if (n <= 0)
			abort();
		p += n;
		len -= n;
	}
}

s64 ktime_get_real_seconds(void)
{
	return time(NULL);
}

/**
 * betrkv_user_dev_open() - open a file or block device for the core.
 * @path: the file or device
 * @read_only: open O_RDONLY
 * @direct: bypass the page cache (O_DIRECT)
 * @devp: receives the device
 *
 * Return: 0 or a negative errno.
 */
int betrkv_user_dev_open(const char *path, bool read_only, bool direct,
			 struct betrkv_dev **devp)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct betrkv_dev *dev;
	struct stat st;
	int ret;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->name = strdup(path);
	if (!dev->name) {
		ret = -ENOMEM;
		goto out_free;
	}
	dev->fd = open(path, flags | (direct ? O_DIRECT : 0));
	if (dev->fd < 0) {
		ret = -errno;
		goto out_free;
	}
	if (fstat(dev->fd, &st)) {
		ret = -errno;
		goto out_close;
	}
	dev->block_size = 512;
	if (S_ISBLK(st.st_mode)) {
		int lbs;

		if (ioctl(dev->fd, BLKGETSIZE64, &dev->size) ||
		    ioctl(dev->fd, BLKSSZGET, &lbs)) {
			ret = -errno;
			goto out_close;
		}
		dev->block_size = lbs;
	} else if (S_ISREG(st.st_mode)) {
		dev->size = st.st_size;
	} else {
		ret = -ENOTBLK;
		goto out_close;
	}
	*devp = dev;
	return 0;

out_close:
	close(dev->fd);
out_free:
	free(dev->name);
	free(dev);
	return ret;
}

void betrkv_user_dev_close(struct betrkv_dev *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev->name);
	free(dev);
}

const char *betrkv_dev_name(const struct betrkv_dev *dev)
{
	return dev->name;
}

u64 betrkv_dev_size(const struct betrkv_dev *dev)
{
	return dev->size;
}

u32 betrkv_dev_block_size(const struct betrkv_dev *dev)
{
	return dev->block_size;
}

static int dev_check_range(const struct betrkv_dev *dev, u64 off, size_t len)
{
	if (!IS_ALIGNED(off, dev->block_size) ||
	    !IS_ALIGNED(len, dev->block_size) || !len)
		return -EINVAL;
	if (off > dev->size || len > dev->size - off)
		return -ENOSPC;
	return 0;
}

int betrkv_dev_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	ssize_t n;
	int ret;

	ret = dev_check_range(dev, off, len);
	if (ret)
		return ret;
	while (len) {
		n = pread(dev->fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (u8 *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

int betrkv_dev_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	ssize_t n;
	int ret;

	ret = dev_check_range(dev, off, len);
	if (ret)
		return ret;
	if ((flags & BETRKV_IO_PREFLUSH) && fdatasync(dev->fd))
		return -errno;
	while (len) {
		n = pwrite(dev->fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const u8 *)buf + n;
		off += n;
		len -= n;
	}
	if ((flags & BETRKV_IO_FUA) && fdatasync(dev->fd))
		return -errno;
	return 0;
}
