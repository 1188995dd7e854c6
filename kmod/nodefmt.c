// SPDX-License-Identifier: GPL-2.0
/*
 * The on-disk format of tree nodes: see nodefmt.h.  Little-endian.  A
 * header, at a block boundary of the slot:
 *
 *   struct nf_hdr
 *   internal: __le64 children[nchildren]; nchildren - 1 pivots
 *   struct nf_seg segs[nsegs]
 *   leaf: the first key of each segment; the limit key, if flags has
 *   NF_LIMIT
 *   the Bloom filter of each segment's keys, of betrkv_bloom_bytes(nmsgs)
 *   bytes
 *   (header ends: hdr_len)
 *
 * A key (pivot or first key) is __le16 length + bytes; a message is
 * struct nf_msg + key + value.  Segments lie anywhere in the node's length
 * but never overlap each other or the header, and rise in offset in the
 * order of the table.  A whole write puts its header at offset 0 and its
 * segments right after it; only zeros follow the last one.
 */
#include "block.h"
#include "bloom.h"
#include "nodefmt.h"

/* A bounded reader or writer over a byte range. */
struct nf_cur {
	u8 *p;
	u32 left;
};

static void *nf_take(struct nf_cur *c, u32 n)
{
	u8 *r = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return r;
}

static u32 nf_seg_csum(const u8 uuid[16], u64 id, u32 off, const u8 *seg,
		       u32 len)
{
	struct nf_seg_salt salt = { .id = cpu_to_le64(id),
				    .off = cpu_to_le32(off) };

	memcpy(salt.uuid, uuid, sizeof(salt.uuid));
	return betrkv_crc32c(&salt, sizeof(salt), seg, len);
}

/* ---- encoding ---- */

/* A segment to write: messages of one child (internal) or one leaf run. */
struct nf_out_seg {
	struct betrkv_msg *const *msgs;
	u32 count;
	u32 bytes;
	u16 child;
};

/*
 * A write: the segments of the node's copy on disk it keeps (@old's
 * segments @kept[0..nkept), in layers renumbered by @layer_of), then new
 * ones in layer @layer.
 */
struct nf_write {
	const struct betrkv_node *n;
	const struct betrkv_node_hdr *old;
	u32 *kept;
	u32 nkept;
	u16 layer_of[BETRKV_NODE_LAYERS_MAX];
	struct nf_out_seg *segs;
	u32 nsegs;
	u16 layer;
	const struct betrkv_pivot *cut;	/* leaf: its limit (nodefmt.h) */
};

static void nf_put_key(struct nf_cur *c, const u8 *key, u32 len)
{
	__le16 l = cpu_to_le16(len);

	memcpy(nf_take(c, sizeof(l)), &l, sizeof(l));
	memcpy(nf_take(c, len), key, len);
}

static void nf_put_msg(struct nf_cur *c, const struct betrkv_msg *m)
{
	struct nf_msg h = { .type = m->type, .klen = cpu_to_le16(m->klen),
			    .vlen = cpu_to_le32(m->vlen) };

	memcpy(nf_take(c, sizeof(h)), &h, sizeof(h));
	memcpy(nf_take(c, m->klen + m->vlen), m->data, m->klen + m->vlen);
}

static u32 msgs_bytes(struct betrkv_msg *const *msgs, u32 count)
{
	u32 i, bytes = 0;

	for (i = 0; i < count; i++)
		bytes += betrkv_msg_weight(msgs[i]);
	return bytes;
}

/* Leaf runs of @msgs[0..count) into @out; returns how many. */
static u32 nf_runs(struct betrkv_msg *const *msgs, u32 count,
		   struct nf_out_seg *out)
{
	u32 starts[BETRKV_LEAF_RUNS_MAX + 1], r, nruns;

	nruns = betrkv_leaf_runs(msgs, count, starts);
	for (r = 0; r < nruns; r++)
		out[r] = (struct nf_out_seg){ .msgs = &msgs[starts[r]],
					      .count = starts[r + 1] - starts[r] };
	return nruns;
}

/* A child's messages as segment @out, if there are any. */
static u32 nf_child_seg(struct betrkv_msg *const *msgs, u32 count, u16 child,
			struct nf_out_seg *out)
{
	*out = (struct nf_out_seg){ .msgs = msgs, .count = count, .child = child };
	return !!count;
}

static void nf_seg_bytes(struct nf_write *w)
{
	u32 i;

	for (i = 0; i < w->nsegs; i++)
		w->segs[i].bytes = msgs_bytes(w->segs[i].msgs, w->segs[i].count);
}

/* The segments of a whole write of @w->n: its leaf runs, or its buffers. */
static void nf_plan(struct nf_write *w)
{
	const struct betrkv_node *n = w->n;
	u32 i;

	if (betrkv_node_is_leaf(n)) {
		w->nsegs = nf_runs(n->entries.msgs, n->entries.n, w->segs);
	} else {
		for (i = 0; i < n->nchildren; i++)
			w->nsegs += nf_child_seg(n->bufs[i].msgs, n->bufs[i].n, i,
						 &w->segs[w->nsegs]);
	}
	nf_seg_bytes(w);
}

static u32 nf_hdr_len(const struct nf_write *w)
{
	const struct betrkv_node *n = w->n;
	u32 len = sizeof(struct nf_hdr), i, k;

	len += (w->nkept + w->nsegs) * sizeof(struct nf_seg);
	for (i = 0; i < w->nkept; i++) {
		k = w->kept[i];
		len += w->old->segs[k].bloom_len;
		if (betrkv_node_is_leaf(n))
			len += 2 + w->old->bounds[k]->len;
	}
	for (i = 0; i < w->nsegs; i++) {
		len += betrkv_bloom_bytes(w->segs[i].count);
		if (betrkv_node_is_leaf(n))
			len += 2 + w->segs[i].msgs[0]->klen;
	}
	len += n->nchildren * sizeof(__le64);
	for (i = 0; i + 1 < n->nchildren; i++)
		len += 2 + n->pivots[i]->len;
	if (w->cut)
		len += 2 + w->cut->len;
	return len;
}

