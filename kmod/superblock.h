/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The superblock: identity, geometry and the checkpoint pointer of a store.
 *
 * Device layout (all offsets multiples of BETRKV_BLOCK_SIZE):
 *
 *   block 0, block 1   superblock copies (slots 0 and 1)
 *   journal            circular log of logical records
 *   itable slot 0, 1   the persistent and the in-progress indirection table
 *   nodes              tree nodes, written copy-on-write
 *
 * Format writes slot 0 with generation 1 and slot 1 with generation 0.  Each
 * checkpoint writes the slot not holding the newest copy with the next
 * generation, so a torn superblock write always leaves the previous one.
 * Bind takes the valid copy with the highest generation.
 */
#ifndef BETRKV_SUPERBLOCK_H
#define BETRKV_SUPERBLOCK_H

#include <linux/betrkv.h>

#include "env.h"

#define BETRKV_SB_MAGIC		0x6273766b72746562ull	/* "betrkvsb" on disk */
#define BETRKV_SB_SLOTS		2
/* Bytes the layout reserves per indirection table entry. */
#define BETRKV_ITABLE_ENTRY_BYTES	32u
/* Fewest nodes a device must hold. */
#define BETRKV_MIN_NODES	64u

struct betrkv_geometry {
	u64 device_bytes;
	u32 logical_block_size;
	u32 node_size;
	u64 journal_offset;
	u64 journal_size;
	u64 itable_offset;	/* slot 0; slot 1 follows at + itable_size */
	u64 itable_size;	/* bytes of one slot */
	u64 nodes_offset;
	u64 nodes_size;
};

/*
 * Where the last checkpoint lives and where journal replay starts; all zero
 * (an empty tree, replay from the journal's first block) after format.
 */
struct betrkv_checkpoint {
	u64 seq;		/* highest sequence number the checkpoint contains */
	u64 journal_pos;	/* stream position of the first journal block to replay */
	u32 journal_prev;	/* the link (csum) that block must carry */
	u32 itable_slot;	/* 0 or 1 */
	u64 itable_bytes;	/* bytes of indirection table written */
	u32 itable_csum;	/* crc32c of those bytes */
	u64 root;		/* logical node id of the root, 0 = empty tree */
	u64 next_node_id;	/* first logical node id never used */
};

struct betrkv_sb {
	u32 format_version;
	u8 uuid[16];
	u64 generation;
	u64 format_time;	/* seconds since the epoch */
	struct betrkv_geometry geo;
	struct betrkv_checkpoint cp;
};

int betrkv_layout(struct betrkv_geometry *geo, u64 device_bytes,
		  u32 logical_block_size, u32 node_size, u64 journal_size,
		  const char **why);
void betrkv_sb_encode(const struct betrkv_sb *sb, unsigned int slot, void *blk);
int betrkv_sb_decode(const void *blk, unsigned int slot, struct betrkv_sb *sb,
		     const char **why);
int betrkv_sb_pick(const int ret[BETRKV_SB_SLOTS],
		   const struct betrkv_sb sb[BETRKV_SB_SLOTS]);
int betrkv_sb_check_device(const struct betrkv_geometry *geo, u64 device_bytes,
			   u32 logical_block_size, const char **why);
int betrkv_sb_load(struct betrkv_dev *dev, struct betrkv_sb *sb,
		   unsigned int *slot);
int betrkv_sb_write(struct betrkv_dev *dev, const struct betrkv_sb *sb,
		    unsigned int slot);
int betrkv_sb_format(struct betrkv_dev *dev, u32 node_size, u64 journal_size,
		     struct betrkv_sb *sb);

#endif /* BETRKV_SUPERBLOCK_H */
