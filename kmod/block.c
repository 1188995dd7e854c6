// SPDX-License-Identifier: GPL-2.0
/*
 * Checksummed metadata blocks: see block.h for the rules.
 */
#include "block.h"

/* Hashed ahead of every block: the type's salt and the store's UUID. */
struct block_salt {
	__le32 salt;
	u8 uuid[16];
} __packed;

static u32 block_type_salt(enum betrkv_block_type type)
{
	switch (type) {
	case BETRKV_BLOCK_SUPER:
		return 0x1b873593;
	case BETRKV_BLOCK_JOURNAL:
		return 0x85ebca6b;
	case BETRKV_BLOCK_NODE:
		return 0x2c1b3c6d;
	case BETRKV_BLOCK_ITABLE:
		return 0x7feb352d;
	}
	return 0;
}

static u32 block_csum(const void *blk, size_t len, enum betrkv_block_type type,
		      const u8 uuid[16])
{
	struct block_salt salt = { .salt = cpu_to_le32(block_type_salt(type)) };

	if (uuid)
		memcpy(salt.uuid, uuid, sizeof(salt.uuid));
	return betrkv_crc32c(&salt, sizeof(salt), (const u8 *)blk + sizeof(__le32),
			     len - sizeof(__le32));
}

/**
 * betrkv_block_seal() - fill in a block's header and checksum.
 * @blk: the block, @len bytes, payload already in place after the header
 * @len: block length
 * @type: what the block holds
 * @blocknr: where it will be written (byte offset / BETRKV_BLOCK_SIZE)
 * @uuid: the store's UUID, or NULL for blocks read before it is known
 */
void betrkv_block_seal(void *blk, size_t len, enum betrkv_block_type type,
		       u64 blocknr, const u8 uuid[16])
{
	struct betrkv_block_header *hdr = blk;

	hdr->type = cpu_to_le32(type);
	hdr->blocknr = cpu_to_le64(blocknr);
	hdr->csum = cpu_to_le32(block_csum(blk, len, type, uuid));
}

/**
 * betrkv_block_check() - verify a block read from @blocknr.
 * @blk: the block
 * @len: block length
 * @type: the type it must have
 * @blocknr: where it was read from
 * @uuid: the store's UUID, or NULL (as given to betrkv_block_seal())
 * @why: receives a static reason on failure
 *
 * Return: 0, or -EUCLEAN if the checksum, type or location is wrong.
 */
int betrkv_block_check(const void *blk, size_t len,
		       enum betrkv_block_type type, u64 blocknr,
		       const u8 uuid[16], const char **why)
{
	const struct betrkv_block_header *hdr = blk;

	if (len < sizeof(*hdr)) {
		*why = "block shorter than its header";
		return -EUCLEAN;
	}
	if (le32_to_cpu(hdr->type) != type) {
		*why = "wrong block type";
		return -EUCLEAN;
	}
	if (le32_to_cpu(hdr->csum) != block_csum(blk, len, type, uuid)) {
		*why = "checksum mismatch";
		return -EUCLEAN;
	}
	if (le64_to_cpu(hdr->blocknr) != blocknr) {
		*why = "block written for another location";
		return -EUCLEAN;
	}
	return 0;
}
