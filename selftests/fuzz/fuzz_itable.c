// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: betrkv_itable_decode() on arbitrary blocks.
 *
 * The first input byte says whether each block is re-sealed (a valid
 * checksum for whatever it holds), so the fuzzer reaches the checks of the
 * entries: IDs, slots in range and used once, lengths within a node, the
 * table's length.  A table that decodes must hold exactly the entries
 * counted, and survive a checkpoint: frozen, encoded and decoded again, it
 * gives back every entry (ID, slot, length and node checksum) unchanged.
 */
#include <stdlib.h>

#include "block.h"
#include "itable.h"

#define FUZZ_BLOCKS	4u
#define FUZZ_SLOTS	500u

static const u8 uuid[16] = "fuzz-itable-uuid";

static void quiet(int level, const char *msg)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encode @it's map as a checkpoint would, decode it again, compare. */
static void round_trip(struct betrkv_itable *it)
{
	static u8 again[FUZZ_BLOCKS * BETRKV_BLOCK_SIZE];
	struct betrkv_itable_ent want, got;
	struct betrkv_itable it2;
	const char *why;
	u64 len, i;

	if (betrkv_itable_freeze(it))
		return;
	len = betrkv_itable_disk_bytes(it);
	if (len > sizeof(again))
		abort();
	betrkv_itable_encode(it, uuid, 20, again, len);
	if (betrkv_itable_init(&it2, FUZZ_SLOTS, 256 << 10))
		return;
	if (betrkv_itable_decode(&it2, uuid, 20, again, len, &why) ||
	    it2.map.count != it->map.count)
		abort();
	for (i = 0; i < it->map.cap; i++) {
		want = it->map.tab[i];
		if (want.id && (betrkv_itable_lookup(&it2, want.id, &got) ||
				got.slot != want.slot || got.len != want.len ||
				got.csum != want.csum))
			abort();
	}
	betrkv_itable_destroy(&it2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static u8 buf[FUZZ_BLOCKS * BETRKV_BLOCK_SIZE];
	struct betrkv_itable it;
	const char *why;
	u64 len, b;

	if (!size)
		return 0;
	betrkv_user_set_log(quiet);
	len = ALIGN(max(size - 1, (size_t)1), (size_t)BETRKV_BLOCK_SIZE);
	len = min(len, (u64)sizeof(buf));
	memset(buf, 0, sizeof(buf));
	memcpy(buf, data + 1, min(size - 1, (size_t)len));
	for (b = 0; (data[0] & 1) && b < len / BETRKV_BLOCK_SIZE; b++)
		betrkv_block_seal(buf + b * BETRKV_BLOCK_SIZE, BETRKV_BLOCK_SIZE,
				  BETRKV_BLOCK_ITABLE, 10 + b, uuid);
	if (betrkv_itable_init(&it, FUZZ_SLOTS, 256 << 10))
		return 0;
	if (!betrkv_itable_decode(&it, uuid, 10, buf, len, &why)) {
		if (it.used_slots != it.map.count)
			abort();
		round_trip(&it);
	}
	betrkv_itable_destroy(&it);
	return 0;
}
