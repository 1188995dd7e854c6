// SPDX-License-Identifier: GPL-2.0
/*
 * The block cache: see cache.h.
 *
 * Entries live in a hash table by node ID and on an LRU list (most recently
 * released first).  An entry holds a whole node, or (filled by find()) a
 * partial node: its checked header and the segments read so far.  Only
 * clean nodes are partial, so a partial entry always matches the node's
 * copy on disk; get() replaces it by the whole node.  A node's memory is charged when it is released (put),
 * so the charge follows its changes; the budget is enforced by evicting
 * unpinned nodes from the cold end, writing dirty ones back first.  A write
 * goes to a fresh slot (copy-on-write) and then the indirection table
 * points the node's ID there.
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
	mem += sizeof(*n) + betrkv_node_weight(n) - n->entries.bytes +
	       msgbuf_mem(&n->entries);
	for (i = 0; !betrkv_node_is_leaf(n) && i < n->nchildren; i++)
		mem += (u64)n->bufs[i].n * CACHE_MSG_MEM;
	return mem;
}

static void lru_unlink(struct betrkv_cache *c, struct betrkv_centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct betrkv_cache *c, struct betrkv_centry *e)
{
	e->next = c->lru_head;
	e->prev = NULL;
	if (c->lru_head)
		c->lru_head->prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
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

/* A new entry for @id (the caller fills it and charges it). */
static struct betrkv_centry *cache_add(struct betrkv_cache *c, u64 id)
{
	struct betrkv_centry *e = kzalloc(sizeof(*e), GFP_KERNEL);
	u32 b = bucket_of(id);

	if (!e)
		return NULL;
	e->id = id;
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_head(c, e);
	c->count++;
	return e;
}

/* Drop what a partial entry holds. */
static void entry_free_partial(struct betrkv_centry *e)
{
	u32 i;

	for (i = 0; e->hdr && i < e->hdr->nsegs; i++)
		betrkv_msgbuf_free(&e->segs[i]);
	kfree(e->segs);
	betrkv_node_hdr_free(e->hdr);
	e->segs = NULL;
	e->hdr = NULL;
}

/* Make @e hold the whole node @n, pinned once. */
static void entry_set_node(struct betrkv_cache *c, struct betrkv_centry *e,
			   struct betrkv_node *n, bool dirty)
{
	entry_free_partial(e);
	e->node = n;
	e->pins = 1;
	e->dirty = dirty;
	c->ndirty += dirty;
	n->cache_priv = e;
	charge(c, e);
}

