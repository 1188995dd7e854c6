// SPDX-License-Identifier: GPL-2.0
/*
 * The superblock: layout computation, encoding, validation, and choosing
 * the newest of the two copies.  See superblock.h for the device layout.
 *
 * The geometry is a pure function of four parameters (device size, logical
 * block size, node size, journal size): betrkv_layout().  A decoded
 * superblock is accepted only if its geometry is exactly what that function
 * computes for its parameters, which rejects every inconsistent or
 * out-of-bounds region with one rule.  Every sum and product of sizes in
 * that function is checked for overflow: no region may pass 2^64, so a
 * crafted device size cannot make the regions wrap around and "fit".
 */
#include "block.h"
#include "superblock.h"


/* The journal starts right after the two superblock copies. */
#define LAYOUT_JOURNAL_OFFSET	(BETRKV_SB_SLOTS * (u64)BETRKV_BLOCK_SIZE)
/* Indirection table entries one slot reserves per node. */
#define LAYOUT_ENTRIES_PER_NODE	2u

/* ALIGN(@x, @a) for a power of two @a; false if it passes 2^64. */
static bool align_up(u64 x, u64 a, u64 *res)
{
	if (check_add_overflow(x, a - 1, res))
		return false;
	*res = ALIGN_DOWN(*res, a);
	return true;
}

static bool layout_itable_size(u64 nodes, u64 *size)
{
	u64 bytes;

	return !check_mul_overflow(nodes, (u64)LAYOUT_ENTRIES_PER_NODE *
				   BETRKV_ITABLE_ENTRY_BYTES, &bytes) &&
	       !check_add_overflow(bytes, (u64)BETRKV_BLOCK_SIZE, &bytes) &&
	       align_up(bytes, BETRKV_BLOCK_SIZE, size);
}

/*
 * Place the two itable slots and the node region after the journal; false
 * if any of them would pass 2^64 (so the device cannot hold @nodes).
 */
static bool layout_regions(struct betrkv_geometry *geo, u64 nodes)
{
	u64 itables, end;

	return !check_add_overflow(geo->journal_offset, geo->journal_size,
				   &geo->itable_offset) &&
	       layout_itable_size(nodes, &geo->itable_size) &&
	       !check_mul_overflow(geo->itable_size, 2ull, &itables) &&
	       !check_add_overflow(geo->itable_offset, itables, &end) &&
	       align_up(end, geo->node_size, &geo->nodes_offset) &&
	       !check_mul_overflow(nodes, (u64)geo->node_size, &geo->nodes_size) &&
	       !check_add_overflow(geo->nodes_offset, geo->nodes_size, &end);
}

static int layout_journal(u64 *journal_size, u64 device_bytes,
			  const char **why)
{
	if (!*journal_size) {
		*journal_size = clamp(ALIGN_DOWN(device_bytes / 16,
						 (u64)BETRKV_BLOCK_SIZE),
				      BETRKV_JOURNAL_SIZE_MIN,
				      BETRKV_JOURNAL_SIZE_MAX);
		return 0;
	}
	if (*journal_size < BETRKV_JOURNAL_SIZE_MIN) {
		*why = "journal size below 2 MiB: the largest batch would not fit";
		return -EINVAL;
	}
	if (!IS_ALIGNED(*journal_size, BETRKV_BLOCK_SIZE) ||
	    *journal_size > BETRKV_JOURNAL_SIZE_MAX) {
		*why = "journal size must be a multiple of 4 KiB in [2 MiB, 1 GiB]";
		return -EINVAL;
	}
	if (*journal_size > device_bytes / 4) {
		*why = "journal size exceeds a quarter of the device";
		return -EINVAL;
	}
	return 0;
}

/**
 * betrkv_layout() - compute a store's geometry.
 * @geo: receives the geometry
 * @device_bytes: size of the device
 * @logical_block_size: the device's logical block size
 * @node_size: bytes per node, 0 for the default
 * @journal_size: bytes of journal, 0 for the default
 * @why: receives a static reason on failure
 *
 * Return: 0, -EINVAL for an unsupported parameter, -ENOSPC if the device is
 * too small to hold BETRKV_MIN_NODES nodes.
 */
