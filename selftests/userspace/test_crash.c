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
 *
 * A second run (lost_writes) has the disk lose or misdirect some node
 * writes as well (spec section 3).  Recovery and reads may then fail with a
 * corruption error, which ends that store (the disk is formatted anew),
 * but whatever they return must be exactly the reference state: never an
 * older value.  After a corruption error in the workload itself, the next
 * recovery is not checked either.
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
	u64 appends, crashed_in_append;
	bool faulty;			/* node writes lost or misdirected */
	bool tainted;			/* a workload met corruption */
	u64 checked, damaged;		/* faulty: recoveries verified or not */
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

/* A new store on the disk, and an empty reference state. */
static void reformat(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	struct betrkv_sb sb;

	if (self->e)
		betrkv_engine_close(self->e);
	self->e = NULL;
	ASSERT_EQ(0, betrkv_sb_format(self->dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
	memset(self->m.vlen, 0xff, NKEYS * sizeof(u32));
	memset(self->m.version, 0, NKEYS * sizeof(u32));
	self->nlog = 0;
	self->base_seq = self->last_seq = self->last_synced = 0;
	self->tainted = false;
	self->damaged++;
	ASSERT_EQ(0, betrkv_engine_open(self->dev, &opts, &self->e));
}

/*
 * Each key reads as the reference state says, or fails with a corruption
 * error (or -EIO); returns whether any failed.
 */
static bool check_gets(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	struct betrkv_msg *v;
	bool failed = false;
	u32 i;
	int err;

	for (i = 0; i < NKEYS; i++) {
		err = model_get(self->e, self->key, model_key(i, self->key), &v);
		if (err == -EUCLEAN || err == -EIO) {
			failed = true;
			continue;
		}
		if (self->m.vlen[i] == MODEL_ABSENT) {
			ASSERT_EQ(-ENOENT, err) TH_LOG("seed %llu cycle %llu: key %u",
						       self->seed, self->cycle, i);
			continue;
		}
		ASSERT_EQ(0, err) TH_LOG("seed %llu cycle %llu: key %u",
					 self->seed, self->cycle, i);
		model_value(i, self->m.version[i], self->m.vlen[i], self->val);
		EXPECT_TRUE(v->vlen == self->m.vlen[i] &&
			    !memcmp(self->val, betrkv_msg_val(v), v->vlen))
			TH_LOG("seed %llu cycle %llu: key %u: wrong or stale value",
			       self->seed, self->cycle, i);
		kfree(v);
	}
	return failed;
}

/*
 * One scan of every key (whole nodes, where gets read a header and a
 * segment): exactly the reference state, or a corruption error (or -EIO);
 * returns whether it failed.
 */
static bool check_scan(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	struct betrkv_range r = { .lo = self->key, .lolen = model_key(0, self->key) };
	struct betrkv_msgbuf out;
	u32 i = 0, k;
	bool more;
	int err;

	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(self->e, &r, false, NKEYS + 1, 64 * MiB, &out, &more);
	if (err) {
		betrkv_msgbuf_free(&out);
		EXPECT_TRUE(err == -EUCLEAN || err == -EIO) TH_LOG("scan: %d", err);
		return true;
	}
	for (k = 0; k < out.n; k++, i++) {
		while (i < NKEYS && self->m.vlen[i] == MODEL_ABSENT)
			i++;
		ASSERT_LT(i, NKEYS) TH_LOG("seed %llu cycle %llu: scan returned an extra key",
					   self->seed, self->cycle);
		model_value(i, self->m.version[i], self->m.vlen[i], self->val);
		EXPECT_TRUE(out.msgs[k]->klen == model_key(i, self->key) &&
			    !memcmp(out.msgs[k]->data, self->key, out.msgs[k]->klen) &&
			    out.msgs[k]->vlen == self->m.vlen[i] &&
			    !memcmp(betrkv_msg_val(out.msgs[k]), self->val, self->m.vlen[i]))
			TH_LOG("seed %llu cycle %llu: scan: key %u: wrong or stale",
			       self->seed, self->cycle, i);
	}
	while (i < NKEYS && self->m.vlen[i] == MODEL_ABSENT)
		i++;
	EXPECT_EQ(NKEYS, i) TH_LOG("seed %llu cycle %llu: scan stopped early",
				   self->seed, self->cycle);
	betrkv_msgbuf_free(&out);
	return false;
}

/* Faulty: recovered, and all of it verified, or a new store. */
static void verify_faulty(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	if (self->tainted || check_gets(_metadata, self) | check_scan(_metadata, self)) {
		reformat(_metadata, self);
		return;
	}
	self->checked++;
}

/* Recover; check that it wrote nothing and that S is allowed; verify. */
static void recover(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self)
{
	int err;

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
	err = betrkv_engine_open(self->dev, &opts, &self->e);
	if (self->faulty && err == -EUCLEAN) {
		self->e = NULL;
		reformat(_metadata, self);
		return;
	}
	ASSERT_EQ(0, err)
		TH_LOG("seed %llu cycle %llu: recovery failed", self->seed, self->cycle);
	betrkv_engine_stats(self->e, &st);
	ASSERT_LE(self->last_synced, st.seq)
		TH_LOG("seed %llu cycle %llu: synced data lost", self->seed, self->cycle);
	ASSERT_LE(st.seq, self->last_seq)
		TH_LOG("seed %llu cycle %llu: recovered the future", self->seed, self->cycle);
	advance_base(self, st.seq);
	if (!self->faulty)
		model_check_scan(_metadata, self->e, &self->m, 0, NKEYS, 64);
	betrkv_simdisk_stats(self->dev, &after);
	ASSERT_EQ(before.writes, after.writes)
		TH_LOG("seed %llu cycle %llu: recovery wrote", self->seed, self->cycle);
	if (self->faulty)
		verify_faulty(_metadata, self);
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
		self->tainted |= self->faulty && err == -EUCLEAN;
		ASSERT_TRUE(!err || err == -EIO || (self->faulty && err == -EUCLEAN))
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
	self->appends += st.cache.node_appends;
	self->crashed_in_append += st.checkpointing && st.cache.node_appends;
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
	/*
	 * Nodes are appended to in their slots, beyond what the durable
	 * checkpoint reads there; crashes hit checkpoints that append.
	 */
	TH_LOG("%llu appends to a node's slot, %llu crashes during a checkpoint that appended",
	       self->appends, self->crashed_in_append);
	EXPECT_GT(self->appends, cycles / 40);
	EXPECT_GT(self->crashed_in_append, cycles / 4000);
}

/*
 * The same with 2% of node writes lost and 1% misdirected (within the node
 * region): a tenth of the cycles by default.
 */
TEST_F_TIMEOUT(crash, lost_writes, 600)
{
	const char *env = getenv("BETRKV_CRASH_CYCLES");
	u64 cycles = (env ? strtoull(env, NULL, 0) : 10000) / 10;
	struct betrkv_simdisk_faults f = { .lose = 20, .misdirect = 10,
					   .seed = self->seed };
	struct betrkv_simdisk_stats st;
	unsigned int slot;
	struct betrkv_sb sb;

	ASSERT_EQ(0, betrkv_sb_load(self->dev, &sb, &slot));
	f.off = sb.geo.nodes_offset;
	f.len = sb.geo.nodes_size;
	ASSERT_EQ(0, betrkv_simdisk_set_faults(self->dev, &f));
	self->faulty = true;
	TH_LOG("seed %llu, %llu cycles", self->seed, cycles);
	for (self->cycle = 0; self->cycle < cycles; self->cycle++) {
		recover(_metadata, self);
		workload(_metadata, self);
	}
	recover(_metadata, self);
	betrkv_simdisk_stats(self->dev, &st);
	TH_LOG("%llu node writes lost, %llu misdirected; %llu recoveries verified, %llu stores lost to corruption",
	       st.lost, st.misdirected, self->checked, self->damaged);
	EXPECT_GT(st.lost, 0);
	EXPECT_GT(st.misdirected, 0);
	EXPECT_GT(self->damaged, 0);
	EXPECT_GT(self->checked, cycles / 2);
}

TEST_HARNESS_MAIN
