// SPDX-License-Identifier: GPL-2.0
/*
 * The indirection table and the slot allocator: see itable.h.
 *
 * The map is an open-addressing hash table with linear probing and
 * backward-shift deletion, kept at most half full.
 */
#include "block.h"
#include "itable.h"

#define BITS_PER_WORD	(8 * sizeof(unsigned long))

/* An on-disk block of the table. */
struct it_block {
	struct betrkv_block_header hdr;
	__le32 count;
	__le32 pad;
} __packed;

struct it_disk_ent {
	__le64 id;
	__le32 slot;
	__le32 len;
} __packed;

#define IT_PER_BLOCK	((BETRKV_BLOCK_SIZE - sizeof(struct it_block)) / \
			 sizeof(struct it_disk_ent))

static bool bit_test(const unsigned long *map, u32 bit)
{
	return map[bit / BITS_PER_WORD] & (1ul << (bit % BITS_PER_WORD));
}

static void bit_set(unsigned long *map, u32 bit)
{
	map[bit / BITS_PER_WORD] |= 1ul << (bit % BITS_PER_WORD);
}

static void bit_clear(unsigned long *map, u32 bit)
{
	map[bit / BITS_PER_WORD] &= ~(1ul << (bit % BITS_PER_WORD));
}

static u64 hash_id(u64 id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return id;
}

static u64 bitmap_bytes(u32 nslots)
{
	return DIV_ROUND_UP(nslots, BITS_PER_WORD) * sizeof(unsigned long);
}

/**
 * betrkv_itable_init() - an empty table for a region of @nslots slots.
 * @it: the table
 * @nslots: node slots in the region
 * @node_size: bytes per slot
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_itable_init(struct betrkv_itable *it, u32 nslots, u32 node_size)
{
	memset(it, 0, sizeof(*it));
	it->nslots = nslots;
	it->node_size = node_size;
	it->cap = 64;
	it->tab = kvzalloc(it->cap * sizeof(*it->tab), GFP_KERNEL);
	it->live = kvzalloc(bitmap_bytes(nslots), GFP_KERNEL);
	it->persistent = kvzalloc(bitmap_bytes(nslots), GFP_KERNEL);
	if (!it->tab || !it->live || !it->persistent) {
		betrkv_itable_destroy(it);
		return -ENOMEM;
	}
	return 0;
}

void betrkv_itable_destroy(struct betrkv_itable *it)
{
	kvfree(it->tab);
	kvfree(it->live);
	kvfree(it->persistent);
	memset(it, 0, sizeof(*it));
}

/* The index holding @id, or the empty index where it would go. */
static u64 it_find(const struct betrkv_itable *it, u64 id)
{
	u64 i = hash_id(id) & (it->cap - 1);

	while (it->tab[i].id && it->tab[i].id != id)
		i = (i + 1) & (it->cap - 1);
	return i;
}

int betrkv_itable_lookup(const struct betrkv_itable *it, u64 id, u32 *slot,
			 u32 *len)
{
	u64 i = it_find(it, id);

	if (!it->tab[i].id)
		return -ENOENT;
	*slot = it->tab[i].slot;
	*len = it->tab[i].len;
	return 0;
}

static int it_grow(struct betrkv_itable *it)
{
	struct betrkv_itable_ent *old = it->tab;
	u64 oldcap = it->cap, i;

	it->tab = kvzalloc(2 * oldcap * sizeof(*it->tab), GFP_KERNEL);
	if (!it->tab) {
		it->tab = old;
		return -ENOMEM;
	}
	it->cap = 2 * oldcap;
	for (i = 0; i < oldcap; i++)
		if (old[i].id)
			it->tab[it_find(it, old[i].id)] = old[i];
	kvfree(old);
	return 0;
}

static void slot_unref_live(struct betrkv_itable *it, u32 slot)
{
	bit_clear(it->live, slot);
	if (!bit_test(it->persistent, slot))
		it->used_slots--;
}

/**
 * betrkv_itable_alloc() - take a free slot for the live tree.
 * @it: the table
 * @slot: receives the slot
 *
 * Return: 0, or -ENOSPC when every slot is referenced by the live tree or
 * the last durable checkpoint (a checkpoint may free some).
 */
