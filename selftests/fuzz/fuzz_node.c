// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: betrkv_node_decode() on arbitrary bytes.
 *
 * The first input byte picks the mode: the rest as the node's bytes, or
 * XORed onto a valid leaf or internal node; and whether the header is then
 * re-sealed (a valid header checksum for whatever it says), so the fuzzer
 * reaches the parsing of pivots, the segment table and the leaf index.  A
 * node that decodes must encode to the same bytes, and reading it the way a
 * point query does (the header, then each segment alone) must give the same
 * messages.  A third mode appends: a valid node is written whole, read back,
 * then three times changed by puts and deletes the input gives (a leaf
 * perhaps then cut by a split, at a key the input gives) and appended to;
 * each result must decode to the changed node, whole and key by key
 * through the layers.
 */
#include <stdlib.h>

#include "block.h"
#include "nodefmt.h"

#define FUZZ_NODE_SIZE	(256u << 10)
/* Keys of the append mode's leaf: two runs of entries. */
#define LEAF_KEYS	100u
/* Appends, each perhaps after a cut, in the append mode. */
#define ROUNDS		3u

static const u8 uuid[16] = "fuzz-node-uuid!";

static void quiet(int level, const char *msg)
{
}

static void add(struct betrkv_msgbuf *b, u8 type, u32 k, u32 vlen)
{
	u8 key[8] = { 'k', k >> 24, k >> 16, k >> 8, k }, val[64] = { 0 };

	betrkv_msgbuf_append(b, betrkv_msg_new(type, key, 5, val, vlen));
}

/*
 * A valid node: a leaf of @nkeys entries (every third key), or an internal
 * node of 4 children.
 */
static struct betrkv_node *sample(bool leaf, u32 nkeys)
{
	struct betrkv_node *n = betrkv_node_alloc(7, leaf ? 0 : 1);
	u8 pivot[5] = { 'k', 0, 0, 0, 0 };
	u32 i, c;

	if (leaf) {
		for (i = 0; i < nkeys; i++)
			add(&n->entries, BETRKV_OP_PUT, i * 3, i % 20 + 40);
		return n;
	}
	n->nchildren = 4;
	for (c = 0; c < 4; c++) {
		n->children[c] = 100 + c;
		if (c) {
			pivot[4] = c * 10;
			n->pivots[c - 1] = betrkv_pivot_new(pivot, 5);
		}
		for (i = 0; i < 3; i++)
			add(&n->bufs[c], i % 2 ? BETRKV_OP_DEL : BETRKV_OP_PUT,
			    c * 10 + i, i % 2 ? 0 : 9);
	}
	return n;
}

static bool same_msgs(const struct betrkv_msgbuf *a, const struct betrkv_msgbuf *b)
{
	u32 i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->msgs[i]->type != b->msgs[i]->type ||
		    a->msgs[i]->klen != b->msgs[i]->klen ||
		    a->msgs[i]->vlen != b->msgs[i]->vlen ||
		    memcmp(a->msgs[i]->data, b->msgs[i]->data,
			   a->msgs[i]->klen + a->msgs[i]->vlen))
			return false;
	return true;
}

/* Two messages (or their absence) alike. */
static bool same_one(const struct betrkv_msg *a, const struct betrkv_msg *b)
{
	return !a || !b ? a == b :
	       a->type == b->type && a->klen == b->klen && a->vlen == b->vlen &&
	       !memcmp(a->data, b->data, a->klen + a->vlen);
}

/*
 * Header and segments one by one; with a whole node @n to compare against,
 * they must decode and match it.
 */
static void check_partial(const u8 *buf, u32 len, const struct betrkv_node *n)
{
	struct betrkv_node_hdr *h;
	struct betrkv_msgbuf seg, all;
	const char *why;
	u32 s;
	int err;

	if (betrkv_node_hdr_decode(buf, len, 0, uuid, 3, 7, &h, &why)) {
		if (n)
			abort();
		return;
	}
	betrkv_msgbuf_init(&all);
	for (s = 0; s < h->nsegs; s++) {
		betrkv_msgbuf_init(&seg);
		err = betrkv_node_seg_decode(h, uuid, s, buf + h->segs[s].off, &seg);
		if (n && (err || (h->height && !same_msgs(&seg, &n->bufs[h->segs[s].child]))))
			abort();
		if (n && !h->height)
			betrkv_msgbuf_concat(&all, &seg);
		betrkv_msgbuf_free(&seg);
	}
	if (n && !h->height && !same_msgs(&all, &n->entries))
		abort();
	betrkv_msgbuf_free(&all);
	betrkv_node_hdr_free(h);
}

