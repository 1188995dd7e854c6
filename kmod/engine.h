/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The store: the engine's top-level API, used by the module's data path and
 * by the userspace tests and benchmark.
 *
 * A store is the superblock's checkpoint (a tree of nodes behind the
 * indirection table) plus the journal's records since.  Opening it replays
 * the journal into the cache without writing anything.  A mutation is
 * applied to the tree, then appended to the journal and given the next
 * sequence number; sync makes the journal durable; a checkpoint writes the
 * dirty nodes, the indirection table and the next superblock, and frees the
 * journal (on a worker with opts.background, while mutations go on).  With
 * opts.commit_ms, that worker also syncs the journal periodically, so an
 * acknowledged mutation is durable within that time without a sync.  Any
 * number of threads may call in at once; queries run in parallel.
 *
 * Errors: mutations fail with -EROFS on a read-only store, -E2BIG or
 * -EINVAL for bad keys and values, -ENOSPC when the device is full, -ENOMEM,
 * -EUCLEAN or -EIO when the tree could not take the batch, and -EIO once a
 * write or flush failed (the store then only reads; close reports it).  A
 * mutation that fails changes nothing: it takes no sequence number, leaves
 * no journal record and is never visible (a tree change that failed partway
 * is undone by rebuilding the tree from the checkpoint and the journal).
 * Deletes always find room on a full device.  Reads fail with -EUCLEAN or
 * -EIO for blocks that fail their checks (other data stays readable), and
 * with -ENOMEM under memory pressure.
 */
#ifndef BETRKV_ENGINE_H
#define BETRKV_ENGINE_H

#include "cache.h"
#include "journal.h"
#include "superblock.h"
#include "tree.h"

struct betrkv_engine_opts {
	u64 cache_bytes;	/* block cache budget; 0 for the default */
	bool read_only;		/* never write */
	bool background;	/* checkpoints, write-back on a worker */
	bool salvage;		/* with read_only: stop before corrupt journal data */
	/*
	 * Periodic commit: every commit_ms milliseconds (at most
	 * BETRKV_COMMIT_MS_MAX; 0 = off) the worker syncs the journal if it
	 * holds unsynced records.  Needs background; ignored read-only.
	 */
	u32 commit_ms;
};

struct betrkv_engine_stats {
	u64 puts;
	u64 deletes;
	u64 batches;
	u64 gets;
	u64 scans;
	u64 syncs;
	u64 checkpoints;
	bool checkpointing;	/* a checkpoint is in progress */
	bool salvaged;		/* opened before corrupt synced journal data */
	u64 seq;		/* last sequence number given out */
	u64 durable_seq;	/* highest one a crash cannot take away */
	u32 height;
	u64 nodes;		/* nodes the indirection table maps (written at least once) */
	u64 slots_used;		/* node slots referenced (live or checkpoint) */
	u64 slots_total;
	u32 node_size;
	u64 cache_bytes;	/* the budget */
	u64 sb_writes;
	u64 itable_bytes_written;
	struct betrkv_cache_stats cache;
	u64 cache_used;
	struct betrkv_journal_stats journal;
};

struct betrkv_engine;

int betrkv_engine_open(struct betrkv_dev *dev,
		       const struct betrkv_engine_opts *opts,
		       struct betrkv_engine **ep);
int betrkv_engine_close(struct betrkv_engine *e);
int betrkv_engine_apply(struct betrkv_engine *e, const struct betrkv_op *ops,
			u32 nops, u64 *seq);
int betrkv_engine_get(struct betrkv_engine *e, const u8 *key, u32 klen,
		      struct betrkv_val *v);
int betrkv_engine_scan(struct betrkv_engine *e, const struct betrkv_range *r,
		       bool lo_exclusive, u32 limit, u64 budget,
		       struct betrkv_msgbuf *out, bool *more);
int betrkv_engine_sync(struct betrkv_engine *e, u64 *durable_seq);
int betrkv_engine_checkpoint(struct betrkv_engine *e);
void betrkv_engine_stats(struct betrkv_engine *e, struct betrkv_engine_stats *st);
int betrkv_engine_super(struct betrkv_engine *e, struct betrkv_sb *sb,
			unsigned int *slot, u64 *cache_bytes);

#endif /* BETRKV_ENGINE_H */
