// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libbetrkv: the administration calls of /dev/betrkv-control and the data
 * calls of /dev/betrkv<N>.
 *
 * Each administration call checks its arguments first (no system call is
 * made for invalid ones), opens the control device, issues one ioctl and
 * closes the device again, so those calls keep no state and are
 * thread-safe.
 *
 * The control device path is BETRKV_CONTROL_PATH unless the environment
 * variable BETRKV_CONTROL_PATH names another one (ignored in set-user-ID and
 * similar programs); tests use it to reach a missing or a foreign device.
 *
 * When the control device cannot be found (no such file, or a stale node
 * whose driver is gone) the calls return -ENODEV rather than the -ENOENT of
 * open(), because -ENOENT already means "no store bound at that index" and
 * "no such block device" in the replies of the module.
 *
 * The data calls work on a struct betrkv, which is the open file descriptor
 * of /dev/betrkv<N> and nothing else: every call on it is one ioctl, so any
 * number of threads may share it.  Batches and iterators are single-thread
 * objects.  Arguments are checked before any system call as well.  The
 * store devices are looked for in /dev unless the environment variable
 * BETRKV_DEVICE_DIR names another directory (ignored in set-user-ID and
 * similar programs), for tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "betrkv.h"

#define BETRKV_EXPORT	__attribute__((visibility("default")))

static const char *control_path(void)
{
	const char *path = secure_getenv("BETRKV_CONTROL_PATH");

	return path && *path ? path : BETRKV_CONTROL_PATH;
}

