// SPDX-License-Identifier: GPL-2.0
/*
 * The logical journal: see journal.h for the design.  This file fixes the
 * format and the mechanics.
 *
 * On disk, every journal block (BETRKV_BLOCK_SIZE bytes) is
 *
 *   struct betrkv_block_header   type BETRKV_BLOCK_JOURNAL, blocknr = the
 *                                absolute device block, salted with the UUID
 *   __le64 pos                   stream position (a multiple of the block size)
 *   __le64 nonce                 random per betrkv_journal_create()
 *   __le32 prev                  the link: csum of the block at pos - 4096
 *   __le16 used                  payload bytes used, 1..JOURNAL_PAYLOAD
 *   __le16 first                 payload offset of the first record starting
 *                                here, or JOURNAL_NO_FIRST (0xffff)
 *   __le64 batch                 pos of the first block of the write batch
 *                                (one sync's write and flush) holding it
 *   payload                      JOURNAL_PAYLOAD (4048) bytes, zero after used
 *
 * The payloads of consecutive blocks form a byte stream of records:
 *
 *   __le32 len, __le32 nops, __le64 seq    len counts the whole record
 *   nops times: __le32 type, __le32 klen, __le32 vlen, key, value
 *
 * (a delete has vlen 0 and no value bytes).  Records are packed; a record
 * may span blocks.  A block is written once, full or (after a sync or at a
 * checkpoint) closed with the rest of its payload unused, so the bytes of a
 * block before @first always continue the record that the block before it
 * left unfinished.  The one exception is a block a new session wrote after
 * a recovery that ended in the middle of a record: it starts with a record
 * at offset 0 and replay drops the unfinished one (it was never synced).
 *
 * Replay reads the region in chunks, checks each block (checksum, location,
 * pos, link), reassembles records and stops at the first block that fails a
 * check, or after a whole lap.  A checksummed block whose contents make no
 * sense (bad field, record of impossible shape, sequence numbers not
 * increasing, a batch that neither continues the one before nor starts at
 * the block) is corruption: replay fails with -EUCLEAN.
 *
 * Where the chain ends, replay reads on through the next two buffers' worth
 * of blocks (a batch is at most one buffer, so this covers the rest of the
 * bad block's batch and all of the next one).  Every block there of this
 * lap that started a batch after the bad block's position was written after
 * the flush that made the bad block durable: if one is valid, the bad block
 * is corrupt durable data.  Blocks a crash left there never qualify: each
 * session starts writing where its recovery ended, so a block beyond the end
 * of a legitimate log belongs to a batch that began at or before that end.
 *
 * In memory, the records appended since the last sync are laid out in a
 * buffer exactly as the blocks they will become.  There are two buffers:
 * sync takes the current one (closing its last block) and gives appenders
 * the other, so that appends go on while it writes and flushes; the next
 * sync carries everything appended meanwhile (group commit).  A buffer holds
 * the largest record (the whole region, at most JOURNAL_BUF_BLOCKS_MAX
 * blocks: a batch at the published limits); an append that does not fit in
 * what is left of it syncs first.  Each buffer written is one write batch.
 *
 * Locking: io_lock makes one caller at a time the writer; it is taken
 * before lock, which guards the state shared with appenders.  The writer
 * seals and writes the buffer it took without holding lock.
 */
#include "block.h"
#include "journal.h"




#define JOURNAL_BS		BETRKV_BLOCK_SIZE
#define JOURNAL_PAYLOAD		\
	((u32)(JOURNAL_BS - sizeof(struct journal_block)))
#define JOURNAL_NO_FIRST	0xffffu
/* Upper bound of a buffer, and so of a record: the largest batch's. */
#define JOURNAL_BUF_BLOCKS_MAX	\
	DIV_ROUND_UP(BETRKV_JOURNAL_RECORD_MAX, (u64)JOURNAL_PAYLOAD)
/* The shortest possible record: one operation with a one-byte key. */
#define JOURNAL_REC_MIN		((u32)(sizeof(struct journal_rec) + \
				       sizeof(struct journal_op) + 1))
#define JOURNAL_FLUSH		(BETRKV_IO_PREFLUSH | BETRKV_IO_FUA)

/* Records appended since the last sync, as the blocks they will be. */
struct journal_buf {
	u8 *blocks;		/* buf_blocks blocks */
	u64 pos;		/* stream position of the first block */
	u32 fill;		/* payload bytes appended */
	u32 nblk;		/* blocks started */
};

struct betrkv_journal {
	struct betrkv_dev *dev;
	u64 offset;
	u64 nblocks;
	u8 uuid[16];
	u64 start_pos;
	u64 start_seq;
	u64 nonce;
	u32 buf_blocks;
	bool salvage;

	struct mutex io_lock;	/* the writer; taken before lock */
	u32 prev;		/* link of the next block sealed (io_lock);
				 * before replay, the start link */

