/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The indirection table and the allocator of node slots.
 *
 * The node region is an array of slots of node_size bytes; a node occupies
 * one slot (its encoding may be shorter).  The live map takes each logical
 * node ID of the live tree to its slot, its length, where its header starts
 * and the checksum of that header.  That checksum names the version of the
 * node the table refers to (as a ZFS block pointer does): the header holds
 * every segment's checksum and the slot's block number, so a reader that
 * finds another checksum in the header has an older copy left by a lost or
 * misdirected write, even with the right ID, slot and length.  A node
 * written again may stay in its slot, appended beyond the length every map
 * records (nodefmt.h): then two maps name one slot with different lengths
 * and headers.  A checkpoint in progress
 * has its own map, frozen when it began (freeze()) and then changed only by
 * the writes of the nodes that were dirty then (map() with
 * BETRKV_ITABLE_FROZEN); that map is what the checkpoint writes.
 *
 * Three bitmaps say which slots the live map, the frozen map and the last
 * durable checkpoint reference; a slot is free only when none does, so a
 * slot freed by copy-on-write is reused only after a checkpoint that no
 * longer refers to it is durable (commit()).
 *
 * On disk (one of the two itable slots of the layout) the table is a run of
 * blocks, each a struct betrkv_block_header of type ITABLE plus entries (ID,
 * slot, length, header offset, header checksum); the
 * superblock's checkpoint records the run's length and crc32c, which also
 * tells a current run from a stale one.
 */
#ifndef BETRKV_ITABLE_H
#define BETRKV_ITABLE_H

#include "env.h"

struct betrkv_itable_ent {
	u64 id;		/* 0: empty */
	u32 slot;
	u32 len;	/* bytes of the slot this version of the node takes */
	u32 hdr;	/* where in them its header starts (block aligned) */
	u32 csum;	/* of the node's header: betrkv_node_csum() */
};

/* An ID -> slot map. */
struct betrkv_itable_map {
	struct betrkv_itable_ent *tab;
	u64 cap;		/* a power of two */
	u64 count;
};

struct betrkv_itable {
	struct betrkv_itable_map map;		/* the live tree */
	struct betrkv_itable_map frozen_map;	/* the checkpoint in progress */
	bool frozen_active;
	unsigned long *live;
	unsigned long *frozen;
	unsigned long *persistent;
	u32 nslots;
	u32 node_size;
	u32 used_slots;		/* live | frozen | persistent */
	u32 cursor;
};

/* Which maps betrkv_itable_map() changes. */
#define BETRKV_ITABLE_LIVE	(1u << 0)
#define BETRKV_ITABLE_FROZEN	(1u << 1)

int betrkv_itable_init(struct betrkv_itable *it, u32 nslots, u32 node_size);
void betrkv_itable_destroy(struct betrkv_itable *it);
int betrkv_itable_lookup(const struct betrkv_itable *it, u64 id,
			 struct betrkv_itable_ent *ent);
int betrkv_itable_alloc(struct betrkv_itable *it, u32 *slot);
void betrkv_itable_release(struct betrkv_itable *it, u32 slot);
int betrkv_itable_map(struct betrkv_itable *it,
		      const struct betrkv_itable_ent *ent, unsigned int maps);
void betrkv_itable_unmap(struct betrkv_itable *it, u64 id);
int betrkv_itable_freeze(struct betrkv_itable *it);
void betrkv_itable_thaw(struct betrkv_itable *it);
void betrkv_itable_commit(struct betrkv_itable *it);
u64 betrkv_itable_disk_bytes(const struct betrkv_itable *it);
void betrkv_itable_encode(const struct betrkv_itable *it, const u8 uuid[16],
			  u64 first_blocknr, u8 *buf, u64 len);
int betrkv_itable_decode(struct betrkv_itable *it, const u8 uuid[16],
			 u64 first_blocknr, const u8 *buf, u64 len,
			 const char **why);

#endif /* BETRKV_ITABLE_H */
