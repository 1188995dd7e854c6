// SPDX-License-Identifier: GPL-2.0
/*
 * The Bε-tree: see tree.h for the invariants.
 *
 * Mutations enter the root (a batch at once).  A node over its weight has
 * its heaviest child buffer flushed: the buffer moves down one level in a
 * single batch, into the child's buffers or, at a leaf, into its entries,
 * where deletes finally remove keys.  A node still over weight, or with too
 * many children, splits in two and its parent gains a child; a node left
 * under a quarter of its weight merges with a neighbour (the right one,
 * else the left) when the two fit comfortably in one.  The root splits by
 * growing a new root above it; a root left with a single child and nothing
 * buffered gives way to it.  A drain (at the end of this file) flushes
 * every buffer that fits into its child, to bring deletes to the leaves.
 *
 * Every node is pinned (cache get/put) while this code holds it, and marked
 * dirty before it is changed or freed (a checkpoint in progress may still
 * need it as it was).
 */
#include "tree.h"

/* See tree.h: check the invariants at rest after every change. */
bool betrkv_tree_verify;

/* The range of the root: every key. */
static const struct betrkv_range all_keys = { .lo = (const u8 *)"" };

/*
 * Child @i of @n (pinned), whose keys lie in @r: read and checked against
 * what @n says of it (one level lower, keys in @n's range for it).
 */
static int child_get(struct betrkv_tree *t, struct betrkv_node *n,
		     const struct betrkv_range *r, u32 i, struct betrkv_node **cp)
{
	struct betrkv_expect x = { .height = n->height - 1 };

	betrkv_child_range(n->pivots, n->nchildren, r, i, &x.range);
	return betrkv_cache_get(t->cache, n->children[i], &x, cp);
}

static u32 heaviest_child(const struct betrkv_node *n)
{
	u32 i, best = 0;

	for (i = 1; i < n->nchildren; i++)
		if (n->bufs[i].bytes > n->bufs[best].bytes)
			best = i;
	return best;
}

/* Move @src (emptied) into @node: its entries if a leaf, else its buffers. */
static int push_down(struct betrkv_node *node, struct betrkv_msgbuf *src)
{
	struct betrkv_msgbuf part;
	const struct betrkv_pivot *p;
	u32 j, at;
	int err;

	/* On disk in the parent, perhaps, but not yet in @node. */
	for (j = 0; j < src->n; j++)
		src->msgs[j]->on_disk = false;
	if (betrkv_node_is_leaf(node))
		return betrkv_node_note_deletes(node, src) ?:
		       betrkv_msgbuf_apply(&node->entries, src, true);
	for (j = node->nchildren - 1; j > 0; j--) {
		p = node->pivots[j - 1];
		at = betrkv_msgbuf_lower_bound(src, p->key, p->len);
		if (at == src->n)
			continue;
		betrkv_msgbuf_init(&part);
		err = betrkv_msgbuf_split(src, at, &part) ?:
		      betrkv_msgbuf_apply(&node->bufs[j], &part, false);
		betrkv_msgbuf_free(&part);
		if (err)
			return err;
	}
	return betrkv_msgbuf_apply(&node->bufs[0], src, false);
}

static int tree_fix(struct betrkv_tree *t, struct betrkv_node *parent,
		    const struct betrkv_range *pr, u32 i,
		    struct betrkv_node *child);

/*
 * Push @parent's buffer for @child (child @i, pinned) into it; releases it.
 * @pr: @parent's key range (so in every function that takes a parent).
 */
static int tree_push(struct betrkv_tree *t, struct betrkv_node *parent,
		     const struct betrkv_range *pr, u32 i,
		     struct betrkv_node *child)
{
	int err;

	err = betrkv_cache_dirty(t->cache, child) ?:
	      push_down(child, &parent->bufs[i]);
	if (err) {
		betrkv_cache_put(t->cache, child);
		return err;
	}
	/* Buffer @i is gone from @parent, its segments on disk with it. */
	parent->stale |= 1u << i;
	return tree_fix(t, parent, pr, i, child);
}

/*
 * Flush @parent's buffer for leaf @i into the leaf's slot without reading
 * the leaf (betrkv_cache_append_leaf()).  Return: -EAGAIN if the leaf must
 * be read whole for it, 0 or another negative errno.
 */
