// SPDX-License-Identifier: GPL-2.0
/*
 * The journal: round trips, replay from a checkpoint, where replay stops
 * (torn blocks, earlier laps, earlier sessions, cut records), space
 * accounting, what sync writes and when, group commit, write errors, and a
 * randomized crash test on the simulated disk.
 *
 * The basic tests run on an image file through a device wrapper that logs
 * every write (offset, length, flags) and can fail writes.  The region
 * starts at block 2, as in a store.  A record of the format is 16 bytes of
 * header, 12 per op, then the key and, for a put, the value; a block holds
 * 4048 bytes of records.
 *
 * JOURNAL_SEED=n in the environment fixes the crash test's seed.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../rng.h"
#include "block.h"
#include "journal.h"
#include "user/dev_user.h"
#include "user/simdisk.h"

#define BS		BETRKV_BLOCK_SIZE
#define OFF		(2ull * BS)		/* region offset */
#define PAYLOAD		4048u			/* record bytes per block */
#define REC_HDR		16u
#define OP_HDR		12u
#define KiB		(1ull << 10)
#define MiB		(1ull << 20)
#define MAX_OPS		8
#define LOG_MAX		4096
#define FLUSH		(BETRKV_IO_PREFLUSH | BETRKV_IO_FUA)

static const u8 uuid[16] = "0123456789abcdef";

static void quiet(int level, const char *msg)
{
}

/* ---- a device that logs writes ---- */

struct wlog {
	u64 off;
	u64 len;
	unsigned int flags;
};

struct log_dev {
	struct betrkv_dev dev;
	struct betrkv_dev *inner;
	u64 reads;
	u64 first_read;
	u64 nw;
	struct wlog w[LOG_MAX];
	bool fail;
	u64 started;		/* writes started */
	u64 fua_done;		/* number of the last FUA write completed */
	unsigned int delay_us;	/* each write takes this long */
};

static int log_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	struct log_dev *ld = (struct log_dev *)dev;

	if (!ld->reads++)
		ld->first_read = off;
	return betrkv_dev_read(ld->inner, off, buf, len);
}

static int log_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags)
{
	struct log_dev *ld = (struct log_dev *)dev;
	u64 id = __atomic_add_fetch(&ld->started, 1, __ATOMIC_SEQ_CST);
	int ret;

	if (ld->fail)
		return -EIO;
	if (ld->nw < LOG_MAX)
		ld->w[ld->nw] = (struct wlog){ off, len, flags };
	ld->nw++;
	ret = betrkv_dev_write(ld->inner, off, buf, len, flags);
	if (ld->delay_us)
		usleep(ld->delay_us);
	if (!ret && (flags & BETRKV_IO_FUA))
		__atomic_store_n(&ld->fua_done, id, __ATOMIC_SEQ_CST);
	return ret;
}

static void log_close(struct betrkv_dev *dev)
{
	struct log_dev *ld = (struct log_dev *)dev;

	betrkv_user_dev_close(ld->inner);
	free(ld);
}

static const struct betrkv_dev_ops log_ops = {
	.read = log_read, .write = log_write, .close = log_close,
};

static struct log_dev *log_dev_open(const char *path)
{
	struct log_dev *ld = calloc(1, sizeof(*ld));

	if (!ld || betrkv_user_dev_open(path, false, false, &ld->inner))
		abort();
	ld->dev = *ld->inner;
	ld->dev.ops = &log_ops;
	return ld;
}

/* ---- records ---- */

/* Mix @n bytes at @p into the hash @h. */
static u64 mix(u64 h, const void *p, size_t n)
{
	return (h ^ betrkv_crc32c(NULL, 0, p, n)) * 0x100000001b3ull + n;
}

/* Hash of everything a record says, as apply() sees it. */
static u64 ops_hash(u64 seq, const struct betrkv_op *ops, u32 nops)
{
	u64 h = mix(0xcbf29ce484222325ull, &seq, sizeof(seq));
	u32 i, hdr[3];

	h = mix(h, &nops, sizeof(nops));
	for (i = 0; i < nops; i++) {
		hdr[0] = ops[i].type;
		hdr[1] = ops[i].klen;
		hdr[2] = ops[i].type == BETRKV_OP_PUT ? ops[i].vlen : 0;
		h = mix(h, hdr, sizeof(hdr));
		h = mix(h, ops[i].key, ops[i].klen);
		if (hdr[2])
			h = mix(h, ops[i].val, hdr[2]);
	}
	return h;
}

/* Record bytes in the format, for ops that are valid. */
static u32 rec_len(const struct betrkv_op *ops, u32 nops)
{
	u32 n = REC_HDR, i;

	for (i = 0; i < nops; i++)
		n += OP_HDR + ops[i].klen +
		     (ops[i].type == BETRKV_OP_PUT ? ops[i].vlen : 0);
	return n;
}

/* A record under construction; its bytes live in data. */
struct trec {
	u32 nops;
	struct betrkv_op ops[MAX_OPS];
	u8 *data;
	size_t used;
};

static struct trec *trec_new(void)
{
	struct trec *r = calloc(1, sizeof(*r));

	r->data = malloc(MAX_OPS * (BETRKV_KEY_MAX + BETRKV_VALUE_MAX));
	return r;
}

static void trec_free(struct trec *r)
{
	free(r->data);
	free(r);
}

/* Add an op with @klen/@vlen bytes of content derived from @tag. */
static void trec_add(struct trec *r, u8 type, u32 klen, u32 vlen, u64 tag)
{
	struct betrkv_op *op = &r->ops[r->nops++];
	u8 *p = r->data + r->used;
	u64 s = tag, x;
	u32 i;

	for (i = 0; i < klen + vlen; i += sizeof(x)) {
		x = rng_next(&s);
		memcpy(p + i, &x, min(sizeof(x), (size_t)(klen + vlen - i)));
	}
	*op = (struct betrkv_op){ .type = type, .klen = klen, .vlen = vlen,
				  .key = p, .val = p + klen };
	r->used += klen + vlen;
}

static void trec_reset(struct trec *r)
{
	r->nops = 0;
	r->used = 0;
}

/* One put whose record is exactly @len bytes long (len >= 29). */
static void trec_sized(struct trec *r, u32 len, u64 tag)
{
	u32 klen = len - REC_HDR - OP_HDR > 16 ? 16 : 1;

	trec_reset(r);
	trec_add(r, BETRKV_OP_PUT, klen, len - REC_HDR - OP_HDR - klen, tag);
}

/* What was appended or replayed: seq and hash of each record, in order. */
struct seen {
	u64 n, cap;
	u64 *seq, *hash;
	u64 fail_at;		/* apply() fails with -ENOMEM at this seq */
};

static void seen_add(struct seen *s, u64 seq, u64 hash)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->seq = realloc(s->seq, s->cap * sizeof(u64));
		s->hash = realloc(s->hash, s->cap * sizeof(u64));
	}
	s->seq[s->n] = seq;
	s->hash[s->n++] = hash;
}