static void nf_put_bloom(struct nf_cur *c, const struct nf_out_seg *seg)
{
	u32 nbytes = betrkv_bloom_bytes(seg->count), i;
	u8 *bits = nf_take(c, nbytes);

	for (i = 0; i < seg->count; i++)
		betrkv_bloom_add(bits, nbytes, seg->msgs[i]->data,
				 seg->msgs[i]->klen);
}

/* The index @w->n now has for child @old of its copy on disk, or U16_MAX. */
static u16 nf_new_child(const struct nf_write *w, u16 old)
{
	const struct betrkv_node *n = w->n;
	u16 j;

	for (j = 0; n->height && j < n->nchildren; j++)
		if (n->children[j] == w->old->children[old])
			return j;
	return n->height ? U16_MAX : 0;
}

/* The layers the header of @w names. */
static u16 nf_nlayers(const struct nf_write *w)
{
	if (w->nsegs)
		return w->layer + 1;
	return w->nkept ? w->layer_of[w->old->segs[w->kept[w->nkept - 1]].layer] + 1 : 0;
}

/*
 * The header's fields and tables (the new segments' entries are filled by
 * nf_put_segs()); @c's bytes are zero.
 */
static void nf_put_hdr(const struct nf_write *w, u32 hdr_len, u32 total,
		       struct nf_cur *c, struct nf_seg **tab)
{
	const struct betrkv_node *n = w->n;
	struct nf_hdr *h = nf_take(c, sizeof(*h));
	const struct betrkv_seg_ref *r;
	struct nf_seg *kept;
	__le64 child;
	u32 i;

	h->id = cpu_to_le64(n->id);
	h->height = cpu_to_le32(n->height);
	h->nchildren = cpu_to_le32(n->nchildren);
	h->hdr_len = cpu_to_le32(hdr_len);
	h->total_len = cpu_to_le32(total);
	h->nsegs = cpu_to_le32(w->nkept + w->nsegs);
	h->nlayers = cpu_to_le16(nf_nlayers(w));
	h->flags = cpu_to_le16(w->cut ? NF_LIMIT : 0);
	for (i = 0; i < n->nchildren; i++) {
		child = cpu_to_le64(n->children[i]);
		memcpy(nf_take(c, sizeof(child)), &child, sizeof(child));
	}
	for (i = 0; i + 1 < n->nchildren; i++)
		nf_put_key(c, n->pivots[i]->key, n->pivots[i]->len);
	kept = nf_take(c, w->nkept * sizeof(*kept));
	for (i = 0; i < w->nkept; i++) {
		r = &w->old->segs[w->kept[i]];
		kept[i] = (struct nf_seg){
			.off = cpu_to_le32(r->off), .len = cpu_to_le32(r->len),
			.nmsgs = cpu_to_le32(r->nmsgs), .csum = cpu_to_le32(r->csum),
			.layer = cpu_to_le16(w->layer_of[r->layer]),
			.child = cpu_to_le16(nf_new_child(w, r->child)) };
	}
	*tab = nf_take(c, w->nsegs * sizeof(**tab));
	for (i = 0; betrkv_node_is_leaf(n) && i < w->nkept; i++)
		nf_put_key(c, w->old->bounds[w->kept[i]]->key,
			   w->old->bounds[w->kept[i]]->len);
	for (i = 0; betrkv_node_is_leaf(n) && i < w->nsegs; i++)
		nf_put_key(c, w->segs[i].msgs[0]->data, w->segs[i].msgs[0]->klen);
	if (w->cut)
		nf_put_key(c, w->cut->key, w->cut->len);
	for (i = 0; i < w->nkept; i++) {
		r = &w->old->segs[w->kept[i]];
		memcpy(nf_take(c, r->bloom_len), w->old->blooms + r->bloom_off,
		       r->bloom_len);
	}
	for (i = 0; i < w->nsegs; i++)
		nf_put_bloom(c, &w->segs[i]);
}

/*
 * The new segments at @p, which is slot offset @off, their table entries
 * filled.
 */
static void nf_put_segs(const struct nf_write *w, const u8 uuid[16], u8 *p,
			u32 off, struct nf_seg *tab)
{
	const struct nf_out_seg *seg;
	struct nf_cur c = { .p = p, .left = U32_MAX };
	u32 s, i;

	for (s = 0; s < w->nsegs; s++) {
		seg = &w->segs[s];
		for (i = 0; i < seg->count; i++)
			nf_put_msg(&c, seg->msgs[i]);
		tab[s] = (struct nf_seg){
			.off = cpu_to_le32(off),
			.len = cpu_to_le32(seg->bytes),
			.nmsgs = cpu_to_le32(seg->count),
			.csum = cpu_to_le32(nf_seg_csum(uuid, w->n->id, off, p,
							seg->bytes)),
			.layer = cpu_to_le16(w->layer),
			.child = cpu_to_le16(seg->child) };
		off += seg->bytes;
		p += seg->bytes;
	}
}

/*
 * Encode @w into @buf (@cap bytes), which goes to slot offset @base, block
 * @blocknr of the device.  Return: 0, or -EFBIG if it does not fit.
 */
static int nf_encode(const struct nf_write *w, const u8 uuid[16], u32 base,
		     u64 blocknr, u8 *buf, u32 cap, u32 *len)
{
	u32 hdr_len = nf_hdr_len(w), body = 0, total, i;
	struct nf_cur c = { .p = buf, .left = cap };
	struct nf_seg *tab;

	for (i = 0; i < w->nsegs; i++)
		body += w->segs[i].bytes;
	total = ALIGN(hdr_len + body, BETRKV_BLOCK_SIZE);
	if (total > cap)
		return -EFBIG;
	memset(buf, 0, total);
	nf_put_hdr(w, hdr_len, base + total, &c, &tab);
	nf_put_segs(w, uuid, buf + hdr_len, base + hdr_len, tab);
	betrkv_block_seal(buf, hdr_len, BETRKV_BLOCK_NODE, blocknr, uuid);
	*len = total;
	return 0;
}

