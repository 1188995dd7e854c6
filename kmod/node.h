/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tree nodes: their in-memory form and (node.c) their on-disk format.
 *
 * A leaf (height 0) holds sorted key-value pairs.  An internal node holds
 * nchildren child IDs, nchildren - 1 pivot keys (child i holds the keys k
 * with pivot[i-1] <= k < pivot[i]) and one message buffer per child with
 * the messages on their way down to it.  Children are referred to by
 * logical node ID; the indirection table maps IDs to disk locations.
 */
#ifndef BETRKV_NODE_H
#define BETRKV_NODE_H

#include "msgbuf.h"

/*
 * Most children of an internal node at rest.  A node has room for twice as
 * many: a flush into a child can split it into pieces before the node's own
 * parent splits the node in turn (a split that would need more fails
 * with -EUCLEAN rather than overrun the node).
 */
#define BETRKV_FANOUT_MAX	8u
#define BETRKV_NODE_SLOTS	(2 * BETRKV_FANOUT_MAX)
/* Bytes a node takes for its header, and per child in an internal node. */
#define BETRKV_NODE_HDR_WEIGHT	64u
#define BETRKV_CHILD_WEIGHT	32u
/*
 * A leaf is stored in runs of at least BETRKV_LEAF_RUN_BYTES of entries (at
 * most BETRKV_LEAF_RUNS_MAX runs; the last takes the rest), each indexed in
 * the header by its first key, which a point query reads alone.  A run
 * costs the header BETRKV_LEAF_RUN_WEIGHT bytes besides that key and its
 * Bloom filter.
 */
#define BETRKV_LEAF_RUN_BYTES	(4u << 10)
#define BETRKV_LEAF_RUNS_MAX	64u
#define BETRKV_LEAF_RUN_WEIGHT	22u
/* Most layers a node has on disk (nodefmt.h): a query reads one segment of each. */
#define BETRKV_NODE_LAYERS_MAX	8u
/*
 * The largest height a node may have.  A tree grows a level only when its
 * root splits, so each level multiplies the nodes below by about the
 * fanout when it is made; with at most 2^32 node slots (a u32 numbers
 * them) a real tree stays far below 32 levels.  The cap bounds every walk
 * down the tree: heights fall by exactly one at each child.
 */
#define BETRKV_HEIGHT_MAX	32u

struct betrkv_pivot {
	u32 len;
	u8 key[];
};

/*
 * A key range [lo, hi), or (lo, hi) if @lo_excl (scans only); a NULL @hi
 * means no upper bound.
 */
struct betrkv_range {
	const u8 *lo;
	u32 lolen;
	const u8 *hi;
	u32 hilen;
	bool lo_excl;
};

/*
 * What a parent says of a child it refers to, checked wherever a child is
 * reached: the child's height, and the range its keys lie in (for an
 * internal node: its pivots and buffered messages).
 */
struct betrkv_expect {
	u32 height;
	struct betrkv_range range;
};

struct betrkv_node {
	u64 id;
	u32 height;			/* 0 for a leaf */
	/* Leaf. */
	struct betrkv_msgbuf entries;
	/* Internal. */
	u32 nchildren;
	u64 *children;			/* [BETRKV_NODE_SLOTS] */
	struct betrkv_pivot **pivots;	/* [BETRKV_NODE_SLOTS - 1] */
	struct betrkv_msgbuf *bufs;	/* [BETRKV_NODE_SLOTS] */
	/*
	 * What changed since the node's copy on disk, which the cache then
	 * appends there (nodefmt.h) rather than write the node whole: the
	 * messages not on_disk, and
	 */
	struct betrkv_msgbuf tombs;	/* leaf: deletes of keys it held */
	struct betrkv_pivot *cut;	/* leaf: keys from here on left it */
	u32 stale;			/* internal: buffers to write whole */
	bool rewrite;			/* any other change: write it whole */
	/* Cache bookkeeping, owned by cache.c. */
	void *cache_priv;
};

static inline bool betrkv_node_is_leaf(const struct betrkv_node *n)
{
	return n->height == 0;
}

struct betrkv_node *betrkv_node_alloc(u64 id, u32 height);
void betrkv_node_free(struct betrkv_node *n);
u64 betrkv_node_weight(const struct betrkv_node *n);
u32 betrkv_leaf_runs(struct betrkv_msg *const *msgs, u32 n, u32 *starts);
u32 betrkv_pivots_index(struct betrkv_pivot *const *pivots, u32 n,
			const u8 *key, u32 klen);
const struct betrkv_msg *betrkv_node_find(const struct betrkv_node *n,
					  const u8 *key, u32 klen, u32 *at);
struct betrkv_pivot *betrkv_pivot_new(const u8 *key, u32 len);
void betrkv_node_insert_child(struct betrkv_node *n, u32 at,
			      struct betrkv_pivot *pivot, u64 child);
void betrkv_node_remove_child(struct betrkv_node *n, u32 at);
void betrkv_node_cut(struct betrkv_node *leaf, const struct betrkv_pivot *at);
int betrkv_node_note_deletes(struct betrkv_node *leaf,
			     const struct betrkv_msgbuf *src);
void betrkv_node_written(struct betrkv_node *n);
bool betrkv_range_holds(const struct betrkv_range *r, const u8 *key, u32 klen);
void betrkv_child_range(struct betrkv_pivot *const *pivots, u32 nchildren,
			const struct betrkv_range *r, u32 i,
			struct betrkv_range *out);
int betrkv_node_check(const struct betrkv_node *n, const struct betrkv_expect *x,
		      const char **why);
int betrkv_node_check_shape(const struct betrkv_node *n, const char **why);

/* The child of internal node @n whose range holds @key. */
static inline u32 betrkv_node_child_index(const struct betrkv_node *n,
					  const u8 *key, u32 klen)
{
	return betrkv_pivots_index(n->pivots, n->nchildren - 1, key, klen);
}

#endif /* BETRKV_NODE_H */
