/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Message buffers: sorted vectors of messages with unique keys.
 *
 * A message is a key with a put (and its value) or a delete.  The same type
 * holds a leaf's entries (puts only) and an internal node's buffer for one
 * child (puts and deletes, the newest message per key: a newer message for
 * a key replaces the older one, since both put and delete set the whole
 * value).  @bytes is the buffer's weight: what its messages take in a
 * serialized node.
 */
#ifndef BETRKV_MSGBUF_H
#define BETRKV_MSGBUF_H

#include "kv.h"

/* Bytes a message takes in a node beyond its key and value. */
#define BETRKV_MSG_OVERHEAD	8u

struct betrkv_msg {
	u32 klen;
	u32 vlen;
	u8 type;		/* enum betrkv_op_type */
	bool on_disk;		/* in its node's copy on disk (node.h) */
	u8 data[];		/* key, then value */
};

struct betrkv_msgbuf {
	struct betrkv_msg **msgs;
	u32 n;
	u32 cap;
	u64 bytes;
};

static inline const u8 *betrkv_msg_key(const struct betrkv_msg *m)
{
	return m->data;
}

static inline const u8 *betrkv_msg_val(const struct betrkv_msg *m)
{
	return m->data + m->klen;
}

static inline u64 betrkv_msg_weight(const struct betrkv_msg *m)
{
	return BETRKV_MSG_OVERHEAD + m->klen + m->vlen;
}

static inline int betrkv_msg_cmp(const struct betrkv_msg *m, const u8 *key,
				 u32 klen)
{
	return betrkv_key_cmp(m->data, m->klen, key, klen);
}

struct betrkv_msg *betrkv_msg_new(u8 type, const u8 *key, u32 klen,
				  const u8 *val, u32 vlen);
struct betrkv_msg *betrkv_msg_dup(const struct betrkv_msg *m);

void betrkv_msgbuf_init(struct betrkv_msgbuf *b);
void betrkv_msgbuf_free(struct betrkv_msgbuf *b);
u32 betrkv_msgbuf_lower_bound(const struct betrkv_msgbuf *b, const u8 *key,
			      u32 klen);
struct betrkv_msg *betrkv_msgbuf_find(const struct betrkv_msgbuf *b,
				      const u8 *key, u32 klen);
int betrkv_msgbuf_upsert(struct betrkv_msgbuf *b, struct betrkv_msg *m);
int betrkv_msgbuf_append(struct betrkv_msgbuf *b, struct betrkv_msg *m);
int betrkv_msgbuf_apply(struct betrkv_msgbuf *dst, struct betrkv_msgbuf *src,
			bool leaf);
int betrkv_msgbuf_split(struct betrkv_msgbuf *b, u32 at,
			struct betrkv_msgbuf *right);
int betrkv_msgbuf_concat(struct betrkv_msgbuf *b, struct betrkv_msgbuf *right);
u32 betrkv_msgbuf_split_point(const struct betrkv_msgbuf *b);

#endif /* BETRKV_MSGBUF_H */