static void seen_free(struct seen *s)
{
	free(s->seq);
	free(s->hash);
	memset(s, 0, sizeof(*s));
}

static int collect(void *ctx, u64 seq, const struct betrkv_op *ops, u32 nops)
{
	struct seen *s = ctx;
	u32 i;

	if (seq == s->fail_at)
		return -ENOMEM;
	for (i = 0; i < nops; i++)
		if (betrkv_op_check(&ops[i]) ||
		    (ops[i].type == BETRKV_OP_DEL && ops[i].val))
			return -EBADMSG;
	seen_add(s, seq, ops_hash(seq, ops, nops));
	return 0;
}

static int append(struct betrkv_journal *j, struct seen *log, u64 seq,
		  const struct trec *r)
{
	int ret = betrkv_journal_append(j, seq, r->ops, r->nops);

	if (!ret)
		seen_add(log, seq, ops_hash(seq, r->ops, r->nops));
	return ret;
}

/* Records @from..@to (indices) of @want, exactly, in order. */
static bool seen_is(const struct seen *got, const struct seen *want, u64 from,
		    u64 to)
{
	u64 i;

	if (got->n != to - from)
		return false;
	for (i = 0; i < got->n; i++)
		if (got->seq[i] != want->seq[from + i] ||
		    got->hash[i] != want->hash[from + i])
			return false;
	return true;
}

/* ---- the image fixture ---- */

FIXTURE(jf) {
	char path[64];
	struct log_dev *ld;
	struct betrkv_dev *dev;
	struct trec *r;
	struct seen log, got;
};

FIXTURE_SETUP(jf)
{
	int fd;

	betrkv_user_set_log(quiet);
	strcpy(self->path, "/tmp/betrkv-journal-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, OFF + 8 * MiB + 64 * KiB));
	close(fd);
	self->ld = log_dev_open(self->path);
	self->dev = &self->ld->dev;
	self->r = trec_new();
	memset(&self->log, 0, sizeof(self->log));
	memset(&self->got, 0, sizeof(self->got));
}

FIXTURE_TEARDOWN(jf)
{
	betrkv_user_dev_close(self->dev);
	unlink(self->path);
	trec_free(self->r);
	seen_free(&self->log);
	seen_free(&self->got);
}

static int jopen_salvage(struct betrkv_dev *dev, u64 size, u64 pos, u32 prev,
			 u64 seq, bool salvage, struct betrkv_journal **jp)
{
	struct betrkv_journal_params p = {
		.dev = dev, .offset = OFF, .size = size, .uuid = uuid,
		.start_pos = pos, .start_prev = prev, .start_seq = seq,
		.salvage = salvage,
	};

	return betrkv_journal_create(&p, jp);
}

static int jopen(struct betrkv_dev *dev, u64 size, u64 pos, u32 prev, u64 seq,
		 struct betrkv_journal **jp)
{
	return jopen_salvage(dev, size, pos, prev, seq, false, jp);
}

/*
 * Open and replay a journal into @got, which is emptied first; *@salvaged
 * as replay says, with @salvage.
 */
static int jreplay_salvage(struct betrkv_dev *dev, u64 size, u64 pos,
			   u32 prev, u64 seq, bool salvage, struct seen *got,
			   u64 *last, bool *salvaged, struct betrkv_journal **jp)
{
	int ret = jopen_salvage(dev, size, pos, prev, seq, salvage, jp);

	got->n = 0;
	*salvaged = true;
	if (ret)
		return ret;
	return betrkv_journal_replay(*jp, collect, got, last, salvaged);
}

/* Open and replay a journal into @got; it is never salvaged. */
static int jreplay(struct betrkv_dev *dev, u64 size, u64 pos, u32 prev,
		   u64 seq, struct seen *got, u64 *last,
		   struct betrkv_journal **jp)
{
	bool salvaged;
	int ret = jreplay_salvage(dev, size, pos, prev, seq, false, got, last,
				  &salvaged, jp);

	if (!ret && salvaged)
		abort();
	return ret;
}

static void file_rw(const char *path, u64 off, void *buf, size_t len,
		    bool write)
{
	int fd = open(path, O_RDWR);
	ssize_t n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (n != (ssize_t)len)
		abort();
	close(fd);
}

static u32 block_csum_at(const char *path, u64 idx)
{
	__le32 c;

	file_rw(path, OFF + idx * BS, &c, sizeof(c), false);
	return le32_to_cpu(c);
}

static void flip_byte(const char *path, u64 off)
{
	u8 b;

	file_rw(path, off, &b, 1, false);
	b ^= 0x40;
	file_rw(path, off, &b, 1, true);
}

/* Append @n small records (seq @seq..), each synced: one block each. */
static void small_synced(struct __test_metadata *_metadata,
			 struct betrkv_journal *j, struct trec *r,
			 struct seen *log, u64 seq, u64 n)
{
	u64 i;

	for (i = 0; i < n; i++) {
		trec_sized(r, 100, seq + i);
		ASSERT_EQ(0, append(j, log, seq + i, r));
		ASSERT_EQ(0, betrkv_journal_sync(j));
	}
}

/* ---- tests ---- */

/* The on-disk format, byte by byte. */
TEST_F(jf, golden_format)
{
	struct betrkv_journal *j;
	const char *why;
	u64 last = 9;
	u8 *blk = malloc(BS);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0x1234, 0, &self->got, &last, &j));
	EXPECT_EQ(0, last);
	trec_reset(self->r);
	trec_add(self->r, BETRKV_OP_PUT, 3, 5, 1);
	trec_add(self->r, BETRKV_OP_DEL, 2, 77, 2);	/* vlen ignored */
	ASSERT_EQ(0, append(j, &self->log, 42, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);

	file_rw(self->path, OFF, blk, BS, false);
	ASSERT_EQ(0, betrkv_block_check(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS,
					uuid, &why));
	EXPECT_EQ(0x4a524e4c, le32_to_cpu(*(__le32 *)(blk + 4)));
	EXPECT_EQ(OFF / BS, le64_to_cpu(*(__le64 *)(blk + 8)));
	EXPECT_EQ(0, le64_to_cpu(*(__le64 *)(blk + 16)));		/* pos */
	EXPECT_EQ(0x1234, le32_to_cpu(*(__le32 *)(blk + 32)));	/* prev */
	EXPECT_EQ(16 + 12 + 3 + 5 + 12 + 2,
		  le16_to_cpu(*(__le16 *)(blk + 36)));			/* used */
	EXPECT_EQ(0, le16_to_cpu(*(__le16 *)(blk + 38)));		/* first */
	EXPECT_EQ(0, le64_to_cpu(*(__le64 *)(blk + 40)));		/* batch */
	EXPECT_EQ(16 + 12 + 3 + 5 + 12 + 2, le32_to_cpu(*(__le32 *)(blk + 48)));
	EXPECT_EQ(2, le32_to_cpu(*(__le32 *)(blk + 52)));		/* nops */
	EXPECT_EQ(42, le64_to_cpu(*(__le64 *)(blk + 56)));		/* seq */
	EXPECT_EQ(BETRKV_OP_PUT, le32_to_cpu(*(__le32 *)(blk + 64)));
	EXPECT_EQ(3, le32_to_cpu(*(__le32 *)(blk + 68)));
	EXPECT_EQ(5, le32_to_cpu(*(__le32 *)(blk + 72)));
	EXPECT_EQ(0, memcmp(blk + 76, self->r->ops[0].key, 8));
	EXPECT_EQ(BETRKV_OP_DEL, le32_to_cpu(*(__le32 *)(blk + 84)));
	EXPECT_EQ(2, le32_to_cpu(*(__le32 *)(blk + 88)));
	EXPECT_EQ(0, le32_to_cpu(*(__le32 *)(blk + 92)));
	EXPECT_EQ(0, memcmp(blk + 96, self->r->ops[1].key, 2));
	EXPECT_EQ(0, blk[98]);	/* the closed block's rest is zero */

	/* The next sync is the next write batch: its first block names it. */
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0x1234, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 43, 1);
	betrkv_journal_destroy(j);
	file_rw(self->path, OFF + BS, blk, BS, false);
	EXPECT_EQ(BS, le64_to_cpu(*(__le64 *)(blk + 40)));
	free(blk);
}

