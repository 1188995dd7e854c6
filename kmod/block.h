/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checksummed metadata blocks.
 *
 * Every block betrkv writes begins with struct betrkv_block_header.  The
 * checksum covers the whole block after the csum field and is salted with
 * the block's type and the store's UUID, so a block of one type can never
 * pass for another, and a block left by an earlier format of the device
 * never passes for one of the current store.  The header also records the
 * block's own location (the persistent-data validator pattern), which
 * catches misdirected writes and reads.
 *
 * Invariant across all format versions: this header, the superblock magic
 * and the superblock format version keep their offsets and meaning.
 */
#ifndef BETRKV_BLOCK_H
#define BETRKV_BLOCK_H

#include <linux/betrkv.h>

#include "format.h"

void betrkv_block_seal(void *blk, size_t len, enum betrkv_block_type type,
		       u64 blocknr, const u8 uuid[16]);
int betrkv_block_check(const void *blk, size_t len,
		       enum betrkv_block_type type, u64 blocknr,
		       const u8 uuid[16], const char **why);

#endif /* BETRKV_BLOCK_H */
