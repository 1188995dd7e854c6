// SPDX-License-Identifier: GPL-2.0
/*
 * libbetrkv on the host, without the module: argument checks (made before
 * any system call), the ioctl arguments the library builds, how it reports
 * a missing or foreign control device, the data calls (get, put, delete,
 * batches, scans across pages, sync, stats) and its error texts.
 *
 * The real ioctls are exercised in the VM.  Here ioctl() itself is replaced
 * by a fake control device and a fake store device (this program's
 * definition takes precedence over libc's for the library linked into it)
 * that check the argument structs as the module would and count the calls;
 * every other ioctl goes to the kernel.  BETRKV_CONTROL_PATH points the
 * library at /dev/null, which opens anywhere, or at a path that does not
 * exist; BETRKV_DEVICE_DIR points it at a directory where betrkv7 is a
 * link to /dev/null.  The fake store (fake_store.h) is a sorted array that
 * answers a scan with at most three pairs, so that iterators cross many
 * pages.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "betrkv.h"
#include "fake_store.h"

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
	struct betrkv_kv_args kv;
	struct betrkv_batch_args batch;
	struct betrkv_sync_args sync;
	struct betrkv_stats_args stats;
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

/* Store 7 had a failed write: unbind releases it, and says so. */
static bool fake_failed;

static int fake_unbind(struct betrkv_unbind_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));

	fake_seen.unbind = *a;
	if (ret || a->flags || a->pad)
		return ret ?: -EINVAL;
	if (a->index != 7)
		return -ENOENT;
	return fake_failed ? -EIO : 0;
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

/* ---- the fake store device ---- */

static uint32_t fake_page_max;		/* most pairs a scan returns */

/* The ops of the last batch, as passed. */
static struct betrkv_batch_op fake_ops[BETRKV_BATCH_OPS_MAX];

/* Every scan request, with copies of its bounds. */
struct fake_scan_call {
	struct betrkv_scan_args args;
	uint8_t start[BETRKV_KEY_MAX];
	uint8_t end[BETRKV_KEY_MAX];
};
static struct fake_scan_call fake_scans[32];
static int fake_nscans;
static int fake_scan_err;		/* errno to fail scans with, once seen */

/* How a scan reply breaks the ABI, for the library to notice. */
static enum {
	FAKE_SCAN_OK,
	FAKE_SCAN_EMPTY_MORE,	/* no pairs, but "more" */
	FAKE_SCAN_OVERRUN,	/* the last record runs past the buffer */
	FAKE_SCAN_EMPTY_KEY,	/* a record with a 0-byte key */
} fake_scan_bad;

/* -EINVAL or -E2BIG unless 1..BETRKV_KEY_MAX bytes at a non-NULL pointer. */
static int fake_check_key(uint64_t key, uint32_t len)
{
	if (!key || !len)
		return -EINVAL;
	return len > BETRKV_KEY_MAX ? -E2BIG : 0;
}

static int fake_kv(unsigned long request, struct betrkv_kv_args *a)
{
	const void *key = (const void *)(uintptr_t)a->key;
	void *value = (void *)(uintptr_t)a->value;
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	struct fake_pair *p;

	fake_seen.kv = *a;
	if (ret || a->flags || a->seq)
		return ret ?: -EINVAL;
	ret = fake_check_key(a->key, a->key_len);
	if (ret)
		return ret;
	switch (request) {
	case BETRKV_IOC_GET:
		if (!a->value && a->value_len)
			return -EFAULT;
		p = fake_lookup(key, a->key_len);
		if (!p)
			return -ENOENT;
		ret = p->value_len > a->value_len ? -ERANGE : 0;
		if (!ret && p->value_len)
			memcpy(value, p->value, p->value_len);
		a->value_len = p->value_len;
		return ret;
	case BETRKV_IOC_PUT:
		if (a->value_len > BETRKV_VALUE_MAX)
			return -E2BIG;
		if (!a->value && a->value_len)
			return -EFAULT;
		fake_set(key, a->key_len, value, a->value_len);
		break;
	default:
		if (a->value || a->value_len)
			return -EINVAL;
		fake_unset(key, a->key_len);
	}
	a->seq = ++fake_seq;
	return 0;
}

static int fake_batch(struct betrkv_batch_args *a)
{
	const struct betrkv_batch_op *ops = (const void *)(uintptr_t)a->ops;
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	uint64_t bytes = 0;
	uint32_t i;

	fake_seen.batch = *a;
	if (ret || a->flags || a->pad || a->seq)
		return ret ?: -EINVAL;
	if (!a->nops || a->nops > BETRKV_BATCH_OPS_MAX)
		return a->nops ? -E2BIG : -EINVAL;
	memcpy(fake_ops, ops, a->nops * sizeof(*ops));
	for (i = 0; i < a->nops; i++) {
		const struct betrkv_batch_op *op = &fake_ops[i];

		ret = fake_check_key(op->key, op->key_len);
		if (ret)
			return ret;
		if (op->pad || (op->type != BETRKV_PUT && op->type != BETRKV_DELETE) ||
		    (op->type == BETRKV_DELETE && (op->value || op->value_len)))
			return -EINVAL;
		if (op->value_len > BETRKV_VALUE_MAX)
			return -E2BIG;
		bytes += op->key_len + op->value_len;
	}
	if (bytes > BETRKV_BATCH_BYTES_MAX)
		return -E2BIG;
	for (i = 0; i < a->nops; i++)
		fake_apply_op(&fake_ops[i]);
	a->seq = ++fake_seq;
	return 0;
}

/* Append the record of pair @i at @*pos of @buf; false if it does not fit. */
static bool fake_scan_put(uint8_t *buf, uint32_t buf_len, size_t *pos, size_t i)
{
	if (fake_rec_len(i) > buf_len - *pos)
		return false;
	*pos += fake_put_rec(buf + *pos, i);
	return true;
}

