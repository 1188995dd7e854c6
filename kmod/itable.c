// SPDX-License-Identifier: GPL-2.0
/*
 * The indirection table and the slot allocator: see itable.h.
 *
 * The map is an open-addressing hash table with linear probing and
 * backward-shift deletion, kept at most half full.
 */
#include "block.h"
#include "itable.h"
#include "superblock.h"

#define BITS_PER_WORD	(8 * sizeof(unsigned long))



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

static int map_init(struct betrkv_itable_map *m, u64 cap)
{
	u64 bytes;

	if (check_mul_overflow(cap, (u64)sizeof(*m->tab), &bytes))
		return -ENOMEM;
	m->cap = cap;
	m->count = 0;
	m->tab = kvzalloc(bytes, GFP_KERNEL);
	return m->tab ? 0 : -ENOMEM;
}

static void map_destroy(struct betrkv_itable_map *m)
{
	kvfree(m->tab);
	memset(m, 0, sizeof(*m));
}

/* The index holding @id, or the empty index where it would go. */
static u64 map_find(const struct betrkv_itable_map *m, u64 id)
{
	u64 i = hash_id(id) & (m->cap - 1);

	while (m->tab[i].id && m->tab[i].id != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int map_grow(struct betrkv_itable_map *m)
{
	struct betrkv_itable_map old = *m;
	u64 i;

	if (map_init(m, 2 * old.cap)) {
		*m = old;
		return -ENOMEM;
	}
	m->count = old.count;
	for (i = 0; i < old.cap; i++)
		if (old.tab[i].id)
			m->tab[map_find(m, old.tab[i].id)] = old.tab[i];
	kvfree(old.tab);
	return 0;
}

/* Room for one more ID, so that map_set() cannot fail. */
static int map_reserve(struct betrkv_itable_map *m)
{
	return 2 * (m->count + 1) > m->cap ? map_grow(m) : 0;
}

/* Store @ent (after map_reserve()); return the previous slot of its ID. */
static u32 map_set(struct betrkv_itable_map *m, const struct betrkv_itable_ent *ent)
{
	u64 i = map_find(m, ent->id);
	u32 old = U32_MAX;

	if (m->tab[i].id)
		old = m->tab[i].slot;
	else
		m->count++;
	m->tab[i] = *ent;
	return old;
}

/* Remove @id; return its slot (U32_MAX: it was not there). */
static u32 map_remove(struct betrkv_itable_map *m, u64 id)
{
	u64 i = map_find(m, id), j, home;
	u32 slot = m->tab[i].slot;

	if (!m->tab[i].id)
		return U32_MAX;
	m->count--;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (j = (i + 1) & (m->cap - 1); m->tab[j].id; j = (j + 1) & (m->cap - 1)) {
		home = hash_id(m->tab[j].id) & (m->cap - 1);
		if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
			m->tab[i] = m->tab[j];
			i = j;
		}
	}
	m->tab[i].id = 0;
	return slot;
}

static bool slot_in_use(const struct betrkv_itable *it, u32 slot)
{
	return bit_test(it->live, slot) || bit_test(it->frozen, slot) ||
	       bit_test(it->persistent, slot);
}

/* Set or clear @slot in @map (one of the three bitmaps), keeping count. */
static void slot_ref(struct betrkv_itable *it, unsigned long *map, u32 slot)
{
	it->used_slots += !slot_in_use(it, slot);
	bit_set(map, slot);
}

static void slot_unref(struct betrkv_itable *it, unsigned long *map, u32 slot)
{
	if (slot == U32_MAX)
		return;
	bit_clear(map, slot);
	it->used_slots -= !slot_in_use(it, slot);
}

static void count_used(struct betrkv_itable *it)
{
	u32 s;

	it->used_slots = 0;
	for (s = 0; s < it->nslots; s++)
		it->used_slots += slot_in_use(it, s);
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
	it->live = kvzalloc(bitmap_bytes(nslots), GFP_KERNEL);
	it->frozen = kvzalloc(bitmap_bytes(nslots), GFP_KERNEL);
	it->persistent = kvzalloc(bitmap_bytes(nslots), GFP_KERNEL);
	if (map_init(&it->map, 64) || !it->live || !it->frozen || !it->persistent) {
		betrkv_itable_destroy(it);
		return -ENOMEM;
	}
	return 0;
}

void betrkv_itable_destroy(struct betrkv_itable *it)
{
	map_destroy(&it->map);
	map_destroy(&it->frozen_map);
	kvfree(it->live);
	kvfree(it->frozen);
	kvfree(it->persistent);
	memset(it, 0, sizeof(*it));
}

/**
 * betrkv_itable_lookup() - where the live tree's node @id lies.
 * @it: the table
 * @id: the node ID
 * @ent: receives its entry: slot, length and header checksum
 *
 * Return: 0, or -ENOENT if @id is not in the live map.
 */
int betrkv_itable_lookup(const struct betrkv_itable *it, u64 id,
			 struct betrkv_itable_ent *ent)
{
	u64 i = map_find(&it->map, id);

	if (!it->map.tab[i].id)
		return -ENOENT;
	*ent = it->map.tab[i];
	return 0;
}

/**
 * betrkv_itable_alloc() - take a free slot for a node write.
 * @it: the table
 * @slot: receives the slot (held as live until map() or release())
 *
 * Return: 0, or -ENOSPC when every slot is referenced by the live tree, a
 * checkpoint in progress or the last durable checkpoint (a checkpoint may
 * free some).
 */
int betrkv_itable_alloc(struct betrkv_itable *it, u32 *slot)
{
	u32 n;

	if (it->used_slots >= it->nslots)
		return -ENOSPC;
	for (n = 0; n < it->nslots; n++) {
		u32 s = it->cursor;

		it->cursor = (it->cursor + 1) % it->nslots;
		if (!slot_in_use(it, s)) {
			slot_ref(it, it->live, s);
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Give back a slot from alloc() that ended up unused (a failed write). */
void betrkv_itable_release(struct betrkv_itable *it, u32 slot)
{
	slot_unref(it, it->live, slot);
}

/* Does the live map still take @id to @slot (a version appended there)? */
static bool live_holds(const struct betrkv_itable *it, u64 id, u32 slot)
{
	struct betrkv_itable_ent cur;

	return !betrkv_itable_lookup(it, id, &cur) && cur.slot == slot;
}

/**
 * betrkv_itable_map() - point a node's ID at its new copy.
 * @it: the table
 * @ent: the node ID, its new slot (a slot from alloc(), or the slot it has,
 *	 appended to), the bytes of the node there, where its header starts
 *	 and the checksum of that header
 * @maps: BETRKV_ITABLE_LIVE and/or BETRKV_ITABLE_FROZEN (the latter only
 *	  for a node the checkpoint in progress must write)
 *
 * The slot the ID had before leaves the maps changed.
 *
 * Return: 0 or -ENOMEM (nothing changed).
 */
int betrkv_itable_map(struct betrkv_itable *it,
		      const struct betrkv_itable_ent *ent, unsigned int maps)
{
	bool live = maps & BETRKV_ITABLE_LIVE, frozen = maps & BETRKV_ITABLE_FROZEN;
	u32 old;

	if ((frozen && map_reserve(&it->frozen_map)) ||
	    (live && map_reserve(&it->map)))
		return -ENOMEM;
	if (frozen) {
		slot_ref(it, it->frozen, ent->slot);
		old = map_set(&it->frozen_map, ent);
		if (old != ent->slot)
			slot_unref(it, it->frozen, old);
	}
	if (live) {
		old = map_set(&it->map, ent);
		if (old != ent->slot)
			slot_unref(it, it->live, old);
	} else if (!live_holds(it, ent->id, ent->slot)) {
		slot_unref(it, it->live, ent->slot);
	}
	return 0;
}

/**
 * betrkv_itable_unmap() - @id leaves the live tree (no-op if not mapped).
 * @it: the table
 * @id: the node ID
 */
void betrkv_itable_unmap(struct betrkv_itable *it, u64 id)
{
	slot_unref(it, it->live, map_remove(&it->map, id));
}

/**
 * betrkv_itable_freeze() - a checkpoint begins: freeze the live map.
 * @it: the table, with no checkpoint in progress
 *
 * Return: 0 or -ENOMEM.
 */
int betrkv_itable_freeze(struct betrkv_itable *it)
{
	struct betrkv_itable_map *f = &it->frozen_map;

	if (map_init(f, it->map.cap))
		return -ENOMEM;
	memcpy(f->tab, it->map.tab, f->cap * sizeof(*f->tab));
	f->count = it->map.count;
	memcpy(it->frozen, it->live, bitmap_bytes(it->nslots));
	it->frozen_active = true;
	return 0;
}

/* Drop the frozen map: its checkpoint will not be completed. */
void betrkv_itable_thaw(struct betrkv_itable *it)
{
	map_destroy(&it->frozen_map);
	memset(it->frozen, 0, bitmap_bytes(it->nslots));
	it->frozen_active = false;
	count_used(it);
}

/**
 * betrkv_itable_commit() - the checkpoint of the frozen map is durable.
 * @it: the table
 *
 * Slots only the previous checkpoint referenced become free.
 */
void betrkv_itable_commit(struct betrkv_itable *it)
{
	memcpy(it->persistent, it->frozen, bitmap_bytes(it->nslots));
	betrkv_itable_thaw(it);
}

/*
 * Bytes the frozen map takes on disk: whole blocks.  A full block takes no
 * more than the layout reserves for its entries (and the layout has a block
 * more for the last one).
 */
u64 betrkv_itable_disk_bytes(const struct betrkv_itable *it)
{
	BUILD_BUG_ON(IT_PER_BLOCK * BETRKV_ITABLE_ENTRY_BYTES < BETRKV_BLOCK_SIZE);
	return max(1ull, DIV_ROUND_UP(it->frozen_map.count, (u64)IT_PER_BLOCK)) *
	       BETRKV_BLOCK_SIZE;
}

/**
 * betrkv_itable_encode() - the frozen map as its checkpoint writes it.
 * @it: the table
 * @uuid: the store's UUID
 * @first_blocknr: the block the first table block goes to
 * @buf: betrkv_itable_disk_bytes() bytes
 * @len: that length
 */
void betrkv_itable_encode(const struct betrkv_itable *it, const u8 uuid[16],
			  u64 first_blocknr, u8 *buf, u64 len)
{
	const struct betrkv_itable_map *f = &it->frozen_map;
	u64 i, b, k = 0;
	struct it_disk_ent *ents;
	struct it_block *blk;

	memset(buf, 0, len);
	for (i = 0; i < f->cap; i++) {
		if (!f->tab[i].id)
			continue;
		blk = (struct it_block *)(buf + k / IT_PER_BLOCK * BETRKV_BLOCK_SIZE);
		ents = (struct it_disk_ent *)(blk + 1);
		ents[k % IT_PER_BLOCK] = (struct it_disk_ent){
			.id = cpu_to_le64(f->tab[i].id),
			.slot = cpu_to_le32(f->tab[i].slot),
			.len = cpu_to_le32(f->tab[i].len),
			.hdr = cpu_to_le32(f->tab[i].hdr),
			.csum = cpu_to_le32(f->tab[i].csum) };
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
	u32 count = le32_to_cpu(blk->count), k;
	struct betrkv_itable_ent ent, old;
	int err;

	*why = "malformed indirection table entry";
	if (count > IT_PER_BLOCK || blk->pad)
		return -EUCLEAN;
	for (k = 0; k < count; k++) {
		ent = (struct betrkv_itable_ent){
			.id = le64_to_cpu(ents[k].id),
			.slot = le32_to_cpu(ents[k].slot),
			.len = le32_to_cpu(ents[k].len),
			.hdr = le32_to_cpu(ents[k].hdr),
			.csum = le32_to_cpu(ents[k].csum) };
		if (!ent.id || ent.slot >= it->nslots || bit_test(it->live, ent.slot) ||
		    !ent.len || ent.len > it->node_size || ent.len % BETRKV_BLOCK_SIZE ||
		    ent.hdr >= ent.len || ent.hdr % BETRKV_BLOCK_SIZE ||
		    !betrkv_itable_lookup(it, ent.id, &old))
			return -EUCLEAN;
		slot_ref(it, it->live, ent.slot);
		err = betrkv_itable_map(it, &ent, BETRKV_ITABLE_LIVE);
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
 * once, lengths within a node; the table is no longer than one of @it's
 * slots all in use takes.  The loaded map is live and its slots are those of
 * the durable checkpoint.
 *
 * Return: 0, -EUCLEAN or -ENOMEM.
 */
int betrkv_itable_decode(struct betrkv_itable *it, const u8 uuid[16],
			 u64 first_blocknr, const u8 *buf, u64 len,
			 const char **why)
{
	u64 b, nblocks = len / BETRKV_BLOCK_SIZE, blocknr;
	int err;

	*why = "indirection table length";
	if (!len || len % BETRKV_BLOCK_SIZE ||
	    nblocks > max(1ull, DIV_ROUND_UP((u64)it->nslots, (u64)IT_PER_BLOCK)) ||
	    check_add_overflow(first_blocknr, nblocks, &blocknr))
		return -EUCLEAN;
	for (b = 0; b < nblocks; b++) {
		const struct it_block *blk =
			(const struct it_block *)(buf + b * BETRKV_BLOCK_SIZE);

		err = betrkv_block_check(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_ITABLE,
					 first_blocknr + b, uuid, why);
		if (!err)
			err = it_decode_block(it, blk, why);
		if (err)
			return err;
	}
	memcpy(it->persistent, it->live, bitmap_bytes(it->nslots));
	return 0;
}
