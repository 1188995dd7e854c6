/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Bε-tree: mutations, point queries and range scans over nodes held by
 * the block cache.
 *
 * Invariants at rest (between calls):
 * - every node's weight is at most node_size;
 * - an internal node has 1..BETRKV_FANOUT_MAX children; a root with a
 *   single child has a buffer that is not empty (below the root, a node
 *   whose children merged into one stays so when no neighbour can take it);
 * - a message in an internal node's buffer i is newer than anything for its
 *   key below child i, and lies in child i's key range.
 * The caller serialises mutations; queries may not run during a mutation.
 * When betrkv_tree_verify is set (the module parameter verify_tree; always
 * in the host model and crash tests), every change ends by walking the
 * tree and checking these (all but the order of messages in time, which
 * the nodes do not record), with a warning for any breach.
 *
 * Nothing read from disk is trusted across nodes either: wherever a child
 * is reached, it is checked to be one level below its parent and to hold
 * only keys of its parent's range for it (else -EUCLEAN).  So every walk
 * down ends within BETRKV_HEIGHT_MAX + 1 levels: a cycle would need a
 * child as high as an ancestor.  A node two parents share passes only if
 * it holds no key (its keys would lie in two disjoint ranges); once a
 * change through one parent puts keys there, it is -EUCLEAN through the
 * other, and one node never has the same child twice (the decoder checks).
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

extern bool betrkv_tree_verify;

struct betrkv_tree {
	struct betrkv_cache *cache;
	u64 root;		/* 0: the empty tree */
	u32 node_size;
	/*
	 * A flush into a leaf that is not resident may write the leaf at once
	 * (betrkv_cache_append_leaf()); never while the journal is replayed,
	 * which writes nothing, nor in a read-only store.
	 */
	bool blind;
};

int betrkv_tree_apply(struct betrkv_tree *t, struct betrkv_msgbuf *msgs);
int betrkv_tree_get(struct betrkv_tree *t, const u8 *key, u32 klen,
		    struct betrkv_val *v);
int betrkv_tree_scan(struct betrkv_tree *t, const struct betrkv_range *r,
		     u32 limit, u64 budget, struct betrkv_msgbuf *out, bool *more);
int betrkv_tree_height(struct betrkv_tree *t, u32 *height);
int betrkv_tree_drain(struct betrkv_tree *t, bool (*room)(void *ctx), void *ctx,
		      u32 *flushes);

#endif /* BETRKV_TREE_H */