static int fake_scan(struct betrkv_scan_args *a)
{
	const void *start = (const void *)(uintptr_t)a->start;
	const void *end = (const void *)(uintptr_t)a->end;
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	struct fake_scan_call *call = &fake_scans[fake_nscans % 32];
	bool bounded = !(a->flags & BETRKV_SCAN_TO_END);
	uint8_t *buf = (uint8_t *)(uintptr_t)a->buf;
	size_t i, pos = 0, last = 0;

	fake_nscans++;
	memset(call, 0, sizeof(*call));
	call->args = *a;
	if (ret || (a->flags & ~BETRKV_SCAN_FLAGS) || a->count || a->more ||
	    !a->buf || !a->max_pairs)
		return ret ?: -EINVAL;
	ret = fake_check_key(a->start, a->start_len);
	if (!ret && bounded)
		ret = fake_check_key(a->end, a->end_len);
	if (!ret && !bounded && (a->end || a->end_len))
		ret = -EINVAL;
	if (ret)
		return ret;
	memcpy(call->start, start, a->start_len);
	if (bounded) {
		memcpy(call->end, end, a->end_len);
		if (key_order(end, a->end_len, start, a->start_len) < 0)
			return -EINVAL;
	}
	if (fake_scan_err)
		return -fake_scan_err;
	i = fake_find(start, a->start_len, a->flags & BETRKV_SCAN_AFTER);
	for (; i < fake_n; i++) {
		if (bounded && key_order(fake_map[i].key, fake_map[i].key_len,
					 end, a->end_len) >= 0)
			break;
		last = pos;
		if (!fake_scan_put(buf, a->buf_len, &pos, i)) {
			if (!a->count)
				return -ERANGE;
			a->more = 1;
			break;
		}
		/* A full page says "more" even when nothing follows. */
		if (++a->count == a->max_pairs || a->count == fake_page_max) {
			a->more = 1;
			break;
		}
	}
	switch (fake_scan_bad) {
	case FAKE_SCAN_OK:
		break;
	case FAKE_SCAN_EMPTY_MORE:
		a->count = 0;
		a->more = 1;
		break;
	case FAKE_SCAN_OVERRUN:
		((struct betrkv_scan_rec *)(buf + last))->value_len = a->buf_len;
		break;
	case FAKE_SCAN_EMPTY_KEY:
		((struct betrkv_scan_rec *)buf)->key_len = 0;
		break;
	}
	return 0;
}

static int fake_sync(struct betrkv_sync_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));

	fake_seen.sync = *a;
	if (ret || a->flags || a->durable_seq)
		return ret ?: -EINVAL;
	a->durable_seq = fake_seq;
	return 0;
}

/* Counters: field i (in struct order, size and flags not counted) is 1000 + i. */
static int fake_stats(struct betrkv_stats_args *a)
{
	int ret = fake_check(a->size, sizeof(*a), a->reserved, sizeof(a->reserved));
	const size_t first = offsetof(struct betrkv_stats_args, puts);
	const size_t last = offsetof(struct betrkv_stats_args, height);
	__u64 *u64 = &a->puts;
	size_t i;

	fake_seen.stats = *a;
	if (ret || a->flags)
		return ret ?: -EINVAL;
	if (!all_zero(&a->puts, sizeof(*a) - first))
		return -EINVAL;
	for (i = 0; i < (last - first) / 8; i++)
		u64[i] = 1000 + i;
	a->height = 1000 + i++;
	for (u64 = &a->nodes; u64 <= &a->itable_bytes_written; u64++)
		*u64 = 1000 + i++;
	a->key_max = 512;
	a->value_max = 4096;
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
	case BETRKV_IOC_GET:
	case BETRKV_IOC_PUT:
	case BETRKV_IOC_DELETE:
		return fake_kv(request, arg);
	case BETRKV_IOC_BATCH:
		return fake_batch(arg);
	case BETRKV_IOC_SCAN:
		return fake_scan(arg);
	case BETRKV_IOC_SYNC:
		return fake_sync(arg);
	case BETRKV_IOC_STATS:
		return fake_stats(arg);
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
	fake_page_max = 3;
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
	EXPECT_EQ(0, fake_seen.bind.commit_ms);
	/* Salvage and the commit interval: flags, and the field with its flag. */
	opts.salvage = true;
	opts.set_commit_ms = true;
	opts.commit_ms = 1234;
	ASSERT_EQ(0, betrkv_bind("/dev/vdb", &opts, &index));
	EXPECT_EQ(BETRKV_BIND_RDONLY | BETRKV_BIND_SALVAGE | BETRKV_BIND_COMMIT_MS,
		  fake_seen.bind.flags);
	EXPECT_EQ(1234, fake_seen.bind.commit_ms);
	opts = (struct betrkv_bind_opts){ .set_commit_ms = true };
	ASSERT_EQ(0, betrkv_bind("/dev/vdb", &opts, &index));
	EXPECT_EQ(BETRKV_BIND_COMMIT_MS, fake_seen.bind.flags);
	EXPECT_EQ(0, fake_seen.bind.commit_ms);
	/* Without set_commit_ms, commit_ms is not sent: the default applies. */
	opts = (struct betrkv_bind_opts){ .commit_ms = 77 };
	ASSERT_EQ(0, betrkv_bind("/dev/vdb", &opts, &index));
	EXPECT_EQ(0, fake_seen.bind.flags);
	EXPECT_EQ(0, fake_seen.bind.commit_ms);
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
	fake_ret = 0;
}

