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
	betrkv_msgbuf_free(&n->tombs);
	kfree(n->cut);
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
 * betrkv_leaf_runs() - how sorted messages of a leaf are cut into runs on disk.
 * @msgs: the messages (a leaf's entries, or a layer appended to it)
 * @n: how many
 * @starts: receives the index of each run's first message, then @n
 *	    (room for BETRKV_LEAF_RUNS_MAX + 1)
 *
 * Return: the number of runs (0 for no messages).
 */
u32 betrkv_leaf_runs(struct betrkv_msg *const *msgs, u32 n, u32 *starts)
{
	u32 i, nruns = 0;
	u64 acc = 0;

	for (i = 0; i < n; i++) {
		if (!nruns || (acc >= BETRKV_LEAF_RUN_BYTES &&
			       nruns < BETRKV_LEAF_RUNS_MAX)) {
			starts[nruns++] = i;
			acc = 0;
		}
		acc += betrkv_msg_weight(msgs[i]);
	}
	starts[nruns] = n;
	return nruns;
}

/* What a leaf's run index takes in its header. */
static u64 leaf_index_weight(const struct betrkv_msgbuf *b)
{
	u32 starts[BETRKV_LEAF_RUNS_MAX + 1], nruns = betrkv_leaf_runs(b->msgs, b->n, starts);
	u64 w = 0;
	u32 r;

	for (r = 0; r < nruns; r++)
		w += BETRKV_LEAF_RUN_WEIGHT + b->msgs[starts[r]]->klen +
		     betrkv_bloom_bytes(starts[r + 1] - starts[r]);
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
 * @at: receives the index of the child whose range holds @key (0 in a leaf)
 *
 * Return: the leaf's entry or the buffered message for @key, or NULL.
 */
const struct betrkv_msg *betrkv_node_find(const struct betrkv_node *n,
					  const u8 *key, u32 klen, u32 *at)
{
	*at = 0;
	if (betrkv_node_is_leaf(n))
		return betrkv_msgbuf_find(&n->entries, key, klen);
	*at = betrkv_node_child_index(n, key, klen);
	return betrkv_msgbuf_find(&n->bufs[*at], key, klen);
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
 * The new child's buffer starts empty.  Its left neighbour's range shrinks,
 * so the buffers of both are written whole next time (@n->stale).
 */
void betrkv_node_insert_child(struct betrkv_node *n, u32 at,
			     struct betrkv_pivot *pivot, u64 child)
{
	u32 below = n->stale & ((1u << at) - 1);

	BUILD_BUG_ON(BETRKV_NODE_SLOTS > 32);
	n->stale = below | (n->stale & ~below) << 1 | 3u << (at - 1);
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
 *
 * Its range goes to a neighbour: @n is written whole next time.
 */
void betrkv_node_remove_child(struct betrkv_node *n, u32 at)
{
	n->rewrite = true;
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

/**
 * betrkv_node_cut() - note that a leaf's keys from @at on have left it.
 * @leaf: the leaf, which a split has just cut at @at
 * @at: the right half's lowest key
 *
 * Its next append drops the segments of its copy on disk that may hold such
 * keys (nodefmt.c).  Out of memory, the leaf is written whole instead.
 */
void betrkv_node_cut(struct betrkv_node *leaf, const struct betrkv_pivot *at)
{
	if (leaf->rewrite)
		return;
	/* A second split before the leaf is written cuts lower. */
	kfree(leaf->cut);
	leaf->cut = betrkv_pivot_new(at->key, at->len);
	if (!leaf->cut)
		leaf->rewrite = true;
}

/**
 * betrkv_node_note_deletes() - note the keys deletes will remove from a leaf.
 * @leaf: the leaf
 * @src: the messages about to be applied to it
 *
 * A key its copy on disk may hold must be deleted there too: the deletes of
 * keys the leaf holds now are kept in @leaf->tombs until it is written.
 *
 * Return: 0 or -ENOMEM (then @leaf is unchanged but for tombs it had no
 * need of).
 */
int betrkv_node_note_deletes(struct betrkv_node *leaf,
			     const struct betrkv_msgbuf *src)
{
	const struct betrkv_msg *m;
	struct betrkv_msg *t;
	u32 i;
	int err;

	for (i = 0; i < src->n; i++) {
		m = src->msgs[i];
		if (m->type != BETRKV_OP_DEL ||
		    !betrkv_msgbuf_find(&leaf->entries, m->data, m->klen))
			continue;
		t = betrkv_msg_dup(m);
		if (!t)
			return -ENOMEM;
		err = betrkv_msgbuf_upsert(&leaf->tombs, t);
		if (err)
			return err;
	}
	return 0;
}

static void msgbuf_on_disk(struct betrkv_msgbuf *b)
{
	u32 i;

	for (i = 0; i < b->n; i++)
		b->msgs[i]->on_disk = true;
}

/**
 * betrkv_node_written() - the node as it is now is its copy on disk.
 * @n: the node, just encoded for writing
 */
void betrkv_node_written(struct betrkv_node *n)
{
	u32 i;

	msgbuf_on_disk(&n->entries);
	for (i = 0; i < n->nchildren; i++)
		msgbuf_on_disk(&n->bufs[i]);
	betrkv_msgbuf_free(&n->tombs);
	kfree(n->cut);
	n->cut = NULL;
	n->stale = 0;
	n->rewrite = false;
}

/**
 * betrkv_range_holds() - whether @key lies in @r.
 * @r: the range
 * @key: the key
 * @klen: its length
 *
 * Return: true if @r->lo <= @key and (no @r->hi or @key < @r->hi).
 */
bool betrkv_range_holds(const struct betrkv_range *r, const u8 *key, u32 klen)
{
	return betrkv_key_cmp(key, klen, r->lo, r->lolen) >= 0 &&
	       (!r->hi || betrkv_key_cmp(key, klen, r->hi, r->hilen) < 0);
}

/**
 * betrkv_child_range() - the key range of child @i of an internal node.
 * @pivots: the node's pivots
 * @nchildren: its number of children
 * @r: the node's own range (its pivots lie in it)
 * @i: the child, below @nchildren
 * @out: receives the range; it points into @pivots and @r
 */
void betrkv_child_range(struct betrkv_pivot *const *pivots, u32 nchildren,
			const struct betrkv_range *r, u32 i,
			struct betrkv_range *out)
{
	*out = *r;
	if (i > 0) {
		out->lo = pivots[i - 1]->key;
		out->lolen = pivots[i - 1]->len;
	}
	if (i + 1 < nchildren) {
		out->hi = pivots[i]->key;
		out->hilen = pivots[i]->len;
	}
}

/* The first and last messages of @b lie in @r (@b is sorted). */
static bool msgbuf_within(const struct betrkv_msgbuf *b,
			  const struct betrkv_range *r)
{
	const struct betrkv_msg *first, *last;

	if (!b->n)
		return true;
	first = b->msgs[0];
	last = b->msgs[b->n - 1];
	return betrkv_range_holds(r, betrkv_msg_key(first), first->klen) &&
	       betrkv_range_holds(r, betrkv_msg_key(last), last->klen);
}

/**
 * betrkv_node_check() - whether a node is what its parent says it is.
 * @n: the node, well-formed in itself (decoded, or kept so by the tree)
 * @x: what its parent says: its height and key range
 * @why: receives a static reason on failure
 *
 * The keys checked are a leaf's entries, an internal node's pivots and
 * each buffer's messages (against that buffer's child range); a buffer and
 * a leaf are sorted, so their first and last keys tell.
 *
 * Return: 0, or -EUCLEAN if the node contradicts @x.
 */
int betrkv_node_check(const struct betrkv_node *n, const struct betrkv_expect *x,
		      const char **why)
{
	struct betrkv_range cr;
	const struct betrkv_pivot *p;
	u32 i;

	*why = "height is not its parent's minus one";
	if (n->height != x->height)
		return -EUCLEAN;
	*why = "keys outside the range its parent gives it";
	if (betrkv_node_is_leaf(n))
		return msgbuf_within(&n->entries, &x->range) ? 0 : -EUCLEAN;
	for (i = 0; i + 1 < n->nchildren; i++) {
		p = n->pivots[i];
		if (!betrkv_range_holds(&x->range, p->key, p->len))
			return -EUCLEAN;
	}
	for (i = 0; i < n->nchildren; i++) {
		betrkv_child_range(n->pivots, n->nchildren, &x->range, i, &cr);
		if (!msgbuf_within(&n->bufs[i], &cr))
			return -EUCLEAN;
	}
	return 0;
}

/* A message the decoder takes: its type and sizes (@leaf: puts only). */
static bool msg_ok(const struct betrkv_msg *m, bool leaf)
{
	if (m->type != BETRKV_OP_PUT && (leaf || m->type != BETRKV_OP_DEL))
		return false;
	return m->klen && m->klen <= BETRKV_KEY_MAX &&
	       m->vlen <= BETRKV_VALUE_MAX &&
	       (m->type == BETRKV_OP_PUT || !m->vlen);
}

/* @b's messages are well-formed, rise strictly and lie in @r. */
static bool msgbuf_ok(const struct betrkv_msgbuf *b, const struct betrkv_range *r,
		      bool leaf)
{
	u32 i;

	for (i = 0; i < b->n; i++) {
		if (!msg_ok(b->msgs[i], leaf) ||
		    (i && betrkv_msg_cmp(b->msgs[i - 1], betrkv_msg_key(b->msgs[i]),
					 b->msgs[i]->klen) >= 0))
			return false;
	}
	return msgbuf_within(b, r);
}

/* Children are real, distinct, other than @n; pivots are keys that rise. */
static bool children_ok(const struct betrkv_node *n)
{
	const struct betrkv_pivot *p;
	u32 i, j;

	for (i = 0; i < n->nchildren; i++) {
		if (!n->children[i] || n->children[i] == n->id)
			return false;
		for (j = 0; j < i; j++)
			if (n->children[j] == n->children[i])
				return false;
	}
	for (i = 0; i + 1 < n->nchildren; i++) {
		p = n->pivots[i];
		if (!p->len || p->len > BETRKV_KEY_MAX ||
		    (i && betrkv_key_cmp(n->pivots[i - 1]->key, n->pivots[i - 1]->len,
					 p->key, p->len) >= 0))
			return false;
	}
	return true;
}

/**
 * betrkv_node_check_shape() - whether a node is one the decoder would take.
 * @n: the node
 * @why: receives a static reason on failure
 *
 * What betrkv_node_decode() checks of a node on its own: its height, its
 * number of children, distinct child IDs, rising pivots, and sorted,
 * well-formed messages that lie in their child's range.
 *
 * Return: 0, or -EUCLEAN if the decoder would reject the node.
 */
int betrkv_node_check_shape(const struct betrkv_node *n, const char **why)
{
	static const struct betrkv_range all = { .lo = (const u8 *)"" };
	struct betrkv_range cr;
	u32 i;

	*why = "bad height or number of children";
	if (n->height > BETRKV_HEIGHT_MAX ||
	    (betrkv_node_is_leaf(n) ? n->nchildren != 0 :
	     n->nchildren < 1 || n->nchildren > BETRKV_FANOUT_MAX))
		return -EUCLEAN;
	*why = "bad children or pivots";
	if (!betrkv_node_is_leaf(n) && !children_ok(n))
		return -EUCLEAN;
	*why = "bad messages";
	if (betrkv_node_is_leaf(n))
		return msgbuf_ok(&n->entries, &all, true) ? 0 : -EUCLEAN;
	for (i = 0; i < n->nchildren; i++) {
		betrkv_child_range(n->pivots, n->nchildren, &all, i, &cr);
		if (!msgbuf_ok(&n->bufs[i], &cr, false))
			return -EUCLEAN;
	}
	return 0;
}