/**
 * betrkv_node_encode() - serialize a node as a whole write (its header at 0).
 * @n: the node
 * @uuid: the store's UUID
 * @blocknr: the block it will be written at
 * @buf: the output, @cap bytes
 * @cap: room at @buf, a multiple of BETRKV_BLOCK_SIZE
 * @len: receives the bytes to write (a multiple of BETRKV_BLOCK_SIZE)
 *
 * The node is first checked as betrkv_node_decode() would check it: the
 * encoder never writes what the decoder rejects.
 *
 * Return: 0, -EFBIG if the node does not fit in @cap bytes, or -EUCLEAN
 * (with a warning: the tree made it) if the decoder would reject it.
 */
int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len)
{
	struct nf_write w = { .n = n };
	const char *why;
	int err;

	/* The weights of node.h bound what the encoding takes. */
	BUILD_BUG_ON(sizeof(struct nf_hdr) > BETRKV_NODE_HDR_WEIGHT);
	BUILD_BUG_ON(sizeof(struct nf_seg) + sizeof(__le16) != BETRKV_LEAF_RUN_WEIGHT);
	BUILD_BUG_ON(sizeof(struct nf_seg) + sizeof(__le16) + sizeof(__le64) >
		     BETRKV_CHILD_WEIGHT);
	BUILD_BUG_ON(sizeof(struct nf_msg) != BETRKV_MSG_OVERHEAD);
	BUILD_BUG_ON(BETRKV_FANOUT_MAX > BETRKV_LEAF_RUNS_MAX);
	if (WARN_ON_ONCE(betrkv_node_check_shape(n, &why))) {
		pr_err("node %llu not written: %s\n", n->id, why);
		return -EUCLEAN;
	}
	w.segs = kcalloc(BETRKV_LEAF_RUNS_MAX, sizeof(*w.segs), GFP_KERNEL);
	if (!w.segs)
		return -ENOMEM;
	nf_plan(&w);
	err = nf_encode(&w, uuid, 0, blocknr, buf, cap, len);
	kfree(w.segs);
	return err;
}

static int nf_pivot_cmp(const struct betrkv_pivot *a,
			const struct betrkv_pivot *b)
{
	return betrkv_key_cmp(a->key, a->len, b->key, b->len);
}

/*
 * The segments of @w->old that @w->n still holds, and their layers.  A
 * leaf a split cut keeps those that start below the cut, which becomes
 * its limit: the keys from there on in the one of each layer that
 * straddles it are dead (nodefmt.h).
 * Return: false if a cut leaf would keep none of its layer 0 (which alone
 * has no deletes): it is better written whole.
 */
static bool nf_plan_kept(struct nf_write *w)
{
	const struct betrkv_node_hdr *h = w->old;
	const struct betrkv_node *n = w->n;
	int last = -1;
	u16 j;
	u32 s;

	w->cut = n->cut ?: h->limit;
	for (s = 0; s < h->nsegs; s++) {
		j = nf_new_child(w, h->segs[s].child);
		if (j == U16_MAX || (n->height && (n->stale & (1u << j))) ||
		    (w->cut && nf_pivot_cmp(h->bounds[s], w->cut) >= 0))
			continue;
		if (h->segs[s].layer != last) {
			last = h->segs[s].layer;
			w->layer_of[last] = w->layer++;
		}
		w->kept[w->nkept++] = s;
	}
	return !w->cut || (w->nkept && !h->segs[w->kept[0]].layer);
}

/*
 * The messages not on disk of @b (all of them if @all) into @out; returns
 * how many.
 */
static u32 nf_fresh(const struct betrkv_msgbuf *b, bool all,
		    struct betrkv_msg **out)
{
	u32 i, k = 0;

	for (i = 0; i < b->n; i++)
		if (all || !b->msgs[i]->on_disk)
			out[k++] = b->msgs[i];
	return k;
}

/* Whether @m lies at or above @cut (never, without one). */
static bool nf_msg_cut(const struct betrkv_msg *m, const struct betrkv_pivot *cut)
{
	return cut && betrkv_msg_cmp(m, cut->key, cut->len) >= 0;
}

/*
 * A leaf's new layer: its entries not on disk and its tombstones below
 * the cut, merged (none if the layer is the first: nothing older holds
 * their keys); a put is newer than a tombstone of its key.
 */
static u32 nf_leaf_fresh(const struct nf_write *w, struct betrkv_msg **out)
{
	const struct betrkv_msgbuf *e = &w->n->entries, *t = &w->n->tombs;
	u32 i = 0, j, tn = t->n, k = 0;
	int c;

	/* From the limit on, nothing older is alive for a delete to remove. */
	while (tn && nf_msg_cut(t->msgs[tn - 1], w->cut))
		tn--;
	j = w->layer ? 0 : tn;
	while (i < e->n || j < tn) {
		if (i < e->n && e->msgs[i]->on_disk) {
			i++;
			continue;
		}
		c = i == e->n ? 1 : j == tn ? -1 :
		    betrkv_msg_cmp(e->msgs[i], t->msgs[j]->data, t->msgs[j]->klen);
		j += c >= 0;
		out[k++] = c <= 0 ? e->msgs[i++] : t->msgs[j - 1];
	}
	return k;
}

