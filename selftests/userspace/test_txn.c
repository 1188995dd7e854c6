// SPDX-License-Identifier: GPL-2.0
/*
 * A failed call changes nothing (spec section 2): a mutation that returns
 * an error takes no sequence number, is never visible, and no later sync
 * or reopen makes it durable; the store stays writable after it.  Tree
 * failures are injected as read errors of the node region (a device that
 * fails reads) and as allocation failures (every allocation of a workload
 * in turn).  A store whose device failed writes reports the failure when
 * it is closed (spec section 3).  A crash at any I/O of write-back ahead
 * of eviction loses nothing a sync covered (spec section 2).
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/dev_user.h"
#include "user/simdisk.h"

#define MiB	(1ull << 20)
#define NKEYS	2000u
#define NLOAD	1600u	/* keys preloaded */
#define BATCH	8u

/* A device in front of a simulated disk that can fail reads of a range. */
struct fault_dev {
	struct betrkv_dev dev;
	struct betrkv_dev *disk;
	u64 lo, hi;		/* reads overlapping [lo, hi) fail when set */
	bool fail_reads;
};

static int fault_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	struct fault_dev *f = (struct fault_dev *)dev;

	if (f->fail_reads && off < f->hi && off + len > f->lo)
		return -EIO;
	return betrkv_dev_read(f->disk, off, buf, len);
}

static int fault_write(struct betrkv_dev *dev, u64 off, const void *buf,
		       size_t len, unsigned int flags)
{
	struct fault_dev *f = (struct fault_dev *)dev;

	return betrkv_dev_write(f->disk, off, buf, len, flags);
}

static void fault_close(struct betrkv_dev *dev)
{
}

static const struct betrkv_dev_ops fault_ops = {
	.read = fault_read, .write = fault_write, .close = fault_close,
};

FIXTURE(txn) {
	struct fault_dev fdev;
	struct betrkv_dev *disk, *dev;
	struct betrkv_engine *e;
	struct betrkv_sb sb;
	struct model m;
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
	u8 bkeys[BATCH][BETRKV_KEY_MAX], bvals[BATCH][BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

static const struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB };

FIXTURE_SETUP(txn)
{
	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(24 * MiB, 512, &self->disk));
	self->fdev = (struct fault_dev){
		.dev = { .ops = &fault_ops, .name = self->disk->name,
			 .size = self->disk->size,
			 .block_size = self->disk->block_size },
		.disk = self->disk,
	};
	self->dev = &self->fdev.dev;
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 0, &self->sb));
	self->fdev.lo = self->sb.geo.nodes_offset;
	self->fdev.hi = self->sb.geo.nodes_offset + self->sb.geo.nodes_size;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	self->m.nkeys = NKEYS;
	self->m.vlen = malloc(NKEYS * sizeof(u32));
	self->m.version = calloc(NKEYS, sizeof(u32));
	memset(self->m.vlen, 0xff, NKEYS * sizeof(u32));
}

FIXTURE_TEARDOWN(txn)
{
	betrkv_user_fail_alloc(0);
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->disk);
	free(self->m.vlen);
	free(self->m.version);
}

/* Put @n keys from @k on, values of @vlen bytes, as one batch. */
static int put_batch(FIXTURE_DATA(txn) *self, u32 k, u32 n, u32 vlen)
{
	struct betrkv_op ops[BATCH] = {};
	u32 i;
	int err;

	for (i = 0; i < n; i++) {
		model_value(k + i, self->m.version[k + i] + 1, vlen, self->bvals[i]);
		ops[i] = (struct betrkv_op){ .type = BETRKV_OP_PUT,
					     .key = self->bkeys[i],
					     .klen = model_key(k + i, self->bkeys[i]),
					     .val = self->bvals[i], .vlen = vlen };
	}
	err = betrkv_engine_apply(self->e, ops, n, NULL);
	for (i = 0; !err && i < n; i++) {
		self->m.version[k + i]++;
		self->m.vlen[k + i] = vlen;
	}
	return err;
}