/* Unbinding a store whose writes had failed reports it: -EIO, not 0. */
TEST(unbind_reports_a_failed_store)
{
	use_fake();
	fake_failed = true;
	EXPECT_EQ(-EIO, betrkv_unbind(7));
	EXPECT_EQ(7, fake_seen.unbind.index);
	fake_failed = false;
	EXPECT_EQ(0, betrkv_unbind(7));
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

/* ---- data: opening a store ---- */

/* A directory for BETRKV_DEVICE_DIR where betrkv7 leads to /dev/null. */
FIXTURE(store) {
	char dir[64];
	char link[96];
	struct betrkv *s;
};

FIXTURE_SETUP(store)
{
	strcpy(self->dir, "/tmp/betrkv-test-lib-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->link, sizeof(self->link), "%s/betrkv7", self->dir);
	ASSERT_EQ(0, symlink("/dev/null", self->link));
	setenv("BETRKV_DEVICE_DIR", self->dir, 1);
	use_fake();
	ASSERT_EQ(0, betrkv_open(7, &self->s));
}

FIXTURE_TEARDOWN(store)
{
	char path[128];

	betrkv_close(self->s);
	unlink(self->link);
	snprintf(path, sizeof(path), "%s/betrkv9", self->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/betrkv10", self->dir);
	rmdir(path);
	rmdir(self->dir);
}

TEST_F(store, open_missing_store_is_enoent)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct betrkv *s = (struct betrkv *)&s;
	char path[128];
	int sock;

	EXPECT_EQ(-ENOENT, betrkv_open(8, &s));
	EXPECT_EQ((struct betrkv *)&s, s);
	/* A node that opens with ENXIO (here a socket) is a stale one. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/betrkv9", self->dir);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_LE(0, sock);
	ASSERT_EQ(0, bind(sock, (struct sockaddr *)&sun, sizeof(sun)));
	EXPECT_EQ(-ENOENT, betrkv_open(9, &s));
	close(sock);
	/* Other failures keep their errno. */
	snprintf(path, sizeof(path), "%s/betrkv10", self->dir);
	ASSERT_EQ(0, mkdir(path, 0700));
	EXPECT_EQ(-EISDIR, betrkv_open(10, &s));
	EXPECT_EQ(-EINVAL, betrkv_open(7, NULL));
	EXPECT_EQ((struct betrkv *)&s, s);
	EXPECT_EQ(0, fake_calls);
	betrkv_close(NULL);
}

TEST_F(store, device_dir)
{
	char *dir = long_path(PATH_MAX);
	struct betrkv *s = NULL;

	ASSERT_NE(NULL, dir);
	setenv("BETRKV_DEVICE_DIR", dir, 1);
	EXPECT_EQ(-ENAMETOOLONG, betrkv_open(7, &s));
	free(dir);
	/* Unset or empty: /dev, where betrkv4294967295 never exists. */
	unsetenv("BETRKV_DEVICE_DIR");
	EXPECT_EQ(-ENOENT, betrkv_open(UINT32_MAX, &s));
	setenv("BETRKV_DEVICE_DIR", "", 1);
	EXPECT_EQ(-ENOENT, betrkv_open(UINT32_MAX, &s));
	EXPECT_EQ(NULL, s);
	/* The directory may end in a slash. */
	setenv("BETRKV_DEVICE_DIR", strcat(self->dir, "/"), 1);
	ASSERT_EQ(0, betrkv_open(7, &s));
	betrkv_close(s);
	self->dir[strlen(self->dir) - 1] = '\0';
}

TEST_F(store, foreign_store_device_is_enotty)
{
	uint64_t seq;

	fake_on = false;	/* the kernel answers for /dev/null */
	EXPECT_EQ(-ENOTTY, betrkv_put(self->s, "k", 1, "v", 1, &seq));
	EXPECT_EQ(-ENOTTY, betrkv_sync(self->s, &seq));
}

/* ---- data: argument checks, before any system call ---- */

TEST_F(store, kv_reject_bad_arguments)
{
	static char big[BETRKV_VALUE_MAX + 1];
	size_t len = 99;
	uint64_t seq = 99;
	char buf[8];

	EXPECT_EQ(-EINVAL, betrkv_get(NULL, "k", 1, buf, 8, &len));
	EXPECT_EQ(-EINVAL, betrkv_get(self->s, NULL, 1, buf, 8, &len));
	EXPECT_EQ(-EINVAL, betrkv_get(self->s, "k", 0, buf, 8, &len));
	EXPECT_EQ(-E2BIG, betrkv_get(self->s, big, BETRKV_KEY_MAX + 1, buf, 8, &len));
	EXPECT_EQ(-EINVAL, betrkv_get(self->s, "k", 1, NULL, 8, &len));
	EXPECT_EQ(-EINVAL, betrkv_get(self->s, "k", 1, buf, 8, NULL));
	EXPECT_EQ(-EINVAL, betrkv_put(NULL, "k", 1, "v", 1, &seq));
	EXPECT_EQ(-EINVAL, betrkv_put(self->s, NULL, 1, "v", 1, &seq));
	EXPECT_EQ(-EINVAL, betrkv_put(self->s, "k", 0, "v", 1, &seq));
	EXPECT_EQ(-EINVAL, betrkv_put(self->s, "k", 1, NULL, 1, &seq));
	EXPECT_EQ(-E2BIG, betrkv_put(self->s, big, BETRKV_KEY_MAX + 1, "v", 1, &seq));
	EXPECT_EQ(-E2BIG, betrkv_put(self->s, "k", 1, big, BETRKV_VALUE_MAX + 1, &seq));
	EXPECT_EQ(-E2BIG, betrkv_put(self->s, "k", 1, big, SIZE_MAX, &seq));
	EXPECT_EQ(-EINVAL, betrkv_delete(NULL, "k", 1, &seq));
	EXPECT_EQ(-EINVAL, betrkv_delete(self->s, NULL, 1, &seq));
	EXPECT_EQ(-EINVAL, betrkv_delete(self->s, "k", 0, &seq));
	EXPECT_EQ(-E2BIG, betrkv_delete(self->s, big, SIZE_MAX, &seq));
	EXPECT_EQ(0, fake_calls);
	EXPECT_EQ(99, len);
	EXPECT_EQ(99, seq);
	/* The limits themselves reach the module. */
	EXPECT_EQ(0, betrkv_put(self->s, big, BETRKV_KEY_MAX, big,
				BETRKV_VALUE_MAX, &seq));
	EXPECT_EQ(0, betrkv_put(self->s, "k", 1, NULL, 0, NULL));
	EXPECT_EQ(2, fake_calls);
}

TEST_F(store, others_reject_bad_arguments)
{
	static char big[BETRKV_KEY_MAX + 1];
	struct betrkv_stats_args st;
	struct betrkv_iter *it = NULL;
	struct betrkv_batch *b = betrkv_batch_new();
	uint32_t kmax, vmax;
	uint64_t seq;

	ASSERT_NE(NULL, b);
	EXPECT_EQ(-EINVAL, betrkv_sync(NULL, &seq));
	EXPECT_EQ(-EINVAL, betrkv_stats(NULL, &st));
	EXPECT_EQ(-EINVAL, betrkv_stats(self->s, NULL));
	EXPECT_EQ(-EINVAL, betrkv_limits(NULL, &kmax, &vmax));
	EXPECT_EQ(-EINVAL, betrkv_limits(self->s, NULL, &vmax));
	EXPECT_EQ(-EINVAL, betrkv_limits(self->s, &kmax, NULL));
	EXPECT_EQ(-EINVAL, betrkv_batch_commit(self->s, b, &seq));	/* empty */
	EXPECT_EQ(-EINVAL, betrkv_batch_commit(self->s, NULL, &seq));
	EXPECT_EQ(0, betrkv_batch_delete(b, "k", 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_commit(NULL, b, &seq));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(NULL, "a", 1, NULL, 0, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "a", 1, NULL, 0, NULL));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, NULL, 1, NULL, 0, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "a", 0, NULL, 0, &it));
	EXPECT_EQ(-E2BIG, betrkv_iter_new(self->s, big, sizeof(big), NULL, 0, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "a", 1, NULL, 1, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "a", 1, "b", 0, &it));
	EXPECT_EQ(-E2BIG, betrkv_iter_new(self->s, "a", 1, big, sizeof(big), &it));
	/* An end below the start: bytewise, a key before its extensions. */
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "b", 1, "a", 1, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "ab", 2, "a", 1, &it));
	EXPECT_EQ(-EINVAL, betrkv_iter_new(self->s, "\x80", 1, "\x7f\xff", 2, &it));
	EXPECT_EQ(NULL, it);
	EXPECT_EQ(-EINVAL, betrkv_iter_next(NULL, NULL, NULL, NULL, NULL));
	EXPECT_EQ(0, fake_calls);
	betrkv_batch_free(b);
	betrkv_iter_free(NULL);
	betrkv_batch_free(NULL);
}

