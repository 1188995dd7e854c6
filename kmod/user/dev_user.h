/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace block devices for the core.  Each kind (a file or block device:
 * env_user.c; the simulated disk of the crash tests: simdisk.c) fills in a
 * struct betrkv_dev with its operations; the core's betrkv_dev_*() calls
 * check the range and dispatch to them.
 */
#ifndef BETRKV_DEV_USER_H
#define BETRKV_DEV_USER_H

#include "../env.h"

struct betrkv_dev_ops {
	int (*read)(struct betrkv_dev *dev, u64 off, void *buf, size_t len);
	int (*write)(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags);
	void (*close)(struct betrkv_dev *dev);
};

/* Embed this first in each kind's own struct. */
struct betrkv_dev {
	const struct betrkv_dev_ops *ops;
	char *name;
	u64 size;
	u32 block_size;
};

#endif /* BETRKV_DEV_USER_H */
