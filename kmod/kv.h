/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keys, values and mutations as every part of the engine sees them.
 *
 * Keys are ordered by unsigned bytewise comparison, a shorter key before
 * every longer key it is a prefix of.  A mutation is a put (set the key to
 * the value) or a delete; a batch of them is applied atomically and carries
 * one sequence number.
 */
#ifndef BETRKV_KV_H
#define BETRKV_KV_H

#include <linux/betrkv.h>

#include "env.h"

enum betrkv_op_type {
	BETRKV_OP_PUT = 1,
	BETRKV_OP_DEL = 2,
};

/* One mutation; @val and @vlen are unused for a delete. */
struct betrkv_op {
	u8 type;		/* enum betrkv_op_type */
	u32 klen;
	u32 vlen;
	const u8 *key;
	const u8 *val;
};

/* memcmp order, a prefix before its extensions. */
static inline int betrkv_key_cmp(const u8 *a, u32 alen, const u8 *b, u32 blen)
{
	int c = memcmp(a, b, min(alen, blen));

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* 0 if @op is well-formed and within the limits, else -EINVAL or -E2BIG. */
static inline int betrkv_op_check(const struct betrkv_op *op)
{
	if (op->type != BETRKV_OP_PUT && op->type != BETRKV_OP_DEL)
		return -EINVAL;
	if (!op->klen)
		return -EINVAL;
	if (op->klen > BETRKV_KEY_MAX ||
	    (op->type == BETRKV_OP_PUT && op->vlen > BETRKV_VALUE_MAX))
		return -E2BIG;
	return 0;
}

#endif /* BETRKV_KV_H */