static int del(FIXTURE_DATA(txn) *self, u32 k)
{
	struct betrkv_op op = { .type = BETRKV_OP_DEL, .key = self->key,
				.klen = model_key(k, self->key) };
	int err = betrkv_engine_apply(self->e, &op, 1, NULL);

	if (!err)
		self->m.vlen[k] = MODEL_ABSENT;
	return err;
}

static void check_all(struct __test_metadata *_metadata, FIXTURE_DATA(txn) *self)
{
	struct betrkv_msg *v;
	u32 i;
	int err;

	for (i = 0; i < NKEYS; i++) {
		err = model_get(self->e, self->key, model_key(i, self->key), &v);
		if (self->m.vlen[i] == MODEL_ABSENT) {
			ASSERT_EQ(-ENOENT, err) TH_LOG("key %u", i);
			continue;
		}
		ASSERT_EQ(0, err) TH_LOG("key %u", i);
		ASSERT_EQ(self->m.vlen[i], v->vlen) TH_LOG("key %u", i);
		model_value(i, self->m.version[i], v->vlen, self->val);
		ASSERT_EQ(0, memcmp(self->val, betrkv_msg_val(v), v->vlen)) TH_LOG("key %u", i);
		kfree(v);
	}
}

static void reopen(struct __test_metadata *_metadata, FIXTURE_DATA(txn) *self)
{
	ASSERT_EQ(0, betrkv_engine_close(self->e));
	self->e = NULL;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
}

static u64 seq_of(struct betrkv_engine *e)
{
	struct betrkv_engine_stats st;

	betrkv_engine_stats(e, &st);
	return st.seq;
}

/* Keys 0..@n - 1 of 2000 bytes, checkpointed: a tree of a few levels. */
static void preload(struct __test_metadata *_metadata, FIXTURE_DATA(txn) *self,
		    u32 n)
{
	u32 k;

	for (k = 0; k < n; k += BATCH)
		ASSERT_EQ(0, put_batch(self, k, BATCH, 2000));
	reopen(_metadata, self);
}

/*
 * A batch whose flush needs a node that cannot be read fails with -EIO
 * and leaves no trace: the sequence number does not move, a sync does not
 * cover it, it is not visible, now or after a reopen, and the store takes
 * the next batch.
 */
TEST_F(txn, failed_read_leaves_no_trace)
{
	struct betrkv_engine_stats st;
	u64 seq, durable;
	u32 k = NKEYS - BATCH;

	preload(_metadata, self, NLOAD);
	betrkv_engine_stats(self->e, &st);	/* reads the root */
	ASSERT_LE(2, st.height);
	seq = st.seq;
	self->fdev.fail_reads = true;
	/* Half a megabyte into the root: it must flush into a child. */
	ASSERT_EQ(-EIO, put_batch(self, k, BATCH, BETRKV_VALUE_MAX));
	ASSERT_EQ(seq, seq_of(self->e));
	ASSERT_EQ(0, betrkv_engine_sync(self->e, &durable));
	ASSERT_EQ(seq, durable);
	self->fdev.fail_reads = false;
	check_all(_metadata, self);
	ASSERT_EQ(0, put_batch(self, 0, BATCH, 100));
	ASSERT_EQ(seq + 1, seq_of(self->e));
	reopen(_metadata, self);
	check_all(_metadata, self);
	ASSERT_EQ(seq + 1, seq_of(self->e));
}

/*
 * Sync, then crash: a copy of the disk as it is now opens to exactly the
 * model, so the checkpoint on disk and the journal after it agree with
 * what the store answers (a checkpoint that completed without a node it
 * needed would lose that node's changes here).
 */
static void crash_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(txn) *self, u64 n)
{
	struct betrkv_engine *e;
	struct betrkv_dev *copy;

	ASSERT_EQ(0, betrkv_engine_sync(self->e, NULL)) TH_LOG("allocation %llu", n);
	ASSERT_EQ(0, betrkv_simdisk_clone(self->disk, &copy));
	ASSERT_EQ(0, betrkv_engine_open(copy, &opts, &e)) TH_LOG("allocation %llu", n);
	model_check_scan(_metadata, e, &self->m, 0, NKEYS, 500);
	ASSERT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(copy);
}

