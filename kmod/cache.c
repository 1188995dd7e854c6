// SPDX-License-Identifier: GPL-2.0
/*
 * The block cache: see cache.h.
 *
 * Entries live in a hash table by node ID and on one of two LRU lists
 * (most recently used first).  An entry holds a whole node, or (filled by
 * find()) a partial node: its checked header and the segments read so far.
 * Only clean nodes are partial, so a partial entry always matches the
 * node's copy on disk; get() replaces it by the whole node.  Whole nodes and
 * partial ones with segments are on one list, partial ones with only their
 * header on the other, which is evicted only after the first: headers are
 * small and lead queries down.
 *
 * A node's memory is charged when it is released (put), so the charge
 * follows its changes; the budget is enforced by evicting unpinned entries
 * from the cold end, writing dirty nodes back first.  A write appends what
 * changed since the node's copy on disk (the entry keeps that copy's
 * header: e->disk) to its slot, or goes whole to a fresh slot
 * (copy-on-write) when it cannot; then the indirection table points the
 * node's ID at the new length and header, recording the header's checksum.  Every
 * read from disk (a whole node, or a header on its own) compares the header
 * it finds with that checksum, so an older copy of the node that a lost or
 * misdirected write left in the slot fails like a corrupt one; a segment
 * read on its own is checked by the header's checksum of it.
 *
 * A read-only cache never writes: a dirty node (from journal replay) stays
 * resident, beyond the budget if it must.  After a failed write the cache
 * refuses further writes (-EIO) so the store can go read-only.
 */
#include "cache.h"
#include "nodefmt.h"

#define CACHE_BUCKETS	1024u
/* Memory a message costs beyond its weight (struct, pointer, allocator). */
#define CACHE_MSG_MEM	32u

static struct betrkv_centry *centry_of(const struct betrkv_node *n)
{
	return n->cache_priv;
}

static u32 bucket_of(u64 id)
{
	return (u32)((id * 0x9e3779b97f4a7c15ull) >> 32) % CACHE_BUCKETS;
}

static u64 msgbuf_mem(const struct betrkv_msgbuf *b)
{
	return b->bytes + (u64)b->n * CACHE_MSG_MEM;
}

static u64 entry_mem(const struct betrkv_centry *e)
{
	const struct betrkv_node *n = e->node;
	u64 mem = sizeof(*e);
	u32 i;

	if (!n) {
		mem += betrkv_node_hdr_mem(e->hdr);
		for (i = 0; i < e->hdr->nsegs; i++)
			mem += sizeof(e->segs[i]) + msgbuf_mem(&e->segs[i]);
		return mem;
	}
	/* Not the weight of a leaf: its run index is in e->disk. */
	mem += sizeof(*n) + msgbuf_mem(&n->tombs);
	if (e->disk)
		mem += betrkv_node_hdr_mem(e->disk);
	if (n->cut)
		mem += sizeof(*n->cut) + n->cut->len;
	if (betrkv_node_is_leaf(n))
		return mem + msgbuf_mem(&n->entries);
	mem += betrkv_node_weight(n);
	for (i = 0; i < n->nchildren; i++)
		mem += (u64)n->bufs[i].n * CACHE_MSG_MEM;
	return mem;
}

/*
 * The list an entry is on follows what it holds, so callers unlink it
 * before that changes and push it back after.
 */
static struct betrkv_lru *lru_of(struct betrkv_cache *c,
				 const struct betrkv_centry *e)
{
	return e->node || e->nloaded ? &c->lru : &c->hdr_lru;
}

static void lru_unlink(struct betrkv_cache *c, struct betrkv_centry *e)
{
	struct betrkv_lru *l = lru_of(c, e);

	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct betrkv_cache *c, struct betrkv_centry *e)
{
	struct betrkv_lru *l = lru_of(c, e);

	e->next = l->head;
	e->prev = NULL;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}

/* Drop a pin of @e (c->lock); true if that was the last, and @e is evictable. */
static bool entry_unpin(struct betrkv_cache *c, struct betrkv_centry *e)
{
	lockdep_assert_held(&c->lock);
	if (WARN_ON_ONCE(!e->pins) || --e->pins)
		return false;
	lru_unlink(c, e);
	lru_push_head(c, e);
	return true;
}

static struct betrkv_centry *cache_lookup(struct betrkv_cache *c, u64 id)
{
	struct betrkv_centry *e;

	for (e = c->buckets[bucket_of(id)]; e; e = e->hnext)
		if (e->id == id)
			return e;
	return NULL;
}

static void charge(struct betrkv_cache *c, struct betrkv_centry *e)
{
	u64 mem = entry_mem(e);

	c->used = c->used - e->mem + mem;
	e->mem = mem;
	c->stats.high_water = max(c->stats.high_water, c->used);
}

/* A new entry for @id (the caller fills it, charges it and lists it). */
static struct betrkv_centry *cache_add(struct betrkv_cache *c, u64 id)
{
	struct betrkv_centry *e = kzalloc(sizeof(*e), GFP_KERNEL);
	u32 b = bucket_of(id);

	if (!e)
		return NULL;
	e->id = id;
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	c->count++;
	return e;
}

/* Headers are shared by an entry and the readers using it (c->lock). */
static void hdr_put(struct betrkv_node_hdr *h)
{
	if (h && !--h->refs)
		betrkv_node_hdr_free(h);
}

/* Drop what a partial entry holds. */
static void entry_free_partial(struct betrkv_centry *e)
{
	u32 i;

	for (i = 0; e->hdr && i < e->hdr->nsegs; i++)
		betrkv_msgbuf_free(&e->segs[i]);
	kfree(e->segs);
	hdr_put(e->hdr);
	e->segs = NULL;
	e->hdr = NULL;
	e->nloaded = 0;
}

/* Make @e hold the whole node @n (@disk: its copy's header), pinned once. */
static void entry_set_node(struct betrkv_cache *c, struct betrkv_centry *e,
			   struct betrkv_node *n, struct betrkv_node_hdr *disk,
			   bool dirty)
{
	entry_free_partial(e);
	e->node = n;
	e->disk = disk;
	e->pins = 1;
	e->dirty = dirty;
	c->ndirty += dirty;
	n->cache_priv = e;
	charge(c, e);
}

static int cache_insert(struct betrkv_cache *c, struct betrkv_node *n,
			struct betrkv_node_hdr *disk, bool dirty)
{
	struct betrkv_centry *e = cache_add(c, n->id);

