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
 * The worker also writes cold dirty nodes back ahead of eviction, one at a
 * time, encoding and writing each without the lock; a checkpoint begins
 * only when no such write is under way.
 *
 * A failed call changes nothing.  Everything that can fail without
 * touching the tree comes first: the batch's messages, the room for it in
 * the node slots and in the journal (betrkv_journal_reserve(), which syncs
 * or, via a checkpoint, frees the journal here).  Then the tree takes the
 * batch, and only then is the record appended (it cannot fail now) and the
 * sequence number taken.  A tree change or drain that fails partway
 * (-ENOMEM, a node that cannot be read) leaves the tree inconsistent:
 * engine_rebuild() syncs the journal, gives up the checkpoint in progress
 * and rebuilds the indirection table, the cache and the tree as open does,
 * from the last checkpoint and the journal, which holds exactly the
 * mutations that completed.  Until a rebuild succeeds, every call tries it
 * again first and fails with its error.  Only a failed write or flush makes
 * the store read-only (engine_fail()).
 *
 * Space: a mutation is admitted only while the free node slots cover every
 * dirty node plus a reserve for the splits it may cause, so a checkpoint
 * can always be written; when they do not, a checkpoint frees the slots
 * only the previous checkpoint used.  A put that took more than that, so
 * that less than a delete's reserve stays free beyond the dirty nodes, is
 * undone (a rebuild) and tried once more with room for what it took, else
 * fails with -ENOSPC: so after any put a checkpoint leaves a delete's
 * reserve free, and deletes never grow the tree.  Deletes get that smaller
 * reserve so they can make room on a full device; but a delete frees space
 * only once it reaches its leaf, and on its way it sits in buffers.  So
 * when the checkpoint is not enough, the tree is drained
 * (betrkv_tree_drain(): the buffered messages move down, leaves shrink,
 * light nodes merge) in rounds: each round flushes while a delete's reserve
 * stays free beyond the dirty nodes (a flush dirties fewer nodes than that
 * reserve), then a checkpoint writes them and frees the slots of the nodes
 * they replaced or that merged away.  Rounds go on until the mutation fits;
 * if nothing more moves, it fails with -ENOSPC before changing anything.
 * A drain changes no key, so it needs no journal record, and its nodes are
 * written by the checkpoints like any others.  An explicit checkpoint with
 * under a quarter of the slots free drains in rounds until nothing more
 * moves, so deletes plus a checkpoint give their space back.
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
	bool salvage;			/* read-only: stop before corrupt journal data */
	int failed;			/* sticky error: no more writes */
	int broken;			/* a change failed: rebuild first */
	u64 cache_bytes;		/* the cache's budget */
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
	bool wb_active;			/* the worker writes a node back */
	struct betrkv_sb cp_next;	/* the superblock it will write */
	struct betrkv_worker *worker;	/* NULL: mutations drive checkpoints */
	u8 *cp_buf;			/* node_size bytes for write-back, checkpoints */
	wait_queue_head_t cp_wait;	/* woken when either of those ends */
};

static const char *engine_name(const struct betrkv_engine *e)
{
	return betrkv_dev_name(e->dev);
}

/*
 * A write or flush of the device failed: the store takes no more mutations
 * and close reports @err.  The first failure sticks.
 */
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

static void journal_params(const struct betrkv_engine *e,
			   struct betrkv_journal_params *p)
{
	const struct betrkv_geometry *geo = &e->sb.geo;
	const struct betrkv_checkpoint *cp = &e->sb.cp;

	*p = (struct betrkv_journal_params){
		.dev = e->dev, .offset = geo->journal_offset,
		.size = geo->journal_size, .uuid = e->sb.uuid,
		.start_pos = cp->journal_pos, .start_prev = cp->journal_prev,
		.start_seq = cp->seq, .salvage = e->salvage,
	};
}