/* @key's message in @n, or NULL. */
static const struct betrkv_msg *node_msg(const struct betrkv_node *n,
					 const u8 *key, u32 klen)
{
	u32 at;

	return betrkv_node_find(n, key, klen, &at);
}

/*
 * @key looked up as a point query does: per layer, newest first, in the
 * one segment it routes to (@segs: each segment of @h, decoded).
 */
static struct betrkv_msg *layered_find(const struct betrkv_node_hdr *h,
				       const struct betrkv_msgbuf *segs,
				       const u8 *key, u32 klen)
{
	struct betrkv_msg *m = NULL;
	u32 l;
	int s;

	for (l = h->nlayers; !m && l-- > 0;) {
		s = betrkv_node_hdr_route(h, l, key, klen);
		if (s < 0)
			continue;
		m = betrkv_msgbuf_find(&segs[s], key, klen);
		if (m && !betrkv_node_hdr_may_hold(h, s, key, klen))
			abort();	/* a filter must never lie */
	}
	return m;
}

/*
 * Puts and deletes of keys below @bound from @data into @n, as a flush
 * would bring them.
 */
static void change(struct betrkv_node *n, const uint8_t *data, size_t size,
		   u32 bound)
{
	struct betrkv_msgbuf src;
	u8 type;
	u32 i, k, c;

	for (i = 0; i + 1 < size; i += 2) {
		betrkv_msgbuf_init(&src);
		k = (data[i] | data[i + 1] << 7) % bound;
		type = data[i + 1] & 1 ? BETRKV_OP_DEL : BETRKV_OP_PUT;
		add(&src, type, k, type == BETRKV_OP_PUT ? data[i + 1] % 60 : 0);
		if (betrkv_node_is_leaf(n)) {
			if (betrkv_node_note_deletes(n, &src) ||
			    betrkv_msgbuf_apply(&n->entries, &src, true))
				abort();
		} else {
			c = betrkv_node_child_index(n, src.msgs[0]->data, 5);
			if (data[i + 1] & 2)
				n->stale |= 1u << c;
			if (betrkv_msgbuf_apply(&n->bufs[c], &src, false))
				abort();
		}
		betrkv_msgbuf_free(&src);
	}
}

/*
 * Cut leaf @n at key @k as a split would, the keys from there on moving to
 * a new node; returns the bound of its keys from now on.
 */
static u32 cut(struct betrkv_node *n, u32 k, u32 bound)
{
	u8 key[5] = { 'k', k >> 24, k >> 16, k >> 8, k };
	struct betrkv_msgbuf right;
	struct betrkv_pivot *p;
	u32 at = betrkv_msgbuf_lower_bound(&n->entries, key, sizeof(key));

	if (!at || k >= bound)
		return bound;	/* a split leaves both halves keys */
	betrkv_msgbuf_init(&right);
	p = betrkv_pivot_new(key, sizeof(key));
	if (!p || betrkv_msgbuf_split(&n->entries, at, &right))
		abort();
	betrkv_msgbuf_free(&right);
	betrkv_node_cut(n, p);
	kfree(p);
	return k;
}

/*
 * The node at @buf (@len bytes, its header at @hdr_off) must be @n, whole
 * and key by key as a point query reads it; returns its header.
 */
static struct betrkv_node_hdr *check_append(const u8 *buf, u32 len, u32 hdr_off,
					    const struct betrkv_node *n)
{
	const struct betrkv_msg *want, *got, *m;
	struct betrkv_msgbuf *segs;
	struct betrkv_node_hdr *h;
	struct betrkv_node *back;
	u8 key[5] = { 'k' };
	const char *why;
	u32 k, s;

	if (betrkv_node_decode(buf, len, hdr_off, uuid, 3, 7, &back, &why) ||
	    betrkv_node_hdr_decode(buf + hdr_off, len, hdr_off, uuid, 3, 7, &h,
				   &why))
		abort();
	if (betrkv_node_is_leaf(n) && !same_msgs(&n->entries, &back->entries))
		abort();
	segs = calloc(max(h->nsegs, 1u), sizeof(*segs));
	for (s = 0; s < h->nsegs; s++)
		if (betrkv_node_seg_decode(h, uuid, s, buf + h->segs[s].off,
					   &segs[s]))
			abort();
	for (k = 0; k < 3 * LEAF_KEYS; k++) {
		key[3] = k >> 8;
		key[4] = k;
		m = layered_find(h, segs, key, 5);
		want = node_msg(n, key, 5);
		/* In a leaf, a delete in a newer layer hides the key. */
		got = betrkv_node_is_leaf(n) && m && m->type == BETRKV_OP_DEL ? NULL : m;
		if (!same_one(want, got) || !same_one(want, node_msg(back, key, 5)))
			abort();
	}
	for (s = 0; s < h->nsegs; s++)
		betrkv_msgbuf_free(&segs[s]);
	free(segs);
	betrkv_node_free(back);
	return h;
}