	struct mutex lock;	/* everything below */
	struct journal_buf buf[2];
	unsigned int cur;	/* the buffer appends go to */
	u64 tail;		/* oldest stream position still needed */
	u64 appended_seq;
	u64 durable_seq;
	bool replayed;
	bool failed;
	struct betrkv_journal_stats stats;
};

/* State of a replay: the record being reassembled and the ops array. */
struct journal_replay {
	struct betrkv_journal *j;
	betrkv_replay_fn apply;
	void *ctx;
	u64 pos;		/* of the block being replayed */
	u64 batch;		/* the write batch of the last block replayed */
	const char *end;	/* why the block where the chain ended failed */
	bool corrupt;		/* replay stopped at corrupt journal data */
	u8 *rec;		/* the record being reassembled */
	u32 have;		/* its bytes so far */
	u32 need;		/* its length, once its header is in */
	bool inrec;		/* a record is being reassembled */
	u64 seen_seq;		/* seq of the last record seen */
	u64 last_seq;		/* highest seq applied, or start_seq */
	struct betrkv_op *ops;
	u32 ops_cap;
};

static u32 journal_cap(const struct betrkv_journal *j)
{
	return j->buf_blocks * JOURNAL_PAYLOAD;
}

static u64 journal_index(const struct betrkv_journal *j, u64 pos)
{
	return (pos / JOURNAL_BS) % j->nblocks;
}

static u64 journal_blocknr(const struct betrkv_journal *j, u64 pos)
{
	return j->offset / JOURNAL_BS + journal_index(j, pos);
}

static u32 journal_blocks(u32 bytes)
{
	return (bytes + JOURNAL_PAYLOAD - 1) / JOURNAL_PAYLOAD;
}

static struct journal_block *journal_buf_block(const struct journal_buf *b,
					       u32 i)
{
	return (struct journal_block *)(b->blocks + (size_t)i * JOURNAL_BS);
}

static int journal_check_params(const struct betrkv_journal_params *p)
{
	if (!p->dev || !p->uuid)
		return -EINVAL;
	if (!IS_ALIGNED(p->offset, JOURNAL_BS) ||
	    !IS_ALIGNED(p->size, JOURNAL_BS) || p->size < 2 * JOURNAL_BS)
		return -EINVAL;
	if (p->offset > betrkv_dev_size(p->dev) ||
	    p->size > betrkv_dev_size(p->dev) - p->offset)
		return -EINVAL;
	/* Positions grow forever, but never near overflow. */
	if (!IS_ALIGNED(p->start_pos, JOURNAL_BS) || p->start_pos >> 62)
		return -EINVAL;
	return 0;
}

static void journal_free(struct betrkv_journal *j)
{
	kvfree(j->buf[0].blocks);
	kvfree(j->buf[1].blocks);
	kfree(j);
}

/**
 * betrkv_journal_create() - set up the journal of a store.
 * @p: the region and the checkpoint's replay point
 * @jp: receives the journal
 *
 * Does no I/O.  betrkv_journal_replay() must run before the journal takes
 * appends: only replay finds where the stream ends.
 *
 * Return: 0, -EINVAL for an impossible region or start position, -ENOMEM.
 */
int betrkv_journal_create(const struct betrkv_journal_params *p,
			  struct betrkv_journal **jp)
{
	struct betrkv_journal *j;
	int ret, i;

	BUILD_BUG_ON(sizeof(struct journal_block) != 48);
	BUILD_BUG_ON(sizeof(struct journal_rec) != 16 ||
		     sizeof(struct journal_op) != 12);
	/* Every store's journal takes the largest record. */
	BUILD_BUG_ON(JOURNAL_BUF_BLOCKS_MAX * JOURNAL_BS > BETRKV_JOURNAL_SIZE_MIN);
	ret = journal_check_params(p);
	if (ret)
		return ret;
	j = kzalloc(sizeof(*j), GFP_KERNEL);
	if (!j)
		return -ENOMEM;
	j->dev = p->dev;
	j->offset = p->offset;
	j->nblocks = p->size / JOURNAL_BS;
	memcpy(j->uuid, p->uuid, sizeof(j->uuid));
	j->start_pos = p->start_pos;
	j->start_seq = p->start_seq;
	j->buf_blocks = min(j->nblocks, JOURNAL_BUF_BLOCKS_MAX);
	j->salvage = p->salvage;
	for (i = 0; i < 2; i++) {
		j->buf[i].blocks = kvmalloc((size_t)j->buf_blocks * JOURNAL_BS,
					    GFP_KERNEL);
		if (!j->buf[i].blocks)
			goto out_free;
	}
	get_random_bytes(&j->nonce, sizeof(j->nonce));
	mutex_init(&j->io_lock);
	mutex_init(&j->lock);
	j->prev = p->start_prev;
	j->buf[0].pos = p->start_pos;
	j->tail = p->start_pos;
	j->appended_seq = p->start_seq;
	j->durable_seq = p->start_seq;
	*jp = j;
	return 0;

out_free:
	journal_free(j);
	return -ENOMEM;
}