/*
 * The workload of the allocation failure sweep, with explicit checkpoints
 * if @cps, else with gets of other keys between the mutations (whose
 * evictions write back nodes a checkpoint in progress may need); 0 if no
 * op failed.
 */
static int workload(struct __test_metadata *_metadata, FIXTURE_DATA(txn) *self,
		    u64 n, bool cps)
{
	u64 rng = 7, seq = seq_of(self->e), want = seq;
	struct betrkv_val v = { .buf = self->val, .cap = sizeof(self->val) };
	int err, failed = 0;
	u32 op, k, j, g;

	for (op = 0; op < 24; op++) {
		k = rng_below(&rng, NLOAD - BATCH);
		for (j = 0; !cps && j < 3; j++) {
			g = (k * 7 + j * 401) % NLOAD;
			err = betrkv_engine_get(self->e, self->key,
						model_key(g, self->key), &v);
			ASSERT_TRUE(!err || err == -ENOENT || (n && err == -ENOMEM))
				TH_LOG("allocation %llu, op %u: get error %d", n, op, err);
			failed = failed ?: (err == -ENOMEM ? err : 0);
		}
		if (op % 8 == 3 && cps)
			err = betrkv_engine_checkpoint(self->e);
		else if (op % 6 == 5)
			err = del(self, k);
		else
			err = put_batch(self, k, 1 + rng_below(&rng, BATCH),
					op % 4 ? 3000 : BETRKV_VALUE_MAX);
		ASSERT_TRUE(!err || (n && err == -ENOMEM))
			TH_LOG("allocation %llu, op %u: error %d", n, op, err);
		want += !err && !(op % 8 == 3 && cps);
		failed = failed ?: err;
		seq = seq_of(self->e);
		ASSERT_EQ(want, seq) TH_LOG("allocation %llu, op %u", n, op);
	}
	return failed;
}

/*
 * Preload, close, and keep copies of the disk (@snap) and of the model
 * (@m0): the state each round of a sweep starts from.
 */
static void sweep_start(struct __test_metadata *_metadata,
			FIXTURE_DATA(txn) *self, struct betrkv_dev **snap,
			struct model *m0)
{
	preload(_metadata, self, NLOAD);
	ASSERT_EQ(0, betrkv_engine_close(self->e));
	self->e = NULL;
	ASSERT_EQ(0, betrkv_simdisk_clone(self->disk, snap));
	m0->nkeys = NKEYS;
	m0->vlen = malloc(NKEYS * sizeof(u32));
	m0->version = malloc(NKEYS * sizeof(u32));
	memcpy(m0->vlen, self->m.vlen, NKEYS * sizeof(u32));
	memcpy(m0->version, self->m.version, NKEYS * sizeof(u32));
}

/* A round of a sweep begins: the disk and the model as sweep_start() kept. */
static void sweep_round(struct __test_metadata *_metadata,
			FIXTURE_DATA(txn) *self, struct betrkv_dev *snap,
			const struct model *m0)
{
	betrkv_user_dev_close(self->disk);
	ASSERT_EQ(0, betrkv_simdisk_clone(snap, &self->disk));
	self->fdev.disk = self->disk;
	self->fdev.dev.name = self->disk->name;	/* the old one's is freed */
	memcpy(self->m.vlen, m0->vlen, NKEYS * sizeof(u32));
	memcpy(self->m.version, m0->version, NKEYS * sizeof(u32));
}

static void sweep_end(struct betrkv_dev *snap, struct model *m0)
{
	betrkv_user_dev_close(snap);
	free(m0->vlen);
	free(m0->version);
}

/*
 * Fail each allocation of a workload in turn (puts and batches that flush,
 * split and merge, deletes, checkpoints): the call that sees -ENOMEM
 * changes nothing, every other call succeeds, and the store matches the
 * model exactly, then, after a sync and a crash, and after a close and
 * reopen.  The workload checkpoints explicitly if @cps; every @step-th
 * allocation fails in turn.  Returns in @st0 the engine's stats of the
 * round that failed nothing.
 */
