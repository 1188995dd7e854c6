/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel APIs betrkv uses that differ between the kernels it targets,
 * Debian 12's 6.1 and Debian's 6.12 (bookworm-backports): every difference
 * is one helper here, chosen by LINUX_VERSION_CODE (BETRKV_KERNEL_AT_LEAST),
 * so that no other file of the module needs a version check.
 *
 * Opening a block device by path:
 * - 6.1-6.4: blkdev_get_by_path(path, FMODE_* | FMODE_EXCL, holder) and
 *   blkdev_put(bdev, mode).
 * - 6.5-6.8 changed it twice (blk_mode_t and holder ops in 6.5,
 *   bdev_open_by_path()/bdev_release() in 6.7); no Debian 12 suite ships them
 *   now, so they are refused below rather than written untested.
 * - 6.9+: bdev_file_open_by_path(path, BLK_OPEN_*, holder, NULL) returns a
 *   struct file, the device is file_bdev() of it, and bdev_fput() releases
 *   it, giving up the exclusive claim at once (fput() would defer that to
 *   the return to userspace).
 * A non-NULL holder makes every one of these an exclusive open.
 *
 * The device class: class_create() lost its owner argument in 6.4.
 */
#ifndef BETRKV_BDEV_COMPAT_H
#define BETRKV_BDEV_COMPAT_H

#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/version.h>

/* The one use of LINUX_VERSION_CODE (checkpatch warns about it). */
#define BETRKV_KERNEL_AT_LEAST(major, minor) \
	(KERNEL_VERSION(major, minor, 0) <= LINUX_VERSION_CODE)

#if BETRKV_KERNEL_AT_LEAST(6, 5) && !BETRKV_KERNEL_AT_LEAST(6, 9)
#error "betrkv: betrkv_bdev_open() is written for 6.1-6.4 and 6.9+; port it to 6.5-6.8 (see above)"
#endif

/**
 * struct betrkv_bdev_handle - a block device betrkv holds open exclusively.
 * @bdev: the device, for as long as it is open
 * @file: 6.9+: the open file that holds it
 * @mode: 6.1-6.4: the mode it was opened with, for blkdev_put()
 */
struct betrkv_bdev_handle {
	struct block_device *bdev;
#if BETRKV_KERNEL_AT_LEAST(6, 9)
	struct file *file;
#else
	fmode_t mode;
#endif
};

#if BETRKV_KERNEL_AT_LEAST(6, 9)

static inline int betrkv_bdev_get(struct betrkv_bdev_handle *h,
				  const char *path, bool write, void *holder)
{
	blk_mode_t mode = BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0);

	h->file = bdev_file_open_by_path(path, mode, holder, NULL);
	if (IS_ERR(h->file))
		return PTR_ERR(h->file);
	h->bdev = file_bdev(h->file);
	return 0;
}

static inline void betrkv_bdev_put(struct betrkv_bdev_handle *h)
{
	bdev_fput(h->file);
	h->file = NULL;
}

#else

static inline int betrkv_bdev_get(struct betrkv_bdev_handle *h,
				  const char *path, bool write, void *holder)
{
	h->mode = FMODE_READ | FMODE_EXCL | (write ? FMODE_WRITE : 0);
	h->bdev = blkdev_get_by_path(path, h->mode, holder);
	return PTR_ERR_OR_ZERO(h->bdev);
}

static inline void betrkv_bdev_put(struct betrkv_bdev_handle *h)
{
	blkdev_put(h->bdev, h->mode);
}

#endif

static inline void betrkv_bdev_close(struct betrkv_bdev_handle *h)
{
	betrkv_bdev_put(h);
	h->bdev = NULL;
}

/*
 * Open @path exclusively for @holder: -ENOTBLK if it is no block device,
 * -EBUSY if someone else holds it (a mounted filesystem, a bound store, an
 * O_EXCL opener), -EROFS if @write and the device is read-only (the kernel
 * itself says -EACCES for that).
 */
static inline int betrkv_bdev_open(struct betrkv_bdev_handle *h,
				   const char *path, bool write, void *holder)
{
	int err;

	err = betrkv_bdev_get(h, path, write, holder);
	if (err) {
		h->bdev = NULL;
		return err == -EACCES && write ? -EROFS : err;
	}
	if (write && bdev_read_only(h->bdev)) {
		betrkv_bdev_close(h);
		return -EROFS;
	}
	return 0;
}

/* The class of /dev/betrkv<N>, owned by this module. */
static inline struct class *betrkv_class_create(const char *name)
{
#if BETRKV_KERNEL_AT_LEAST(6, 4)
	return class_create(name);
#else
	return class_create(THIS_MODULE, name);
#endif
}

/* A class callback's device is const from 6.2 on. */
#if BETRKV_KERNEL_AT_LEAST(6, 2)
#define BETRKV_CLASS_DEV_CONST	const
#else
#define BETRKV_CLASS_DEV_CONST
#endif

#endif /* BETRKV_BDEV_COMPAT_H */