static int flush_blind(struct betrkv_tree *t, struct betrkv_node *parent,
		       const struct betrkv_range *pr, u32 i)
{
	struct betrkv_expect x = { .height = 0 };
	int err;

	if (!parent->bufs[i].n)
		return -EAGAIN;
	betrkv_child_range(parent->pivots, parent->nchildren, pr, i, &x.range);
	err = betrkv_cache_dirty(t->cache, parent) ?:
	      betrkv_cache_append_leaf(t->cache, parent->children[i], &x,
				       &parent->bufs[i]);
	if (!err)
		parent->stale |= 1u << i;
	return err;
}

/* Flush @parent's buffer for child @i down and restore the child. */
static int tree_flush(struct betrkv_tree *t, struct betrkv_node *parent,
		      const struct betrkv_range *pr, u32 i)
{
	struct betrkv_node *child;
	int err;

	if (parent->height == 1 && t->blind) {
		err = flush_blind(t, parent, pr, i);
		if (err != -EAGAIN)
			return err;
	}
	err = child_get(t, parent, pr, i, &child);
	if (err)
		return err;
	return tree_push(t, parent, pr, i, child);
}

/*
 * Flush the heaviest buffers of @n (keys in @r) until it fits or has too
 * many children.
 */
static int flush_until_fits(struct betrkv_tree *t, struct betrkv_node *n,
			    const struct betrkv_range *r)
{
	int err = 0;

	while (!err && !betrkv_node_is_leaf(n) &&
	       betrkv_node_weight(n) > t->node_size &&
	       n->nchildren <= BETRKV_FANOUT_MAX)
		err = tree_flush(t, n, r, heaviest_child(n));
	return err;
}

/* Where to cut an internal node: children [k, n) go right. */
static u32 internal_split_point(const struct betrkv_node *n)
{
	u64 half = betrkv_node_weight(n) / 2, acc = BETRKV_NODE_HDR_WEIGHT;
	u32 k;

	for (k = 0; k < n->nchildren - 1; k++) {
		acc += BETRKV_CHILD_WEIGHT + n->bufs[k].bytes;
		if (acc >= half)
			break;
	}
	return clamp(k + 1, 1u, n->nchildren - 1);
}

/* Move @left's upper half into the empty @right; returns the pivot between. */
static struct betrkv_pivot *split_node(struct betrkv_node *left,
				       struct betrkv_node *right, int *err)
{
	struct betrkv_pivot *pivot;
	u32 k, n = left->nchildren;
	const struct betrkv_msg *first;

	if (betrkv_node_is_leaf(left)) {
		*err = betrkv_msgbuf_split(&left->entries,
					   betrkv_msgbuf_split_point(&left->entries),
					   &right->entries);
		if (*err)
			return NULL;
		first = right->entries.msgs[0];
		pivot = betrkv_pivot_new(betrkv_msg_key(first), first->klen);
		if (!pivot) {
			betrkv_msgbuf_concat(&left->entries, &right->entries);
			*err = -ENOMEM;
			return NULL;
		}
		betrkv_node_cut(left, pivot);
		return pivot;
	}
	/*
	 * The left half keeps its copy on disk's segments of the children it
	 * keeps (nodefmt.c drops the others): only its header changes.
	 */
	k = internal_split_point(left);
	left->stale &= (1u << k) - 1;
	pivot = left->pivots[k - 1];
	memcpy(right->children, &left->children[k], (n - k) * sizeof(u64));
	memcpy(right->bufs, &left->bufs[k], (n - k) * sizeof(*right->bufs));
	memcpy(right->pivots, &left->pivots[k], (n - k - 1) * sizeof(pivot));
	right->nchildren = n - k;
	left->nchildren = k;
	*err = 0;
	return pivot;
}

/*
 * Split @child (child @i of @parent) in two; the parent gains the right
 * half as child @i + 1, and its buffer for @i is divided at the pivot.
 * Both halves are then restored in turn (they may split again).
 */
static int tree_split(struct betrkv_tree *t, struct betrkv_node *parent,
		      const struct betrkv_range *pr, u32 i,
		      struct betrkv_node *child)
{
	struct betrkv_node *right;
	struct betrkv_pivot *pivot;
	u32 at;
	int err = -EUCLEAN;

