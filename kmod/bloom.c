// SPDX-License-Identifier: GPL-2.0
/*
 * Bloom filters over keys: see bloom.h.
 */
#include "bloom.h"

#define BLOOM_BITS_PER_KEY	10u
#define BLOOM_PROBES		6u

/* FNV-1a over the key, then a 64-bit finalizer (MurmurHash3's fmix64). */
static u64 bloom_hash(const u8 *key, u32 klen)
{
	u64 h = 0xcbf29ce484222325ull;
	u32 i;

	for (i = 0; i < klen; i++)
		h = (h ^ key[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Bytes of the filter for @nkeys keys. */
u32 betrkv_bloom_bytes(u32 nkeys)
{
	return nkeys ? ALIGN(DIV_ROUND_UP(nkeys * BLOOM_BITS_PER_KEY, 8), 8) : 0;
}

/* Bit @i of the probes for hash @h, in a filter of @nbits bits. */
static u32 bloom_bit(u64 h, u32 i, u32 nbits)
{
	u32 h1 = (u32)h, h2 = (u32)(h >> 32) | 1;

	return (h1 + i * h2) % nbits;
}

/**
 * betrkv_bloom_add() - add a key to a filter.
 * @bits: the filter, @nbytes bytes (not 0)
 * @nbytes: its size
 * @key: the key
 * @klen: its length
 */
void betrkv_bloom_add(u8 *bits, u32 nbytes, const u8 *key, u32 klen)
{
	u64 h = bloom_hash(key, klen);
	u32 i, b;

	for (i = 0; i < BLOOM_PROBES; i++) {
		b = bloom_bit(h, i, nbytes * 8);
		bits[b / 8] |= 1u << (b % 8);
	}
}

/**
 * betrkv_bloom_test() - may a key be in a filter?
 * @bits: the filter, @nbytes bytes
 * @nbytes: its size (0: the empty filter)
 * @key: the key
 * @klen: its length
 *
 * Return: false only if the key was never added.
 */
bool betrkv_bloom_test(const u8 *bits, u32 nbytes, const u8 *key, u32 klen)
{
	u64 h;
	u32 i, b;

	if (!nbytes)
		return false;
	h = bloom_hash(key, klen);
	for (i = 0; i < BLOOM_PROBES; i++) {
		b = bloom_bit(h, i, nbytes * 8);
		if (!(bits[b / 8] & (1u << (b % 8))))
			return false;
	}
	return true;
}
