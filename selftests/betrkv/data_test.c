// SPDX-License-Identifier: GPL-2.0
/*
 * The data ioctls of /dev/betrkv<N>, straight through ioctl(): dictionary
 * semantics, limits, batches, scans and paging, sync and stats, data
 * surviving unbind and bind, read-only binds, every malformed request with
 * its errno (and nothing changed), and several threads at once against
 * per-thread reference models.  Also: the commit interval in STATUS and
 * sysfs, the periodic commit making a put durable without a sync, and
 * refusals of a user without CAP_SYS_ADMIN not flooding the kernel log.
 */
#include <pthread.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "kselftest_harness.h"
#include "vmtest.h"
#include "../rng.h"

struct store {
	u32 index;
	int fd;
};

static int kv(int fd, unsigned long cmd, const void *key, u32 klen,
	      void *val, u32 *vlen, u64 *seq)
{
	struct betrkv_kv_args a = { .size = sizeof(a), .key = (u64)(uintptr_t)key,
		.key_len = klen, .value = (u64)(uintptr_t)val,
		.value_len = vlen ? *vlen : 0 };
	int ret = ioctl(fd, cmd, &a) ? -errno : 0;

	if (vlen)
		*vlen = a.value_len;
	if (seq)
		*seq = a.seq;
	return ret;
}

static int put(int fd, const char *key, const char *val, u64 *seq)
{
	u32 vlen = strlen(val);

	return kv(fd, BETRKV_IOC_PUT, key, strlen(key), (void *)val, &vlen, seq);
}

static int del(int fd, const char *key)
{
	return kv(fd, BETRKV_IOC_DELETE, key, strlen(key), NULL, NULL, NULL);
}

/* Get into a static buffer, NUL-terminated; returns the errno or 0. */
static int get(int fd, const char *key, const char **val)
{
	static __thread char buf[BETRKV_VALUE_MAX + 1];
	u32 vlen = BETRKV_VALUE_MAX;
	int ret = kv(fd, BETRKV_IOC_GET, key, strlen(key), buf, &vlen, NULL);

	buf[ret ? 0 : vlen] = '\0';
	*val = buf;
	return ret;
}

static u64 sync_store(int fd)
{
	struct betrkv_sync_args a = { .size = sizeof(a) };

	return ioctl(fd, BETRKV_IOC_SYNC, &a) ? 0 : a.durable_seq;
}

static int open_store_opts(struct store *s, const struct betrkv_bind_opts *opts,
			   int mode)
{
	char path[64];
	int err = betrkv_bind(DISK_A, opts, &s->index);

	if (err)
		return err;
	snprintf(path, sizeof(path), "/dev/betrkv%u", s->index);
	s->fd = open(path, mode);
	return s->fd < 0 ? -errno : 0;
}

static int open_store(struct store *s, bool read_only, int mode)
{
	struct betrkv_bind_opts opts = { .read_only = read_only };

	return open_store_opts(s, &opts, mode);
}

static void close_store(struct store *s)
{
	close(s->fd);
	betrkv_unbind(s->index);
}

FIXTURE(data) {
	struct store s;
};

FIXTURE_SETUP(data)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	ASSERT_EQ(0, betrkv_format(DISK_A, NULL, NULL));
	ASSERT_EQ(0, open_store(&self->s, false, O_RDWR));
}

FIXTURE_TEARDOWN(data)
{
	close_store(&self->s);
}

TEST_F(data, dictionary)
{
	int fd = self->s.fd;
	const char *v;
	u64 s1, s2, s3;

	EXPECT_EQ(-ENOENT, get(fd, "apple", &v));
	EXPECT_EQ(0, put(fd, "apple", "red", &s1));
	EXPECT_EQ(0, get(fd, "apple", &v));
	EXPECT_STREQ("red", v);
	EXPECT_EQ(0, put(fd, "apple", "green", &s2));
	EXPECT_GT(s2, s1);
	EXPECT_EQ(0, get(fd, "apple", &v));
	EXPECT_STREQ("green", v);
	EXPECT_EQ(0, put(fd, "empty", "", NULL));
	EXPECT_EQ(0, get(fd, "empty", &v));
	EXPECT_STREQ("", v);
	EXPECT_EQ(0, del(fd, "apple"));
	EXPECT_EQ(-ENOENT, get(fd, "apple", &v));
	EXPECT_EQ(0, del(fd, "never-there"));
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_DELETE, "x", 1, NULL, NULL, &s3));
	EXPECT_GT(s3, s2);
}