	/* A flush that splits a child into too many pieces (see node.h). */
	if (parent->nchildren == BETRKV_NODE_SLOTS) {
		pr_err("node %llu has no room for another child\n", parent->id);
		goto out;
	}
	err = betrkv_cache_dirty(t->cache, parent) ?:
	      betrkv_cache_new(t->cache, child->height, &right);
	if (err)
		goto out;
	pivot = split_node(child, right, &err);
	if (err) {
		betrkv_cache_free(t->cache, right);
		goto out;
	}
	betrkv_node_insert_child(parent, i + 1, pivot, right->id);
	at = betrkv_msgbuf_lower_bound(&parent->bufs[i], pivot->key, pivot->len);
	err = betrkv_msgbuf_split(&parent->bufs[i], at, &parent->bufs[i + 1]);
	if (err) {
		betrkv_cache_put(t->cache, right);
		goto out;
	}
	err = tree_fix(t, parent, pr, i + 1, right);
	if (!err)
		return tree_fix(t, parent, pr, i, child);
out:
	betrkv_cache_put(t->cache, child);
	return err;
}

/* Can @l and @r (neighbours, @l left) become one node that fits well? */
static bool can_merge(const struct betrkv_tree *t, const struct betrkv_node *l,
		      const struct betrkv_node *r)
{
	if (!betrkv_node_is_leaf(l) &&
	    l->nchildren + r->nchildren > BETRKV_FANOUT_MAX)
		return false;
	return betrkv_node_weight(l) + betrkv_node_weight(r) <=
	       (u64)t->node_size * 3 / 4;
}

/*
 * A child that internal nodes @l and @r both refer to, or 0.  Only a
 * crafted or corrupt image has one; merging the two would make a node
 * that names a child twice.
 */
static u64 shared_child(const struct betrkv_node *l, const struct betrkv_node *r)
{
	u32 i, j;

	for (i = 0; i < l->nchildren; i++)
		for (j = 0; j < r->nchildren; j++)
			if (l->children[i] == r->children[j])
				return l->children[i];
	return 0;
}

/* Merge child @li + 1 of @parent into child @li; both pinned, @r released. */
static int merge_pair(struct betrkv_tree *t, struct betrkv_node *parent,
		      u32 li, struct betrkv_node *l, struct betrkv_node *r)
{
	u64 shared = shared_child(l, r);
	int err;

	if (shared) {
		pr_err_ratelimited("nodes %llu and %llu both refer to node %llu\n",
				   l->id, r->id, shared);
		return -EUCLEAN;
	}
	err = betrkv_cache_dirty(t->cache, parent) ?:
	      betrkv_cache_dirty(t->cache, l) ?:
	      betrkv_cache_dirty(t->cache, r) ?:
	      betrkv_msgbuf_concat(&parent->bufs[li], &parent->bufs[li + 1]);
	if (err)
		return err;
	l->rewrite = true;
	if (betrkv_node_is_leaf(l)) {
		err = betrkv_msgbuf_concat(&l->entries, &r->entries);
		if (err)
			return err;
	} else {
		l->pivots[l->nchildren - 1] = parent->pivots[li];
		parent->pivots[li] = NULL;
		memcpy(&l->children[l->nchildren], r->children,
		       r->nchildren * sizeof(u64));
		memcpy(&l->bufs[l->nchildren], r->bufs,
		       r->nchildren * sizeof(*r->bufs));
		memcpy(&l->pivots[l->nchildren], r->pivots,
		       (r->nchildren - 1) * sizeof(*r->pivots));
		l->nchildren += r->nchildren;
		r->nchildren = 0;
	}
	betrkv_node_remove_child(parent, li + 1);
	betrkv_cache_free(t->cache, r);
	return 0;
}

/*
 * Merge @*childp (child @i of @parent) with its neighbour @j if the two fit
 * in one; @*childp becomes the merged node.  Return: 1 if merged, 0 if not,
 * or a negative errno.
 */
static int merge_with(struct betrkv_tree *t, struct betrkv_node *parent,
		      const struct betrkv_range *pr, u32 i,
		      struct betrkv_node **childp, u32 j)
{
	struct betrkv_node *other, *l, *r;
	int err;

	err = child_get(t, parent, pr, j, &other);
	if (err)
		return err;
	l = j > i ? *childp : other;
	r = j > i ? other : *childp;
	if (!can_merge(t, l, r)) {
		betrkv_cache_put(t->cache, other);
		return 0;
	}
	err = merge_pair(t, parent, min(i, j), l, r);
	if (err) {
		betrkv_cache_put(t->cache, other);
		return err;
	}
	*childp = l;
	return 1;
}

/*
 * @child (child @i of @parent) is light: merge it with its right neighbour,
 * or else its left one, if the two fit in one node.
 */
