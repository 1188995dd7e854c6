// SPDX-License-Identifier: GPL-2.0
/*
 * Message buffers: see msgbuf.h.
 *
 * Invariants: msgs[0..n) sorted by key, keys unique, bytes = the sum of the
 * messages' weights; a leaf's buffer holds only puts.  A buffer owns its
 * messages: every function that takes a message takes ownership of it, also
 * when it fails.
 */
#include "msgbuf.h"

/**
 * betrkv_msg_new() - allocate a message.
 * @type: BETRKV_OP_PUT or BETRKV_OP_DEL
 * @key: the key
 * @klen: its length
 * @val: the value (a put), or NULL
 * @vlen: its length (0 for a delete)
 *
 * Return: the message, or NULL when out of memory.
 */
struct betrkv_msg *betrkv_msg_new(u8 type, const u8 *key, u32 klen,
				  const u8 *val, u32 vlen)
{
	struct betrkv_msg *m;

	m = kmalloc(sizeof(*m) + klen + vlen, GFP_KERNEL);
	if (!m)
		return NULL;
	m->klen = klen;
	m->vlen = vlen;
	m->type = type;
	m->on_disk = false;
	memcpy(m->data, key, klen);
	if (vlen)
		memcpy(m->data + klen, val, vlen);
	return m;
}

struct betrkv_msg *betrkv_msg_dup(const struct betrkv_msg *m)
{
	return betrkv_msg_new(m->type, betrkv_msg_key(m), m->klen,
			      betrkv_msg_val(m), m->vlen);
}