TEST_F(data, limits)
{
	static u8 key[BETRKV_KEY_MAX + 1], val[BETRKV_VALUE_MAX + 1], back[BETRKV_VALUE_MAX];
	int fd = self->s.fd;
	u32 vlen;

	memset(key, 'k', sizeof(key));
	memset(val, 'v', sizeof(val));
	vlen = BETRKV_VALUE_MAX;
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_PUT, key, BETRKV_KEY_MAX, val, &vlen, NULL));
	vlen = sizeof(back);
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_GET, key, BETRKV_KEY_MAX, back, &vlen, NULL));
	EXPECT_EQ(BETRKV_VALUE_MAX, vlen);
	EXPECT_EQ(0, memcmp(val, back, vlen));
	vlen = 1;
	EXPECT_EQ(-E2BIG, kv(fd, BETRKV_IOC_PUT, key, BETRKV_KEY_MAX + 1, val, &vlen, NULL));
	vlen = BETRKV_VALUE_MAX + 1;
	EXPECT_EQ(-E2BIG, kv(fd, BETRKV_IOC_PUT, key, 1, val, &vlen, NULL));
	vlen = 1;
	EXPECT_EQ(-EINVAL, kv(fd, BETRKV_IOC_PUT, key, 0, val, &vlen, NULL));
	/* A buffer too small: ERANGE, the length needed, the buffer untouched. */
	memset(back, 0xa5, sizeof(back));
	vlen = BETRKV_VALUE_MAX - 1;
	EXPECT_EQ(-ERANGE, kv(fd, BETRKV_IOC_GET, key, BETRKV_KEY_MAX, back, &vlen, NULL));
	EXPECT_EQ(BETRKV_VALUE_MAX, vlen);
	EXPECT_EQ(0xa5, back[0]);
	EXPECT_EQ(0xa5, back[BETRKV_VALUE_MAX - 2]);
	/* A cap far past any value costs the kernel only the value's length. */
	vlen = UINT32_MAX;
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_GET, key, BETRKV_KEY_MAX, back, &vlen, NULL));
	EXPECT_EQ(BETRKV_VALUE_MAX, vlen);
	EXPECT_EQ(0, memcmp(val, back, vlen));
	/* An empty value needs no buffer at all. */
	vlen = 0;
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_PUT, key, 1, val, &vlen, NULL));
	EXPECT_EQ(0, kv(fd, BETRKV_IOC_GET, key, 1, NULL, &vlen, NULL));
	EXPECT_EQ(0, vlen);
}

TEST_F(data, batch)
{
	struct betrkv_batch_op ops[3] = {
		{ .type = BETRKV_PUT, .key = (u64)(uintptr_t)"a", .key_len = 1,
		  .value = (u64)(uintptr_t)"1", .value_len = 1 },
		{ .type = BETRKV_PUT, .key = (u64)(uintptr_t)"b", .key_len = 1,
		  .value = (u64)(uintptr_t)"2", .value_len = 1 },
		{ .type = BETRKV_DELETE, .key = (u64)(uintptr_t)"a", .key_len = 1 },
	};
	struct betrkv_batch_args a = { .size = sizeof(a), .ops = (u64)(uintptr_t)ops,
				       .nops = 3 };
	int fd = self->s.fd;
	const char *v;
	u64 before;

	ASSERT_EQ(0, put(fd, "z", "0", &before));
	ASSERT_EQ(0, ioctl(fd, BETRKV_IOC_BATCH, &a));
	EXPECT_EQ(before + 1, a.seq);	/* one sequence number for the batch */
	EXPECT_EQ(-ENOENT, get(fd, "a", &v));
	EXPECT_EQ(0, get(fd, "b", &v));
	EXPECT_STREQ("2", v);
	/* A bad op anywhere: nothing of the batch is applied. */
	ops[0].value = (u64)(uintptr_t)"9";
	ops[2].type = 7;
	a.seq = 0;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_BATCH, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOENT, get(fd, "a", &v));
	a.nops = 0;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_BATCH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.nops = BETRKV_BATCH_OPS_MAX + 1;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_BATCH, &a));
	EXPECT_EQ(E2BIG, errno);
}