/* The new layer of an append: what changed since the copy on disk. */
static void nf_plan_fresh(struct nf_write *w, struct betrkv_msg **scratch)
{
	const struct betrkv_node *n = w->n;
	u32 i, k;

	if (betrkv_node_is_leaf(n)) {
		k = nf_leaf_fresh(w, scratch);
		w->nsegs = nf_runs(scratch, k, w->segs);
	} else {
		for (i = 0; i < n->nchildren; i++) {
			k = nf_fresh(&n->bufs[i], n->stale & (1u << i), scratch);
			w->nsegs += nf_child_seg(scratch, k, i, &w->segs[w->nsegs]);
			scratch += k;
		}
	}
	nf_seg_bytes(w);
}

/* Messages an append of @n may gather. */
static u32 nf_msgs(const struct betrkv_node *n)
{
	u32 i, count = n->entries.n + n->tombs.n;

	for (i = 0; i < n->nchildren; i++)
		count += n->bufs[i].n;
	return count;
}

/**
 * betrkv_node_encode_append() - serialize what changed in a node since its
 * copy on disk, to be appended to that copy.
 * @n: the node, with @n->rewrite not set
 * @old: the header of its copy on disk
 * @uuid: the store's UUID
 * @blocknr: the block the node's slot starts at
 * @buf: the output, @cap bytes: what goes at offset @old->total_len of the slot
 * @cap: room there, a multiple of BETRKV_BLOCK_SIZE
 * @len: receives the bytes to write (a multiple of BETRKV_BLOCK_SIZE); the
 *	 header starts at @buf, and the node's new length is
 *	 @old->total_len + @len
 *
 * The segments of @old that still hold messages of @n are kept; @n's
 * messages not on disk and its tombstones make one new layer.  A leaf a
 * split cut (@n->cut) keeps only the segments that start below the cut,
 * which its header records as its limit (nodefmt.h).  The node is first
 * checked as for betrkv_node_encode().
 *
 * Return: 0, -EFBIG if that does not fit in @cap, needs more than
 * BETRKV_NODE_LAYERS_MAX layers or keeps nothing of a cut leaf's layer 0
 * (write the node whole instead), -EUCLEAN
 * (with a warning) if the decoder would reject the node, -ENOMEM.
 */
int betrkv_node_encode_append(const struct betrkv_node *n,
			      const struct betrkv_node_hdr *old,
			      const u8 uuid[16], u64 blocknr, u8 *buf, u32 cap,
			      u32 *len)
{
	struct nf_write w = { .n = n, .old = old };
	struct betrkv_msg **scratch;
	u32 base = old->total_len;
	const char *why;
	int err = -ENOMEM;

	if (WARN_ON_ONCE(n->rewrite || old->id != n->id ||
			 old->height != n->height))
		return -EFBIG;
	if (WARN_ON_ONCE(betrkv_node_check_shape(n, &why))) {
		pr_err("node %llu not written: %s\n", n->id, why);
		return -EUCLEAN;
	}
	w.kept = kcalloc(max(old->nsegs, 1u), sizeof(*w.kept), GFP_KERNEL);
	w.segs = kcalloc(BETRKV_LEAF_RUNS_MAX, sizeof(*w.segs), GFP_KERNEL);
	scratch = kvmalloc_array(max(nf_msgs(n), 1u), sizeof(*scratch), GFP_KERNEL);
	if (!w.kept || !w.segs || !scratch)
		goto out;
	err = -EFBIG;
	if (!nf_plan_kept(&w))
		goto out;
	nf_plan_fresh(&w, scratch);
	if (w.nsegs && w.layer >= BETRKV_NODE_LAYERS_MAX)
		goto out;
	err = nf_encode(&w, uuid, base, blocknr + base / BETRKV_BLOCK_SIZE, buf,
			cap, len);
out:
	kvfree(scratch);
	kfree(w.segs);
	kfree(w.kept);
	return err;
}

/**
 * betrkv_node_csum() - the checksum an encoded node's header carries.
 * @hdr: the header's first block
 *
 * The header's checksum covers its block number and every segment's
 * checksum, so it names this version of the node at this place: the
 * indirection table records it and reads compare it (a header that passes
 * its own check with another checksum is a stale or misdirected copy).
 *
 * Return: the checksum, as stored (not verified here).
 */
u32 betrkv_node_csum(const u8 *hdr)
{
	return le32_to_cpu(((const struct nf_hdr *)hdr)->blk.csum);
}

/* ---- decoding: everything from disk is bounded before use ---- */

static int nf_get_key(struct nf_cur *c, struct betrkv_pivot **kp)
{
	const void *p = nf_take(c, sizeof(__le16));
	const u8 *key;
	__le16 l;
	u32 len;

	if (!p)
		return -EUCLEAN;
	memcpy(&l, p, sizeof(l));	/* keys lie at any byte offset */
	len = le16_to_cpu(l);
	key = nf_take(c, len);
	if (!key || !len || len > BETRKV_KEY_MAX)
		return -EUCLEAN;
	*kp = betrkv_pivot_new(key, len);
	return *kp ? 0 : -ENOMEM;
}

/* A message of a segment; @puts: a leaf's layer 0, which has no deletes. */
static struct betrkv_msg *nf_get_msg(struct nf_cur *c, bool puts, int *err)
{
	struct nf_msg *h = nf_take(c, sizeof(*h));
	u32 klen, vlen;
	const u8 *data;

	*err = -EUCLEAN;
	if (!h || h->pad || (h->type != BETRKV_OP_PUT &&
			     (puts || h->type != BETRKV_OP_DEL)))
		return NULL;
	klen = le16_to_cpu(h->klen);
	vlen = le32_to_cpu(h->vlen);
	if (!klen || klen > BETRKV_KEY_MAX || vlen > BETRKV_VALUE_MAX ||
	    (h->type == BETRKV_OP_DEL && vlen))
		return NULL;
	data = nf_take(c, klen + vlen);
	if (!data)
		return NULL;
	*err = 0;
	return betrkv_msg_new(h->type, data, klen, data + klen, vlen) ?:
	       (*err = -ENOMEM, NULL);
}

