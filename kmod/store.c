// SPDX-License-Identifier: GPL-2.0
/*
 * Bound stores.
 *
 * The registry maps N to the store behind /dev/betrkv<N>.  A slot is
 * reserved (NULL) while a bind is in progress or an unbind is tearing the
 * store down, so the index is never reused under an opener's feet; open()
 * sees only fully bound stores.  The registry lock also protects every
 * store's open_count, which is how unbind refuses (EBUSY) while
 * /dev/betrkv<N> is open.
 *
 * Each bound store holds a reference on the module: rmmod fails with
 * EWOULDBLOCK until every store is unbound, so a store is never torn down
 * without its final checkpoint.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/module.h>

#include "store.h"
#include "uargs.h"

static DEFINE_MUTEX(stores_lock);
static DEFINE_IDR(stores);
static dev_t stores_devt;
static struct cdev stores_cdev;
static struct class *stores_class;

/* Identifies FORMAT as the exclusive holder of the device it formats. */
static const char format_holder[] = "betrkv-format";

const char *betrkv_state_name(enum betrkv_state state)
{
	static const char *const names[] = BETRKV_STATE_NAMES;

	return state < ARRAY_SIZE(names) && names[state] ? names[state] : "unknown";
}

/* devtmpfs creates /dev/betrkv<N> as 0660; the udev rule adds group disk. */
static char *store_devnode(BETRKV_CLASS_DEV_CONST struct device *dev, umode_t *mode)
{
	if (mode)
		*mode = 0660;
	return NULL;
}

/* BETRKV_UUID=<uuid> names the store, for /dev/betrkv/by-uuid/ links. */
static int store_uevent(BETRKV_CLASS_DEV_CONST struct device *dev, struct kobj_uevent_env *env)
{
	const struct betrkv_store *store = dev_get_drvdata(dev);

	return store ? add_uevent_var(env, "BETRKV_UUID=%pU", store->uuid) : 0;
}

static int store_open(struct inode *inode, struct file *file)
{
	struct betrkv_store *store;

	mutex_lock(&stores_lock);
	store = idr_find(&stores, iminor(inode));
	if (store)
		store->open_count++;
	mutex_unlock(&stores_lock);
	if (!store)
		return -ENXIO;
	file->private_data = store;
	return 0;
}

static int store_release(struct inode *inode, struct file *file)
{
	struct betrkv_store *store = file->private_data;

	mutex_lock(&stores_lock);
	store->open_count--;
	mutex_unlock(&stores_lock);
	return 0;
}