	if (!e)
		return -ENOMEM;
	entry_set_node(c, e, n, disk, dirty);
	lru_push_head(c, e);
	return 0;
}

/* Take @e out of the cache and drop what it holds, but not @e itself. */
static void cache_unlink(struct betrkv_cache *c, struct betrkv_centry *e)
{
	struct betrkv_centry **pp = &c->buckets[bucket_of(e->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->used -= e->mem;
	c->count--;
	c->ndirty -= e->dirty;
	betrkv_node_free(e->node);
	e->node = NULL;
	betrkv_node_hdr_free(e->disk);
	e->disk = NULL;
	entry_free_partial(e);
}

static void cache_remove(struct betrkv_cache *c, struct betrkv_centry *e)
{
	cache_unlink(c, e);
	kfree(e);
}

static u64 slot_offset(const struct betrkv_cache *c, u32 slot)
{
	return c->nodes_offset + (u64)slot * c->node_size;
}

static u64 slot_blocknr(const struct betrkv_cache *c, u32 slot)
{
	return slot_offset(c, slot) / BETRKV_BLOCK_SIZE;
}

/*
 * Claim dirty @e for writing: its entry in the indirection table, a fresh
 * slot in case it is written whole (none is needed if the table is full but
 * an append may do), and the bookkeeping that makes it clean.  Changes made
 * from now on are the next write's.  Return: 0, or an error before any of
 * that.
 */
static int write_claim(struct betrkv_cache *c, struct betrkv_centry *e,
		       struct betrkv_cache_write *w)
{
	int err;

	if (c->read_only)
		return -EROFS;
	if (c->write_err)
		return c->write_err;
	memset(w, 0, sizeof(*w));
	w->append = e->disk && !e->node->rewrite &&
		    !betrkv_itable_lookup(c->itable, e->id, &w->ent) &&
		    w->ent.len == e->disk->total_len &&
		    w->ent.hdr == e->disk->hdr_off;
	err = betrkv_itable_alloc(c->itable, &w->spare);
	if (err && !w->append)
		return err;
	w->has_spare = !err;
	w->ent.id = e->id;
	w->e = e;
	w->for_cp = e->cp_pending;
	c->npending -= e->cp_pending;
	e->cp_pending = false;
	e->dirty = false;
	c->ndirty--;
	return 0;
}

/* Undo write_claim() of a write that never started. */
static void write_unclaim(struct betrkv_cache *c, struct betrkv_cache_write *w)
{
	struct betrkv_centry *e = w->e;

	if (w->has_spare)
		betrkv_itable_release(c->itable, w->spare);
	e->cp_pending = w->for_cp;
	c->npending += w->for_cp;
	e->dirty = true;
	c->ndirty++;
}

/*
 * Encode the claimed node into @buf: what changed appended to its slot if
 * it can be, else the whole node into the spare slot.  Reads the node and
 * @w only, so it needs no lock while the node cannot change.
 */
static int write_encode(struct betrkv_cache *c, u8 *buf,
			struct betrkv_cache_write *w)
{
	struct betrkv_centry *e = w->e;
	int err = -EFBIG;

	if (w->append)
		err = betrkv_node_encode_append(e->node, e->disk, c->uuid,
						slot_blocknr(c, w->ent.slot), buf,
						c->node_size - w->ent.len,
						&w->len);
	if (!err) {
		w->off = slot_offset(c, w->ent.slot) + w->ent.len;
		w->ent.hdr = w->ent.len;
		w->ent.len += w->len;
		return 0;
	}
	if (err != -EFBIG)
		return err;
	w->append = false;
	if (!w->has_spare)
		return -ENOSPC;
	err = betrkv_node_encode(e->node, c->uuid, slot_blocknr(c, w->spare),
				 buf, c->node_size, &w->len);
	if (err)
		return err;
	w->has_spare = false;
	w->fresh = true;
	w->ent.slot = w->spare;
	w->ent.hdr = 0;
	w->ent.len = w->len;
	w->off = slot_offset(c, w->ent.slot);
	return 0;
}

/* The header just encoded at @buf, decoded: the node's next e->disk. */
static struct betrkv_node_hdr *written_hdr(struct betrkv_cache *c, const u8 *buf,
					   struct betrkv_cache_write *w)
{
	struct betrkv_node_hdr *h;
	const char *why;

	w->ent.csum = betrkv_node_csum(buf);
	if (betrkv_node_hdr_decode(buf, w->ent.len, w->ent.hdr, c->uuid,
				   slot_blocknr(c, w->ent.slot), w->e->id, &h,
				   &why))
		return NULL;	/* out of memory: write it whole next time */
	return h;
}

/*
 * From now on the node's copy on disk is the one just encoded, with header
 * @h (a failed write makes the node be written whole next time).
 */
static void write_encoded(struct betrkv_centry *e, struct betrkv_node_hdr *h)
{
	betrkv_node_hdr_free(e->disk);
	e->disk = h;
	betrkv_node_written(e->node);
}

/*
 * Start writing @e (dirty): encode it into @buf, as an append to its slot
 * or whole to a fresh one.  It is clean from now on, as far as later
 * changes go; a failed write makes it dirty again.
 */
static int write_begin(struct betrkv_cache *c, struct betrkv_centry *e, u8 *buf,
		       struct betrkv_cache_write *w)
{
	int err = write_claim(c, e, w);

	if (err)
		return err;
	err = write_encode(c, buf, w);
	if (err) {
		write_unclaim(c, w);
		return err;
	}
	write_encoded(e, written_hdr(c, buf, w));
	return 0;
}

/* Point the node's ID at its new copy, or undo write_begin() after @err. */
static int write_end(struct betrkv_cache *c, struct betrkv_cache_write *w, int err)
{
	struct betrkv_centry *e = w->e;
	unsigned int maps = (w->for_cp ? BETRKV_ITABLE_FROZEN : 0) |
			    (e->freed ? 0 : BETRKV_ITABLE_LIVE);

	if (w->has_spare)
		betrkv_itable_release(c->itable, w->spare);
	if (!err)
		err = betrkv_itable_map(c->itable, &w->ent, maps);
	if (!err) {
		c->stats.node_writes++;
		c->stats.node_appends += w->append;
		c->stats.node_bytes_written += w->len;
		return 0;
	}
	if (w->fresh)
		betrkv_itable_release(c->itable, w->ent.slot);
	if (err == -EIO && !c->write_err) {
		c->write_err = err;
		pr_err("%s: node write failed: the store stops writing\n",
		       betrkv_dev_name(c->dev));
	}
	if (!e->freed) {
		e->node->rewrite = true;
		if (!e->dirty) {
			e->dirty = true;
			c->ndirty++;
		}
		/* The checkpoint still needs it; had it changed, it is abandoned. */
		if (w->for_cp && !e->cp_pending) {
			e->cp_pending = true;
			c->npending++;
		}
	}
	return err;
}

/* Write a dirty node to a fresh slot and point its ID there, now. */
static int cache_writeback(struct betrkv_cache *c, struct betrkv_centry *e)
{
	struct betrkv_cache_write w;
	int err = write_begin(c, e, c->iobuf, &w);

	if (err)
		return err;
	err = betrkv_dev_write(c->dev, w.off, c->iobuf, w.len, 0);
	return write_end(c, &w, err);
}

/*
 * Write-back ahead of eviction, on the store's worker.  Once the cache is
 * within WB_MARGIN of its budget, the worker writes the coldest dirty nodes
 * (among the WB_SCAN least recently used entries) so that eviction finds
 * clean ones; nodes the checkpoint in progress needs are left to it.
 */
#define WB_MARGIN(c)	((c)->budget / 8)
#define WB_SCAN		64u

/* The coldest node to write back now, or NULL; the caller holds the lock. */
static struct betrkv_centry *wb_candidate(struct betrkv_cache *c)
{
	struct betrkv_centry *e;
	u32 n = 0;

	if (c->used + WB_MARGIN(c) <= c->budget || !c->ndirty || c->read_only ||
	    c->write_err)
		return NULL;
	for (e = c->lru.tail; e && n < WB_SCAN; e = e->prev, n++)
		if (e->node && e->dirty && !e->pins && !e->cp_pending)
			return e;
	return NULL;
}

/**
 * betrkv_cache_writeback_wanted() - has the cache cold dirty nodes to write?
 * @c: the cache
 *
 * The store's lock is held, shared or exclusive.
 *
 * Return: true if betrkv_cache_writeback_begin() would find one.
 */
bool betrkv_cache_writeback_wanted(struct betrkv_cache *c)
{
	bool ret;

	mutex_lock(&c->lock);
	ret = wb_candidate(c);
	mutex_unlock(&c->lock);
	return ret;
}

/**
 * betrkv_cache_writeback_begin() - claim a cold dirty node for writing back.
 * @c: the cache
 * @w: receives the write, to encode with betrkv_cache_writeback_encode()
 *     and, once submitted, finish with betrkv_cache_write_done()
 *
 * The store's lock is held exclusive; the encoding and the write need
 * none.  The node stays pinned until the write is done, and a mutation
 * waits for its encoding in betrkv_cache_dirty().
 *
 * Return: 0, -ENOENT if no node needs it, or an error.
 */
int betrkv_cache_writeback_begin(struct betrkv_cache *c,
				 struct betrkv_cache_write *w)
{
	struct betrkv_centry *e;
	int err = -ENOENT;

	mutex_lock(&c->lock);
	e = wb_candidate(c);
	if (e)
		err = write_claim(c, e, w);
	if (!err) {
		e->pins++;
		e->writing = true;
		e->encoding = true;
		c->nwriting++;
	}
	mutex_unlock(&c->lock);
	return err;
}

/**
 * betrkv_cache_writeback_encode() - encode a node claimed for write-back.
 * @c: the cache
 * @buf: node_size bytes the node is encoded into
 * @w: the write: submit @w->len bytes of @buf at @w->off
 *
 * Runs without the store's lock; mutations wait for it to end before they
 * change the node.
 *
 * Return: 0 or an error, for betrkv_cache_write_done() in either case.
 */
int betrkv_cache_writeback_encode(struct betrkv_cache *c, u8 *buf,
				  struct betrkv_cache_write *w)
{
	struct betrkv_centry *e = w->e;
	struct betrkv_node_hdr *h = NULL;
	int err = write_encode(c, buf, w);

	if (!err)
		h = written_hdr(c, buf, w);
	mutex_lock(&c->lock);
	if (!err) {
		write_encoded(e, h);
		c->stats.writebacks++;
	}
	WRITE_ONCE(e->encoding, false);
	mutex_unlock(&c->lock);
	wake_up_all(&c->encoded);
	return err;
}

/* Drop the segments a partial entry holds; keep its header. */
static void drop_segments(struct betrkv_cache *c, struct betrkv_centry *e)
{
	u32 i;

	lru_unlink(c, e);
	for (i = 0; i < e->hdr->nsegs; i++)
		betrkv_msgbuf_free(&e->segs[i]);
	e->nloaded = 0;
	lru_push_head(c, e);
	charge(c, e);
}

/*
 * Evict from the cold end until within the budget: unpinned nodes (dirty
 * ones written first) and the segments of partial nodes; their small
 * headers only after that, so that queries keep finding their way.
 */
static void cache_shrink(struct betrkv_cache *c)
{
	struct betrkv_centry *e, *prev;

	for (e = c->lru.tail; e && c->used > c->budget; e = prev) {
		prev = e->prev;
		if (e->pins)
			continue;
		if (!e->node) {
			drop_segments(c, e);
		} else if (!e->dirty || !cache_writeback(c, e)) {
			cache_remove(c, e);
			c->stats.evictions++;
		}
	}
	for (e = c->hdr_lru.tail; e && c->used > c->budget; e = prev) {
		prev = e->prev;
		cache_remove(c, e);
		c->stats.evictions++;
	}
}

/*
 * Reads.  find(), get() and put() may run in parallel (queries hold the
 * store's lock shared); they take c->lock for the cache's state and the
 * indirection table, and read from disk without it, into buffers of their
 * own, then look again: whoever installs first wins.  A node that is not
 * resident is clean, so its place on disk cannot change meanwhile.
 */

/*
 * Name a corrupt node (@what: its slot, or how it contradicts its parent)
 * once, not on every read that trips on it, and never faster than the
 * kernel's rate limit: any reader can keep tripping on one.
 */
static int cache_report(struct betrkv_cache *c, u64 id, const char *what,
			const char *why)
{
	lockdep_assert_held(&c->lock);
	if (id != c->last_corrupt) {
		c->last_corrupt = id;
		pr_err_ratelimited("%s: node %llu %s: %s\n",
				   betrkv_dev_name(c->dev), id, what, why);
	}
	return -EUCLEAN;
}

static int cache_corrupt(struct betrkv_cache *c, u64 id, u32 slot, const char *why)
{
	char what[40];

	snprintf(what, sizeof(what), "at slot %u is corrupt", slot);
	return cache_report(c, id, what, why);
}

static int cache_mismatch(struct betrkv_cache *c, u64 id, const char *why)
{
	return cache_report(c, id, "contradicts its parent", why);
}

/* Where node @id lies on disk, and the checksum of its header there. */
static int cache_locate(struct betrkv_cache *c, u64 id,
			struct betrkv_itable_ent *ent)
{
	int err;

	mutex_lock(&c->lock);
	err = betrkv_itable_lookup(c->itable, id, ent);
	if (err)
		cache_report(c, id, "is not in the indirection table",
			     "its parent refers to it");
	mutex_unlock(&c->lock);
	return err ? -EUCLEAN : 0;
}

/* Count @bytes read and report a corrupt node; return @err. */
static int read_done(struct betrkv_cache *c, u64 id, u32 slot, u32 bytes,
		     int err, const char *why)
{
	mutex_lock(&c->lock);
	c->stats.node_reads += !!bytes;
	c->stats.node_bytes_read += bytes;
	if (err == -EUCLEAN)
		cache_corrupt(c, id, slot, why);
	mutex_unlock(&c->lock);
	return err;
}

static int read_bytes(struct betrkv_cache *c, u32 slot, u32 off, u8 *buf, u32 len)
{
	return betrkv_dev_read(c->dev, slot_offset(c, slot) + off, buf, len);
}

/*
 * Is the node's first block at @buf the version the indirection table
 * records (@csum)?  With the header's own check (in decode), this verifies
 * the header and, through the segment checksums it holds, every segment.
 */
static int check_version(const u8 *buf, u32 csum, const char **why)
{
	if (betrkv_node_csum(buf) == csum)
		return 0;
	*why = "not the version the indirection table records (stale or misdirected)";
	return -EUCLEAN;
}

/* Read and check the whole node @id; @hp receives its header. */
static int read_node(struct betrkv_cache *c, u64 id, struct betrkv_node **np,
		     struct betrkv_node_hdr **hp)
{
	struct betrkv_itable_ent ent;
	const char *why = "malformed header";
	u8 *buf;
	int err;

	err = cache_locate(c, id, &ent);
	if (err)
		return err;
	buf = kvmalloc(ent.len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = read_bytes(c, ent.slot, 0, buf, ent.len);
	if (!err && ent.hdr >= ent.len)
		err = -EUCLEAN;
	if (!err)
		err = check_version(buf + ent.hdr, ent.csum, &why);
	if (!err)
		err = betrkv_node_hdr_decode(buf + ent.hdr, ent.len, ent.hdr,
					     c->uuid, slot_blocknr(c, ent.slot),
					     id, hp, &why);
	if (!err) {
		why = "bad node contents";
		err = betrkv_node_build(*hp, buf, c->uuid, np);
		if (err)
			betrkv_node_hdr_free(*hp);
	}
	kvfree(buf);
	return read_done(c, id, ent.slot, err == -EIO ? 0 : ent.len, err, why);
}

/* Read and check node @id's header alone: its first block, more if need be. */
static int read_hdr(struct betrkv_cache *c, u64 id, struct betrkv_node_hdr **hp)
{
	u32 hdr_len, got = BETRKV_BLOCK_SIZE;
	struct betrkv_itable_ent ent;
	const char *why = "malformed header";
	u8 *buf;
	int err;

	err = cache_locate(c, id, &ent);
	if (err)
		return err;
	if (ent.len < BETRKV_BLOCK_SIZE || ent.hdr > ent.len - BETRKV_BLOCK_SIZE)
		return read_done(c, id, ent.slot, 0, -EUCLEAN, why);
	buf = kmalloc(BETRKV_BLOCK_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = read_bytes(c, ent.slot, ent.hdr, buf, got);
	if (!err && betrkv_node_hdr_len(buf, ent.len, ent.hdr, &hdr_len))
		err = -EUCLEAN;
	if (!err && hdr_len > got) {
		kfree(buf);
		got = ALIGN(hdr_len, BETRKV_BLOCK_SIZE);
		buf = kvmalloc(got, GFP_KERNEL);
		err = buf ? read_bytes(c, ent.slot, ent.hdr, buf, got) : -ENOMEM;
	}
	if (!err)
		err = check_version(buf, ent.csum, &why);
	if (!err)
		err = betrkv_node_hdr_decode(buf, ent.len, ent.hdr, c->uuid,
					     slot_blocknr(c, ent.slot), id, hp,
					     &why);
	kvfree(buf);
	if (!err)
		(*hp)->refs = 1;
	return read_done(c, id, ent.slot,
			 err == -EIO || err == -ENOMEM ? 0 : got, err, why);
}

/* Read and check segment @s of node @h->id into @out. */
static int read_seg(struct betrkv_cache *c, const struct betrkv_node_hdr *h,
		    u32 s, struct betrkv_msgbuf *out)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];
	u32 start = ALIGN_DOWN(ref->off, BETRKV_BLOCK_SIZE);
	u32 n = ALIGN(ref->off + ref->len, BETRKV_BLOCK_SIZE) - start;
	struct betrkv_itable_ent ent;
	u8 *buf;
	int err;

	/* The header, checked against @csum when it was read, checks the segment. */
	err = cache_locate(c, h->id, &ent);
	if (err)
		return err;
	buf = kvmalloc(n, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = read_bytes(c, ent.slot, start, buf, n);
	if (!err)
		err = betrkv_node_seg_decode(h, c->uuid, s, buf + ref->off - start, out);
	kvfree(buf);
	if (err)
		betrkv_msgbuf_free(out);
	return read_done(c, h->id, ent.slot,
			 err == -EIO || err == -ENOMEM ? 0 : n, err, "bad segment");
}

/* A partial entry for @h; the caller holds c->lock. */
static struct betrkv_centry *add_partial(struct betrkv_cache *c,
					 struct betrkv_node_hdr *h)
{
	struct betrkv_centry *e;
	struct betrkv_msgbuf *segs;

	lockdep_assert_held(&c->lock);
	segs = kcalloc(max(h->nsegs, 1u), sizeof(*segs), GFP_KERNEL);
	if (!segs)
		return NULL;
	e = cache_add(c, h->id);
	if (!e) {
		kfree(segs);
		return NULL;
	}
	h->refs++;
	e->hdr = h;
	e->segs = segs;
	lru_push_head(c, e);
	charge(c, e);
	return e;
}

/*
 * The segment of partial entry @e to read next for @key: from the newest
 * layer down, the first that may hold it and is not resident, unless a
 * resident one before it holds @key.  -1: none, what is resident answers.
 * @skips: receives the segments a Bloom filter ruled out on the way.
 */
static int partial_missing(const struct betrkv_centry *e, const u8 *key,
			   u32 klen, u32 *skips)
{
	const struct betrkv_node_hdr *h = e->hdr;
	u32 l;
	int s;

	*skips = 0;
	for (l = h->nlayers; l-- > 0;) {
		s = betrkv_node_hdr_route(h, l, key, klen);
		if (s < 0)
			continue;
		if (e->segs[s].n) {
			if (betrkv_msgbuf_find(&e->segs[s], key, klen))
				return -1;
			continue;
		}
		if (betrkv_node_hdr_may_hold(h, s, key, klen))
			return s;
		++*skips;
	}
	return -1;
}

/*
 * The partial entry of node @id with the segments @key needs read (s < 0: any), reading
 * what is missing; the caller holds c->lock, which this drops while it
 * reads.  @*hp is the header read so far (NULL: none), for the caller to
 * put.
 */
static int get_partial(struct betrkv_cache *c, u64 id, const u8 *key, u32 klen,
		       struct betrkv_centry **ep, struct betrkv_node_hdr **hp,
		       bool *read)
{
	struct betrkv_centry *e;
	struct betrkv_msgbuf seg;
	u32 skips;
	int s, err;

	for (;;) {
		e = cache_lookup(c, id);
		if (e && e->node)
			break;
		if (!e && *hp) {
			e = add_partial(c, *hp);
			if (!e)
				return -ENOMEM;
		}
		if (!e) {
			mutex_unlock(&c->lock);
			err = read_hdr(c, id, hp);
			mutex_lock(&c->lock);
			if (err)
				return err;
			*read = true;
			continue;
		}
		s = partial_missing(e, key, klen, &skips);
		if (s < 0) {
			c->stats.bloom_skips += skips;
			break;
		}
		hdr_put(*hp);
		*hp = e->hdr;
		e->hdr->refs++;
		betrkv_msgbuf_init(&seg);
		mutex_unlock(&c->lock);
		err = read_seg(c, *hp, s, &seg);
		mutex_lock(&c->lock);
		if (err)
			return err;
		*read = true;
		e = cache_lookup(c, id);
		if (e && e->hdr == *hp && !e->segs[s].n) {
			lru_unlink(c, e);
			e->segs[s] = seg;
			e->nloaded++;
			lru_push_head(c, e);
			charge(c, e);
		} else {
			betrkv_msgbuf_free(&seg);
		}
	}
	*ep = e;
	return 0;
}

/**
 * betrkv_path_init() - start a walk down from the root.
 * @p: the path
 */
void betrkv_path_init(struct betrkv_path *p)
{
	p->root = true;
	p->x.range = (struct betrkv_range){ .lo = p->lo };
}

/* Copy @k into @buf as bound @key of the path. */
static void path_bound(u8 *buf, const struct betrkv_pivot *k, const u8 **key,
		       u32 *len)
{
	memcpy(buf, k->key, k->len);
	*key = buf;
	*len = k->len;
}

/* The path goes on into child @s of a node of @height with these pivots. */
static void path_down(struct betrkv_path *p, struct betrkv_pivot *const *pivots,
		      u32 nchildren, u32 s, u32 height)
{
	struct betrkv_range *r = &p->x.range;

	if (s > 0)
		path_bound(p->lo, pivots[s - 1], &r->lo, &r->lolen);
	if (s + 1 < nchildren)
		path_bound(p->hi, pivots[s], &r->hi, &r->hilen);
	p->x.height = height - 1;
	p->root = false;
}

/*
 * Whether entry @e is what its parent says of it (@x; NULL for the root);
 * the caller holds c->lock.  A whole node that will be appended to its
 * copy on disk keeps that copy's limit, which must lie past its range.
 */
static int entry_check(struct betrkv_cache *c, struct betrkv_centry *e,
		       const struct betrkv_expect *x)
{
	const char *why;
	int err;

	lockdep_assert_held(&c->lock);
	if (!x)
		return 0;
	if (!e->node)
		err = betrkv_node_hdr_check(e->hdr, x, &why);
	else
		err = betrkv_node_check(e->node, x, &why);
	if (!err && e->node && e->disk && !e->node->rewrite)
		err = betrkv_node_hdr_check_limit(e->disk, &x->range, &why);
	return err ? cache_mismatch(c, e->id, why) : 0;
}

/* The message @e holds for @key, and the child to look in next. */
static const struct betrkv_msg *entry_find(struct betrkv_centry *e, const u8 *key,
					   u32 klen, struct betrkv_path *p,
					   u64 *child)
{
	const struct betrkv_node_hdr *h = e->hdr;
	const struct betrkv_node *n = e->node;
	const struct betrkv_msg *m;
	u32 at, l;
	int s;

	*child = 0;
	if (n) {
		m = betrkv_node_find(n, key, klen, &at);

		if (!betrkv_node_is_leaf(n)) {
			*child = n->children[at];
			path_down(p, n->pivots, n->nchildren, at, n->height);
		}
		return m;
	}
	if (h->height) {
		at = betrkv_node_hdr_child(h, key, klen);
		*child = h->children[at];
		path_down(p, h->bounds, h->nchildren, at, h->height);
	}
	for (l = h->nlayers; l-- > 0;) {
		s = betrkv_node_hdr_route(h, l, key, klen);
		if (s >= 0 && e->segs[s].n) {
			m = betrkv_msgbuf_find(&e->segs[s], key, klen);
			if (m)
				return m;
		}
	}
	return NULL;
}

/* Put what message @m says of its key into @v (struct betrkv_val). */
static int val_take(struct betrkv_val *v, const struct betrkv_msg *m)
{
	v->type = m->type;
	v->len = m->vlen;
	if (m->type != BETRKV_OP_PUT || !m->vlen)
		return 0;
	if (m->vlen > v->cap)
		return -ERANGE;
	if (!v->buf) {
		v->buf = kvmalloc(m->vlen, GFP_KERNEL);
		if (!v->buf)
			return -ENOMEM;
	}
	memcpy(v->buf, betrkv_msg_val(m), m->vlen);
	return 0;
}

/**
 * betrkv_cache_find() - look up @key in node @id, reading as little as needed.
 * @c: the cache
 * @id: the node ID
 * @key: the key
 * @klen: its length
 * @p: what the parent says of node @id (betrkv_path_init() for the root);
 *     on return, what node @id says of @child
 * @v: receives the node's message for @key, if it has one (cache.h)
 * @child: receives the child that may hold @key when the node has no
 *	   message for it (0 in a leaf, or when it has one)
 *
 * A node that is not resident is not read whole: only its header and the
 * one segment @key routes to.  Callers may run in parallel.
 *
 * Return: 0, -ERANGE for a value longer than @v->cap, -EUCLEAN for a node
 * that fails its checks or contradicts @p, -EIO, -ENOMEM.
 */
int betrkv_cache_find(struct betrkv_cache *c, u64 id, const u8 *key, u32 klen,
		      struct betrkv_path *p, struct betrkv_val *v, u64 *child)
{
	struct betrkv_node_hdr *h = NULL;
	struct betrkv_centry *e = NULL;
	const struct betrkv_msg *m;
	bool read = false;
	int err;

	mutex_lock(&c->lock);
	err = get_partial(c, id, key, klen, &e, &h, &read);
	if (read)
		c->stats.misses++;
	else
		c->stats.hits++;
	if (!err)
		err = entry_check(c, e, p->root ? NULL : &p->x);
	if (!err) {
		m = entry_find(e, key, klen, p, child);
		if (m) {
			*child = 0;
			err = val_take(v, m);
		}
		if (!e->pins) {
			lru_unlink(c, e);
			lru_push_head(c, e);
		}
		cache_shrink(c);
	}
	hdr_put(h);
	mutex_unlock(&c->lock);
	return err;
}

/*
 * Flushes into a leaf that is not resident, without reading it: the
 * messages go into the leaf's slot as a new layer (nodefmt.h), written at
 * once, as the append of a write-back would have written them.
 */

/*
 * The checked header of leaf @id, not resident whole, in @*hp (the caller
 * puts it); c->lock is held, and dropped to read it.  -EAGAIN if the leaf
 * is resident whole.
 */
static int blind_hdr(struct betrkv_cache *c, u64 id,
		     const struct betrkv_expect *x, struct betrkv_node_hdr **hp)
{
	struct betrkv_centry *e = cache_lookup(c, id);
	const char *why;
	int err;

	lockdep_assert_held(&c->lock);
	if (e && e->node)
		return -EAGAIN;
	if (e) {
		*hp = e->hdr;
		e->hdr->refs++;
	} else {
		mutex_unlock(&c->lock);
		err = read_hdr(c, id, hp);
		mutex_lock(&c->lock);
		if (err)
			return err;
		c->stats.misses++;
		e = cache_lookup(c, id);
		if (e && e->node)
			return -EAGAIN;
	}
	err = betrkv_node_hdr_check(*hp, x, &why);
	return err ? cache_mismatch(c, id, why) : 0;
}

/*
 * Whether leaf @h with @src merged in surely weighs no more than a node
 * may (its segments' messages, at most, and @src's) and has a layer left.
 */
static bool blind_fits(const struct betrkv_cache *c,
		       const struct betrkv_node_hdr *h,
		       const struct betrkv_msgbuf *src)
{
	u64 w = BETRKV_NODE_HDR_WEIGHT + h->hdr_len + src->bytes +
		(u64)src->n * BETRKV_LEAF_RUN_WEIGHT;
	u32 s;

	for (s = 0; s < h->nsegs; s++)
		w += h->segs[s].len + (u64)h->segs[s].nmsgs * BETRKV_MSG_OVERHEAD;
	return h->nlayers < BETRKV_NODE_LAYERS_MAX && w <= c->node_size;
}

/*
 * Encode @src as the new layer of leaf @h into c->iobuf, @w->ent (its
 * indirection table entry) then describing the leaf with it.  The leaf
 * that is encoded borrows @src's messages: its puts, and its deletes as
 * tombstones, since the leaf may hold their keys.
 */
static int blind_encode(struct betrkv_cache *c, const struct betrkv_node_hdr *h,
			struct betrkv_msgbuf *src, struct betrkv_cache_write *w)
{
	struct betrkv_node *n = betrkv_node_alloc(h->id, 0);
	struct betrkv_msgbuf *b;
	int err = -ENOMEM;
	u32 i;

	if (!n)
		return -ENOMEM;
	n->entries.msgs = kvmalloc_array(src->n, sizeof(void *), GFP_KERNEL);
	n->tombs.msgs = kvmalloc_array(src->n, sizeof(void *), GFP_KERNEL);
	if (!n->entries.msgs || !n->tombs.msgs)
		goto out;
	for (i = 0; i < src->n; i++) {
		b = src->msgs[i]->type == BETRKV_OP_PUT ? &n->entries : &n->tombs;
		src->msgs[i]->on_disk = false;
		b->msgs[b->n++] = src->msgs[i];
		b->bytes += betrkv_msg_weight(src->msgs[i]);
	}
	err = betrkv_node_encode_append(n, h, c->uuid,
					slot_blocknr(c, w->ent.slot), c->iobuf,
					c->node_size - w->ent.len, &w->len);
	if (!err) {
		w->off = slot_offset(c, w->ent.slot) + w->ent.len;
		w->ent.hdr = w->ent.len;
		w->ent.len += w->len;
		w->ent.csum = betrkv_node_csum(c->iobuf);
	}
out:
	n->entries.n = 0;
	n->tombs.n = 0;
	betrkv_node_free(n);
	return err == -EFBIG ? -EAGAIN : err;
}

/**
 * betrkv_cache_append_leaf() - flush messages into a leaf without reading it.
 * @c: the cache
 * @id: the leaf
 * @x: what its parent says of it
 * @src: the messages for it, newer than what it holds; emptied if appended
 *
 * If leaf @id is not resident whole, @src is written at once as a new
 * layer in the leaf's slot, read only the leaf's header, and the leaf is
 * left uncached (the next query reads the new header).  The store's lock
 * is held exclusively: nothing else reads or writes the leaf meanwhile.
 *
 * Return: 0; -EAGAIN if the leaf is resident whole, or might weigh more
 * than a node, or the append does not fit in its slot or its layers (flush
 * into the whole node instead; @src is unchanged but for messages' on_disk
 * marks); -EUCLEAN for a leaf that contradicts @x; -EIO; -ENOMEM.
 */
int betrkv_cache_append_leaf(struct betrkv_cache *c, u64 id,
			     const struct betrkv_expect *x,
			     struct betrkv_msgbuf *src)
{
	struct betrkv_node_hdr *h = NULL;
	struct betrkv_cache_write w = { };
	struct betrkv_centry *e;
	int err;

	mutex_lock(&c->lock);
	err = c->read_only ? -EROFS : c->write_err;
	if (!err)
		err = blind_hdr(c, id, x, &h);
	if (!err && (!blind_fits(c, h, src) ||
		     betrkv_itable_lookup(c->itable, id, &w.ent) ||
		     w.ent.len != h->total_len || w.ent.hdr != h->hdr_off))
		err = -EAGAIN;
	if (!err)
		err = blind_encode(c, h, src, &w);
	if (!err)
		err = betrkv_dev_write(c->dev, w.off, c->iobuf, w.len, 0);
	if (err == -EIO && !c->write_err) {
		c->write_err = err;
		pr_err("%s: node write failed: the store stops writing\n",
		       betrkv_dev_name(c->dev));
	}
	if (!err)
		err = betrkv_itable_map(c->itable, &w.ent, BETRKV_ITABLE_LIVE);
	if (!err) {
		e = cache_lookup(c, id);
		if (e)
			cache_remove(c, e);
		betrkv_msgbuf_free(src);
		c->stats.node_writes++;
		c->stats.node_appends++;
		c->stats.leaf_appends++;
		c->stats.node_bytes_written += w.len;
	}
	hdr_put(h);
	mutex_unlock(&c->lock);
	return err;
}

/**
 * betrkv_cache_get() - a pinned whole node, read from disk if not resident.
 * @c: the cache
 * @id: the node ID
 * @x: what its parent says of it, or NULL for the root
 * @np: receives the node
 *
 * Callers may run in parallel; only one may change the node (see dirty()).
 *
 * Return: 0, -EUCLEAN for a node that fails its checks or contradicts @x,
 * -EIO, -ENOMEM.
 */
int betrkv_cache_get(struct betrkv_cache *c, u64 id,
		     const struct betrkv_expect *x, struct betrkv_node **np)
{
	struct betrkv_node_hdr *disk = NULL;
	struct betrkv_node *n = NULL;
	struct betrkv_centry *e;
	int err = 0;

	mutex_lock(&c->lock);
	e = cache_lookup(c, id);
	if (e && e->node) {
		c->stats.hits++;
	} else {
		c->stats.misses++;
		mutex_unlock(&c->lock);
		err = read_node(c, id, &n, &disk);
		mutex_lock(&c->lock);
		e = err ? NULL : cache_lookup(c, id);
	}
	if (err)
		goto out;
	if (e && e->node) {
		/* another reader was first */
		betrkv_node_free(n);
		betrkv_node_hdr_free(disk);
		e->pins++;
	} else if (e) {
		lru_unlink(c, e);
		entry_set_node(c, e, n, disk, false);
		lru_push_head(c, e);
	} else {
		err = cache_insert(c, n, disk, false);
		if (err) {
			betrkv_node_free(n);
			betrkv_node_hdr_free(disk);
			goto out;
		}
		e = centry_of(n);
	}
	err = entry_check(c, e, x);
	if (err)
		entry_unpin(c, e);
	else
		*np = e->node;
	cache_shrink(c);
out:
	mutex_unlock(&c->lock);
	return err;
}

/**
 * betrkv_cache_get_resident() - a pinned whole node, if it is resident.
 * @c: the cache
 * @id: the node ID
 * @np: receives the node
 *
 * For checks that must not read from disk or change what is resident
 * (the tree verifier): nothing is read from disk.
 *
 * Return: 0, or -ENOENT if node @id is not resident whole.
 */
int betrkv_cache_get_resident(struct betrkv_cache *c, u64 id,
			      struct betrkv_node **np)
{
	struct betrkv_centry *e;

	mutex_lock(&c->lock);
	e = cache_lookup(c, id);
	if (e && e->node) {
		e->pins++;
		*np = e->node;
	}
	mutex_unlock(&c->lock);
	return e && e->node ? 0 : -ENOENT;
}

/**
 * betrkv_cache_put() - release a node from get() or new().
 * @c: the cache
 * @n: the node
 */
void betrkv_cache_put(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);

	mutex_lock(&c->lock);
	charge(c, e);
	if (entry_unpin(c, e))
		cache_shrink(c);
	mutex_unlock(&c->lock);
}

/**
 * betrkv_cache_dirty() - a pinned node is about to change.
 * @c: the cache
 * @n: the node
 *
 * If the worker is encoding @n for a write-back, this waits for that to
 * end; if the checkpoint in progress has yet to write @n as it is, that
 * write happens first.
 *
 * Return: 0, or the error of that write (the node is then unchanged and
 * must stay so).
 */
int betrkv_cache_dirty(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);
	int err;

	/* A write-back encodes it without the store's lock: let it finish. */
	if (READ_ONCE(e->encoding))
		wait_event(c->encoded, !READ_ONCE(e->encoding));
	if (e->cp_pending) {
		err = cache_writeback(c, e);
		if (err)
			return err;
		c->stats.cp_forced++;
	}
	c->ndirty += !e->dirty;
	e->dirty = true;
	return 0;
}

/**
 * betrkv_cache_new() - a new, pinned, dirty node under a fresh ID.
 * @c: the cache
 * @height: 0 for a leaf
 * @np: receives the node
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_cache_new(struct betrkv_cache *c, u32 height, struct betrkv_node **np)
{
	struct betrkv_node *n = betrkv_node_alloc(c->next_id, height);
	int err;

	if (!n)
		return -ENOMEM;
	err = cache_insert(c, n, NULL, true);
	if (err) {
		betrkv_node_free(n);
		return err;
	}
	c->next_id++;
	*np = n;
	return 0;
}

/**
 * betrkv_cache_free() - remove a pinned node from the tree for good.
 * @c: the cache
 * @n: the node, dirtied before it was emptied; its pin is consumed
 */
void betrkv_cache_free(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);

	betrkv_itable_unmap(c->itable, e->id);
	if (!e->writing) {
		cache_remove(c, e);
		return;
	}
	/* The checkpoint still needs the copy on its way: write_done() frees @e. */
	cache_unlink(c, e);
	e->freed = true;
}

