// SPDX-License-Identifier: GPL-2.0
/*
 * The block cache: see cache.h.
 *
 * Entries live in a hash table by node ID and on an LRU list (most recently
 * released first).  A node's memory is charged when it is released (put),
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

static u64 node_mem(const struct betrkv_node *n)
{
	u64 msgs = n->entries.n;
	u32 i;

	for (i = 0; !betrkv_node_is_leaf(n) && i < n->nchildren; i++)
		msgs += n->bufs[i].n;
	return sizeof(*n) + betrkv_node_weight(n) + msgs * CACHE_MSG_MEM;
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
		if (e->node->id == id)
			return e;
	return NULL;
}

static void charge(struct betrkv_cache *c, struct betrkv_centry *e)
{
	u64 mem = node_mem(e->node);

	c->used = c->used - e->mem + mem;
	e->mem = mem;
	c->stats.high_water = max(c->stats.high_water, c->used);
}

static int cache_insert(struct betrkv_cache *c, struct betrkv_node *n, bool dirty)
{
	struct betrkv_centry *e = kzalloc(sizeof(*e), GFP_KERNEL);
	u32 b = bucket_of(n->id);

	if (!e)
		return -ENOMEM;
	e->node = n;
	e->pins = 1;
	e->dirty = dirty;
	c->ndirty += dirty;
	n->cache_priv = e;
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_head(c, e);
	c->count++;
	charge(c, e);
	return 0;
}

static void cache_remove(struct betrkv_cache *c, struct betrkv_centry *e)
{
	struct betrkv_centry **pp = &c->buckets[bucket_of(e->node->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->used -= e->mem;
	c->count--;
	c->ndirty -= e->dirty;
	betrkv_node_free(e->node);
	kfree(e);
}

static u64 slot_offset(const struct betrkv_cache *c, u32 slot)
{
	return c->nodes_offset + (u64)slot * c->node_size;
}

/* Write a dirty node to a fresh slot and point its ID there. */
static int cache_writeback(struct betrkv_cache *c, struct betrkv_centry *e)
{
	u32 slot, len;
	int err;

	if (c->read_only)
		return -EROFS;
	if (c->write_err)
		return c->write_err;
	err = betrkv_itable_alloc(c->itable, &slot);
	if (err)
		return err;
	err = betrkv_node_encode(e->node, c->uuid,
				 slot_offset(c, slot) / BETRKV_BLOCK_SIZE,
				 c->iobuf, c->node_size, &len);
	if (!err)
		err = betrkv_dev_write(c->dev, slot_offset(c, slot), c->iobuf, len, 0);
	if (!err)
		err = betrkv_itable_map(c->itable, e->node->id, slot, len);
	if (err) {
		betrkv_itable_release(c->itable, slot);
		if (err == -EIO) {
			c->write_err = err;
			pr_err("%s: node write failed: the store stops writing\n",
			       betrkv_dev_name(c->dev));
		}
		return err;
	}
	e->dirty = false;
	c->ndirty--;
	c->stats.node_writes++;
	c->stats.node_bytes_written += len;
	return 0;
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

static int cache_read(struct betrkv_cache *c, u64 id, struct betrkv_node **np)
{
	const char *why;
	u32 slot, len;
	int err;

	err = betrkv_itable_lookup(c->itable, id, &slot, &len);
	if (err) {
		pr_err("%s: node %llu is not in the indirection table\n",
		       betrkv_dev_name(c->dev), id);
		return -EUCLEAN;
	}
	err = betrkv_dev_read(c->dev, slot_offset(c, slot), c->iobuf, len);
	if (err)
		return err;
	c->stats.node_reads++;
	c->stats.node_bytes_read += len;
	err = betrkv_node_decode(c->iobuf, len, c->uuid,
				 slot_offset(c, slot) / BETRKV_BLOCK_SIZE, id, np, &why);
	/* Name each corrupt node once, not on every read that trips on it. */
	if (err == -EUCLEAN && id != c->last_corrupt) {
		c->last_corrupt = id;
		pr_err("%s: node %llu at slot %u is corrupt: %s\n",
		       betrkv_dev_name(c->dev), id, slot, why);
	}
	return err;
}

/**
 * betrkv_cache_get() - a pinned node, read from disk if not resident.
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

	if (e) {
		e->pins++;
		c->stats.hits++;
		*np = e->node;
		return 0;
	}
	c->stats.misses++;
	err = cache_read(c, id, &n);
	if (err)
		return err;
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

void betrkv_cache_dirty(struct betrkv_cache *c, struct betrkv_node *n)
{
	struct betrkv_centry *e = centry_of(n);

	c->ndirty += !e->dirty;
	e->dirty = true;
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
 * @n: the node; its pin is consumed
 */
void betrkv_cache_free(struct betrkv_cache *c, struct betrkv_node *n)
{
	betrkv_itable_unmap(c->itable, n->id);
	cache_remove(c, centry_of(n));
}

/**
 * betrkv_cache_flush() - write every dirty node (for a checkpoint).
 * @c: the cache
 *
 * Return: 0 or the first error.
 */
int betrkv_cache_flush(struct betrkv_cache *c)
{
	struct betrkv_centry *e;
	int err;

	for (e = c->lru_head; e; e = e->next) {
		if (!e->dirty)
			continue;
		err = cache_writeback(c, e);
		if (err)
			return err;
	}
	return 0;
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