/* Scan [start, end) (end NULL: to the end) in pages; keys joined by ','. */
static int scan_all(int fd, const char *start, const char *end, u32 page,
		    char *out, size_t cap)
{
	static u8 buf[1 << 16];
	char key[BETRKV_KEY_MAX + 1];
	struct betrkv_scan_args a;
	size_t len = 0;
	u32 i, off;

	strcpy(key, start);
	out[0] = '\0';
	a = (struct betrkv_scan_args){ .size = sizeof(a), .start_len = strlen(key),
		.start = (u64)(uintptr_t)key, .buf = (u64)(uintptr_t)buf,
		.buf_len = sizeof(buf), .max_pairs = page,
		.flags = end ? 0 : BETRKV_SCAN_TO_END,
		.end = (u64)(uintptr_t)end, .end_len = end ? strlen(end) : 0 };
	do {
		a.count = a.more = 0;
		if (ioctl(fd, BETRKV_IOC_SCAN, &a))
			return -errno;
		for (i = 0, off = 0; i < a.count; i++) {
			struct betrkv_scan_rec *r = (void *)(buf + off);

			len += snprintf(out + len, cap - len, "%s%.*s=%.*s", len ? "," : "",
					r->key_len, (char *)(r + 1), r->value_len,
					(char *)(r + 1) + r->key_len);
			memcpy(key, r + 1, r->key_len);
			key[r->key_len] = '\0';
			a.start_len = r->key_len;
			off += ALIGN(sizeof(*r) + r->key_len + r->value_len, 8);
		}
		a.flags |= BETRKV_SCAN_AFTER;
	} while (a.more);
	return 0;
}

