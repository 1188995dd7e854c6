/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The block cache: tree nodes by logical ID, within a memory budget.
 *
 * The tree reaches nodes only through this interface.  find() looks a key up
 * in one node and reads only the node's header and, per layer, the one
 * segment the key routes to when the node is not resident (the entry then
 * holds just those: a partial node); get() returns a pinned whole node (read from disk through
 * the indirection table if it is not resident); put() unpins it.  find() and
 * get() check a node against what its parent says of it (its height and key
 * range: struct betrkv_expect) whenever they reach it, resident or not.  A
 * node is changed only between dirty() and put(): dirty() tells the cache
 * that the node's disk copy (if any) is stale, so the node is written before
 * it may be evicted: what changed appended to its slot, beyond what any
 * checkpoint reads there, or the whole node copy-on-write to a fresh slot
 * (nodefmt.h).  A checkpoint in progress owns the nodes that were dirty when
 * it began: each is written as it was then, by the checkpoint's writer or, if
 * a mutation gets to it first, by dirty() before it changes.  The store's
 * worker writes cold dirty nodes back ahead of eviction
 * (betrkv_cache_writeback_begin()), so that the mutation that overruns the
 * budget finds clean nodes to evict instead of writing one itself.  new() makes a
 * pinned, dirty node under a fresh ID; free() removes a node from the tree
 * for good (its ID and disk space are released once no checkpoint refers to
 * them).  Unpinned clean nodes are evicted when the budget is exceeded;
 * pinned nodes never are.
 *
 * Locking: the store's lock, shared or exclusive, is held around every call.
 * find(), get() and put() may run in parallel under the shared lock (they
 * serialise on c->lock and read from disk without it); every other call needs
 * the store's lock exclusive.  A checkpoint's node write may be under way
 * with no lock held: its node stays pinned.  A write-back ahead of eviction
 * also encodes its node without the store's lock: dirty() waits for that
 * encoding to end before the node may change.
 */
#ifndef BETRKV_CACHE_H
#define BETRKV_CACHE_H

#include "itable.h"
#include "nodefmt.h"

struct betrkv_centry {
	u64 id;
	/* The whole node, and the header of its copy on disk (if any) ... */
	struct betrkv_node *node;
	struct betrkv_node_hdr *disk;
	/* ... or NULL, and (a partial node) its header and */
	struct betrkv_node_hdr *hdr;
	struct betrkv_msgbuf *segs;		/* the segments read so far */
	u32 nloaded;				/* how many */
	struct betrkv_centry *hnext;		/* hash chain */
	struct betrkv_centry *prev, *next;	/* on one of the LRU lists */
	u64 mem;				/* bytes charged */
	u32 pins;
	bool dirty;
	bool cp_pending;	/* the checkpoint in progress must write it as is */
	bool writing;		/* a checkpoint write of it is under way */
	bool encoding;		/* a write-back encodes it: see dirty() */
	bool freed;		/* left the tree during that write */
};

/* A node write under way: see betrkv_cache_write_next(). */
struct betrkv_cache_write {
	struct betrkv_centry *e;
	u64 off;		/* byte offset on the device */
	u32 len;		/* bytes to write there */
	struct betrkv_itable_ent ent;	/* the node's entry once written */
	u32 spare;		/* a fresh slot for a whole write, if has_spare */
	bool has_spare;
	bool append;		/* to the slot it has (else a fresh one) */
	bool fresh;		/* ent.slot is a fresh slot this write took */
	bool for_cp;
};

struct betrkv_cache_stats {
	u64 hits;
	u64 misses;		/* lookups that read from disk */
	u64 evictions;
	u64 high_water;		/* most bytes charged at once */
	u64 node_reads;		/* whole nodes, headers and segments */
	u64 node_bytes_read;
	u64 node_writes;
	u64 node_appends;	/* of those, appended to the node's slot */
	u64 leaf_appends;	/* of those, flushes into a leaf not read */
	u64 writebacks;		/* of those, the worker's ahead of eviction */
	u64 node_bytes_written;
	u64 cp_forced;		/* nodes a change had to write for the checkpoint */
	u64 bloom_skips;	/* segment reads a Bloom filter saved */
};

struct betrkv_cache_params {
	struct betrkv_dev *dev;
	const u8 *uuid;
	struct betrkv_itable *itable;
	u64 nodes_offset;
	u32 node_size;
	u64 budget;		/* bytes */
	u64 next_id;		/* first ID never used */
	bool read_only;
};