/* ---- data: get, put, delete ---- */

TEST_F(store, put_fills_args)
{
	char key[] = "key\0\xff", value[] = "the value";
	uint64_t seq = 0;

	ASSERT_EQ(0, betrkv_put(self->s, key, 5, value, 9, &seq));
	EXPECT_EQ(1, fake_calls);
	EXPECT_EQ(sizeof(struct betrkv_kv_args), fake_seen.kv.size);
	EXPECT_EQ(0, fake_seen.kv.flags);
	EXPECT_EQ((uintptr_t)key, fake_seen.kv.key);
	EXPECT_EQ(5, fake_seen.kv.key_len);
	EXPECT_EQ((uintptr_t)value, fake_seen.kv.value);
	EXPECT_EQ(9, fake_seen.kv.value_len);
	EXPECT_EQ(1, seq);
	ASSERT_EQ(1, fake_n);
	EXPECT_EQ(5, fake_map[0].key_len);
	EXPECT_EQ(0, memcmp(fake_map[0].key, "key\0\xff", 5));
	EXPECT_EQ(9, fake_map[0].value_len);
	/* An empty value, and no sequence number wanted. */
	ASSERT_EQ(0, betrkv_put(self->s, "e", 1, NULL, 0, NULL));
	EXPECT_EQ(0, fake_seen.kv.value);
	EXPECT_EQ(0, fake_seen.kv.value_len);
	EXPECT_EQ(2, fake_seq);
}

TEST_F(store, delete_fills_args)
{
	uint64_t seq = 0;

	ASSERT_EQ(0, betrkv_put(self->s, "k", 1, "v", 1, NULL));
	ASSERT_EQ(0, betrkv_delete(self->s, "k", 1, &seq));
	EXPECT_EQ(2, seq);
	EXPECT_EQ(sizeof(struct betrkv_kv_args), fake_seen.kv.size);
	EXPECT_EQ(1, fake_seen.kv.key_len);
	EXPECT_EQ(0, fake_seen.kv.value);
	EXPECT_EQ(0, fake_seen.kv.value_len);
	EXPECT_EQ(0, fake_n);
	/* An absent key is fine, and still a mutation. */
	ASSERT_EQ(0, betrkv_delete(self->s, "k", 1, &seq));
	EXPECT_EQ(3, seq);
	fake_ret = EROFS;
	EXPECT_EQ(-EROFS, betrkv_delete(self->s, "k", 1, &seq));
	EXPECT_EQ(3, seq);
}

TEST_F(store, get_copies_value)
{
	char buf[16];
	size_t len = 0;

	ASSERT_EQ(0, betrkv_put(self->s, "k", 1, "0123456789", 10, NULL));
	memset(buf, '#', sizeof(buf));
	ASSERT_EQ(0, betrkv_get(self->s, "k", 1, buf, sizeof(buf), &len));
	EXPECT_EQ(10, len);
	EXPECT_EQ(0, memcmp(buf, "0123456789######", 16));
	EXPECT_EQ(sizeof(struct betrkv_kv_args), fake_seen.kv.size);
	EXPECT_EQ((uintptr_t)buf, fake_seen.kv.value);
	EXPECT_EQ(1, fake_seen.kv.key_len);
	/* Exactly the room needed. */
	len = 0;
	ASSERT_EQ(0, betrkv_get(self->s, "k", 1, buf, 10, &len));
	EXPECT_EQ(10, len);
	EXPECT_EQ(10, fake_seen.kv.value_len);
}

