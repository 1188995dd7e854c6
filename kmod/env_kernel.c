// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel environment of the betrkv core: block I/O through bios and
 * CRC-32C through the crypto API.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/vmalloc.h>
#include <crypto/hash.h>

#include "env.h"

static struct crypto_shash *crc_tfm;

/**
 * betrkv_env_init() - set up what the core needs from the kernel.
 *
 * Return: 0 or a negative errno (no "crc32c" in the crypto API).
 */
int betrkv_env_init(void)
{
	crc_tfm = crypto_alloc_shash("crc32c", 0, 0);
	if (IS_ERR(crc_tfm)) {
		int err = PTR_ERR(crc_tfm);

		pr_err("crc32c is not available from the crypto API: error %d\n", err);
		crc_tfm = NULL;
		return err;
	}
	if (crypto_shash_digestsize(crc_tfm) != sizeof(__le32)) {
		crypto_free_shash(crc_tfm);
		crc_tfm = NULL;
		return -EINVAL;
	}
	return 0;
}

void betrkv_env_exit(void)
{
	crypto_free_shash(crc_tfm);
	crc_tfm = NULL;
}

u32 betrkv_crc32c(const void *head, size_t head_len, const void *body,
		  size_t body_len)
{
	SHASH_DESC_ON_STACK(desc, crc_tfm);
	__le32 out;
	int err;

	desc->tfm = crc_tfm;
	err = crypto_shash_init(desc);
	if (!err && head_len)
		err = crypto_shash_update(desc, head, head_len);
	if (!err)
		err = crypto_shash_update(desc, body, body_len);
	if (!err)
		err = crypto_shash_final(desc, (u8 *)&out);
	shash_desc_zero(desc);
	/* A checksum that cannot be computed must never verify. */
	if (WARN_ON_ONCE(err))
		return 0;
	return le32_to_cpu(out);
}

/**
 * betrkv_dev_init() - describe a claimed block device to the core.
 * @dev: the core's device
 * @bdev: the block device
 */
void betrkv_dev_init(struct betrkv_dev *dev, struct block_device *bdev)
{
	dev->bdev = bdev;
	snprintf(dev->name, sizeof(dev->name), "%pg", bdev);
}

u64 betrkv_dev_size(const struct betrkv_dev *dev)
{
	return bdev_nr_bytes(dev->bdev);
}

u32 betrkv_dev_block_size(const struct betrkv_dev *dev)
{
	return bdev_logical_block_size(dev->bdev);
}

const char *betrkv_dev_name(const struct betrkv_dev *dev)
{
	return dev->name;
}

static struct page *buf_page(const void *p)
{
	return is_vmalloc_addr(p) ? vmalloc_to_page(p) : virt_to_page(p);
}

/* Add up to a bio's capacity of @buf; returns the bytes added. */
static size_t bio_add_buf(struct bio *bio, const u8 *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		unsigned int off = offset_in_page(buf + done);
		unsigned int n = min_t(size_t, len - done, PAGE_SIZE - off);

		if (bio_add_page(bio, buf_page(buf + done), n, off) != n)
			break;
		done += n;
	}
	return done;
}

static int dev_check_range(const struct betrkv_dev *dev, u64 off, size_t len)
{
	u32 lbs = betrkv_dev_block_size(dev);

	if (!IS_ALIGNED(off, lbs) || !IS_ALIGNED(len, lbs) || !len)
		return -EINVAL;
	if (off > betrkv_dev_size(dev) || len > betrkv_dev_size(dev) - off)
		return -ENOSPC;
	return 0;
}

/*
 * I/O of a kernel buffer, split into as many bios as it takes, submitted
 * together under a plug (so the block layer can merge them) and chained to
 * the last one, which is waited for: the call returns when all completed,
 * with the first error.  PREFLUSH goes on the first bio only; FUA on every
 * bio of a write.
 */
static int dev_rw(struct betrkv_dev *dev, blk_opf_t opf, u64 off, u8 *buf,
		  size_t len)
{
	bool vmapped = is_vmalloc_addr(buf);
	struct bio *bio = NULL, *next;
	struct blk_plug plug;
	size_t done = 0, n;
	int err = 0, werr;

	if (vmapped && op_is_write(opf))
		flush_kernel_vmap_range(buf, len);
	blk_start_plug(&plug);
	while (done < len) {
		unsigned int pages = DIV_ROUND_UP(offset_in_page(buf + done) +
						  (len - done), PAGE_SIZE);

		next = bio_alloc(dev->bdev, min_t(unsigned int, pages, BIO_MAX_VECS),
				 opf, GFP_NOIO);
		next->bi_iter.bi_sector = (off + done) >> SECTOR_SHIFT;
		n = bio_add_buf(next, buf + done, len - done);
		if (!n) {
			bio_put(next);
			err = -EIO;
			break;
		}
		done += n;
		if (bio) {
			bio_chain(bio, next);
			submit_bio(bio);
		}
		bio = next;
		opf &= ~REQ_PREFLUSH;
	}
	if (bio) {
		werr = submit_bio_wait(bio);
		bio_put(bio);
		err = err ?: werr;
	}
	blk_finish_plug(&plug);
	if (vmapped && !op_is_write(opf))
		invalidate_kernel_vmap_range(buf, len);
	return err;
}