/**
 * betrkv_cache_checkpoint_begin() - the nodes dirty now make a checkpoint.
 * @c: the cache
 *
 * Each of them must be written, as it is now, before the checkpoint can be
 * completed: by betrkv_cache_write_next() and betrkv_cache_write_done(), by
 * betrkv_cache_write_pending(), or first thing when it is dirtied again or
 * evicted.
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_cache_checkpoint_begin(struct betrkv_cache *c)
{
	struct betrkv_centry *e;
	u64 n = 0;

	c->cp_ids = kvmalloc(max(c->ndirty, 1ull) * sizeof(*c->cp_ids), GFP_KERNEL);
	if (!c->cp_ids)
		return -ENOMEM;
	for (e = c->lru.head; e; e = e->next) {
		if (!e->dirty)
			continue;
		e->cp_pending = true;
		c->cp_ids[n++] = e->id;
	}
	c->cp_nids = n;
	c->cp_next = 0;
	c->npending = n;
	return 0;
}

/**
 * betrkv_cache_checkpoint_end() - the checkpoint is complete or abandoned.
 * @c: the cache
 */
void betrkv_cache_checkpoint_end(struct betrkv_cache *c)
{
	struct betrkv_centry *e;

	for (; c->npending && c->cp_next < c->cp_nids; c->cp_next++) {
		e = cache_lookup(c, c->cp_ids[c->cp_next]);
		if (e && e->cp_pending) {
			e->cp_pending = false;
			c->npending--;
		}
	}
	kvfree(c->cp_ids);
	c->cp_ids = NULL;
	c->cp_nids = 0;
}

