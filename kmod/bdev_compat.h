/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a block device by path: the one kernel API betrkv uses that
 * changes across the kernels it targets.
 *
 * 6.1 (Debian 12): blkdev_get_by_path(path, fmode, holder) / blkdev_put().
 * 6.5 replaced fmode_t with blk_mode_t and added holder ops; 6.9+ (Debian's
 * 6.12) opens with bdev_file_open_by_path(path, mode, holder, NULL) and
 * releases with fput() of the returned file, the bdev being file_bdev().
 * Porting means filling in a second betrkv_bdev_open()/close() pair below;
 * nothing else in the module touches these calls.
 */
#ifndef BETRKV_BDEV_COMPAT_H
#define BETRKV_BDEV_COMPAT_H

#include <linux/blkdev.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#error "betrkv: betrkv_bdev_open() is written for 6.1-6.4; port it (see above)"
#endif

struct betrkv_bdev_handle {
	struct block_device *bdev;
	fmode_t mode;
};

/*
 * Open @path exclusively for @holder: -ENOTBLK if it is no block device,
 * -EBUSY if someone else holds it (a mounted filesystem, a bound store, an
 * O_EXCL opener), -EROFS if @write and the device is read-only.
 */
static inline int betrkv_bdev_open(struct betrkv_bdev_handle *h,
				   const char *path, bool write, void *holder)
{
	struct block_device *bdev;

	h->mode = FMODE_READ | FMODE_EXCL | (write ? FMODE_WRITE : 0);
	bdev = blkdev_get_by_path(path, h->mode, holder);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev) == -EACCES && write ? -EROFS : PTR_ERR(bdev);
	if (write && bdev_read_only(bdev)) {
		blkdev_put(bdev, h->mode);
		return -EROFS;
	}
	h->bdev = bdev;
	return 0;
}

static inline void betrkv_bdev_close(struct betrkv_bdev_handle *h)
{
	blkdev_put(h->bdev, h->mode);
	h->bdev = NULL;
}

#endif /* BETRKV_BDEV_COMPAT_H */
