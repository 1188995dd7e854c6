/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libbetrkv: the userspace interface to betrkv stores.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure, in the manner of liburing and libnvme; none prints or exits.
 * betrkv_errstr() turns such a value into a one-line reason that knows the
 * betrkv-specific meanings (ENODATA: not formatted, and so on).  All
 * functions are thread-safe: each opens the control device for the call.
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
 * (ignored in setuid programs) overrides it, for tests.  When the control
 * device is missing (module not loaded) every call returns -ENODEV.
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
 */
struct betrkv_bind_opts {
	uint64_t cache_bytes;
	bool read_only;
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
 * device is open, or another negative errno.
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

#ifdef __cplusplus
}
#endif

#endif /* BETRKV_H */