/* The next node the checkpoint still has to write, or NULL. */
static struct betrkv_centry *next_pending(struct betrkv_cache *c)
{
	struct betrkv_centry *e;

	for (; c->npending && c->cp_next < c->cp_nids; c->cp_next++) {
		e = cache_lookup(c, c->cp_ids[c->cp_next]);
		if (e && e->cp_pending)
			return e;
	}
	return NULL;
}

/**
 * betrkv_cache_checkpoint_busy() - has the checkpoint writes left to finish?
 * @c: the cache
 *
 * Return: true while a node it needs is unwritten or on its way to disk.
 */
bool betrkv_cache_checkpoint_busy(const struct betrkv_cache *c)
{
	return c->npending || c->nwriting;
}

/**
 * betrkv_cache_write_pending() - write nodes the checkpoint needs, now.
 * @c: the cache
 * @max: at most this many
 *
 * Return: 0 or the first error.
 */
int betrkv_cache_write_pending(struct betrkv_cache *c, u64 max)
{
	struct betrkv_centry *e;
	int err;

	while (max-- && (e = next_pending(c))) {
		err = cache_writeback(c, e);
		if (err)
			return err;
	}
	return 0;
}

/**
 * betrkv_cache_write_next() - start the checkpoint's next node write.
 * @c: the cache
 * @buf: node_size bytes the node is encoded into
 * @w: receives the write: submit @w->len bytes of @buf at @w->off, then
 *     pass the result to betrkv_cache_write_done()
 *
 * The cache may be used (by the same lock's holders) while the write is
 * under way; the node stays resident until it is done.
 *
 * Return: 0, -ENOENT if no node is left to write, or an error.
 */
