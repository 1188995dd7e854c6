/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bound stores: the registry of /dev/betrkv<N>, bind, unbind, status.
 */
#ifndef BETRKV_STORE_H
#define BETRKV_STORE_H

#include <linux/betrkv.h>
#include <linux/device.h>
#include <linux/mutex.h>

#include "bdev_compat.h"
#include "engine.h"

/**
 * struct betrkv_store - one bound store.
 * @index:      N of /dev/betrkv<N>
 * @read_only:  bound with BETRKV_BIND_RDONLY: nothing is ever written
 * @salvage:    bound with BETRKV_BIND_SALVAGE (read-only)
 * @commit_ms:  the periodic commit interval, 0 = off (always, read-only)
 * @uuid:       the store's UUID, as its uevent names it (BETRKV_UUID)
 * @open_count: openers of /dev/betrkv<N>; protected by the registry lock
 * @engine:     the store itself
 * @bh:         the claimed block device
 * @dev:        the core's view of it
 * @device:     the class device behind /dev/betrkv<N> and its sysfs files
 */
struct betrkv_store {
	u32 index;
	bool read_only;
	bool salvage;
	u32 commit_ms;
	u8 uuid[16];
	unsigned int open_count;
	struct betrkv_engine *engine;
	struct betrkv_bdev_handle bh;
	struct betrkv_dev dev;
	struct device *device;
};

int betrkv_stores_init(void);
void betrkv_stores_exit(void);

int betrkv_store_format(struct betrkv_format_args *args, const char *path);
int betrkv_store_bind(struct betrkv_bind_args *args, const char *path);
int betrkv_store_unbind(u32 index);
int betrkv_store_list(u32 *indices, u32 capacity, u32 *count);
int betrkv_store_status(struct betrkv_status_args *st);

void betrkv_store_describe(struct betrkv_store *store,
			   struct betrkv_status_args *st);
const char *betrkv_state_name(enum betrkv_state state);

long betrkv_data_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
void betrkv_store_stats(struct betrkv_store *store, struct betrkv_stats_args *a);

extern const struct attribute_group *betrkv_store_groups[];

#endif /* BETRKV_STORE_H */