/* The append mode: see the top of the file. */
static void append_mode(const uint8_t *data, size_t size, u8 *buf)
{
	bool leaf = data[0] & 8;
	u32 len, more, hdr_off = 0, r, bound = leaf ? 3 * LEAF_KEYS : 120;
	size_t chunk = (size - 1) / ROUNDS;
	struct betrkv_node_hdr *h;
	struct betrkv_node *n;
	const uint8_t *d;
	const char *why;
	int err;

	n = sample(leaf, LEAF_KEYS);
	if (betrkv_node_encode(n, uuid, 3, buf, FUZZ_NODE_SIZE, &len))
		abort();
	betrkv_node_free(n);
	if (betrkv_node_hdr_decode(buf, len, 0, uuid, 3, 7, &h, &why) ||
	    betrkv_node_build(h, buf, uuid, &n))
		abort();
	for (r = 0; r < ROUNDS; r++) {
		d = data + 1 + r * chunk;
		/* A flush, then perhaps the split it causes. */
		change(n, d + 3, chunk > 3 ? chunk - 3 : 0, bound);
		if (leaf && chunk > 2 && d[0] & 1)
			bound = cut(n, (d[1] | d[2] << 8) % bound, bound);
		err = betrkv_node_encode_append(n, h, uuid, 3, buf + len,
						FUZZ_NODE_SIZE - len, &more);
		betrkv_node_hdr_free(h);
		if (!err) {
			hdr_off = len;
			len += more;
		} else if (err != -EFBIG || !n->cut ||
			   betrkv_node_encode(n, uuid, 3, buf, FUZZ_NODE_SIZE, &len)) {
			abort();	/* only a cut leaf may need writing whole */
		} else {
			hdr_off = 0;
		}
		h = check_append(buf, len, hdr_off, n);
		betrkv_node_written(n);
	}
	betrkv_node_hdr_free(h);
	betrkv_node_free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 buf[FUZZ_NODE_SIZE], again[FUZZ_NODE_SIZE];
	struct betrkv_node *n;
	const char *why;
	u32 len = BETRKV_BLOCK_SIZE, hdr_len, i, again_len;

	if (!size)
		return 0;
	betrkv_user_set_log(quiet);
	memset(buf, 0, sizeof(buf));
	if (data[0] & 16) {
		append_mode(data, size, buf);
		return 0;
	}
	if (data[0] & 4) {
		n = sample(data[0] & 8, 40);
		betrkv_node_encode(n, uuid, 3, buf, sizeof(buf), &len);
		betrkv_node_free(n);
		for (i = 0; i + 1 < size && i < len; i++)
			buf[i] ^= data[1 + i];
	} else {
		len = ALIGN(max(size - 1, (size_t)1), (size_t)BETRKV_BLOCK_SIZE);
		len = min(len, FUZZ_NODE_SIZE);
		memcpy(buf, data + 1, min(size - 1, (size_t)len));
	}
	if (data[0] & 2) {
		memcpy(&hdr_len, buf + 32, sizeof(hdr_len));
		hdr_len = le32_to_cpu(hdr_len);
		if (hdr_len >= 48 && hdr_len <= len)
			betrkv_block_seal(buf, hdr_len, BETRKV_BLOCK_NODE, 3, uuid);
	}
	if (betrkv_node_decode(buf, len, 0, uuid, 3, 7, &n, &why)) {
		check_partial(buf, len, NULL);
		return 0;
	}
	check_partial(buf, len, n);
	if (betrkv_node_encode(n, uuid, 3, again, sizeof(again), &again_len) ||
	    again_len != len || memcmp(buf, again, len))
		abort();
	betrkv_node_free(n);
	return 0;
}