/* Puts, deletes, batches and empty values come back exactly. */
TEST_F(jf, roundtrip)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 s = 7, seq, last;
	u32 i, n;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	for (seq = 1; seq <= 300; seq++) {
		trec_reset(self->r);
		n = 1 + rng_next(&s) % MAX_OPS;
		for (i = 0; i < n; i++)
			trec_add(self->r, rng_next(&s) % 3 ? BETRKV_OP_PUT : BETRKV_OP_DEL,
				 1 + rng_next(&s) % 40,
				 rng_next(&s) % 4 ? rng_next(&s) % 300 : 0, seq * 10 + i);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
		if (seq % 37 == 0)
			ASSERT_EQ(0, betrkv_journal_sync(j));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(300, betrkv_journal_durable_seq(j));
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(300, st.records);
	EXPECT_EQ(9, st.syncs);
	EXPECT_EQ(9, st.flushes);
	EXPECT_EQ(st.blocks_written * BS, st.bytes_written);
	betrkv_journal_destroy(j);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(300, last);
	EXPECT_EQ(300, betrkv_journal_durable_seq(j));
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 300));
	betrkv_journal_destroy(j);
}

/* The largest keys and values, alone and in a batch, span many blocks. */
TEST_F(jf, roundtrip_max_sizes)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 last;
	u32 i;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(256 * PAYLOAD, betrkv_journal_max_record(j));
	trec_reset(self->r);
	trec_add(self->r, BETRKV_OP_PUT, BETRKV_KEY_MAX, BETRKV_VALUE_MAX, 1);
	ASSERT_EQ(0, append(j, &self->log, 1, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(17, st.blocks_written);	/* 66588 bytes */
	trec_reset(self->r);
	for (i = 0; i < 7; i++)
		trec_add(self->r, i == 3 ? BETRKV_OP_DEL : BETRKV_OP_PUT,
			 BETRKV_KEY_MAX, BETRKV_VALUE_MAX, 10 + i);
	ASSERT_EQ(0, append(j, &self->log, 2, self->r));
	trec_reset(self->r);
	trec_add(self->r, BETRKV_OP_PUT, 1, 0, 3);
	ASSERT_EQ(0, append(j, &self->log, 3, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(17 + 99, st.blocks_written);	/* 16 + 6 * 66572 + 1036 + 29 */
	betrkv_journal_destroy(j);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(3, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 3));
	betrkv_journal_destroy(j);
}

/* Replay from a checkpoint starts at its block and skips what it holds. */
TEST_F(jf, replay_from_checkpoint)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 pos = 1, last;
	u32 prev = 1;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 50);
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	EXPECT_EQ(50 * BS, pos);
	EXPECT_EQ(block_csum_at(self->path, 49), prev);
	/* A checkpoint with nothing pending does no I/O and moves nothing. */
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(50, st.syncs);
	small_synced(_metadata, j, self->r, &self->log, 51, 30);
	betrkv_journal_destroy(j);

	self->ld->reads = 0;
	ASSERT_EQ(0, jreplay(self->dev, MiB, pos, prev, 50, &self->got, &last, &j));
	EXPECT_EQ(OFF + 50 * BS, self->ld->first_read);
	EXPECT_EQ(80, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 50, 80));
	betrkv_journal_destroy(j);

	/* The checkpoint may hold more than the records before its block. */
	ASSERT_EQ(0, jreplay(self->dev, MiB, pos, prev, 60, &self->got, &last, &j));
	EXPECT_EQ(80, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 60, 80));
	betrkv_journal_destroy(j);

	/* A wrong link, with later write batches after it: corruption. */
	ASSERT_EQ(-EUCLEAN, jreplay(self->dev, MiB, pos, prev + 1, 50, &self->got,
				    &last, &j));
	EXPECT_EQ(50, last);
	EXPECT_EQ(0, self->got.n);
	betrkv_journal_destroy(j);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(80, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 80));
	betrkv_journal_destroy(j);
}

/*
 * A torn block of the last write batch stops replay exactly there; appends
 * continue there.  The batch is blocks 7..19, each a record of its own.
 */
TEST_F(jf, torn_block_stops_replay)
{
	struct betrkv_journal *j;
	u64 seq, pos, last;
	u32 prev;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 7);
	for (seq = 8; seq <= 20; seq++) {
		trec_sized(self->r, PAYLOAD, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	flip_byte(self->path, OFF + 7 * BS + 1000);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(7, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 7));
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	EXPECT_EQ(7 * BS, pos);
	EXPECT_EQ(block_csum_at(self->path, 6), prev);
	betrkv_journal_destroy(j);
}

/*
 * A synced block (20 syncs, a write batch and a block each) corrupt before
 * later batches: replay fails with -EUCLEAN, after the records before it;
 * salvaging, it ends the log there and takes no appends.
 */
TEST_F(jf, synced_block_corrupt)
{
	struct betrkv_journal *j;
	bool salvaged;
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 20);
	betrkv_journal_destroy(j);
	flip_byte(self->path, OFF + 7 * BS + 1000);

	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(7, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 7));
	betrkv_journal_destroy(j);

	ASSERT_EQ(0, jreplay_salvage(self->dev, MiB, 0, 0, 0, true, &self->got,
				     &last, &salvaged, &j));
	EXPECT_TRUE(salvaged);
	EXPECT_EQ(7, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 7));
	trec_sized(self->r, 100, 8);
	EXPECT_EQ(-EIO, append(j, &self->log, 8, self->r));
	betrkv_journal_destroy(j);

	/* Salvage on an intact journal changes nothing. */
	flip_byte(self->path, OFF + 7 * BS + 1000);
	self->log.n = 20;
	ASSERT_EQ(0, jreplay_salvage(self->dev, MiB, 0, 0, 0, true, &self->got,
				     &last, &salvaged, &j));
	EXPECT_FALSE(salvaged);
	EXPECT_EQ(20, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 20));
	betrkv_journal_destroy(j);
}

