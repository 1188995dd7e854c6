// SPDX-License-Identifier: GPL-2.0
/*
 * The on-disk format of tree nodes: see nodefmt.h.  Little-endian.
 *
 *   struct nf_hdr
 *   internal: __le64 children[nchildren]; nchildren - 1 pivots
 *   struct nf_seg segs[nsegs]
 *   leaf: the first key of each segment
 *   internal: the Bloom filter of each segment's keys, of
 *	       betrkv_bloom_bytes(nmsgs) bytes
 *   (header ends: hdr_len) segment bytes ... zero padding to total_len
 *
 * A key (pivot or first key) is __le16 length + bytes; a message is
 * struct nf_msg + key + value.
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
	for (i = 0; i < n->nchildren; i++)
		len += betrkv_bloom_bytes(n->bufs[i].n);
	for (i = 0; i + 1 < n->nchildren; i++)
		len += 2 + n->pivots[i]->len;
	return len;
}

/* The Bloom filter of a child buffer's keys (@c's bytes are zeroed). */
static void nf_put_bloom(struct nf_cur *c, const struct betrkv_msgbuf *b)
{
	u32 nbytes = betrkv_bloom_bytes(b->n), i;
	u8 *bits = nf_take(c, nbytes);

	for (i = 0; i < b->n; i++)
		betrkv_bloom_add(bits, nbytes, b->msgs[i]->data, b->msgs[i]->klen);
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
 * The node is first checked as betrkv_node_decode() would check it: the
 * encoder never writes what the decoder rejects.
 *
 * Return: 0, -EFBIG if the node does not fit in @cap bytes, or -EUCLEAN
 * (with a warning: the tree made it) if the decoder would reject it.
 */
int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len)
{
	u32 starts[BETRKV_LEAF_RUNS_MAX + 1], nsegs, hdr_len, total, i;
	struct nf_cur c = { .p = buf, .left = cap };
	struct nf_hdr *h;
	struct nf_seg *segs;
	const char *why;
	__le64 child;

	/* The weights of node.h bound what the encoding takes. */
	BUILD_BUG_ON(sizeof(struct nf_hdr) > BETRKV_NODE_HDR_WEIGHT);
	BUILD_BUG_ON(sizeof(struct nf_seg) + sizeof(__le16) != BETRKV_LEAF_RUN_WEIGHT);
	BUILD_BUG_ON(sizeof(struct nf_msg) != BETRKV_MSG_OVERHEAD);
	if (WARN_ON_ONCE(betrkv_node_check_shape(n, &why))) {
		pr_err("node %llu not written: %s\n", n->id, why);
		return -EUCLEAN;
	}
	nsegs = betrkv_node_is_leaf(n) ?
		betrkv_leaf_runs(&n->entries, starts) : n->nchildren;
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
	for (i = 0; !betrkv_node_is_leaf(n) && i < nsegs; i++)
		nf_put_bloom(&c, &n->bufs[i]);
	nf_put_segs(n, uuid, starts, nsegs, &c, hdr_len, segs);
	betrkv_block_seal(buf, hdr_len, BETRKV_BLOCK_NODE, blocknr, uuid);
	*len = total;
	return 0;
}

/**
 * betrkv_node_csum() - the checksum an encoded node's header carries.
 * @buf: the node's first block
 *
 * The header's checksum covers its block number and every segment's
 * checksum, so it names this version of the node at this place: the
 * indirection table records it and reads compare it (a header that passes
 * its own check with another checksum is a stale or misdirected copy).
 *
 * Return: the checksum, as stored (not verified here).
 */
