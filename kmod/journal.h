/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logical journal: a circular region of checksummed blocks holding the
 * mutations made since the last checkpoint, so that sync writes only what
 * is new.
 *
 * The journal is a byte stream of records laid over blocks.  A block's
 * stream position (pos) grows forever; the block lives at
 * (pos / BETRKV_BLOCK_SIZE) % (region blocks) in the region.  Each block
 * carries its pos, the checksum of the block before it in the stream (the
 * link), a random nonce of the session that wrote it and the write batch it
 * belongs to (the pos of the batch's first block: each sync writes one batch
 * and flushes it before the next batch is written).  Replay starts at a
 * checkpoint's (pos, link) and follows the chain to the first block that
 * fails any check, recognising torn blocks (checksum), blocks of an earlier
 * lap (pos) and blocks an earlier session left beyond the point a recovery
 * ended (link).  A record spanning blocks counts only if all of them
 * replay.  After a sync the partly filled last block is closed: a block that
 * was durable is never written again, so a torn write can never take away
 * what a completed sync made durable.
 *
 * Where the chain ends, replay tells the two possible causes apart by the
 * blocks after it.  A torn or missing block of the last write batch (writes
 * that no completed flush ordered) is the end of the log.  A valid block of
 * a later batch behind the bad one proves that the bad block's batch was
 * flushed before that batch was written: the bad block is corrupt durable
 * data, and replay fails with -EUCLEAN (or, asked to salvage, ends the log
 * there and says so).  What replay cannot tell apart: a corrupt block in the
 * last batch (or in the one before it, if no block of the last one
 * survived) looks like a torn write and ends the log.
 *
 * The longest record is that of a batch at the published limits
 * (BETRKV_JOURNAL_RECORD_MAX); a region of BETRKV_JOURNAL_SIZE_MIN takes it.
 *
 * Records carry the sequence number of their mutation (one per record; a
 * batch is one record); replay skips those the checkpoint already holds.
 *
 * Locking: reserve, append, checkpoint_begin/done and replay are called
 * with the store's write lock held; sync may be called concurrently by any
 * number of callers, who share the writes and the flush (group commit).
 */
#ifndef BETRKV_JOURNAL_H
#define BETRKV_JOURNAL_H

#include "kv.h"

/*
 * Bytes of the record of a batch at the published limits: 16 of header, 12
 * per op, the keys and values.
 */
#define BETRKV_JOURNAL_RECORD_MAX	(16ull + 12ull * BETRKV_BATCH_OPS_MAX + \
					 BETRKV_BATCH_BYTES_MAX)

struct betrkv_journal;

struct betrkv_journal_params {
	struct betrkv_dev *dev;
	u64 offset;		/* byte offset of the region on @dev */
	u64 size;		/* bytes of the region, a multiple of BETRKV_BLOCK_SIZE */
	const u8 *uuid;		/* the store's UUID: salts every block */
	u64 start_pos;		/* from the checkpoint: where replay starts */
	u32 start_prev;		/* from the checkpoint: the link the first block carries */
	u64 start_seq;		/* from the checkpoint: records up to it are skipped */
	bool salvage;		/* replay ends before corrupt durable data */
};

struct betrkv_journal_stats {
	u64 records;		/* appended */
	u64 syncs;		/* sync calls that had to write */
	u64 blocks_written;
	u64 bytes_written;
	u64 flushes;		/* PREFLUSH/FUA writes issued */
};

/* Called by replay for each record, in order; a non-zero return stops replay. */
typedef int (*betrkv_replay_fn)(void *ctx, u64 seq, const struct betrkv_op *ops,
				u32 nops);

int betrkv_journal_create(const struct betrkv_journal_params *p,
			  struct betrkv_journal **jp);
void betrkv_journal_destroy(struct betrkv_journal *j);
int betrkv_journal_replay(struct betrkv_journal *j, betrkv_replay_fn apply,
			  void *ctx, u64 *last_seq, bool *salvaged);
int betrkv_journal_reserve(struct betrkv_journal *j,
			   const struct betrkv_op *ops, u32 nops);
int betrkv_journal_append(struct betrkv_journal *j, u64 seq,
			  const struct betrkv_op *ops, u32 nops);
int betrkv_journal_sync(struct betrkv_journal *j);
u64 betrkv_journal_durable_seq(struct betrkv_journal *j);
int betrkv_journal_checkpoint_begin(struct betrkv_journal *j, u64 *pos,
				    u32 *prev);
void betrkv_journal_checkpoint_done(struct betrkv_journal *j, u64 pos);
u32 betrkv_journal_full_ratio(struct betrkv_journal *j);
u64 betrkv_journal_max_record(const struct betrkv_journal *j);
void betrkv_journal_stats(struct betrkv_journal *j,
			  struct betrkv_journal_stats *st);

#endif /* BETRKV_JOURNAL_H */