static int control_open(void)
{
	int fd = open(control_path(), O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
		return -ENODEV;
	return -errno;
}

/* One ioctl on a freshly opened control device: 0 or a negative errno. */
static int control_ioctl(unsigned long cmd, void *arg)
{
	int fd = control_open();
	int ret;

	if (fd < 0)
		return fd;
	ret = ioctl(fd, cmd, arg);
	if (ret < 0)
		ret = -errno;
	close(fd);
	return ret < 0 ? ret : 0;
}

/* Length of @path including its NUL, or a negative errno if unusable. */
static int check_path(const char *path, uint32_t *path_len)
{
	size_t len;

	if (!path)
		return -EINVAL;
	len = strnlen(path, BETRKV_PATH_MAX);
	if (len == 0)
		return -EINVAL;
	if (len >= BETRKV_PATH_MAX)
		return -ENAMETOOLONG;
	*path_len = len + 1;
	return 0;
}

static int check_format_opts(const struct betrkv_format_opts *opts)
{
	uint32_t node = opts->node_size;
	uint64_t journal = opts->journal_size;

	if (node && (node < BETRKV_NODE_SIZE_MIN ||
		     node > BETRKV_NODE_SIZE_MAX || (node & (node - 1))))
		return -EINVAL;
	if (journal && (journal < BETRKV_JOURNAL_SIZE_MIN ||
			journal > BETRKV_JOURNAL_SIZE_MAX ||
			journal % BETRKV_BLOCK_SIZE))
		return -EINVAL;
	return 0;
}

/**
 * betrkv_format() - write a new, empty store onto a block device.
 * @dev_path: the block device; its contents are destroyed
 * @opts: options, or NULL for the defaults
 * @uuid: if not NULL, receives the new store's UUID
 *
 * A node size that is not 0 or a power of two within the limits of
 * <linux/betrkv.h>, or a journal size that is not 0 or a multiple of
 * BETRKV_BLOCK_SIZE within them, fails with -EINVAL before any system call.
 *
 * Return: 0 or a negative errno.
 */
BETRKV_EXPORT
int betrkv_format(const char *dev_path, const struct betrkv_format_opts *opts,
		  uint8_t uuid[16])
{
	struct betrkv_format_args args;
	uint32_t path_len;
	int ret;

	ret = check_path(dev_path, &path_len);
	if (ret)
		return ret;
	if (opts) {
		ret = check_format_opts(opts);
		if (ret)
			return ret;
	}
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.path = (uintptr_t)dev_path;
	args.path_len = path_len;
	if (opts) {
		args.node_size = opts->node_size;
		args.journal_size = opts->journal_size;
	}
	ret = control_ioctl(BETRKV_IOC_FORMAT, &args);
	if (ret)
		return ret;
	if (uuid)
		memcpy(uuid, args.uuid, sizeof(args.uuid));
	return 0;
}

/**
 * betrkv_bind() - open the store on a block device as /dev/betrkv<N>.
 * @dev_path: the block device
 * @opts: options, or NULL for the defaults
 * @index: receives N
 *
 * Return: 0 or a negative errno.
 */
BETRKV_EXPORT
int betrkv_bind(const char *dev_path, const struct betrkv_bind_opts *opts,
		uint32_t *index)
{
	struct betrkv_bind_args args;
	uint32_t path_len;
	int ret;

	ret = check_path(dev_path, &path_len);
	if (ret)
		return ret;
	if (!index)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.path = (uintptr_t)dev_path;
	args.path_len = path_len;
	if (opts) {
		args.cache_bytes = opts->cache_bytes;
		if (opts->read_only)
			args.flags |= BETRKV_BIND_RDONLY;
		if (opts->salvage)
			args.flags |= BETRKV_BIND_SALVAGE;
		if (opts->set_commit_ms) {
			args.flags |= BETRKV_BIND_COMMIT_MS;
			args.commit_ms = opts->commit_ms;
		}
	}
	ret = control_ioctl(BETRKV_IOC_BIND, &args);
	if (ret)
		return ret;
	*index = args.index;
	return 0;
}

/**
 * betrkv_unbind() - close the store at /dev/betrkv<N>.
 * @index: N
 *
 * Return: 0, -ENOENT if nothing is bound there, -EBUSY while the store's
 * device is open, or another negative errno.  -EIO means the store was
 * unbound but a write had failed (or the final checkpoint did):
 * acknowledged mutations that no sync covered may be lost.
 */
BETRKV_EXPORT
int betrkv_unbind(uint32_t index)
{
	struct betrkv_unbind_args args;

	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.index = index;
	return control_ioctl(BETRKV_IOC_UNBIND, &args);
}

/**
 * betrkv_list() - indices of the bound stores.
 * @indices: array of @capacity entries (may be NULL when @capacity is 0)
 * @capacity: entries available
 *
 * Return: the number of bound stores (possibly more than @capacity) or a
 * negative errno; -EINVAL if @indices is NULL and @capacity is not 0.
 */
BETRKV_EXPORT
int betrkv_list(uint32_t *indices, uint32_t capacity)
{
	struct betrkv_list_args args;
	int ret;

	if (!indices && capacity)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.indices = (uintptr_t)indices;
	args.capacity = capacity;
	ret = control_ioctl(BETRKV_IOC_LIST, &args);
	if (ret)
		return ret;
	if (args.count > INT32_MAX)
		return -EOVERFLOW;
	return (int)args.count;
}

/**
 * betrkv_status() - describe the store at /dev/betrkv<N>.
 * @index: N
 * @st: receives the description; left untouched on failure
 *
 * Return: 0 or a negative errno (-ENOENT if nothing is bound there).
 */
BETRKV_EXPORT
int betrkv_status(uint32_t index, struct betrkv_status_args *st)
{
	struct betrkv_status_args args;
	int ret;

	if (!st)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.index = index;
	ret = control_ioctl(BETRKV_IOC_STATUS, &args);
	if (ret)
		return ret;
	args.backing_name[sizeof(args.backing_name) - 1] = '\0';
	memcpy(st, &args, sizeof(args));
	return 0;
}

static const struct {
	int err;
	const char *text;
} betrkv_errors[] = {
	{ ENODEV, "betrkv module not loaded (no /dev/" BETRKV_CONTROL_NAME ")" },
	{ ENODATA, "no betrkv store on the device (not formatted)" },
	{ EUCLEAN, "stored data is corrupt (checksum or structure check failed)" },
	{ EOPNOTSUPP, "store format version is not this module's" },
	{ EMEDIUMTYPE, "store geometry does not match the device" },
	{ EBUSY, "device or store is busy (claimed by someone else, or open)" },
	{ ENOTBLK, "not a block device" },
	{ EROFS, "device is read-only (bind it read-only)" },
	{ ENOSPC, "device is too small for a store" },
	{ EMFILE, "too many stores bound" },
	{ EPERM, "operation needs CAP_SYS_ADMIN" },
	{ E2BIG, "key, value or batch over its limit, or request has fields this module does not know (module older than the library)" },
	{ ENOTTY, "not a betrkv control device (ioctl not supported)" },
	{ ERANGE, "value larger than the buffer" },
	{ EPROTO, "malformed reply from the betrkv module" },
};

/**
 * betrkv_errstr() - a one-line reason for a value returned by this library.
 * @err: a negative errno (a positive one is taken as its negation)
 *
 * Where the administration and the data calls give one errno different
 * meanings the text is the administration one: -ENODEV is a missing
 * control device (module not loaded), -ENODATA an unformatted device,
 * -EUCLEAN two corrupt superblock copies, -EROFS and -ENOSPC the device at
 * bind or format, and so on.  -ENOENT keeps strerror()'s text since it
 * means a missing path, an index with no store or an absent key; callers
 * add which.  The data calls add -ERANGE (a value longer than the buffer)
 * and -EPROTO (a scan reply that breaks the ABI).
 *
 * Return: a static string (for an unknown errno, a thread-local one valid
 * until the next such call); for the errnos betrkv gives a specific meaning
 * (see <linux/betrkv.h>) it names that meaning, else strerror()'s text.
 */
BETRKV_EXPORT
const char *betrkv_errstr(int err)
{
	static __thread char unknown[32];
	const char *text;
	size_t i;

	if (err < 0 && err != INT_MIN)
		err = -err;
	for (i = 0; i < sizeof(betrkv_errors) / sizeof(betrkv_errors[0]); i++)
		if (betrkv_errors[i].err == err)
			return betrkv_errors[i].text;
	text = strerrordesc_np(err);
	if (text)
		return text;
	snprintf(unknown, sizeof(unknown), "Unknown error %d", err);
	return unknown;
}

/**
 * betrkv_state_name() - text for enum betrkv_state.
 * @state: a value of betrkv_status_args.state
 *
 * Return: "live", "read-only", "failed", or "unknown" for other values.
 */
BETRKV_EXPORT
const char *betrkv_state_name(uint32_t state)
{
	static const char *const names[] = BETRKV_STATE_NAMES;

	return state < sizeof(names) / sizeof(names[0]) && names[state] ?
	       names[state] : "unknown";
}

/* ---- data: /dev/betrkv<N> ---- */

/* An open store: only the file descriptor, so that threads may share it. */
struct betrkv {
	int fd;
};

/* The batch being built: the ops array, grown as needed. */
struct betrkv_batch {
	struct betrkv_batch_op *ops;
	uint32_t nops;
	uint32_t cap;
	size_t bytes;		/* keys and values of @ops */
};

/* Bytes of an iterator's page buffer: at least BETRKV_SCAN_BUF_MIN. */
#define ITER_BUF_LEN	(256u << 10)
/* The smallest scan record: its header and a 1-byte key, padded to 8. */
#define SCAN_REC_MIN	16u

/*
 * A scan: the page of records the module returned last, and the request
 * that fetches the next one (from @start, or after it once a page was seen).
 */
struct betrkv_iter {
	struct betrkv *s;
	uint32_t flags;		/* BETRKV_SCAN_* of the next request */
	uint32_t start_len;
	uint32_t end_len;
	uint32_t count;		/* records of the page not yet returned */
	bool more;		/* pairs may follow the page */
	size_t pos;		/* offset of the next record in @buf */
	const uint8_t *last_key;	/* the last key returned, in @buf */
	uint32_t last_len;
	uint8_t start[BETRKV_KEY_MAX];
	uint8_t end[BETRKV_KEY_MAX];
	uint8_t *buf;		/* ITER_BUF_LEN bytes */
};

static int store_ioctl(struct betrkv *s, unsigned long cmd, void *arg)
{
	return ioctl(s->fd, cmd, arg) < 0 ? -errno : 0;
}

/* 0 if @key, @len is a key every store takes, else -EINVAL or -E2BIG. */
static int check_key(const void *key, size_t len)
{
	if (!key || !len)
		return -EINVAL;
	return len > BETRKV_KEY_MAX ? -E2BIG : 0;
}

static int check_value(const void *value, size_t len)
{
	if (!value && len)
		return -EINVAL;
	return len > BETRKV_VALUE_MAX ? -E2BIG : 0;
}

/* memcmp order, a prefix before its extensions, as the module orders keys. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/**
 * betrkv_open() - open the bound store /dev/betrkv<N>.
 * @index: N
 * @sp: receives the handle
 *
 * The handle is a file descriptor opened read-write: the module refuses
 * mutations of a read-only store itself.  A missing device node, or a stale
 * one whose store is gone, is -ENOENT.
 *
 * Return: 0, -ENOENT if no store is bound there, or another negative errno.
 */
BETRKV_EXPORT
int betrkv_open(uint32_t index, struct betrkv **sp)
{
	const char *dir = secure_getenv("BETRKV_DEVICE_DIR");
	char path[PATH_MAX];
	struct betrkv *s;
	int len;

	if (!sp)
		return -EINVAL;
	if (!dir || !*dir)
		dir = "/dev";
	len = snprintf(path, sizeof(path), "%s/" BETRKV_DEVICE_PREFIX "%u",
		       dir, index);
	if (len >= (int)sizeof(path))
		return -ENAMETOOLONG;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		int ret = errno == ENXIO || errno == ENODEV ? -ENOENT : -errno;

		free(s);
		return ret;
	}
	*sp = s;
	return 0;
}