static int cache_insert(struct betrkv_cache *c, struct betrkv_node *n, bool dirty)
{
	struct betrkv_centry *e = cache_add(c, n->id);

	if (!e)
		return -ENOMEM;
	entry_set_node(c, e, n, dirty);
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

/*
 * Start writing @e (dirty) to a fresh slot: encode it into @buf.  It is
 * clean from now on, as far as later changes go; a failed write makes it
 * dirty again.
 */
static int write_begin(struct betrkv_cache *c, struct betrkv_centry *e, u8 *buf,
		       struct betrkv_cache_write *w)
{
	int err;

	if (c->read_only)
		return -EROFS;
	if (c->write_err)
		return c->write_err;
	err = betrkv_itable_alloc(c->itable, &w->slot);
	if (err)
		return err;
	w->off = slot_offset(c, w->slot);
	err = betrkv_node_encode(e->node, c->uuid, w->off / BETRKV_BLOCK_SIZE,
				 buf, c->node_size, &w->len);
	if (err) {
		betrkv_itable_release(c->itable, w->slot);
		return err;
	}
	w->e = e;
	w->for_cp = e->cp_pending;
	c->npending -= e->cp_pending;
	e->cp_pending = false;
	e->dirty = false;
	c->ndirty--;
	return 0;
}

/* Point the node's ID at its new copy, or undo write_begin() after @err. */
static int write_end(struct betrkv_cache *c, struct betrkv_cache_write *w, int err)
{
	struct betrkv_centry *e = w->e;
	unsigned int maps = (w->for_cp ? BETRKV_ITABLE_FROZEN : 0) |
			    (e->freed ? 0 : BETRKV_ITABLE_LIVE);

	if (!err)
		err = betrkv_itable_map(c->itable, e->id, w->slot, w->len, maps);
	if (!err) {
		c->stats.node_writes++;
		c->stats.node_bytes_written += w->len;
		return 0;
	}
	betrkv_itable_release(c->itable, w->slot);
	if (err == -EIO && !c->write_err) {
		c->write_err = err;
		pr_err("%s: node write failed: the store stops writing\n",
		       betrkv_dev_name(c->dev));
	}
	if (!e->freed && !e->dirty) {
		e->dirty = true;
		c->ndirty++;
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

/* Evict unpinned nodes from the cold end until within the budget. */
static void cache_shrink(struct betrkv_cache *c)
{
	struct betrkv_centry *e = c->lru_tail, *prev;

	while (e && c->used > c->budget) {
		prev = e->prev;
		if (!e->pins && (!e->dirty || !cache_writeback(c, e))) {
			cache_remove(c, e);
			c->stats.evictions++;
		}
		e = prev;
	}
}

/* Name each corrupt node once, not on every read that trips on it. */
static int cache_corrupt(struct betrkv_cache *c, u64 id, u32 slot, const char *why)
{
	if (id != c->last_corrupt) {
		c->last_corrupt = id;
		pr_err("%s: node %llu at slot %u is corrupt: %s\n",
		       betrkv_dev_name(c->dev), id, slot, why);
	}
	return -EUCLEAN;
}

/* Where node @id lies on disk. */
static int cache_locate(struct betrkv_cache *c, u64 id, u32 *slot, u32 *len)
{
	if (!betrkv_itable_lookup(c->itable, id, slot, len))
		return 0;
	pr_err("%s: node %llu is not in the indirection table\n",
	       betrkv_dev_name(c->dev), id);
	return -EUCLEAN;
}

/* Read bytes [off, off + len) of slot @slot into the I/O buffer. */
static int cache_read_bytes(struct betrkv_cache *c, u32 slot, u32 off, u32 len)
{
	int err = betrkv_dev_read(c->dev, slot_offset(c, slot) + off, c->iobuf, len);

	if (!err) {
		c->stats.node_reads++;
		c->stats.node_bytes_read += len;
	}
	return err;
}

static int cache_read(struct betrkv_cache *c, u64 id, struct betrkv_node **np)
{
	const char *why;
	u32 slot, len;
	int err;

	err = cache_locate(c, id, &slot, &len) ?:
	      cache_read_bytes(c, slot, 0, len);
	if (err)
		return err;
	err = betrkv_node_decode(c->iobuf, len, c->uuid,
				 slot_offset(c, slot) / BETRKV_BLOCK_SIZE, id, np, &why);
	return err == -EUCLEAN ? cache_corrupt(c, id, slot, why) : err;
}

/* Read and check node @id's header into a new partial entry. */
static int cache_read_hdr(struct betrkv_cache *c, u64 id, struct betrkv_centry **ep)
{
	struct betrkv_node_hdr *h;
	struct betrkv_centry *e;
	u32 slot, len, hdr_len;
	const char *why = "too short";
	int err;

	err = cache_locate(c, id, &slot, &len);
	if (err)
		return err;
	if (len < BETRKV_BLOCK_SIZE)
		return cache_corrupt(c, id, slot, why);
	err = cache_read_bytes(c, slot, 0, BETRKV_BLOCK_SIZE);
	if (err)
		return err;
	if (betrkv_node_hdr_len(c->iobuf, len, &hdr_len))
		return cache_corrupt(c, id, slot, "malformed header");
	if (hdr_len > BETRKV_BLOCK_SIZE) {
		err = cache_read_bytes(c, slot, 0, ALIGN(hdr_len, BETRKV_BLOCK_SIZE));
		if (err)
			return err;
	}
	err = betrkv_node_hdr_decode(c->iobuf, len, c->uuid,
				     slot_offset(c, slot) / BETRKV_BLOCK_SIZE, id,
				     &h, &why);
	if (err)
		return err == -EUCLEAN ? cache_corrupt(c, id, slot, why) : err;
	e = cache_add(c, id);
	if (e)
		e->segs = kcalloc(max(h->nsegs, 1u), sizeof(*e->segs), GFP_KERNEL);
	if (!e || !e->segs) {
		if (e)
			cache_remove(c, e);
		betrkv_node_hdr_free(h);
		return -ENOMEM;
	}
	e->hdr = h;
	charge(c, e);
	*ep = e;
	return 0;
}

/* Read and check segment @s of a partial entry. */
static int cache_read_seg(struct betrkv_cache *c, struct betrkv_centry *e, u32 s)
{
	const struct betrkv_seg_ref *ref = &e->hdr->segs[s];
	u32 slot, len, start = ALIGN_DOWN(ref->off, BETRKV_BLOCK_SIZE);
	int err;

	err = cache_locate(c, e->id, &slot, &len) ?:
	      cache_read_bytes(c, slot, start,
			       ALIGN(ref->off + ref->len, BETRKV_BLOCK_SIZE) - start);
	if (err)
		return err;
	err = betrkv_node_seg_decode(e->hdr, c->uuid, s,
				     c->iobuf + ref->off - start, &e->segs[s]);
	if (!err)
		return 0;
	betrkv_msgbuf_free(&e->segs[s]);
	return err == -EUCLEAN ? cache_corrupt(c, e->id, slot, "bad segment") : err;
}

/* The message for @key in a partial entry, reading its segment if need be. */
static int partial_find(struct betrkv_cache *c, struct betrkv_centry *e,
			const u8 *key, u32 klen, const struct betrkv_msg **m,
			u64 *child, bool *read)
{
	int s = betrkv_node_hdr_route(e->hdr, key, klen);
	int err;

	*m = NULL;
	*child = 0;
	if (s < 0)
		return 0;
	if (e->hdr->height)
		*child = e->hdr->children[s];
	if (!e->hdr->segs[s].nmsgs)
		return 0;
	if (!e->segs[s].n) {
		*read = true;
		err = cache_read_seg(c, e, s);
		if (err)
			return err;
	}
	*m = betrkv_msgbuf_find(&e->segs[s], key, klen);
	return 0;
}

/**
 * betrkv_cache_find() - look up @key in node @id, reading as little as needed.
 * @c: the cache
 * @id: the node ID
 * @key: the key
 * @klen: its length
 * @out: receives a copy of the node's message for @key (a put or a delete;
 *	 the caller frees it), or NULL if the node has none
 * @child: receives the child that may hold @key when @out is NULL (0 in a
 *	   leaf)
 *
 * A node that is not resident is not read whole: only its header and the
 * one segment @key routes to.
 *
 * Return: 0, -EUCLEAN for a node that fails its checks, -EIO, -ENOMEM.
 */
int betrkv_cache_find(struct betrkv_cache *c, u64 id, const u8 *key, u32 klen,
		      struct betrkv_msg **out, u64 *child)
{
	struct betrkv_centry *e = cache_lookup(c, id);
	const struct betrkv_msg *m;
	bool read = !e;
	int err = e ? 0 : cache_read_hdr(c, id, &e);

	if (err)
		return err;
	if (e->node)
		m = betrkv_node_find(e->node, key, klen, child);
	else
		err = partial_find(c, e, key, klen, &m, child, &read);
	if (read)
		c->stats.misses++;
	else
		c->stats.hits++;
	*out = NULL;
	if (!err && m) {
		*child = 0;
		*out = betrkv_msg_dup(m);
		err = *out ? 0 : -ENOMEM;
	}
	if (!e->pins) {
		lru_unlink(c, e);
		lru_push_head(c, e);
	}
	charge(c, e);
	cache_shrink(c);
	return err;
}

/**
 * betrkv_cache_get() - a pinned whole node, read from disk if not resident.
 * @c: the cache
 * @id: the node ID
 * @np: receives the node
 *
 * Return: 0, -EUCLEAN for a node that fails its checks, -EIO, -ENOMEM.
 */
int betrkv_cache_get(struct betrkv_cache *c, u64 id, struct betrkv_node **np)
{
	struct betrkv_centry *e = cache_lookup(c, id);
	struct betrkv_node *n;
	int err;

	if (e && e->node) {
		e->pins++;
		c->stats.hits++;
		*np = e->node;
		return 0;
	}
	c->stats.misses++;
	err = cache_read(c, id, &n);
	if (err)
		return err;
	if (e)
		entry_set_node(c, e, n, false);
	else
		err = cache_insert(c, n, false);
	if (err) {
		betrkv_node_free(n);
		return err;
	}
	*np = n;
	cache_shrink(c);
	return 0;
}

/**
 * betrkv_cache_put() - release a node from get() or new().
 * @c: the cache
 * @n: the node
 */
void betrkv_cache_put(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);

	charge(c, e);
	if (--e->pins)
		return;
	lru_unlink(c, e);
	lru_push_head(c, e);
	cache_shrink(c);
}

/**
 * betrkv_cache_dirty() - a pinned node is about to change.
 * @c: the cache
 * @n: the node
 *
 * If the checkpoint in progress has yet to write @n as it is, that write
 * happens first.
 *
 * Return: 0, or the error of that write (the node is then unchanged and
 * must stay so).
 */
int betrkv_cache_dirty(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);
	int err;

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
	err = cache_insert(c, n, true);
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
	for (e = c->lru_head; e; e = e->next) {
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
	c->buckets = kcalloc(CACHE_BUCKETS, sizeof(*c->buckets), GFP_KERNEL);
	c->iobuf = kvmalloc(p->node_size, GFP_KERNEL);
	if (!c->buckets || !c->iobuf) {
		kfree(c->buckets);
		kvfree(c->iobuf);
		kfree(c);
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
	while (c->lru_head)
		cache_remove(c, c->lru_head);
	kfree(c->buckets);
	kvfree(c->iobuf);
	kfree(c);
}