void betrkv_msgbuf_init(struct betrkv_msgbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void betrkv_msgbuf_free(struct betrkv_msgbuf *b)
{
	u32 i;

	for (i = 0; i < b->n; i++)
		kfree(b->msgs[i]);
	kvfree(b->msgs);
	betrkv_msgbuf_init(b);
}

static int msgbuf_reserve(struct betrkv_msgbuf *b, u32 want)
{
	struct betrkv_msg **msgs;
	u32 cap;

	if (want <= b->cap)
		return 0;
	cap = max(want, max(16u, b->cap * 2));
	msgs = kvmalloc(cap * sizeof(*msgs), GFP_KERNEL);
	if (!msgs)
		return -ENOMEM;
	if (b->n)
		memcpy(msgs, b->msgs, b->n * sizeof(*msgs));
	kvfree(b->msgs);
	b->msgs = msgs;
	b->cap = cap;
	return 0;
}

/**
 * betrkv_msgbuf_lower_bound() - index of the first message not below @key.
 * @b: the buffer
 * @key: the key
 * @klen: its length
 *
 * Return: an index in [0, n].
 */
u32 betrkv_msgbuf_lower_bound(const struct betrkv_msgbuf *b, const u8 *key,
			      u32 klen)
{
	u32 lo = 0, hi = b->n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (betrkv_msg_cmp(b->msgs[mid], key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct betrkv_msg *betrkv_msgbuf_find(const struct betrkv_msgbuf *b,
				      const u8 *key, u32 klen)
{
	u32 i = betrkv_msgbuf_lower_bound(b, key, klen);

	if (i < b->n && !betrkv_msg_cmp(b->msgs[i], key, klen))
		return b->msgs[i];
	return NULL;
}

/**
 * betrkv_msgbuf_upsert() - add a message, replacing an older one for its key.
 * @b: the buffer
 * @m: the message; the buffer owns it from now on
 *
 * Return: 0 or -ENOMEM (then @m is freed and @b unchanged).
 */
int betrkv_msgbuf_upsert(struct betrkv_msgbuf *b, struct betrkv_msg *m)
{
	u32 i = betrkv_msgbuf_lower_bound(b, betrkv_msg_key(m), m->klen);

	if (i < b->n && !betrkv_msg_cmp(b->msgs[i], betrkv_msg_key(m), m->klen)) {
		b->bytes -= betrkv_msg_weight(b->msgs[i]);
		kfree(b->msgs[i]);
		b->msgs[i] = m;
		b->bytes += betrkv_msg_weight(m);
		return 0;
	}
	if (msgbuf_reserve(b, b->n + 1)) {
		kfree(m);
		return -ENOMEM;
	}
	memmove(&b->msgs[i + 1], &b->msgs[i], (b->n - i) * sizeof(*b->msgs));
	b->msgs[i] = m;
	b->n++;
	b->bytes += betrkv_msg_weight(m);
	return 0;
}

/**
 * betrkv_msgbuf_append() - add a message whose key is above every key in @b.
 * @b: the buffer
 * @m: the message; the buffer owns it from now on
 *
 * Return: 0 or -ENOMEM (then @m is freed).
 */
int betrkv_msgbuf_append(struct betrkv_msgbuf *b, struct betrkv_msg *m)
{
	if (msgbuf_reserve(b, b->n + 1)) {
		kfree(m);
		return -ENOMEM;
	}
	b->msgs[b->n++] = m;
	b->bytes += betrkv_msg_weight(m);
	return 0;
}

/* Merge step: @m, newer, meets the older @old for the same key (or none). */
static void apply_one(struct betrkv_msgbuf *out, struct betrkv_msg *old,
		      struct betrkv_msg *m, bool leaf)
{
	kfree(old);
	if (leaf && m->type == BETRKV_OP_DEL) {
		kfree(m);	/* a tombstone dies at the leaf */
		return;
	}
	out->msgs[out->n++] = m;
	out->bytes += betrkv_msg_weight(m);
}

/*
 * Few messages into a large buffer (a put entering the root): a binary
 * search and a move of pointers each, in place.
 */
static int apply_few(struct betrkv_msgbuf *dst, struct betrkv_msgbuf *src,
		     bool leaf)
{
	struct betrkv_msg *m;
	bool found;
	u32 i, j;

	if (msgbuf_reserve(dst, dst->n + src->n))
		return -ENOMEM;
	for (j = 0; j < src->n; j++) {
		m = src->msgs[j];
		i = betrkv_msgbuf_lower_bound(dst, betrkv_msg_key(m), m->klen);
		found = i < dst->n && !betrkv_msg_cmp(dst->msgs[i], betrkv_msg_key(m),
						      m->klen);
		if (found) {
			dst->bytes -= betrkv_msg_weight(dst->msgs[i]);
			kfree(dst->msgs[i]);
		}
		if (leaf && m->type == BETRKV_OP_DEL) {
			kfree(m);	/* a tombstone dies at the leaf */
			if (found) {
				dst->n--;
				memmove(&dst->msgs[i], &dst->msgs[i + 1],
					(dst->n - i) * sizeof(*dst->msgs));
			}
			continue;
		}
		if (!found) {
			memmove(&dst->msgs[i + 1], &dst->msgs[i],
				(dst->n - i) * sizeof(*dst->msgs));
			dst->n++;
		}
		dst->msgs[i] = m;
		dst->bytes += betrkv_msg_weight(m);
	}
	src->n = 0;
	src->bytes = 0;
	return 0;
}

/**
 * betrkv_msgbuf_apply() - merge newer messages into a buffer.
 * @dst: the older buffer (a leaf's entries if @leaf)
 * @src: the newer messages; emptied, its messages moved or freed
 * @leaf: @dst is a leaf: deletes remove entries instead of being kept
 *
 * Linear in the sizes of both buffers; a few messages go in one by one.
 *
 * Return: 0, or -ENOMEM with both buffers unchanged.
 */
int betrkv_msgbuf_apply(struct betrkv_msgbuf *dst, struct betrkv_msgbuf *src,
			bool leaf)
{
	struct betrkv_msgbuf out;
	u32 i = 0, j = 0;
	int c;

	if (src->n * 8 <= dst->n)
		return apply_few(dst, src, leaf);
	betrkv_msgbuf_init(&out);
	if (msgbuf_reserve(&out, dst->n + src->n))
		return -ENOMEM;
	while (i < dst->n || j < src->n) {
		if (i == dst->n)
			c = 1;
		else if (j == src->n)
			c = -1;
		else
			c = betrkv_msg_cmp(dst->msgs[i], betrkv_msg_key(src->msgs[j]),
					   src->msgs[j]->klen);
		if (c < 0) {
			out.msgs[out.n++] = dst->msgs[i];
			out.bytes += betrkv_msg_weight(dst->msgs[i++]);
		} else {
			apply_one(&out, c ? NULL : dst->msgs[i++], src->msgs[j++],
				  leaf);
		}
	}
	kvfree(dst->msgs);
	*dst = out;
	src->n = 0;
	src->bytes = 0;
	return 0;
}

/**
 * betrkv_msgbuf_split() - move the messages from index @at on into @right.
 * @b: the buffer
 * @at: the first index to move
 * @right: an empty buffer
 *
 * Return: 0 or -ENOMEM (nothing moved).
 */
int betrkv_msgbuf_split(struct betrkv_msgbuf *b, u32 at,
			struct betrkv_msgbuf *right)
{
	u32 i;

	if (msgbuf_reserve(right, b->n - at))
		return -ENOMEM;
	for (i = at; i < b->n; i++) {
		right->msgs[right->n++] = b->msgs[i];
		right->bytes += betrkv_msg_weight(b->msgs[i]);
	}
	b->bytes -= right->bytes;
	b->n = at;
	return 0;
}

/**
 * betrkv_msgbuf_concat() - append @right, all of whose keys are above @b's.
 * @b: the buffer
 * @right: emptied on success
 *
 * Return: 0 or -ENOMEM (nothing moved).
 */
int betrkv_msgbuf_concat(struct betrkv_msgbuf *b, struct betrkv_msgbuf *right)
{
	if (!right->n)
		return 0;
	if (msgbuf_reserve(b, b->n + right->n))
		return -ENOMEM;
	memcpy(&b->msgs[b->n], right->msgs, right->n * sizeof(*b->msgs));
	b->n += right->n;
	b->bytes += right->bytes;
	right->n = 0;
	right->bytes = 0;
	return 0;
}

/**
 * betrkv_msgbuf_split_point() - where to cut @b into halves of equal weight.
 * @b: a buffer of at least two messages
 *
 * Return: an index in [1, n - 1].
 */
u32 betrkv_msgbuf_split_point(const struct betrkv_msgbuf *b)
{
	u64 half = b->bytes / 2, acc = 0;
	u32 i;

	for (i = 0; i < b->n - 1; i++) {
		acc += betrkv_msg_weight(b->msgs[i]);
		if (acc >= half)
			break;
	}
	return max(1u, min(i + 1, b->n - 1));
}
