/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libbetrkv: the userspace interface to betrkv stores.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure, in the manner of liburing and libnvme; none prints or exits.
 * betrkv_errstr() turns such a value into a one-line reason that knows the
 * betrkv-specific meanings (ENODATA: not formatted, and so on).  The
 * administration calls open the control device for each call; a struct
 * betrkv (an open store) may be shared by threads; batches and iterators
 * belong to one thread each.
 */
#ifndef BETRKV_H
#define BETRKV_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/betrkv.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Path of the control device.  The environment variable BETRKV_CONTROL_PATH
 * (ignored in setuid programs) overrides it, and BETRKV_DEVICE_DIR the
 * directory of the store devices (default /dev), for tests.  When the
 * control device is missing (module not loaded) the administration calls
 * return -ENODEV.
 */
#define BETRKV_CONTROL_PATH	"/dev/" BETRKV_CONTROL_NAME

/**
 * struct betrkv_format_opts - options of betrkv_format().
 * @node_size: bytes per node, 0 = BETRKV_NODE_SIZE_DEFAULT
 * @journal_size: bytes of journal, 0 = chosen from the device size
 */
struct betrkv_format_opts {
	uint32_t node_size;
	uint64_t journal_size;
};

/**
 * struct betrkv_bind_opts - options of betrkv_bind().
 * @cache_bytes: block cache budget, 0 = BETRKV_CACHE_BYTES_DEFAULT
 * @read_only: never write to the device
 * @salvage: with @read_only only: if the journal holds a corrupt block of
 *           durable data, open the state before it (STATUS says "salvaged")
 * @set_commit_ms: use @commit_ms, not BETRKV_COMMIT_MS_DEFAULT
 * @commit_ms: with @set_commit_ms, the periodic commit interval in
 *             milliseconds, at most BETRKV_COMMIT_MS_MAX; 0 = off
 */
struct betrkv_bind_opts {
	uint64_t cache_bytes;
	bool read_only;
	bool salvage;
	bool set_commit_ms;
	uint32_t commit_ms;
};

/**
 * betrkv_format() - write a new, empty store onto a block device.
 * @dev_path: the block device, e.g. "/dev/sdb"; its contents are destroyed
 * @opts: options, or NULL for the defaults
 * @uuid: if not NULL, receives the new store's UUID
 *
 * Return: 0 or a negative errno.
 */
int betrkv_format(const char *dev_path, const struct betrkv_format_opts *opts,
		  uint8_t uuid[16]);

/**
 * betrkv_bind() - open the store on a block device as /dev/betrkv<N>.
 * @dev_path: the block device
 * @opts: options, or NULL for the defaults
 * @index: receives N
 *
 * Return: 0 or a negative errno.
 */
int betrkv_bind(const char *dev_path, const struct betrkv_bind_opts *opts,
		uint32_t *index);

/**
 * betrkv_unbind() - close the store at /dev/betrkv<N>.
 * @index: N
 *
 * Return: 0, -ENOENT if nothing is bound there, -EBUSY while the store's
 * device is open, or another negative errno.  -EIO means the store was
 * unbound but a write had failed (or the final checkpoint did):
 * acknowledged mutations that no sync covered may be lost.
 */
int betrkv_unbind(uint32_t index);

/**
 * betrkv_list() - indices of the bound stores.
 * @indices: array of @capacity entries (may be NULL when @capacity is 0)
 * @capacity: entries available
 *
 * Return: the number of bound stores (possibly more than @capacity, of which
 * the first @capacity are stored, in increasing order) or a negative errno.
 */
int betrkv_list(uint32_t *indices, uint32_t capacity);

/**
 * betrkv_status() - describe the store at /dev/betrkv<N>.
 * @index: N
 * @st: receives the description
 *
 * Return: 0 or a negative errno (-ENOENT if nothing is bound there).
 */
int betrkv_status(uint32_t index, struct betrkv_status_args *st);

/**
 * betrkv_errstr() - a one-line reason for a value returned by this library.
 * @err: a negative errno
 *
 * Return: a static string; for the errnos betrkv gives a specific meaning
 * (see <linux/betrkv.h>) it names that meaning, else strerror()'s text.
 */
const char *betrkv_errstr(int err);

/* Text for enum betrkv_state, "unknown" for other values. */
const char *betrkv_state_name(uint32_t state);

/*
 * Data.  A struct betrkv is an open /dev/betrkv<N>: one file descriptor,
 * usable from any number of threads at once (every call is one ioctl).
 * Keys are 1..BETRKV_KEY_MAX bytes, values 0..BETRKV_VALUE_MAX bytes;
 * longer ones fail with -E2BIG.
 */