/* A record cut by a corrupt block is dropped, with everything after it. */
TEST_F(jf, torn_block_inside_records)
{
	struct betrkv_journal *j;
	u64 seq, last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	/* Records of 10000 bytes, packed: record i ends in block (10000(i+1) - 1) / 4048. */
	for (seq = 1; seq <= 10; seq++) {
		trec_sized(self->r, 10000, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	flip_byte(self->path, OFF + 10 * BS + 4000);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(4, last);	/* the 5th spans blocks 9..12 */
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 4));
	betrkv_journal_destroy(j);
}

/*
 * Blocks of an earlier lap are valid journal blocks in the right place; only
 * their position stops replay.
 */
TEST_F(jf, earlier_lap_not_replayed)
{
	struct betrkv_journal *j;
	u64 seq, pos = 0, cppos = 0, cpseq = 0, last;
	u32 prev = 0, cpprev = 0;
	const char *why;
	u8 *blk = malloc(BS);

	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(64 * PAYLOAD, betrkv_journal_max_record(j));
	for (seq = 1; seq <= 300; seq++) {
		small_synced(_metadata, j, self->r, &self->log, seq, 1);
		if (seq % 16 == 0 || seq == 236) {
			ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
			betrkv_journal_checkpoint_done(j, pos);
		}
		if (seq == 236) {
			cppos = pos;
			cpprev = prev;
			cpseq = seq;
		}
	}
	betrkv_journal_destroy(j);
	EXPECT_EQ(288 * BS, pos);

	/* Block 44 (the one after the last written) holds position 236. */
	file_rw(self->path, OFF + 44 * BS, blk, BS, false);
	ASSERT_EQ(0, betrkv_block_check(blk, BS, BETRKV_BLOCK_JOURNAL,
					OFF / BS + 44, uuid, &why));
	EXPECT_EQ(236 * BS, le64_to_cpu(*(__le64 *)(blk + 16)));

	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, pos, prev, 288, &self->got,
			     &last, &j));
	EXPECT_EQ(300, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 288, 300));
	betrkv_journal_destroy(j);

	/* A checkpoint a whole region back: all 64 blocks replay, no more. */
	EXPECT_EQ(236 * BS, cppos);
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, cppos, cpprev, cpseq,
			     &self->got, &last, &j));
	EXPECT_EQ(300, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 236, 300));
	trec_sized(self->r, 100, 301);
	EXPECT_EQ(-ENOSPC, append(j, &self->log, 301, self->r));
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	EXPECT_EQ(300 * BS, pos);
	betrkv_journal_checkpoint_done(j, pos);
	EXPECT_EQ(0, append(j, &self->log, 301, self->r));
	betrkv_journal_destroy(j);
	free(blk);
}

/*
 * A crash lost block 5 of session 1, the first of its last write batch
 * (blocks 5..9); session 2 replays 1..5 and writes the very same record 6
 * again at block 5, as a batch of its own.  Session 1's blocks 6..9 are
 * intact and in place, but must not chain after session 2's block.
 */
TEST_F(jf, earlier_session_not_replayed)
{
	struct betrkv_journal *j;
	const char *why;
	u8 *old = malloc(BS), *new = malloc(BS);
	u64 seq, last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	for (seq = 1; seq <= 10; seq++) {
		trec_sized(self->r, PAYLOAD, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
		if (seq <= 5)
			ASSERT_EQ(0, betrkv_journal_sync(j));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	file_rw(self->path, OFF + 5 * BS, old, BS, false);
	memset(new, 0xa5, BS);
	file_rw(self->path, OFF + 5 * BS, new, BS, true);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	ASSERT_EQ(5, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 5));
	self->log.n = 5;
	trec_sized(self->r, PAYLOAD, 6);
	ASSERT_EQ(0, append(j, &self->log, 6, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);

	file_rw(self->path, OFF + 5 * BS, new, BS, false);
	/* Same link, records and batch; another nonce. */
	EXPECT_EQ(0, memcmp(old + 32, new + 32, BS - 32));
	EXPECT_NE(0, memcmp(old + 24, new + 24, 8));
	file_rw(self->path, OFF + 6 * BS, old, BS, false);
	ASSERT_EQ(0, betrkv_block_check(old, BS, BETRKV_BLOCK_JOURNAL,
					OFF / BS + 6, uuid, &why));
	EXPECT_EQ(6 * BS, le64_to_cpu(*(__le64 *)(old + 16)));

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(6, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 6));
	betrkv_journal_destroy(j);
	free(old);
	free(new);
}

/*
 * Session 1's record 2 spans blocks 1..3 of its last write batch, and block
 * 2 was lost: session 2
 * replays record 1 and writes a new record 2 at block 2, where the cut
 * record would have continued.
 */
TEST_F(jf, cut_record_then_new_session)
{
	struct betrkv_journal *j;
	u8 *junk = malloc(BS);
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 1);
	trec_sized(self->r, 10000, 2);
	ASSERT_EQ(0, append(j, &self->log, 2, self->r));
	small_synced(_metadata, j, self->r, &self->log, 3, 1);	/* one batch */
	betrkv_journal_destroy(j);
	memset(junk, 0, BS);
	file_rw(self->path, OFF + 2 * BS, junk, BS, true);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	ASSERT_EQ(1, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 1));
	self->log.n = 1;
	trec_sized(self->r, 200, 99);
	ASSERT_EQ(0, append(j, &self->log, 2, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(OFF + 2 * BS, self->ld->w[self->ld->nw - 1].off);
	betrkv_journal_destroy(j);

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(2, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 2));
	betrkv_journal_destroy(j);
	free(junk);
}

/* Space: synced blocks and pending bytes count; a checkpoint frees it. */
TEST_F(jf, enospc_then_checkpoint)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 seq, pos, last;
	u32 prev;

	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 63);
	trec_sized(self->r, 100, 64);
	ASSERT_EQ(0, append(j, &self->log, 64, self->r));	/* block 63, open */
	trec_sized(self->r, PAYLOAD - 100 + 1, 65);
	EXPECT_EQ(-ENOSPC, append(j, &self->log, 65, self->r));
	trec_sized(self->r, PAYLOAD - 100, 65);
	EXPECT_EQ(0, append(j, &self->log, 65, self->r));	/* fills it */
	trec_sized(self->r, 29, 66);
	EXPECT_EQ(-ENOSPC, append(j, &self->log, 66, self->r));
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	EXPECT_EQ(64 * BS, pos);
	EXPECT_EQ(-ENOSPC, append(j, &self->log, 66, self->r));
	betrkv_journal_checkpoint_done(j, pos);
	EXPECT_EQ(0, append(j, &self->log, 66, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, pos, prev, 65, &self->got,
			     &last, &j));
	EXPECT_EQ(66, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 65, 66));
	betrkv_journal_destroy(j);

	/*
	 * Without syncs: one-block records fill the buffer (as large as this
	 * small region) and the region at once: nothing is written until a
	 * sync or a checkpoint.
	 */
	self->log.n = 0;
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, pos, prev, 65, &self->got,
			     &last, &j));
	EXPECT_EQ(66, last);
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	betrkv_journal_checkpoint_done(j, pos);
	for (seq = 67; seq <= 130; seq++) {
		trec_sized(self->r, PAYLOAD, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	trec_sized(self->r, 29, 131);
	EXPECT_EQ(-ENOSPC, append(j, &self->log, 131, self->r));
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(0, st.syncs);
	EXPECT_EQ(66, betrkv_journal_durable_seq(j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(1, st.syncs);
	EXPECT_EQ(64, st.blocks_written);
	EXPECT_EQ(130, betrkv_journal_durable_seq(j));
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, pos, prev, 66, &self->got,
			     &last, &j));
	EXPECT_EQ(130, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 64));
	betrkv_journal_destroy(j);
}