int betrkv_itable_alloc(struct betrkv_itable *it, u32 *slot)
{
	u32 n;

	if (it->used_slots >= it->nslots)
		return -ENOSPC;
	for (n = 0; n < it->nslots; n++) {
		u32 s = it->cursor;

		it->cursor = (it->cursor + 1) % it->nslots;
		if (!bit_test(it->live, s) && !bit_test(it->persistent, s)) {
			bit_set(it->live, s);
			it->used_slots++;
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Give back a slot from alloc() that ended up unused (a failed write). */
void betrkv_itable_release(struct betrkv_itable *it, u32 slot)
{
	slot_unref_live(it, slot);
}

/**
 * betrkv_itable_map() - point @id at @slot, a slot from alloc().
 * @it: the table
 * @id: the node ID
 * @slot: its new slot
 * @len: bytes of the node there
 *
 * The slot @id had before leaves the live tree.
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_itable_map(struct betrkv_itable *it, u64 id, u32 slot, u32 len)
{
	u64 i = it_find(it, id);

	if (it->tab[i].id) {
		slot_unref_live(it, it->tab[i].slot);
	} else {
		if (2 * (it->count + 1) > it->cap) {
			if (it_grow(it))
				return -ENOMEM;
			i = it_find(it, id);
		}
		it->count++;
	}
	it->tab[i] = (struct betrkv_itable_ent){ .id = id, .slot = slot, .len = len };
	return 0;
}

/**
 * betrkv_itable_unmap() - @id leaves the live tree (no-op if not mapped).
 * @it: the table
 * @id: the node ID
 */
void betrkv_itable_unmap(struct betrkv_itable *it, u64 id)
{
	u64 i = it_find(it, id), j, home;

	if (!it->tab[i].id)
		return;
	slot_unref_live(it, it->tab[i].slot);
	it->count--;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (j = (i + 1) & (it->cap - 1); it->tab[j].id; j = (j + 1) & (it->cap - 1)) {
		home = hash_id(it->tab[j].id) & (it->cap - 1);
		if (((j - home) & (it->cap - 1)) >= ((j - i) & (it->cap - 1))) {
			it->tab[i] = it->tab[j];
			i = j;
		}
	}
	it->tab[i].id = 0;
}

/**
 * betrkv_itable_commit() - a checkpoint of the live table is durable.
 * @it: the table
 *
 * Slots only the previous checkpoint referenced become free.
 */
void betrkv_itable_commit(struct betrkv_itable *it)
{
	u32 s;

	memcpy(it->persistent, it->live, bitmap_bytes(it->nslots));
	it->used_slots = 0;
	for (s = 0; s < it->nslots; s++)
		it->used_slots += bit_test(it->live, s);
}

/* Bytes the table takes on disk: whole blocks. */
u64 betrkv_itable_disk_bytes(const struct betrkv_itable *it)
{
	return max(1ull, DIV_ROUND_UP(it->count, (u64)IT_PER_BLOCK)) *
	       BETRKV_BLOCK_SIZE;
}

/**
 * betrkv_itable_encode() - the live table as written at a checkpoint.
 * @it: the table
 * @uuid: the store's UUID
 * @first_blocknr: the block the first table block goes to
 * @buf: betrkv_itable_disk_bytes() bytes
 * @len: that length
 */
void betrkv_itable_encode(const struct betrkv_itable *it, const u8 uuid[16],
			  u64 first_blocknr, u8 *buf, u64 len)
{
	u64 i, b, k = 0;
	struct it_disk_ent *ents;
	struct it_block *blk;

	memset(buf, 0, len);
	for (i = 0; i < it->cap; i++) {
		if (!it->tab[i].id)
			continue;
		blk = (struct it_block *)(buf + k / IT_PER_BLOCK * BETRKV_BLOCK_SIZE);
		ents = (struct it_disk_ent *)(blk + 1);
		ents[k % IT_PER_BLOCK] = (struct it_disk_ent){
			.id = cpu_to_le64(it->tab[i].id),
			.slot = cpu_to_le32(it->tab[i].slot),
			.len = cpu_to_le32(it->tab[i].len) };
		k++;
	}
	for (b = 0; b < len / BETRKV_BLOCK_SIZE; b++) {
		blk = (struct it_block *)(buf + b * BETRKV_BLOCK_SIZE);
		blk->count = cpu_to_le32(min(k - min(k, b * IT_PER_BLOCK),
					     (u64)IT_PER_BLOCK));
		betrkv_block_seal(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_ITABLE,
				  first_blocknr + b, uuid);
	}
}

static int it_decode_block(struct betrkv_itable *it, const struct it_block *blk,
			   const char **why)
{
	const struct it_disk_ent *ents = (const struct it_disk_ent *)(blk + 1);
	u32 count = le32_to_cpu(blk->count), k, slot, len, oslot, olen;
	u64 id;
	int err;

	*why = "malformed indirection table entry";
	if (count > IT_PER_BLOCK || blk->pad)
		return -EUCLEAN;
	for (k = 0; k < count; k++) {
		id = le64_to_cpu(ents[k].id);
		slot = le32_to_cpu(ents[k].slot);
		len = le32_to_cpu(ents[k].len);
		if (!id || slot >= it->nslots || bit_test(it->live, slot) ||
		    !len || len > it->node_size || len % BETRKV_BLOCK_SIZE ||
		    !betrkv_itable_lookup(it, id, &oslot, &olen))
			return -EUCLEAN;
		bit_set(it->live, slot);
		it->used_slots++;
		err = betrkv_itable_map(it, id, slot, len);
		if (err)
			return err;
	}
	return 0;
}

/**
 * betrkv_itable_decode() - load the table of a checkpoint.
 * @it: an empty table (from init)
 * @uuid: the store's UUID
 * @first_blocknr: the block the table was read from
 * @buf: the blocks read
 * @len: their length
 * @why: receives a static reason on failure
 *
 * Every entry is checked: IDs unique and non-zero, slots in range and used
 * once, lengths within a node.  The loaded table is both live and
 * persistent.
 *
 * Return: 0, -EUCLEAN or -ENOMEM.
 */
int betrkv_itable_decode(struct betrkv_itable *it, const u8 uuid[16],
			 u64 first_blocknr, const u8 *buf, u64 len,
			 const char **why)
{
	u64 b;
	int err;

	if (!len || len % BETRKV_BLOCK_SIZE) {
		*why = "indirection table length";
		return -EUCLEAN;
	}
	for (b = 0; b < len / BETRKV_BLOCK_SIZE; b++) {
		const struct it_block *blk =
			(const struct it_block *)(buf + b * BETRKV_BLOCK_SIZE);

		err = betrkv_block_check(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_ITABLE,
					 first_blocknr + b, uuid, why);
		if (!err)
			err = it_decode_block(it, blk, why);
		if (err)
			return err;
	}
	betrkv_itable_commit(it);
	return 0;
}