int betrkv_layout(struct betrkv_geometry *geo, u64 device_bytes,
		  u32 logical_block_size, u32 node_size, u64 journal_size,
		  const char **why)
{
	u64 avail, nodes;
	int ret;

	memset(geo, 0, sizeof(*geo));
	if (!is_power_of_2(logical_block_size) || logical_block_size < 512 ||
	    logical_block_size > BETRKV_BLOCK_SIZE) {
		*why = "logical block size must be a power of two in [512, 4096]";
		return -EINVAL;
	}
	if (!node_size)
		node_size = BETRKV_NODE_SIZE_DEFAULT;
	if (!is_power_of_2(node_size) || node_size < BETRKV_NODE_SIZE_MIN ||
	    node_size > BETRKV_NODE_SIZE_MAX) {
		*why = "node size must be a power of two in [256 KiB, 4 MiB]";
		return -EINVAL;
	}
	ret = layout_journal(&journal_size, device_bytes, why);
	if (ret)
		return ret;

	geo->device_bytes = device_bytes;
	geo->logical_block_size = logical_block_size;
	geo->node_size = node_size;
	geo->journal_offset = LAYOUT_JOURNAL_OFFSET;
	geo->journal_size = journal_size;

	/*
	 * Estimate the node count from the space left, then step down until
	 * the itable slots, the alignment padding and the nodes all fit.
	 */
	avail = device_bytes > geo->journal_offset + journal_size ?
		device_bytes - geo->journal_offset - journal_size : 0;
	nodes = avail / (node_size + 2ull * LAYOUT_ENTRIES_PER_NODE *
				     BETRKV_ITABLE_ENTRY_BYTES);
	for (;;) {
		bool fits = layout_regions(geo, nodes) &&
			    geo->nodes_offset + geo->nodes_size <= device_bytes;

		if (nodes < BETRKV_MIN_NODES) {
			*why = "device too small for 64 nodes, the journal and the indirection tables";
			return -ENOSPC;
		}
		if (fits)
			return 0;
		nodes--;
	}
}

/**
 * betrkv_sb_encode() - build the on-disk superblock for @slot.
 * @sb: the superblock
 * @slot: 0 or 1
 * @blk: a BETRKV_BLOCK_SIZE buffer; every byte is written
 */
void betrkv_sb_encode(const struct betrkv_sb *sb, unsigned int slot, void *blk)
{
	struct betrkv_sb_disk *d = blk;
	const struct betrkv_geometry *geo = &sb->geo;
	const struct betrkv_checkpoint *cp = &sb->cp;

	BUILD_BUG_ON(sizeof(*d) > BETRKV_BLOCK_SIZE);
	memset(blk, 0, BETRKV_BLOCK_SIZE);
	d->magic = cpu_to_le64(BETRKV_SB_MAGIC);
	d->format_version = cpu_to_le32(sb->format_version);
	memcpy(d->uuid, sb->uuid, sizeof(d->uuid));
	d->generation = cpu_to_le64(sb->generation);
	d->format_time = cpu_to_le64(sb->format_time);

	d->device_bytes = cpu_to_le64(geo->device_bytes);
	d->logical_block_size = cpu_to_le32(geo->logical_block_size);
	d->node_size = cpu_to_le32(geo->node_size);
	d->journal_offset = cpu_to_le64(geo->journal_offset);
	d->journal_size = cpu_to_le64(geo->journal_size);
	d->itable_offset = cpu_to_le64(geo->itable_offset);
	d->itable_size = cpu_to_le64(geo->itable_size);
	d->nodes_offset = cpu_to_le64(geo->nodes_offset);
	d->nodes_size = cpu_to_le64(geo->nodes_size);

	d->cp_seq = cpu_to_le64(cp->seq);
	d->cp_journal_pos = cpu_to_le64(cp->journal_pos);
	d->cp_journal_prev = cpu_to_le32(cp->journal_prev);
	d->cp_itable_bytes = cpu_to_le64(cp->itable_bytes);
	d->cp_itable_slot = cpu_to_le32(cp->itable_slot);
	d->cp_itable_csum = cpu_to_le32(cp->itable_csum);
	d->cp_root = cpu_to_le64(cp->root);
	d->cp_next_node_id = cpu_to_le64(cp->next_node_id);

	betrkv_block_seal(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_SUPER, slot, NULL);
}

