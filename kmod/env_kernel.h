/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel environment of the betrkv core.  Included only through env.h.
 */
#ifndef BETRKV_ENV_KERNEL_H
#define BETRKV_ENV_KERNEL_H

#ifndef pr_fmt
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#endif

#include <linux/align.h>
#include <linux/blkdev.h>
#include <linux/bug.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/rwsem.h>
#include <linux/atomic.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>


int betrkv_env_init(void);
void betrkv_env_exit(void);

/* The kernel's view of a device for the core: a claimed block device. */
struct betrkv_dev {
	struct block_device *bdev;
	char name[BDEVNAME_SIZE];
};

void betrkv_dev_init(struct betrkv_dev *dev, struct block_device *bdev);

#endif /* BETRKV_ENV_KERNEL_H */
