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
 *            for a leaf, the first key of every segment
 *   segments one per child buffer (internal) or per run of entries (leaf),
 *            each a sequence of messages with its own crc32c, salted with
 *            the UUID, the node ID and the segment's index
 *
 * So a reader can check and use the header alone and then any one segment:
 * a point query need not read the whole node.  Every length, offset and
 * count read from disk is bounded before use; any inconsistency is
 * -EUCLEAN.
 */
#ifndef BETRKV_NODEFMT_H
#define BETRKV_NODEFMT_H

#include "node.h"

int betrkv_node_encode(const struct betrkv_node *n, const u8 uuid[16],
		       u64 blocknr, u8 *buf, u32 cap, u32 *len);
int betrkv_node_decode(const u8 *buf, u32 len, const u8 uuid[16], u64 blocknr,
		       u64 id, struct betrkv_node **np, const char **why);

#endif /* BETRKV_NODEFMT_H */