TEST_F(store, get_too_small_is_erange)
{
	char buf[16];
	size_t len = 0;

	ASSERT_EQ(0, betrkv_put(self->s, "k", 1, "0123456789", 10, NULL));
	memset(buf, '#', sizeof(buf));
	EXPECT_EQ(-ERANGE, betrkv_get(self->s, "k", 1, buf, 9, &len));
	EXPECT_EQ(10, len);
	EXPECT_EQ(9, fake_seen.kv.value_len);
	EXPECT_EQ('#', buf[0]);
	/* No buffer at all: just the length. */
	len = 0;
	EXPECT_EQ(-ERANGE, betrkv_get(self->s, "k", 1, NULL, 0, &len));
	EXPECT_EQ(10, len);
	EXPECT_EQ(0, fake_seen.kv.value);
	EXPECT_EQ(0, fake_seen.kv.value_len);
	/* An empty value fits anywhere. */
	ASSERT_EQ(0, betrkv_put(self->s, "e", 1, NULL, 0, NULL));
	EXPECT_EQ(0, betrkv_get(self->s, "e", 1, NULL, 0, &len));
	EXPECT_EQ(0, len);
	EXPECT_STREQ("value larger than the buffer", betrkv_errstr(-ERANGE));
}

TEST_F(store, get_failures_keep_length)
{
	char buf[16];
	size_t len = 99;

	EXPECT_EQ(-ENOENT, betrkv_get(self->s, "k", 1, buf, sizeof(buf), &len));
	EXPECT_EQ(99, len);
	fake_ret = EUCLEAN;
	EXPECT_EQ(-EUCLEAN, betrkv_get(self->s, "k", 1, buf, sizeof(buf), &len));
	EXPECT_EQ(99, len);
	EXPECT_EQ(2, fake_calls);
}

TEST_F(store, get_huge_room_is_clamped)
{
	char buf[4];
	size_t len = 0;

	ASSERT_EQ(0, betrkv_put(self->s, "k", 1, "v", 1, NULL));
	ASSERT_EQ(0, betrkv_get(self->s, "k", 1, buf, SIZE_MAX, &len));
	EXPECT_EQ(1, len);
	EXPECT_EQ(UINT32_MAX, fake_seen.kv.value_len);
	ASSERT_EQ(0, betrkv_get(self->s, "k", 1, buf, (size_t)UINT32_MAX + 2, &len));
	EXPECT_EQ(UINT32_MAX, fake_seen.kv.value_len);
}

/* ---- data: batches ---- */

TEST_F(store, batch_fills_ops)
{
	struct betrkv_batch *b = betrkv_batch_new();
	const char *k1 = "one", *k2 = "two\0", *v1 = "value";
	uint64_t seq = 0;

	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, betrkv_put(self->s, "two", 3, "x", 1, NULL));
	ASSERT_EQ(0, betrkv_batch_put(b, k1, 3, v1, 5));
	ASSERT_EQ(0, betrkv_batch_delete(b, k2, 4));
	ASSERT_EQ(0, betrkv_batch_delete(b, "two", 3));
	ASSERT_EQ(0, betrkv_batch_put(b, k2, 4, NULL, 0));
	EXPECT_EQ(1, fake_calls);
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, &seq));
	EXPECT_EQ(2, fake_calls);
	EXPECT_EQ(2, seq);
	EXPECT_EQ(sizeof(struct betrkv_batch_args), fake_seen.batch.size);
	EXPECT_EQ(0, fake_seen.batch.flags);
	EXPECT_EQ(4, fake_seen.batch.nops);
	EXPECT_EQ(BETRKV_PUT, fake_ops[0].type);
	EXPECT_EQ((uintptr_t)k1, fake_ops[0].key);
	EXPECT_EQ(3, fake_ops[0].key_len);
	EXPECT_EQ((uintptr_t)v1, fake_ops[0].value);
	EXPECT_EQ(5, fake_ops[0].value_len);
	EXPECT_EQ(BETRKV_DELETE, fake_ops[1].type);
	EXPECT_EQ((uintptr_t)k2, fake_ops[1].key);
	EXPECT_EQ(4, fake_ops[1].key_len);
	EXPECT_EQ(0, fake_ops[1].value);
	EXPECT_EQ(0, fake_ops[1].value_len);
	EXPECT_EQ(BETRKV_DELETE, fake_ops[2].type);
	EXPECT_EQ(BETRKV_PUT, fake_ops[3].type);
	EXPECT_EQ(0, fake_ops[3].value);
	EXPECT_EQ(0, fake_ops[3].pad);
	/* Applied in order: "two" deleted, "two\0" put. */
	ASSERT_EQ(2, fake_n);
	EXPECT_EQ(0, memcmp(fake_map[0].key, "one", 3));
	EXPECT_EQ(4, fake_map[1].key_len);
	/* Emptied: committing again is an empty batch. */
	EXPECT_EQ(-EINVAL, betrkv_batch_commit(self->s, b, &seq));
	EXPECT_EQ(2, fake_calls);
	ASSERT_EQ(0, betrkv_batch_delete(b, "one", 3));
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, NULL));
	EXPECT_EQ(1, fake_seen.batch.nops);
	EXPECT_EQ(1, fake_n);
	betrkv_batch_free(b);
}