/* The indirection table, the cache and the tree of the last checkpoint. */
static int load_checkpoint(struct betrkv_engine *e)
{
	const struct betrkv_geometry *geo = &e->sb.geo;
	const struct betrkv_checkpoint *cp = &e->sb.cp;
	struct betrkv_cache_params cparams = {
		.dev = e->dev, .uuid = e->sb.uuid, .itable = &e->itable,
		.nodes_offset = geo->nodes_offset, .node_size = geo->node_size,
		.budget = e->cache_bytes, .next_id = max(1ull, cp->next_node_id),
		.read_only = e->read_only || e->failed,
	};
	int err;

	err = betrkv_itable_init(&e->itable, geo->nodes_size / geo->node_size,
				 geo->node_size) ?:
	      load_itable(e) ?:
	      betrkv_cache_create(&cparams, &e->cache);
	if (err)
		return err;
	e->tree = (struct betrkv_tree){ .cache = e->cache, .root = cp->root,
					.node_size = geo->node_size };
	e->seq = cp->seq;
	return 0;
}

static int open_parts(struct betrkv_engine *e)
{
	struct betrkv_journal_params jparams;
	int err;

	e->itbuf = kvmalloc(e->sb.geo.itable_size, GFP_KERNEL);
	if (!e->itbuf)
		return -ENOMEM;
	journal_params(e, &jparams);
	err = load_checkpoint(e) ?:
	      betrkv_journal_create(&jparams, &e->journal);
	err = err ?: betrkv_journal_replay(e->journal, replay_one, e, &e->seq,
					   &e->stats.salvaged);
	e->tree.blind = !err && !e->read_only;
	return err;
}

