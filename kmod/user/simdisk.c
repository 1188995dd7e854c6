// SPDX-License-Identifier: GPL-2.0
/*
 * The simulated disk of the crash tests (the model: simdisk.h).
 *
 * State: the durable image (what the media holds) and the volatile cache:
 * every write since the last flush, in issue order, with a copy of its
 * data.  Reads copy the image and overlay the cached writes in issue order.
 * A flush applies the cached writes to the image in issue order and
 * empties the cache.
 *
 * FUA.  A FUA write is durable when it completes, yet an older cached write
 * to the same place may still land at a crash and must not overwrite it.
 * So a FUA write issued while the cache holds writes joins the cache,
 * marked must_land: a crash resolves the cache in issue order and always
 * lands it, on top of whatever the older writes did, and a later write
 * that lands (in part) still overwrites it.  With an empty cache (always
 * so after its own PREFLUSH) it goes straight to the image.
 *
 * A crash resolves each cached write that is not must_land with one of
 * four outcomes, chosen uniformly: it lands whole, vanishes, tears (each
 * 512-byte sector independently new or old) or holds garbage (one sector
 * of random bytes, each other sector garbage, new or old).  "Old" is what
 * the image holds when the write is resolved, i.e. after the outcomes of
 * the older writes.  The choices come from splitmix64 seeded with the
 * crash seed: a seed and the same cache give the same image.
 *
 * Media corruption flips the same bits of a 4 KiB block in the image and
 * in every cached copy of it, so the block reads back corrupt at once and
 * stays so, whatever a crash does with the cache.
 *
 * Lost and misdirected writes are decided when the write is issued, from a
 * splitmix64 stream of their own: a lost write never enters the cache (its
 * PREFLUSH still flushes), a misdirected one enters it at another offset
 * and is from then on a write like any other.  The new offset is a logical
 * block of the range, chosen uniformly among those where the write fits,
 * other than its own; a write with no such place is lost.
 *
 * Counters count I/Os that completed; a failed one changes nothing.
 */
#include "dev_user.h"
#include "simdisk.h"

#define SIM_SECTOR		512
#define SIM_CORRUPT_BLOCK	4096
#define SIM_CORRUPT_MAX_BITS	8

/* A write in the volatile cache. */
struct sim_write {
	u64 off;
	size_t len;
	u8 *data;
	bool must_land;		/* FUA: durable, lands at any crash */
};

struct simdisk {
	struct betrkv_dev dev;
	struct mutex lock;	/* protects everything below */
	u8 *image;
	struct sim_write *writes;
	size_t nr_writes;
	size_t max_writes;	/* allocated entries of @writes */
	bool armed;
	bool died;		/* the armed budget ran out on a write */
	u64 ios_left;		/* I/Os that still succeed when armed */
	bool fail_writes;
	struct betrkv_simdisk_faults faults;
	u64 faults_rng;
	struct betrkv_simdisk_stats stats;
};

enum sim_outcome { SIM_LAND, SIM_VANISH, SIM_TEAR, SIM_GARBAGE, SIM_OUTCOMES };
enum sim_fate { SIM_OLD, SIM_NEW, SIM_RANDOM };
enum sim_misfate { SIM_AS_ISSUED, SIM_LOST, SIM_MISDIRECTED };

static const struct betrkv_dev_ops sim_ops;

static struct simdisk *to_sim(struct betrkv_dev *dev)
{
	if (dev->ops != &sim_ops)
		abort();
	return (struct simdisk *)dev;
}

