/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: random numbers, key distributions, and the keys and
 * values of records.
 *
 * Record number n has the key "user" followed by 16 hex digits of a
 * bijective hash of n (so keys are unique and inserts land all over the
 * key space).  A value written with version v is
 *
 *	[n: 8 bytes LE][v: 8 bytes LE][pseudo-random bytes seeded by (n, v)]
 *
 * so a value read back can be checked against its key without keeping a
 * copy of it.
 */
#ifndef BENCH_GEN_H
#define BENCH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_SIZE	20
#define VALUE_HDR_SIZE	16

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_below(struct rng *r, uint64_t n);

enum key_dist { DIST_UNIFORM, DIST_ZIPFIAN };

struct keydist {
	enum key_dist kind;
	uint64_t items;
};

void keydist_init(struct keydist *d, enum key_dist kind, uint64_t items);
uint64_t keydist_next(const struct keydist *d, struct rng *r);

void make_key(char key[KEY_SIZE], uint64_t recno);
void make_value(void *buf, size_t size, uint64_t recno, uint64_t version);
bool value_ok(const void *buf, size_t len, size_t size, uint64_t recno,
	      uint64_t min_version);
uint64_t value_recno(const void *buf, size_t len);

#endif /* BENCH_GEN_H */
