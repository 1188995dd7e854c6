// SPDX-License-Identifier: GPL-2.0
/*
 * The on-disk format of tree nodes: see nodefmt.h.  Little-endian.
 *
 *   struct nf_hdr
 *   internal: __le64 children[nchildren]; nchildren - 1 pivots
 *   struct nf_seg segs[nsegs]
 *   leaf: the first key of each segment
 *   (header ends: hdr_len) segment bytes ... zero padding to total_len
 *
 * A key (pivot or first key) is __le16 length + bytes; a message is
 * struct nf_msg + key + value.
 */
#include "block.h"
#include "nodefmt.h"

struct nf_hdr {
	struct betrkv_block_header blk;
	__le64 id;
	__le32 height;
	__le32 nchildren;
	__le32 hdr_len;
	__le32 total_len;
	__le32 nsegs;
	__le32 pad;
} __packed;

struct nf_seg {
	__le32 off;
	__le32 len;
	__le32 nmsgs;
	__le32 csum;
} __packed;

struct nf_msg {
	u8 type;
	u8 pad;
	__le16 klen;
	__le32 vlen;
} __packed;

/* Salt of a segment's checksum. */
struct nf_seg_salt {
	u8 uuid[16];
	__le64 id;
	__le32 index;
} __packed;

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

static u32 nf_seg_csum(const u8 uuid[16], u64 id, u32 index, const u8 *seg,
		       u32 len)
{
	struct nf_seg_salt salt = { .id = cpu_to_le64(id),
				    .index = cpu_to_le32(index) };

	memcpy(salt.uuid, uuid, sizeof(salt.uuid));
	return betrkv_crc32c(&salt, sizeof(salt), seg, len);
}

/* ---- encoding ---- */

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

/* Leaf runs: [starts[s], starts[s + 1]) of the entries, each >= RUN bytes. */
static u32 leaf_runs(const struct betrkv_msgbuf *b, u32 *starts, u32 max)
{
	u32 i, nsegs = 0;
	u64 acc = 0;

	for (i = 0; i < b->n; i++) {
		if (!nsegs || (acc >= BETRKV_LEAF_RUN_BYTES && nsegs < max)) {
			starts[nsegs++] = i;
			acc = 0;
		}
		acc += betrkv_msg_weight(b->msgs[i]);
	}
	starts[nsegs] = b->n;
	return nsegs;
}

/* The messages of segment @s: a child's buffer, or a run of the leaf. */
static void seg_msgs(const struct betrkv_node *n, const u32 *starts, u32 s,
		     struct betrkv_msg *const **msgs, u32 *count)
{
	if (betrkv_node_is_leaf(n)) {
		*msgs = &n->entries.msgs[starts[s]];
		*count = starts[s + 1] - starts[s];
	} else {
		*msgs = n->bufs[s].msgs;
		*count = n->bufs[s].n;
	}
}

static u32 nf_hdr_len(const struct betrkv_node *n, const u32 *starts, u32 nsegs)
{
	u32 len = sizeof(struct nf_hdr) + nsegs * sizeof(struct nf_seg), i;

	if (betrkv_node_is_leaf(n)) {
		for (i = 0; i < nsegs; i++)
			len += 2 + n->entries.msgs[starts[i]]->klen;
		return len;
	}
	len += n->nchildren * sizeof(__le64);
	for (i = 0; i + 1 < n->nchildren; i++)
		len += 2 + n->pivots[i]->len;
	return len;
}

static u32 nf_body_len(const struct betrkv_node *n)
{
	u64 len = betrkv_node_is_leaf(n) ? n->entries.bytes : 0;
	u32 i;

	for (i = 0; !betrkv_node_is_leaf(n) && i < n->nchildren; i++)
		len += n->bufs[i].bytes;
	return len;
}

static void nf_put_segs(const struct betrkv_node *n, const u8 uuid[16],
			const u32 *starts, u32 nsegs, struct nf_cur *c,
			u32 hdr_len, struct nf_seg *segs)
{
	struct betrkv_msg *const *msgs;
	u32 s, i, count, off = hdr_len;
	u8 *start;

	for (s = 0; s < nsegs; s++) {
		seg_msgs(n, starts, s, &msgs, &count);
		start = c->p;
		for (i = 0; i < count; i++)
			nf_put_msg(c, msgs[i]);
		segs[s].off = cpu_to_le32(off);
		segs[s].len = cpu_to_le32(c->p - start);
		segs[s].nmsgs = cpu_to_le32(count);
		segs[s].csum = cpu_to_le32(nf_seg_csum(uuid, n->id, s, start,
						       c->p - start));
		off += c->p - start;
	}
}

/**
 * betrkv_node_encode() - serialize a node.
 * @n: the node
 * @uuid: the store's UUID
 * @blocknr: the block it will be written at
 * @buf: the output, @cap bytes
 * @cap: room at @buf, a multiple of BETRKV_BLOCK_SIZE
 * @len: receives the bytes to write (a multiple of BETRKV_BLOCK_SIZE)
 *
 * Return: 0, or -EFBIG if the node does not fit in @cap bytes.
 */