/* A full buffer (272 blocks, below the region's 512) is written. */
TEST_F(jf, full_buffer_written)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 seq, last;

	ASSERT_EQ(0, jreplay(self->dev, 2 * MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(272 * PAYLOAD, betrkv_journal_max_record(j));
	for (seq = 1; seq <= 273; seq++) {
		trec_sized(self->r, PAYLOAD, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(1, st.syncs);
	EXPECT_EQ(272, st.blocks_written);
	EXPECT_EQ(272, betrkv_journal_durable_seq(j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(273, betrkv_journal_durable_seq(j));
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, 2 * MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(273, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 273));
	betrkv_journal_destroy(j);
}

/* What append refuses, and the exact limit. */
TEST_F(jf, refusals)
{
	struct betrkv_journal *j;
	struct betrkv_op op;
	bool salvaged;
	u64 max, last;
	u32 i;

	ASSERT_EQ(0, jopen(self->dev, MiB, 0, 0, 5, &j));
	trec_sized(self->r, 100, 1);
	EXPECT_EQ(-EINVAL, append(j, &self->log, 6, self->r));	/* not replayed */
	ASSERT_EQ(0, betrkv_journal_replay(j, collect, &self->got, &last, &salvaged));
	EXPECT_FALSE(salvaged);
	EXPECT_EQ(5, last);
	EXPECT_EQ(-EINVAL, betrkv_journal_replay(j, collect, &self->got, &last,
						 &salvaged));
	EXPECT_EQ(-EINVAL, append(j, &self->log, 5, self->r));	/* not after 5 */
	EXPECT_EQ(-EINVAL, betrkv_journal_append(j, 6, self->r->ops, 0));
	op = self->r->ops[0];
	op.type = 3;
	EXPECT_EQ(-EINVAL, betrkv_journal_append(j, 6, &op, 1));
	op.type = BETRKV_OP_PUT;
	op.klen = 0;
	EXPECT_EQ(-EINVAL, betrkv_journal_append(j, 6, &op, 1));
	op.klen = BETRKV_KEY_MAX + 1;
	EXPECT_EQ(-E2BIG, betrkv_journal_append(j, 6, &op, 1));

	betrkv_journal_destroy(j);

	/*
	 * A batch of exactly max_record bytes fits; one byte more does not.
	 * (A region this small is below what a store may have.)
	 */
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 5, &self->got, &last, &j));
	max = betrkv_journal_max_record(j);
	EXPECT_EQ(64 * PAYLOAD, max);
	trec_reset(self->r);
	for (i = 0; i < 3; i++)
		trec_add(self->r, BETRKV_OP_PUT, BETRKV_KEY_MAX, BETRKV_VALUE_MAX, i);
	trec_add(self->r, BETRKV_OP_PUT, 16,
		 max - rec_len(self->r->ops, self->r->nops) - OP_HDR - 16 + 1, 9);
	ASSERT_EQ(max + 1, rec_len(self->r->ops, self->r->nops));
	EXPECT_EQ(-E2BIG, append(j, &self->log, 6, self->r));
	self->r->ops[3].vlen--;
	EXPECT_EQ(0, append(j, &self->log, 6, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 5, &self->got, &last, &j));
	EXPECT_EQ(6, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 1));
	betrkv_journal_destroy(j);

	/* Impossible regions. */
	EXPECT_EQ(-EINVAL, jopen(self->dev, BS, 0, 0, 0, &j));
	EXPECT_EQ(-EINVAL, jopen(self->dev, MiB + 512, 0, 0, 0, &j));
	EXPECT_EQ(-EINVAL, jopen(self->dev, MiB, 100, 0, 0, &j));
	EXPECT_EQ(-EINVAL, jopen(self->dev, 64 * MiB, 0, 0, 0, &j));
}

/* Syncs write each block once, the last write of each with PREFLUSH|FUA. */
TEST_F(jf, synced_blocks_never_rewritten)
{
	struct betrkv_journal *j;
	u64 s = 99, seq = 0, i, b, last;
	u8 count[256] = { 0 };
	u8 *before = malloc(4 * BS), *after = malloc(4 * BS);
	u32 k, n;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	trec_sized(self->r, 5000, 1);
	ASSERT_EQ(0, append(j, &self->log, ++seq, self->r));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	ASSERT_EQ(1, self->ld->nw);
	file_rw(self->path, OFF, before, 2 * BS, false);
	for (k = 0; k < 40; k++) {
		n = 1 + rng_next(&s) % 3;
		while (n--) {
			trec_sized(self->r, 29 + rng_next(&s) % 6000, seq);
			ASSERT_EQ(0, append(j, &self->log, ++seq, self->r));
		}
		ASSERT_EQ(0, betrkv_journal_sync(j));
	}
	betrkv_journal_destroy(j);
	file_rw(self->path, OFF, after, 2 * BS, false);
	EXPECT_EQ(0, memcmp(before, after, 2 * BS));
	ASSERT_EQ(41, self->ld->nw);
	for (i = 0; i < self->ld->nw; i++) {
		EXPECT_EQ(FLUSH, self->ld->w[i].flags);
		for (b = 0; b < self->ld->w[i].len / BS; b++)
			count[(self->ld->w[i].off - OFF) / BS + b]++;
	}
	ASSERT_GT(200, (self->ld->w[40].off - OFF) / BS);
	for (b = 0; b < 256; b++)
		ASSERT_GE(1, count[b]) TH_LOG("block %llu written twice", b);
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(seq, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, seq));
	betrkv_journal_destroy(j);
	free(before);
	free(after);
}