struct betrkv_cache {
	struct mutex lock;	/* for readers running in parallel: see below */
	struct betrkv_dev *dev;
	u8 uuid[16];
	struct betrkv_itable *itable;
	u64 nodes_offset;
	u32 node_size;
	bool read_only;
	int write_err;		/* sticky: no writes after a failed one */
	u64 last_corrupt;	/* the last node reported corrupt */
	u64 budget;
	u64 used;
	u64 next_id;
	u64 count;
	u64 ndirty;
	/* The checkpoint in progress: the nodes dirty when it began. */
	u64 *cp_ids;
	u64 cp_nids;
	u64 cp_next;		/* cp_ids before it are written */
	u64 npending;		/* cp_pending entries */
	u64 nwriting;		/* writing entries */
	struct betrkv_centry **buckets;
	/*
	 * Least recently used last: whole nodes and partial ones with
	 * segments; partial ones with only their header.
	 */
	struct betrkv_lru {
		struct betrkv_centry *head, *tail;
	} lru, hdr_lru;
	u8 *iobuf;		/* node_size bytes for encoding and decoding */
	wait_queue_head_t encoded;	/* woken when a write-back's encoding ends */
	struct betrkv_cache_stats stats;
};

int betrkv_cache_create(const struct betrkv_cache_params *p,
			struct betrkv_cache **cp);
void betrkv_cache_destroy(struct betrkv_cache *c);

/*
 * A walk down the path of one key (betrkv_cache_find()): what the parent
 * says of the next node, with its bounds copied (the parent's entry may be
 * evicted before the next node is read).
 */
struct betrkv_path {
	struct betrkv_expect x;
	bool root;		/* the next node is the root: nothing is said */
	u8 lo[BETRKV_KEY_MAX];
	u8 hi[BETRKV_KEY_MAX];
};

/*
 * Where a point query puts the value it finds: into @buf of @cap bytes,
 * or, if @buf is NULL, into a buffer of exactly @len bytes that the query
 * allocates (kvmalloc(); none for an empty value) when @len <= @cap.  A
 * value longer than @cap is -ERANGE, @buf untouched.  @type receives the
 * newest message's type (BETRKV_OP_PUT or _DEL) and @len its value's
 * length; @type is 0 while none is found.
 */
struct betrkv_val {
	void *buf;
	u32 cap;
	u32 len;
	u8 type;
};

void betrkv_path_init(struct betrkv_path *p);
int betrkv_cache_find(struct betrkv_cache *c, u64 id, const u8 *key, u32 klen,
		      struct betrkv_path *p, struct betrkv_val *v, u64 *child);
int betrkv_cache_append_leaf(struct betrkv_cache *c, u64 id,
			     const struct betrkv_expect *x,
			     struct betrkv_msgbuf *src);
int betrkv_cache_get(struct betrkv_cache *c, u64 id,
		     const struct betrkv_expect *x, struct betrkv_node **np);
int betrkv_cache_get_resident(struct betrkv_cache *c, u64 id,
			      struct betrkv_node **np);
void betrkv_cache_put(struct betrkv_cache *c, struct betrkv_node *n);
int betrkv_cache_dirty(struct betrkv_cache *c, struct betrkv_node *n);
int betrkv_cache_new(struct betrkv_cache *c, u32 height, struct betrkv_node **np);
void betrkv_cache_free(struct betrkv_cache *c, struct betrkv_node *n);

void betrkv_cache_stats(struct betrkv_cache *c, struct betrkv_cache_stats *st,
			u64 *used);
int betrkv_cache_checkpoint_begin(struct betrkv_cache *c);
void betrkv_cache_checkpoint_end(struct betrkv_cache *c);
bool betrkv_cache_checkpoint_busy(const struct betrkv_cache *c);
int betrkv_cache_write_pending(struct betrkv_cache *c, u64 max);
int betrkv_cache_write_next(struct betrkv_cache *c, u8 *buf,
			    struct betrkv_cache_write *w);
bool betrkv_cache_writeback_wanted(struct betrkv_cache *c);
int betrkv_cache_writeback_begin(struct betrkv_cache *c,
				 struct betrkv_cache_write *w);
int betrkv_cache_writeback_encode(struct betrkv_cache *c, u8 *buf,
				  struct betrkv_cache_write *w);
int betrkv_cache_write_done(struct betrkv_cache *c, struct betrkv_cache_write *w,
			    int err);

#endif /* BETRKV_CACHE_H */
