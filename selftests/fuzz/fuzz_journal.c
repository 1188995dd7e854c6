// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: journal replay over an arbitrary region.
 *
 * The region (8 blocks, at block 2 of an in-memory device) holds the input
 * after a 4-byte header:
 *
 *   byte 0  bit 0: XOR the input onto a valid journal (records of every
 *                  shape, spanning blocks, several laps) instead of zeroes,
 *                  replayed from its last checkpoint
 *           bit 1: re-seal blocks from the start block on as a chain (type,
 *                  location, pos, link, write batch and checksum all right),
 *                  so that the fuzzer reaches the payload and record checks
 *           bit 2: keep the blocks' write batch fields when chaining
 *   byte 1  bits 0-2: the start block when chaining; bits 3-6: how many
 *           blocks to chain
 *   byte 2  added to start_seq
 *   byte 3  when chaining: a new write batch starts every (byte 3 % 8 + 1)
 *           blocks; bit 3: a batch is a block after the chain's start
 *           (impossible), bits 4-7: how many blocks after the chain to
 *           re-seal, in place, as blocks of a later batch
 *
 * Beyond not crashing, overrunning or looping: every op handed to apply()
 * is within the limits, sequence numbers increase from above start_seq,
 * and if replay succeeds and there is room, a record appended and synced
 * after it replays, after exactly the same records, on the next replay.
 * A salvaging replay of the same image never fails, sees exactly the same
 * records, says it salvaged exactly when the plain replay failed, and then
 * takes no appends.
 */
#include <stdlib.h>

#include "block.h"
#include "journal.h"
#include "user/dev_user.h"

#define BS		BETRKV_BLOCK_SIZE
#define NBLK		8u
#define OFF		(2ull * BS)
#define DEV_SIZE	(OFF + NBLK * BS)
#define HDR		4u	/* bytes of the input's header */
#define MAX_SEEN	4096

static const u8 uuid[16] = "fuzz-journal-id";

struct mem_dev {
	struct betrkv_dev dev;
	u8 *mem;
};

static int mem_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	memcpy(buf, ((struct mem_dev *)dev)->mem + off, len);
	return 0;
}

static int mem_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	memcpy(((struct mem_dev *)dev)->mem + off, buf, len);
	return 0;
}

static void mem_close(struct betrkv_dev *dev)
{
}

static const struct betrkv_dev_ops mem_ops = {
	.read = mem_read, .write = mem_write, .close = mem_close,
};

static u8 *valid_image, *image;
/* The valid journal's last checkpoint. */
static u64 valid_pos, valid_seq;
static u32 valid_prev;
static struct mem_dev mdev = {
	.dev = { .ops = &mem_ops, .name = "fuzz", .size = DEV_SIZE,
		 .block_size = 512 },
};

/* What one replay saw. */
struct seen {
	u64 start_seq;
	u64 n;
	u64 seq[MAX_SEEN];
	u32 sum[MAX_SEEN];
};

static struct seen first, second;

static void quiet(int level, const char *msg)
{
}

static int apply(void *ctx, u64 seq, const struct betrkv_op *ops, u32 nops)
{
	struct seen *s = ctx;
	u32 i, sum = 0;

	if (seq <= s->start_seq || (s->n && seq <= s->seq[s->n - 1]) || !nops)
		abort();
	for (i = 0; i < nops; i++) {
		if (betrkv_op_check(&ops[i]))
			abort();
		sum = betrkv_crc32c(&sum, sizeof(sum), ops[i].key, ops[i].klen);
		if (ops[i].type == BETRKV_OP_PUT)
			sum = betrkv_crc32c(&sum, sizeof(sum), ops[i].val,
					    ops[i].vlen);
	}
	if (s->n < MAX_SEEN) {
		s->seq[s->n] = seq;
		s->sum[s->n] = sum;
	}
	s->n++;
	return 0;
}