/* Sync with nothing new does no I/O at all. */
TEST_F(jf, idle_sync_no_io)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(0, self->ld->nw);
	trec_sized(self->r, 300, 1);
	ASSERT_EQ(0, append(j, &self->log, 1, self->r));
	EXPECT_EQ(0, self->ld->nw);
	EXPECT_EQ(0, betrkv_journal_durable_seq(j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(1, self->ld->nw);
	EXPECT_EQ(1, betrkv_journal_durable_seq(j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(1, self->ld->nw);
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(1, st.records);
	EXPECT_EQ(1, st.syncs);
	EXPECT_EQ(1, st.flushes);
	EXPECT_EQ(1, st.blocks_written);
	EXPECT_EQ(BS, st.bytes_written);
	betrkv_journal_destroy(j);
	/* Nor does replay, nor a sync after it. */
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(1, self->ld->nw);
	betrkv_journal_destroy(j);
}

/* A sync across the region's end: two writes, only the last flushing. */
TEST_F(jf, sync_wraps_region_end)
{
	struct betrkv_journal *j;
	u64 seq, pos, last;
	u32 prev;

	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 60);
	ASSERT_EQ(0, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	betrkv_journal_checkpoint_done(j, pos);
	self->ld->nw = 0;
	for (seq = 61; seq <= 68; seq++) {
		trec_sized(self->r, PAYLOAD, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	ASSERT_EQ(2, self->ld->nw);
	EXPECT_EQ(OFF + 60 * BS, self->ld->w[0].off);
	EXPECT_EQ(4 * BS, self->ld->w[0].len);
	EXPECT_EQ(0, self->ld->w[0].flags);
	EXPECT_EQ(OFF, self->ld->w[1].off);
	EXPECT_EQ(4 * BS, self->ld->w[1].len);
	EXPECT_EQ(FLUSH, self->ld->w[1].flags);
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, pos, prev, 60, &self->got,
			     &last, &j));
	EXPECT_EQ(68, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 60, 68));
	betrkv_journal_destroy(j);
}

/* A failed write: the error, then -EIO; what was durable stays durable. */
TEST_F(jf, write_error)
{
	struct betrkv_journal *j;
	u64 pos, last;
	u32 prev;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 3);
	trec_sized(self->r, 100, 4);
	ASSERT_EQ(0, append(j, &self->log, 4, self->r));
	self->ld->fail = true;
	EXPECT_EQ(-EIO, betrkv_journal_sync(j));
	self->ld->fail = false;
	EXPECT_EQ(3, betrkv_journal_durable_seq(j));
	trec_sized(self->r, 100, 5);
	EXPECT_EQ(-EIO, append(j, &self->log, 5, self->r));
	EXPECT_EQ(-EIO, betrkv_journal_sync(j));
	EXPECT_EQ(-EIO, betrkv_journal_checkpoint_begin(j, &pos, &prev));
	betrkv_journal_destroy(j);
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(3, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 3));
	betrkv_journal_destroy(j);
}

/* A checksummed block that makes no sense is corruption, not an end. */
TEST_F(jf, corrupt_contents)
{
	struct betrkv_journal *j;
	u8 *blk = malloc(BS);
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 6);
	betrkv_journal_destroy(j);

	file_rw(self->path, OFF + 4 * BS, blk, BS, false);
	*(__le16 *)(blk + 36) = cpu_to_le16(PAYLOAD + 1);	/* used */
	betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + 4, uuid);
	file_rw(self->path, OFF + 4 * BS, blk, BS, true);
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(4, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 4));
	trec_sized(self->r, 100, 5);
	EXPECT_EQ(-EIO, append(j, &self->log, 5, self->r));
	betrkv_journal_destroy(j);

	/* Sequence numbers going back. */
	*(__le16 *)(blk + 36) = cpu_to_le16(100);
	*(__le64 *)(blk + 56) = cpu_to_le64(3);
	betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + 4, uuid);
	file_rw(self->path, OFF + 4 * BS, blk, BS, true);
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(4, last);
	betrkv_journal_destroy(j);

	/* A valid seq replays; block 5 links to block 4's old checksum. */
	*(__le64 *)(blk + 56) = cpu_to_le64(50);
	betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + 4, uuid);
	file_rw(self->path, OFF + 4 * BS, blk, BS, true);
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(50, last);
	EXPECT_EQ(5, self->got.n);
	betrkv_journal_destroy(j);
	free(blk);
}

/*
 * A block in place, linked, but claiming another position ends replay: as
 * the end of the log in the last write batch, as corruption before a later
 * batch.
 */
TEST_F(jf, position_checked)
{
	struct betrkv_journal *j;
	u8 *blk = malloc(BS), *orig = malloc(BS);
	u64 last, idx;

	ASSERT_EQ(0, jreplay(self->dev, 256 * KiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 6);
	betrkv_journal_destroy(j);
	for (idx = 5; idx >= 4; idx--) {
		file_rw(self->path, OFF + idx * BS, orig, BS, false);
		memcpy(blk, orig, BS);
		*(__le64 *)(blk + 16) = cpu_to_le64((64 + idx) * BS); /* a lap later */
		betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + idx, uuid);
		file_rw(self->path, OFF + idx * BS, blk, BS, true);
		EXPECT_EQ(idx == 5 ? 0 : -EUCLEAN,
			  jreplay(self->dev, 256 * KiB, 0, 0, 0, &self->got, &last, &j));
		EXPECT_EQ(idx, last);
		betrkv_journal_destroy(j);
		file_rw(self->path, OFF + idx * BS, orig, BS, true);
	}
	free(blk);
	free(orig);
}

static void reseal_first(const char *path, u64 idx, u16 first, u8 *blk)
{
	file_rw(path, OFF + idx * BS, blk, BS, false);
	*(__le16 *)(blk + 38) = cpu_to_le16(first);
	betrkv_block_seal(blk, BS, BETRKV_BLOCK_JOURNAL, OFF / BS + idx, uuid);
	file_rw(path, OFF + idx * BS, blk, BS, true);
}

/* Records that do not line up with the blocks' first offsets. */
TEST_F(jf, corrupt_framing)
{
	struct betrkv_journal *j;
	u8 *blk = malloc(BS), *orig = malloc(2 * BS);
	u64 seq, last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	/* Records of 5000 bytes: 1 in blocks 0-1, 2 in blocks 1-2 from 952. */
	for (seq = 1; seq <= 3; seq++) {
		trec_sized(self->r, 5000, seq);
		ASSERT_EQ(0, append(j, &self->log, seq, self->r));
	}
	ASSERT_EQ(0, betrkv_journal_sync(j));
	betrkv_journal_destroy(j);
	file_rw(self->path, OFF, orig, 2 * BS, false);
	EXPECT_EQ(952, le16_to_cpu(*(__le16 *)(orig + BS + 38)));

	reseal_first(self->path, 1, 900, blk);		/* record 1 cut short */
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(0, last);
	betrkv_journal_destroy(j);
	reseal_first(self->path, 1, 1000, blk);		/* record 1 too long */
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	betrkv_journal_destroy(j);
	reseal_first(self->path, 1, 0xffff, blk);	/* no record 2 */
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	betrkv_journal_destroy(j);
	file_rw(self->path, OFF + BS, orig + BS, BS, true);
	reseal_first(self->path, 0, 10, blk);		/* bytes of no record */
	EXPECT_EQ(-EUCLEAN, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	betrkv_journal_destroy(j);

	/* Put back, everything replays. */
	file_rw(self->path, OFF, orig, BS, true);
	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(3, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 3));
	betrkv_journal_destroy(j);
	free(blk);
	free(orig);
}