static void sb_unpack(const struct betrkv_sb_disk *d, struct betrkv_sb *sb)
{
	struct betrkv_geometry *geo = &sb->geo;
	struct betrkv_checkpoint *cp = &sb->cp;

	memcpy(sb->uuid, d->uuid, sizeof(sb->uuid));
	sb->format_time = le64_to_cpu(d->format_time);

	geo->device_bytes = le64_to_cpu(d->device_bytes);
	geo->logical_block_size = le32_to_cpu(d->logical_block_size);
	geo->node_size = le32_to_cpu(d->node_size);
	geo->journal_offset = le64_to_cpu(d->journal_offset);
	geo->journal_size = le64_to_cpu(d->journal_size);
	geo->itable_offset = le64_to_cpu(d->itable_offset);
	geo->itable_size = le64_to_cpu(d->itable_size);
	geo->nodes_offset = le64_to_cpu(d->nodes_offset);
	geo->nodes_size = le64_to_cpu(d->nodes_size);

	cp->seq = le64_to_cpu(d->cp_seq);
	cp->journal_pos = le64_to_cpu(d->cp_journal_pos);
	cp->journal_prev = le32_to_cpu(d->cp_journal_prev);
	cp->itable_bytes = le64_to_cpu(d->cp_itable_bytes);
	cp->itable_slot = le32_to_cpu(d->cp_itable_slot);
	cp->itable_csum = le32_to_cpu(d->cp_itable_csum);
	cp->root = le64_to_cpu(d->cp_root);
	cp->next_node_id = le64_to_cpu(d->cp_next_node_id);
}

static bool sb_tail_is_zero(const void *blk)
{
	const u8 *p = (const u8 *)blk + sizeof(struct betrkv_sb_disk);
	const u8 *end = (const u8 *)blk + BETRKV_BLOCK_SIZE;

	for (; p < end; p++)
		if (*p)
			return false;
	return true;
}

static int sb_validate(const struct betrkv_sb *sb, const char **why)
{
	const struct betrkv_geometry *geo = &sb->geo;
	const struct betrkv_checkpoint *cp = &sb->cp;
	struct betrkv_geometry expect;

	if (betrkv_layout(&expect, geo->device_bytes, geo->logical_block_size,
			  geo->node_size, geo->journal_size, why) ||
	    memcmp(&expect, geo, sizeof(expect))) {
		*why = "inconsistent geometry";
		return -EUCLEAN;
	}
	if (cp->itable_slot > 1 || cp->itable_bytes > geo->itable_size ||
	    !IS_ALIGNED(cp->journal_pos, BETRKV_BLOCK_SIZE) ||
	    (cp->root && cp->root >= cp->next_node_id) ||
	    cp->seq > BETRKV_SEQ_MAX) {
		*why = "inconsistent checkpoint pointer";
		return -EUCLEAN;
	}
	return 0;
}

/**
 * betrkv_sb_decode() - validate and decode the superblock read from @slot.
 * @blk: BETRKV_BLOCK_SIZE bytes read from block @slot
 * @slot: 0 or 1
 * @sb: receives the superblock
 * @why: receives a static reason on failure
 *
 * Return: 0; -ENODATA if the block has no betrkv magic; -EUCLEAN if its
 * checksum, location or contents are wrong; -EOPNOTSUPP if it is intact but
 * of another format version (then only @sb's generation and format_version
 * are filled in).
 */
