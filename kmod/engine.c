// SPDX-License-Identifier: GPL-2.0
/*
 * The store: see engine.h.
 *
 * Checkpoint order (each step durable before the next matters):
 *   1. begin, under the lock: the journal is synced and its block closed
 *      (replay will start after everything the tree now holds), the
 *      indirection table's map is frozen and the dirty nodes are marked:
 *      they make the checkpoint, as they are now;
 *   2. each marked node is written to a free slot (never one the previous
 *      checkpoint uses) and the frozen map points at it.  Mutations go on
 *      meanwhile; one that would change a marked node writes it first;
 *   3. the frozen map goes to the itable slot the previous checkpoint does
 *      not use;
 *   4. the superblock with the next generation goes to the other superblock
 *      slot with PREFLUSH (2 and 3 durable first) and FUA;
 *   5. only then are the previous checkpoint's slots and the journal before
 *      step 1's position released.
 * A crash anywhere before 4 completes leaves the previous checkpoint and
 * its journal intact.
 *
 * Who drives a checkpoint: with opts.background, a worker begins one when
 * the journal is half full or the free node slots run low, and writes the
 * marked nodes with the lock dropped during each write.  Without it (the
 * deterministic mode the crash tests use), a mutation begins it and each
 * later mutation writes one marked node, so checkpoints still overlap
 * mutations.  A full journal, a shortage of slots, an explicit checkpoint
 * and close wait for the checkpoint in progress and then run a whole one.
 *
 * Space: a mutation is admitted only while the free node slots cover every
 * dirty node plus a reserve for the splits it may cause, so a checkpoint
 * can always be written; when they do not, a checkpoint frees the slots
 * only the previous checkpoint used.  Deletes get a smaller reserve so they
 * can make room on a full device; but a delete frees space only once it
 * reaches its leaf, and on its way it sits in buffers.  So when the
 * checkpoint is not enough, the tree is drained (betrkv_tree_drain(): the
 * buffered messages move down, leaves shrink, light nodes merge) in rounds:
 * each round flushes while a delete's reserve stays free beyond the dirty
 * nodes (a flush dirties fewer nodes than that reserve), then a checkpoint
 * writes them and frees the slots of the nodes they replaced or that merged
 * away.  Rounds go on until the mutation fits; if nothing more moves, it
 * fails with -ENOSPC before changing anything.  A drain changes no key, so
 * it needs no journal record, and its nodes are written by the checkpoints
 * like any others.  An explicit checkpoint with under a quarter of the
 * slots free drains in rounds until nothing more moves, so deletes plus a
 * checkpoint give their space back.
 *
 * Locking: one rw_semaphore.  Queries (get, scan, stats) hold it shared
 * and run in parallel (the cache serialises its own state and reads from
 * disk without its lock); mutations, checkpoint steps and recovery hold it
 * exclusive, and the checkpoint writer drops it while a node write is under
 * way.  Sync holds it only to read the state: journal writes and flushes
 * never block queries.
 */
#include "block.h"
#include "engine.h"

/* Node slots a mutation may need per tree level, beyond the dirty nodes. */
#define SLOTS_PER_LEVEL	4u
/* A checkpoint begins when the journal is this full (in 1/1024ths). */
#define CP_JOURNAL_RATIO	512u
/* A checkpoint drains the tree when under 1/SPACE_LOW of the slots are free. */
#define SPACE_LOW	4u

struct betrkv_engine {
	struct betrkv_dev *dev;
	struct rw_semaphore lock;
	atomic64_t gets, scans, syncs;	/* counted under the shared lock */
	struct betrkv_sb sb;
	unsigned int sb_slot;
	bool read_only;
	int failed;			/* sticky error: no more writes */
	bool drained;			/* the last drain moved nothing */
	u64 seq;
	struct betrkv_itable itable;
	struct betrkv_cache *cache;
	struct betrkv_tree tree;
	struct betrkv_journal *journal;
	u8 *itbuf;			/* itable_size bytes */
	struct betrkv_engine_stats stats;
	/* The checkpoint in progress, if cp_active. */
	bool cp_active;
	bool closing;			/* no more background checkpoints */
	struct betrkv_sb cp_next;	/* the superblock it will write */
	struct betrkv_worker *worker;	/* NULL: mutations drive checkpoints */
	u8 *cp_buf;			/* node_size bytes for the worker's writes */
	wait_queue_head_t cp_wait;	/* woken when a checkpoint ends */
};