static void enomem_sweep(struct __test_metadata *_metadata,
			 FIXTURE_DATA(txn) *self, bool cps, u32 step,
			 struct betrkv_engine_stats *st0)
{
	struct betrkv_dev *snap;
	u64 nallocs, n, hit = 0;
	struct model m0;

	sweep_start(_metadata, self, &snap, &m0);
	/* Round 0 counts the allocations; round n fails the nth. */
	for (n = 0, nallocs = 1; n <= nallocs; n += n ? step : 1) {
		sweep_round(_metadata, self, snap, &m0);
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
		betrkv_user_fail_alloc(n);
		if (!n)
			nallocs = betrkv_user_allocs();
		hit += !!workload(_metadata, self, n, cps);
		if (!n) {
			nallocs = betrkv_user_allocs() - nallocs;
			betrkv_engine_stats(self->e, st0);
		}
		betrkv_user_fail_alloc(0);
		model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 500);
		crash_check(_metadata, self, n);
		ASSERT_EQ(0, put_batch(self, 0, 1, 10)) TH_LOG("allocation %llu", n);
		reopen(_metadata, self);
		model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 500);
		ASSERT_EQ(0, betrkv_engine_close(self->e));
		self->e = NULL;
	}
	TH_LOG("%llu of %llu allocations failed in turn, %llu of them failed a call",
	       (nallocs + step - 1) / step, nallocs, hit);
	EXPECT_LT(nallocs / step / 4, hit);
	sweep_end(snap, &m0);
}

TEST_F_TIMEOUT(txn, enomem_changes_nothing, 1800)
{
	struct betrkv_engine_stats st;

	enomem_sweep(_metadata, self, true, 1, &st);
}

/*
 * The same without explicit checkpoints, with gets between the mutations,
 * and with a journal small enough that checkpoints begin inside the
 * workload and overlap its mutations (a store without a worker writes one
 * marked node per mutation, and a mutation first writes a marked node it
 * changes): a call that fails there changes nothing either, and the
 * checkpoint that completes holds every node it needs.  Every third
 * allocation fails, to keep the time down.
 */
TEST_F_TIMEOUT(txn, enomem_during_checkpoint, 1800)
{
	struct betrkv_engine_stats st;

	ASSERT_EQ(0, betrkv_engine_close(self->e));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, 2 * MiB, &self->sb));
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	enomem_sweep(_metadata, self, false, 3, &st);
	TH_LOG("%llu checkpoints, %llu nodes forced out for one",
	       st.checkpoints, st.cache.cp_forced);
	EXPECT_LT(0, st.cache.cp_forced);
}

#define WB_STEPS	12u	/* batches of BETRKV_VALUE_MAX values: 6 MiB */

/* The model after the first @r steps of crash_during_writeback on @m0. */
static void wb_model(FIXTURE_DATA(txn) *self, const struct model *m0, u32 r)
{
	u32 k;

	memcpy(self->m.vlen, m0->vlen, NKEYS * sizeof(u32));
	memcpy(self->m.version, m0->version, NKEYS * sizeof(u32));
	for (k = 0; k < r * BATCH; k++) {
		self->m.version[k]++;
		self->m.vlen[k] = BETRKV_VALUE_MAX;
	}
}

/* How many steps the recovered store holds: @synced, or one more. */
static u32 wb_recovered(struct __test_metadata *_metadata,
			FIXTURE_DATA(txn) *self, const struct model *m0,
			u32 synced)
{
	struct betrkv_msg *v;
	u32 k = synced * BATCH;
	bool newer;
	int err;

	if (synced == WB_STEPS)
		return synced;
	err = model_get(self->e, self->key, model_key(k, self->key), &v);
	if (err)
		return synced;	/* the check of the model reports it */
	newer = v->vlen == BETRKV_VALUE_MAX && m0->vlen[k] != BETRKV_VALUE_MAX;
	kfree(v);
	return synced + newer;
}

