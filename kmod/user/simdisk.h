/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A simulated disk for crash tests, implementing the disk model of the
 * contract exactly (spec section 3):
 *
 * - Writes go to a volatile cache.  A completed flush (a write with
 *   BETRKV_IO_PREFLUSH: before the write itself) makes every write that
 *   completed before it durable; a write with BETRKV_IO_FUA is durable when
 *   it completes.
 * - At a crash, each write that is not durable independently lands whole,
 *   vanishes, tears (a random subset of its 512-byte sectors new, the rest
 *   old) or has sectors turned to garbage; outcomes are applied in issue
 *   order, so a later durable write to the same place still wins.
 * - Reads see the newest data (cache first).
 * - Media corruption (betrkv_simdisk_corrupt) flips bits in durable data.
 *
 * Failure injection: arm(n) lets n more I/Os succeed; every later one fails
 * with -EIO (the machine is dying) until crash().  The first write to fail
 * was in flight: its PREFLUSH completed, and the crash resolves the write
 * like any write not made durable (it may land, vanish or tear); later
 * ones never reach the disk;
 * fail_writes() makes writes and flushes fail with -EIO while the machine
 * lives on.
 *
 * Lost and misdirected writes (set_faults(), spec section 3): a write that
 * starts in a chosen range is, at chosen odds, acknowledged but lost (no
 * block changes, now or at a crash) or misdirected: written whole at
 * another logical block of the range instead of its own, which keeps what
 * it held.  Any PREFLUSH or FUA it carries still takes effect.
 */
#ifndef BETRKV_SIMDISK_H
#define BETRKV_SIMDISK_H

#include "../env.h"

struct betrkv_simdisk_stats {
	u64 reads;
	u64 writes;
	u64 bytes_written;
	u64 flushes;		/* writes with PREFLUSH */
	u64 fuas;		/* writes with FUA */
	u64 pending;		/* writes not yet durable */
	u64 lost;		/* writes acknowledged and dropped */
	u64 misdirected;	/* writes that landed at another block */
};

/* Which writes betrkv_simdisk_set_faults() loses or misdirects. */
struct betrkv_simdisk_faults {
	u64 off;		/* writes that start in [off, off + len) */
	u64 len;
	u32 lose;		/* per mille of them are lost */
	u32 misdirect;		/* per mille land elsewhere in the range */
	u64 seed;		/* of the choices */
};

int betrkv_simdisk_create(u64 size, u32 block_size, struct betrkv_dev **devp);
int betrkv_simdisk_clone(struct betrkv_dev *dev, struct betrkv_dev **copyp);
void betrkv_simdisk_crash(struct betrkv_dev *dev, u64 seed);
void betrkv_simdisk_arm(struct betrkv_dev *dev, u64 ios_left);
void betrkv_simdisk_disarm(struct betrkv_dev *dev);
void betrkv_simdisk_fail_writes(struct betrkv_dev *dev, bool fail);
int betrkv_simdisk_set_faults(struct betrkv_dev *dev,
			      const struct betrkv_simdisk_faults *f);
void betrkv_simdisk_corrupt(struct betrkv_dev *dev, u64 off, u64 seed);
void betrkv_simdisk_stats(struct betrkv_dev *dev,
			  struct betrkv_simdisk_stats *st);

#endif /* BETRKV_SIMDISK_H */