int betrkv_dev_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	int err = dev_check_range(dev, off, len);

	return err ?: dev_rw(dev, REQ_OP_READ, off, buf, len);
}

int betrkv_dev_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	blk_opf_t opf = REQ_OP_WRITE | REQ_SYNC;
	int err = dev_check_range(dev, off, len);

	if (err)
		return err;
	if (flags & BETRKV_IO_PREFLUSH)
		opf |= REQ_PREFLUSH;
	if (flags & BETRKV_IO_FUA)
		opf |= REQ_FUA;
	return dev_rw(dev, opf, off, (u8 *)buf, len);
}

struct betrkv_worker {
	struct workqueue_struct *wq;
	struct work_struct work;
	struct delayed_work timer;
	void (*fn)(void *arg);
	void (*tfn)(void *arg);
	unsigned long period;		/* of the timer, in jiffies */
	void *arg;
};

/*
 * The queue has WQ_MEM_RECLAIM (a checkpoint is how dirty nodes leave, so
 * it must make progress under memory pressure), and its work allocates
 * with GFP_KERNEL: each run is a memalloc_noio scope, which makes those
 * allocations GFP_NOIO, so that reclaim never waits for I/O that this very
 * queue would have to issue.
 */
static void worker_call(void (*fn)(void *arg), void *arg)
{
	unsigned int noio = memalloc_noio_save();

	fn(arg);
	memalloc_noio_restore(noio);
}

static void worker_run(struct work_struct *work)
{
	struct betrkv_worker *w = container_of(work, struct betrkv_worker, work);

	worker_call(w->fn, w->arg);
}

static void worker_tick(struct work_struct *work)
{
	struct betrkv_worker *w = container_of(to_delayed_work(work),
					       struct betrkv_worker, timer);

	worker_call(w->tfn, w->arg);
	queue_delayed_work(w->wq, &w->timer, w->period);
}

/**
 * betrkv_worker_start() - a worker on its own ordered workqueue.
 * @name: for the workqueue's name
 * @fn: what it runs
 * @arg: @fn's argument
 * @wp: receives the worker
 *
 * Ordered: @fn and the timer's function never run at the same time.
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_worker_start(const char *name, void (*fn)(void *arg), void *arg,
			struct betrkv_worker **wp)
{
	struct betrkv_worker *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return -ENOMEM;
	w->wq = alloc_ordered_workqueue("betrkv-%s", WQ_MEM_RECLAIM, name);
	if (!w->wq) {
		kfree(w);
		return -ENOMEM;
	}
	INIT_WORK(&w->work, worker_run);
	INIT_DELAYED_WORK(&w->timer, worker_tick);
	w->fn = fn;
	w->arg = arg;
	*wp = w;
	return 0;
}

/**
 * betrkv_worker_kick() - run the worker's function once more, soon.
 * @w: the worker
 */
void betrkv_worker_kick(struct betrkv_worker *w)
{
	queue_work(w->wq, &w->work);
}

/**
 * betrkv_worker_every() - start the worker's timer.
 * @w: the worker, whose timer is not started yet
 * @tfn: what the timer runs on the worker, with the worker's argument
 * @ms: its period in milliseconds, at least 1
 *
 * A delayed work on the worker's queue that queues itself again after
 * each run, until betrkv_worker_stop().
 */
void betrkv_worker_every(struct betrkv_worker *w, void (*tfn)(void *arg),
			 unsigned int ms)
{
	WARN_ON_ONCE(w->tfn || !ms);
	w->tfn = tfn;
	w->period = msecs_to_jiffies(ms);
	queue_delayed_work(w->wq, &w->timer, w->period);
}

/**
 * betrkv_worker_stop() - stop the timer, wait for the runs under way, free.
 * @w: the worker, or NULL
 */
void betrkv_worker_stop(struct betrkv_worker *w)
{
	if (!w)
		return;
	cancel_delayed_work_sync(&w->timer);
	destroy_workqueue(w->wq);
	kfree(w);
}