static const struct file_operations store_fops = {
	.owner = THIS_MODULE,
	.open = store_open,
	.release = store_release,
	.unlocked_ioctl = betrkv_data_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * betrkv_store_format() - write a new, empty store onto a block device.
 * @args: the validated FORMAT arguments; receives the UUID
 * @path: the block device path
 *
 * Return: 0 or a negative errno; nothing is written unless the device is
 * claimed, writable and large enough.
 */
int betrkv_store_format(struct betrkv_format_args *args, const char *path)
{
	struct betrkv_bdev_handle bh;
	struct betrkv_dev dev;
	struct betrkv_sb sb;
	int err;

	err = betrkv_bdev_open(&bh, path, true, (void *)format_holder);
	if (err)
		return betrkv_reject(err, "format %s: cannot claim the device", path);
	betrkv_dev_init(&dev, bh.bdev);
	if (betrkv_dev_block_size(&dev) > BETRKV_BLOCK_SIZE) {
		err = betrkv_reject(-EINVAL, "format %s: logical block size %u is over %u",
				    path, betrkv_dev_block_size(&dev),
				    BETRKV_BLOCK_SIZE);
		goto out;
	}
	err = betrkv_sb_format(&dev, args->node_size, args->journal_size, &sb);
	if (err)
		goto out;
	memcpy(args->uuid, sb.uuid, sizeof(args->uuid));
	pr_info("%s: formatted: uuid %pU, node size %u, journal %llu bytes\n",
		dev.name, sb.uuid, sb.geo.node_size, sb.geo.journal_size);
out:
	betrkv_bdev_close(&bh);
	return err;
}

/* Open the device and the store on it, with every refusal logged. */
static int store_load(struct betrkv_store *store, const char *path,
		      u64 cache_bytes)
{
	struct betrkv_engine_opts opts = { .cache_bytes = cache_bytes,
					   .read_only = store->read_only,
					   .salvage = store->salvage,
					   .commit_ms = store->commit_ms,
					   .background = true };
	u64 ram = ((u64)totalram_pages() << PAGE_SHIFT) / 2;
	int err;

	if (cache_bytes > ram)
		return betrkv_reject(-EINVAL, "bind %s: cache of %llu bytes is over half of RAM (%llu)",
				     path, cache_bytes, ram);
	err = betrkv_bdev_open(&store->bh, path, !store->read_only, store);
	if (err)
		return betrkv_reject(err, "bind %s: cannot claim the device%s", path,
				     err == -EROFS ? " read-write: it is read-only" : "");
	betrkv_dev_init(&store->dev, store->bh.bdev);
	if (betrkv_dev_block_size(&store->dev) > BETRKV_BLOCK_SIZE) {
		err = betrkv_reject(-EINVAL, "bind %s: logical block size %u is over %u",
				    path, betrkv_dev_block_size(&store->dev),
				    BETRKV_BLOCK_SIZE);
		goto out_close;
	}
	err = betrkv_engine_open(&store->dev, &opts, &store->engine);
	if (err)
		goto out_close;
	return 0;

out_close:
	betrkv_bdev_close(&store->bh);
	return err;
}

/**
 * betrkv_store_bind() - bind the store on a block device as /dev/betrkv<N>.
 * @args: the validated BIND arguments; receives the index and UUID
 * @path: the block device path
 *
 * Return: 0 or a negative errno (see <linux/betrkv.h>); bind never writes.
 */
int betrkv_store_bind(struct betrkv_bind_args *args, const char *path)
{
	struct betrkv_status_args st;
	struct betrkv_store *store;
	int index, err;

	store = kzalloc(sizeof(*store), GFP_KERNEL);
	if (!store)
		return -ENOMEM;
	store->read_only = args->flags & BETRKV_BIND_RDONLY;
	store->salvage = args->flags & BETRKV_BIND_SALVAGE;
	if (!store->read_only)
		store->commit_ms = args->flags & BETRKV_BIND_COMMIT_MS ?
				   args->commit_ms : BETRKV_COMMIT_MS_DEFAULT;
	err = store_load(store, path, args->cache_bytes);
	if (err)
		goto out_free;
	betrkv_store_describe(store, &st);
	memcpy(store->uuid, st.uuid, sizeof(store->uuid));

	mutex_lock(&stores_lock);
	index = idr_alloc(&stores, NULL, 0, BETRKV_MAX_STORES, GFP_KERNEL);
	mutex_unlock(&stores_lock);
	if (index < 0) {
		err = index == -ENOSPC ?
		      betrkv_reject(-EMFILE, "bind %s: %u stores are bound already",
				    path, BETRKV_MAX_STORES) : index;
		goto out_close;
	}
	store->index = index;
	store->device = device_create_with_groups(stores_class, NULL,
						  MKDEV(MAJOR(stores_devt), index),
						  store, betrkv_store_groups,
						  BETRKV_DEVICE_PREFIX "%d", index);
	if (IS_ERR(store->device)) {
		err = PTR_ERR(store->device);
		goto out_unreserve;
	}
	__module_get(THIS_MODULE);
	mutex_lock(&stores_lock);
	idr_replace(&stores, store, index);
	mutex_unlock(&stores_lock);

	args->index = index;
	memcpy(args->uuid, st.uuid, sizeof(args->uuid));
	pr_info("betrkv%d: bound %s (uuid %pU, generation %llu, %s, commit every %u ms)\n",
		index, store->dev.name, st.uuid, st.generation,
		store->read_only ? "read-only" : "read-write", store->commit_ms);
	return 0;

out_unreserve:
	mutex_lock(&stores_lock);
	idr_remove(&stores, index);
	mutex_unlock(&stores_lock);
out_close:
	betrkv_engine_close(store->engine);
	betrkv_bdev_close(&store->bh);
out_free:
	kfree(store);
	return err;
}

/*
 * Close the store's engine: its error, or the one that had already stopped
 * the store's writes.  Either way acknowledged mutations that no sync
 * covered may be lost, and the log says so in one line.
 */
static int store_close(struct betrkv_store *store)
{
	struct betrkv_sb sb;
	unsigned int slot;
	u64 cache_bytes;
	int failed, err;

	failed = betrkv_engine_super(store->engine, &sb, &slot, &cache_bytes);
	err = betrkv_engine_close(store->engine) ?: failed;
	if (err)
		pr_err("betrkv%u: unbound %s, but %s (error %d): acknowledged mutations no sync covered may be lost\n",
		       store->index, store->dev.name,
		       failed ? "a write had failed" : "the final checkpoint failed", err);
	else
		pr_info("betrkv%u: unbound %s\n", store->index, store->dev.name);
	return err;
}

/**
 * betrkv_store_unbind() - unbind /dev/betrkv<N>.
 * @index: N
 *
 * Refuses with -EBUSY while /dev/betrkv<N> is open.  Otherwise the store is
 * always released; a read-write store first writes its final checkpoint.
 * A store whose writes had failed, or whose final checkpoint fails, is
 * released too, and the error is returned: the store recovers from its last
 * durable state.
 *
 * Return: 0, -ENOENT, -EBUSY, or the error of the failed store (-EIO).
 */
int betrkv_store_unbind(u32 index)
{
	struct betrkv_store *store;
	int err = 0;

	mutex_lock(&stores_lock);
	store = index < BETRKV_MAX_STORES ? idr_find(&stores, index) : NULL;
	if (store && store->open_count)
		err = -EBUSY;
	else if (store)
		idr_replace(&stores, NULL, index);
	mutex_unlock(&stores_lock);
	if (!store)
		return betrkv_reject(-ENOENT, "unbind: no store bound as betrkv%u", index);
	if (err)
		return betrkv_reject(err, "unbind: betrkv%u is open", index);

	device_destroy(stores_class, MKDEV(MAJOR(stores_devt), index));
	err = store_close(store);
	betrkv_bdev_close(&store->bh);
	kfree(store);

	mutex_lock(&stores_lock);
	idr_remove(&stores, index);
	mutex_unlock(&stores_lock);
	module_put(THIS_MODULE);
	return err;
}

/**
 * betrkv_store_list() - indices of the bound stores, in increasing order.
 * @indices: receives up to @capacity indices
 * @capacity: room at @indices
 * @count: receives the number of bound stores
 *
 * Return: 0.
 */
int betrkv_store_list(u32 *indices, u32 capacity, u32 *count)
{
	struct betrkv_store *store;
	int id;

	*count = 0;
	mutex_lock(&stores_lock);
	idr_for_each_entry(&stores, store, id) {
		if (*count < capacity)
			indices[*count] = id;
		(*count)++;
	}
	mutex_unlock(&stores_lock);
	return 0;
}

/**
 * betrkv_store_describe() - fill the output fields of a STATUS request.
 * @store: the store
 * @st: receives the description
 */
void betrkv_store_describe(struct betrkv_store *store,
			   struct betrkv_status_args *st)
{
	const struct betrkv_geometry *geo;
	struct betrkv_engine_stats es;
	struct betrkv_sb sb;
	unsigned int slot;
	int failed;

	failed = betrkv_engine_super(store->engine, &sb, &slot, &st->cache_bytes);
	betrkv_engine_stats(store->engine, &es);
	st->salvaged = es.salvaged;
	st->commit_ms = store->commit_ms;
	geo = &sb.geo;
	st->state = failed ? BETRKV_STATE_FAILED :
		    store->read_only ? BETRKV_STATE_READONLY : BETRKV_STATE_LIVE;
	memcpy(st->uuid, sb.uuid, sizeof(st->uuid));
	st->generation = sb.generation;
	st->format_version = sb.format_version;
	st->sb_slot = slot;
	st->logical_block_size = geo->logical_block_size;
	st->device_bytes = geo->device_bytes;
	st->node_size = geo->node_size;
	st->journal_offset = geo->journal_offset;
	st->journal_size = geo->journal_size;
	st->itable_offset = geo->itable_offset;
	st->itable_size = geo->itable_size;
	st->nodes_offset = geo->nodes_offset;
	st->nodes_size = geo->nodes_size;
	st->backing_dev = new_encode_dev(store->bh.bdev->bd_dev);
	strscpy(st->backing_name, store->dev.name, sizeof(st->backing_name));
}

/**
 * betrkv_store_status() - describe the store at st->index.
 * @st: the STATUS request
 *
 * Return: 0 or -ENOENT.
 */
int betrkv_store_status(struct betrkv_status_args *st)
{
	struct betrkv_store *store;

	mutex_lock(&stores_lock);
	store = st->index < BETRKV_MAX_STORES ? idr_find(&stores, st->index) : NULL;
	if (store)
		betrkv_store_describe(store, st);
	mutex_unlock(&stores_lock);
	return store ? 0 : -ENOENT;
}

int betrkv_stores_init(void)
{
	int err;

	err = alloc_chrdev_region(&stores_devt, 0, BETRKV_MAX_STORES,
				  BETRKV_DEVICE_PREFIX);
	if (err)
		return err;
	cdev_init(&stores_cdev, &store_fops);
	stores_cdev.owner = THIS_MODULE;
	err = cdev_add(&stores_cdev, stores_devt, BETRKV_MAX_STORES);
	if (err)
		goto out_region;
	stores_class = betrkv_class_create(BETRKV_DEVICE_PREFIX);
	if (IS_ERR(stores_class)) {
		err = PTR_ERR(stores_class);
		goto out_cdev;
	}
	stores_class->devnode = store_devnode;
	stores_class->dev_uevent = store_uevent;
	return 0;

out_cdev:
	cdev_del(&stores_cdev);
out_region:
	unregister_chrdev_region(stores_devt, BETRKV_MAX_STORES);
	return err;
}

void betrkv_stores_exit(void)
{
	class_destroy(stores_class);
	cdev_del(&stores_cdev);
	unregister_chrdev_region(stores_devt, BETRKV_MAX_STORES);
	idr_destroy(&stores);
}