TEST_F(data, scan)
{
	static const char *keys[] = { "b", "a", "c", "ab", "d", "e" };
	static u8 small[16];
	int fd = self->s.fd;
	char out[256];
	struct betrkv_scan_args a = { .size = sizeof(a) };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		ASSERT_EQ(0, put(fd, keys[i], keys[i], NULL));
	ASSERT_EQ(0, del(fd, "c"));
	ASSERT_EQ(0, scan_all(fd, "a", NULL, 100, out, sizeof(out)));
	EXPECT_STREQ("a=a,ab=ab,b=b,d=d,e=e", out);
	ASSERT_EQ(0, scan_all(fd, "a", NULL, 1, out, sizeof(out)));
	EXPECT_STREQ("a=a,ab=ab,b=b,d=d,e=e", out);
	ASSERT_EQ(0, scan_all(fd, "ab", "d", 2, out, sizeof(out)));
	EXPECT_STREQ("ab=ab,b=b", out);
	ASSERT_EQ(0, scan_all(fd, "b", "b", 2, out, sizeof(out)));
	EXPECT_STREQ("", out);
	EXPECT_EQ(-EINVAL, scan_all(fd, "d", "a", 2, out, sizeof(out)));
	/* A buffer too small for the first pair. */
	a = (struct betrkv_scan_args){ .size = sizeof(a), .flags = BETRKV_SCAN_TO_END,
		.start = (u64)(uintptr_t)"a", .start_len = 1,
		.buf = (u64)(uintptr_t)small, .buf_len = 8, .max_pairs = 5 };
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_SCAN, &a));
	EXPECT_EQ(ERANGE, errno);
	a.max_pairs = 0;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_SCAN, &a));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(data, sync_stats_and_persistence)
{
	struct betrkv_stats_args st = { .size = sizeof(st) };
	int fd = self->s.fd;
	const char *v;
	char path[64];
	u64 seq;

	ASSERT_EQ(0, put(fd, "durable", "yes", &seq));
	EXPECT_EQ(seq, sync_store(fd));
	ASSERT_EQ(0, ioctl(fd, BETRKV_IOC_STATS, &st));
	EXPECT_EQ(1, st.puts);
	EXPECT_EQ(1, st.syncs);
	EXPECT_EQ(seq, st.seq);
	EXPECT_EQ(seq, st.durable_seq);
	EXPECT_EQ(BETRKV_KEY_MAX, st.key_max);
	EXPECT_EQ(BETRKV_VALUE_MAX, st.value_max);
	EXPECT_EQ(BETRKV_NODE_SIZE_DEFAULT, st.node_size);
	EXPECT_LT(0, st.journal_bytes_written);
	/* The same counters in sysfs. */
	EXPECT_STREQ("1", store_attr(self->s.index, "stats/puts"));
	EXPECT_STREQ("1", store_attr(self->s.index, "stats/syncs"));
	EXPECT_STREQ("65536", store_attr(self->s.index, "stats/value_max"));
	snprintf(path, sizeof(path), "%llu", seq);
	EXPECT_STREQ(path, store_attr(self->s.index, "stats/durable_seq"));
	snprintf(path, sizeof(path), "%llu", st.node_appends);
	EXPECT_STREQ(path, store_attr(self->s.index, "stats/node_appends"));
	snprintf(path, sizeof(path), "%llu", st.bloom_skips);
	EXPECT_STREQ(path, store_attr(self->s.index, "stats/bloom_skips"));
	EXPECT_EQ(0, st.reserved[0] | st.reserved[1] | st.reserved[2] | st.reserved[3]);
	close_store(&self->s);

	ASSERT_EQ(0, open_store(&self->s, true, O_RDONLY));
	fd = self->s.fd;
	EXPECT_EQ(0, get(fd, "durable", &v));
	EXPECT_STREQ("yes", v);
	EXPECT_EQ(-EBADF, put(fd, "no", "no", NULL));
	close(fd);
	snprintf(path, sizeof(path), "/dev/betrkv%u", self->s.index);
	self->s.fd = open(path, O_RDWR);
	ASSERT_LE(0, self->s.fd);
	EXPECT_EQ(-EROFS, put(self->s.fd, "no", "no", NULL));
}

/* STATUS and sysfs show the commit interval: default, given, read-only. */
TEST_F(data, commit_interval_in_status)
{
	struct betrkv_bind_opts opts = { .read_only = true, .salvage = true };
	struct betrkv_status_args st;

	ASSERT_EQ(0, betrkv_status(self->s.index, &st));
	EXPECT_EQ(BETRKV_COMMIT_MS_DEFAULT, st.commit_ms);
	EXPECT_EQ(0, st.salvaged);
	EXPECT_STREQ("5000", store_attr(self->s.index, "commit_ms"));
	EXPECT_STREQ("0", store_attr(self->s.index, "salvaged"));
	close_store(&self->s);
	/* Read-only never commits; a clean journal salvages nothing. */
	ASSERT_EQ(0, open_store_opts(&self->s, &opts, O_RDONLY));
	ASSERT_EQ(0, betrkv_status(self->s.index, &st));
	EXPECT_EQ(0, st.commit_ms);
	EXPECT_EQ(0, st.salvaged);
	EXPECT_STREQ("0", store_attr(self->s.index, "commit_ms"));
	close_store(&self->s);
	opts = (struct betrkv_bind_opts){ .set_commit_ms = true, .commit_ms = 1500 };
	ASSERT_EQ(0, open_store_opts(&self->s, &opts, O_RDWR));
	ASSERT_EQ(0, betrkv_status(self->s.index, &st));
	EXPECT_EQ(1500, st.commit_ms);
	EXPECT_STREQ("1500", store_attr(self->s.index, "commit_ms"));
}