int betrkv_sb_decode(const void *blk, unsigned int slot, struct betrkv_sb *sb,
		     const char **why)
{
	const struct betrkv_sb_disk *d = blk;
	int ret;

	memset(sb, 0, sizeof(*sb));
	if (le64_to_cpu(d->magic) != BETRKV_SB_MAGIC) {
		*why = "no betrkv superblock magic";
		return -ENODATA;
	}
	ret = betrkv_block_check(blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_SUPER,
				 slot, NULL, why);
	if (ret)
		return ret;
	sb->format_version = le32_to_cpu(d->format_version);
	sb->generation = le64_to_cpu(d->generation);
	if (!sb->format_version || d->pad || d->cp_pad || !sb_tail_is_zero(blk)) {
		*why = "bad version or reserved bytes";
		return -EUCLEAN;
	}
	if (sb->format_version != BETRKV_FORMAT_VERSION) {
		*why = "format version not this code's";
		return -EOPNOTSUPP;
	}
	sb_unpack(d, sb);
	return sb_validate(sb, why);
}

/**
 * betrkv_sb_check_device() - does a store's geometry match its device?
 * @geo: the store's geometry
 * @device_bytes: the device's size now
 * @logical_block_size: the device's logical block size now
 * @why: receives a static reason on failure
 *
 * Return: 0 or -EMEDIUMTYPE.
 */
int betrkv_sb_check_device(const struct betrkv_geometry *geo, u64 device_bytes,
			   u32 logical_block_size, const char **why)
{
	if (geo->device_bytes != device_bytes) {
		*why = "device size differs from the one the store was formatted on";
		return -EMEDIUMTYPE;
	}
	if (geo->logical_block_size != logical_block_size) {
		*why = "logical block size differs from the one the store was formatted on";
		return -EMEDIUMTYPE;
	}
	return 0;
}

/**
 * betrkv_sb_pick() - which superblock copy a bind uses.
 * @ret: betrkv_sb_decode()'s result for each slot
 * @sb: the decoded copies
 *
 * Of the intact copies (valid, or intact but of a newer format version),
 * the one with the higher generation; slot 0 on a tie.
 *
 * Return: the slot, or -1 if no copy is intact.
 */
int betrkv_sb_pick(const int ret[BETRKV_SB_SLOTS],
		   const struct betrkv_sb sb[BETRKV_SB_SLOTS])
{
	bool ok0 = !ret[0] || ret[0] == -EOPNOTSUPP;
	bool ok1 = !ret[1] || ret[1] == -EOPNOTSUPP;

	if (ok0 && ok1)
		return sb[1].generation > sb[0].generation ? 1 : 0;
	if (ok0 || ok1)
		return ok0 ? 0 : 1;
	return -1;
}

/**
 * betrkv_sb_load() - read both superblock copies and take the newest valid one.
 * @dev: the device
 * @sb: receives the superblock
 * @slot: receives the slot it came from
 *
 * Logs the reason for every refusal and for a fallback to the other copy.
 *
 * Return: 0; -ENODATA if neither copy has the magic (not formatted);
 * -EUCLEAN if no copy is intact; -EOPNOTSUPP if the newest intact copy has a
 * newer format version; -EMEDIUMTYPE if its geometry does not match @dev;
 * -EIO or another errno from the read.
 */