int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len)
{
	u32 starts[BETRKV_NODE_SLOTS + 1], nsegs, hdr_len, total, i;
	struct nf_cur c = { .p = buf, .left = cap };
	struct nf_hdr *h;
	struct nf_seg *segs;
	__le64 child;

	nsegs = betrkv_node_is_leaf(n) ?
		leaf_runs(&n->entries, starts, BETRKV_NODE_SLOTS) : n->nchildren;
	hdr_len = nf_hdr_len(n, starts, nsegs);
	total = ALIGN(hdr_len + nf_body_len(n), BETRKV_BLOCK_SIZE);
	if (total > cap)
		return -EFBIG;
	memset(buf, 0, total);
	h = nf_take(&c, sizeof(*h));
	h->id = cpu_to_le64(n->id);
	h->height = cpu_to_le32(n->height);
	h->nchildren = cpu_to_le32(n->nchildren);
	h->hdr_len = cpu_to_le32(hdr_len);
	h->total_len = cpu_to_le32(total);
	h->nsegs = cpu_to_le32(nsegs);
	for (i = 0; i < n->nchildren; i++) {
		child = cpu_to_le64(n->children[i]);
		memcpy(nf_take(&c, sizeof(child)), &child, sizeof(child));
	}
	for (i = 0; i + 1 < n->nchildren; i++)
		nf_put_key(&c, n->pivots[i]->key, n->pivots[i]->len);
	segs = nf_take(&c, nsegs * sizeof(*segs));
	for (i = 0; betrkv_node_is_leaf(n) && i < nsegs; i++)
		nf_put_key(&c, n->entries.msgs[starts[i]]->data,
			   n->entries.msgs[starts[i]]->klen);
	nf_put_segs(n, uuid, starts, nsegs, &c, hdr_len, segs);
	betrkv_block_seal(buf, hdr_len, BETRKV_BLOCK_NODE, blocknr, uuid);
	*len = total;
	return 0;
}

/* ---- decoding: everything from disk is bounded before use ---- */

struct nf_key {
	const u8 *key;
	u32 len;
};

static int nf_get_key(struct nf_cur *c, struct nf_key *k)
{
	const void *p = nf_take(c, sizeof(__le16));
	__le16 l;

	if (!p)
		return -EUCLEAN;
	memcpy(&l, p, sizeof(l));	/* keys lie at any byte offset */
	k->len = le16_to_cpu(l);
	k->key = nf_take(c, k->len);
	return k->key && k->len && k->len <= BETRKV_KEY_MAX ? 0 : -EUCLEAN;
}

static struct betrkv_msg *nf_get_msg(struct nf_cur *c, bool leaf, int *err)
{
	struct nf_msg *h = nf_take(c, sizeof(*h));
	u32 klen, vlen;
	const u8 *data;

	*err = -EUCLEAN;
	if (!h || h->pad || (h->type != BETRKV_OP_PUT &&
			     (leaf || h->type != BETRKV_OP_DEL)))
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

/* Keys of segment @s must lie in [lo, hi) and rise strictly. */
static int nf_get_seg(const u8 *buf, const struct nf_seg *seg, u32 s,
		      const u8 uuid[16], u64 id, bool leaf,
		      struct betrkv_msgbuf *out, const struct nf_key *lo,
		      const struct nf_key *hi)
{
	u32 off = le32_to_cpu(seg->off), len = le32_to_cpu(seg->len);
	u32 nmsgs = le32_to_cpu(seg->nmsgs), i;
	struct nf_cur c = { .p = (u8 *)buf + off, .left = len };
	struct betrkv_msg *m, *prev;
	int err;

	if (le32_to_cpu(seg->csum) != nf_seg_csum(uuid, id, s, c.p, len))
		return -EUCLEAN;
	for (i = 0; i < nmsgs; i++) {
		m = nf_get_msg(&c, leaf, &err);
		if (!m)
			return err;
		prev = out->n ? out->msgs[out->n - 1] : NULL;
		if ((prev && betrkv_msg_cmp(prev, m->data, m->klen) >= 0) ||
		    (lo->key && betrkv_msg_cmp(m, lo->key, lo->len) < 0) ||
		    (hi->key && betrkv_msg_cmp(m, hi->key, hi->len) >= 0)) {
			kfree(m);
			return -EUCLEAN;
		}
		err = betrkv_msgbuf_append(out, m);
		if (err)
			return err;
	}
	return c.left ? -EUCLEAN : 0;
}

/*
 * Segments lie in order right after the header, without gaps or overlap,
 * and only zeros follow the last one: the encoding is canonical.
 */
static int nf_check_segs(const u8 *buf, const struct nf_seg *segs, u32 nsegs,
			 u32 hdr_len, u32 total)
{
	u32 s, end = hdr_len;

	for (s = 0; s < nsegs; s++) {
		u32 off = le32_to_cpu(segs[s].off), len = le32_to_cpu(segs[s].len);

		if (off != end || len > total - off)
			return -EUCLEAN;
		end = off + len;
	}
	for (; end < total; end++)
		if (buf[end])
			return -EUCLEAN;
	return 0;
}

static int nf_get_internal(struct betrkv_node *n, struct nf_cur *c,
			   struct nf_key *pivots)
{
	const void *p;
	__le64 child;
	u32 i;