/*
 * An acknowledged put becomes durable within the commit interval with no
 * sync: the journal is written and flushed by the store itself.
 */
TEST_F_TIMEOUT(data, periodic_commit, 120)
{
	struct betrkv_bind_opts opts = { .set_commit_ms = true, .commit_ms = 200 };
	struct betrkv_stats_args st = { .size = sizeof(st) };
	u64 seq, flushes;
	int i;

	close_store(&self->s);
	ASSERT_EQ(0, open_store_opts(&self->s, &opts, O_RDWR));
	ASSERT_EQ(0, ioctl(self->s.fd, BETRKV_IOC_STATS, &st));
	flushes = st.journal_flushes;
	ASSERT_EQ(0, put(self->s.fd, "committed", "without a sync", &seq));
	for (i = 0; i < 600; i++) {	/* TCG is slow: up to a minute */
		ASSERT_EQ(0, ioctl(self->s.fd, BETRKV_IOC_STATS, &st));
		if (st.durable_seq >= seq)
			break;
		usleep(100000);
	}
	TH_LOG("durable after about %d ms", i * 100);
	EXPECT_LE(seq, st.durable_seq);
	EXPECT_LT(flushes, st.journal_flushes);
	EXPECT_LT(0, st.journal_blocks_written);
	EXPECT_EQ(0, st.syncs);
}

/* Drop or restore CAP_SYS_ADMIN in the effective set. */
static int set_sys_admin(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2];

	if (syscall(SYS_capget, &hdr, caps))
		return -errno;
	if (on)
		caps[CAP_SYS_ADMIN / 32].effective |= 1u << (CAP_SYS_ADMIN % 32);
	else
		caps[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &hdr, caps) ? -errno : 0;
}

/* Lines of the kernel log that hold @needle. */
static int klog_count(const char *needle)
{
	static char buf[1 << 20];
	int n = klogctl(3, buf, sizeof(buf) - 1), count = 0;
	const char *p = buf;

	if (n < 0)
		return -1;
	buf[n] = '\0';
	while ((p = strstr(p, needle))) {
		count++;
		p += strlen(needle);
	}
	return count;
}

/*
 * 200 malformed requests from a user without CAP_SYS_ADMIN leave a bounded
 * number of log lines (the ratelimit: 10 per 5 seconds), each still naming
 * its reason; an administrator's refusals are all logged.
 */
TEST_F_TIMEOUT(data, refusals_do_not_flood_the_log, 120)
{
	struct betrkv_kv_args a = { .size = 8, .key = (u64)(uintptr_t)"k", .key_len = 1 };
	struct timespec t0, t1;
	int i, lines, bound;

	klog_clear();
	ASSERT_EQ(0, set_sys_admin(false));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 200; i++)
		EXPECT_EQ(-1, ioctl(self->s.fd, BETRKV_IOC_GET, &a));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(0, set_sys_admin(true));
	lines = klog_count("get: argument size 8, expected");
	bound = 10 * ((t1.tv_sec - t0.tv_sec) / 5 + 2);
	TH_LOG("%d lines in %ld s", lines, (long)(t1.tv_sec - t0.tv_sec));
	EXPECT_LE(1, lines);
	EXPECT_GE(bound, lines);
	/* Root sees every reason. */
	klog_clear();
	for (i = 0; i < 20; i++)
		EXPECT_EQ(-1, ioctl(self->s.fd, BETRKV_IOC_GET, &a));
	EXPECT_EQ(20, klog_count("get: argument size 8, expected"));
}