static const char *engine_name(const struct betrkv_engine *e)
{
	return betrkv_dev_name(e->dev);
}

static void engine_fail(struct betrkv_engine *e, int err, const char *what)
{
	if (e->failed)
		return;
	e->failed = err;
	pr_err("%s: %s failed (error %d): the store is read-only until unbound\n",
	       engine_name(e), what, err);
}

/* Build the newest message per key of a batch. */
static int batch_msgs(const struct betrkv_op *ops, u32 nops,
		      struct betrkv_msgbuf *msgs)
{
	struct betrkv_msg *m;
	u32 i;
	int err;

	for (i = 0; i < nops; i++) {
		m = betrkv_msg_new(ops[i].type, ops[i].key, ops[i].klen,
				   ops[i].val, ops[i].type == BETRKV_OP_PUT ?
				   ops[i].vlen : 0);
		if (!m)
			return -ENOMEM;
		err = betrkv_msgbuf_upsert(msgs, m);
		if (err)
			return err;
	}
	return 0;
}

static int replay_one(void *ctx, u64 seq, const struct betrkv_op *ops, u32 nops)
{
	struct betrkv_engine *e = ctx;
	struct betrkv_msgbuf msgs;
	int err;

	betrkv_msgbuf_init(&msgs);
	err = batch_msgs(ops, nops, &msgs) ?: betrkv_tree_apply(&e->tree, &msgs);
	betrkv_msgbuf_free(&msgs);
	if (!err)
		e->seq = seq;
	return err;
}

static int load_itable(struct betrkv_engine *e)
{
	const struct betrkv_geometry *geo = &e->sb.geo;
	const struct betrkv_checkpoint *cp = &e->sb.cp;
	u64 off = geo->itable_offset + cp->itable_slot * geo->itable_size;
	const char *why = "checksum of the whole table";
	int err;

	if (!cp->itable_bytes)
		return 0;
	err = betrkv_dev_read(e->dev, off, e->itbuf, cp->itable_bytes);
	if (err)
		return err;
	err = betrkv_crc32c(NULL, 0, e->itbuf, cp->itable_bytes) == cp->itable_csum ?
	      betrkv_itable_decode(&e->itable, e->sb.uuid, off / BETRKV_BLOCK_SIZE,
				   e->itbuf, cp->itable_bytes, &why) : -EUCLEAN;
	if (err == -EUCLEAN)
		pr_err("%s: indirection table of generation %llu is corrupt: %s\n",
		       engine_name(e), e->sb.generation, why);
	return err;
}

static int open_parts(struct betrkv_engine *e, const struct betrkv_engine_opts *o)
{
	const struct betrkv_geometry *geo = &e->sb.geo;
	const struct betrkv_checkpoint *cp = &e->sb.cp;
	struct betrkv_cache_params cparams = {
		.dev = e->dev, .uuid = e->sb.uuid, .itable = &e->itable,
		.nodes_offset = geo->nodes_offset, .node_size = geo->node_size,
		.budget = o->cache_bytes, .next_id = max(1ull, cp->next_node_id),
		.read_only = o->read_only,
	};
	struct betrkv_journal_params jparams = {
		.dev = e->dev, .offset = geo->journal_offset,
		.size = geo->journal_size, .uuid = e->sb.uuid,
		.start_pos = cp->journal_pos, .start_prev = cp->journal_prev,
		.start_seq = cp->seq,
	};
	int err;

	e->itbuf = kvmalloc(geo->itable_size, GFP_KERNEL);
	if (!e->itbuf)
		return -ENOMEM;
	err = betrkv_itable_init(&e->itable, geo->nodes_size / geo->node_size,
				 geo->node_size) ?:
	      load_itable(e) ?:
	      betrkv_cache_create(&cparams, &e->cache) ?:
	      betrkv_journal_create(&jparams, &e->journal);
	if (err)
		return err;
	e->tree = (struct betrkv_tree){ .cache = e->cache, .root = cp->root,
					.node_size = geo->node_size };
	e->seq = cp->seq;
	return betrkv_journal_replay(e->journal, replay_one, e, &e->seq);
}

