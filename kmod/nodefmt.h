/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The on-disk format of tree nodes.
 *
 * A node lives in one slot of node_size bytes as a log: each write of it
 * adds, at the next BETRKV_BLOCK_SIZE boundary, new segments of messages
 * and a header that describes every segment of this version of the node,
 * the new ones and those of earlier writes it still uses.  The indirection
 * table records the version's length and where its header starts.  A
 * write that starts the log again (a whole rewrite, to a fresh slot) has
 * its header first.
 *
 *   header   struct betrkv_block_header (type NODE, salted with the UUID,
 *            checksum over the header only), node ID, height, sizes; an
 *            internal node's child IDs and pivot keys; the segment table;
 *            for a leaf, the first key of every segment and its limit, if
 *            it has one; the Bloom filter of every segment's keys
 *   segments each a sorted run of messages with its own crc32c (salted with
 *            the UUID, the node ID and the segment's offset), in a layer:
 *            a leaf's layer is a sequence of runs, cut by key; an internal
 *            node's layer has at most one segment per child, that child's
 *            buffered messages
 *
 * Layers are numbered from 0, the oldest; a message in a newer layer
 * replaces any for its key in an older one (in a leaf a delete removes the
 * key; layer 0 of a leaf holds only puts).  So a reader can check and use
 * the header alone (struct betrkv_node_hdr) and then, per layer, the one
 * segment a key routes to: a point query need not read the whole node.
 * Every length, offset and count read from disk is bounded before use; any
 * inconsistency is -EUCLEAN.
 *
 * A leaf whose upper keys a split moved to a new node is appended to like
 * any other: its header drops the segments that start at or above the
 * split's key and records that key as its limit (NF_LIMIT), past which the
 * messages of the segments it keeps are dead.  So a split writes only the
 * new half whole, when the old half's slot has room for its append.
 */
#ifndef BETRKV_NODEFMT_H
#define BETRKV_NODEFMT_H

#include "node.h"

/* Where a segment lies in the node and how to check it. */
struct betrkv_seg_ref {
	u32 off;				/* in the slot */
	u32 len;
	u32 nmsgs;
	u32 csum;
	u16 layer;
	u16 child;				/* internal: the child's index */
	u32 bloom_off;				/* in blooms */
	u32 bloom_len;
};

/*
 * A node's checked header: enough to route a key to its segments and to
 * read and check each alone.  @bounds are an internal node's pivots
 * (nchildren - 1 of them), or a leaf's first key of every segment (nsegs).
 * Segments are in the order of their layers, then of their keys; those of
 * layer l are [layer_start[l], layer_start[l + 1]).
 */
struct betrkv_node_hdr {
	u64 id;
	u32 height;
	u32 nchildren;				/* internal */
	u32 nsegs;
	u32 nlayers;
	u32 flags;				/* NF_LIMIT */
	u32 hdr_off;				/* where the header starts */
	u32 hdr_len;
	u32 total_len;
	u64 *children;				/* internal: [nchildren] */
	struct betrkv_pivot **bounds;
	struct betrkv_pivot *limit;		/* leaf: keys from here on are dead */
	struct betrkv_seg_ref *segs;		/* [nsegs] */
	u32 *layer_start;			/* [nlayers + 1] */
	u8 *blooms;				/* each segment's filter */
	u32 refs;				/* the cache's bookkeeping */
};

int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len);
int betrkv_node_encode_append(const struct betrkv_node *n,
			      const struct betrkv_node_hdr *old,
			      const u8 uuid[16], u64 blocknr, u8 *buf, u32 cap,
			      u32 *len);
int betrkv_node_decode(const u8 *buf, u32 len, u32 hdr_off, const u8 uuid[16],
		       u64 blocknr, u64 id, struct betrkv_node **np,
		       const char **why);
u32 betrkv_node_csum(const u8 *hdr);

int betrkv_node_hdr_len(const u8 *hdr, u32 len, u32 hdr_off, u32 *hdr_len);
int betrkv_node_hdr_decode(const u8 *hdr, u32 len, u32 hdr_off,
			   const u8 uuid[16], u64 blocknr, u64 id,
			   struct betrkv_node_hdr **hp, const char **why);
int betrkv_node_hdr_check(const struct betrkv_node_hdr *h,
			  const struct betrkv_expect *x, const char **why);
int betrkv_node_hdr_check_limit(const struct betrkv_node_hdr *h,
				const struct betrkv_range *r, const char **why);
void betrkv_node_hdr_free(struct betrkv_node_hdr *h);
u64 betrkv_node_hdr_mem(const struct betrkv_node_hdr *h);
u32 betrkv_node_hdr_child(const struct betrkv_node_hdr *h, const u8 *key,
			  u32 klen);
int betrkv_node_hdr_route(const struct betrkv_node_hdr *h, u32 layer,
			  const u8 *key, u32 klen);
bool betrkv_node_hdr_may_hold(const struct betrkv_node_hdr *h, u32 s,
			      const u8 *key, u32 klen);
int betrkv_node_build(struct betrkv_node_hdr *h, const u8 *buf,
		      const u8 uuid[16], struct betrkv_node **np);
int betrkv_node_seg_decode(const struct betrkv_node_hdr *h, const u8 uuid[16],
			   u32 s, const u8 *seg, struct betrkv_msgbuf *out);

#endif /* BETRKV_NODEFMT_H */