/**
 * betrkv_close() - close a handle from betrkv_open().
 * @s: the handle, or NULL
 */
BETRKV_EXPORT
void betrkv_close(struct betrkv *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

/**
 * betrkv_get() - read the value of a key.
 * @s: the store
 * @key: the key
 * @key_len: its length, 1..BETRKV_KEY_MAX
 * @value: buffer for the value (may be NULL when @cap is 0)
 * @cap: its size (more than 4 GiB counts as 4 GiB - 1)
 * @value_len: receives the value's length, also when it does not fit;
 *             left untouched on other failures
 *
 * A @cap of 0 asks only for the length: -ERANGE and @value_len unless the
 * value is empty.
 *
 * Return: 0; -ENOENT if the key is absent; -ERANGE if the value is longer
 * than @cap (nothing copied); -EUCLEAN or -EIO if the data cannot be read;
 * -EINVAL or -E2BIG for invalid arguments, before any system call.
 */
BETRKV_EXPORT
int betrkv_get(struct betrkv *s, const void *key, size_t key_len, void *value,
	       size_t cap, size_t *value_len)
{
	struct betrkv_kv_args args;
	int ret;

	if (!s || !value_len || (!value && cap))
		return -EINVAL;
	ret = check_key(key, key_len);
	if (ret)
		return ret;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.key = (uintptr_t)key;
	args.key_len = key_len;
	args.value = (uintptr_t)value;
	args.value_len = cap < UINT32_MAX ? cap : UINT32_MAX;
	ret = store_ioctl(s, BETRKV_IOC_GET, &args);
	if (!ret || ret == -ERANGE)
		*value_len = args.value_len;
	return ret;
}

/**
 * betrkv_put() - set a key to a value.
 * @s: the store
 * @key: the key
 * @key_len: its length, 1..BETRKV_KEY_MAX
 * @value: the value (may be NULL when @value_len is 0)
 * @value_len: its length, 0..BETRKV_VALUE_MAX
 * @seq: receives the mutation's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno (-EROFS, -ENOSPC, -EIO, ...); -EINVAL or
 * -E2BIG for invalid arguments, before any system call.
 */
BETRKV_EXPORT
int betrkv_put(struct betrkv *s, const void *key, size_t key_len,
	       const void *value, size_t value_len, uint64_t *seq)
{
	struct betrkv_kv_args args;
	int ret;

	if (!s)
		return -EINVAL;
	ret = check_key(key, key_len) ?: check_value(value, value_len);
	if (ret)
		return ret;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.key = (uintptr_t)key;
	args.key_len = key_len;
	args.value = (uintptr_t)value;
	args.value_len = value_len;
	ret = store_ioctl(s, BETRKV_IOC_PUT, &args);
	if (!ret && seq)
		*seq = args.seq;
	return ret;
}

/**
 * betrkv_delete() - remove a key (absent keys are fine).
 * @s: the store
 * @key: the key
 * @key_len: its length, 1..BETRKV_KEY_MAX
 * @seq: receives the mutation's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno; -EINVAL or -E2BIG for invalid arguments,
 * before any system call.
 */
BETRKV_EXPORT
int betrkv_delete(struct betrkv *s, const void *key, size_t key_len,
		  uint64_t *seq)
{
	struct betrkv_kv_args args;
	int ret;

	if (!s)
		return -EINVAL;
	ret = check_key(key, key_len);
	if (ret)
		return ret;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.key = (uintptr_t)key;
	args.key_len = key_len;
	ret = store_ioctl(s, BETRKV_IOC_DELETE, &args);
	if (!ret && seq)
		*seq = args.seq;
	return ret;
}

/**
 * betrkv_batch_new() - an empty batch.
 *
 * Return: the batch, or NULL with errno ENOMEM.
 */
BETRKV_EXPORT
struct betrkv_batch *betrkv_batch_new(void)
{
	return calloc(1, sizeof(struct betrkv_batch));
}

/* Append one op; its key and value are checked, the limits not yet. */
static int batch_add(struct betrkv_batch *b, uint32_t type, const void *key,
		     size_t key_len, const void *value, size_t value_len)
{
	struct betrkv_batch_op *op;

	if (b->nops == BETRKV_BATCH_OPS_MAX ||
	    b->bytes + key_len + value_len > BETRKV_BATCH_BYTES_MAX)
		return -E2BIG;
	if (b->nops == b->cap) {
		uint32_t cap = b->cap ? 2 * b->cap : 16;

		op = realloc(b->ops, cap * sizeof(*op));
		if (!op)
			return -ENOMEM;
		b->ops = op;
		b->cap = cap;
	}
	op = &b->ops[b->nops++];
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->key = (uintptr_t)key;
	op->key_len = key_len;
	op->value = (uintptr_t)value;
	op->value_len = value_len;
	b->bytes += key_len + value_len;
	return 0;
}

/**
 * betrkv_batch_put() - add the setting of a key to a batch.
 * @b: the batch
 * @key: the key; kept by pointer until the batch is committed or freed
 * @key_len: its length, 1..BETRKV_KEY_MAX
 * @value: the value (may be NULL when @value_len is 0); kept by pointer
 * @value_len: its length, 0..BETRKV_VALUE_MAX
 *
 * Return: 0; -EINVAL or -E2BIG for an invalid key or value; -E2BIG if the
 * batch already holds BETRKV_BATCH_OPS_MAX mutations or would exceed
 * BETRKV_BATCH_BYTES_MAX bytes of keys and values (then the batch is
 * unchanged: commit it and start another); -ENOMEM.
 */
BETRKV_EXPORT
int betrkv_batch_put(struct betrkv_batch *b, const void *key, size_t key_len,
		     const void *value, size_t value_len)
{
	int ret;

	if (!b)
		return -EINVAL;
	ret = check_key(key, key_len) ?: check_value(value, value_len);
	if (ret)
		return ret;
	return batch_add(b, BETRKV_PUT, key, key_len, value, value_len);
}

/**
 * betrkv_batch_delete() - add the removal of a key to a batch.
 * @b: the batch
 * @key: the key; kept by pointer until the batch is committed or freed
 * @key_len: its length, 1..BETRKV_KEY_MAX
 *
 * Return: as betrkv_batch_put().
 */
BETRKV_EXPORT
int betrkv_batch_delete(struct betrkv_batch *b, const void *key,
			size_t key_len)
{
	int ret;

	if (!b)
		return -EINVAL;
	ret = check_key(key, key_len);
	if (ret)
		return ret;
	return batch_add(b, BETRKV_DELETE, key, key_len, NULL, 0);
}

/**
 * betrkv_batch_commit() - apply a batch atomically; the batch is emptied.
 * @s: the store
 * @b: the batch (at least one mutation)
 * @seq: receives the batch's sequence number (may be NULL)
 *
 * The batch is emptied when it was applied, and kept as it is when it was
 * not, so that it can be committed again or freed.
 *
 * Return: 0 or a negative errno (then nothing of the batch was applied);
 * -EINVAL for an empty batch, before any system call.
 */
BETRKV_EXPORT
int betrkv_batch_commit(struct betrkv *s, struct betrkv_batch *b,
			uint64_t *seq)
{
	struct betrkv_batch_args args;
	int ret;

	if (!s || !b || !b->nops)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.ops = (uintptr_t)b->ops;
	args.nops = b->nops;
	ret = store_ioctl(s, BETRKV_IOC_BATCH, &args);
	if (ret)
		return ret;
	b->nops = 0;
	b->bytes = 0;
	if (seq)
		*seq = args.seq;
	return 0;
}

/**
 * betrkv_batch_free() - free a batch, committed or not.
 * @b: the batch, or NULL
 */
BETRKV_EXPORT
void betrkv_batch_free(struct betrkv_batch *b)
{
	if (!b)
		return;
	free(b->ops);
	free(b);
}

/**
 * betrkv_iter_new() - an iterator over [start, end).
 * @s: the store; it must stay open while the iterator is used
 * @start: the lower bound (copied)
 * @start_len: its length, 1..BETRKV_KEY_MAX
 * @end: the upper bound (copied), or NULL for no bound
 * @end_len: its length, 1..BETRKV_KEY_MAX; 0 when @end is NULL
 * @itp: receives the iterator
 *
 * Makes no system call: the first betrkv_iter_next() fetches the first
 * page.  The bounds compare as the module orders keys: bytewise, a key
 * before its extensions.  An @end equal to @start gives no pairs.
 *
 * Return: 0, -EINVAL if @end is below @start (or for other invalid
 * arguments), -E2BIG for a bound longer than BETRKV_KEY_MAX, -ENOMEM.
 */
BETRKV_EXPORT
int betrkv_iter_new(struct betrkv *s, const void *start, size_t start_len,
		    const void *end, size_t end_len, struct betrkv_iter **itp)
{
	struct betrkv_iter *it;
	int ret;

	if (!s || !itp || (!end && end_len))
		return -EINVAL;
	ret = check_key(start, start_len);
	if (!ret && end)
		ret = check_key(end, end_len);
	if (ret)
		return ret;
	if (end && key_cmp(end, end_len, start, start_len) < 0)
		return -EINVAL;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->buf = malloc(ITER_BUF_LEN);
	if (!it->buf) {
		free(it);
		return -ENOMEM;
	}
	it->s = s;
	it->more = true;	/* the first page is still to come */
	memcpy(it->start, start, start_len);
	it->start_len = start_len;
	if (end) {
		memcpy(it->end, end, end_len);
		it->end_len = end_len;
	} else {
		it->flags = BETRKV_SCAN_TO_END;
	}
	*itp = it;
	return 0;
}

/*
 * Fetch the next page: from the start, or after the last key returned.  On
 * failure the request stays as it was, so the next call tries it again.
 */
static int iter_fetch(struct betrkv_iter *it)
{
	struct betrkv_scan_args args;
	int ret;

	if (it->last_key) {
		memcpy(it->start, it->last_key, it->last_len);
		it->start_len = it->last_len;
		it->flags |= BETRKV_SCAN_AFTER;
		it->last_key = NULL;
	}
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.flags = it->flags;
	args.start = (uintptr_t)it->start;
	args.start_len = it->start_len;
	if (!(it->flags & BETRKV_SCAN_TO_END)) {
		args.end = (uintptr_t)it->end;
		args.end_len = it->end_len;
	}
	args.buf = (uintptr_t)it->buf;
	args.buf_len = ITER_BUF_LEN;
	args.max_pairs = ITER_BUF_LEN / SCAN_REC_MIN;	/* as many as fit */
	ret = store_ioctl(it->s, BETRKV_IOC_SCAN, &args);
	if (ret)
		return ret;
	/* "More" after nothing would ask for the same page forever. */
	if (!args.count && args.more)
		return -EPROTO;
	it->count = args.count;
	it->more = args.more;
	it->pos = 0;
	return 0;
}

/**
 * betrkv_iter_next() - the next pair.
 * @it: the iterator
 * @key: receives a pointer to the key, valid until the next call (may be
 *       NULL)
 * @key_len: receives its length (may be NULL)
 * @value: receives a pointer to the value, valid until the next call (may
 *         be NULL)
 * @value_len: receives its length (may be NULL)
 *
 * Pages are fetched into the iterator's own buffer; when the module says
 * more pairs may follow one, the next page starts after its last key.  A
 * failed call can be retried: it fetches the same page again.  A page whose
 * records do not fit the buffer, or "more" after an empty page, is -EPROTO.
 *
 * Return: 1 for a pair, 0 at the end (and on every call after it), or a
 * negative errno.
 */
BETRKV_EXPORT
int betrkv_iter_next(struct betrkv_iter *it, const void **key, size_t *key_len,
		     const void **value, size_t *value_len)
{
	struct betrkv_scan_rec rec;
	const uint8_t *data;
	size_t room;
	int ret;

	if (!it)
		return -EINVAL;
	while (!it->count) {
		if (!it->more)
			return 0;
		ret = iter_fetch(it);
		if (ret)
			return ret;
	}
	if (it->pos > ITER_BUF_LEN - sizeof(rec))
		return -EPROTO;
	memcpy(&rec, it->buf + it->pos, sizeof(rec));
	room = ITER_BUF_LEN - it->pos - sizeof(rec);
	if (!rec.key_len || rec.key_len > BETRKV_KEY_MAX ||
	    rec.key_len > room || rec.value_len > room - rec.key_len)
		return -EPROTO;
	data = it->buf + it->pos + sizeof(rec);
	it->last_key = data;
	it->last_len = rec.key_len;
	it->pos += (sizeof(rec) + rec.key_len + rec.value_len + 7) & ~(size_t)7;
	it->count--;
	if (key)
		*key = data;
	if (key_len)
		*key_len = rec.key_len;
	if (value)
		*value = data + rec.key_len;
	if (value_len)
		*value_len = rec.value_len;
	return 1;
}

/**
 * betrkv_iter_free() - free an iterator.
 * @it: the iterator, or NULL
 */
BETRKV_EXPORT
void betrkv_iter_free(struct betrkv_iter *it)
{
	if (!it)
		return;
	free(it->buf);
	free(it);
}

/**
 * betrkv_sync() - make every completed mutation durable.
 * @s: the store
 * @durable_seq: receives the highest durable sequence number (may be NULL)
 *
 * Return: 0 or a negative errno.
 */
BETRKV_EXPORT
int betrkv_sync(struct betrkv *s, uint64_t *durable_seq)
{
	struct betrkv_sync_args args;
	int ret;

	if (!s)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	ret = store_ioctl(s, BETRKV_IOC_SYNC, &args);
	if (!ret && durable_seq)
		*durable_seq = args.durable_seq;
	return ret;
}

/**
 * betrkv_stats() - the store's counters.
 * @s: the store
 * @st: receives them (struct betrkv_stats_args of <linux/betrkv.h>); left
 *      untouched on failure
 *
 * Return: 0 or a negative errno.
 */
BETRKV_EXPORT
int betrkv_stats(struct betrkv *s, struct betrkv_stats_args *st)
{
	struct betrkv_stats_args args;
	int ret;

	if (!s || !st)
		return -EINVAL;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	ret = store_ioctl(s, BETRKV_IOC_STATS, &args);
	if (!ret)
		memcpy(st, &args, sizeof(args));
	return ret;
}

/**
 * betrkv_limits() - the largest key and value the store takes.
 * @s: the store
 * @key_max: receives the longest key, in bytes
 * @value_max: receives the longest value, in bytes
 *
 * Asks the module (one BETRKV_IOC_STATS), which may differ from the limits
 * this library was built with.
 *
 * Return: 0 or a negative errno; nothing is stored on failure.
 */
BETRKV_EXPORT
int betrkv_limits(struct betrkv *s, uint32_t *key_max, uint32_t *value_max)
{
	struct betrkv_stats_args st;
	int ret;

	if (!key_max || !value_max)
		return -EINVAL;
	ret = betrkv_stats(s, &st);
	if (ret)
		return ret;
	*key_max = st.key_max;
	*value_max = st.value_max;
	return 0;
}
