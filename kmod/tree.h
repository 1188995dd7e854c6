/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Bε-tree: mutations, point queries and range scans over nodes held by
 * the block cache.
 *
 * Invariants at rest (between calls):
 * - every node's weight is at most node_size;
 * - an internal node has 1..BETRKV_FANOUT_MAX children; only the root may
 *   have a single child, and then its buffer is not empty;
 * - a message in an internal node's buffer i is newer than anything for its
 *   key below child i, and lies in child i's key range.
 * The caller serialises mutations; queries may not run during a mutation.
 *
 * Draining (betrkv_tree_drain()) moves buffered messages towards the leaves
 * without changing what the tree holds, so that deletes reach the leaves,
 * leaves shrink and light nodes merge: the way to give back the space of
 * deleted keys.  It never splits a node and asks its caller before each
 * flush, so the caller can bound the nodes it dirties (each needs a fresh
 * slot at the next checkpoint).
 */
#ifndef BETRKV_TREE_H
#define BETRKV_TREE_H

#include "cache.h"

struct betrkv_tree {
	struct betrkv_cache *cache;
	u64 root;		/* 0: the empty tree */
	u32 node_size;
};

/* A key range [lo, hi); a NULL @hi means no upper bound. */
struct betrkv_range {
	const u8 *lo;
	u32 lolen;
	const u8 *hi;
	u32 hilen;
};

int betrkv_tree_apply(struct betrkv_tree *t, struct betrkv_msgbuf *msgs);
int betrkv_tree_get(struct betrkv_tree *t, const u8 *key, u32 klen,
		    struct betrkv_msg **out);
int betrkv_tree_scan(struct betrkv_tree *t, const struct betrkv_range *r,
		     u32 limit, struct betrkv_msgbuf *out, bool *more);
int betrkv_tree_height(struct betrkv_tree *t, u32 *height);
int betrkv_tree_drain(struct betrkv_tree *t, bool (*room)(void *ctx), void *ctx,
		      u32 *flushes);

#endif /* BETRKV_TREE_H */
