// SPDX-License-Identifier: GPL-2.0
/*
 * Crash simulation (spec section 2) on the simulated disk (section 3).
 *
 * Each cycle recovers the store from a crashed disk and checks that
 * recovery wrote nothing, that the store equals the reference map after
 * some sequence number S with last-completed-sync <= S <= last-assigned, and
 * then runs a random workload (puts, deletes, batches, syncs, a few explicit
 * checkpoints; a small journal so that checkpoints begin on their own and
 * run while the workload goes on) with the disk set to die at a random I/O:
 * in the middle of a journal write, a node write, an indirection table or a
 * superblock write.  Checkpoints are driven by the mutations (no worker), so
 * a run replays exactly.  Then the crash: every write not
 * durable lands, vanishes, tears or turns to garbage.  Some cycles crash
 * during recovery itself.
 *
 * BETRKV_CRASH_CYCLES=<n> runs more cycles (a soak); BETRKV_SEED=<n>
 * replays a run (the seed is printed first; recovery failures also name the
 * cycle).
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)
#define NKEYS		600u
#define MAX_BATCH	8u
#define VLEN_MAX	2048u
#define STEPS_MAX	80u
/*
 * The smallest journal a store may have (2 MiB) fills only every several
 * cycles, so explicit checkpoints are rare (1 in 1000 steps) and a crash
 * during recovery mostly dies before a clean close checkpoints: both would
 * free the journal before it fills.
 */

struct hop {
	u32 key;
	u8 type;
	u32 version;
	u32 vlen;
};

struct hbatch {
	u64 seq;
	u32 n;
	struct hop ops[MAX_BATCH];
};

FIXTURE(crash) {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	struct model m;			/* the state at base_seq */
	u64 base_seq, last_synced, last_seq;
	struct hbatch *log;		/* batches after base_seq */
	u32 nlog, caplog;
	u64 seed, rng, cycle;
	u32 next_version;
	u64 crashed_in_cp, saw_cp, cp_forced;	/* over all cycles */
	u8 key[BETRKV_KEY_MAX], val[BETRKV_VALUE_MAX];
};

static void quiet(int level, const char *msg)
{
}

static struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB };

FIXTURE_SETUP(crash)
{
	const char *env = getenv("BETRKV_SEED");
	struct betrkv_sb sb;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(40 * MiB, 512, &self->dev));
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	self->m.nkeys = NKEYS;
	self->m.vlen = malloc(NKEYS * sizeof(u32));
	self->m.version = calloc(NKEYS, sizeof(u32));
	memset(self->m.vlen, 0xff, NKEYS * sizeof(u32));
	self->caplog = 1024;
	self->log = malloc(self->caplog * sizeof(*self->log));
	self->seed = env ? strtoull(env, NULL, 0) : 7;
	self->rng = self->seed;
}

FIXTURE_TEARDOWN(crash)
{
	if (self->e)
		betrkv_engine_close(self->e);
	betrkv_user_dev_close(self->dev);
	free(self->m.vlen);
	free(self->m.version);
	free(self->log);
}

/* Roll the base state forward through the logged batches up to @s. */
static void advance_base(FIXTURE_DATA(crash) *self, u64 s)
{
	u32 b, k;

	for (b = 0; b < self->nlog && self->log[b].seq <= s; b++) {
		for (k = 0; k < self->log[b].n; k++) {
			struct hop *h = &self->log[b].ops[k];

			self->m.vlen[h->key] = h->type == BETRKV_OP_DEL ?
					       MODEL_ABSENT : h->vlen;
			self->m.version[h->key] = h->version;
		}
	}
	self->nlog = 0;
	self->base_seq = s;
	self->last_seq = s;
}

/* Recover; check that it wrote nothing and that S is allowed; verify. */
static void recover(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	struct betrkv_simdisk_stats before, after;
	struct betrkv_engine_stats st;

	/* Sometimes the machine dies again during recovery. */
	if (rng_below(&self->rng, 10) == 0) {
		betrkv_simdisk_arm(self->dev, rng_below(&self->rng, 20));
		if (!betrkv_engine_open(self->dev, &opts, &self->e))
			betrkv_engine_close(self->e);	/* it lived: a clean close */
		self->e = NULL;
		betrkv_simdisk_crash(self->dev, rng_next(&self->rng));
	}
	betrkv_simdisk_stats(self->dev, &before);
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e))
		TH_LOG("seed %llu cycle %llu: recovery failed", self->seed, self->cycle);
	betrkv_engine_stats(self->e, &st);
	ASSERT_LE(self->last_synced, st.seq)
		TH_LOG("seed %llu cycle %llu: synced data lost", self->seed, self->cycle);
	ASSERT_LE(st.seq, self->last_seq)
		TH_LOG("seed %llu cycle %llu: recovered the future", self->seed, self->cycle);
	advance_base(self, st.seq);
	model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 64);
	betrkv_simdisk_stats(self->dev, &after);
	ASSERT_EQ(before.writes, after.writes)
		TH_LOG("seed %llu cycle %llu: recovery wrote", self->seed, self->cycle);
}