/* The cache holds at least BETRKV_CACHE_NODES_MIN nodes; 0 is the default. */
static int check_budget(struct betrkv_engine *e, struct betrkv_engine_opts *o)
{
	u64 lo = (u64)BETRKV_CACHE_NODES_MIN * e->sb.geo.node_size;

	if (!o->cache_bytes)
		o->cache_bytes = max(BETRKV_CACHE_BYTES_DEFAULT, lo);
	if (o->cache_bytes >= lo)
		return 0;
	pr_err("%s: cache of %llu bytes is below 16 nodes (%llu bytes)\n",
	       engine_name(e), o->cache_bytes, lo);
	return -EINVAL;
}

static void engine_free(struct betrkv_engine *e)
{
	betrkv_worker_stop(e->worker);
	kvfree(e->cp_buf);
	if (e->journal)
		betrkv_journal_destroy(e->journal);
	betrkv_cache_destroy(e->cache);
	betrkv_itable_destroy(&e->itable);
	kvfree(e->itbuf);
	kfree(e);
}

static void cp_work(void *arg);

/* The checkpoint worker of a writable store that asked for one. */
static int start_worker(struct betrkv_engine *e, const struct betrkv_engine_opts *o)
{
	if (!o->background || o->read_only)
		return 0;
	e->cp_buf = kvmalloc(e->sb.geo.node_size, GFP_KERNEL);
	if (!e->cp_buf)
		return -ENOMEM;
	return betrkv_worker_start(engine_name(e), cp_work, e, &e->worker);
}

/**
 * betrkv_engine_open() - open the store on @dev: recovery, reads only.
 * @dev: the device
 * @opts: cache budget and read-only
 * @ep: receives the store
 *
 * Return: 0, or an error of betrkv_sb_load(), -EUCLEAN for a corrupt
 * indirection table or root path, -EIO, -ENOMEM.
 */
int betrkv_engine_open(struct betrkv_dev *dev,
		       const struct betrkv_engine_opts *opts,
		       struct betrkv_engine **ep)
{
	struct betrkv_engine *e = kzalloc(sizeof(*e), GFP_KERNEL);
	struct betrkv_engine_opts o = *opts;
	int err;

	if (!e)
		return -ENOMEM;
	init_rwsem(&e->lock);
	init_waitqueue_head(&e->cp_wait);
	e->dev = dev;
	e->read_only = opts->read_only;
	err = betrkv_sb_load(dev, &e->sb, &e->sb_slot) ?: check_budget(e, &o) ?:
	      open_parts(e, &o) ?: start_worker(e, &o);
	if (err) {
		engine_free(e);
		return err;
	}
	*ep = e;
	return 0;
}

static int write_itable(struct betrkv_engine *e, u32 slot, u64 *len)
{
	const struct betrkv_geometry *geo = &e->sb.geo;
	u64 off = geo->itable_offset + slot * geo->itable_size;

	*len = betrkv_itable_disk_bytes(&e->itable);
	if (*len > geo->itable_size)
		return -ENOSPC;
	betrkv_itable_encode(&e->itable, e->sb.uuid, off / BETRKV_BLOCK_SIZE,
			     e->itbuf, *len);
	e->stats.itable_bytes_written += *len;
	return betrkv_dev_write(e->dev, off, e->itbuf, *len, 0);
}

