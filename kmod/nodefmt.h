/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The on-disk format of tree nodes.
 *
 * A node is written as one extent (a multiple of BETRKV_BLOCK_SIZE) in a
 * node slot:
 *
 *   header   struct betrkv_block_header (type NODE, salted with the UUID,
 *            checksum over the header only), node ID, height, sizes; an
 *            internal node's child IDs and pivot keys; the segment table;
 *            for a leaf, the first key of every segment; for an internal
 *            node, a Bloom filter of every segment's keys
 *   segments one per child buffer (internal) or per run of entries (leaf),
 *            each a sequence of messages with its own crc32c, salted with
 *            the UUID, the node ID and the segment's index
 *
 * So a reader can check and use the header alone (struct betrkv_node_hdr)
 * and then any one segment: a point query need not read the whole node.  Every length, offset and
 * count read from disk is bounded before use; any inconsistency is
 * -EUCLEAN.
 */
#ifndef BETRKV_NODEFMT_H
#define BETRKV_NODEFMT_H

#include "node.h"

/* Where a segment lies in the node and how to check it. */
struct betrkv_seg_ref {
	u32 off;
	u32 len;
	u32 nmsgs;
	u32 csum;
	u32 bloom_off;				/* internal: in blooms */
	u32 bloom_len;
};

/*
 * A node's checked header: enough to route a key to its segment and to read
 * and check that segment alone.  @bounds are the keys between segments: an
 * internal node's pivots (nsegs - 1 of them); a leaf's first key of every
 * run (nsegs), where the key of run 0 is the leaf's smallest.
 */
struct betrkv_node_hdr {
	u64 id;
	u32 height;
	u32 nsegs;
	u32 hdr_len;
	u32 total_len;
	u64 *children;				/* internal: [nsegs] */
	struct betrkv_pivot **bounds;
	struct betrkv_seg_ref *segs;		/* [nsegs] */
	u8 *blooms;				/* internal: each segment's filter */
	u32 refs;				/* the cache's bookkeeping */
};

int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len);
int betrkv_node_decode(const u8 *buf, u32 len, const u8 uuid[16], u64 blocknr,
		       u64 id, struct betrkv_node **np, const char **why);
u32 betrkv_node_csum(const u8 *buf);

int betrkv_node_hdr_len(const u8 *buf, u32 len, u32 *hdr_len);
int betrkv_node_hdr_decode(const u8 *buf, u32 len, const u8 uuid[16],
			   u64 blocknr, u64 id, struct betrkv_node_hdr **hp,
			   const char **why);
int betrkv_node_hdr_check(const struct betrkv_node_hdr *h,
			  const struct betrkv_expect *x, const char **why);
void betrkv_node_hdr_free(struct betrkv_node_hdr *h);
u64 betrkv_node_hdr_mem(const struct betrkv_node_hdr *h);
int betrkv_node_hdr_route(const struct betrkv_node_hdr *h, const u8 *key,
			  u32 klen);
bool betrkv_node_hdr_may_hold(const struct betrkv_node_hdr *h, u32 s,
			      const u8 *key, u32 klen);
int betrkv_node_seg_decode(const struct betrkv_node_hdr *h, const u8 uuid[16],
			   u32 s, const u8 *seg, struct betrkv_msgbuf *out);

#endif /* BETRKV_NODEFMT_H */