/* One random batch; returns the engine's answer. */
static int mutate(FIXTURE_DATA(crash) *self)
{
	struct betrkv_op ops[MAX_BATCH];
	static u8 keys[MAX_BATCH][BETRKV_KEY_MAX], vals[MAX_BATCH][VLEN_MAX];
	struct hbatch *b = &self->log[self->nlog];
	u32 n = rng_below(&self->rng, 4) ? 1 : 1 + rng_below(&self->rng, MAX_BATCH);
	u64 seq;
	u32 k;
	int err;

	b->n = n;
	for (k = 0; k < n; k++) {
		struct hop *h = &b->ops[k];

		h->key = rng_below(&self->rng, NKEYS);
		h->type = rng_below(&self->rng, 4) ? BETRKV_OP_PUT : BETRKV_OP_DEL;
		h->version = ++self->next_version;
		h->vlen = h->type == BETRKV_OP_PUT ? rng_below(&self->rng, VLEN_MAX) : 0;
		model_value(h->key, h->version, h->vlen, vals[k]);
		ops[k] = (struct betrkv_op){ .type = h->type, .key = keys[k],
			.klen = model_key(h->key, keys[k]), .val = vals[k],
			.vlen = h->vlen };
	}
	err = betrkv_engine_apply(self->e, ops, n, &seq);
	if (!err) {
		b->seq = seq;
		self->last_seq = seq;
		if (++self->nlog == self->caplog) {
			self->caplog *= 2;
			self->log = realloc(self->log, self->caplog * sizeof(*self->log));
		}
	}
	return err;
}

/* A workload until the disk dies or it ends; then the crash. */
static void workload(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	u32 ops = rng_below(&self->rng, STEPS_MAX), i, r;
	struct betrkv_simdisk_stats before, after;
	struct betrkv_engine_stats st;
	u64 durable, ordered;
	bool in_cp = false;
	int err = 0;

	betrkv_simdisk_stats(self->dev, &before);
	if (rng_below(&self->rng, 5))
		betrkv_simdisk_arm(self->dev, rng_below(&self->rng, 300));
	for (i = 0; i < ops && !err; i++) {
		r = rng_below(&self->rng, 1000);
		if (r < 800) {
			err = mutate(self);
		} else if (r < 999) {
			err = betrkv_engine_sync(self->e, &durable);
			if (!err) {
				ASSERT_EQ(self->last_seq, durable);
				self->last_synced = durable;
			}
		} else {
			err = betrkv_engine_checkpoint(self->e);
		}
		ASSERT_TRUE(!err || err == -EIO)
			TH_LOG("seed %llu cycle %llu: error %d", self->seed, self->cycle, err);
		betrkv_engine_stats(self->e, &st);
		in_cp |= st.checkpointing;
	}
	/*
	 * Ordered writes are counted: each journal flush and superblock write
	 * is one PREFLUSH|FUA write, and there are no others.
	 */
	betrkv_engine_stats(self->e, &st);
	betrkv_simdisk_stats(self->dev, &after);
	ordered = st.journal.flushes + st.sb_writes;
	if (!err) {
		ASSERT_EQ(ordered, after.flushes - before.flushes);
		ASSERT_EQ(ordered, after.fuas - before.fuas);
	}
	/* The crash: nothing more reaches the disk, then it resolves. */
	self->crashed_in_cp += st.checkpointing;
	self->saw_cp += in_cp;
	self->cp_forced += st.cache.cp_forced;
	betrkv_simdisk_arm(self->dev, 0);
	betrkv_engine_close(self->e);
	self->e = NULL;
	betrkv_simdisk_crash(self->dev, rng_next(&self->rng));
}

TEST_F_TIMEOUT(crash, cycles, 600)
{
	const char *env = getenv("BETRKV_CRASH_CYCLES");
	u64 cycles = env ? strtoull(env, NULL, 0) : 10000;

	TH_LOG("seed %llu, %llu cycles", self->seed, cycles);
	for (self->cycle = 0; self->cycle < cycles; self->cycle++) {
		recover(_metadata, self);
		workload(_metadata, self);
	}
	recover(_metadata, self);
	/*
	 * Checkpoints overlap mutations, and crashes hit them (a checkpoint
	 * begins at every 1 MiB of journal).
	 */
	TH_LOG("%llu crashes during a checkpoint, %llu workloads saw one, %llu node writes forced by one",
	       self->crashed_in_cp, self->saw_cp, self->cp_forced);
	EXPECT_GT(self->crashed_in_cp, cycles / 400);
	EXPECT_GT(self->saw_cp, cycles / 40);
	EXPECT_GT(self->cp_forced, cycles / 40);
}

TEST_HARNESS_MAIN