/**
 * betrkv_journal_destroy() - free the journal; records not synced are lost.
 * @j: the journal, or NULL
 */
void betrkv_journal_destroy(struct betrkv_journal *j)
{
	if (!j)
		return;
	mutex_destroy(&j->lock);
	mutex_destroy(&j->io_lock);
	journal_free(j);
}

/* ---- replay ---- */

static int journal_corrupt(struct journal_replay *r, const char *why)
{
	const struct betrkv_journal *j = r->j;

	r->corrupt = true;
	pr_err("%s: journal block %llu (stream position %llu): %s\n",
	       betrkv_dev_name(j->dev),
	       (unsigned long long)journal_blocknr(j, r->pos),
	       (unsigned long long)r->pos, why);
	return -EUCLEAN;
}

static bool journal_rec_complete(const struct journal_replay *r)
{
	return r->have >= sizeof(struct journal_rec) && r->have == r->need;
}

static int journal_ops_reserve(struct journal_replay *r, u32 nops)
{
	if (nops <= r->ops_cap)
		return 0;
	kvfree(r->ops);
	r->ops_cap = 0;
	r->ops = kvmalloc((size_t)nops * sizeof(*r->ops), GFP_KERNEL);
	if (!r->ops)
		return -ENOMEM;
	r->ops_cap = nops;
	return 0;
}

/* Decode one operation at *@p (before @end) into @op. */
static int journal_parse_op(struct journal_replay *r, const u8 **p,
			    const u8 *end, struct betrkv_op *op)
{
	const struct journal_op *o = (const struct journal_op *)*p;
	u32 type;

	if (end - *p < (ptrdiff_t)sizeof(*o))
		return journal_corrupt(r, "operation beyond its record");
	type = le32_to_cpu(o->type);
	op->klen = le32_to_cpu(o->klen);
	op->vlen = le32_to_cpu(o->vlen);
	if (type != BETRKV_OP_PUT && type != BETRKV_OP_DEL)
		return journal_corrupt(r, "unknown operation");
	op->type = type;
	if (betrkv_op_check(op) || (type == BETRKV_OP_DEL && op->vlen))
		return journal_corrupt(r, "operation out of limits");
	*p += sizeof(*o);
	if (end - *p < (ptrdiff_t)op->klen + (ptrdiff_t)op->vlen)
		return journal_corrupt(r, "key or value beyond its record");
	op->key = *p;
	op->val = type == BETRKV_OP_PUT ? *p + op->klen : NULL;
	*p += op->klen + op->vlen;
	return 0;
}

static int journal_parse_ops(struct journal_replay *r, u32 nops)
{
	const u8 *p = r->rec + sizeof(struct journal_rec);
	const u8 *end = r->rec + r->need;
	u32 i;
	int ret;

	if (!nops || nops > (r->need - sizeof(struct journal_rec)) /
			    (sizeof(struct journal_op) + 1))
		return journal_corrupt(r, "impossible operation count");
	ret = journal_ops_reserve(r, nops);
	if (ret)
		return ret;
	for (i = 0; i < nops; i++) {
		ret = journal_parse_op(r, &p, end, &r->ops[i]);
		if (ret)
			return ret;
	}
	if (p != end)
		return journal_corrupt(r, "bytes after the last operation");
	return 0;
}

/* The record in r->rec is complete: check it and hand it to apply(). */
static int journal_replay_record(struct journal_replay *r)
{
	const struct journal_rec *rec = (const struct journal_rec *)r->rec;
	u64 seq = le64_to_cpu(rec->seq);
	u32 nops = le32_to_cpu(rec->nops);
	int ret;

	r->inrec = false;
	if (seq <= r->seen_seq)
		return journal_corrupt(r, "sequence numbers not increasing");
	if (seq > BETRKV_SEQ_MAX)
		return journal_corrupt(r, "sequence number out of range");
	r->seen_seq = seq;
	ret = journal_parse_ops(r, nops);
	if (ret || seq <= r->j->start_seq)
		return ret;
	ret = r->apply(r->ctx, seq, r->ops, nops);
	if (!ret)
		r->last_seq = seq;
	return ret;
}

/*
 * Add up to @n bytes to the record being reassembled, stopping where it is
 * complete.  Return: the bytes taken, or -EUCLEAN for an impossible length.
 */
static int journal_replay_feed(struct journal_replay *r, const u8 *p, u32 n)
{
	const struct journal_rec *rec = (const struct journal_rec *)r->rec;
	u32 taken = 0, want;

	while (taken < n && !journal_rec_complete(r)) {
		if (r->have < sizeof(*rec))
			want = sizeof(*rec) - r->have;
		else
			want = r->need - r->have;
		want = min(want, n - taken);
		memcpy(r->rec + r->have, p + taken, want);
		r->have += want;
		taken += want;
		if (r->have != sizeof(*rec))
			continue;
		r->need = le32_to_cpu(rec->len);
		if (r->need < JOURNAL_REC_MIN || r->need > journal_cap(r->j))
			return journal_corrupt(r, "impossible record length");
	}
	return taken;
}