struct betrkv;

/**
 * betrkv_open() - open the bound store /dev/betrkv<N>.
 * @index: N
 * @sp: receives the handle
 *
 * Return: 0, -ENOENT if no store is bound there, or another negative errno.
 */
int betrkv_open(uint32_t index, struct betrkv **sp);

/* Close a handle from betrkv_open() (NULL is fine). */
void betrkv_close(struct betrkv *s);

/**
 * betrkv_get() - read the value of a key.
 * @s: the store
 * @key: the key
 * @key_len: its length
 * @value: buffer for the value (may be NULL when @cap is 0)
 * @cap: its size
 * @value_len: receives the value's length, also when it does not fit
 *
 * Return: 0; -ENOENT if the key is absent; -ERANGE if the value is longer
 * than @cap (nothing copied); -EUCLEAN or -EIO if the data cannot be read.
 */
int betrkv_get(struct betrkv *s, const void *key, size_t key_len, void *value,
	       size_t cap, size_t *value_len);

/**
 * betrkv_put() - set a key to a value.
 * @s: the store
 * @key: the key
 * @key_len: its length
 * @value: the value
 * @value_len: its length
 * @seq: receives the mutation's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno (-EROFS, -ENOSPC, -EIO, -E2BIG, ...).
 */
int betrkv_put(struct betrkv *s, const void *key, size_t key_len,
	       const void *value, size_t value_len, uint64_t *seq);

/**
 * betrkv_delete() - remove a key (absent keys are fine).
 * @s: the store
 * @key: the key
 * @key_len: its length
 * @seq: receives the mutation's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno.
 */
int betrkv_delete(struct betrkv *s, const void *key, size_t key_len,
		  uint64_t *seq);

/*
 * Batches: puts and deletes applied atomically, in order (a later one on
 * the same key wins).  The batch keeps pointers to the keys and values:
 * they must stay valid until betrkv_batch_commit() returns.
 */
struct betrkv_batch;

struct betrkv_batch *betrkv_batch_new(void);
int betrkv_batch_put(struct betrkv_batch *b, const void *key, size_t key_len,
		     const void *value, size_t value_len);
int betrkv_batch_delete(struct betrkv_batch *b, const void *key,
			size_t key_len);
/**
 * betrkv_batch_commit() - apply a batch atomically; on success it is emptied.
 * @s: the store
 * @b: the batch (at least one mutation)
 * @seq: receives the batch's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno (then nothing of the batch was applied and
 * the batch is kept: commit it again or free it).
 */
int betrkv_batch_commit(struct betrkv *s, struct betrkv_batch *b,
			uint64_t *seq);
void betrkv_batch_free(struct betrkv_batch *b);

/*
 * Scans: an iterator over the pairs with start <= key < end in key order,
 * fetched in pages, resuming after the last key seen, so concurrent
 * mutations never make it repeat or go back.
 */
struct betrkv_iter;

/**
 * betrkv_iter_new() - an iterator over [start, end).
 * @s: the store
 * @start: the lower bound
 * @start_len: its length, at least 1
 * @end: the upper bound, or NULL for no bound
 * @end_len: its length
 * @itp: receives the iterator
 *
 * Return: 0, -EINVAL if @end is below @start, or another negative errno.
 */
int betrkv_iter_new(struct betrkv *s, const void *start, size_t start_len,
		    const void *end, size_t end_len, struct betrkv_iter **itp);

/**
 * betrkv_iter_next() - the next pair.
 * @it: the iterator
 * @key: receives a pointer to the key (valid until the next call)
 * @key_len: receives its length
 * @value: receives a pointer to the value (valid until the next call)
 * @value_len: receives its length
 *
 * Return: 1 for a pair, 0 at the end, or a negative errno.
 */
int betrkv_iter_next(struct betrkv_iter *it, const void **key, size_t *key_len,
		     const void **value, size_t *value_len);
void betrkv_iter_free(struct betrkv_iter *it);

/**
 * betrkv_sync() - make every completed mutation durable.
 * @s: the store
 * @durable_seq: receives the highest durable sequence number (may be NULL)
 *
 * Return: 0 or a negative errno.
 */
int betrkv_sync(struct betrkv *s, uint64_t *durable_seq);

/* The store's counters (struct betrkv_stats_args of <linux/betrkv.h>). */
int betrkv_stats(struct betrkv *s, struct betrkv_stats_args *st);

/* The largest key and value the store takes. */
int betrkv_limits(struct betrkv *s, uint32_t *key_max, uint32_t *value_max);

#ifdef __cplusplus
}
#endif

#endif /* BETRKV_H */