static int tree_merge(struct betrkv_tree *t, struct betrkv_node *parent,
		      const struct betrkv_range *pr, u32 i,
		      struct betrkv_node *child)
{
	int ret = 0;

	if (i + 1 < parent->nchildren)
		ret = merge_with(t, parent, pr, i, &child, i + 1);
	if (!ret && i > 0)
		ret = merge_with(t, parent, pr, i, &child, i - 1);
	betrkv_cache_put(t->cache, child);
	return min(ret, 0);
}

/*
 * Restore the invariants of @child, child @i of @parent, after it changed;
 * releases @child.  May add children to @parent (splits) or remove them
 * (merges), but never touches @parent's other invariants.
 */
static int tree_fix(struct betrkv_tree *t, struct betrkv_node *parent,
		    const struct betrkv_range *pr, u32 i,
		    struct betrkv_node *child)
{
	struct betrkv_range cr;
	int err;

	betrkv_child_range(parent->pivots, parent->nchildren, pr, i, &cr);
	err = flush_until_fits(t, child, &cr);
	if (err)
		goto out;
	if (betrkv_node_weight(child) > t->node_size ||
	    child->nchildren > BETRKV_FANOUT_MAX)
		return tree_split(t, parent, pr, i, child);
	if (betrkv_node_weight(child) < t->node_size / 4 && parent->nchildren > 1)
		return tree_merge(t, parent, pr, i, child);
out:
	betrkv_cache_put(t->cache, child);
	return err;
}

/* Put a new root above @root (pinned) and split the old root under it. */
static int tree_grow(struct betrkv_tree *t, struct betrkv_node **rootp)
{
	struct betrkv_node *old = *rootp, *root;
	int err;

	/* Only a crafted tree gets this tall (see BETRKV_HEIGHT_MAX). */
	if (old->height >= BETRKV_HEIGHT_MAX) {
		pr_err("root node %llu is at the greatest height already\n", old->id);
		return -EUCLEAN;
	}
	err = betrkv_cache_new(t->cache, old->height + 1, &root);
	if (err)
		return err;
	root->children[0] = old->id;
	root->nchildren = 1;
	t->root = root->id;
	*rootp = root;
	return tree_split(t, root, &all_keys, 0, old);
}

/* A root with one child: push its buffer down, then give way to the child. */
static int tree_shrink(struct betrkv_tree *t, struct betrkv_node **rootp)
{
	struct betrkv_node *root = *rootp, *child;
	int err = betrkv_cache_dirty(t->cache, root);

	if (err)
		return err;
	if (root->bufs[0].n) {
		err = tree_flush(t, root, &all_keys, 0);
		if (err || root->nchildren > 1)
			return err;
	}
	err = child_get(t, root, &all_keys, 0, &child);
	if (err)
		return err;
	t->root = child->id;
	betrkv_cache_free(t->cache, root);
	*rootp = child;
	return 0;
}

/* Restore the root's invariants; releases it. */
static int tree_fix_root(struct betrkv_tree *t, struct betrkv_node *root)
{
	int err;

	for (;;) {
		err = flush_until_fits(t, root, &all_keys);
		if (err)
			break;
		if (betrkv_node_weight(root) > t->node_size ||
		    root->nchildren > BETRKV_FANOUT_MAX)
			err = tree_grow(t, &root);
		else if (!betrkv_node_is_leaf(root) && root->nchildren == 1)
			err = tree_shrink(t, &root);
		else
			break;
		if (err)
			break;
	}
	betrkv_cache_put(t->cache, root);
	return err;
}

/* Which invariant at rest node @n breaks (@x: see verify_node()), or NULL. */
static const char *node_breach(const struct betrkv_tree *t,
			       const struct betrkv_node *n,
			       const struct betrkv_expect *x)
{
	const char *why;

	if ((x && betrkv_node_check(n, x, &why)) ||
	    betrkv_node_check_shape(n, &why))
		return why;
	if (betrkv_node_weight(n) > t->node_size)
		return "heavier than a node";
	if (!x && n->nchildren == 1 && !n->bufs[0].n)
		return "a root with a single child and nothing buffered";
	return NULL;
}

/*
 * The invariants at rest of tree.h, in the subtree of node @id (what its
 * parent says of it: @x, NULL for the root), as far as it is resident: a
 * node the code changed stays so until it is written, and what is on disk
 * was checked when it was read.  A breach is a bug of the code.
 */