static u64 splitmix64(u64 *state)
{
	u64 z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fill @buf (@len a multiple of 8) with random bytes. */
static void sim_fill_random(u8 *buf, size_t len, u64 *rng)
{
	size_t i;
	u64 r;

	for (i = 0; i < len; i += sizeof(r)) {
		r = splitmix64(rng);
		memcpy(buf + i, &r, sizeof(r));
	}
}

static void sim_free_writes(struct simdisk *sd)
{
	size_t i;

	for (i = 0; i < sd->nr_writes; i++)
		free(sd->writes[i].data);
	sd->nr_writes = 0;
	sd->stats.pending = 0;
}

static int sim_alloc(u64 size, u32 block_size, struct simdisk **sdp)
{
	struct simdisk *sd;

	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->dev.ops = &sim_ops;
	sd->dev.size = size;
	sd->dev.block_size = block_size;
	sd->dev.name = strdup("simdisk");
	sd->image = calloc(1, size);
	if (!sd->dev.name || !sd->image) {
		free(sd->image);
		free(sd->dev.name);
		free(sd);
		return -ENOMEM;
	}
	mutex_init(&sd->lock);
	*sdp = sd;
	return 0;
}

static void sim_close(struct betrkv_dev *dev)
{
	struct simdisk *sd = to_sim(dev);

	sim_free_writes(sd);
	free(sd->writes);
	free(sd->image);
	mutex_destroy(&sd->lock);
	free(dev->name);
	free(sd);
}

/**
 * betrkv_simdisk_create() - create a simulated disk, all zeroes.
 * @size: bytes, a positive multiple of @block_size
 * @block_size: logical block size, 512 or 4096
 * @devp: receives the device; betrkv_user_dev_close() frees it
 *
 * Return: 0, -EINVAL for a bad geometry or -ENOMEM.
 */
int betrkv_simdisk_create(u64 size, u32 block_size, struct betrkv_dev **devp)
{
	struct simdisk *sd;
	int ret;

	if ((block_size != 512 && block_size != 4096) || !size ||
	    !IS_ALIGNED(size, block_size) || size > SIZE_MAX)
		return -EINVAL;
	ret = sim_alloc(size, block_size, &sd);
	if (ret)
		return ret;
	*devp = &sd->dev;
	return 0;
}

/* Copy @src's cache into the empty cache of @dst (freed by sim_close). */
static int sim_copy_writes(struct simdisk *dst, const struct simdisk *src)
{
	size_t i;

	if (!src->nr_writes)
		return 0;
	dst->writes = calloc(src->nr_writes, sizeof(*dst->writes));
	if (!dst->writes)
		return -ENOMEM;
	dst->max_writes = src->nr_writes;
	for (i = 0; i < src->nr_writes; i++) {
		dst->writes[i] = src->writes[i];
		dst->writes[i].data = malloc(src->writes[i].len);
		if (!dst->writes[i].data)
			return -ENOMEM;
		memcpy(dst->writes[i].data, src->writes[i].data,
		       src->writes[i].len);
		dst->nr_writes = i + 1;
	}
	return 0;
}

/**
 * betrkv_simdisk_clone() - copy a simulated disk.
 * @dev: the disk
 * @copyp: receives an independent copy of its image, cache, failure
 *	injection state and counters
 *
 * Lets a test resolve one crash point several ways.
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_simdisk_clone(struct betrkv_dev *dev, struct betrkv_dev **copyp)
{
	struct simdisk *sd = to_sim(dev), *cp;
	int ret;

	ret = sim_alloc(dev->size, dev->block_size, &cp);
	if (ret)
		return ret;
	mutex_lock(&sd->lock);
	ret = sim_copy_writes(cp, sd);
	if (!ret) {
		memcpy(cp->image, sd->image, dev->size);
		cp->armed = sd->armed;
		cp->ios_left = sd->ios_left;
		cp->fail_writes = sd->fail_writes;
		cp->faults = sd->faults;
		cp->faults_rng = sd->faults_rng;
		cp->stats = sd->stats;
	}
	mutex_unlock(&sd->lock);
	if (ret) {
		sim_close(&cp->dev);
		return ret;
	}
	*copyp = &cp->dev;
	return 0;
}

static enum sim_fate sim_sector_fate(enum sim_outcome outcome, size_t sector,
				     size_t random_sector, u64 *rng)
{
	if (outcome == SIM_TEAR)
		return splitmix64(rng) % 2 ? SIM_NEW : SIM_OLD;
	if (sector == random_sector)
		return SIM_RANDOM;
	return splitmix64(rng) % 3;
}

/* Apply the crash outcome of cached write @w to the image. */
static void sim_resolve(struct simdisk *sd, const struct sim_write *w,
			u64 *rng)
{
	size_t sectors = w->len / SIM_SECTOR, random_sector = sectors, i;
	enum sim_outcome outcome = SIM_LAND;
	u8 *dst = sd->image + w->off;

	if (!w->must_land)
		outcome = splitmix64(rng) % SIM_OUTCOMES;
	if (outcome == SIM_LAND)
		memcpy(dst, w->data, w->len);
	if (outcome == SIM_LAND || outcome == SIM_VANISH)
		return;
	if (outcome == SIM_GARBAGE)
		random_sector = splitmix64(rng) % sectors;
	for (i = 0; i < sectors; i++, dst += SIM_SECTOR) {
		switch (sim_sector_fate(outcome, i, random_sector, rng)) {
		case SIM_NEW:
			memcpy(dst, w->data + i * SIM_SECTOR, SIM_SECTOR);
			break;
		case SIM_RANDOM:
			sim_fill_random(dst, SIM_SECTOR, rng);
			break;
		case SIM_OLD:
			break;
		}
	}
}

/**
 * betrkv_simdisk_crash() - crash and reboot the machine.
 * @dev: the disk
 * @seed: selects the outcome of each write that is not durable
 *
 * Resolves the cache as described at the top of this file, then empties
 * it, disarms the disk and clears fail_writes: the disk works again.
 */
void betrkv_simdisk_crash(struct betrkv_dev *dev, u64 seed)
{
	struct simdisk *sd = to_sim(dev);
	u64 rng = seed;
	size_t i;

	mutex_lock(&sd->lock);
	for (i = 0; i < sd->nr_writes; i++)
		sim_resolve(sd, &sd->writes[i], &rng);
	sim_free_writes(sd);
	sd->armed = false;
	sd->died = false;
	sd->fail_writes = false;
	mutex_unlock(&sd->lock);
}

/**
 * betrkv_simdisk_arm() - make the disk fail from an I/O on.
 * @dev: the disk
 * @ios_left: I/Os (reads and writes) that still succeed; every later one
 *	fails with -EIO and changes nothing, until crash or disarm
 */
void betrkv_simdisk_arm(struct betrkv_dev *dev, u64 ios_left)
{
	struct simdisk *sd = to_sim(dev);

	mutex_lock(&sd->lock);
	sd->armed = true;
	sd->died = false;
	sd->ios_left = ios_left;
	mutex_unlock(&sd->lock);
}

/**
 * betrkv_simdisk_disarm() - undo betrkv_simdisk_arm().
 * @dev: the disk
 */
void betrkv_simdisk_disarm(struct betrkv_dev *dev)
{
	struct simdisk *sd = to_sim(dev);

	mutex_lock(&sd->lock);
	sd->armed = false;
	mutex_unlock(&sd->lock);
}

/**
 * betrkv_simdisk_fail_writes() - make writes (and their flushes) fail.
 * @dev: the disk
 * @fail: fail every write with -EIO, changing nothing; reads still work
 */
void betrkv_simdisk_fail_writes(struct betrkv_dev *dev, bool fail)
{
	struct simdisk *sd = to_sim(dev);

	mutex_lock(&sd->lock);
	sd->fail_writes = fail;
	mutex_unlock(&sd->lock);
}

/**
 * betrkv_simdisk_set_faults() - lose or misdirect writes from now on.
 * @dev: the disk
 * @f: the range, the odds and the seed; odds of 0 turn it off
 *
 * Return: 0, or -EINVAL if the odds add up to more than 1000 per mille or
 * the range is not whole logical blocks within the disk.
 */
int betrkv_simdisk_set_faults(struct betrkv_dev *dev,
			      const struct betrkv_simdisk_faults *f)
{
	struct simdisk *sd = to_sim(dev);

	if (f->lose > 1000 || f->misdirect > 1000 - f->lose ||
	    !IS_ALIGNED(f->off, dev->block_size) ||
	    !IS_ALIGNED(f->len, dev->block_size) ||
	    f->off > dev->size || f->len > dev->size - f->off)
		return -EINVAL;
	mutex_lock(&sd->lock);
	sd->faults = *f;
	sd->faults_rng = f->seed;
	mutex_unlock(&sd->lock);
	return 0;
}

/* XOR @mask, which covers [@off, @off + @len), into the part @w covers. */
static void sim_xor_write(struct sim_write *w, u64 off, const u8 *mask,
			  size_t len)
{
	u64 lo = max(off, w->off), hi = min(off + len, w->off + w->len), i;

	for (i = lo; i < hi; i++)
		w->data[i - w->off] ^= mask[i - off];
}

/**
 * betrkv_simdisk_corrupt() - corrupt the media.
 * @dev: the disk
 * @off: a byte in the 4 KiB block to corrupt (or in the device's last,
 *	shorter block); beyond the device: nothing happens
 * @seed: selects the bits
 *
 * Flips one to eight bits of the block (chosen by @seed) in the image and
 * in every cached write over them.  Models media corruption, which the
 * store must detect by checksum.
 */
void betrkv_simdisk_corrupt(struct betrkv_dev *dev, u64 off, u64 seed)
{
	struct simdisk *sd = to_sim(dev);
	u8 mask[SIM_CORRUPT_BLOCK] = { 0 };
	u64 start, bit, rng = seed;
	unsigned int bits;
	size_t len, i;

	if (off >= dev->size)
		return;
	start = ALIGN_DOWN(off, SIM_CORRUPT_BLOCK);
	len = min(dev->size - start, (u64)SIM_CORRUPT_BLOCK);
	bits = 1 + splitmix64(&rng) % SIM_CORRUPT_MAX_BITS;
	while (bits--) {
		bit = splitmix64(&rng) % (len * 8);
		mask[bit / 8] |= 1u << (bit % 8);
	}
	mutex_lock(&sd->lock);
	for (i = 0; i < len; i++)
		sd->image[start + i] ^= mask[i];
	for (i = 0; i < sd->nr_writes; i++)
		sim_xor_write(&sd->writes[i], start, mask, len);
	mutex_unlock(&sd->lock);
}

/**
 * betrkv_simdisk_stats() - read the disk's counters.
 * @dev: the disk
 * @st: receives them
 */
void betrkv_simdisk_stats(struct betrkv_dev *dev,
			  struct betrkv_simdisk_stats *st)
{
	struct simdisk *sd = to_sim(dev);

	mutex_lock(&sd->lock);
	*st = sd->stats;
	mutex_unlock(&sd->lock);
}

static bool sim_range_ok(const struct betrkv_dev *dev, u64 off, size_t len)
{
	return len && IS_ALIGNED(off, dev->block_size) &&
	       IS_ALIGNED(len, dev->block_size) && off <= dev->size &&
	       len <= dev->size - off;
}

/*
 * Start an I/O: -EIO once an armed disk's budget is spent.  *@dying is set
 * for the first I/O to fail: the one in flight when the machine died.
 */
static int sim_io_start(struct simdisk *sd, bool *dying)
{
	*dying = false;
	if (!sd->armed)
		return 0;
	if (!sd->ios_left) {
		*dying = !sd->died;
		sd->died = true;
		return -EIO;
	}
	sd->ios_left--;
	return 0;
}

static int sim_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	struct simdisk *sd = to_sim(dev);
	const struct sim_write *w;
	bool dying;
	u64 lo, hi;
	size_t i;
	int ret;

	if (!sim_range_ok(dev, off, len))
		return -EINVAL;
	mutex_lock(&sd->lock);
	ret = sim_io_start(sd, &dying);
	if (ret)
		goto out;
	memcpy(buf, sd->image + off, len);
	for (i = 0; i < sd->nr_writes; i++) {
		w = &sd->writes[i];
		lo = max(off, w->off);
		hi = min(off + len, w->off + w->len);
		if (lo < hi)
			memcpy((u8 *)buf + (lo - off), w->data + (lo - w->off),
			       hi - lo);
	}
	sd->stats.reads++;
out:
	mutex_unlock(&sd->lock);
	return ret;
}

