/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Rewriting a closed store's image with valid checksums, for the tests and
 * fuzzers of checksum-valid but inconsistent trees (spec section 3): load
 * the superblock and the indirection table, read, write or reseal nodes
 * (each write records the node's slot, length and header checksum in the
 * table), then write the table and a superblock that points at it.
 * Every helper returns 0 or a negative errno.
 */
#ifndef BETRKV_TEST_IMAGE_EDIT_H
#define BETRKV_TEST_IMAGE_EDIT_H

#include "block.h"
#include "itable.h"
#include "nodefmt.h"
#include "superblock.h"

struct image {
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int sb_slot;
	struct betrkv_itable it;
	u8 *buf;		/* a node, or the table: the larger */
};

static inline u64 image_itable_off(const struct betrkv_sb *sb)
{
	return sb->geo.itable_offset + sb->cp.itable_slot * sb->geo.itable_size;
}

static inline u64 image_slot_off(const struct image *im, u32 slot)
{
	return im->sb.geo.nodes_offset + (u64)slot * im->sb.geo.node_size;
}

/* Load @dev's superblock and indirection table into @im. */
static inline int image_open(struct image *im, struct betrkv_dev *dev)
{
	const struct betrkv_geometry *g = &im->sb.geo;
	const char *why;
	int err;

	im->dev = dev;
	err = betrkv_sb_load(dev, &im->sb, &im->sb_slot);
	if (err)
		return err;
	im->buf = kmalloc(max((u64)g->node_size, im->sb.cp.itable_bytes),
			  GFP_KERNEL);
	if (!im->buf)
		return -ENOMEM;
	err = betrkv_itable_init(&im->it, g->nodes_size / g->node_size,
				 g->node_size);
	if (err) {
		kfree(im->buf);
		return err;
	}
	err = betrkv_dev_read(dev, image_itable_off(&im->sb), im->buf,
			      im->sb.cp.itable_bytes) ?:
	      betrkv_itable_decode(&im->it, im->sb.uuid,
				   image_itable_off(&im->sb) / BETRKV_BLOCK_SIZE,
				   im->buf, im->sb.cp.itable_bytes, &why);
	if (err) {
		betrkv_itable_destroy(&im->it);
		kfree(im->buf);
	}
	return err;
}

/* Free what image_open() loaded; the device stays open. */
static inline void image_close(struct image *im)
{
	betrkv_itable_destroy(&im->it);
	kfree(im->buf);
}

/* Read node @id's bytes into im->buf; @ent receives its table entry. */
static inline int image_read_raw(struct image *im, u64 id,
				 struct betrkv_itable_ent *ent)
{
	int err = betrkv_itable_lookup(&im->it, id, ent);

	return err ?: betrkv_dev_read(im->dev, image_slot_off(im, ent->slot),
				      im->buf, ent->len);
}

/* Decode node @id as the table maps it. */
static inline int image_read_node(struct image *im, u64 id,
				  struct betrkv_node **np)
{
	struct betrkv_itable_ent ent;
	const char *why;
	int err = image_read_raw(im, id, &ent);

	return err ?: betrkv_node_decode(im->buf, ent.len, ent.hdr, im->sb.uuid,
					 image_slot_off(im, ent.slot) /
					 BETRKV_BLOCK_SIZE, id, np, &why);
}

/* Write im->buf as the node @ent maps, recording its header checksum. */
static inline int image_write_raw(struct image *im, struct betrkv_itable_ent *ent)
{
	int err = betrkv_dev_write(im->dev, image_slot_off(im, ent->slot),
				   im->buf, ent->len, BETRKV_IO_FUA);

	ent->csum = betrkv_node_csum(im->buf + ent->hdr);
	return err ?: betrkv_itable_map(&im->it, ent, BETRKV_ITABLE_LIVE);
}

/*
 * Seal again the header of the node in im->buf (after a patch of its
 * bytes) and write it as @ent maps it: the header length is what the
 * patched header says, within the node.
 */
static inline int image_reseal_raw(struct image *im, struct betrkv_itable_ent *ent)
{
	u32 hdr_len;

	if (betrkv_node_hdr_len(im->buf + ent->hdr, ent->len, ent->hdr, &hdr_len))
		return -EINVAL;
	betrkv_block_seal(im->buf + ent->hdr, hdr_len, BETRKV_BLOCK_NODE,
			  (image_slot_off(im, ent->slot) + ent->hdr) /
			  BETRKV_BLOCK_SIZE, im->sb.uuid);
	return image_write_raw(im, ent);
}

/*
 * Write @n with valid checksums, in its slot or (new ID) in a free one.
 * @n must be one the encoder takes (betrkv_node_check_shape()).
 */
static inline int image_write_node(struct image *im, const struct betrkv_node *n)
{
	struct betrkv_itable_ent ent = { .id = n->id };
	int err = 0;

	if (betrkv_itable_lookup(&im->it, n->id, &ent))
		err = betrkv_itable_alloc(&im->it, &ent.slot);
	ent.hdr = 0;
	err = err ?: betrkv_node_encode(n, im->sb.uuid,
					image_slot_off(im, ent.slot) /
					BETRKV_BLOCK_SIZE, im->buf,
					im->sb.geo.node_size, &ent.len) ?:
	      image_write_raw(im, &ent);
	if (!err)
		im->sb.cp.next_node_id = max(im->sb.cp.next_node_id, n->id + 1);
	return err;
}

/* Write the indirection table and the superblock that points at it. */
static inline int image_commit(struct image *im)
{
	u64 len, off = image_itable_off(&im->sb);
	int err;
	u8 *buf;

	/* The table written is the frozen map: the live one as it is now. */
	err = betrkv_itable_freeze(&im->it);
	if (err)
		return err;
	len = betrkv_itable_disk_bytes(&im->it);
	buf = kmalloc(len, GFP_KERNEL);
	if (!buf) {
		betrkv_itable_thaw(&im->it);
		return -ENOMEM;
	}
	betrkv_itable_encode(&im->it, im->sb.uuid, off / BETRKV_BLOCK_SIZE,
			     buf, len);
	err = betrkv_dev_write(im->dev, off, buf, len, BETRKV_IO_FUA);
	im->sb.cp.itable_bytes = len;
	im->sb.cp.itable_csum = betrkv_crc32c(NULL, 0, buf, len);
	kfree(buf);
	betrkv_itable_thaw(&im->it);
	return err ?: betrkv_sb_write(im->dev, &im->sb, im->sb_slot);
}

#endif /* BETRKV_TEST_IMAGE_EDIT_H */