/* Step 1 of a checkpoint; the caller holds the lock. */
static int cp_begin(struct betrkv_engine *e)
{
	struct betrkv_checkpoint *cp = &e->cp_next.cp;
	int err;

	if (e->read_only)
		return -EROFS;
	if (e->failed)
		return -EIO;
	e->cp_next = e->sb;
	cp->itable_slot = e->sb.cp.itable_bytes ? !e->sb.cp.itable_slot : 0;
	err = betrkv_journal_checkpoint_begin(e->journal, &cp->journal_pos,
					      &cp->journal_prev);
	if (err) {
		engine_fail(e, err, "journal write");
		return err;
	}
	err = betrkv_itable_freeze(&e->itable);
	if (err)
		return err;
	err = betrkv_cache_checkpoint_begin(e->cache);
	if (err) {
		betrkv_itable_thaw(&e->itable);
		return err;
	}
	cp->seq = e->seq;
	cp->root = e->tree.root;
	cp->next_node_id = e->cache->next_id;
	e->cp_next.generation++;
	e->cp_active = true;
	return 0;
}

/* The checkpoint is over, done or not: wake whoever waits for it. */
static void cp_end(struct betrkv_engine *e)
{
	betrkv_cache_checkpoint_end(e->cache);
	e->cp_active = false;
	wake_up_all(&e->cp_wait);
}

/* Give up the checkpoint; only a lack of space or memory leaves it retryable. */
static void cp_abort(struct betrkv_engine *e, int err)
{
	betrkv_itable_thaw(&e->itable);
	cp_end(e);
	if (err != -ENOSPC && err != -ENOMEM)
		engine_fail(e, err, "checkpoint");
}

/* Steps 3-5, once every marked node is written; the caller holds the lock. */
static int cp_finish(struct betrkv_engine *e)
{
	struct betrkv_checkpoint *cp = &e->cp_next.cp;
	u64 len;
	int err;

	err = write_itable(e, cp->itable_slot, &len);
	if (err)
		goto fail;
	cp->itable_bytes = len;
	cp->itable_csum = betrkv_crc32c(NULL, 0, e->itbuf, len);
	err = betrkv_sb_write(e->dev, &e->cp_next, !e->sb_slot);
	if (err)
		goto fail;
	e->stats.sb_writes++;
	e->sb = e->cp_next;
	e->sb_slot = !e->sb_slot;
	betrkv_itable_commit(&e->itable);
	betrkv_journal_checkpoint_done(e->journal, cp->journal_pos);
	e->stats.checkpoints++;
	cp_end(e);
	return 0;
fail:
	cp_abort(e, err);
	return err;
}

/* Steps 2-5 in the caller, now; the caller holds the lock. */
static int cp_complete(struct betrkv_engine *e)
{
	int err = betrkv_cache_write_pending(e->cache, ~0ull);

	if (err) {
		cp_abort(e, err);
		return err;
	}
	return cp_finish(e);
}

/*
 * Wait for the checkpoint in progress to end: complete it here if
 * mutations drive checkpoints, else let the worker finish it.
 */
static void cp_wait(struct betrkv_engine *e)
{
	while (e->cp_active) {
		if (!e->worker) {
			cp_complete(e);
			return;
		}
		up_write(&e->lock);
		wait_event(e->cp_wait, !READ_ONCE(e->cp_active));
		down_write(&e->lock);
	}
}

/* A whole checkpoint of the tree as it is now; the caller holds the lock. */
static int engine_checkpoint(struct betrkv_engine *e)
{
	int err;

	cp_wait(e);
	err = cp_begin(e);
	return err ?: cp_complete(e);
}

static u32 free_slots(const struct betrkv_engine *e)
{
	return e->itable.nslots - e->itable.used_slots;
}

/* Slots to keep free beyond the dirty nodes: a reserve per tree level. */
static int slots_reserve(struct betrkv_engine *e, bool deletes_only,
			 u32 *reserve)
{
	u32 height;
	int err = betrkv_tree_height(&e->tree, &height);

	*reserve = SLOTS_PER_LEVEL * (height + 1) / (deletes_only ? 2 : 1);
	return err;
}