/**
 * betrkv_node_hdr_len() - the header length a node's header block announces.
 * @hdr: the BETRKV_BLOCK_SIZE bytes at @hdr_off
 * @len: the node's length (what the indirection table records)
 * @hdr_off: where in it the header starts
 * @hdr_len: receives the header length; the header ends within @len
 *
 * Return: 0, or -EUCLEAN if the length cannot be right.
 */
int betrkv_node_hdr_len(const u8 *hdr, u32 len, u32 hdr_off, u32 *hdr_len)
{
	const struct nf_hdr *h = (const struct nf_hdr *)hdr;

	if (len < BETRKV_BLOCK_SIZE || hdr_off > len - BETRKV_BLOCK_SIZE)
		return -EUCLEAN;
	*hdr_len = le32_to_cpu(h->hdr_len);
	return *hdr_len < sizeof(*h) || *hdr_len > len - hdr_off ? -EUCLEAN : 0;
}

static int nf_hdr_fields(const struct nf_hdr *raw, u32 len, u64 id,
			 struct betrkv_node_hdr *h)
{
	u32 most;

	h->id = le64_to_cpu(raw->id);
	h->height = le32_to_cpu(raw->height);
	h->nchildren = le32_to_cpu(raw->nchildren);
	h->nsegs = le32_to_cpu(raw->nsegs);
	h->nlayers = le16_to_cpu(raw->nlayers);
	h->hdr_len = le32_to_cpu(raw->hdr_len);
	h->total_len = le32_to_cpu(raw->total_len);
	h->flags = le16_to_cpu(raw->flags);
	if (h->id != id || h->total_len != len || h->height > BETRKV_HEIGHT_MAX ||
	    h->flags & ~NF_LIMIT || (h->height && h->flags) ||
	    h->nlayers > BETRKV_NODE_LAYERS_MAX ||
	    !h->nsegs != !h->nlayers)
		return -EUCLEAN;
	if (h->height) {
		most = h->nlayers * h->nchildren;
		return h->nchildren < 1 || h->nchildren > BETRKV_FANOUT_MAX ||
		       h->nsegs > most ? -EUCLEAN : 0;
	}
	most = h->nlayers * BETRKV_LEAF_RUNS_MAX;
	return h->nchildren || h->nsegs > most ? -EUCLEAN : 0;
}

/* One allocation: the header, then children, bounds, segments, layers. */
static struct betrkv_node_hdr *nf_hdr_alloc(const struct betrkv_node_hdr *f)
{
	u32 nbounds = f->height ? f->nchildren - 1 : f->nsegs;
	struct betrkv_node_hdr *h;

	h = kzalloc(sizeof(*h) + f->nchildren * sizeof(*h->children) +
		    max(nbounds, 1u) * sizeof(*h->bounds) +
		    f->nsegs * sizeof(*h->segs) +
		    (f->nlayers + 1) * sizeof(*h->layer_start), GFP_KERNEL);
	if (!h)
		return NULL;
	*h = *f;
	h->children = (u64 *)(h + 1);
	h->bounds = (struct betrkv_pivot **)(h->children + f->nchildren);
	h->segs = (struct betrkv_seg_ref *)(h->bounds + max(nbounds, 1u));
	h->layer_start = (u32 *)(h->segs + f->nsegs);
	return h;
}

static u32 nf_nbounds(const struct betrkv_node_hdr *h)
{
	return h->height ? h->nchildren - 1 : h->nsegs;
}

/* Every segment's filter, sized by its messages. */
static int nf_get_blooms(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	u32 s, total = 0;
	const u8 *p;

	for (s = 0; s < h->nsegs; s++) {
		h->segs[s].bloom_off = total;
		h->segs[s].bloom_len = betrkv_bloom_bytes(h->segs[s].nmsgs);
		total += h->segs[s].bloom_len;
	}
	p = nf_take(c, total);
	if (!p)
		return -EUCLEAN;
	h->blooms = kmalloc(max(total, 1u), GFP_KERNEL);
	if (!h->blooms)
		return -ENOMEM;
	memcpy(h->blooms, p, total);
	return 0;
}

/* Children are real and distinct, other than the node itself. */
static int nf_get_children(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	const void *p;
	__le64 child;
	u32 i, j;

	for (i = 0; i < h->nchildren; i++) {
		p = nf_take(c, sizeof(child));
		if (!p)
			return -EUCLEAN;
		memcpy(&child, p, sizeof(child));
		h->children[i] = le64_to_cpu(child);
		if (!h->children[i] || h->children[i] == h->id)
			return -EUCLEAN;
		/* Two slots of one node never share a child. */
		for (j = 0; j < i; j++)
			if (h->children[j] == h->children[i])
				return -EUCLEAN;
	}
	return 0;
}

/* The segment table; bounded here, placed by nf_check_segs(). */
static int nf_get_segs(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	const struct nf_seg *segs = nf_take(c, h->nsegs * sizeof(*segs));
	struct betrkv_seg_ref *r;
	u32 i;

	if (!segs)
		return -EUCLEAN;
	for (i = 0; i < h->nsegs; i++) {
		r = &h->segs[i];
		r->off = le32_to_cpu(segs[i].off);
		r->len = le32_to_cpu(segs[i].len);
		r->nmsgs = le32_to_cpu(segs[i].nmsgs);
		r->csum = le32_to_cpu(segs[i].csum);
		r->layer = le16_to_cpu(segs[i].layer);
		r->child = le16_to_cpu(segs[i].child);
		/* A message takes more than BETRKV_MSG_OVERHEAD bytes. */
		if (r->len > h->total_len || !r->nmsgs ||
		    r->nmsgs > r->len / (BETRKV_MSG_OVERHEAD + 1))
			return -EUCLEAN;
	}
	return 0;
}