/* apply() failing stops replay with its error. */
TEST_F(jf, apply_error)
{
	struct betrkv_journal *j;
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	small_synced(_metadata, j, self->r, &self->log, 1, 8);
	betrkv_journal_destroy(j);
	self->got.fail_at = 5;
	EXPECT_EQ(-ENOMEM, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	EXPECT_EQ(4, last);
	EXPECT_TRUE(seen_is(&self->got, &self->log, 0, 4));
	betrkv_journal_destroy(j);
}

/* ---- group commit ---- */

struct sync_ctx {
	struct betrkv_journal *j;
	struct log_dev *ld;
	pthread_mutex_t store_lock;
	u64 next_seq;
	int bad;
};

static void *sync_thread(void *arg)
{
	struct sync_ctx *c = arg;
	struct betrkv_op op;
	u8 key[16] = "key", val[300];
	u64 seq, started;
	int i;

	memset(val, 0x5a, sizeof(val));
	for (i = 0; i < 100; i++) {
		pthread_mutex_lock(&c->store_lock);
		seq = ++c->next_seq;
		memcpy(key + 8, &seq, sizeof(seq));
		op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .klen = sizeof(key),
					 .vlen = seq % sizeof(val), .key = key,
					 .val = val };
		if (betrkv_journal_append(c->j, seq, &op, 1))
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
		/* Writes started by now cannot hold the record. */
		started = __atomic_load_n(&c->ld->started, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&c->store_lock);
		if (betrkv_journal_sync(c->j) ||
		    betrkv_journal_durable_seq(c->j) < seq ||
		    __atomic_load_n(&c->ld->fua_done, __ATOMIC_SEQ_CST) <= started)
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

TEST_F(jf, concurrent_syncs)
{
	struct sync_ctx c = { .store_lock = PTHREAD_MUTEX_INITIALIZER,
			      .ld = self->ld };
	struct betrkv_journal_stats st;
	pthread_t t[6];
	u64 last, i;

	self->ld->delay_us = 300;
	ASSERT_EQ(0, jreplay(self->dev, 8 * MiB, 0, 0, 0, &self->got, &last, &c.j));
	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sync_thread, &c));
	for (i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, c.bad);
	EXPECT_EQ(600, betrkv_journal_durable_seq(c.j));
	betrkv_journal_stats(c.j, &st);
	EXPECT_EQ(600, st.records);
	EXPECT_GE(600, st.syncs);
	TH_LOG("600 syncs: %llu wrote", st.syncs);
	betrkv_journal_destroy(c.j);
	ASSERT_EQ(0, jreplay(self->dev, 8 * MiB, 0, 0, 0, &self->got, &last, &c.j));
	EXPECT_EQ(600, last);
	ASSERT_EQ(600, self->got.n);
	for (i = 0; i < 600; i++)
		ASSERT_EQ(i + 1, self->got.seq[i]);
	betrkv_journal_destroy(c.j);
}

static void *sync_once(void *arg)
{
	return (void *)(long)betrkv_journal_sync(arg);
}

/*
 * A sync whose records another caller is writing waits for that write and
 * shares it: no write of its own.
 */
TEST_F(jf, sync_joins_write_in_flight)
{
	struct betrkv_journal *j;
	struct betrkv_journal_stats st;
	pthread_t t;
	void *ret;
	u64 last;

	ASSERT_EQ(0, jreplay(self->dev, MiB, 0, 0, 0, &self->got, &last, &j));
	trec_sized(self->r, 100, 1);
	ASSERT_EQ(0, append(j, &self->log, 1, self->r));
	self->ld->delay_us = 200000;
	ASSERT_EQ(0, pthread_create(&t, NULL, sync_once, j));
	while (!__atomic_load_n(&self->ld->started, __ATOMIC_SEQ_CST))
		usleep(1000);
	ASSERT_EQ(0, betrkv_journal_sync(j));
	EXPECT_EQ(1, __atomic_load_n(&self->ld->fua_done, __ATOMIC_SEQ_CST));
	pthread_join(t, &ret);
	EXPECT_EQ(0, (long)ret);
	EXPECT_EQ(1, self->ld->nw);
	betrkv_journal_stats(j, &st);
	EXPECT_EQ(1, st.syncs);
	betrkv_journal_destroy(j);
}

/* ---- crashes on the simulated disk ---- */

#define CR_BLOCKS	64
#define CR_SIZE		(CR_BLOCKS * BS)

/*
 * The simulated disk as a dying machine drives it: from the armed I/O on
 * every I/O fails, and the write in flight at that moment does not
 * complete: its PREFLUSH is done or not, and each of its 4 KiB blocks is
 * lost, on the media, or in the volatile cache for the crash to land, lose
 * or tear.  So any blocks of a multi-block write may survive.
 */
struct dying_dev {
	struct betrkv_dev dev;
	struct betrkv_dev *sim;
	u64 ios_left;
	bool armed, dead;
	u64 rng;
};

static bool dying_now(struct dying_dev *d)
{
	if (d->armed && !d->dead && !d->ios_left--)
		d->dead = true;
	return d->dead;
}

static int dying_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	struct dying_dev *d = (struct dying_dev *)dev;

	return dying_now(d) ? -EIO : betrkv_dev_read(d->sim, off, buf, len);
}

static int dying_write(struct betrkv_dev *dev, u64 off, const void *buf,
		       size_t len, unsigned int flags)
{
	static const unsigned int fate[3] = { 0, BETRKV_IO_FUA, 0 };
	struct dying_dev *d = (struct dying_dev *)dev;
	size_t i;
	u64 f;

	if (d->dead)
		return -EIO;
	if (!dying_now(d))
		return betrkv_dev_write(d->sim, off, buf, len, flags);
	flags &= rng_next(&d->rng) % 2 ? BETRKV_IO_PREFLUSH : 0;
	for (i = 0; i < len; i += BS) {
		f = rng_next(&d->rng) % 3;
		if (f && betrkv_dev_write(d->sim, off + i, (const u8 *)buf + i,
					  BS, flags | fate[f]))
			abort();
		flags = 0;
	}
	return -EIO;
}

static void dying_close(struct betrkv_dev *dev)
{
	struct dying_dev *d = (struct dying_dev *)dev;

	betrkv_user_dev_close(d->sim);
	free(d);
}

static const struct betrkv_dev_ops dying_ops = {
	.read = dying_read, .write = dying_write, .close = dying_close,
};

static struct dying_dev *dying_dev_create(u64 size)
{
	struct dying_dev *d = calloc(1, sizeof(*d));

	if (!d || betrkv_simdisk_create(size, 512, &d->sim))
		abort();
	d->dev = *d->sim;
	d->dev.ops = &dying_ops;
	return d;
}

/* What the test knows: the records of the current history, the checkpoint. */
struct crash_model {
	struct seen log;	/* record seq i + 1 at index i */
	u64 synced;		/* covered by a completed sync */
	u64 cp_pos, cp_seq;
	u32 cp_prev;
	struct trec *r;
	u64 rng;
	char why[160];
};