static void verify_node(struct betrkv_tree *t, u64 id,
			const struct betrkv_expect *x)
{
	struct betrkv_expect cx;
	struct betrkv_node *n;
	const char *why;
	u32 i;

	if (betrkv_cache_get_resident(t->cache, id, &n))
		return;
	why = node_breach(t, n, x);
	if (why)
		pr_err("node %llu (height %u) breaks the tree's invariants: %s\n",
		       n->id, n->height, why);
	if (WARN_ON_ONCE(why))
		goto out;
	cx.height = n->height - 1;
	for (i = 0; i < n->nchildren; i++) {
		betrkv_child_range(n->pivots, n->nchildren,
				   x ? &x->range : &all_keys, i, &cx.range);
		verify_node(t, n->children[i], &cx);
	}
out:
	betrkv_cache_put(t->cache, n);
}

/* After a change: the invariants at rest, if betrkv_tree_verify says so. */
static int tree_changed(struct betrkv_tree *t, int err)
{
	if (!err && betrkv_tree_verify && t->root)
		verify_node(t, t->root, NULL);
	return err;
}

/**
 * betrkv_tree_apply() - apply a batch of mutations.
 * @t: the tree
 * @msgs: the batch, newest message per key; emptied
 *
 * Return: 0 or a negative errno.  An error after the batch reached the root
 * can leave part of a flush done: the caller must stop mutating the tree.
 */
int betrkv_tree_apply(struct betrkv_tree *t, struct betrkv_msgbuf *msgs)
{
	struct betrkv_node *root;
	int err;

	if (t->root)
		err = betrkv_cache_get(t->cache, t->root, NULL, &root);
	else
		err = betrkv_cache_new(t->cache, 0, &root);
	if (err)
		return err;
	t->root = root->id;
	err = betrkv_cache_dirty(t->cache, root) ?:
	      push_down(root, msgs);
	if (err) {
		betrkv_cache_put(t->cache, root);
		return err;
	}
	return tree_changed(t, tree_fix_root(t, root));
}

/**
 * betrkv_tree_get() - the value of @key.
 * @t: the tree
 * @key: the key
 * @klen: its length
 * @v: receives the value (cache.h: into @v->buf, or a buffer it allocates)
 *
 * Each node on the way is checked against what its parent says of it, so
 * the walk takes at most BETRKV_HEIGHT_MAX + 1 steps.
 *
 * Return: 0, -ENOENT if the key is absent (never set, or deleted), -ERANGE
 * if the value is longer than @v->cap (@v->len tells its length), or
 * another negative errno (-EUCLEAN, -EIO: a node could not be read).
 */
int betrkv_tree_get(struct betrkv_tree *t, const u8 *key, u32 klen,
		    struct betrkv_val *v)
{
	struct betrkv_path *p;
	u64 id = t->root;
	int err = 0;

	p = kmalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	betrkv_path_init(p);
	v->type = 0;
	while (id && !err)
		err = betrkv_cache_find(t->cache, id, key, klen, p, v, &id);
	kfree(p);
	if (err)
		return err;
	return v->type == BETRKV_OP_PUT ? 0 : -ENOENT;
}

/*
 * What a scan may still collect: @n messages weighing @bytes, but one
 * message whatever its weight while nothing is held yet (@must).
 */
struct scan_room {
	u32 n;
	u64 bytes;
	bool must;
};

/* Whether @room, with @n messages of @bytes taken, takes @m too. */
static bool room_takes(const struct scan_room *room, u32 n, u64 bytes,
		       const struct betrkv_msg *m)
{
	if (n >= room->n)
		return false;
	return (room->must && !n) || bytes + betrkv_msg_weight(m) <= room->bytes;
}

/* What is left of @room once @out holds messages. */
static struct scan_room room_left(const struct scan_room *room,
				  const struct betrkv_msgbuf *out)
{
	return (struct scan_room){
		.n = room->n - out->n,
		.bytes = room->bytes > out->bytes ? room->bytes - out->bytes : 0,
		.must = room->must && !out->n,
	};
}

static bool below_hi(const struct betrkv_range *r, const struct betrkv_msg *m)
{
	return !r->hi || betrkv_msg_cmp(m, r->hi, r->hilen) < 0;
}

/*
 * Copies of @b's messages in @r, at most through @last if given, within
 * @room; *@stop receives the first one in @r (through @last) left out, or
 * NULL.
 */