int betrkv_sb_load(struct betrkv_dev *dev, struct betrkv_sb *sb,
		   unsigned int *slot)
{
	struct betrkv_sb copies[BETRKV_SB_SLOTS];
	int ret[BETRKV_SB_SLOTS];
	const char *why[BETRKV_SB_SLOTS];
	u8 *buf;
	int pick, err;
	unsigned int i;

	buf = kmalloc(BETRKV_SB_SLOTS * BETRKV_BLOCK_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = betrkv_dev_read(dev, 0, buf, BETRKV_SB_SLOTS * BETRKV_BLOCK_SIZE);
	if (err) {
		pr_err("%s: cannot read the superblocks: error %d\n",
		       betrkv_dev_name(dev), err);
		goto out;
	}
	for (i = 0; i < BETRKV_SB_SLOTS; i++)
		ret[i] = betrkv_sb_decode(buf + i * BETRKV_BLOCK_SIZE, i,
					  &copies[i], &why[i]);

	pick = betrkv_sb_pick(ret, copies);
	if (pick < 0) {
		err = ret[0] == -ENODATA && ret[1] == -ENODATA ? -ENODATA : -EUCLEAN;
		pr_err("%s: %s (copy 0: %s; copy 1: %s)\n",
		       betrkv_dev_name(dev), err == -ENODATA ? "device is not formatted" :
		       "both superblock copies are corrupt", why[0], why[1]);
		goto out;
	}
	if (ret[!pick] && ret[!pick] != -EOPNOTSUPP)
		pr_warn("%s: superblock copy %d unusable (%s), using copy %d\n",
			betrkv_dev_name(dev), !pick, why[!pick], pick);
	if (ret[pick] == -EOPNOTSUPP) {
		err = -EOPNOTSUPP;
		pr_err("%s: store has format version %u, this module supports %u\n",
		       betrkv_dev_name(dev), copies[pick].format_version, BETRKV_FORMAT_VERSION);
		goto out;
	}
	err = betrkv_sb_check_device(&copies[pick].geo, betrkv_dev_size(dev),
				     betrkv_dev_block_size(dev), &why[pick]);
	if (err) {
		pr_err("%s: %s\n", betrkv_dev_name(dev), why[pick]);
		goto out;
	}
	*sb = copies[pick];
	*slot = pick;
out:
	kfree(buf);
	return err;
}

/**
 * betrkv_sb_write() - write @sb durably into @slot.
 * @dev: the device
 * @sb: the superblock
 * @slot: 0 or 1
 *
 * Everything written before is made durable first (PREFLUSH), and the
 * superblock itself is durable when this returns (FUA).
 *
 * Return: 0 or a negative errno.
 */
int betrkv_sb_write(struct betrkv_dev *dev, const struct betrkv_sb *sb,
		    unsigned int slot)
{
	void *blk;
	int err;

	blk = kmalloc(BETRKV_BLOCK_SIZE, GFP_KERNEL);
	if (!blk)
		return -ENOMEM;
	betrkv_sb_encode(sb, slot, blk);
	err = betrkv_dev_write(dev, (u64)slot * BETRKV_BLOCK_SIZE, blk,
			       BETRKV_BLOCK_SIZE,
			       BETRKV_IO_PREFLUSH | BETRKV_IO_FUA);
	kfree(blk);
	return err;
}

/**
 * betrkv_sb_format() - write a new, empty store onto @dev.
 * @dev: the device
 * @node_size: bytes per node, 0 for the default
 * @journal_size: bytes of journal, 0 for the default
 * @sb: receives the new superblock (as in slot 0)
 *
 * Validates everything before the first write.  Both copies are first
 * zeroed, then slot 1 is written with generation 0 and slot 0 with
 * generation 1, each durably: a format that is interrupted leaves either no
 * store or the new one, never the old one half overwritten.
 *
 * Return: 0, -EINVAL or -ENOSPC for bad parameters (nothing written), or an
 * I/O errno.
 */
int betrkv_sb_format(struct betrkv_dev *dev, u32 node_size, u64 journal_size,
		     struct betrkv_sb *sb)
{
	const char *why;
	void *zero;
	int err;

	memset(sb, 0, sizeof(*sb));
	err = betrkv_layout(&sb->geo, betrkv_dev_size(dev),
			    betrkv_dev_block_size(dev), node_size, journal_size,
			    &why);
	if (err) {
		pr_err("%s: cannot format: %s\n", betrkv_dev_name(dev), why);
		return err;
	}
	sb->format_version = BETRKV_FORMAT_VERSION;
	get_random_bytes(sb->uuid, sizeof(sb->uuid));
	sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	sb->format_time = ktime_get_real_seconds();

	zero = kzalloc(BETRKV_SB_SLOTS * BETRKV_BLOCK_SIZE, GFP_KERNEL);
	if (!zero)
		return -ENOMEM;
	err = betrkv_dev_write(dev, 0, zero, BETRKV_SB_SLOTS * BETRKV_BLOCK_SIZE,
			       BETRKV_IO_FUA);
	kfree(zero);
	if (err)
		return err;
	sb->generation = 0;
	err = betrkv_sb_write(dev, sb, 1);
	if (err)
		return err;
	sb->generation = 1;
	return betrkv_sb_write(dev, sb, 0);
}
