// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace environment of the betrkv core: logging, randomness, time,
 * allocation fault injection and block I/O on a file or block device
 * (optionally O_DIRECT; flushes are fdatasync).
 */
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "dev_user.h"

/* A file or block device. */
struct file_dev {
	struct betrkv_dev dev;
	int fd;
};

static const struct betrkv_dev_ops file_dev_ops;

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

void betrkv_user_warn(const char *file, int line, const char *cond)
{
	void *frames[32];

	fprintf(stderr, "WARNING: %s:%d: %s\n", file, line, cond);
	backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
	abort();
}

u64 betrkv_user_alloc_count;
u64 betrkv_user_alloc_fail_at;

/**
 * betrkv_user_fail_alloc() - make one allocation of the core fail.
 * @nth: the allocation to fail, counting from 1 for the next one; 0 for none
 */
void betrkv_user_fail_alloc(u64 nth)
{
	u64 now = __atomic_load_n(&betrkv_user_alloc_count, __ATOMIC_RELAXED);

	__atomic_store_n(&betrkv_user_alloc_fail_at, nth ? now + nth : 0,
			 __ATOMIC_RELAXED);
}

/**
 * betrkv_user_allocs() - how many allocations the core has made (or tried).
 *
 * Return: the count since the program started.
 */
u64 betrkv_user_allocs(void)
{
	return __atomic_load_n(&betrkv_user_alloc_count, __ATOMIC_RELAXED);
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
	struct file_dev *fdev;
	struct stat st;
	int ret;

	fdev = calloc(1, sizeof(*fdev));
	if (!fdev)
		return -ENOMEM;
	fdev->dev.ops = &file_dev_ops;
	fdev->dev.name = strdup(path);
	if (!fdev->dev.name) {
		ret = -ENOMEM;
		goto out_free;
	}
	fdev->fd = open(path, flags | (direct ? O_DIRECT : 0));
	if (fdev->fd < 0) {
		ret = -errno;
		goto out_free;
	}
	if (fstat(fdev->fd, &st)) {
		ret = -errno;
		goto out_close;
	}
	fdev->dev.block_size = 512;
	if (S_ISBLK(st.st_mode)) {
		int lbs;

		if (ioctl(fdev->fd, BLKGETSIZE64, &fdev->dev.size) ||
		    ioctl(fdev->fd, BLKSSZGET, &lbs)) {
			ret = -errno;
			goto out_close;
		}
		fdev->dev.block_size = lbs;
	} else if (S_ISREG(st.st_mode)) {
		fdev->dev.size = st.st_size;
	} else {
		ret = -ENOTBLK;
		goto out_close;
	}
	*devp = &fdev->dev;
	return 0;

out_close:
	close(fdev->fd);
out_free:
	free(fdev->dev.name);
	free(fdev);
	return ret;
}

static void file_dev_close(struct betrkv_dev *dev)
{
	struct file_dev *fdev = (struct file_dev *)dev;

	close(fdev->fd);
	free(dev->name);
	free(fdev);
}

/**
 * betrkv_user_dev_close() - close a device of any kind.
 * @dev: the device, or NULL
 */
void betrkv_user_dev_close(struct betrkv_dev *dev)
{
	if (dev)
		dev->ops->close(dev);
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

static int file_dev_read(struct betrkv_dev *dev, u64 off, void *buf,
			 size_t len)
{
	int fd = ((struct file_dev *)dev)->fd;
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, off);
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

static int file_dev_write(struct betrkv_dev *dev, u64 off, const void *buf,
			  size_t len, unsigned int flags)
{
	int fd = ((struct file_dev *)dev)->fd;
	ssize_t n;

	if ((flags & BETRKV_IO_PREFLUSH) && fdatasync(fd))
		return -errno;
	while (len) {
		n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const u8 *)buf + n;
		off += n;
		len -= n;
	}
	if ((flags & BETRKV_IO_FUA) && fdatasync(fd))
		return -errno;
	return 0;
}

static const struct betrkv_dev_ops file_dev_ops = {
	.read = file_dev_read,
	.write = file_dev_write,
	.close = file_dev_close,
};

int betrkv_dev_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	int ret = dev_check_range(dev, off, len);

	return ret ? ret : dev->ops->read(dev, off, buf, len);
}

int betrkv_dev_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	int ret = dev_check_range(dev, off, len);

	return ret ? ret : dev->ops->write(dev, off, buf, len, flags);
}

struct betrkv_worker {
	pthread_t thread;
	pthread_mutex_t m;
	pthread_cond_t c;		/* on CLOCK_MONOTONIC */
	bool kicked;
	bool stop;
	void (*fn)(void *arg);
	void *arg;
	void (*tfn)(void *arg);		/* the timer's, NULL until it is set */
	unsigned int period_ms;
	struct timespec due;		/* of the timer's next run */
};

static void timespec_add_ms(struct timespec *t, unsigned int ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

static bool timer_due(const struct betrkv_worker *w)
{
	struct timespec now;

	if (!w->tfn)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->due.tv_sec ||
	       (now.tv_sec == w->due.tv_sec && now.tv_nsec >= w->due.tv_nsec);
}

/* Wait for a kick or a stop, and with a timer set, at most until it is due. */
static void worker_wait(struct betrkv_worker *w)
{
	if (w->tfn)
		pthread_cond_timedwait(&w->c, &w->m, &w->due);
	else
		pthread_cond_wait(&w->c, &w->m);
}

/* Run @fn(@arg) with the worker's mutex, which the caller holds, dropped. */
static void worker_call(struct betrkv_worker *w, void (*fn)(void *arg))
{
	pthread_mutex_unlock(&w->m);
	fn(w->arg);
	pthread_mutex_lock(&w->m);
}

static void *worker_main(void *p)
{
	struct betrkv_worker *w = p;

	pthread_mutex_lock(&w->m);
	for (;;) {
		while (!w->kicked && !w->stop && !timer_due(w))
			worker_wait(w);
		if (w->stop)
			break;
		if (w->kicked) {
			w->kicked = false;
			worker_call(w, w->fn);
			continue;
		}
		worker_call(w, w->tfn);
		clock_gettime(CLOCK_MONOTONIC, &w->due);
		timespec_add_ms(&w->due, w->period_ms);
	}
	pthread_mutex_unlock(&w->m);
	return NULL;
}

int betrkv_worker_start(const char *name, void (*fn)(void *arg), void *arg,
			struct betrkv_worker **wp)
{
	struct betrkv_worker *w = kzalloc(sizeof(*w), GFP_KERNEL);
	pthread_condattr_t attr;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->m, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->c, &attr);
	pthread_condattr_destroy(&attr);
	w->fn = fn;
	w->arg = arg;
	if (pthread_create(&w->thread, NULL, worker_main, w)) {
		kfree(w);
		return -ENOMEM;
	}
	*wp = w;
	return 0;
}

void betrkv_worker_kick(struct betrkv_worker *w)
{
	pthread_mutex_lock(&w->m);
	w->kicked = true;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

/* The timer: a timed wait in the worker's thread. */
void betrkv_worker_every(struct betrkv_worker *w, void (*tfn)(void *arg),
			 unsigned int ms)
{
	WARN_ON_ONCE(w->tfn || !ms);
	pthread_mutex_lock(&w->m);
	w->tfn = tfn;
	w->period_ms = ms;
	clock_gettime(CLOCK_MONOTONIC, &w->due);
	timespec_add_ms(&w->due, ms);
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

void betrkv_worker_stop(struct betrkv_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->m);
	w->stop = true;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
	kfree(w);
}