static int copy_range(const struct betrkv_msgbuf *b, const struct betrkv_range *r,
		      const struct betrkv_msg *last, const struct scan_room *room,
		      struct betrkv_msgbuf *out, const struct betrkv_msg **stop)
{
	u32 i = betrkv_msgbuf_lower_bound(b, r->lo, r->lolen);
	struct betrkv_msg *m;

	*stop = NULL;
	if (r->lo_excl && i < b->n && !betrkv_msg_cmp(b->msgs[i], r->lo, r->lolen))
		i++;
	for (; i < b->n && below_hi(r, b->msgs[i]); i++) {
		if (last && betrkv_msg_cmp(b->msgs[i], betrkv_msg_key(last),
					   last->klen) > 0)
			break;
		if (!room_takes(room, out->n, out->bytes, b->msgs[i])) {
			*stop = b->msgs[i];
			break;
		}
		m = betrkv_msg_dup(b->msgs[i]);
		if (!m || betrkv_msgbuf_append(out, m))
			return -ENOMEM;
	}
	return 0;
}

/* Keep the first @keep messages of @b. */
static void truncate_buf(struct betrkv_msgbuf *b, u32 keep)
{
	while (b->n > keep) {
		b->n--;
		b->bytes -= betrkv_msg_weight(b->msgs[b->n]);
		kfree(b->msgs[b->n]);
	}
}


/* Keep of @b what fits in @room; set *@cut if that is not all. */
static void fit_room(struct betrkv_msgbuf *b, const struct scan_room *room,
		     bool *cut)
{
	u64 bytes = 0;
	u32 k;

	for (k = 0; k < b->n && room_takes(room, k, bytes, b->msgs[k]); k++)
		bytes += betrkv_msg_weight(b->msgs[k]);
	if (k < b->n) {
		truncate_buf(b, k);
		*cut = true;
	}
}

static int scan_node(struct betrkv_tree *t, u64 id, const struct betrkv_expect *x,
		     const struct betrkv_range *r, const struct scan_room *room,
		     struct betrkv_msgbuf *out, bool *trunc);

/*
 * The part of child @j of @n (keys in @nr) inside @r, within @room: the
 * child's scan merged with @n's buffer for it.
 */
static int scan_child(struct betrkv_tree *t, struct betrkv_node *n,
		      const struct betrkv_range *nr, u32 j,
		      const struct betrkv_range *r, const struct scan_room *room,
		      struct betrkv_msgbuf *sub, bool *trunc)
{
	struct betrkv_expect x = { .height = n->height - 1 };
	struct betrkv_range cr = *r;
	const struct betrkv_msg *stop;
	const struct betrkv_pivot *p;
	struct betrkv_msgbuf bm;
	int err;

	if (j > 0) {
		p = n->pivots[j - 1];
		if (betrkv_key_cmp(p->key, p->len, r->lo, r->lolen) > 0) {
			cr.lo = p->key;
			cr.lolen = p->len;
			cr.lo_excl = false;
		}
	}
	if (j + 1 < n->nchildren) {
		p = n->pivots[j];
		if (!r->hi || betrkv_key_cmp(p->key, p->len, r->hi, r->hilen) < 0) {
			cr.hi = p->key;
			cr.hilen = p->len;
		}
	}
	betrkv_child_range(n->pivots, n->nchildren, nr, j, &x.range);
	err = scan_node(t, n->children[j], &x, &cr, room, sub, trunc);
	/* Cut short with nothing taken: nothing of the buffer is complete. */
	if (err || (*trunc && !sub->n))
		return err;
	betrkv_msgbuf_init(&bm);
	err = copy_range(&n->bufs[j], &cr, *trunc ? sub->msgs[sub->n - 1] : NULL,
			 room, &bm, &stop);
	/* The buffer is complete only up to @stop: so is the merge. */
	if (!err && stop) {
		truncate_buf(sub, betrkv_msgbuf_lower_bound(sub, betrkv_msg_key(stop),
							    stop->klen));
		*trunc = true;
	}
	if (!err)
		err = betrkv_msgbuf_apply(sub, &bm, false);
	betrkv_msgbuf_free(&bm);
	if (!err)
		fit_room(sub, room, trunc);
	return err;
}