/*
 * Time for a checkpoint: the journal is half full, or the free slots no
 * longer cover the dirty nodes twice over (a checkpoint frees the slots
 * only the last one uses).
 */
static bool cp_wanted(struct betrkv_engine *e)
{
	u32 reserve;

	if (e->read_only || e->failed || e->closing)
		return false;
	if (betrkv_journal_full_ratio(e->journal) >= CP_JOURNAL_RATIO)
		return true;
	return !slots_reserve(e, false, &reserve) &&
	       free_slots(e) < 2 * (e->cache->ndirty + reserve);
}

/* After a mutation: begin a checkpoint, or drive the one in progress. */
static void cp_poke(struct betrkv_engine *e)
{
	int err;

	if (e->worker) {
		if (!e->cp_active && cp_wanted(e))
			betrkv_worker_kick(e->worker);
		return;
	}
	if (!e->cp_active) {
		if (cp_wanted(e))
			cp_begin(e);
		return;
	}
	err = betrkv_cache_write_pending(e->cache, 1);
	if (err)
		cp_abort(e, err);
	else if (!betrkv_cache_checkpoint_busy(e->cache))
		cp_finish(e);
}

/* The worker: one checkpoint, the lock dropped during each node write. */
static void cp_work(void *arg)
{
	struct betrkv_engine *e = arg;
	struct betrkv_cache_write w;
	int err, ioerr;

	down_write(&e->lock);
	if (e->cp_active || !cp_wanted(e) || cp_begin(e))
		goto out;
	while (!(err = betrkv_cache_write_next(e->cache, e->cp_buf, &w))) {
		up_write(&e->lock);
		ioerr = betrkv_dev_write(e->dev, w.off, e->cp_buf, w.len, 0);
		down_write(&e->lock);
		err = betrkv_cache_write_done(e->cache, &w, ioerr);
		if (err)
			break;
	}
	if (err == -ENOENT)
		cp_finish(e);
	else
		cp_abort(e, err);
out:
	up_write(&e->lock);
}

struct drain_room {
	struct betrkv_engine *e;
	u32 reserve;		/* a delete's */
};

/*
 * A drain flush may go on while a delete's reserve, 2 * (levels + 1) slots,
 * is free beyond the dirty nodes: the 2 * levels - 1 nodes a flush dirties
 * at most fit in it, so the next checkpoint can always be written.
 */
static bool drain_has_room(void *ctx)
{
	const struct drain_room *r = ctx;

	return free_slots(r->e) >= r->e->cache->ndirty + r->reserve;
}

/* One round of draining, as far as the free slots allow. */
static int engine_drain(struct betrkv_engine *e, u32 *flushes)
{
	struct drain_room r = { .e = e };
	int err;

	*flushes = 0;
	if (e->drained)
		return 0;
	err = slots_reserve(e, true, &r.reserve);
	if (err)
		return err;
	err = betrkv_tree_drain(&e->tree, drain_has_room, &r, flushes);
	if (err) {
		engine_fail(e, err, "draining the tree");
		return err;
	}
	e->drained = !*flushes;
	return 0;
}

/*
 * Right after a checkpoint: drain, then checkpoint again, round after round,
 * until @need node slots are free or nothing more moves (U32_MAX: until
 * nothing more moves).
 */
static int drain_rounds(struct betrkv_engine *e, u32 need)
{
	u32 flushes = 1;
	int err = 0;

	while (!err && flushes && free_slots(e) < need) {
		err = engine_drain(e, &flushes);
		if (!err && flushes)
			err = engine_checkpoint(e);
	}
	return err;
}

/*
 * Room for a mutation: the dirty nodes plus a reserve per tree level; a
 * checkpoint, then drain rounds, to find it.
 */
static int make_room(struct betrkv_engine *e, bool deletes_only)
{
	u32 reserve;
	int err;

	err = slots_reserve(e, deletes_only, &reserve);
	if (err)
		return err;
	if (free_slots(e) >= e->cache->ndirty + reserve)
		return 0;
	err = engine_checkpoint(e) ?: drain_rounds(e, reserve);
	if (err)
		return err;
	if (free_slots(e) >= e->cache->ndirty + reserve)
		return 0;
	pr_warn_ratelimited("%s: no space left for the mutation\n", engine_name(e));
	return -ENOSPC;
}

