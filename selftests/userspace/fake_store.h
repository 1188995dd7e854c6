/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fake store device shared by the host tests whose ioctl() stands in
 * for the module (test_cli.c, test_libbetrkv.c): a sorted in-memory array
 * of key/value pairs, with what their fake GET, PUT, DELETE, BATCH and
 * SCAN need to read and change it.  Each of them checks the argument
 * structs and answers the ioctls itself.  Test-only: it defines static
 * state, so include it from one file of a program only.
 */
#ifndef FAKE_STORE_H
#define FAKE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/betrkv.h>

struct fake_pair {
	uint8_t *key;
	uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
};

static struct fake_pair *fake_map;	/* sorted by key */
static size_t fake_n, fake_cap;
static uint64_t fake_seq;		/* of the last mutation */

static inline int key_order(const void *a, size_t alen, const void *b,
			    size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the first pair whose key is >= @key (> @key if @after). */
static inline size_t fake_find(const void *key, size_t len, bool after)
{
	size_t lo = 0, hi = fake_n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = key_order(fake_map[mid].key, fake_map[mid].key_len,
				  key, len);

		if (c < 0 || (after && !c))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline struct fake_pair *fake_lookup(const void *key, size_t len)
{
	size_t i = fake_find(key, len, false);

	if (i < fake_n && !key_order(fake_map[i].key, fake_map[i].key_len,
				     key, len))
		return &fake_map[i];
	return NULL;
}

static inline void *dup_bytes(const void *p, size_t len)
{
	void *d = malloc(len ? len : 1);

	if (!d)
		abort();
	if (len)
		memcpy(d, p, len);
	return d;
}

static inline void fake_set(const void *key, size_t klen, const void *value,
			    size_t vlen)
{
	struct fake_pair *p = fake_lookup(key, klen);
	size_t i;

	if (p) {
		free(p->value);
	} else {
		if (fake_n == fake_cap) {
			fake_cap = fake_cap ? 2 * fake_cap : 64;
			fake_map = realloc(fake_map,
					   fake_cap * sizeof(*fake_map));
			if (!fake_map)
				abort();
		}
		i = fake_find(key, klen, false);
		memmove(&fake_map[i + 1], &fake_map[i],
			(fake_n - i) * sizeof(*fake_map));
		fake_n++;
		p = &fake_map[i];
		p->key = dup_bytes(key, klen);
		p->key_len = klen;
	}
	p->value = dup_bytes(value, vlen);
	p->value_len = vlen;
}

static inline void fake_unset(const void *key, size_t klen)
{
	struct fake_pair *p = fake_lookup(key, klen);

	if (!p)
		return;
	free(p->key);
	free(p->value);
	memmove(p, p + 1, (fake_map + fake_n - p - 1) * sizeof(*p));
	fake_n--;
}

static inline void fake_clear(void)
{
	while (fake_n)
		fake_unset(fake_map[0].key, fake_map[0].key_len);
}

/* PUT for BETRKV_PUT, else DELETE, of batch op @op (already checked). */
static inline void fake_apply_op(const struct betrkv_batch_op *op)
{
	const void *key = (const void *)(uintptr_t)op->key;

	if (op->type == BETRKV_PUT)
		fake_set(key, op->key_len, (const void *)(uintptr_t)op->value,
			 op->value_len);
	else
		fake_unset(key, op->key_len);
}

/* The size of the scan record of pair @i, before padding. */
static inline size_t fake_rec_len(size_t i)
{
	return sizeof(struct betrkv_scan_rec) + fake_map[i].key_len +
	       fake_map[i].value_len;
}

/* Write the scan record of pair @i at @buf; its size padded to 8 bytes. */
static inline size_t fake_put_rec(uint8_t *buf, size_t i)
{
	struct betrkv_scan_rec rec = {
		.key_len = fake_map[i].key_len,
		.value_len = fake_map[i].value_len,
	};

	memcpy(buf, &rec, sizeof(rec));
	memcpy(buf + sizeof(rec), fake_map[i].key, rec.key_len);
	memcpy(buf + sizeof(rec) + rec.key_len, fake_map[i].value,
	       rec.value_len);
	return (fake_rec_len(i) + 7) & ~(size_t)7;
}

#endif /* FAKE_STORE_H */