TEST_F(store, batch_checks_each_op)
{
	static char big[BETRKV_VALUE_MAX + 1];
	struct betrkv_batch *b = betrkv_batch_new();

	ASSERT_NE(NULL, b);
	EXPECT_EQ(-EINVAL, betrkv_batch_put(NULL, "k", 1, "v", 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_put(b, NULL, 1, "v", 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_put(b, "k", 0, "v", 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_put(b, "k", 1, NULL, 1));
	EXPECT_EQ(-E2BIG, betrkv_batch_put(b, big, BETRKV_KEY_MAX + 1, "v", 1));
	EXPECT_EQ(-E2BIG, betrkv_batch_put(b, "k", 1, big, BETRKV_VALUE_MAX + 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_delete(NULL, "k", 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_delete(b, NULL, 1));
	EXPECT_EQ(-EINVAL, betrkv_batch_delete(b, "k", 0));
	EXPECT_EQ(-E2BIG, betrkv_batch_delete(b, big, BETRKV_KEY_MAX + 1));
	/* Nothing was added. */
	EXPECT_EQ(-EINVAL, betrkv_batch_commit(self->s, b, NULL));
	EXPECT_EQ(0, fake_calls);
	betrkv_batch_free(b);
}

TEST_F(store, batch_op_limit)
{
	struct betrkv_batch *b = betrkv_batch_new();
	static uint32_t keys[BETRKV_BATCH_OPS_MAX + 1];
	uint32_t i;

	ASSERT_NE(NULL, b);
	for (i = 0; i < BETRKV_BATCH_OPS_MAX; i++) {
		keys[i] = i;
		ASSERT_EQ(0, betrkv_batch_put(b, &keys[i], 4, NULL, 0));
	}
	EXPECT_EQ(-E2BIG, betrkv_batch_delete(b, &keys[i], 4));
	EXPECT_EQ(-E2BIG, betrkv_batch_put(b, &keys[i], 4, NULL, 0));
	EXPECT_EQ(0, fake_calls);
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, NULL));
	EXPECT_EQ(BETRKV_BATCH_OPS_MAX, fake_seen.batch.nops);
	EXPECT_EQ((uintptr_t)&keys[4095], fake_ops[4095].key);
	EXPECT_EQ(BETRKV_BATCH_OPS_MAX, fake_n);
	/* A committed batch takes new ops. */
	ASSERT_EQ(0, betrkv_batch_delete(b, &keys[0], 4));
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, NULL));
	EXPECT_EQ(1, fake_seen.batch.nops);
	EXPECT_EQ(BETRKV_BATCH_OPS_MAX - 1, fake_n);
	betrkv_batch_free(b);
}

TEST_F(store, batch_byte_limit)
{
	static char value[BETRKV_VALUE_MAX];
	struct betrkv_batch *b = betrkv_batch_new();
	int i;

	ASSERT_NE(NULL, b);
	/* 15 * (1 + 65536) + 1 + 65520 = 1 MiB exactly. */
	for (i = 0; i < 15; i++)
		ASSERT_EQ(0, betrkv_batch_put(b, "k", 1, value, BETRKV_VALUE_MAX));
	EXPECT_EQ(-E2BIG, betrkv_batch_put(b, "k", 1, value, 65521));
	ASSERT_EQ(0, betrkv_batch_put(b, "k", 1, value, 65520));
	EXPECT_EQ(-E2BIG, betrkv_batch_delete(b, "k", 1));
	EXPECT_EQ(-E2BIG, betrkv_batch_put(b, "k", 1, NULL, 0));
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, NULL));
	EXPECT_EQ(16, fake_seen.batch.nops);
	EXPECT_EQ(65520, fake_map[0].value_len);
	/* The count starts again after a commit. */
	ASSERT_EQ(0, betrkv_batch_put(b, "k", 1, value, BETRKV_VALUE_MAX));
	betrkv_batch_free(b);
}

TEST_F(store, batch_kept_on_failure)
{
	struct betrkv_batch *b = betrkv_batch_new();
	uint64_t seq = 99;

	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, betrkv_batch_put(b, "a", 1, "1", 1));
	ASSERT_EQ(0, betrkv_batch_put(b, "b", 1, "2", 1));
	fake_ret = EROFS;
	EXPECT_EQ(-EROFS, betrkv_batch_commit(self->s, b, &seq));
	EXPECT_EQ(99, seq);
	fake_ret = 0;
	ASSERT_EQ(0, betrkv_batch_commit(self->s, b, &seq));
	EXPECT_EQ(2, fake_seen.batch.nops);
	EXPECT_EQ(1, seq);
	EXPECT_EQ(2, fake_n);
	betrkv_batch_free(b);
}

/* ---- data: scans ---- */

/* Put @n pairs: key i is "k" and two digits, value i is i bytes of 'a' + i. */
static void put_numbered(struct betrkv *s, int n)
{
	char key[16], value[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		memset(value, 'a' + i % 26, i);
		if (betrkv_put(s, key, 3, value, i, NULL))
			abort();
	}
}

/* Check that @it returns keys "k<from>".."k<to - 1>" of put_numbered(). */
static bool expect_numbered(struct betrkv_iter *it, int from, int to)
{
	const void *key, *value;
	size_t key_len, value_len;
	char want[16];
	int i;

	for (i = from; i < to; i++) {
		snprintf(want, sizeof(want), "k%02d", i);
		if (betrkv_iter_next(it, &key, &key_len, &value, &value_len) != 1 ||
		    key_len != 3 || memcmp(key, want, 3) || value_len != (size_t)i ||
		    (i && ((const char *)value)[i - 1] != 'a' + i % 26))
			return false;
	}
	return true;
}

TEST_F(store, iter_crosses_pages)
{
	struct betrkv_iter *it;
	int i;

	put_numbered(self->s, 20);
	fake_calls = 0;
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	EXPECT_EQ(0, fake_calls);
	EXPECT_TRUE(expect_numbered(it, 0, 20));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	/* Pages of 3: six with "more", then the last two without. */
	ASSERT_EQ(7, fake_nscans);
	EXPECT_EQ(sizeof(struct betrkv_scan_args), fake_scans[0].args.size);
	EXPECT_EQ(BETRKV_SCAN_TO_END, fake_scans[0].args.flags);
	EXPECT_EQ(1, fake_scans[0].args.start_len);
	EXPECT_EQ('k', fake_scans[0].start[0]);
	EXPECT_EQ(0, fake_scans[0].args.end);
	EXPECT_EQ(0, fake_scans[0].args.end_len);
	EXPECT_EQ(256 << 10, fake_scans[0].args.buf_len);
	EXPECT_EQ(16384, fake_scans[0].args.max_pairs);
	for (i = 1; i < 7; i++) {
		char want[16];

		snprintf(want, sizeof(want), "k%02d", 3 * i - 1);
		EXPECT_EQ(BETRKV_SCAN_AFTER | BETRKV_SCAN_TO_END,
			  fake_scans[i].args.flags) TH_LOG("scan %d", i);
		EXPECT_EQ(3, fake_scans[i].args.start_len) TH_LOG("scan %d", i);
		EXPECT_EQ(0, memcmp(fake_scans[i].start, want, 3)) TH_LOG("scan %d", i);
		EXPECT_EQ(fake_scans[0].args.buf, fake_scans[i].args.buf);
		EXPECT_NE(fake_scans[0].args.start, fake_scans[i].args.buf);
	}
}