/* Make every cached write durable, in issue order. */
static void sim_flush(struct simdisk *sd)
{
	const struct sim_write *w;
	size_t i;

	for (i = 0; i < sd->nr_writes; i++) {
		w = &sd->writes[i];
		memcpy(sd->image + w->off, w->data, w->len);
	}
	sim_free_writes(sd);
}

/* Where a write issued at *@off goes: it may be lost or moved (*@off). */
static enum sim_misfate sim_fault(struct simdisk *sd, u64 *off, size_t len)
{
	const struct betrkv_simdisk_faults *f = &sd->faults;
	u64 bs = sd->dev.block_size, places, own, r;

	if (*off < f->off || *off - f->off >= f->len)
		return SIM_AS_ISSUED;
	r = splitmix64(&sd->faults_rng) % 1000;
	if (r >= f->lose + f->misdirect)
		return SIM_AS_ISSUED;
	places = len <= f->len ? (f->len - len) / bs + 1 : 0;
	own = (*off - f->off) / bs;
	if (r < f->lose || places < 1 + (own < places))
		return SIM_LOST;
	/* Uniformly among the places, its own (if it fits) left out. */
	r = splitmix64(&sd->faults_rng) % (places - (own < places));
	*off = f->off + (r + (own < places && r >= own)) * bs;
	return SIM_MISDIRECTED;
}