/* The cache holds at least BETRKV_CACHE_NODES_MIN nodes; 0 is the default. */
static int check_budget(struct betrkv_engine *e, struct betrkv_engine_opts *o)
{
	u64 lo = (u64)BETRKV_CACHE_NODES_MIN * e->sb.geo.node_size;

	if (!o->cache_bytes)
		o->cache_bytes = max(BETRKV_CACHE_BYTES_DEFAULT, lo);
	e->cache_bytes = o->cache_bytes;
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

/*
 * A writable store's buffer for write-back and checkpoint writes, and its
 * worker if it asked for one.
 */
static int start_worker(struct betrkv_engine *e, const struct betrkv_engine_opts *o)
{
	if (o->read_only)
		return 0;
	e->cp_buf = kvmalloc(e->sb.geo.node_size, GFP_KERNEL);
	if (!e->cp_buf)
		return -ENOMEM;
	if (!o->background)
		return 0;
	return betrkv_worker_start(engine_name(e), cp_work, e, &e->worker);
}

/* Options that need others: salvage a read-only open, commit_ms the worker. */
static int check_opts(struct betrkv_engine *e, const struct betrkv_engine_opts *o)
{
	if (o->salvage && !o->read_only) {
		pr_err("%s: salvage needs a read-only open\n", engine_name(e));
		return -EINVAL;
	}
	if (o->commit_ms > BETRKV_COMMIT_MS_MAX) {
		pr_err("%s: commit interval of %u ms is over %u ms\n",
		       engine_name(e), o->commit_ms, BETRKV_COMMIT_MS_MAX);
		return -EINVAL;
	}
	if (o->commit_ms && !o->background && !o->read_only) {
		pr_err("%s: a periodic commit needs the background worker\n",
		       engine_name(e));
		return -EINVAL;
	}
	return 0;
}

/*
 * The periodic commit, on the worker: sync the journal if it holds records
 * no sync has made durable yet.  An idle store costs one look at two
 * sequence numbers under the shared lock, and no I/O.
 */
static void commit_work(void *arg)
{
	struct betrkv_engine *e = arg;
	bool behind;
	int err;

	down_read(&e->lock);
	behind = !e->failed && e->seq > max(e->sb.cp.seq,
					    betrkv_journal_durable_seq(e->journal));
	up_read(&e->lock);
	if (!behind)
		return;
	err = betrkv_journal_sync(e->journal);
	if (err) {
		down_write(&e->lock);
		engine_fail(e, err, "periodic journal commit");
		up_write(&e->lock);
	}
}

/* The periodic commit of a writable store that asked for one. */
static void start_commit(struct betrkv_engine *e, const struct betrkv_engine_opts *o)
{
	if (e->worker && o->commit_ms)
		betrkv_worker_every(e->worker, commit_work, o->commit_ms);
}

/**
 * betrkv_engine_open() - open the store on @dev: recovery, reads only.
 * @dev: the device
 * @opts: cache budget, read-only, background worker, commit interval
 * @ep: receives the store
 *
 * Return: 0, or an error of betrkv_sb_load(), -EUCLEAN for a corrupt
 * indirection table, root path or synced journal data (opts.salvage with
 * read_only opens the state before the journal's), -EINVAL for salvage
 * without read_only or a bad commit interval, -EIO, -ENOMEM.
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
	e->salvage = opts->salvage;
	err = check_opts(e, &o) ?: betrkv_sb_load(dev, &e->sb, &e->sb_slot) ?:
	      check_budget(e, &o) ?: open_parts(e) ?: start_worker(e, &o);
	if (err) {
		engine_free(e);
		return err;
	}
	start_commit(e, &o);
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

	lockdep_assert_held_write(&e->lock);
	if (e->read_only)
		return -EROFS;
	if (e->failed)
		return -EIO;
	if (e->broken)
		return e->broken;
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

/* Give up the checkpoint in progress; the previous one stays the newest. */
static void cp_drop(struct betrkv_engine *e)
{
	betrkv_itable_thaw(&e->itable);
	cp_end(e);
}

/* Give up the checkpoint; only a lack of space or memory leaves it retryable. */
static void cp_abort(struct betrkv_engine *e, int err)
{
	cp_drop(e);
	if (err != -ENOSPC && err != -ENOMEM)
		engine_fail(e, err, "checkpoint");
}

/* Steps 3-5, once every marked node is written; the caller holds the lock. */
static int cp_finish(struct betrkv_engine *e)
{
	struct betrkv_checkpoint *cp = &e->cp_next.cp;
	u64 len;
	int err;

	lockdep_assert_held_write(&e->lock);
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
 * mutations drive checkpoints, else let the worker finish it (and any
 * write-back it has under way, so that a checkpoint may begin).
 */
static void cp_wait(struct betrkv_engine *e)
{
	while (e->cp_active || e->wb_active) {
		if (!e->worker) {
			cp_complete(e);
			return;
		}
		up_write(&e->lock);
		wait_event(e->cp_wait,
			   !READ_ONCE(e->cp_active) && !READ_ONCE(e->wb_active));
		down_write(&e->lock);
	}
}

/* A whole checkpoint of the tree as it is now; the caller holds the lock. */
static int engine_checkpoint(struct betrkv_engine *e)
{
	int err;

	lockdep_assert_held_write(&e->lock);
	cp_wait(e);
	err = cp_begin(e);
	return err ?: cp_complete(e);
}

/* Replay the journal from the last checkpoint, as open does, reading only. */
static int replay_since_checkpoint(struct betrkv_engine *e)
{
	struct betrkv_journal_params p;
	struct betrkv_journal *j;
	bool salvaged;		/* never: a salvaged store is read-only */
	int err;

	journal_params(e, &p);
	err = betrkv_journal_create(&p, &j);
	if (err)
		return err;
	err = betrkv_journal_replay(j, replay_one, e, &e->seq, &salvaged);
	betrkv_journal_destroy(j);
	return err;
}

/*
 * The tree may be inconsistent after a change that failed partway: rebuild
 * it, the cache and the indirection table from the last checkpoint and the
 * journal, which holds every mutation that completed and none that failed.
 * The journal is synced first, the checkpoint in progress given up.  The
 * caller holds the lock (a worker's checkpoint is waited for without it).
 */
static int engine_rebuild(struct betrkv_engine *e)
{
	u64 seq = e->seq;
	int err;

	lockdep_assert_held_write(&e->lock);
	err = betrkv_journal_sync(e->journal);
	if (err) {
		engine_fail(e, err, "journal write");
		return err;
	}
	if (e->cp_active && !e->worker)
		cp_drop(e);
	cp_wait(e);
	if (!e->broken)
		return 0;	/* rebuilt by another caller meanwhile */
	if (e->cache && e->cache->write_err)
		engine_fail(e, e->cache->write_err, "node write");
	betrkv_cache_destroy(e->cache);
	e->cache = NULL;
	betrkv_itable_destroy(&e->itable);
	err = load_checkpoint(e) ?: replay_since_checkpoint(e);
	if (!err && e->seq != seq) {
		pr_err("%s: replay ended at sequence number %llu, not %llu\n",
		       engine_name(e), e->seq, seq);
		err = -EUCLEAN;
	}
	e->seq = seq;
	if (err)
		return err;
	e->tree.blind = !e->read_only;
	e->broken = 0;
	e->drained = false;
	return 0;
}

/*
 * A tree change failed with @err, or must be undone: rebuild the tree as
 * it was before.  Until a rebuild succeeds, queries and mutations fail
 * with the error that stopped it and try again.
 */
static void engine_break(struct betrkv_engine *e, int err)
{
	e->broken = err;
	err = engine_rebuild(e);
	if (err) {
		e->broken = err;
		pr_err("%s: rebuilding the tree failed (error %d): retried on the next call\n",
		       engine_name(e), err);
	}
}

/* The tree is consistent, rebuilt if need be; the caller holds the lock. */
static int engine_ready(struct betrkv_engine *e)
{
	lockdep_assert_held_write(&e->lock);
	return e->broken ? engine_rebuild(e) : 0;
}

/* Take the lock shared over a consistent tree, or fail. */
static int engine_read_lock(struct betrkv_engine *e)
{
	int err;

	for (;;) {
		down_read(&e->lock);
		if (!e->broken)
			return 0;
		up_read(&e->lock);
		down_write(&e->lock);
		err = engine_ready(e);
		up_write(&e->lock);
		if (err)
			return err;
	}
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

	if (e->read_only || e->failed || e->broken || e->closing)
		return false;
	if (betrkv_journal_full_ratio(e->journal) >= CP_JOURNAL_RATIO)
		return true;
	return !slots_reserve(e, false, &reserve) &&
	       free_slots(e) < 2 * (e->cache->ndirty + reserve);
}

/*
 * Write back cold dirty nodes while the cache wants it; the caller holds
 * the lock.  The worker encodes and writes each without it (@unlock); a
 * store without a worker does the same in the mutating caller, so that
 * the same writes happen, in an order the caller's thread decides.  A
 * failed write leaves its node dirty, as a failed eviction does (a device
 * error stops all writes).
 */
static void wb_work(struct betrkv_engine *e, bool unlock)
{
	struct betrkv_cache_write w;
	int err;

	lockdep_assert_held_write(&e->lock);
	while (!e->broken && !e->failed && !e->closing &&
	       !betrkv_cache_writeback_begin(e->cache, &w)) {
		e->wb_active = true;
		if (unlock)
			up_write(&e->lock);
		err = betrkv_cache_writeback_encode(e->cache, e->cp_buf, &w);
		if (!err)
			err = betrkv_dev_write(e->dev, w.off, e->cp_buf, w.len, 0);
		if (unlock)
			down_write(&e->lock);
		e->wb_active = false;
		wake_up_all(&e->cp_wait);
		if (betrkv_cache_write_done(e->cache, &w, err))
			break;
	}
}

/* After a mutation: begin a checkpoint, or drive the one in progress. */
static void cp_poke(struct betrkv_engine *e)
{
	int err;

	if (e->worker) {
		if ((!e->cp_active && cp_wanted(e)) ||
		    (!e->wb_active && betrkv_cache_writeback_wanted(e->cache)))
			betrkv_worker_kick(e->worker);
		return;
	}
	wb_work(e, false);
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

/*
 * The worker: write-back ahead of eviction, then one checkpoint, the lock
 * dropped during each node write; a rebuild waiting for it makes it give up
 * after the write under way.
 */
static void cp_work(void *arg)
{
	struct betrkv_engine *e = arg;
	struct betrkv_cache_write w;
	int err, ioerr;

	down_write(&e->lock);
	wb_work(e, true);
	if (e->cp_active || !cp_wanted(e) || cp_begin(e))
		goto out;
	while (!e->broken &&
	       !(err = betrkv_cache_write_next(e->cache, e->cp_buf, &w))) {
		up_write(&e->lock);
		ioerr = betrkv_dev_write(e->dev, w.off, e->cp_buf, w.len, 0);
		down_write(&e->lock);
		err = betrkv_cache_write_done(e->cache, &w, ioerr);
		if (err)
			break;
	}
	if (e->broken && !err)
		cp_drop(e);
	else if (err == -ENOENT)
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
		engine_break(e, err);
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
 * Room for a mutation: the dirty nodes plus a reserve per tree level, or
 * @need slots if more; a checkpoint, then drain rounds, to find it.
 */
static int make_room(struct betrkv_engine *e, bool deletes_only, u32 need)
{
	u32 reserve;
	int err;

	err = slots_reserve(e, deletes_only, &reserve);
	if (err)
		return err;
	reserve = max(reserve, need);
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

/* Room in the journal for the batch, checkpointing once if it is full. */
static int journal_room(struct betrkv_engine *e, const struct betrkv_op *ops,
			u32 nops)
{
	int err = betrkv_journal_reserve(e->journal, ops, nops);

	if (err == -ENOSPC) {
		err = engine_checkpoint(e);
		if (!err)
			err = betrkv_journal_reserve(e->journal, ops, nops);
	}
	if (err == -EIO)
		engine_fail(e, err, "journal write");
	return err;
}

/* Free slots beyond the dirty nodes (below 0: no checkpoint can be written). */
static s64 spare_slots(const struct betrkv_engine *e)
{
	return (s64)free_slots(e) - (s64)e->cache->ndirty;
}

/*
 * After a change that took @used spare slots: the dirty nodes still fit in
 * the free slots, and after a put a delete's reserve stays free beyond
 * them, at the tree's new height; else *@need says how many spare slots
 * the change needs.  Puts are admitted on an estimate of what they take
 * (make_room()); one that took more is undone, so deletes and drains
 * always find their room.
 */
static int room_left(struct betrkv_engine *e, bool deletes_only, s64 used,
		     u32 *need)
{
	u32 reserve = 0;
	int err = deletes_only ? 0 : slots_reserve(e, true, &reserve);

	if (err || spare_slots(e) >= reserve)
		return err;
	*need = clamp(used, 0ll, (s64)U32_MAX - reserve) + reserve;
	return -ENOSPC;
}

/*
 * Apply the batch to the tree; on any error it is as if it never was.
 * *@need is set to the spare slots it needs if it failed for want of them.
 */
static int tree_change(struct betrkv_engine *e, struct betrkv_msgbuf *msgs,
		       bool deletes_only, u32 *need)
{
	s64 spare = spare_slots(e);
	int err = betrkv_tree_apply(&e->tree, msgs) ?:
		  room_left(e, deletes_only, spare - spare_slots(e), need);

	if (err)
		engine_break(e, err);
	return err;
}

/*
 * Try the batch; if it needed more room than make_room() found for it,
 * once more with that much room.
 */
static int apply_batch(struct betrkv_engine *e, const struct betrkv_op *ops,
		       u32 nops)
{
	bool deletes_only = only_deletes(ops, nops);
	struct betrkv_msgbuf msgs;
	u32 need = 0, tried;
	int err;

	do {
		tried = need;
		need = 0;
		betrkv_msgbuf_init(&msgs);
		err = batch_msgs(ops, nops, &msgs) ?:
		      make_room(e, deletes_only, tried) ?:
		      journal_room(e, ops, nops) ?:
		      tree_change(e, &msgs, deletes_only, &need);
		betrkv_msgbuf_free(&msgs);
	} while (err == -ENOSPC && need && !tried);
	return err;
}

/* Mutations are refused on a store that is read-only or failed. */
static int engine_writable(struct betrkv_engine *e)
{
	if (e->read_only)
		return -EROFS;
	if (e->failed)
		return -EIO;
	if (e->seq >= BETRKV_SEQ_MAX) {
		pr_warn_ratelimited("%s: sequence numbers exhausted\n",
				    engine_name(e));
		return -ENOSPC;
	}
	return engine_ready(e);
}

/*
 * Every step that can fail comes before the tree changes or is undone by a
 * rebuild; the journal record and the sequence number come only after the
 * tree took the batch.
 */
static int engine_apply_locked(struct betrkv_engine *e,
			       const struct betrkv_op *ops, u32 nops)
{
	int err;

	err = engine_writable(e) ?: check_ops(ops, nops) ?:
	      apply_batch(e, ops, nops);
	if (err)
		return err;
	/*
	 * Room was reserved: only a concurrent sync's failed write can make
	 * the append fail.  The batch took effect before the device failed;
	 * the failure is reported by that sync, later ones and close.
	 */
	err = betrkv_journal_append(e->journal, e->seq + 1, ops, nops);
	WARN_ON_ONCE(err && err != -EIO);
	if (err)
		engine_fail(e, err, "journal write");
	e->seq++;
	e->drained = false;
	cp_poke(e);
	return 0;
}

/**
 * betrkv_engine_apply() - apply a batch of puts and deletes atomically.
 * @e: the store
 * @ops: the mutations, in order (a later one for a key wins)
 * @nops: how many, at least 1
 * @seq: receives the batch's sequence number (may be NULL)
 *
 * Return: 0 or a negative errno (see engine.h).  On error nothing changed:
 * the batch took no sequence number, no journal record and is not
 * visible, also after -ENOMEM, -EIO or -EUCLEAN from the tree.
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
 * @v: receives the value: into @v->buf of @v->cap bytes, or, with @v->buf
 *     NULL, into a buffer of @v->len bytes it allocates (kvfree() it; none
 *     for an empty value) if @v->len <= @v->cap
 *
 * Return: 0, -ENOENT if absent, -ERANGE if the value is longer than
 * @v->cap (@v->len tells its length; nothing copied), -EINVAL/-E2BIG for a
 * bad key, -EUCLEAN or -EIO if a node on the way cannot be read, -ENOMEM.
 */
int betrkv_engine_get(struct betrkv_engine *e, const u8 *key, u32 klen,
		      struct betrkv_val *v)
{
	int err;

	if (!klen)
		return -EINVAL;
	if (klen > BETRKV_KEY_MAX)
		return -E2BIG;
	err = engine_read_lock(e);
	if (err)
		return err;
	err = betrkv_tree_get(&e->tree, key, klen, v);
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
	err = engine_read_lock(e);
	if (err)
		return err;
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
 * A read-only store has nothing to sync: the call succeeds (no -EROFS).
 *
 * Return: 0 (always, on a read-only store), -EIO once a write had failed,
 * or the error of the journal write that fails now (the store then fails).
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
	err = engine_ready(e) ?: engine_checkpoint(e);
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
 * when space is low.  A store whose device failed writes no checkpoint.
 *
 * Return: 0; the error that made the store stop writing (-EIO: mutations
 * that no completed sync covered may be lost); or the error of the final
 * checkpoint (the journal holds what it did not write).  The store is
 * freed either way and recovers from its last durable state.
 */
int betrkv_engine_close(struct betrkv_engine *e)
{
	int err = 0;

	down_write(&e->lock);
	e->closing = true;
	if (!e->read_only && !e->failed)
		err = engine_ready(e) ?: engine_checkpoint(e);
	else
		cp_wait(e);
	err = e->failed ?: err;
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
	if (!e->broken)
		betrkv_tree_height(&e->tree, &st->height);
	st->checkpointing = e->cp_active;
	st->nodes = e->itable.map.count;
	st->slots_used = e->itable.used_slots;
	st->slots_total = e->itable.nslots;
	st->node_size = e->sb.geo.node_size;
	st->cache_bytes = e->cache_bytes;
	if (e->cache)
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
	*cache_bytes = e->cache_bytes;
	failed = e->failed;
	up_read(&e->lock);
	return failed;
}
