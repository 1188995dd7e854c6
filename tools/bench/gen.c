// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: random numbers (xoshiro256**), the uniform and YCSB's
 * scrambled zipfian key distributions, and record keys and values.
 */
#include <math.h>
#include <string.h>

#include "gen.h"

/* The splitmix64 finaliser: a bijection on 64-bit integers. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++) {
		seed += 0x9e3779b97f4a7c15ULL;
		r->s[i] = mix64(seed);
	}
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static double rng_double(struct rng *r)
{
	return (rng_next(r) >> 11) * 0x1.0p-53;
}

/*
 * YCSB's ScrambledZipfianGenerator: a zipfian (theta 0.99) over 10^10
 * items, whose zeta YCSB precomputes, hashed with FNV-1a into the
 * records so that the hot records are spread over the key space.
 */
#define ZIPF_ITEMS	10000000000ULL
#define ZIPF_THETA	0.99
#define ZIPF_ZETAN	26.46902820178302

static double zipf_alpha, zipf_eta, zipf_half_pow;

static void zipf_init(void)
{
	double zeta2 = 1.0 + pow(0.5, ZIPF_THETA);

	zipf_alpha = 1.0 / (1.0 - ZIPF_THETA);
	zipf_eta = (1.0 - pow(2.0 / ZIPF_ITEMS, 1.0 - ZIPF_THETA)) /
		   (1.0 - zeta2 / ZIPF_ZETAN);
	zipf_half_pow = pow(0.5, ZIPF_THETA);
}

static uint64_t zipf_next(struct rng *r)
{
	double u = rng_double(r);
	double uz = u * ZIPF_ZETAN;

	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + zipf_half_pow)
		return 1;
	return (uint64_t)(ZIPF_ITEMS *
			  pow(zipf_eta * u - zipf_eta + 1.0, zipf_alpha));
}

/* YCSB's Utils.fnvhash64, including its Math.abs. */
static uint64_t fnvhash64(uint64_t val)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < 8; i++) {
		h ^= val & 0xff;
		h *= 1099511628211ULL;
		val >>= 8;
	}
	return (int64_t)h < 0 ? -h : h;
}

void keydist_init(struct keydist *d, enum key_dist kind, uint64_t items)
{
	d->kind = kind;
	d->items = items;
	if (kind == DIST_ZIPFIAN)
		zipf_init();
}

uint64_t keydist_next(const struct keydist *d, struct rng *r)
{
	if (d->kind == DIST_UNIFORM)
		return rng_below(r, d->items);
	return fnvhash64(zipf_next(r)) % d->items;
}

void make_key(char key[KEY_SIZE], uint64_t recno)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = mix64(recno);
	int i;

	memcpy(key, "user", 4);
	for (i = KEY_SIZE - 1; i >= 4; i--) {
		key[i] = hex[h & 15];
		h >>= 4;
	}
}

static void put_le64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t payload_seed(uint64_t recno, uint64_t version)
{
	return mix64(recno) ^ mix64(version ^ 0x5bd1e9955bd1e995ULL);
}

/* The next 8 payload bytes of the stream at *state (splitmix64). */
static uint64_t payload_word(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

void make_value(void *buf, size_t size, uint64_t recno, uint64_t version)
{
	unsigned char *p = buf;
	uint64_t state = payload_seed(recno, version);
	size_t off;

	put_le64(p, recno);
	put_le64(p + 8, version);
	for (off = VALUE_HDR_SIZE; off < size; off += 8) {
		uint64_t w = payload_word(&state);

		memcpy(p + off, &w, size - off < 8 ? size - off : 8);
	}
}

/*
 * Whether buf (len bytes) is a value of size bytes that record recno was
 * written with, at version min_version or later.
 */
bool value_ok(const void *buf, size_t len, size_t size, uint64_t recno,
	      uint64_t min_version)
{
	const unsigned char *p = buf;
	uint64_t version, state;
	size_t off;

	if (len != size || get_le64(p) != recno)
		return false;
	version = get_le64(p + 8);
	if (version < min_version)
		return false;
	state = payload_seed(recno, version);
	for (off = VALUE_HDR_SIZE; off < size; off += 8) {
		uint64_t w = payload_word(&state);

		if (memcmp(p + off, &w, size - off < 8 ? size - off : 8))
			return false;
	}
	return true;
}

/* The record number a value claims to belong to. */
uint64_t value_recno(const void *buf, size_t len)
{
	return len < VALUE_HDR_SIZE ? UINT64_MAX : get_le64(buf);
}
