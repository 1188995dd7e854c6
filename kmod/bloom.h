/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bloom filters over keys: the header of an internal node holds one per
 * child buffer, so a point query skips reading a buffer that cannot hold
 * its key.
 *
 * A filter for n keys takes betrkv_bloom_bytes(n) bytes (about 10 bits a
 * key, a multiple of 8 bytes; none for no keys) and sets BLOOM_PROBES bits
 * per key, chosen by double hashing a 64-bit hash of the key: about 1% false
 * positives, never a false negative.  The hash is part of the on-disk
 * format.
 */
#ifndef BETRKV_BLOOM_H
#define BETRKV_BLOOM_H

#include "env.h"

u32 betrkv_bloom_bytes(u32 nkeys);
void betrkv_bloom_add(u8 *bits, u32 nbytes, const u8 *key, u32 klen);
bool betrkv_bloom_test(const u8 *bits, u32 nbytes, const u8 *key, u32 klen);

#endif /* BETRKV_BLOOM_H */