static int open_salvage(u64 pos, u32 prev, u64 seq, bool salvage,
			struct betrkv_journal **jp)
{
	struct betrkv_journal_params p = {
		.dev = &mdev.dev, .offset = OFF, .size = NBLK * BS,
		.uuid = uuid, .start_pos = pos, .start_prev = prev,
		.start_seq = seq, .salvage = salvage,
	};

	return betrkv_journal_create(&p, jp);
}

static int open_journal(u64 pos, u32 prev, u64 seq, struct betrkv_journal **jp)
{
	return open_salvage(pos, prev, seq, false, jp);
}

static void replay_or_abort(struct betrkv_journal *j, struct seen *s,
			    u64 *last)
{
	bool salvaged;

	if (betrkv_journal_replay(j, apply, s, last, &salvaged) || salvaged)
		abort();
}

static int append_shaped(struct betrkv_journal *j, u64 seq, const u8 *data)
{
	struct betrkv_op ops[3];
	u32 i, n = 1 + seq % 3;

	for (i = 0; i < n; i++)
		ops[i] = (struct betrkv_op){
			.type = (seq + i) % 4 ? BETRKV_OP_PUT : BETRKV_OP_DEL,
			.klen = 1 + (seq * 13 + i) % 40,
			.vlen = (seq * 997 + i * 31) % 3000,
			.key = data + i * 4000, .val = data + i * 4000 + 40,
		};
	return betrkv_journal_append(j, seq, ops, n);
}

static void checkpoint(struct betrkv_journal *j, u64 seq)
{
	if (betrkv_journal_checkpoint_begin(j, &valid_pos, &valid_prev))
		abort();
	betrkv_journal_checkpoint_done(j, valid_pos);
	valid_seq = seq;
}

/*
 * Records of many shapes, some spanning blocks, over several laps of the
 * region; then a checkpoint and records after it up to about a lap.
 */
static void make_valid_image(void)
{
	static u8 data[3 * 4000];
	struct betrkv_journal *j;
	u64 seq, last;
	int ret;

	for (seq = 0; seq < sizeof(data); seq++)
		data[seq] = seq * 7 + 1;
	if (open_journal(0, 0, 0, &j))
		abort();
	replay_or_abort(j, &first, &last);
	for (seq = 1; seq <= 80; seq++) {
		ret = append_shaped(j, seq, data);
		if (ret == -ENOSPC) {
			checkpoint(j, seq - 1);
			ret = append_shaped(j, seq, data);
		}
		if (ret || (seq % 3 == 0 && betrkv_journal_sync(j)))
			abort();
	}
	checkpoint(j, 80);
	for (seq = 81; !append_shaped(j, seq, data); seq++)
		if (seq % 2 && betrkv_journal_sync(j))
			abort();
	if (betrkv_journal_sync(j))
		abort();
	betrkv_journal_destroy(j);
	memcpy(valid_image, image, DEV_SIZE);
}

/* Re-seal the block for @pos, naming @batch if @set_batch. */
static u32 reseal(u64 pos, u32 prev, bool set_batch, u64 batch)
{
	u64 idx = (pos / BS) % NBLK;
	u8 *blk = image + OFF + idx * BS;

	*(__le64 *)(blk + 16) = cpu_to_le64(pos);
	*(__le32 *)(blk + 32) = cpu_to_le32(prev);
	if (set_batch)
		*(__le64 *)(blk + 40) = cpu_to_le64(batch);
	betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + idx, uuid);
	return le32_to_cpu(*(__le32 *)blk);
}

/*
 * Re-seal @count blocks from @pos on as a chain linked from @prev, a batch
 * starting every @every blocks (one block too late if @skew), then @later
 * blocks after it, unlinked, as blocks of a batch after the chain's end.
 */
static void chain(u64 pos, u32 prev, u32 count, bool set_batch, u32 every,
		  bool skew, u32 later)
{
	u64 batch = pos, i;

	for (i = 0; i < count; i++, pos += BS) {
		if (i % every == 0)
			batch = pos + (skew && i ? BS : 0);
		prev = reseal(pos, prev, set_batch, batch);
	}
	for (i = 1; i <= later && i < NBLK - count; i++)
		reseal(pos + i * BS, ~prev, true, pos + BS);
}