/* Keys in @b[0..n) rise strictly. */
static bool nf_keys_rise(struct betrkv_pivot *const *b, u32 n)
{
	u32 i;

	for (i = 1; i < n; i++)
		if (betrkv_key_cmp(b[i - 1]->key, b[i - 1]->len,
				   b[i]->key, b[i]->len) >= 0)
			return false;
	return true;
}

static int nf_get_tables(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	u32 nbounds = nf_nbounds(h), i;
	int err;

	err = nf_get_children(c, h);
	for (i = 0; !err && h->height && i < nbounds; i++)
		err = nf_get_key(c, &h->bounds[i]);
	err = err ?: nf_get_segs(c, h);
	for (i = 0; !err && !h->height && i < nbounds; i++)
		err = nf_get_key(c, &h->bounds[i]);
	if (!err && h->flags & NF_LIMIT)
		err = nf_get_key(c, &h->limit);
	err = err ?: nf_get_blooms(c, h);
	if (err)
		return err;
	if (h->height && !nf_keys_rise(h->bounds, nbounds))
		return -EUCLEAN;
	/* A run that starts at the limit or above would hold nothing alive. */
	for (i = 0; h->limit && i < nbounds; i++)
		if (nf_pivot_cmp(h->bounds[i], h->limit) >= 0)
			return -EUCLEAN;
	return c->left ? -EUCLEAN : 0;
}

/*
 * Layers rise from 0 with none empty; within one, an internal node's
 * children rise, a leaf's first keys rise.  Offsets rise without overlap
 * and keep clear of the header.
 */
static int nf_check_segs(struct betrkv_node_hdr *h)
{
	u32 s, l = 0, end = 0, hdr_end = h->hdr_off + h->hdr_len;
	const struct betrkv_seg_ref *r, *prev = NULL;

	for (s = 0; s < h->nsegs; s++, prev = r) {
		r = &h->segs[s];
		if (!prev || r->layer != prev->layer) {
			if (r->layer != (prev ? prev->layer + 1 : 0))
				return -EUCLEAN;
			h->layer_start[l++] = s;
		} else if (h->height ? r->child <= prev->child :
			   !nf_keys_rise(&h->bounds[s - 1], 2)) {
			return -EUCLEAN;
		}
		if ((h->height ? r->child >= h->nchildren : r->child) ||
		    r->off < end || r->off > h->total_len ||
		    r->len > h->total_len - r->off ||
		    (r->off < hdr_end && r->off + r->len > h->hdr_off))
			return -EUCLEAN;
		end = r->off + r->len;
	}
	if (l != h->nlayers)
		return -EUCLEAN;
	h->layer_start[l] = h->nsegs;
	return 0;
}

/**
 * betrkv_node_hdr_decode() - check and parse a node's header alone.
 * @hdr: the header's bytes, as many as betrkv_node_hdr_len() said
 * @len: the node's length (what the indirection table records)
 * @hdr_off: where in it the header starts
 * @uuid: the store's UUID
 * @blocknr: the block the node's slot starts at
 * @id: the node ID the indirection table maps there
 * @hp: receives the header (free it with betrkv_node_hdr_free())
 * @why: receives a static reason on failure
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_hdr_decode(const u8 *hdr, u32 len, u32 hdr_off,
			   const u8 uuid[16], u64 blocknr, u64 id,
			   struct betrkv_node_hdr **hp, const char **why)
{
	struct betrkv_node_hdr fields = { .hdr_off = hdr_off }, *h;
	struct nf_cur c;
	u32 hdr_len;
	int err;

	*why = "malformed header";
	if (betrkv_node_hdr_len(hdr, len, hdr_off, &hdr_len) ||
	    hdr_off % BETRKV_BLOCK_SIZE)
		return -EUCLEAN;
	if (betrkv_block_check(hdr, hdr_len, BETRKV_BLOCK_NODE,
			       blocknr + hdr_off / BETRKV_BLOCK_SIZE, uuid, why))
		return -EUCLEAN;
	*why = "bad node header fields";
	if (nf_hdr_fields((const struct nf_hdr *)hdr, len, id, &fields))
		return -EUCLEAN;
	h = nf_hdr_alloc(&fields);
	if (!h)
		return -ENOMEM;
	c = (struct nf_cur){ .p = (u8 *)hdr + sizeof(struct nf_hdr),
			     .left = hdr_len - sizeof(struct nf_hdr) };
	*why = "bad node header tables";
	err = nf_get_tables(&c, h) ?: nf_check_segs(h);
	if (err) {
		betrkv_node_hdr_free(h);
		return err;
	}
	*hp = h;
	return 0;
}

/**
 * betrkv_node_hdr_check() - whether a node's header is what its parent says.
 * @h: the header
 * @x: what the parent says: the node's height and key range
 * @why: receives a static reason on failure
 *
 * The keys a header holds are checked: an internal node's pivots, a leaf's
 * first key of every run.  Segments are checked as they are decoded.
 *
 * Return: 0, or -EUCLEAN if the header contradicts @x.
 */
int betrkv_node_hdr_check(const struct betrkv_node_hdr *h,
			  const struct betrkv_expect *x, const char **why)
{
	u32 nbounds = nf_nbounds(h), i;

	*why = "height is not its parent's minus one";
	if (h->height != x->height)
		return -EUCLEAN;
	*why = "keys outside the range its parent gives it";
	for (i = 0; i < nbounds; i++)
		if (!betrkv_range_holds(&x->range, h->bounds[i]->key,
					h->bounds[i]->len))
			return -EUCLEAN;
	return betrkv_node_hdr_check_limit(h, &x->range, why);
}