/*
 * The newest messages in @r under node @id (what its parent says of it:
 * @x, NULL for the root), in key order, within @room; *@trunc is set when
 * more may follow the last one returned (the result is complete through
 * its last key).  Each level holds at most @room twice over (the child's
 * messages and the buffer's), and a level's @room is what the levels
 * above left: see betrkv_tree_scan().
 */
static int scan_node(struct betrkv_tree *t, u64 id, const struct betrkv_expect *x,
		     const struct betrkv_range *r, const struct scan_room *room,
		     struct betrkv_msgbuf *out, bool *trunc)
{
	const struct betrkv_msg *stop;
	struct betrkv_msgbuf sub;
	struct scan_room left;
	struct betrkv_node *n;
	u32 j;
	int err;

	*trunc = false;
	err = betrkv_cache_get(t->cache, id, x, &n);
	if (err)
		return err;
	if (betrkv_node_is_leaf(n)) {
		err = copy_range(&n->entries, r, NULL, room, out, &stop);
		*trunc = !!stop;
		goto out;
	}
	for (j = betrkv_node_child_index(n, r->lo, r->lolen); j < n->nchildren; j++) {
		if (j > 0 && r->hi && betrkv_key_cmp(n->pivots[j - 1]->key,
						     n->pivots[j - 1]->len,
						     r->hi, r->hilen) >= 0)
			break;
		left = room_left(room, out);
		if (!left.n || (!left.must && !left.bytes)) {
			*trunc = true;
			break;
		}
		betrkv_msgbuf_init(&sub);
		err = scan_child(t, n, x ? &x->range : &all_keys, j, r, &left,
				 &sub, trunc) ?:
		      betrkv_msgbuf_concat(out, &sub);
		betrkv_msgbuf_free(&sub);
		if (err || *trunc)
			break;
	}
out:
	betrkv_cache_put(t->cache, n);
	return err;
}

/**
 * betrkv_tree_scan() - the newest messages in a key range, in key order.
 * @t: the tree
 * @r: the range
 * @limit: most messages to return, at least 1
 * @budget: most bytes of messages to return (betrkv_msg_weight()); the
 *          first message is returned whatever its weight
 * @out: an empty buffer; receives copies of the messages, deletes included
 *       (the caller drops them; they still tell how far the scan got)
 * @more: set if messages beyond the last one returned may exist in @r
 *
 * Memory: besides what it returns, the scan holds at most @budget bytes of
 * messages plus one message more than @budget (the first), and once more
 * that for the node buffer being merged: at most 2 * @budget + 2 * the
 * largest message in all, whatever the tree's height.  The recursion is
 * one level per tree level, at most BETRKV_HEIGHT_MAX + 1: every child is
 * checked to be one level below its parent.
 *
 * Return: 0 or a negative errno.
 */
int betrkv_tree_scan(struct betrkv_tree *t, const struct betrkv_range *r,
		     u32 limit, u64 budget, struct betrkv_msgbuf *out, bool *more)
{
	struct scan_room room = { .n = limit, .bytes = budget, .must = true };

	*more = false;
	if (!t->root)
		return 0;
	return scan_node(t, t->root, NULL, r, &room, out, more);
}

/**
 * betrkv_tree_height() - number of levels (0 for the empty tree).
 * @t: the tree
 * @height: receives it
 *
 * Return: 0 or a negative errno from reading the root.
 */
int betrkv_tree_height(struct betrkv_tree *t, u32 *height)
{
	struct betrkv_node *root;
	int err;

	*height = 0;
	if (!t->root)
		return 0;
	err = betrkv_cache_get(t->cache, t->root, NULL, &root);
	if (err)
		return err;
	*height = root->height + 1;
	betrkv_cache_put(t->cache, root);
	return 0;
}

/*
 * Draining: buffered messages move down only into a child that surely
 * takes them without growing past a node, so a drain never splits a node
 * or sets off further flushes.  A flush dirties at most the parent, the
 * child and, when the child merges, a neighbour; on the way back up, each
 * ancestor below the root is restored once, and a merge there dirties at
 * most its parent and a neighbour.  So between two flushes a drain dirties
 * at most 3 + 2 * (levels - 2) nodes.
 */
struct tree_drain {
	bool (*room)(void *ctx);
	void *ctx;
	u32 flushes;
	bool stopped;		/* @room said no: stop everywhere */
};