static int check_ops(const struct betrkv_op *ops, u32 nops)
{
	u32 i;
	int err;

	if (!nops)
		return -EINVAL;
	for (i = 0; i < nops; i++) {
		err = betrkv_op_check(&ops[i]);
		if (err)
			return err;
	}
	return 0;
}

static bool only_deletes(const struct betrkv_op *ops, u32 nops)
{
	u32 i;

	for (i = 0; i < nops; i++)
		if (ops[i].type != BETRKV_OP_DEL)
			return false;
	return true;
}

/* Journal the batch, checkpointing once if the journal is full. */
static int journal_batch(struct betrkv_engine *e, const struct betrkv_op *ops,
			 u32 nops)
{
	int err = betrkv_journal_append(e->journal, e->seq + 1, ops, nops);

	if (err == -ENOSPC) {
		err = engine_checkpoint(e);
		if (!err)
			err = betrkv_journal_append(e->journal, e->seq + 1, ops, nops);
	}
	return err;
}

static int engine_apply_locked(struct betrkv_engine *e,
			       const struct betrkv_op *ops, u32 nops)
{
	struct betrkv_msgbuf msgs;
	int err;

	if (e->read_only)
		return -EROFS;
	if (e->failed)
		return -EIO;
	err = check_ops(ops, nops);
	if (err)
		return err;
	betrkv_msgbuf_init(&msgs);
	err = batch_msgs(ops, nops, &msgs) ?:
	      make_room(e, only_deletes(ops, nops));
	if (!err) {
		err = journal_batch(e, ops, nops);
		if (err == -EIO)
			engine_fail(e, err, "journal write");
	}
	if (!err) {
		e->seq++;
		e->drained = false;
		err = betrkv_tree_apply(&e->tree, &msgs);
		if (err)
			engine_fail(e, err, "applying a mutation");
		else
			cp_poke(e);
	}
	betrkv_msgbuf_free(&msgs);
	return err;
}

/**
 * betrkv_engine_apply() - apply a batch of puts and deletes atomically.
 * @e: the store
 * @ops: the mutations, in order (a later one for a key wins)
 * @nops: how many, at least 1
 * @seq: receives the batch's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno (see engine.h); on error nothing changed,
 * except after -EIO or -ENOMEM from the tree, which also make the store
 * read-only.
 */
int betrkv_engine_apply(struct betrkv_engine *e, const struct betrkv_op *ops,
			u32 nops, u64 *seq)
{
	int err;

	down_write(&e->lock);
	err = engine_apply_locked(e, ops, nops);
	if (!err) {
		e->stats.batches += nops > 1;
		e->stats.puts += ops[0].type == BETRKV_OP_PUT && nops == 1;
		e->stats.deletes += ops[0].type == BETRKV_OP_DEL && nops == 1;
		if (seq)
			*seq = e->seq;
	}
	up_write(&e->lock);
	return err;
}

/**
 * betrkv_engine_get() - the value of @key.
 * @e: the store
 * @key: the key
 * @klen: its length
 * @val: receives a copy of the put holding the value (kfree() it)
 *
 * Return: 0, -ENOENT if absent, -EINVAL/-E2BIG for a bad key, -EUCLEAN or
 * -EIO if a node on the way cannot be read.
 */
int betrkv_engine_get(struct betrkv_engine *e, const u8 *key, u32 klen,
		      struct betrkv_msg **val)
{
	int err;

	if (!klen)
		return -EINVAL;
	if (klen > BETRKV_KEY_MAX)
		return -E2BIG;
	down_read(&e->lock);
	err = betrkv_tree_get(&e->tree, key, klen, val);
	atomic64_inc(&e->gets);
	up_read(&e->lock);
	return err;
}