/*
 * Write-back ahead of eviction, cut by a crash at each of its I/Os in
 * turn: updates of 64 KiB values, each synced, far beyond the cache's
 * budget, so that cold dirty nodes are written back while checkpoints
 * come and go.  The recovered store holds exactly the synced updates, and
 * perhaps the one in flight, over the preloaded keys.
 */
TEST_F_TIMEOUT(txn, crash_during_writeback, 1800)
{
	struct betrkv_simdisk_stats before, after;
	struct betrkv_engine_stats st;
	struct model m0;
	struct betrkv_dev *snap;
	u64 ios = 1, n, cut = 0;
	u32 i, synced;
	int err;

	sweep_start(_metadata, self, &snap, &m0);
	/* Round 0 counts the I/Os of the workload; round n dies at I/O n. */
	for (n = 0; n < ios; n++) {
		sweep_round(_metadata, self, snap, &m0);
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
		betrkv_simdisk_stats(self->disk, &before);
		if (n)
			betrkv_simdisk_arm(self->disk, n - 1);
		for (i = 0, synced = 0, err = 0; i < WB_STEPS && !err; i++) {
			err = put_batch(self, i * BATCH, BATCH, BETRKV_VALUE_MAX) ?:
			      betrkv_engine_sync(self->e, NULL);
			synced += !err;
		}
		ASSERT_TRUE(!err || (n && err == -EIO))
			TH_LOG("I/O %llu: error %d", n, err);
		betrkv_engine_stats(self->e, &st);
		if (!n) {
			betrkv_simdisk_stats(self->disk, &after);
			ios = after.reads + after.writes - before.reads - before.writes;
			TH_LOG("%llu I/Os, %llu nodes written back ahead of eviction",
			       ios, st.cache.writebacks);
			ASSERT_LT(0, st.cache.writebacks);
		}
		cut += n && err && st.cache.writebacks;
		betrkv_simdisk_arm(self->disk, 0);
		betrkv_engine_close(self->e);
		self->e = NULL;
		betrkv_simdisk_crash(self->disk, n);
		ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e))
			TH_LOG("I/O %llu: recovery failed", n);
		wb_model(self, &m0, wb_recovered(_metadata, self, &m0, synced));
		model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 500);
		ASSERT_EQ(0, betrkv_engine_close(self->e));
		self->e = NULL;
	}
	TH_LOG("%llu crashes after a write-back ahead of eviction", cut);
	EXPECT_LT(ios / 3, cut);
	sweep_end(snap, &m0);
}

/*
 * After the device failed a write, close reports it, and frees the store:
 * mutations no sync covered are lost.
 */
TEST_F(txn, close_reports_failure)
{
	ASSERT_EQ(0, put_batch(self, 0, 1, 100));
	ASSERT_EQ(0, betrkv_engine_sync(self->e, NULL));
	betrkv_simdisk_fail_writes(self->disk, true);
	ASSERT_EQ(0, put_batch(self, 1, 1, 100));
	ASSERT_EQ(-EIO, betrkv_engine_sync(self->e, NULL));
	ASSERT_EQ(-EIO, put_batch(self, 2, 1, 100));
	ASSERT_EQ(-EIO, betrkv_engine_close(self->e));
	self->e = NULL;
	betrkv_simdisk_fail_writes(self->disk, false);
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
	self->m.vlen[1] = MODEL_ABSENT;
	check_all(_metadata, self);
}

/* The same when the failed write was a checkpoint's. */
TEST_F(txn, close_reports_failed_checkpoint)
{
	ASSERT_EQ(0, put_batch(self, 0, 1, 100));
	betrkv_simdisk_fail_writes(self->disk, true);
	ASSERT_EQ(-EIO, betrkv_engine_checkpoint(self->e));
	ASSERT_EQ(-EIO, betrkv_engine_close(self->e));
	self->e = NULL;
}

TEST_HARNESS_MAIN