/* Prepare a cache entry for a write, before anything changes. */
static int sim_prepare(struct simdisk *sd, struct sim_write *w, u64 off,
		       const void *buf, size_t len, bool must_land)
{
	struct sim_write *writes;
	size_t max_writes;

	if (sd->nr_writes == sd->max_writes) {
		max_writes = sd->max_writes ? 2 * sd->max_writes : 64;
		writes = realloc(sd->writes, max_writes * sizeof(*writes));
		if (!writes)
			return -ENOMEM;
		sd->writes = writes;
		sd->max_writes = max_writes;
	}
	w->data = malloc(len);
	if (!w->data)
		return -ENOMEM;
	memcpy(w->data, buf, len);
	w->off = off;
	w->len = len;
	w->must_land = must_land;
	return 0;
}

static int sim_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	bool preflush = flags & BETRKV_IO_PREFLUSH, fua = flags & BETRKV_IO_FUA;
	struct simdisk *sd = to_sim(dev);
	enum sim_misfate fate;
	struct sim_write w;
	bool direct, dying;
	int ret;

	if (!sim_range_ok(dev, off, len))
		return -EINVAL;
	mutex_lock(&sd->lock);
	ret = sim_io_start(sd, &dying);
	if (dying) {
		/*
		 * The write in flight when the machine dies: it fails, but
		 * the crash may still land or tear it like any write not
		 * made durable.  A PREFLUSH is issued and completes before its
		 * write starts, so that flush happened; the FUA did not.
		 */
		if (preflush)
			sim_flush(sd);
		if (!sim_prepare(sd, &w, off, buf, len, false))
			sd->writes[sd->nr_writes++] = w;
		goto out;
	}
	if (!ret && sd->fail_writes)
		ret = -EIO;
	if (ret)
		goto out;
	fate = sim_fault(sd, &off, len);
	/* A FUA write goes straight to the image if the cache is empty. */
	direct = fua && (preflush || !sd->nr_writes);
	if (fate != SIM_LOST && !direct) {
		ret = sim_prepare(sd, &w, off, buf, len, fua);
		if (ret)
			goto out;
	}
	if (preflush)
		sim_flush(sd);
	if (fate != SIM_LOST && direct)
		memcpy(sd->image + off, buf, len);
	else if (fate != SIM_LOST)
		sd->writes[sd->nr_writes++] = w;
	sd->stats.writes++;
	sd->stats.bytes_written += len;
	sd->stats.flushes += preflush;
	sd->stats.fuas += fua;
	sd->stats.pending += !fua && fate != SIM_LOST;
	sd->stats.lost += fate == SIM_LOST;
	sd->stats.misdirected += fate == SIM_MISDIRECTED;
out:
	mutex_unlock(&sd->lock);
	return ret;
}

static const struct betrkv_dev_ops sim_ops = {
	.read = sim_read,
	.write = sim_write,
	.close = sim_close,
};