/*
 * Move the puts of @page to @out as long as @out takes them (@limit pairs,
 * @budget bytes but always one pair).  Return: 1 if a pair had to be left
 * out, 0, or a negative errno.
 */
static int keep_puts(struct betrkv_msgbuf *page, u32 limit, u64 budget,
		     struct betrkv_msgbuf *out)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < page->n; i++) {
		struct betrkv_msg *m = page->msgs[i];

		if (ret || m->type != BETRKV_OP_PUT) {
			kfree(m);
			continue;
		}
		if (out->n >= limit ||
		    (out->n && out->bytes + betrkv_msg_weight(m) > budget)) {
			kfree(m);
			ret = 1;
			continue;
		}
		ret = betrkv_msgbuf_append(out, m);
	}
	page->n = 0;
	page->bytes = 0;
	return ret;
}

/*
 * Pages of the tree into @out until it holds @limit pairs or @budget bytes
 * of them, or the range ends: a page's deletes take no room in @out.
 */
static int scan_locked(struct betrkv_engine *e, struct betrkv_range r,
		       u32 limit, u64 budget, struct betrkv_msgbuf *out,
		       bool *more)
{
	struct betrkv_msgbuf page;
	struct betrkv_msg *last = NULL, *next;
	int err;

	betrkv_msgbuf_init(&page);
	for (;;) {
		err = betrkv_tree_scan(&e->tree, &r, limit - out->n,
				       budget - out->bytes, &page, more);
		if (err || !page.n)
			break;
		next = *more ? betrkv_msg_dup(page.msgs[page.n - 1]) : NULL;
		err = *more && !next ? -ENOMEM : keep_puts(&page, limit, budget, out);
		kfree(last);	/* @r.lo pointed into it until now */
		last = next;
		if (err > 0)
			*more = true;
		if (err || !*more || out->n == limit || out->bytes >= budget)
			break;
		r.lo = betrkv_msg_key(last);
		r.lolen = last->klen;
		r.lo_excl = true;
	}
	betrkv_msgbuf_free(&page);
	kfree(last);
	return min(err, 0);
}

/**
 * betrkv_engine_scan() - key-value pairs in a range, in key order.
 * @e: the store
 * @r: the range [lo, hi)
 * @lo_exclusive: leave out lo itself (to resume after the last key seen)
 * @limit: most pairs to return, at least 1; fewer come back only at the
 *         end of the range or when @budget is reached
 * @budget: most bytes of pairs to return, counted as betrkv_msg_weight()
 *          (BETRKV_MSG_OVERHEAD + key + value); the first pair is returned
 *          whatever its size
 * @out: an empty buffer; receives the pairs (puts)
 * @more: set if pairs may follow the last one in @out (resume from it with
 *        @lo_exclusive); @out is empty only at the end of the range
 *
 * The scan holds at most 2 * @budget + 2 * (BETRKV_KEY_MAX +
 * BETRKV_VALUE_MAX + BETRKV_MSG_OVERHEAD) bytes of messages at once, what
 * it returns included (see betrkv_tree_scan()); each message also takes
 * an allocation header and a pointer.  Deleted keys in the range cost time
 * but no room: they are passed over a page at a time.
 *
 * Return: 0 or a negative errno.
 */
int betrkv_engine_scan(struct betrkv_engine *e, const struct betrkv_range *r,
		       bool lo_exclusive, u32 limit, u64 budget,
		       struct betrkv_msgbuf *out, bool *more)
{
	struct betrkv_range range;
	int err;

	if (!limit || !budget || !r->lolen)
		return -EINVAL;
	if (r->lolen > BETRKV_KEY_MAX || (r->hi && r->hilen > BETRKV_KEY_MAX))
		return -E2BIG;
	down_read(&e->lock);
	range = *r;
	range.lo_excl = lo_exclusive;
	err = scan_locked(e, range, limit, budget, out, more);
	atomic64_inc(&e->scans);
	up_read(&e->lock);
	return err;
}