/**
 * betrkv_node_hdr_check_limit() - whether a leaf's limit lies past its range.
 * @h: the header of the leaf's copy on disk
 * @r: the range its parent gives it
 * @why: receives a static reason on failure
 *
 * A split leaves its left half a limit at the split key, which is also
 * where the half's range ends: keys from the limit on are dead.  A limit
 * inside @r would drop keys that the parent routes to the leaf.
 *
 * Return: 0, or -EUCLEAN if the limit lies in @r.
 */
int betrkv_node_hdr_check_limit(const struct betrkv_node_hdr *h,
				const struct betrkv_range *r, const char **why)
{
	*why = "its limit lies inside the range its parent gives it";
	if (h->limit && (!r->hi || betrkv_key_cmp(h->limit->key, h->limit->len,
						  r->hi, r->hilen) < 0))
		return -EUCLEAN;
	return 0;
}

void betrkv_node_hdr_free(struct betrkv_node_hdr *h)
{
	u32 i;

	if (!h)
		return;
	for (i = 0; i < nf_nbounds(h); i++)
		kfree(h->bounds[i]);
	kfree(h->limit);
	kfree(h->blooms);
	kfree(h);
}

/* Memory the header takes. */
u64 betrkv_node_hdr_mem(const struct betrkv_node_hdr *h)
{
	u32 nbounds = nf_nbounds(h), i;
	u64 mem = sizeof(*h) + h->nchildren * sizeof(*h->children) +
		  nbounds * sizeof(*h->bounds) + h->nsegs * sizeof(*h->segs) +
		  (h->nlayers + 1) * sizeof(*h->layer_start);

	for (i = 0; i < nbounds; i++)
		if (h->bounds[i])
			mem += sizeof(*h->bounds[i]) + h->bounds[i]->len;
	if (h->limit)
		mem += sizeof(*h->limit) + h->limit->len;
	for (i = 0; i < h->nsegs; i++)
		mem += h->segs[i].bloom_len;
	return mem;
}

/**
 * betrkv_node_hdr_child() - the child of an internal node @key routes to.
 * @h: the header
 * @key: the key
 * @klen: its length
 *
 * Return: the child's index.
 */
u32 betrkv_node_hdr_child(const struct betrkv_node_hdr *h, const u8 *key,
			  u32 klen)
{
	return betrkv_pivots_index(h->bounds, h->nchildren - 1, key, klen);
}

/**
 * betrkv_node_hdr_route() - the segment of a layer that may hold @key.
 * @h: the header
 * @layer: the layer, below @h->nlayers
 * @key: the key
 * @klen: its length
 *
 * Return: the segment's index, or -1 if no segment of @layer can hold @key.
 */
int betrkv_node_hdr_route(const struct betrkv_node_hdr *h, u32 layer,
			  const u8 *key, u32 klen)
{
	u32 lo = h->layer_start[layer], n = h->layer_start[layer + 1] - lo, s, c;

	if (h->height) {
		c = betrkv_node_hdr_child(h, key, klen);
		for (s = lo; s < lo + n; s++)
			if (h->segs[s].child == c)
				return s;
		return -1;
	}
	if (betrkv_key_cmp(key, klen, h->bounds[lo]->key, h->bounds[lo]->len) < 0)
		return -1;
	return lo + betrkv_pivots_index(h->bounds + lo + 1, n - 1, key, klen);
}

/**
 * betrkv_node_hdr_may_hold() - may segment @s hold a message for @key?
 * @h: the header
 * @s: a segment index from betrkv_node_hdr_route()
 * @key: the key
 * @klen: its length
 *
 * Return: false if the segment's Bloom filter rules @key out.
 */
bool betrkv_node_hdr_may_hold(const struct betrkv_node_hdr *h, u32 s,
			      const u8 *key, u32 klen)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];

	return betrkv_bloom_test(h->blooms + ref->bloom_off, ref->bloom_len,
				 key, klen);
}

/*
 * Keys of segment @s lie in [lo, hi) and rise strictly; a leaf's run starts
 * with its key in the header.
 */
static void nf_seg_range(const struct betrkv_node_hdr *h, u32 s,
			 const struct betrkv_pivot **lo,
			 const struct betrkv_pivot **hi)
{
	const struct betrkv_seg_ref *r = &h->segs[s];

	if (h->height) {
		*lo = r->child ? h->bounds[r->child - 1] : NULL;
		*hi = r->child + 1 < h->nchildren ? h->bounds[r->child] : NULL;
	} else {
		*lo = h->bounds[s];
		*hi = s + 1 < h->layer_start[r->layer + 1] ? h->bounds[s + 1] : NULL;
	}
}

static bool nf_in_range(const struct betrkv_msg *m, const struct betrkv_pivot *lo,
			const struct betrkv_pivot *hi)
{
	return (!lo || betrkv_msg_cmp(m, lo->key, lo->len) >= 0) &&
	       (!hi || betrkv_msg_cmp(m, hi->key, hi->len) < 0);
}

/* The segment's filter is exactly that of the keys decoded into @b from @first. */
static int nf_check_bloom(const struct betrkv_node_hdr *h, u32 s,
			  const struct betrkv_msgbuf *b, u32 first)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];
	u8 *bits = kzalloc(max(ref->bloom_len, 1u), GFP_KERNEL);
	int err = 0;
	u32 i;

	if (!bits)
		return -ENOMEM;
	for (i = first; i < b->n; i++)
		betrkv_bloom_add(bits, ref->bloom_len, b->msgs[i]->data,
				 b->msgs[i]->klen);
	if (memcmp(bits, h->blooms + ref->bloom_off, ref->bloom_len))
		err = -EUCLEAN;
	kfree(bits);
	return err;
}

/* Free the messages of @b from @limit on (they sort last). */
static void nf_drop_dead(struct betrkv_msgbuf *b,
			 const struct betrkv_pivot *limit)
{
	struct betrkv_msg *m;

	while (b->n && betrkv_msg_cmp(b->msgs[b->n - 1], limit->key,
				      limit->len) >= 0) {
		m = b->msgs[--b->n];
		b->bytes -= betrkv_msg_weight(m);
		kfree(m);
	}
}

