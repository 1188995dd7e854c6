/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The on-disk format: every structure betrkv writes to a device, in one
 * place, little-endian and packed.  The size of each is pinned below, so a
 * stray field cannot change the format unnoticed: a change here is a new
 * BETRKV_FORMAT_VERSION (uapi/linux/betrkv.h), and stores of another
 * version are refused.  What the fields mean, and the rules of each kind of
 * block, are in the file that reads and writes it (superblock.c, journal.c,
 * itable.c, nodefmt.c); block.h describes the header they all start with.
 */
#ifndef BETRKV_FORMAT_H
#define BETRKV_FORMAT_H

#include <linux/betrkv.h>

#include "env.h"

/*
 * Sequence numbers on disk (checkpoint, journal records) never pass this:
 * a store taking a million mutations a second would need 146,000 years to
 * get there, so a larger one is corruption, and a store that reaches it
 * takes no more mutations (ENOSPC) rather than wrap.
 */
#define BETRKV_SEQ_MAX		(1ull << 62)

/* Every block: checksum, type and own location (block.h). */
struct betrkv_block_header {
	__le32 csum;
	__le32 type;		/* enum betrkv_block_type */
	__le64 blocknr;		/* byte offset of the block / BETRKV_BLOCK_SIZE */
};

enum betrkv_block_type {
	BETRKV_BLOCK_SUPER = 0x53555052,	/* "SUPR" */
	BETRKV_BLOCK_JOURNAL = 0x4a524e4c,	/* "JRNL" */
	BETRKV_BLOCK_NODE = 0x45444f4e,		/* "NODE" */
	BETRKV_BLOCK_ITABLE = 0x4c424154,	/* "TABL" */
};

/* The superblock as it is on disk, little-endian; the rest of the block is 0. */
struct betrkv_sb_disk {
	struct betrkv_block_header hdr;
	__le64 magic;
	__le32 format_version;
	__le32 pad;
	u8 uuid[16];
	__le64 generation;
	__le64 format_time;

	__le64 device_bytes;
	__le32 logical_block_size;
	__le32 node_size;
	__le64 journal_offset;
	__le64 journal_size;
	__le64 itable_offset;
	__le64 itable_size;
	__le64 nodes_offset;
	__le64 nodes_size;

	__le64 cp_seq;
	__le64 cp_journal_pos;
	__le32 cp_journal_prev;
	__le32 cp_itable_slot;
	__le64 cp_itable_bytes;
	__le32 cp_itable_csum;
	__le32 cp_pad;
	__le64 cp_root;
	__le64 cp_next_node_id;
} __packed;

/* The indirection table (itable.c): each block is this, then entries. */
struct it_block {
	struct betrkv_block_header hdr;
	__le32 count;
	__le32 pad;
} __packed;

struct it_disk_ent {
	__le64 id;
	__le32 slot;
	__le32 len;
	__le32 hdr;
	__le32 csum;
} __packed;

/* A tree node (nodefmt.c): segments of messages and the header of them. */
struct nf_hdr {
	struct betrkv_block_header blk;
	__le64 id;
	__le32 height;
	__le32 nchildren;
	__le32 hdr_len;
	__le32 total_len;
	__le32 nsegs;
	__le16 nlayers;
	__le16 flags;		/* NF_LIMIT */
} __packed;

/* A leaf's header ends its tables with a limit key (nodefmt.h). */
#define NF_LIMIT	1u

struct nf_seg {
	__le32 off;
	__le32 len;
	__le32 nmsgs;
	__le32 csum;
	__le16 layer;
	__le16 child;
} __packed;

struct nf_msg {
	u8 type;
	u8 pad;
	__le16 klen;
	__le32 vlen;
} __packed;

/* Salt of a segment's checksum. */
struct nf_seg_salt {
	u8 uuid[16];
	__le64 id;
	__le32 off;
} __packed;

/* The journal (journal.c). */
/* The header of every journal block; the payload follows. */
struct journal_block {
	struct betrkv_block_header hdr;
	__le64 pos;
	__le64 nonce;
	__le32 prev;
	__le16 used;
	__le16 first;
	__le64 batch;
} __packed;

/* A record: this header, then nops operations. */
struct journal_rec {
	__le32 len;
	__le32 nops;
	__le64 seq;
} __packed;

/* One operation of a record; the key and value bytes follow. */
struct journal_op {
	__le32 type;
	__le32 klen;
	__le32 vlen;
} __packed;

static_assert(sizeof(struct betrkv_block_header) == 16);
static_assert(sizeof(struct betrkv_sb_disk) == 184);
static_assert(sizeof(struct it_block) == 24);
static_assert(sizeof(struct it_disk_ent) == 24);
static_assert(sizeof(struct nf_hdr) == 48);
static_assert(sizeof(struct nf_seg) == 20);
static_assert(sizeof(struct nf_msg) == 8);
static_assert(sizeof(struct nf_seg_salt) == 28);
static_assert(sizeof(struct journal_block) == 48);
static_assert(sizeof(struct journal_rec) == 16);
static_assert(sizeof(struct journal_op) == 12);

#endif /* BETRKV_FORMAT_H */