	for (i = 0; i < n->nchildren; i++) {
		p = nf_take(c, sizeof(child));
		if (!p)
			return -EUCLEAN;
		memcpy(&child, p, sizeof(child));
		n->children[i] = le64_to_cpu(child);
		if (!n->children[i])
			return -EUCLEAN;
	}
	for (i = 0; i + 1 < n->nchildren; i++) {
		if (nf_get_key(c, &pivots[i]) ||
		    (i && betrkv_key_cmp(pivots[i - 1].key, pivots[i - 1].len,
					 pivots[i].key, pivots[i].len) >= 0))
			return -EUCLEAN;
		n->pivots[i] = betrkv_pivot_new(pivots[i].key, pivots[i].len);
		if (!n->pivots[i])
			return -ENOMEM;
	}
	return 0;
}

static int nf_get_body(struct betrkv_node *n, const u8 *buf, struct nf_cur *c,
		       u32 nsegs, const u8 uuid[16], struct nf_key *keys)
{
	const struct nf_seg *segs = nf_take(c, nsegs * sizeof(*segs));
	bool leaf = betrkv_node_is_leaf(n);
	struct nf_key none = { 0 };
	u32 s, first;
	int err;

	if (!segs)
		return -EUCLEAN;
	for (s = 0; leaf && s < nsegs; s++)
		if (nf_get_key(c, &keys[s]))
			return -EUCLEAN;
	if (c->left || nf_check_segs(buf, segs, nsegs,
				     le32_to_cpu(((struct nf_hdr *)buf)->hdr_len),
				     le32_to_cpu(((struct nf_hdr *)buf)->total_len)))
		return -EUCLEAN;
	for (s = 0; s < nsegs; s++) {
		first = n->entries.n;
		err = leaf ?
		      nf_get_seg(buf, &segs[s], s, uuid, n->id, true, &n->entries,
				 &none, &none) :
		      nf_get_seg(buf, &segs[s], s, uuid, n->id, false, &n->bufs[s],
				 s ? &keys[s - 1] : &none,
				 s + 1 < nsegs ? &keys[s] : &none);
		if (err)
			return err;
		if (leaf && (n->entries.n == first ||
			     betrkv_msg_cmp(n->entries.msgs[first], keys[s].key,
					    keys[s].len)))
			return -EUCLEAN;
	}
	return 0;
}

/**
 * betrkv_node_decode() - check and parse a node read from disk.
 * @buf: the bytes read
 * @len: how many (the length the indirection table records)
 * @uuid: the store's UUID
 * @blocknr: the block they were read from
 * @id: the node ID the indirection table maps there
 * @np: receives the node
 * @why: receives a static reason on failure
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_decode(const u8 *buf, u32 len, const u8 uuid[16], u64 blocknr,
		       u64 id, struct betrkv_node **np, const char **why)
{
	const struct nf_hdr *h = (const struct nf_hdr *)buf;
	struct nf_key *keys = NULL;
	struct betrkv_node *n = NULL;
	u32 hdr_len, nsegs, nchildren, height;
	struct nf_cur c;
	int err = -EUCLEAN;

	*why = "malformed header";
	if (len < BETRKV_BLOCK_SIZE)
		return -EUCLEAN;
	hdr_len = le32_to_cpu(h->hdr_len);
	if (hdr_len < sizeof(*h) || hdr_len > len || le32_to_cpu(h->total_len) != len)
		return -EUCLEAN;
	if (betrkv_block_check(buf, hdr_len, BETRKV_BLOCK_NODE, blocknr, uuid, why))
		return -EUCLEAN;
	height = le32_to_cpu(h->height);
	nchildren = le32_to_cpu(h->nchildren);
	nsegs = le32_to_cpu(h->nsegs);
	*why = "bad node header fields";
	if (le64_to_cpu(h->id) != id || height > 64 || h->pad ||
	    (height ? nchildren < 1 || nchildren > BETRKV_FANOUT_MAX ||
		      nsegs != nchildren
		    : nchildren || nsegs > BETRKV_NODE_SLOTS))
		return -EUCLEAN;
	n = betrkv_node_alloc(id, height);
	keys = kcalloc(BETRKV_NODE_SLOTS, sizeof(*keys), GFP_KERNEL);
	err = -ENOMEM;
	if (!n || !keys)
		goto fail;
	n->nchildren = nchildren;
	c = (struct nf_cur){ .p = (u8 *)buf + sizeof(*h), .left = hdr_len - sizeof(*h) };
	*why = "bad node contents";
	err = height ? nf_get_internal(n, &c, keys) : 0;
	if (!err)
		err = nf_get_body(n, buf, &c, nsegs, uuid, keys);
	if (err)
		goto fail;
	kfree(keys);
	*np = n;
	return 0;
fail:
	kfree(keys);
	betrkv_node_free(n);
	return err;
}