/* An upper bound of @child's weight once @b is pushed into it. */
static u64 weight_after_push(const struct betrkv_node *child,
			     const struct betrkv_msgbuf *b)
{
	bool leaf = betrkv_node_is_leaf(child);
	u64 add = 0;
	u32 k;

	/* A leaf grows only by puts, and by an index entry per run they add. */
	for (k = 0; k < b->n; k++)
		if (!leaf || b->msgs[k]->type == BETRKV_OP_PUT)
			add += betrkv_msg_weight(b->msgs[k]);
	if (leaf && add)
		add += BETRKV_LEAF_RUN_WEIGHT * (add / BETRKV_LEAF_RUN_BYTES + 1);
	return betrkv_node_weight(child) + add;
}

static int drain_node(struct betrkv_tree *t, struct betrkv_node *n,
		      const struct betrkv_range *r, struct tree_drain *d);

/*
 * Drain at child @i of @n (internal, pinned, dirty-able): flush its buffer
 * if the child takes it whole, else drain the child's own subtree (which
 * may make room for the buffer); the child is restored if anything moved.
 */
static int drain_child(struct betrkv_tree *t, struct betrkv_node *n,
		       const struct betrkv_range *r, u32 i, struct tree_drain *d)
{
	struct betrkv_node *child;
	struct betrkv_range cr;
	u32 before = d->flushes;
	int err;

	if (!n->bufs[i].n && n->height == 1)
		return 0;
	err = child_get(t, n, r, i, &child);
	if (err)
		return err;
	if (n->bufs[i].n &&
	    weight_after_push(child, &n->bufs[i]) <= t->node_size) {
		if (!d->room(d->ctx)) {
			d->stopped = true;
			betrkv_cache_put(t->cache, child);
			return 0;
		}
		d->flushes++;
		err = betrkv_cache_dirty(t->cache, n);
		if (err) {
			betrkv_cache_put(t->cache, child);
			return err;
		}
		return tree_push(t, n, r, i, child);
	}
	betrkv_child_range(n->pivots, n->nchildren, r, i, &cr);
	if (!betrkv_node_is_leaf(child))
		err = drain_node(t, child, &cr, d);
	if (err || d->flushes == before) {
		betrkv_cache_put(t->cache, child);
		return err;
	}
	return tree_fix(t, n, r, i, child);
}

/*
 * Drain the subtree of @n (internal, pinned) from left to right; the caller
 * restores @n.  A child where something moved is looked at again: it may
 * have merged with a neighbour and taken over its buffer and subtree.
 * Ends because every flush moves messages one level down.
 */
static int drain_node(struct betrkv_tree *t, struct betrkv_node *n,
		      const struct betrkv_range *r, struct tree_drain *d)
{
	u32 i = 0, before;
	int err;

	while (!d->stopped && i < n->nchildren) {
		before = d->flushes;
		err = drain_child(t, n, r, i, d);
		if (err)
			return err;
		if (d->flushes == before)
			i++;
	}
	return 0;
}

/**
 * betrkv_tree_drain() - move buffered messages down towards the leaves.
 * @t: the tree
 * @room: asked before each flush whether the slots for what it dirties are
 *        there; the drain stops at the first no
 * @ctx: @room's argument
 * @flushes: receives how many buffers moved down (0: nothing could move)
 *
 * Semantically invisible: no message changes, only its node, so deletes
 * that reach leaves remove their keys and emptied nodes merge away.  Every
 * buffer is flushed whose child takes it without growing past a node;
 * nothing splits.  Between two calls of @room the drain dirties at most
 * 2 * levels - 1 nodes (levels: see betrkv_tree_height()).
 *
 * Return: 0 or a negative errno; after an error, as after one of
 * betrkv_tree_apply(), the caller must stop mutating the tree.
 */
int betrkv_tree_drain(struct betrkv_tree *t, bool (*room)(void *ctx), void *ctx,
		      u32 *flushes)
{
	struct tree_drain d = { .room = room, .ctx = ctx };
	struct betrkv_node *root;
	int err;

	*flushes = 0;
	if (!t->root)
		return 0;
	err = betrkv_cache_get(t->cache, t->root, NULL, &root);
	if (err)
		return err;
	if (!betrkv_node_is_leaf(root))
		err = drain_node(t, root, &all_keys, &d);
	/* Nothing grew: at most the root gives way to a lone child. */
	while (!err && !betrkv_node_is_leaf(root) && root->nchildren == 1 &&
	       !root->bufs[0].n)
		err = tree_shrink(t, &root);
	betrkv_cache_put(t->cache, root);
	*flushes = d.flushes;
	return tree_changed(t, err);
}