static void random_record(struct crash_model *m)
{
	u32 n = 1 + rng_next(&m->rng) % (rng_next(&m->rng) % 8 ? 2 : MAX_OPS);
	u32 kmax, vmax;

	trec_reset(m->r);
	while (n--) {
		kmax = rng_next(&m->rng) % 16 ? 40 : BETRKV_KEY_MAX;
		vmax = rng_next(&m->rng) % 8 ? 600 : 9000;
		trec_add(m->r, rng_next(&m->rng) % 4 ? BETRKV_OP_PUT : BETRKV_OP_DEL,
			 1 + rng_next(&m->rng) % kmax, rng_next(&m->rng) % vmax,
			 rng_next(&m->rng));
	}
}

static int crash_checkpoint(struct crash_model *m, struct betrkv_journal *j)
{
	u64 pos;
	u32 prev;
	int ret = betrkv_journal_checkpoint_begin(j, &pos, &prev);

	if (ret)
		return ret;
	/* The checkpoint (tree and superblock) is durable at once. */
	m->cp_pos = pos;
	m->cp_prev = prev;
	m->cp_seq = m->log.n;
	m->synced = m->log.n;
	betrkv_journal_checkpoint_done(j, pos);
	return 0;
}

static int crash_append(struct crash_model *m, struct betrkv_journal *j)
{
	u64 seq = m->log.n + 1;
	int ret;

	random_record(m);
	ret = append(j, &m->log, seq, m->r);
	if (ret != -ENOSPC)
		return ret;
	ret = crash_checkpoint(m, j);
	return ret ? ret : append(j, &m->log, seq, m->r);
}

/* Run until the armed disk fails or enough steps; -EIO is the crash. */
static int crash_session(struct crash_model *m, struct betrkv_journal *j)
{
	int step, ret = 0;
	u64 a;

	for (step = 0; step < 40 && !ret; step++) {
		a = rng_next(&m->rng) % 16;
		if (a < 10) {
			ret = crash_append(m, j);
		} else if (a < 15) {
			ret = betrkv_journal_sync(j);
			if (!ret)
				m->synced = m->log.n;
		} else {
			ret = crash_checkpoint(m, j);
		}
		if (!ret && betrkv_journal_durable_seq(j) < m->synced) {
			snprintf(m->why, sizeof(m->why), "durable_seq %llu < synced %llu",
				 betrkv_journal_durable_seq(j), m->synced);
			return -EBADMSG;
		}
	}
	if (ret && ret != -EIO)
		snprintf(m->why, sizeof(m->why), "step %d: error %d", step, ret);
	return ret == -EIO ? 0 : ret;
}

/* Recover: the replayed records are the model's, from the checkpoint on. */
static int crash_recover(struct crash_model *m, struct betrkv_dev *dev,
			 struct betrkv_journal **jp)
{
	struct seen got = { 0 };
	u64 last, n;
	int ret;

	ret = jreplay(dev, CR_SIZE, m->cp_pos, m->cp_prev, m->cp_seq, &got,
		      &last, jp);
	n = got.n;
	if (ret)
		snprintf(m->why, sizeof(m->why), "replay: error %d", ret);
	else if (last != m->cp_seq + n || last < m->synced || last > m->log.n)
		snprintf(m->why, sizeof(m->why),
			 "replayed up to %llu: checkpoint %llu, synced %llu, appended %llu",
			 last, m->cp_seq, m->synced, m->log.n);
	else if (!seen_is(&got, &m->log, m->cp_seq, last))
		snprintf(m->why, sizeof(m->why), "replayed records differ");
	else if (betrkv_journal_durable_seq(*jp) != last)
		snprintf(m->why, sizeof(m->why), "durable_seq after replay");
	else
		m->log.n = m->synced = last;
	seen_free(&got);
	return m->why[0] ? -EBADMSG : 0;
}

static int crash_cycle(struct crash_model *m, u64 seed)
{
	struct dying_dev *d = dying_dev_create(OFF + CR_SIZE);
	struct betrkv_journal *j = NULL;
	int round, ret;

	m->rng = seed;
	d->rng = ~seed;
	m->log.n = m->synced = m->cp_pos = m->cp_seq = m->cp_prev = 0;
	m->why[0] = 0;
	for (round = 0;; round++) {
		ret = crash_recover(m, &d->dev, &j);
		if (ret || round == 5)
			break;
		d->armed = true;
		d->ios_left = rng_next(&m->rng) % 50;
		ret = crash_session(m, j);
		betrkv_journal_destroy(j);
		j = NULL;
		if (ret)
			break;
		betrkv_simdisk_crash(d->sim, rng_next(&m->rng));
		d->armed = d->dead = false;
	}
	betrkv_journal_destroy(j);
	betrkv_user_dev_close(&d->dev);
	return ret;
}

/*
 * Random records, syncs and checkpoints, a crash at a random I/O, recovery:
 * five rounds per cycle, thousands of cycles.
 */
TEST(crash_random)
{
	struct crash_model m = { 0 };
	const char *env = getenv("JOURNAL_SEED");
	u64 base = env ? strtoull(env, NULL, 0) : (u64)time(NULL) * 1000003;
	u64 cycles = env ? 1 : 3000, c;

	betrkv_user_set_log(quiet);
	m.r = trec_new();
	for (c = 0; c < cycles; c++) {
		ASSERT_EQ(0, crash_cycle(&m, base + c))
			TH_LOG("seed %llu: %s (rerun: JOURNAL_SEED=%llu)",
			       base + c, m.why, base + c);
	}
	trec_free(m.r);
	seen_free(&m.log);
}

/* Reads failing during recovery fail replay; a retry succeeds. */
TEST(crash_read_error)
{
	struct crash_model m = { 0 };
	struct betrkv_journal *j;
	struct betrkv_dev *dev;
	u64 last;
	struct seen got = { 0 };
	int i;

	betrkv_user_set_log(quiet);
	m.r = trec_new();
	m.rng = 5;
	ASSERT_EQ(0, betrkv_simdisk_create(OFF + CR_SIZE, 512, &dev));
	ASSERT_EQ(0, crash_recover(&m, dev, &j));
	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, crash_append(&m, j));
		ASSERT_EQ(0, betrkv_journal_sync(j));
	}
	betrkv_journal_destroy(j);
	betrkv_simdisk_arm(dev, 0);
	EXPECT_EQ(-EIO, jreplay(dev, CR_SIZE, 0, 0, 0, &got, &last, &j));
	EXPECT_EQ(0, last);
	betrkv_journal_destroy(j);
	betrkv_simdisk_disarm(dev);
	m.synced = 20;
	ASSERT_EQ(0, crash_recover(&m, dev, &j)) TH_LOG("%s", m.why);
	EXPECT_EQ(20, m.log.n);
	betrkv_journal_destroy(j);
	betrkv_user_dev_close(dev);
	trec_free(m.r);
	seen_free(&m.log);
	seen_free(&got);
}

TEST_HARNESS_MAIN