/**
 * betrkv_engine_sync() - make every completed mutation durable.
 * @e: the store
 * @durable_seq: receives the highest durable sequence number (may be NULL)
 *
 * Return: 0, -EROFS (nothing to sync on a read-only store is not an error:
 * it returns 0), or -EIO after a write failed.
 */
int betrkv_engine_sync(struct betrkv_engine *e, u64 *durable_seq)
{
	int failed, err = 0;

	down_read(&e->lock);
	failed = e->failed;
	up_read(&e->lock);
	/* The journal syncs outside the lock: concurrent syncs share a flush. */
	if (!e->read_only)
		err = failed ? -EIO : betrkv_journal_sync(e->journal);
	if (err) {
		down_write(&e->lock);
		engine_fail(e, err, "journal write");
		up_write(&e->lock);
	}
	atomic64_inc(&e->syncs);
	down_read(&e->lock);
	if (durable_seq)
		*durable_seq = max(e->sb.cp.seq,
				   betrkv_journal_durable_seq(e->journal));
	up_read(&e->lock);
	return err;
}

/**
 * betrkv_engine_checkpoint() - write a checkpoint now.
 * @e: the store
 *
 * With under a quarter of the node slots free, the tree is then drained
 * and checkpointed in rounds until nothing more moves, so that the space
 * of deleted keys is free when this returns.
 *
 * Return: 0 or a negative errno.
 */
int betrkv_engine_checkpoint(struct betrkv_engine *e)
{
	int err;

	down_write(&e->lock);
	err = engine_checkpoint(e);
	if (!err && free_slots(e) < e->itable.nslots / SPACE_LOW)
		err = drain_rounds(e, U32_MAX);
	up_write(&e->lock);
	return err;
}

/**
 * betrkv_engine_close() - the final checkpoint (unless read-only), then free.
 * @e: the store
 *
 * The final checkpoint is betrkv_engine_checkpoint(): it drains the tree
 * when space is low.
 *
 * Return: 0 or the error of the final checkpoint; the store is freed either
 * way and recovers from its last durable state.
 */
int betrkv_engine_close(struct betrkv_engine *e)
{
	int err = 0;

	down_write(&e->lock);
	e->closing = true;
	if (!e->read_only && !e->failed)
		err = engine_checkpoint(e);
	else
		cp_wait(e);
	up_write(&e->lock);
	engine_free(e);
	return err;
}

/**
 * betrkv_engine_stats() - counters and gauges of the store.
 * @e: the store
 * @st: receives them
 */
void betrkv_engine_stats(struct betrkv_engine *e, struct betrkv_engine_stats *st)
{
	down_read(&e->lock);
	*st = e->stats;
	st->gets = atomic64_read(&e->gets);
	st->scans = atomic64_read(&e->scans);
	st->syncs = atomic64_read(&e->syncs);
	st->seq = e->seq;
	st->durable_seq = max(e->sb.cp.seq, betrkv_journal_durable_seq(e->journal));
	betrkv_tree_height(&e->tree, &st->height);
	st->checkpointing = e->cp_active;
	st->nodes = e->itable.map.count;
	st->slots_used = e->itable.used_slots;
	st->slots_total = e->itable.nslots;
	st->node_size = e->sb.geo.node_size;
	st->cache_bytes = e->cache->budget;
	betrkv_cache_stats(e->cache, &st->cache, &st->cache_used);
	betrkv_journal_stats(e->journal, &st->journal);
	up_read(&e->lock);
}

/**
 * betrkv_engine_super() - the newest superblock, for status reports.
 * @e: the store
 * @sb: receives it
 * @slot: receives the slot it is in
 * @cache_bytes: receives the cache budget
 *
 * Return: 0, or the error that stopped the store's writes.
 */
int betrkv_engine_super(struct betrkv_engine *e, struct betrkv_sb *sb,
			unsigned int *slot, u64 *cache_bytes)
{
	int failed;

	down_read(&e->lock);
	*sb = e->sb;
	*slot = e->sb_slot;
	*cache_bytes = e->cache->budget;
	failed = e->failed;
	up_read(&e->lock);
	return failed;
}
