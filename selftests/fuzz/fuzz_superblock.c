// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: betrkv_sb_decode() on arbitrary bytes.
 *
 * The first input byte picks the slot, whether the rest is XORed onto a
 * valid superblock (so that small inputs are near-valid blocks) and whether
 * the block is then re-sealed (a valid checksum for whatever it says), so
 * the fuzzer reaches the semantic checks behind the magic and the checksum.
 * Beyond not crashing, a block that decodes must be canonical: encoding
 * what was decoded gives the same bytes.
 */
#include <stdlib.h>

#include "block.h"
#include "superblock.h"

static void quiet(int level, const char *msg)
{
}

/* A valid superblock for @slot: a 1 GiB store in its first generation. */
static void valid_sb(u8 *blk, unsigned int slot)
{
	struct betrkv_sb sb = { .format_version = BETRKV_FORMAT_VERSION,
				.generation = 1 };
	const char *why;

	betrkv_layout(&sb.geo, 1ull << 30, 512, 0, 0, &why);
	betrkv_sb_encode(&sb, slot, blk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 blk[BETRKV_BLOCK_SIZE], again[BETRKV_BLOCK_SIZE];
	struct betrkv_sb sb;
	unsigned int slot;
	const char *why;
	bool reseal, overlay;
	size_t i, n;

	if (!size)
		return 0;
	betrkv_user_set_log(quiet);
	slot = data[0] & 1;
	reseal = data[0] & 2;
	overlay = data[0] & 4;
	n = min(size - 1, sizeof(blk));
	if (overlay) {
		valid_sb(blk, slot);
		for (i = 0; i < n; i++)
			blk[i] ^= data[1 + i];
	} else {
		memset(blk, 0, sizeof(blk));
		memcpy(blk, data + 1, n);
	}
	if (reseal)
		betrkv_block_seal(blk, sizeof(blk), BETRKV_BLOCK_SUPER, slot, NULL);
	if (betrkv_sb_decode(blk, slot, &sb, &why))
		return 0;
	betrkv_sb_encode(&sb, slot, again);
	if (memcmp(blk, again, sizeof(blk)))
		abort();
	return 0;
}