TEST_F(store, iter_ends_on_empty_page)
{
	struct betrkv_iter *it;

	put_numbered(self->s, 6);
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	EXPECT_TRUE(expect_numbered(it, 0, 6));
	EXPECT_EQ(2, fake_nscans);
	/* The second page said "more": the third is empty, and the end. */
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	EXPECT_EQ(3, fake_nscans);
	EXPECT_EQ(0, memcmp(fake_scans[2].start, "k05", 3));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	EXPECT_EQ(3, fake_nscans);
	betrkv_iter_free(it);
}

TEST_F(store, iter_bounded)
{
	char start[] = "k05", end[] = "k10";
	struct betrkv_iter *it;

	put_numbered(self->s, 20);
	ASSERT_EQ(0, betrkv_iter_new(self->s, start, 3, end, 3, &it));
	/* The bounds were copied. */
	memset(start, 0, sizeof(start));
	memset(end, 0, sizeof(end));
	EXPECT_TRUE(expect_numbered(it, 5, 10));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	ASSERT_EQ(2, fake_nscans);
	EXPECT_EQ(0, fake_scans[0].args.flags);
	EXPECT_EQ(0, memcmp(fake_scans[0].start, "k05", 3));
	EXPECT_EQ(3, fake_scans[0].args.end_len);
	EXPECT_EQ(0, memcmp(fake_scans[0].end, "k10", 3));
	EXPECT_EQ(BETRKV_SCAN_AFTER, fake_scans[1].args.flags);
	EXPECT_EQ(0, memcmp(fake_scans[1].start, "k07", 3));
	EXPECT_EQ(0, memcmp(fake_scans[1].end, "k10", 3));
	/* An empty range. */
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k05", 3, "k05", 3, &it));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	EXPECT_EQ(3, fake_nscans);
	betrkv_iter_free(it);
}

TEST_F(store, iter_binary_keys)
{
	static const struct {
		const char *key;
		size_t len;
	} keys[] = {	/* in key order */
		{ "\x00", 1 }, { "\x00\x00", 2 }, { "\x00\x01", 2 },
		{ "\x01", 1 }, { "\t", 1 }, { "\n\n", 2 }, { "a", 1 },
		{ "a\x00", 2 }, { "a\x00" "b", 3 }, { "a\xff", 2 }, { "b", 1 },
		{ "\x7f", 1 }, { "\x80", 1 }, { "\xfe\xff", 2 }, { "\xff", 1 },
		{ "\xff\x00", 2 }, { "\xff\xff\xff", 3 },
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	const void *key, *value;
	size_t key_len, value_len, i;
	struct betrkv_iter *it;

	/* Put in reverse, each with itself as the value. */
	for (i = n; i--;)
		ASSERT_EQ(0, betrkv_put(self->s, keys[i].key, keys[i].len,
					keys[i].key, keys[i].len, NULL));
	ASSERT_EQ(0, betrkv_iter_new(self->s, "\x00", 1, NULL, 0, &it));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(1, betrkv_iter_next(it, &key, &key_len, &value, &value_len))
			TH_LOG("pair %zu", i);
		EXPECT_EQ(keys[i].len, key_len) TH_LOG("pair %zu", i);
		EXPECT_EQ(0, memcmp(key, keys[i].key, key_len)) TH_LOG("pair %zu", i);
		EXPECT_EQ(keys[i].len, value_len) TH_LOG("pair %zu", i);
		EXPECT_EQ(0, memcmp(value, keys[i].key, value_len)) TH_LOG("pair %zu", i);
		EXPECT_EQ(0, (uintptr_t)key % 8) TH_LOG("pair %zu", i);
	}
	EXPECT_EQ(0, betrkv_iter_next(it, &key, &key_len, &value, &value_len));
	betrkv_iter_free(it);
	/* Resumed after a key holding NULs: "\x00\x01", then "a\x00b", ... */
	EXPECT_EQ(2, fake_scans[1].args.start_len);
	EXPECT_EQ(0, memcmp(fake_scans[1].start, "\x00\x01", 2));
	EXPECT_EQ(3, fake_scans[3].args.start_len);
	EXPECT_EQ(0, memcmp(fake_scans[3].start, "a\x00" "b", 3));
	EXPECT_EQ(0, memcmp(fake_scans[5].start, "\xff", 1));
	EXPECT_EQ(6, fake_nscans);
}

TEST_F(store, iter_big_pairs)
{
	static char value[BETRKV_VALUE_MAX];
	const void *key, *val;
	size_t key_len, value_len;
	struct betrkv_iter *it;
	char k[BETRKV_KEY_MAX];
	int i;

	/* 9 pairs of the largest size: 3 fit in a page of 256 KiB (the
	 * third page is not full, so it has no "more").
	 */
	fake_page_max = 100;
	for (i = 0; i < 9; i++) {
		memset(k, 'a' + i, sizeof(k));
		memset(value, 'A' + i, sizeof(value));
		ASSERT_EQ(0, betrkv_put(self->s, k, sizeof(k), value, sizeof(value), NULL));
	}
	ASSERT_EQ(0, betrkv_iter_new(self->s, "a", 1, NULL, 0, &it));
	for (i = 0; i < 9; i++) {
		ASSERT_EQ(1, betrkv_iter_next(it, &key, &key_len, &val, &value_len));
		EXPECT_EQ(BETRKV_KEY_MAX, key_len);
		EXPECT_EQ(BETRKV_VALUE_MAX, value_len);
		EXPECT_EQ('a' + i, ((const char *)key)[BETRKV_KEY_MAX - 1]);
		EXPECT_EQ('A' + i, ((const char *)val)[BETRKV_VALUE_MAX - 1]);
	}
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	EXPECT_EQ(3, fake_nscans);
	EXPECT_EQ(BETRKV_KEY_MAX, fake_scans[1].args.start_len);
	EXPECT_EQ('c', fake_scans[1].start[0]);
}