u32 betrkv_node_csum(const u8 *buf)
{
	return le32_to_cpu(((const struct nf_hdr *)buf)->blk.csum);
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

/**
 * betrkv_node_hdr_len() - the header length a node's first block announces.
 * @buf: the node's first BETRKV_BLOCK_SIZE bytes
 * @len: the node's length (what the indirection table records)
 * @hdr_len: receives the header length, at most @len
 *
 * Return: 0, or -EUCLEAN if the length cannot be right.
 */
int betrkv_node_hdr_len(const u8 *buf, u32 len, u32 *hdr_len)
{
	const struct nf_hdr *h = (const struct nf_hdr *)buf;

	if (len < BETRKV_BLOCK_SIZE)
		return -EUCLEAN;
	*hdr_len = le32_to_cpu(h->hdr_len);
	return *hdr_len < sizeof(*h) || *hdr_len > len ? -EUCLEAN : 0;
}

static int nf_hdr_fields(const struct nf_hdr *raw, u32 len, u64 id,
			 struct betrkv_node_hdr *h)
{
	u32 nchildren = le32_to_cpu(raw->nchildren);

	h->id = le64_to_cpu(raw->id);
	h->height = le32_to_cpu(raw->height);
	h->nsegs = le32_to_cpu(raw->nsegs);
	h->hdr_len = le32_to_cpu(raw->hdr_len);
	h->total_len = le32_to_cpu(raw->total_len);
	if (h->id != id || h->total_len != len || h->height > BETRKV_HEIGHT_MAX || raw->pad)
		return -EUCLEAN;
	if (h->height)
		return nchildren < 1 || nchildren > BETRKV_FANOUT_MAX ||
		       h->nsegs != nchildren ? -EUCLEAN : 0;
	return nchildren || h->nsegs > BETRKV_LEAF_RUNS_MAX ? -EUCLEAN : 0;
}

/* One allocation: the header, then children, bounds and segments. */
static struct betrkv_node_hdr *nf_hdr_alloc(u32 nsegs)
{
	struct betrkv_node_hdr *h;

	h = kzalloc(sizeof(*h) + nsegs * (sizeof(*h->children) +
					  sizeof(*h->bounds) + sizeof(*h->segs)),
		    GFP_KERNEL);
	if (!h)
		return NULL;
	h->children = (u64 *)(h + 1);
	h->bounds = (struct betrkv_pivot **)(h->children + nsegs);
	h->segs = (struct betrkv_seg_ref *)(h->bounds + nsegs);
	return h;
}

/* An internal node's filters, one per segment, sized by its messages. */
static int nf_get_blooms(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	u32 s, total = 0;
	const u8 *p;

	for (s = 0; s < h->nsegs; s++) {
		/* A message takes more than BETRKV_MSG_OVERHEAD bytes. */
		if (h->segs[s].len > h->total_len ||
		    h->segs[s].nmsgs > h->segs[s].len / (BETRKV_MSG_OVERHEAD + 1))
			return -EUCLEAN;
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

/*
 * Bounds rise strictly; internal nodes never have child 0, the node itself
 * or one child twice.
 */
static int nf_get_tables(struct nf_cur *c, struct betrkv_node_hdr *h)
{
	u32 nbounds = h->height ? h->nsegs - 1 : h->nsegs, i, j;
	struct betrkv_pivot **b = h->bounds;
	const struct nf_seg *segs;
	const void *p;
	__le64 child;
	int err;

	for (i = 0; h->height && i < h->nsegs; i++) {
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
	for (i = 0; h->height && i < nbounds; i++) {
		err = nf_get_key(c, &b[i]);
		if (err)
			return err;
	}
	segs = nf_take(c, h->nsegs * sizeof(*segs));
	if (!segs)
		return -EUCLEAN;
	for (i = 0; i < h->nsegs; i++) {
		h->segs[i].off = le32_to_cpu(segs[i].off);
		h->segs[i].len = le32_to_cpu(segs[i].len);
		h->segs[i].nmsgs = le32_to_cpu(segs[i].nmsgs);
		h->segs[i].csum = le32_to_cpu(segs[i].csum);
	}
	for (i = 0; !h->height && i < nbounds; i++) {
		err = nf_get_key(c, &b[i]);
		if (err)
			return err;
	}
	if (h->height) {
		err = nf_get_blooms(c, h);
		if (err)
			return err;
	}
	for (i = 1; i < nbounds; i++)
		if (betrkv_key_cmp(b[i - 1]->key, b[i - 1]->len,
				   b[i]->key, b[i]->len) >= 0)
			return -EUCLEAN;
	return c->left ? -EUCLEAN : 0;
}

/* Segments lie in order right after the header, without gaps or overlap. */
static int nf_check_segs(const struct betrkv_node_hdr *h)
{
	u32 s, end = h->hdr_len;

	for (s = 0; s < h->nsegs; s++) {
		if (h->segs[s].off != end || h->segs[s].len > h->total_len - end ||
		    (!h->height && !h->segs[s].nmsgs))
			return -EUCLEAN;
		end += h->segs[s].len;
	}
	return 0;
}

/**
 * betrkv_node_hdr_decode() - check and parse a node's header alone.
 * @buf: the node's first bytes, as many as betrkv_node_hdr_len() said
 * @len: the node's length (what the indirection table records)
 * @uuid: the store's UUID
 * @blocknr: the block the node was read from
 * @id: the node ID the indirection table maps there
 * @hp: receives the header (free it with betrkv_node_hdr_free())
 * @why: receives a static reason on failure
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_hdr_decode(const u8 *buf, u32 len, const u8 uuid[16],
			   u64 blocknr, u64 id, struct betrkv_node_hdr **hp,
			   const char **why)
{
	struct betrkv_node_hdr fields = { 0 }, *h;
	struct nf_cur c;
	u32 hdr_len;
	int err;

	*why = "malformed header";
	if (betrkv_node_hdr_len(buf, len, &hdr_len))
		return -EUCLEAN;
	if (betrkv_block_check(buf, hdr_len, BETRKV_BLOCK_NODE, blocknr, uuid, why))
		return -EUCLEAN;
	*why = "bad node header fields";
	if (nf_hdr_fields((const struct nf_hdr *)buf, len, id, &fields))
		return -EUCLEAN;
	h = nf_hdr_alloc(fields.nsegs);
	if (!h)
		return -ENOMEM;
	fields.children = h->children;
	fields.bounds = h->bounds;
	fields.segs = h->segs;
	*h = fields;
	c = (struct nf_cur){ .p = (u8 *)buf + sizeof(struct nf_hdr),
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
	u32 nbounds = h->height ? h->nsegs - 1 : h->nsegs, i;

	*why = "height is not its parent's minus one";
	if (h->height != x->height)
		return -EUCLEAN;
	*why = "keys outside the range its parent gives it";
	for (i = 0; i < nbounds; i++)
		if (!betrkv_range_holds(&x->range, h->bounds[i]->key,
					h->bounds[i]->len))
			return -EUCLEAN;
	return 0;
}

void betrkv_node_hdr_free(struct betrkv_node_hdr *h)
{
	u32 i;

	if (!h)
		return;
	for (i = 0; i < h->nsegs; i++)
		kfree(h->bounds[i]);
	kfree(h->blooms);
	kfree(h);
}

/* Memory the header takes. */
u64 betrkv_node_hdr_mem(const struct betrkv_node_hdr *h)
{
	u64 mem = sizeof(*h) + h->nsegs * (sizeof(*h->children) +
					   sizeof(*h->bounds) + sizeof(*h->segs));
	u32 i;

	for (i = 0; i < h->nsegs; i++) {
		if (h->bounds[i])
			mem += sizeof(*h->bounds[i]) + h->bounds[i]->len;
		mem += h->segs[i].bloom_len;
	}
	return mem;
}

/**
 * betrkv_node_hdr_route() - the segment that may hold @key.
 * @h: the header
 * @key: the key
 * @klen: its length
 *
 * Return: the child index of an internal node; the run of a leaf, or -1
 * if @key lies below the leaf's smallest key (or the leaf is empty).
 */
int betrkv_node_hdr_route(const struct betrkv_node_hdr *h, const u8 *key,
			  u32 klen)
{
	if (h->height)
		return betrkv_pivots_index(h->bounds, h->nsegs - 1, key, klen);
	if (!h->nsegs || betrkv_key_cmp(key, klen, h->bounds[0]->key,
					h->bounds[0]->len) < 0)
		return -1;
	return betrkv_pivots_index(h->bounds + 1, h->nsegs - 1, key, klen);
}

/**
 * betrkv_node_hdr_may_hold() - may segment @s hold a message for @key?
 * @h: the header
 * @s: a segment index from betrkv_node_hdr_route()
 * @key: the key
 * @klen: its length
 *
 * Return: false if the segment is empty or its Bloom filter rules @key out.
 */
bool betrkv_node_hdr_may_hold(const struct betrkv_node_hdr *h, u32 s,
			      const u8 *key, u32 klen)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];

	if (!ref->nmsgs)
		return false;
	return !h->height ||
	       betrkv_bloom_test(h->blooms + ref->bloom_off, ref->bloom_len, key, klen);
}

/*
 * Keys of segment @s lie in [lo, hi) and rise strictly; a leaf's run starts
 * with its key in the header.
 */
static void nf_seg_range(const struct betrkv_node_hdr *h, u32 s,
			 const struct betrkv_pivot **lo,
			 const struct betrkv_pivot **hi)
{
	if (h->height) {
		*lo = s ? h->bounds[s - 1] : NULL;
		*hi = s + 1 < h->nsegs ? h->bounds[s] : NULL;
	} else {
		*lo = h->bounds[s];
		*hi = s + 1 < h->nsegs ? h->bounds[s + 1] : NULL;
	}
}

static bool nf_in_range(const struct betrkv_msg *m, const struct betrkv_pivot *lo,
			const struct betrkv_pivot *hi)
{
	return (!lo || betrkv_msg_cmp(m, lo->key, lo->len) >= 0) &&
	       (!hi || betrkv_msg_cmp(m, hi->key, hi->len) < 0);
}

/**
 * betrkv_node_seg_decode() - check and parse one segment of a node.
 * @h: the node's header
 * @uuid: the store's UUID
 * @s: the segment's index, below @h->nsegs
 * @seg: its @h->segs[s].len bytes
 * @out: the messages are appended here; they must sort after any there
 *
 * Return: 0, -EUCLEAN for any checksum or structural error, or -ENOMEM.
 */
int betrkv_node_seg_decode(const struct betrkv_node_hdr *h, const u8 uuid[16],
			   u32 s, const u8 *seg, struct betrkv_msgbuf *out)
{
	const struct betrkv_seg_ref *ref = &h->segs[s];
	struct nf_cur c = { .p = (u8 *)seg, .left = ref->len };
	const struct betrkv_pivot *lo, *hi;
	struct betrkv_msg *m, *prev;
	u32 i, first = out->n;
	int err;

	if (ref->csum != nf_seg_csum(uuid, h->id, s, seg, ref->len))
		return -EUCLEAN;
	nf_seg_range(h, s, &lo, &hi);
	for (i = 0; i < ref->nmsgs; i++) {
		m = nf_get_msg(&c, !h->height, &err);
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
	if (!h->height && (out->n == first ||
			   betrkv_msg_cmp(out->msgs[first], lo->key, lo->len)))
		return -EUCLEAN;
	return c.left ? -EUCLEAN : 0;
}

/* Only zeros follow the last segment: the encoding is canonical. */
static int nf_check_padding(const u8 *buf, const struct betrkv_node_hdr *h)
{
	u32 end = h->nsegs ? h->segs[h->nsegs - 1].off + h->segs[h->nsegs - 1].len
			   : h->hdr_len;

	for (; end < h->total_len; end++)
		if (buf[end])
			return -EUCLEAN;
	return 0;
}

/* An internal node's filters are exactly those of its buffers' keys. */
static int nf_check_blooms(const struct betrkv_node_hdr *h,
			   const struct betrkv_node *n)
{
	u32 s, i, len, most = 0;
	int err = 0;
	u8 *bits;

	for (s = 0; s < h->nsegs; s++)
		most = max(most, h->segs[s].bloom_len);
	bits = kmalloc(max(most, 1u), GFP_KERNEL);
	if (!bits)
		return -ENOMEM;
	for (s = 0; s < h->nsegs && !err; s++) {
		len = h->segs[s].bloom_len;
		memset(bits, 0, len);
		for (i = 0; i < n->bufs[s].n; i++)
			betrkv_bloom_add(bits, len, n->bufs[s].msgs[i]->data,
					 n->bufs[s].msgs[i]->klen);
		if (memcmp(bits, h->blooms + h->segs[s].bloom_off, len))
			err = -EUCLEAN;
	}
	kfree(bits);
	return err;
}

/* The node @h describes, its pivots taken from @h. */
static int nf_node_from_hdr(struct betrkv_node_hdr *h, const u8 *buf,
			    const u8 uuid[16], struct betrkv_node **np)
{
	struct betrkv_node *n = betrkv_node_alloc(h->id, h->height);
	u32 s;
	int err;

	if (!n)
		return -ENOMEM;
	if (h->height) {
		n->nchildren = h->nsegs;
		memcpy(n->children, h->children, h->nsegs * sizeof(*n->children));
	}
	for (s = 0; s < h->nsegs; s++) {
		err = betrkv_node_seg_decode(h, uuid, s, buf + h->segs[s].off,
					     h->height ? &n->bufs[s] : &n->entries);
		if (err) {
			betrkv_node_free(n);
			return err;
		}
	}
	err = h->height ? nf_check_blooms(h, n) : 0;
	if (err) {
		betrkv_node_free(n);
		return err;
	}
	/* The pivots bound the segments above: take them only now. */
	if (h->height) {
		for (s = 0; s + 1 < h->nsegs; s++) {
			n->pivots[s] = h->bounds[s];
			h->bounds[s] = NULL;
		}
	}
	*np = n;
	return 0;
}

/**
 * betrkv_node_decode() - check and parse a whole node read from disk.
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
	struct betrkv_node_hdr *h;
	int err;

	err = betrkv_node_hdr_decode(buf, len, uuid, blocknr, id, &h, why);
	if (err)
		return err;
	*why = "bad node contents";
	err = nf_check_padding(buf, h) ?: nf_node_from_hdr(h, buf, uuid, np);
	betrkv_node_hdr_free(h);
	return err;
}