TEST_F(data, malformed_requests)
{
	void *unmapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct betrkv_kv_args a = { .size = sizeof(a), .key = (u64)(uintptr_t)"k",
				    .key_len = 1, .value = (u64)(uintptr_t)"v",
				    .value_len = 1 };
	int fd = self->s.fd;
	const char *v;

	munmap(unmapped, 4096);
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, unmapped));
	EXPECT_EQ(EFAULT, errno);
	a.key = (u64)(uintptr_t)unmapped;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(EFAULT, errno);
	a.key = (u64)(uintptr_t)"k";
	a.value = (u64)(uintptr_t)unmapped;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(EFAULT, errno);
	a.value = (u64)(uintptr_t)"v";
	a.size = 8;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(EINVAL, errno);
	a.size = sizeof(a);
	a.flags = 4;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = 0;
	a.reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(EINVAL, errno);
	a.reserved[2] = 0;
	a.value_len = 0xffffffff;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_PUT, &a));
	EXPECT_EQ(E2BIG, errno);
	a.value_len = 1;
	EXPECT_EQ(-1, ioctl(fd, BETRKV_IOC_DELETE, &a));	/* a value on delete */
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, _IO(BETRKV_IOCTL_TYPE, 0x3f)));
	EXPECT_EQ(ENOTTY, errno);
	/* Nothing of the above changed the store. */
	EXPECT_EQ(-ENOENT, get(fd, "k", &v));
	EXPECT_EQ(0, sync_store(fd));
}

#define THREADS		4
#define THREAD_KEYS	200
#define THREAD_OPS	1500

struct worker {
	int fd;
	u32 id;
	int failures;
	char val[THREAD_KEYS][32];	/* "" = absent */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	u64 rng = w->id + 1;
	char key[32], val[32];
	const char *got;
	u32 op, i;

	for (op = 0; op < THREAD_OPS; op++) {
		u32 r = rng_below(&rng, 10);

		i = rng_below(&rng, THREAD_KEYS);
		snprintf(key, sizeof(key), "t%u-%04u", w->id, i);
		if (r < 5) {
			snprintf(val, sizeof(val), "%s-v%u", key, op);
			w->failures += put(w->fd, key, val, NULL) != 0;
			strcpy(w->val[i], val);
		} else if (r < 7) {
			w->failures += del(w->fd, key) != 0;
			w->val[i][0] = '\0';
		} else {
			int err = get(w->fd, key, &got);

			w->failures += w->val[i][0] ? err || strcmp(got, w->val[i]) :
						      err != -ENOENT;
		}
	}
	return NULL;
}

TEST_F(data, threads)
{
	static struct worker w[THREADS];
	pthread_t t[THREADS];
	const char *got;
	char key[32];
	u32 i, k;

	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].fd = self->s.fd;
		w[i].id = i;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, work, &w[i]));
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, w[i].failures) TH_LOG("thread %u", i);
	}
	/* After a rebind, every thread's final state is there. */
	sync_store(self->s.fd);
	close_store(&self->s);
	ASSERT_EQ(0, open_store(&self->s, false, O_RDWR));
	for (i = 0; i < THREADS; i++) {
		for (k = 0; k < THREAD_KEYS; k++) {
			snprintf(key, sizeof(key), "t%u-%04u", i, k);
			if (w[i].val[k][0]) {
				ASSERT_EQ(0, get(self->s.fd, key, &got)) TH_LOG("%s", key);
				ASSERT_STREQ(w[i].val[k], got);
			} else {
				ASSERT_EQ(-ENOENT, get(self->s.fd, key, &got)) TH_LOG("%s", key);
			}
		}
	}
}

/* Kernel memory of parallel scans over large values: bounded by bytes. */
#define BIG_VALUES	192u
#define SCANNERS	6u
#define SCAN_ROUNDS	6u
#define SCAN_BUF	(128u << 10)

static long mem_available_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct scanner {
	int fd;
	u8 *buf;
	u32 failures;
};