TEST_F(store, iter_retries_after_failure)
{
	struct betrkv_iter *it;

	put_numbered(self->s, 9);
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	fake_scan_err = EINTR;
	EXPECT_EQ(-EINTR, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	fake_scan_err = 0;
	EXPECT_TRUE(expect_numbered(it, 0, 3));
	fake_scan_err = EIO;
	EXPECT_EQ(-EIO, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	EXPECT_EQ(-EIO, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	fake_scan_err = 0;
	EXPECT_TRUE(expect_numbered(it, 3, 9));
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	/* The failed requests were the same as the ones that worked. */
	EXPECT_EQ(7, fake_nscans);
	EXPECT_EQ(0, memcmp(fake_scans[0].start, "k", 1));
	EXPECT_EQ(BETRKV_SCAN_TO_END, fake_scans[0].args.flags);
	EXPECT_EQ(BETRKV_SCAN_TO_END, fake_scans[1].args.flags);
	EXPECT_EQ(0, memcmp(fake_scans[2].start, "k02", 3));
	EXPECT_EQ(0, memcmp(fake_scans[3].start, "k02", 3));
	EXPECT_EQ(0, memcmp(fake_scans[4].start, "k02", 3));
	EXPECT_EQ(BETRKV_SCAN_AFTER | BETRKV_SCAN_TO_END, fake_scans[4].args.flags);
}

TEST_F(store, iter_rejects_malformed_pages)
{
	struct betrkv_iter *it;

	put_numbered(self->s, 9);
	fake_scan_bad = FAKE_SCAN_EMPTY_MORE;
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	EXPECT_EQ(-EPROTO, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	fake_scan_bad = FAKE_SCAN_OVERRUN;
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	EXPECT_TRUE(expect_numbered(it, 0, 2));
	EXPECT_EQ(-EPROTO, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	fake_scan_bad = FAKE_SCAN_EMPTY_KEY;
	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	EXPECT_EQ(-EPROTO, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	EXPECT_STREQ("malformed reply from the betrkv module", betrkv_errstr(-EPROTO));
}

TEST_F(store, iter_scan_errors)
{
	struct betrkv_iter *it;

	ASSERT_EQ(0, betrkv_iter_new(self->s, "k", 1, NULL, 0, &it));
	fake_scan_err = ERANGE;
	EXPECT_EQ(-ERANGE, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	fake_scan_err = 0;
	EXPECT_EQ(0, betrkv_iter_next(it, NULL, NULL, NULL, NULL));
	betrkv_iter_free(it);
	EXPECT_EQ(2, fake_nscans);
}

/* ---- data: sync, stats, limits ---- */

TEST_F(store, sync_reports_durable_seq)
{
	uint64_t durable = 99;

	ASSERT_EQ(0, betrkv_sync(self->s, &durable));
	EXPECT_EQ(0, durable);
	put_numbered(self->s, 5);
	ASSERT_EQ(0, betrkv_sync(self->s, &durable));
	EXPECT_EQ(5, durable);
	EXPECT_EQ(sizeof(struct betrkv_sync_args), fake_seen.sync.size);
	EXPECT_EQ(0, fake_seen.sync.flags);
	ASSERT_EQ(0, betrkv_sync(self->s, NULL));
	fake_ret = EIO;
	EXPECT_EQ(-EIO, betrkv_sync(self->s, &durable));
	EXPECT_EQ(5, durable);
}

TEST_F(store, stats_copies_counters)
{
	struct betrkv_stats_args st;

	memset(&st, 0xaa, sizeof(st));
	ASSERT_EQ(0, betrkv_stats(self->s, &st));
	EXPECT_EQ(sizeof(struct betrkv_stats_args), fake_seen.stats.size);
	EXPECT_EQ(0, fake_seen.stats.flags);
	EXPECT_EQ(1000, st.puts);
	EXPECT_EQ(1008, st.durable_seq);
	EXPECT_EQ(1009, st.height);
	EXPECT_EQ(1010, st.nodes);
	EXPECT_EQ(1028, st.itable_bytes_written);
	EXPECT_EQ(512, st.key_max);
	EXPECT_EQ(4096, st.value_max);
	fake_ret = EIO;
	memset(&st, 0xaa, sizeof(st));
	EXPECT_EQ(-EIO, betrkv_stats(self->s, &st));
	EXPECT_EQ(0xaaaaaaaaaaaaaaaaull, st.puts);
}

TEST_F(store, limits_come_from_the_module)
{
	uint32_t kmax = 0, vmax = 0;

	ASSERT_EQ(0, betrkv_limits(self->s, &kmax, &vmax));
	EXPECT_EQ(512, kmax);
	EXPECT_EQ(4096, vmax);
	EXPECT_EQ(1, fake_calls);
	fake_ret = ENOTTY;
	kmax = vmax = 7;
	EXPECT_EQ(-ENOTTY, betrkv_limits(self->s, &kmax, &vmax));
	EXPECT_EQ(7, kmax);
	EXPECT_EQ(7, vmax);
}

/* ---- texts ---- */

TEST(errstr_betrkv_meanings)
{
	EXPECT_STREQ("no betrkv store on the device (not formatted)",
		     betrkv_errstr(-ENODATA));
	EXPECT_STREQ("stored data is corrupt (checksum or structure check failed)", betrkv_errstr(-EUCLEAN));
	EXPECT_STREQ("store format version is not this module's",
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
	EXPECT_STREQ("stored data is corrupt (checksum or structure check failed)", betrkv_errstr(EUCLEAN));
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
