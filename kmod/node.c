// SPDX-License-Identifier: GPL-2.0
/*
 * Tree nodes in memory: allocation, weight, routing a key to a child, and
 * adding or removing a child of an internal node.  See node.h.
 */
#include "bloom.h"
#include "node.h"

/**
 * betrkv_node_alloc() - an empty node.
 * @id: its logical ID
 * @height: 0 for a leaf
 *
 * An internal node gets room for BETRKV_NODE_SLOTS children.
 *
 * Return: the node, or NULL when out of memory.
 */
struct betrkv_node *betrkv_node_alloc(u64 id, u32 height)
{
	struct betrkv_node *n;

	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!n)
		return NULL;
	n->id = id;
	n->height = height;
	if (!height)
		return n;
	n->children = kcalloc(BETRKV_NODE_SLOTS, sizeof(*n->children), GFP_KERNEL);
	n->pivots = kcalloc(BETRKV_NODE_SLOTS - 1, sizeof(*n->pivots), GFP_KERNEL);
	n->bufs = kcalloc(BETRKV_NODE_SLOTS, sizeof(*n->bufs), GFP_KERNEL);
	if (!n->children || !n->pivots || !n->bufs) {
		betrkv_node_free(n);
		return NULL;
	}
	return n;
}

void betrkv_node_free(struct betrkv_node *n)
{
	u32 i;

	if (!n)
		return;
	betrkv_msgbuf_free(&n->entries);
	if (n->bufs)
		for (i = 0; i < n->nchildren; i++)
			betrkv_msgbuf_free(&n->bufs[i]);
	if (n->pivots)
		for (i = 0; i + 1 < n->nchildren; i++)
			kfree(n->pivots[i]);
	kfree(n->children);
	kfree(n->pivots);
	kfree(n->bufs);
	kfree(n);
}

/**
 * betrkv_leaf_runs() - how a leaf's entries are cut into runs on disk.
 * @b: the entries
 * @starts: receives the index of each run's first entry, then @b->n
 *	    (room for BETRKV_LEAF_RUNS_MAX + 1)
 *
 * Return: the number of runs (0 for no entries).
 */
u32 betrkv_leaf_runs(const struct betrkv_msgbuf *b, u32 *starts)
{
	u32 i, nruns = 0;
	u64 acc = 0;

	for (i = 0; i < b->n; i++) {
		if (!nruns || (acc >= BETRKV_LEAF_RUN_BYTES &&
			       nruns < BETRKV_LEAF_RUNS_MAX)) {
			starts[nruns++] = i;
			acc = 0;
		}
		acc += betrkv_msg_weight(b->msgs[i]);
	}
	starts[nruns] = b->n;
	return nruns;
}

/* What a leaf's run index takes in its header. */
static u64 leaf_index_weight(const struct betrkv_msgbuf *b)
{
	u32 starts[BETRKV_LEAF_RUNS_MAX + 1], nruns = betrkv_leaf_runs(b, starts);
	u64 w = 0;
	u32 r;

	for (r = 0; r < nruns; r++)
		w += BETRKV_LEAF_RUN_WEIGHT + b->msgs[starts[r]]->klen;
	return w;
}

/**
 * betrkv_node_weight() - bytes the node takes serialized (an upper bound).
 * @n: the node
 *
 * Return: the weight the tree keeps at or below the node size.
 */
u64 betrkv_node_weight(const struct betrkv_node *n)
{
	u64 w = BETRKV_NODE_HDR_WEIGHT;
	u32 i;

	if (betrkv_node_is_leaf(n))
		return w + n->entries.bytes + leaf_index_weight(&n->entries);
	for (i = 0; i < n->nchildren; i++) {
		w += BETRKV_CHILD_WEIGHT + n->bufs[i].bytes +
		     betrkv_bloom_bytes(n->bufs[i].n);
		if (i + 1 < n->nchildren)
			w += n->pivots[i]->len;
	}
	return w;
}

/**
 * betrkv_pivots_index() - how many of a sorted array of keys are <= @key.
 * @pivots: the keys, strictly rising
 * @n: how many
 * @key: the key
 * @klen: its length
 *
 * Return: the index of the child (or leaf run) whose range holds @key.
 */
u32 betrkv_pivots_index(struct betrkv_pivot *const *pivots, u32 n,
			const u8 *key, u32 klen)
{
	u32 lo = 0, hi = n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct betrkv_pivot *p = pivots[mid];

		if (betrkv_key_cmp(p->key, p->len, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * betrkv_node_find() - the message a node holds for @key.
 * @n: the node
 * @key: the key
 * @klen: its length
 * @child: receives the child whose range holds @key (0 in a leaf)
 *
 * Return: the leaf's entry or the buffered message for @key, or NULL.
 */
const struct betrkv_msg *betrkv_node_find(const struct betrkv_node *n,
					  const u8 *key, u32 klen, u64 *child)
{
	u32 i;

	*child = 0;
	if (betrkv_node_is_leaf(n))
		return betrkv_msgbuf_find(&n->entries, key, klen);
	i = betrkv_node_child_index(n, key, klen);
	*child = n->children[i];
	return betrkv_msgbuf_find(&n->bufs[i], key, klen);
}

struct betrkv_pivot *betrkv_pivot_new(const u8 *key, u32 len)
{
	struct betrkv_pivot *p = kmalloc(sizeof(*p) + len, GFP_KERNEL);

	if (p) {
		p->len = len;
		memcpy(p->key, key, len);
	}
	return p;
}

/**
 * betrkv_node_insert_child() - add a child right of child @at - 1.
 * @n: an internal node with fewer than BETRKV_NODE_SLOTS children
 * @at: the new child's index, at least 1
 * @pivot: the new child's lowest key; the node owns it from now on
 * @child: the new child's ID
 *
 * The new child's buffer starts empty.
 */
void betrkv_node_insert_child(struct betrkv_node *n, u32 at,
			     struct betrkv_pivot *pivot, u64 child)
{
	memmove(&n->children[at + 1], &n->children[at],
		(n->nchildren - at) * sizeof(*n->children));
	memmove(&n->bufs[at + 1], &n->bufs[at],
		(n->nchildren - at) * sizeof(*n->bufs));
	memmove(&n->pivots[at], &n->pivots[at - 1],
		(n->nchildren - at) * sizeof(*n->pivots));
	n->children[at] = child;
	betrkv_msgbuf_init(&n->bufs[at]);
	n->pivots[at - 1] = pivot;
	n->nchildren++;
}

/**
 * betrkv_node_remove_child() - drop child @at and the pivot left of it.
 * @n: an internal node
 * @at: index of the child, at least 1; its buffer must be empty
 */
void betrkv_node_remove_child(struct betrkv_node *n, u32 at)
{
	kfree(n->pivots[at - 1]);
	betrkv_msgbuf_free(&n->bufs[at]);
	memmove(&n->children[at], &n->children[at + 1],
		(n->nchildren - at - 1) * sizeof(*n->children));
	memmove(&n->bufs[at], &n->bufs[at + 1],
		(n->nchildren - at - 1) * sizeof(*n->bufs));
	memmove(&n->pivots[at - 1], &n->pivots[at],
		(n->nchildren - at - 1) * sizeof(*n->pivots));
	n->nchildren--;
}