int betrkv_cache_write_next(struct betrkv_cache *c, u8 *buf,
			    struct betrkv_cache_write *w)
{
	struct betrkv_centry *e = next_pending(c);
	int err;

	if (!e)
		return -ENOENT;
	err = write_begin(c, e, buf, w);
	if (err)
		return err;
	e->writing = true;
	e->pins++;
	c->nwriting++;
	return 0;
}

/**
 * betrkv_cache_write_done() - finish a write from betrkv_cache_write_next().
 * @c: the cache
 * @w: the write
 * @err: its result
 *
 * Return: 0 or an error (@err, or -ENOMEM from the indirection table).
 */
int betrkv_cache_write_done(struct betrkv_cache *c, struct betrkv_cache_write *w,
			    int err)
{
	struct betrkv_centry *e = w->e;

	err = write_end(c, w, err);
	c->nwriting--;
	e->writing = false;
	if (e->freed) {
		kfree(e);
		return err;
	}
	if (!--e->pins) {
		charge(c, e);
		cache_shrink(c);
	}
	return err;
}

/**
 * betrkv_cache_stats() - the counters and the bytes charged now.
 * @c: the cache
 * @st: receives the counters
 * @used: receives the bytes charged
 */
void betrkv_cache_stats(struct betrkv_cache *c, struct betrkv_cache_stats *st,
			u64 *used)
{
	mutex_lock(&c->lock);
	*st = c->stats;
	*used = c->used;
	mutex_unlock(&c->lock);
}