static void init(void)
{
	betrkv_user_set_log(quiet);
	image = calloc(1, DEV_SIZE);
	valid_image = calloc(1, DEV_SIZE);
	if (!image || !valid_image)
		abort();
	mdev.mem = image;
	make_valid_image();
}

/* Append one record after a successful replay; replay again. */
static void append_and_replay(u64 pos, u32 prev, u64 seq, u64 last,
			      struct betrkv_journal *j)
{
	static const u8 key[3] = "new", val[5000];
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .klen = sizeof(key),
				.vlen = sizeof(val), .key = key, .val = val };
	struct betrkv_journal *j2;
	u64 last2, i;
	int ret;

	ret = betrkv_journal_append(j, last + 1, &op, 1);
	if (ret == -ENOSPC)
		return;
	if (ret || betrkv_journal_sync(j))
		abort();
	second.start_seq = seq;
	second.n = 0;
	if (open_journal(pos, prev, seq, &j2))
		abort();
	replay_or_abort(j2, &second, &last2);
	betrkv_journal_destroy(j2);
	if (last2 != last + 1 || second.n != first.n + 1)
		abort();
	for (i = 0; i < first.n && i < MAX_SEEN; i++)
		if (second.seq[i] != first.seq[i] || second.sum[i] != first.sum[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Replay salvaging: never an error, the same records as @plain (which
 * returned @ret), salvaged exactly when it failed, then no appends.
 */
static void salvage_replay(u64 pos, u32 prev, u64 seq, int ret, u64 last)
{
	static const u8 key[1] = "k";
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .klen = 1, .key = key };
	struct betrkv_journal *j;
	bool salvaged;
	u64 last2, i;

	second.start_seq = seq;
	second.n = 0;
	if (open_salvage(pos, prev, seq, true, &j) ||
	    betrkv_journal_replay(j, apply, &second, &last2, &salvaged))
		abort();
	if (salvaged != (ret == -EUCLEAN) || last2 != last ||
	    second.n != first.n)
		abort();
	for (i = 0; i < first.n && i < MAX_SEEN; i++)
		if (second.seq[i] != first.seq[i] || second.sum[i] != first.sum[i])
			abort();
	if (salvaged && betrkv_journal_append(j, last + 1, &op, 1) != -EIO)
		abort();
	betrkv_journal_destroy(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool overlay, resealed, salvaged;
	struct betrkv_journal *j;
	u64 pos = 0, seq = 0, last;
	u32 prev = 0, i;
	size_t n;
	int ret;

	if (size < HDR)
		return 0;
	if (!image)
		init();
	overlay = data[0] & 1;
	resealed = data[0] & 2;
	if (overlay)
		memcpy(image, valid_image, DEV_SIZE);
	else
		memset(image, 0, DEV_SIZE);
	n = min(size - HDR, (size_t)(NBLK * BS));
	for (i = 0; i < n; i++)
		image[OFF + i] ^= data[HDR + i];
	if (overlay && !resealed) {
		pos = valid_pos;
		prev = valid_prev;
		seq = valid_seq;
	}
	if (resealed) {
		pos = (data[1] & 7) * BS;
		chain(pos, prev, min((data[1] >> 3) & 15, NBLK), !(data[0] & 4),
		      data[3] % 8 + 1, data[3] & 8, data[3] >> 4);
	}
	seq += data[2];

	first.start_seq = seq;
	first.n = 0;
	if (open_journal(pos, prev, seq, &j))
		abort();
	ret = betrkv_journal_replay(j, apply, &first, &last, &salvaged);
	if (salvaged)
		abort();
	salvage_replay(pos, prev, seq, ret, last);
	if (!ret)
		append_and_replay(pos, prev, seq, last, j);
	betrkv_journal_destroy(j);
	return 0;
}
