/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The reference model of the engine tests: a key space whose byte order is
 * the order of the key numbers, and a map from key number to value.
 *
 * Key i is its number big-endian (4 bytes) followed by a suffix of a length
 * derived from i (0 to BETRKV_KEY_MAX - 4 bytes): so keys of every length
 * occur and comparing keys compares numbers.  A value is derived from
 * (key number, version, length), so it can be regenerated to check a read.
 * A program that includes this header runs the tree verifier
 * (betrkv_tree_verify) after every tree change.
 */
#ifndef BETRKV_ENGINE_MODEL_H
#define BETRKV_ENGINE_MODEL_H

#include "engine.h"
#include "tree.h"
#include "../rng.h"

/* A scan budget the model's pages never reach: @limit alone bounds them. */
#define MODEL_SCAN_BUDGET	(1ull << 40)

/* Every test of the engine against the model checks the tree's invariants. */
__attribute__((constructor)) static void model_verify_tree(void)
{
	betrkv_tree_verify = true;
}

struct model {
	u32 nkeys;
	u32 *vlen;		/* per key: length, or MODEL_ABSENT */
	u32 *version;
};

#define MODEL_ABSENT	0xffffffffu

/* A model of @nkeys keys, all absent (model_free() it). */
static inline struct model *model_new(u32 nkeys)
{
	struct model *m = calloc(1, sizeof(*m));

	m->nkeys = nkeys;
	m->vlen = malloc(nkeys * sizeof(u32));
	m->version = calloc(nkeys, sizeof(u32));
	memset(m->vlen, 0xff, nkeys * sizeof(u32));
	return m;
}

static inline void model_free(struct model *m)
{
	free(m->vlen);
	free(m->version);
	free(m);
}

/*
 * betrkv_engine_get() into a buffer it allocates, as a put of @key
 * (kfree() it), for tests that compare messages; test_engine checks the
 * caller's-buffer form.
 */
static inline int model_get(struct betrkv_engine *e, const u8 *key, u32 klen,
			    struct betrkv_msg **out)
{
	struct betrkv_val v = { .cap = U32_MAX };
	int err = betrkv_engine_get(e, key, klen, &v);

	*out = NULL;
	if (!err) {
		*out = betrkv_msg_new(BETRKV_OP_PUT, key, klen, v.buf, v.len);
		err = *out ? 0 : -ENOMEM;
	}
	kvfree(v.buf);
	return err;
}

static inline u32 model_key(u32 i, u8 *buf)
{
	u32 len = 4, h = i * 2654435761u;

	buf[0] = i >> 24;
	buf[1] = i >> 16;
	buf[2] = i >> 8;
	buf[3] = i;
	/* Mostly short suffixes; 1 in 64 keys near or at the limit. */
	if (h % 64 == 0)
		len = BETRKV_KEY_MAX - (h >> 8) % 3;
	else
		len += (h >> 8) % 24;
	memset(buf + 4, 'a' + i % 26, len - 4);
	return len;
}

/* The number model key @key starts with, and setting it to @n. */
static inline u32 model_key_number(const u8 *key)
{
	return (u32)key[0] << 24 | key[1] << 16 | key[2] << 8 | key[3];
}

static inline void model_key_renumber(u8 *key, u32 n)
{
	key[0] = n >> 24;
	key[1] = n >> 16;
	key[2] = n >> 8;
	key[3] = n;
}

static inline void model_value(u32 i, u32 version, u32 len, u8 *buf)
{
	u64 s = ((u64)i << 32) ^ version;
	u32 k;

	for (k = 0; k < len; k++)
		buf[k] = k % 8 ? buf[k - 1] + 1 : (u8)rng_next(&s);
}

/* A value length: 0, 1, the limit, node and segment boundaries, or random. */
static inline u32 model_vlen(u64 *s)
{
	static const u32 special[] = { 0, 1, 2, BETRKV_VALUE_MAX,
		BETRKV_VALUE_MAX - 1, BETRKV_LEAF_RUN_BYTES - 8,
		BETRKV_LEAF_RUN_BYTES + 1, 4096 - 8, 4096, 8191 };
	u32 r = rng_below(s, 100);

	if (r < 4)
		return special[rng_below(s, ARRAY_SIZE(special))];
	if (r < 10)
		return 4000 + rng_below(s, 12000);
	return 10 + rng_below(s, 1500);
}

#ifdef __KSELFTEST_HARNESS_H
/*
 * Scan keys [lo, hi) of the store (hi == m->nkeys: no upper bound) in pages
 * of @limit pairs, resuming after the last key of each page, and compare
 * every pair with the model.
 */
static inline void model_check_scan(struct __test_metadata *_metadata,
				    struct betrkv_engine *e, const struct model *m,
				    u32 lo, u32 hi, u32 limit)
{
	static u8 lokey[BETRKV_KEY_MAX], hikey[BETRKV_KEY_MAX], want[BETRKV_KEY_MAX];
	static u8 val[BETRKV_VALUE_MAX];
	struct betrkv_range r = { .lo = lokey, .hi = hi < m->nkeys ? hikey : NULL };
	struct betrkv_msgbuf out;
	bool more = true, excl = false;
	u32 next = lo, k;

	r.lolen = model_key(lo, lokey);
	if (hi < m->nkeys)
		r.hilen = model_key(hi, hikey);
	while (more) {
		betrkv_msgbuf_init(&out);
		ASSERT_EQ(0, betrkv_engine_scan(e, &r, excl, limit, MODEL_SCAN_BUDGET,
						&out, &more));
		ASSERT_LE(out.n, limit);
		for (k = 0; k < out.n; k++) {
			const struct betrkv_msg *msg = out.msgs[k];

			while (next < hi && m->vlen[next] == MODEL_ABSENT)
				next++;
			ASSERT_LT(next, hi) TH_LOG("scan returned an extra key");
			ASSERT_EQ(model_key(next, want), msg->klen);
			ASSERT_EQ(0, memcmp(want, msg->data, msg->klen)) TH_LOG("key %u", next);
			ASSERT_EQ(m->vlen[next], msg->vlen) TH_LOG("key %u", next);
			model_value(next, m->version[next], msg->vlen, val);
			ASSERT_EQ(0, memcmp(val, betrkv_msg_val(msg), msg->vlen))
				TH_LOG("key %u", next);
			next++;
		}
		/* Fewer than @limit pairs only at the end of the range. */
		while (out.n < limit && next < hi && m->vlen[next] == MODEL_ABSENT)
			next++;
		ASSERT_TRUE(out.n == limit || next == hi)
			TH_LOG("%u pairs returned of %u asked, key %u follows",
			       out.n, limit, next);
		if (out.n) {
			memcpy(lokey, out.msgs[out.n - 1]->data, out.msgs[out.n - 1]->klen);
			r.lolen = out.msgs[out.n - 1]->klen;
			excl = true;
		}
		betrkv_msgbuf_free(&out);
	}
	while (next < hi && m->vlen[next] == MODEL_ABSENT)
		next++;
	ASSERT_EQ(hi, next) TH_LOG("scan [%u, %u) stopped early", lo, hi);
}
#endif

/*
 * A test of a contract violation that is known and not fixed yet: it is
 * skipped, with the reason, unless BETRKV_KNOWN_VIOLATIONS is set (then it
 * runs and fails until the violation is fixed).
 */
#define KNOWN_VIOLATION(why)						\
	do {								\
		if (!getenv("BETRKV_KNOWN_VIOLATIONS"))			\
			SKIP(return, "known violation (issue 8): %s", why); \
	} while (0)

#endif /* BETRKV_ENGINE_MODEL_H */