/* The first @cont bytes of a block continue the unfinished record. */
static int journal_replay_cont(struct journal_replay *r, const u8 *p,
			       u32 cont, u32 first)
{
	int taken = journal_replay_feed(r, p, cont);

	if (taken < 0)
		return taken;
	if ((u32)taken < cont)
		return journal_corrupt(r, "record shorter than its blocks say");
	if (journal_rec_complete(r))
		return journal_replay_record(r);
	if (first == JOURNAL_NO_FIRST)
		return 0;
	if (first)
		return journal_corrupt(r, "record cut inside a block");
	/* A later session started here: the unfinished record never was. */
	r->inrec = false;
	return 0;
}

/* A block continues the batch of the block before it or starts one. */
static int journal_replay_batch(struct journal_replay *r, u64 batch)
{
	if (batch != r->batch && batch != r->pos)
		return journal_corrupt(r, "write batch neither continues nor starts here");
	if (r->pos - batch >= (u64)r->j->buf_blocks * JOURNAL_BS)
		return journal_corrupt(r, "write batch longer than a buffer");
	r->batch = batch;
	return 0;
}

static int journal_replay_block(struct journal_replay *r,
				const struct journal_block *blk)
{
	const u8 *p = (const u8 *)(blk + 1);
	u32 used = le16_to_cpu(blk->used);
	u32 first = le16_to_cpu(blk->first);
	u32 off = first == JOURNAL_NO_FIRST ? used : first;
	int ret;

	if (!used || used > JOURNAL_PAYLOAD ||
	    (first != JOURNAL_NO_FIRST && first >= used))
		return journal_corrupt(r, "impossible payload bounds");
	ret = journal_replay_batch(r, le64_to_cpu(blk->batch));
	if (ret)
		return ret;
	if (r->inrec) {
		ret = journal_replay_cont(r, p, off, first);
		if (ret)
			return ret;
	} else if (off) {
		return journal_corrupt(r, "continuation of no record");
	}
	while (off < used) {
		r->inrec = true;
		r->have = 0;
		r->need = 0;
		ret = journal_replay_feed(r, p + off, used - off);
		if (ret < 0)
			return ret;
		off += ret;
		if (journal_rec_complete(r)) {
			ret = journal_replay_record(r);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* NULL if @blk is a valid block written for @pos; else why not. */
static const char *journal_block_bad(const struct betrkv_journal *j,
				     const struct journal_block *blk, u64 pos)
{
	const char *why;

	if (betrkv_block_check(blk, JOURNAL_BS, BETRKV_BLOCK_JOURNAL,
			       journal_blocknr(j, pos), j->uuid, &why))
		return why;
	return le64_to_cpu(blk->pos) == pos ? NULL : "block of another lap";
}

/* NULL if @blk is the block at @pos of the stream, linked to @prev. */
static const char *journal_block_unchained(const struct betrkv_journal *j,
					   const struct journal_block *blk,
					   u64 pos, u32 prev)
{
	const char *why = journal_block_bad(j, blk, pos);

	if (!why && le32_to_cpu(blk->prev) != prev)
		why = "block not linked to the one before";
	return why;
}

/*
 * Read up to @max blocks from @pos on, not past the region's end, into
 * @buf; *@n receives how many.  A failed read is retried block by block so
 * that only the block that cannot be read is an error.
 */
static int journal_read(struct betrkv_journal *j, u64 pos, u8 *buf, u64 max,
			u32 *n)
{
	u64 idx = journal_index(j, pos);
	u64 cnt = min(min(j->nblocks - idx, max), (u64)j->buf_blocks);
	u64 off = j->offset + idx * JOURNAL_BS;
	int ret;

	ret = betrkv_dev_read(j->dev, off, buf, cnt * JOURNAL_BS);
	if (ret && cnt > 1) {
		cnt = 1;
		ret = betrkv_dev_read(j->dev, off, buf, JOURNAL_BS);
	}
	if (ret)
		pr_err("%s: cannot read journal block %llu: error %d\n",
		       betrkv_dev_name(j->dev),
		       (unsigned long long)journal_blocknr(j, pos), ret);
	*n = cnt;
	return ret;
}

/*
 * Replay from *@pos with link *@prev; both end at the first bad block, and
 * r->end says what was wrong with it (NULL after a whole lap).
 */
static int journal_replay_blocks(struct journal_replay *r, u64 *pos,
				 u32 *prev)
{
	struct betrkv_journal *j = r->j;
	const struct journal_block *blk;
	u8 *buf = j->buf[1].blocks;
	u64 seen;
	u32 i, n;
	int ret;

	for (seen = 0; seen < j->nblocks; seen += n) {
		ret = journal_read(j, *pos, buf, j->nblocks - seen, &n);
		if (ret)
			return ret;
		for (i = 0; i < n; i++, *pos += JOURNAL_BS) {
			blk = journal_buf_block(&j->buf[1], i);
			r->end = journal_block_unchained(j, blk, *pos, *prev);
			if (r->end)
				return 0;
			r->pos = *pos;
			ret = journal_replay_block(r, blk);
			if (ret)
				return ret;
			*prev = le32_to_cpu(blk->hdr.csum);
		}
	}
	return 0;
}

/* The chain ended at @end, yet the block at @later of a later batch is valid. */
static int journal_durable_lost(struct journal_replay *r, u64 end, u64 later)
{
	const struct betrkv_journal *j = r->j;

	r->pos = end;
	r->corrupt = true;
	pr_err("%s: journal block %llu (stream position %llu) is bad (%s), but block %llu (stream position %llu) of a later write batch is valid: synced journal data is corrupt\n",
	       betrkv_dev_name(j->dev),
	       (unsigned long long)journal_blocknr(j, end),
	       (unsigned long long)end, r->end,
	       (unsigned long long)journal_blocknr(j, later),
	       (unsigned long long)later);
	return -EUCLEAN;
}

/*
 * The chain ended at @end.  Look for a valid block of this lap from a batch
 * that started after @end, among the blocks of the rest of @end's batch and
 * of the next one (a batch is at most a buffer).  An unreadable block is no
 * evidence either way.
 */
static int journal_check_end(struct journal_replay *r, u64 end)
{
	struct betrkv_journal *j = r->j;
	const struct journal_block *blk;
	u64 pos = end + JOURNAL_BS, batch;
	u64 stop = min(end + 2ull * j->buf_blocks * JOURNAL_BS,
		       j->start_pos + j->nblocks * JOURNAL_BS);
	u32 i, n;

	while (pos < stop) {
		if (journal_read(j, pos, j->buf[1].blocks,
				 (stop - pos) / JOURNAL_BS, &n)) {
			pos += (u64)n * JOURNAL_BS;
			continue;
		}
		for (i = 0; i < n; i++, pos += JOURNAL_BS) {
			blk = journal_buf_block(&j->buf[1], i);
			batch = le64_to_cpu(blk->batch);
			/* The cheap checks first: most blocks are of a lap ago. */
			if (le64_to_cpu(blk->pos) == pos && batch > end &&
			    batch <= pos && !journal_block_bad(j, blk, pos))
				return journal_durable_lost(r, end, pos);
		}
	}
	return 0;
}

/**
 * betrkv_journal_replay() - apply the records after the checkpoint.
 * @j: the journal, not yet replayed
 * @apply: called for each record with seq > start_seq, in order; the ops
 *	point into the journal's buffers and are valid only during the call
 * @ctx: passed to @apply
 * @last_seq: receives the highest seq applied, or start_seq if none
 * @salvaged: set if a salvaging journal ended the log at corrupt data
 *
 * Only reads.  Replay ends at the first block that is torn, of an earlier
 * lap or of an earlier session, unless a valid block of a later write batch
 * follows it (see the top of this file); a record cut there is dropped.
 * The journal then appends from that block on, and counts what it replayed
 * as durable.  On an error the records before it stay applied (*@last_seq
 * says up to where) and the journal takes no appends.  A journal created
 * with params.salvage ends the log at corrupt journal data instead of
 * failing, says so in the log and takes no appends either.
 *
 * Return: 0; -EUCLEAN for a checksummed block with impossible contents or
 * a bad block before a later batch's valid one; a read error; -ENOMEM;
 * what @apply returned; -EINVAL if called twice.
 */
int betrkv_journal_replay(struct betrkv_journal *j, betrkv_replay_fn apply,
			  void *ctx, u64 *last_seq, bool *salvaged)
{
	struct journal_replay r = {
		.j = j, .apply = apply, .ctx = ctx, .rec = j->buf[0].blocks,
		.last_seq = j->start_seq, .batch = j->start_pos,
	};
	u64 pos = j->start_pos;
	u32 prev = j->prev;
	int ret;

	mutex_lock(&j->lock);
	ret = j->replayed ? -EINVAL : 0;
	j->replayed = true;
	mutex_unlock(&j->lock);
	if (ret)
		return ret;
	ret = journal_replay_blocks(&r, &pos, &prev);
	if (!ret && r.end)
		ret = journal_check_end(&r, pos);
	kvfree(r.ops);
	*salvaged = ret == -EUCLEAN && r.corrupt && j->salvage;
	if (*salvaged) {
		pr_warn("%s: salvage: the journal ends before block %llu (stream position %llu), at sequence number %llu; later records are ignored\n",
			betrkv_dev_name(j->dev),
			(unsigned long long)journal_blocknr(j, r.pos),
			(unsigned long long)r.pos,
			(unsigned long long)r.last_seq);
		ret = 0;
	}

	mutex_lock(&j->io_lock);
	j->prev = prev;
	mutex_lock(&j->lock);
	j->buf[j->cur].pos = pos;
	j->appended_seq = r.last_seq;
	j->durable_seq = r.last_seq;
	j->failed = ret || *salvaged;
	mutex_unlock(&j->lock);
	mutex_unlock(&j->io_lock);
	*last_seq = r.last_seq;
	return ret;
}

/* ---- append and sync ---- */

/* The record's length, or -EINVAL/-E2BIG for ops that cannot be logged. */
static int journal_record_len(const struct betrkv_journal *j,
			      const struct betrkv_op *ops, u32 nops, u32 *len)
{
	u64 n = sizeof(struct journal_rec);
	u32 i;
	int ret;

	if (!nops)
		return -EINVAL;
	for (i = 0; i < nops; i++) {
		ret = betrkv_op_check(&ops[i]);
		if (ret)
			return ret;
		n += sizeof(struct journal_op) + ops[i].klen;
		if (ops[i].type == BETRKV_OP_PUT)
			n += ops[i].vlen;
		if (n > journal_cap(j))
			return -E2BIG;
	}
	*len = n;
	return 0;
}

/* 0 if the journal takes appends: replayed, no write failed. */
static int journal_usable(const struct betrkv_journal *j)
{
	if (j->failed)
		return -EIO;
	return j->replayed ? 0 : -EINVAL;
}

/*
 * May a record of @len bytes be appended now?  *@full says it must start
 * in an empty buffer, so the current one has to be written first.  With
 * @closed, the region must have room even if a sync closes the current
 * block first.
 */
static int journal_room(const struct betrkv_journal *j, u32 len, bool closed,
			bool *full)
{
	const struct journal_buf *b = &j->buf[j->cur];
	u64 start = b->pos;
	u32 fill = b->fill;
	int ret = journal_usable(j);

	if (ret)
		return ret;
	*full = fill + len > journal_cap(j);
	if (*full || closed) {
		start += (u64)b->nblk * JOURNAL_BS;
		fill = 0;
	}
	if (start + (u64)journal_blocks(fill + len) * JOURNAL_BS >
	    j->tail + j->nblocks * JOURNAL_BS)
		return -ENOSPC;
	return 0;
}

/* The block the next payload byte goes to, started if need be. */
static struct journal_block *journal_buf_cur(struct journal_buf *b)
{
	struct journal_block *blk;

	if (b->fill < b->nblk * JOURNAL_PAYLOAD)
		return journal_buf_block(b, b->nblk - 1);
	blk = journal_buf_block(b, b->nblk++);
	memset(blk, 0, JOURNAL_BS);
	blk->first = cpu_to_le16(JOURNAL_NO_FIRST);
	return blk;
}

static void journal_buf_put(struct journal_buf *b, const void *src, u32 n)
{
	const u8 *p = src;
	struct journal_block *blk;
	u32 off, take;

	while (n) {
		blk = journal_buf_cur(b);
		off = b->fill % JOURNAL_PAYLOAD;
		take = min(n, JOURNAL_PAYLOAD - off);
		memcpy((u8 *)(blk + 1) + off, p, take);
		p += take;
		n -= take;
		b->fill += take;
	}
}

static void journal_put_op(struct journal_buf *b, const struct betrkv_op *op)
{
	u32 vlen = op->type == BETRKV_OP_PUT ? op->vlen : 0;
	struct journal_op o = {
		.type = cpu_to_le32(op->type),
		.klen = cpu_to_le32(op->klen),
		.vlen = cpu_to_le32(vlen),
	};

	journal_buf_put(b, &o, sizeof(o));
	journal_buf_put(b, op->key, op->klen);
	journal_buf_put(b, op->val, vlen);
}

static void journal_put_record(struct betrkv_journal *j, u64 seq,
			       const struct betrkv_op *ops, u32 nops, u32 len)
{
	struct journal_buf *b = &j->buf[j->cur];
	struct journal_block *blk = journal_buf_cur(b);
	struct journal_rec rec = {
		.len = cpu_to_le32(len),
		.nops = cpu_to_le32(nops),
		.seq = cpu_to_le64(seq),
	};
	u32 i;

	if (le16_to_cpu(blk->first) == JOURNAL_NO_FIRST)
		blk->first = cpu_to_le16(b->fill % JOURNAL_PAYLOAD);
	journal_buf_put(b, &rec, sizeof(rec));
	for (i = 0; i < nops; i++)
		journal_put_op(b, &ops[i]);
	j->appended_seq = seq;
	j->stats.records++;
}

/* Fill in the headers of @b's blocks, chaining them from j->prev. */
static void journal_seal(struct betrkv_journal *j, struct journal_buf *b)
{
	struct journal_block *blk;
	u64 pos;
	u32 i;

	for (i = 0; i < b->nblk; i++) {
		blk = journal_buf_block(b, i);
		pos = b->pos + (u64)i * JOURNAL_BS;
		blk->pos = cpu_to_le64(pos);
		blk->nonce = cpu_to_le64(j->nonce);
		blk->prev = cpu_to_le32(j->prev);
		blk->used = cpu_to_le16(min(b->fill - i * JOURNAL_PAYLOAD,
					    JOURNAL_PAYLOAD));
		blk->batch = cpu_to_le64(b->pos);
		betrkv_block_seal(blk, JOURNAL_BS, BETRKV_BLOCK_JOURNAL,
				  journal_blocknr(j, pos), j->uuid);
		j->prev = le32_to_cpu(blk->hdr.csum);
	}
}

/* Write @b's blocks, split at the region's end; the last write flushes. */
static int journal_write(struct betrkv_journal *j, const struct journal_buf *b)
{
	u64 idx = journal_index(j, b->pos);
	u64 head = j->nblocks - idx;	/* blocks before the region's end */
	const u8 *src = b->blocks;
	u32 n = b->nblk;
	int ret;

	if (head < n) {
		ret = betrkv_dev_write(j->dev, j->offset + idx * JOURNAL_BS,
				       src, head * JOURNAL_BS, 0);
		if (ret)
			return ret;
		src += head * JOURNAL_BS;
		n -= head;
		idx = 0;
	}
	return betrkv_dev_write(j->dev, j->offset + idx * JOURNAL_BS, src,
				(size_t)n * JOURNAL_BS, JOURNAL_FLUSH);
}

/*
 * Make everything appended durable: take the current buffer, closing its
 * last block, and write it.  Called with io_lock held.
 */
static int journal_flush(struct betrkv_journal *j)
{
	struct journal_buf *b;
	u64 covered;
	int ret;

	lockdep_assert_held(&j->io_lock);
	mutex_lock(&j->lock);
	b = &j->buf[j->cur];
	ret = journal_usable(j);
	if (ret || !b->fill) {
		mutex_unlock(&j->lock);
		return ret;
	}
	covered = j->appended_seq;
	j->cur ^= 1;
	j->buf[j->cur].pos = b->pos + (u64)b->nblk * JOURNAL_BS;
	mutex_unlock(&j->lock);

	journal_seal(j, b);
	ret = journal_write(j, b);

	mutex_lock(&j->lock);
	if (ret) {
		j->failed = true;
		pr_err("%s: journal write failed: error %d\n",
		       betrkv_dev_name(j->dev), ret);
	} else {
		j->durable_seq = covered;
		j->stats.syncs++;
		j->stats.blocks_written += b->nblk;
		j->stats.bytes_written += (u64)b->nblk * JOURNAL_BS;
		j->stats.flushes++;
	}
	b->fill = 0;
	b->nblk = 0;
	mutex_unlock(&j->lock);
	return ret;
}

static int journal_flush_all(struct betrkv_journal *j)
{
	int ret;

	mutex_lock(&j->io_lock);
	ret = journal_flush(j);
	mutex_unlock(&j->io_lock);
	return ret;
}

/* journal_room(), writing a full current buffer first; j->lock held. */
static int journal_fit(struct betrkv_journal *j, u32 len, bool closed)
{
	bool full;
	int ret;

	lockdep_assert_held(&j->lock);
	ret = journal_room(j, len, closed, &full);
	while (!ret && full) {
		mutex_unlock(&j->lock);
		ret = journal_flush_all(j);
		mutex_lock(&j->lock);
		if (!ret)
			ret = journal_room(j, len, closed, &full);
	}
	return ret;
}

/**
 * betrkv_journal_reserve() - make sure a record can be appended.
 * @j: the journal, replayed
 * @ops: the operations the record will hold
 * @nops: how many, at least one
 *
 * When the in-memory buffer has no room left for the record, it is synced
 * first.  Afterwards betrkv_journal_append() of these ops cannot fail for
 * want of room, whatever concurrent syncs do, as long as nothing else is
 * appended first (the store's lock serialises appenders); it fails only if
 * a concurrent sync's write fails meanwhile.
 *
 * Return: 0, or an error of betrkv_journal_append() (-ENOSPC: checkpoint,
 * then retry).
 */
int betrkv_journal_reserve(struct betrkv_journal *j,
			   const struct betrkv_op *ops, u32 nops)
{
	u32 len;
	int ret;

	ret = journal_record_len(j, ops, nops, &len);
	if (ret)
		return ret;
	mutex_lock(&j->lock);
	ret = journal_fit(j, len, true);
	mutex_unlock(&j->lock);
	return ret;
}

/**
 * betrkv_journal_append() - log a mutation (or a batch) in memory.
 * @j: the journal, replayed
 * @seq: its sequence number, above every one appended or replayed
 * @ops: the operations
 * @nops: how many, at least one
 *
 * Usually only copies; when the in-memory buffer is full it first syncs
 * (never after betrkv_journal_reserve() of the same ops).
 *
 * Return: 0; -EINVAL for a bad op, seq or a journal not replayed; -E2BIG
 * for a record longer than betrkv_journal_max_record() (or an op over the
 * limits); -ENOSPC if the region has no room before the last checkpoint's
 * position (checkpoint, then retry); -EIO once a write has failed.
 */
int betrkv_journal_append(struct betrkv_journal *j, u64 seq,
			  const struct betrkv_op *ops, u32 nops)
{
	u32 len;
	int ret;

	ret = journal_record_len(j, ops, nops, &len);
	if (ret)
		return ret;
	mutex_lock(&j->lock);
	ret = seq <= j->appended_seq ? -EINVAL : journal_fit(j, len, false);
	if (!ret)
		journal_put_record(j, seq, ops, nops, len);
	mutex_unlock(&j->lock);
	return ret;
}

static bool journal_durable(struct betrkv_journal *j, u64 target)
{
	bool done;

	mutex_lock(&j->lock);
	done = j->durable_seq >= target;
	mutex_unlock(&j->lock);
	return done;
}

/**
 * betrkv_journal_sync() - make every record appended so far durable.
 * @j: the journal
 *
 * Concurrent callers share the work: one writes and flushes everything
 * appended until then, and a caller whose records that covered returns
 * without I/O.  With nothing new appended there is no I/O at all.
 *
 * Return: 0, or the write error (later appends then fail with -EIO).
 */
int betrkv_journal_sync(struct betrkv_journal *j)
{
	u64 target;
	int ret = 0;

	mutex_lock(&j->lock);
	target = j->appended_seq;
	mutex_unlock(&j->lock);
	if (journal_durable(j, target))
		return 0;
	mutex_lock(&j->io_lock);
	if (!journal_durable(j, target))
		ret = journal_flush(j);
	mutex_unlock(&j->io_lock);
	return ret;
}

/**
 * betrkv_journal_durable_seq() - the highest sequence number durable.
 * @j: the journal
 *
 * Return: that number (start_seq, or what replay found, before any sync).
 */
u64 betrkv_journal_durable_seq(struct betrkv_journal *j)
{
	u64 seq;

	mutex_lock(&j->lock);
	seq = j->durable_seq;
	mutex_unlock(&j->lock);
	return seq;
}

/**
 * betrkv_journal_checkpoint_begin() - where a checkpoint taken now replays.
 * @j: the journal, replayed
 * @pos: receives the stream position of the next block to be written
 * @prev: receives the link that block will carry
 *
 * Syncs everything appended (closing the last block), so that the next
 * record starts at *@pos.
 *
 * Return: 0, -EINVAL before replay, or the sync's error.
 */
int betrkv_journal_checkpoint_begin(struct betrkv_journal *j, u64 *pos,
				    u32 *prev)
{
	int ret;

	mutex_lock(&j->io_lock);
	ret = journal_flush(j);
	if (!ret) {
		mutex_lock(&j->lock);
		*pos = j->buf[j->cur].pos;
		mutex_unlock(&j->lock);
		*prev = j->prev;
	}
	mutex_unlock(&j->io_lock);
	return ret;
}

/**
 * betrkv_journal_checkpoint_done() - reuse the space before @pos.
 * @j: the journal
 * @pos: as returned by betrkv_journal_checkpoint_begin(), once the
 *	checkpoint that replays from there is durable
 *
 * A position behind the current one or ahead of the stream is ignored.
 */
void betrkv_journal_checkpoint_done(struct betrkv_journal *j, u64 pos)
{
	mutex_lock(&j->lock);
	if (pos > j->tail && pos <= j->buf[j->cur].pos)
		j->tail = pos;
	mutex_unlock(&j->lock);
}

/**
 * betrkv_journal_full_ratio() - how full the region is, in 1/1024ths.
 * @j: the journal
 *
 * Return: the share of the region holding blocks that no durable
 * checkpoint has freed yet, appended ones included.
 */
u32 betrkv_journal_full_ratio(struct betrkv_journal *j)
{
	const struct journal_buf *b;
	u64 used;

	mutex_lock(&j->lock);
	b = &j->buf[j->cur];
	used = b->pos + (u64)b->nblk * JOURNAL_BS - j->tail;
	mutex_unlock(&j->lock);
	return min(used * 1024 / (j->nblocks * JOURNAL_BS), 1024ull);
}

/**
 * betrkv_journal_max_record() - the longest record the journal takes.
 * @j: the journal
 *
 * Bytes of record, as counted by the format: 16 per record, 12 per op, plus
 * the keys and the values of puts.  The region's payload, at most 272
 * blocks' (1101056 bytes); in a region of BETRKV_JOURNAL_SIZE_MIN or more
 * that is at least BETRKV_JOURNAL_RECORD_MAX, so every batch within the
 * published limits fits.
 *
 * Return: that length.
 */
u64 betrkv_journal_max_record(const struct betrkv_journal *j)
{
	return journal_cap(j);
}

/**
 * betrkv_journal_stats() - copy the journal's counters.
 * @j: the journal
 * @st: receives them
 */
void betrkv_journal_stats(struct betrkv_journal *j,
			  struct betrkv_journal_stats *st)
{
	mutex_lock(&j->lock);
	*st = j->stats;
	mutex_unlock(&j->lock);
}
