// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libbetrkv: the administration calls of /dev/betrkv-control.
 *
 * Each call checks its arguments first (no system call is made for invalid
 * ones), opens the control device, issues one ioctl and closes the device
 * again, so the library keeps no state and every function is thread-safe.
 *
 * The control device path is BETRKV_CONTROL_PATH unless the environment
 * variable BETRKV_CONTROL_PATH names another one (ignored in set-user-ID and
 * similar programs); tests use it to reach a missing or a foreign device.
 *
 * When the control device cannot be found (no such file, or a stale node
 * whose driver is gone) the calls return -ENODEV rather than the -ENOENT of
 * open(), because -ENOENT already means "no store bound at that index" and
 * "no such block device" in the replies of the module.
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
 * device is open, or another negative errno.
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
	{ EUCLEAN, "both superblock copies are corrupt" },
	{ EOPNOTSUPP, "store format is newer than this module" },
	{ EMEDIUMTYPE, "store geometry does not match the device" },
	{ EBUSY, "device or store is busy (claimed by someone else, or open)" },
	{ ENOTBLK, "not a block device" },
	{ EROFS, "device is read-only (bind it read-only)" },
	{ ENOSPC, "device is too small for a store" },
	{ EMFILE, "too many stores bound" },
	{ EPERM, "operation needs CAP_SYS_ADMIN" },
	{ E2BIG, "request has fields this module does not know (module older than the library)" },
	{ ENOTTY, "not a betrkv control device (ioctl not supported)" },
};

/**
 * betrkv_errstr() - a one-line reason for a value returned by this library.
 * @err: a negative errno (a positive one is taken as its negation)
 *
 * The meanings are those of the administration calls: -ENODEV is a missing
 * control device (module not loaded), -ENODATA an unformatted device, and
 * so on.  -ENOENT keeps strerror()'s text since it means either a missing
 * path or an index with no store; callers add which.
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