/**
 * betrkv_node_seg_decode() - check and parse one segment of a node.
 * @h: the node's header
 * @uuid: the store's UUID
 * @s: the segment's index, below @h->nsegs
 * @seg: its @h->segs[s].len bytes
 * @out: the messages are appended here; they must sort after any there
 *
 * A leaf's messages from its limit on are checked, then dropped.
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_seg_decode(const struct betrkv_node_hdr *h, const u8 uuid[16],
			   u32 s, const u8 *seg, struct betrkv_msgbuf *out)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];
	struct nf_cur c = { .p = (u8 *)seg, .left = ref->len };
	bool puts = !h->height && !ref->layer;
	const struct betrkv_pivot *lo, *hi;
	struct betrkv_msg *m, *prev;
	u32 i, first = out->n;
	int err;

	if (ref->csum != nf_seg_csum(uuid, h->id, ref->off, seg, ref->len))
		return -EUCLEAN;
	nf_seg_range(h, s, &lo, &hi);
	for (i = 0; i < ref->nmsgs; i++) {
		m = nf_get_msg(&c, puts, &err);
		if (!m)
			return err;
		prev = out->n ? out->msgs[out->n - 1] : NULL;
		if ((prev && betrkv_msg_cmp(prev, m->data, m->klen) >= 0) ||
		    !nf_in_range(m, lo, hi)) {
			kfree(m);
			return -EUCLEAN;
		}
		err = betrkv_msgbuf_append(out, m);
		if (err)
			return err;
	}
	if (c.left || (!h->height &&
		       betrkv_msg_cmp(out->msgs[first], lo->key, lo->len)))
		return -EUCLEAN;
	err = nf_check_bloom(h, s, out, first);
	if (!err && h->limit)
		nf_drop_dead(out, h->limit);
	return err;
}

/*
 * A whole write: the header at 0, one layer of segments right after it,
 * then zeros.
 */
static int nf_check_whole(const u8 *buf, const struct betrkv_node_hdr *h)
{
	u32 s, end = h->hdr_len;

	if (h->hdr_off)
		return 0;
	if (h->nlayers > 1)
		return -EUCLEAN;
	for (s = 0; s < h->nsegs; s++) {
		if (h->segs[s].off != end)
			return -EUCLEAN;
		end += h->segs[s].len;
	}
	for (; end < h->total_len; end++)
		if (buf[end])
			return -EUCLEAN;
	return 0;
}

/*
 * Layer @l of @h into @n, where the newer messages replace the older: each
 * segment into its child's buffer, or all the runs into the leaf's entries.
 */
static int nf_layer_into(const struct betrkv_node_hdr *h, const u8 *buf,
			 const u8 uuid[16], u32 l, struct betrkv_node *n)
{
	u32 s, end = h->layer_start[l + 1];
	struct betrkv_msgbuf layer;
	int err = 0;

	betrkv_msgbuf_init(&layer);
	for (s = h->layer_start[l]; !err && s < end; s++) {
		err = betrkv_node_seg_decode(h, uuid, s, buf + h->segs[s].off,
					     &layer);
		if (!err && h->height)
			err = betrkv_msgbuf_apply(&n->bufs[h->segs[s].child],
						  &layer, false);
	}
	if (!err && !h->height)
		err = betrkv_msgbuf_apply(&n->entries, &layer, true);
	betrkv_msgbuf_free(&layer);
	return err;
}

/**
 * betrkv_node_build() - the node a checked header describes.
 * @h: the header, from betrkv_node_hdr_decode(); an internal node's pivots
 *     move from it to the node
 * @buf: the node's bytes from the start of its slot, @h->total_len of them
 * @uuid: the store's UUID
 * @np: receives the node; its messages are on_disk
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_build(struct betrkv_node_hdr *h, const u8 *buf,
		      const u8 uuid[16], struct betrkv_node **np)
{
	struct betrkv_node *n;
	u32 l, s;
	int err;

	err = nf_check_whole(buf, h);
	if (err)
		return err;
	n = betrkv_node_alloc(h->id, h->height);
	if (!n)
		return -ENOMEM;
	if (h->height) {
		n->nchildren = h->nchildren;
		memcpy(n->children, h->children, h->nchildren * sizeof(*n->children));
	}
	for (l = 0; !err && l < h->nlayers; l++)
		err = nf_layer_into(h, buf, uuid, l, n);
	if (err) {
		betrkv_node_free(n);
		return err;
	}
	betrkv_node_written(n);
	/* The pivots bound the segments above: take them only now. */
	for (s = 0; h->height && s + 1 < h->nchildren; s++) {
		n->pivots[s] = h->bounds[s];
		h->bounds[s] = NULL;
	}
	*np = n;
	return 0;
}

/**
 * betrkv_node_decode() - check and parse a whole node read from disk.
 * @buf: the bytes read: the node's slot from its start
 * @len: how many (the length the indirection table records)
 * @hdr_off: where the header starts (what the indirection table records)
 * @uuid: the store's UUID
 * @blocknr: the block they were read from
 * @id: the node ID the indirection table maps there
 * @np: receives the node
 * @why: receives a static reason on failure
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_decode(const u8 *buf, u32 len, u32 hdr_off, const u8 uuid[16],
		       u64 blocknr, u64 id, struct betrkv_node **np,
		       const char **why)
{
	struct betrkv_node_hdr *h;
	int err;

	*why = "malformed header";
	if (hdr_off >= len)
		return -EUCLEAN;
	err = betrkv_node_hdr_decode(buf + hdr_off, len, hdr_off, uuid, blocknr,
				     id, &h, why);
	if (err)
		return err;
	*why = "bad node contents";
	err = betrkv_node_build(h, buf, uuid, np);
	betrkv_node_hdr_free(h);
	return err;
}
