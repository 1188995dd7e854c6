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
 * link) and a random nonce of the session that wrote it, so that replay,
 * which starts at a checkpoint's (pos, link) and stops at the first block
 * that fails any check, recognises torn blocks (checksum), blocks of an
 * earlier lap (pos) and blocks an earlier session left beyond the point a
 * recovery ended (link).  A record spanning blocks counts only if all of
 * them replay.  After a sync the partly filled last block is closed: a block
 * that was durable is never written again, so a torn write can never take
 * away what a completed sync made durable.
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

struct betrkv_journal;

struct betrkv_journal_params {
	struct betrkv_dev *dev;
	u64 offset;		/* byte offset of the region on @dev */
	u64 size;		/* bytes of the region, a multiple of BETRKV_BLOCK_SIZE */
	const u8 *uuid;		/* the store's UUID: salts every block */
	u64 start_pos;		/* from the checkpoint: where replay starts */
	u32 start_prev;		/* from the checkpoint: the link the first block carries */
	u64 start_seq;		/* from the checkpoint: records up to it are skipped */
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
			  void *ctx, u64 *last_seq);
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