/**
 * betrkv_cache_create() - a cache over the node region of a store.
 * @p: the parameters
 * @cp: receives the cache
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_cache_create(const struct betrkv_cache_params *p,
			struct betrkv_cache **cp)
{
	struct betrkv_cache *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return -ENOMEM;
	mutex_init(&c->lock);
	init_waitqueue_head(&c->encoded);
	c->buckets = kcalloc(CACHE_BUCKETS, sizeof(*c->buckets), GFP_KERNEL);
	c->iobuf = kvmalloc(p->node_size, GFP_KERNEL);
	if (!c->buckets || !c->iobuf) {
		betrkv_cache_destroy(c);
		return -ENOMEM;
	}
	c->dev = p->dev;
	memcpy(c->uuid, p->uuid, sizeof(c->uuid));
	c->itable = p->itable;
	c->nodes_offset = p->nodes_offset;
	c->node_size = p->node_size;
	c->budget = p->budget;
	c->next_id = p->next_id;
	c->read_only = p->read_only;
	*cp = c;
	return 0;
}

/**
 * betrkv_cache_destroy() - drop every node, written or not.
 * @c: the cache, or NULL
 */
void betrkv_cache_destroy(struct betrkv_cache *c)
{
	if (!c)
		return;
	while (c->lru.head)
		cache_remove(c, c->lru.head);
	while (c->hdr_lru.head)
		cache_remove(c, c->hdr_lru.head);
	kfree(c->buckets);
	kvfree(c->iobuf);
	mutex_destroy(&c->lock);
	kfree(c);
}