/* Read every pair once, one per call: the cache then holds the store. */
static int scan_pairs(int fd, u8 *buf)
{
	struct betrkv_scan_args a = { .size = sizeof(a), .flags = BETRKV_SCAN_TO_END,
		.buf = (u64)(uintptr_t)buf, .buf_len = SCAN_BUF, .max_pairs = 1 };
	char key[BETRKV_KEY_MAX] = "a";		/* below every "big" key */
	struct betrkv_scan_rec *r = (void *)buf;
	int n = 0;

	a.start = (u64)(uintptr_t)key;
	a.start_len = 1;
	do {
		a.count = a.more = 0;
		if (ioctl(fd, BETRKV_IOC_SCAN, &a) || a.count > 1)
			return -1;
		if (!a.count)
			break;
		memcpy(key, r + 1, r->key_len);
		a.start_len = r->key_len;
		a.flags |= BETRKV_SCAN_AFTER;
		n++;
	} while (a.more);
	return n;
}

/* Whole-store scans into a 128 KiB buffer asking for 4096 pairs. */
static void *scan_work(void *arg)
{
	struct scanner *sc = arg;
	struct betrkv_scan_args a;
	u32 r;

	for (r = 0; r < SCAN_ROUNDS; r++) {
		a = (struct betrkv_scan_args){ .size = sizeof(a),
			.flags = BETRKV_SCAN_TO_END, .start = (u64)(uintptr_t)"a",
			.start_len = 1,
			.buf = (u64)(uintptr_t)sc->buf, .buf_len = SCAN_BUF,
			.max_pairs = 4096 };
		sc->failures += ioctl(sc->fd, BETRKV_IOC_SCAN, &a) || a.count != 1 ||
				!a.more;
	}
	return NULL;
}

/*
 * Scans on a read-only descriptor over 64 KiB values, in parallel, each
 * asking for far more pairs than its buffer holds: what the module holds
 * for them is bounded by their buffers, not by max_pairs (the free memory
 * of the guest falls by little more than the buffers, with the cache warm).
 */
TEST_F_TIMEOUT(data, parallel_scans_bounded, 300)
{
	static u8 val[BETRKV_VALUE_MAX];
	static struct scanner sc[SCANNERS];
	pthread_t t[SCANNERS];
	bool joined[SCANNERS] = { false };
	long before, low, now;
	char path[64], key[16];
	u32 vlen, i, busy;
	int ro;

	memset(val, 'v', sizeof(val));
	for (i = 0; i < BIG_VALUES; i++) {
		vlen = sizeof(val);
		snprintf(key, sizeof(key), "big%04u", i);
		ASSERT_EQ(0, kv(self->s.fd, BETRKV_IOC_PUT, key, strlen(key), val, &vlen,
				NULL));
	}
	sync_store(self->s.fd);
	snprintf(path, sizeof(path), "/dev/betrkv%u", self->s.index);
	ro = open(path, O_RDONLY);
	ASSERT_LE(0, ro);
	for (i = 0; i < SCANNERS; i++) {
		sc[i] = (struct scanner){ .fd = ro, .buf = malloc(SCAN_BUF) };
		ASSERT_NE(NULL, sc[i].buf);
		memset(sc[i].buf, 0, SCAN_BUF);
	}
	ASSERT_EQ(BIG_VALUES, scan_pairs(ro, sc[0].buf));
	before = low = mem_available_kib();
	ASSERT_LT(0, before);
	for (i = 0; i < SCANNERS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, scan_work, &sc[i]));
	do {
		now = mem_available_kib();
		low = now < low ? now : low;
		usleep(2000);
		for (i = busy = 0; i < SCANNERS; i++) {
			if (!joined[i])
				joined[i] = !pthread_tryjoin_np(t[i], NULL);
			busy += !joined[i];
		}
	} while (busy);
	ksft_print_msg("free memory %ld KiB before, %ld KiB at its lowest\n", before, low);
	for (i = 0; i < SCANNERS; i++) {
		EXPECT_EQ(0, sc[i].failures) TH_LOG("scanner %u", i);
		free(sc[i].buf);
	}
	EXPECT_GT(16L << 10, before - low) TH_LOG("parallel scans took %ld KiB",
						   before - low);
	close(ro);
}

TEST_HARNESS_MAIN
