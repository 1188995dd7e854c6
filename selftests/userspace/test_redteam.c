// SPDX-License-Identifier: GPL-2.0
/*
 * Red-team probes of the engine against the contract (/work/shared/spec.md).
 * Each test names the clause it checks.
 *
 * FAILING (findings, skipped as KNOWN_VIOLATION until fixed):
 *   lost_journal_tail
 * Every other test here passed and is kept as a regression probe.
 *
 * BETRKV_SEED=<n> changes the seed of the randomized ones.
 */
#include <stdio.h>
#include <unistd.h>
#include <time.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)
#ifndef U64_MAX
#define U64_MAX		(~0ull)
#endif

static void quiet(int level, const char *msg)
{
}

static u64 seed_env(u64 dflt)
{
	const char *env = getenv("BETRKV_SEED");

	return env ? strtoull(env, NULL, 0) : dflt;
}

static u8 kbuf[BETRKV_KEY_MAX + 8], vbuf[BETRKV_VALUE_MAX + 8];

/* Key i: "k" + 8 digits. */
static u32 rkey(u32 i, u8 *buf)
{
	return sprintf((char *)buf, "k%08u", i);
}

static void rval(u32 i, u32 ver, u32 len, u8 *buf)
{
	u32 k;

	for (k = 0; k < len; k++)
		buf[k] = (u8)(i * 31 + ver * 7 + k);
	if (len >= 4)
		memcpy(buf, &ver, 4);
}

/* The version a stored key holds (from its value), 0 if absent, -errno. */
static long long getver(struct betrkv_engine *e, u32 i)
{
	u8 key[32];
	struct betrkv_msg *v = NULL;
	u32 klen = rkey(i, key), ver;
	int err = model_get(e, key, klen, &v);

	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (v->vlen < 4) {
		kfree(v);
		return -1000;
	}
	memcpy(&ver, betrkv_msg_val(v), 4);
	kfree(v);
	return ver;
}

static int put1(struct betrkv_engine *e, u32 i, u32 ver, u32 vlen, u64 *seq)
{
	static __thread u8 key[32], val[BETRKV_VALUE_MAX];
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = key, .val = val };

	op.klen = rkey(i, key);
	op.vlen = vlen;
	rval(i, ver, vlen, val);
	return betrkv_engine_apply(e, &op, 1, seq);
}

static int del1(struct betrkv_engine *e, u32 i, u64 *seq)
{
	static __thread u8 key[32];
	struct betrkv_op op = { .type = BETRKV_OP_DEL, .key = key };

	op.klen = rkey(i, key);
	return betrkv_engine_apply(e, &op, 1, seq);
}

/* 0 if key i holds version ver of length vlen, 1 if absent, -errno, or 2 if wrong. */
static int check1(struct betrkv_engine *e, u32 i, u32 ver, u32 vlen)
{
	static __thread u8 key[32], val[BETRKV_VALUE_MAX];
	struct betrkv_msg *v = NULL;
	u32 klen = rkey(i, key);
	int err = model_get(e, key, klen, &v);

	if (err == -ENOENT)
		return 1;
	if (err)
		return err;
	rval(i, ver, vlen, val);
	err = (v->vlen == vlen && !memcmp(val, betrkv_msg_val(v), vlen)) ? 0 : 2;
	kfree(v);
	return err;
}

static u64 st_seq(struct betrkv_engine *e)
{
	struct betrkv_engine_stats st;

	betrkv_engine_stats(e, &st);
	return st.seq;
}

static u64 st_durable(struct betrkv_engine *e)
{
	struct betrkv_engine_stats st;

	betrkv_engine_stats(e, &st);
	return st.durable_seq;
}

static struct betrkv_dev *mkdisk(struct __test_metadata *_metadata, u64 size)
{
	struct betrkv_dev *dev;
	struct betrkv_sb sb;

	if (betrkv_simdisk_create(size, 512, &dev))
		return NULL;
	if (betrkv_sb_format(dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb))
		return NULL;
	return dev;
}

/* Power loss: the engine is dropped without writing anything more. */
static void crash_close(struct betrkv_engine *e, struct betrkv_dev *dev, u64 seed)
{
	betrkv_simdisk_arm(dev, 0);
	betrkv_engine_close(e);
	betrkv_simdisk_crash(dev, seed);
	betrkv_simdisk_disarm(dev);
}

/* ------------------------------------------------------------------ */
/* Section 1 / engine.h errors: limits on keys, values and batches. */
TEST(limits)
{
	struct betrkv_engine_opts o = { .cache_bytes = 8 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = kbuf, .val = vbuf };
	struct betrkv_op *ops;
	struct betrkv_msg *v;
	u64 seq0, seq;
	u32 k;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 64 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	memset(kbuf, 'x', sizeof(kbuf));
	memset(vbuf, 'v', sizeof(vbuf));
	seq0 = st_seq(e);

	op.klen = 0;
	op.vlen = 1;
	EXPECT_EQ(-EINVAL, betrkv_engine_apply(e, &op, 1, NULL));
	op.klen = BETRKV_KEY_MAX + 1;
	EXPECT_EQ(-E2BIG, betrkv_engine_apply(e, &op, 1, NULL));
	op.klen = 5;
	op.vlen = BETRKV_VALUE_MAX + 1;
	EXPECT_EQ(-E2BIG, betrkv_engine_apply(e, &op, 1, NULL));
	op.vlen = U32_MAX;
	EXPECT_EQ(-E2BIG, betrkv_engine_apply(e, &op, 1, NULL));
	op.type = 0;
	op.vlen = 1;
	EXPECT_EQ(-EINVAL, betrkv_engine_apply(e, &op, 1, NULL));
	op.type = 3;
	EXPECT_EQ(-EINVAL, betrkv_engine_apply(e, &op, 1, NULL));
	op.type = BETRKV_OP_DEL;
	op.klen = BETRKV_KEY_MAX + 1;
	EXPECT_EQ(-E2BIG, betrkv_engine_apply(e, &op, 1, NULL));
	EXPECT_EQ(seq0, st_seq(e));

	/* A batch with one bad op applies nothing. */
	ops = calloc(BETRKV_BATCH_OPS_MAX + 1, sizeof(*ops));
	ASSERT_NE(NULL, ops);
	for (k = 0; k < 3; k++) {
		ops[k] = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = kbuf,
					     .klen = 10 + k, .val = vbuf, .vlen = 4 };
	}
	ops[2].klen = BETRKV_KEY_MAX + 1;
	EXPECT_EQ(-E2BIG, betrkv_engine_apply(e, ops, 3, NULL));
	EXPECT_EQ(seq0, st_seq(e));
	EXPECT_EQ(-ENOENT, model_get(e, kbuf, 10, &v));

	/* Max key and max value round trip, also after reopen. */
	op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = kbuf, .klen = BETRKV_KEY_MAX,
				 .val = vbuf, .vlen = BETRKV_VALUE_MAX };
	ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, &seq));
	EXPECT_EQ(seq0 + 1, seq);
	op.klen = 1;
	op.vlen = 0;
	ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, &seq));

	/* The most ops in one batch, all distinct keys. */
	static u8 bkeys[BETRKV_BATCH_OPS_MAX + 1][12];

	for (k = 0; k <= BETRKV_BATCH_OPS_MAX; k++) {
		ops[k] = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = bkeys[k],
					     .val = vbuf, .vlen = 200 };
		ops[k].klen = sprintf((char *)bkeys[k], "b%06u", k);
	}
	seq0 = st_seq(e);
	ASSERT_EQ(0, betrkv_engine_apply(e, ops, BETRKV_BATCH_OPS_MAX, &seq));
	EXPECT_EQ(seq0 + 1, seq);
	ASSERT_EQ(0, betrkv_engine_apply(e, ops, 1, NULL));
	for (k = 0; k < BETRKV_BATCH_OPS_MAX; k += 97) {
		ASSERT_EQ(0, model_get(e, bkeys[k], ops[k].klen, &v));
		EXPECT_EQ(200, v->vlen);
		kfree(v);
	}
	/* Same key many times in one batch: the last one wins. */
	for (k = 0; k < 100; k++) {
		ops[k] = (struct betrkv_op){ .type = k % 3 == 2 ? BETRKV_OP_DEL :
					     BETRKV_OP_PUT, .key = bkeys[0], .klen = 7,
					     .val = vbuf, .vlen = k };
	}
	ops[99].type = BETRKV_OP_PUT;
	ASSERT_EQ(0, betrkv_engine_apply(e, ops, 100, NULL));
	ASSERT_EQ(0, model_get(e, bkeys[0], 7, &v));
	EXPECT_EQ(99, v->vlen);
	kfree(v);
	ops[99].type = BETRKV_OP_DEL;
	ASSERT_EQ(0, betrkv_engine_apply(e, ops, 100, NULL));
	EXPECT_EQ(-ENOENT, model_get(e, bkeys[0], 7, &v));
	/* Sixteen max-size puts: one batch of ~1 MiB + keys. */
	static u8 mkeys[20][BETRKV_KEY_MAX];

	for (k = 0; k < 16; k++) {
		memset(mkeys[k], 'A' + k, BETRKV_KEY_MAX);
		ops[k] = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = mkeys[k],
					     .klen = BETRKV_KEY_MAX, .val = vbuf,
					     .vlen = BETRKV_VALUE_MAX - BETRKV_KEY_MAX };
	}
	seq0 = st_seq(e);
	ASSERT_EQ(0, betrkv_engine_apply(e, ops, 16, &seq));
	EXPECT_EQ(seq0 + 1, seq);
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (k = 0; k < 16; k++) {
		ASSERT_EQ(0, model_get(e, mkeys[k], BETRKV_KEY_MAX, &v));
		EXPECT_EQ(BETRKV_VALUE_MAX - BETRKV_KEY_MAX, v->vlen);
		kfree(v);
	}
	ASSERT_EQ(0, model_get(e, kbuf, BETRKV_KEY_MAX, &v));
	EXPECT_EQ(BETRKV_VALUE_MAX, v->vlen);
	EXPECT_EQ(0, memcmp(vbuf, betrkv_msg_val(v), BETRKV_VALUE_MAX));
	kfree(v);
	ASSERT_EQ(0, model_get(e, kbuf, 1, &v));
	EXPECT_EQ(0, v->vlen);
	kfree(v);
	free(ops);
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/* Section 1: scans; limits 0, 1, U32_MAX, budgets, excluded and empty ranges. */
TEST(scan_edges)
{
	struct betrkv_engine_opts o = { .cache_bytes = 8 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_msgbuf out;
	struct betrkv_range r;
	u8 lo[32], hi[32];
	bool more;
	u32 i, n;
	int err;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 64 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 3000; i++) {
		ASSERT_EQ(0, put1(e, i, 1, 100, NULL));
	}
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	/* Delete all but 2999 */
	for (i = 0; i < 2999; i++) {
		ASSERT_EQ(0, del1(e, i, NULL));
	}

	r = (struct betrkv_range){ .lo = lo, .lolen = rkey(0, lo) };
	/* Many deletes: limit 1 still finds the last key. */
	betrkv_msgbuf_init(&out);
	more = false;
	ASSERT_EQ(0, betrkv_engine_scan(e, &r, false, 1, MODEL_SCAN_BUDGET, &out, &more));
	ASSERT_EQ(1, out.n);
	rkey(2999, hi);
	EXPECT_EQ(0, memcmp(hi, out.msgs[0]->data, 9));
	betrkv_msgbuf_free(&out);

	/* Limit U32_MAX. */
	betrkv_msgbuf_init(&out);
	ASSERT_EQ(0, betrkv_engine_scan(e, &r, false, U32_MAX, MODEL_SCAN_BUDGET, &out, &more));
	EXPECT_EQ(1, out.n);
	EXPECT_FALSE(more);
	betrkv_msgbuf_free(&out);

	/* Limit 0: no pairs, no crash. */
	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(e, &r, false, 0, MODEL_SCAN_BUDGET, &out, &more);
	EXPECT_TRUE(err == 0 || err == -EINVAL);
	EXPECT_EQ(0, out.n);
	betrkv_msgbuf_free(&out);

	/* Empty range lo == hi; excluded lo == hi; hi < lo. */
	r.hi = hi;
	r.hilen = rkey(0, hi);
	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(e, &r, false, 10, MODEL_SCAN_BUDGET, &out, &more);
	EXPECT_EQ(0, err);
	EXPECT_EQ(0, out.n);
	EXPECT_FALSE(more);
	betrkv_msgbuf_free(&out);
	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(e, &r, true, 10, MODEL_SCAN_BUDGET, &out, &more);
	EXPECT_TRUE(err == 0 || err == -EINVAL);
	EXPECT_EQ(0, out.n);
	betrkv_msgbuf_free(&out);

	/* Range of only deleted keys. */
	r.hilen = rkey(2999, hi);
	betrkv_msgbuf_init(&out);
	ASSERT_EQ(0, betrkv_engine_scan(e, &r, false, 10, MODEL_SCAN_BUDGET, &out, &more));
	EXPECT_EQ(0, out.n);
	EXPECT_FALSE(more);
	betrkv_msgbuf_free(&out);

	/* Excluded lo equal to the only key. */
	r.lolen = rkey(2999, lo);
	r.hi = NULL;
	betrkv_msgbuf_init(&out);
	ASSERT_EQ(0, betrkv_engine_scan(e, &r, true, 10, MODEL_SCAN_BUDGET, &out, &more));
	EXPECT_EQ(0, out.n);
	betrkv_msgbuf_free(&out);

	/* Re-put everything; small budgets page through all of it. */
	for (i = 0; i < 3000; i++) {
		ASSERT_EQ(0, put1(e, i, 2, i % 7 ? 50 : 5000, NULL));
	}
	{
		u64 budgets[] = { 1, 100, 5000 };
		u32 b;

		for (b = 0; b < 3; b++) {
			r = (struct betrkv_range){ .lo = lo, .lolen = rkey(0, lo) };
			bool excl = false;

			n = 0;
			more = true;
			while (more) {
				betrkv_msgbuf_init(&out);
				ASSERT_EQ(0, betrkv_engine_scan(e, &r, excl, U32_MAX,
								budgets[b], &out, &more));
				ASSERT_LT(0, out.n + !more) TH_LOG("budget %llu: empty page with more", budgets[b]);
				for (i = 0; i < out.n; i++) {
					rkey(n + i, hi);
					ASSERT_EQ(0, memcmp(hi, out.msgs[i]->data, 9));
				}
				n += out.n;
				if (out.n) {
					memcpy(lo, out.msgs[out.n - 1]->data, 9);
					r.lolen = 9;
					excl = true;
				}
				betrkv_msgbuf_free(&out);
				ASSERT_LE(n, 3000);
			}
			EXPECT_EQ(3000, n) TH_LOG("budget %llu", budgets[b]);
		}
	}
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 2: "A mutation that returns an error has no effect: it takes no
 * sequence number, is never visible, and no later sync or crash makes it
 * durable."  Fail the Nth allocation of a batch, for every N.
 */
TEST(alloc_fault_every_n)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 n, i, nfail = 0;
	u64 seq0, seq;
	int err;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 64 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 400; i++) {
		ASSERT_EQ(0, put1(e, i, 1, 700, NULL));
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));

	for (n = 1; n < 2000; n++) {
		static u8 keys[4][32], val[800];
		struct betrkv_op ops[4];
		u32 base = (n * 37) % 390;

		for (i = 0; i < 4; i++) {
			ops[i] = (struct betrkv_op){ .type = i == 3 ? BETRKV_OP_DEL : BETRKV_OP_PUT,
						     .key = keys[i], .val = val, .vlen = 700 };
			ops[i].klen = rkey(i == 2 ? 1000 + n : base + i, keys[i]);
		}
		rval(1000 + n, 1000 + n, 700, val);
		seq0 = st_seq(e);
		betrkv_user_fail_alloc(n);
		err = betrkv_engine_apply(e, ops, 4, &seq);
		betrkv_user_fail_alloc(0);
		if (!err) {
			/* Undo for the next round. */
			ASSERT_EQ(seq0 + 1, seq);
			break;
		}
		nfail++;
		ASSERT_TRUE(err == -ENOMEM || err == -EIO || err == -EUCLEAN) TH_LOG("n %u err %d", n, err);
		ASSERT_EQ(seq0, st_seq(e)) TH_LOG("failed apply took a seq (n %u)", n);
		/* Nothing visible. */
		ASSERT_EQ(1, check1(e, 1000 + n, 1000 + n, 700)) TH_LOG("n %u", n);
		ASSERT_NE(1, check1(e, base + 3, 0, 0)) TH_LOG("n %u: failed delete visible", n);
	}
	ASSERT_LT(0, nfail);
	/* Now the last apply succeeded with key 1000+n; nothing of the failed ones. */
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	crash_close(e, dev, 1);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 1; i < n; i++) {
		ASSERT_EQ(1, check1(e, 1000 + i, 1000 + i, 700)) TH_LOG("failed batch %u durable", i);
	}
	EXPECT_EQ(0, check1(e, 1000 + n, 1000 + n, 700));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/*
 * Same, for sync and checkpoint under allocation failure: a failure there
 * must not lose acknowledged data nor leave a state that differs from the
 * map.
 */
TEST(alloc_fault_checkpoint)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 n, i, round = 0;
	int err;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 64 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (n = 1; n < 3000; n += 1 + n / 50) {
		round++;
		for (i = 0; i < 30; i++) {
			ASSERT_EQ(0, put1(e, (round * 30 + i) % 500, round, 900, NULL));
		}
		betrkv_user_fail_alloc(n);
		err = (n & 1) ? betrkv_engine_checkpoint(e) : betrkv_engine_sync(e, NULL);
		betrkv_user_fail_alloc(0);
		if (err) {
			ASSERT_TRUE(err == -ENOMEM || err == -EIO) TH_LOG("n %u err %d", n, err);
		}
		for (i = 0; i < 30; i++) {
			err = check1(e, (round * 30 + i) % 500, round, 900);
			if (err == -EROFS || err == -EIO)
				break;
			ASSERT_EQ(0, err) TH_LOG("n %u round %u key %u", n, round, i);
		}
		/* A store that went read-only on this: reopen. */
		if (put1(e, 9999, round, 1, NULL)) {
			betrkv_engine_close(e);
			ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		}
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	crash_close(e, dev, 3);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 30; i++) {
		ASSERT_EQ(0, check1(e, (round * 30 + i) % 500, round, 900));
	}
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 3: "A device that fails writes or flushes makes the store stop
 * accepting mutations ... nothing that a completed sync() covered is lost,
 * and unbinding such a store reports the failure."  Section 2: failed
 * mutations never become durable.  For every N: the disk fails every
 * write from the Nth on while reads go on.
 */
struct wl {
	u32 ver[64];		/* acknowledged version per key, 0 = absent */
	u32 synced_ver[64];	/* as of the last completed sync */
	bool acked[64][400];
	bool dirty[64];		/* changed since the last completed sync */
};

static int run_wl(struct betrkv_engine *e, struct wl *w, u32 steps, u64 *rng,
		  int *first_err_step)
{
	u32 s;

	for (s = 0; s < steps; s++) {
		u32 k = rng_below(rng, 64), r = rng_below(rng, 10);
		static u32 step;
		int err;

		if (r == 0) {
			err = betrkv_engine_sync(e, NULL);
			if (!err) {
				memcpy(w->synced_ver, w->ver, sizeof(w->ver));
				memset(w->dirty, 0, sizeof(w->dirty));
			}
		} else if (r == 1) {
			err = betrkv_engine_checkpoint(e);
		} else if (r == 2) {
			err = del1(e, k, NULL);
			if (!err) {
				w->ver[k] = 0;
				w->dirty[k] = true;
			}
		} else {
			u32 v = ++step % 398 + 1;

			err = put1(e, k, v, 300 + k * 50, NULL);
			if (!err) {
				w->ver[k] = v;
				w->acked[k][v] = true;
				w->dirty[k] = true;
			}
		}
		if (err) {
			*first_err_step = s;
			return err;
		}
	}
	return 0;
}

TEST(write_fail_every_n)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	u32 n, k;

	betrkv_user_set_log(quiet);
	for (n = 0; n < 400; n += 1) {
		struct betrkv_engine *e;
		struct betrkv_dev *dev = mkdisk(_metadata, 48 * MiB);
		struct betrkv_simdisk_stats ss;
		struct wl w = {};
		u64 rng = seed_env(11) + n;
		int step = -1, err, cerr;
		u64 seq_before;

		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		/* Fail writes after n more writes: count writes through the stats. */
		betrkv_simdisk_stats(dev, &ss);
		{
			u64 w0 = ss.writes;
			u32 s;

			/* run step by step, switching failure on at write n. */
			for (s = 0; s < 300; s++) {
				betrkv_simdisk_stats(dev, &ss);
				if (ss.writes - w0 >= n)
					betrkv_simdisk_fail_writes(dev, true);
				seq_before = st_seq(e);
				err = run_wl(e, &w, 1, &rng, &step);
				if (err)
					break;
			}
		}
		if (!err) {
			betrkv_simdisk_fail_writes(dev, true);
			seq_before = st_seq(e);
			err = betrkv_engine_sync(e, NULL);
			if (!err) {
				memcpy(w.synced_ver, w.ver, sizeof(w.ver));
				memset(w.dirty, 0, sizeof(w.dirty));
				seq_before = st_seq(e) + 1;
				err = put1(e, 0, 399, 300, NULL);
				if (!err) {
					w.ver[0] = 399;
					w.acked[0][399] = true;
					w.dirty[0] = true;
				} else {
					seq_before--;
				}
			}
		}
		if (err == 0) {
			/* Nothing failed: writes were all buffered?  Then checkpoint. */
			err = betrkv_engine_checkpoint(e);
		}
		ASSERT_NE(0, err) TH_LOG("n %u: store accepted work on a failing device", n);
		/* The failed call took no seq. */
		EXPECT_EQ(seq_before, st_seq(e)) TH_LOG("n %u", n);
		/* The store is read-only now: mutations fail. */
		err = put1(e, 63, 77777, 10, NULL);
		EXPECT_NE(0, err) TH_LOG("n %u: put accepted after a write failure", n);
		/* Reads of what is readable go on. */
		for (k = 0; k < 64; k++) {
			err = check1(e, k, w.ver[k], 300 + k * 50);
			if (w.ver[k]) {
				EXPECT_EQ(0, err) TH_LOG("n %u key %u", n, k);
			} else {
				EXPECT_EQ(1, err) TH_LOG("n %u key %u", n, k);
			}
		}
		cerr = betrkv_engine_close(e);
		EXPECT_NE(0, cerr) TH_LOG("n %u: close did not report the write failure", n);
		betrkv_simdisk_fail_writes(dev, false);
		betrkv_simdisk_crash(dev, n);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e)) TH_LOG("n %u", n);
		for (k = 0; k < 64; k++) {
			long long gv = getver(e, k);

			EXPECT_LE(0, gv) TH_LOG("n %u key %u: %lld", n, k, gv);
			if (gv < 0)
				continue;
			if (gv) {
				EXPECT_EQ(0, check1(e, k, gv, 300 + k * 50));
				EXPECT_TRUE(w.acked[k][gv]) TH_LOG("n %u key %u: version %lld never acknowledged", n, k, gv);
			}
			if (!w.dirty[k]) {
				EXPECT_EQ(w.synced_ver[k], gv) TH_LOG("n %u key %u: synced data lost", n, k);
			}
		}
		EXPECT_EQ(1, check1(e, 63, 77777, 10) == 0 ? 0 : 1) TH_LOG("n %u: failed put durable", n);
		EXPECT_EQ(0, betrkv_engine_close(e));
		betrkv_user_dev_close(dev);
	}
}

/* ------------------------------------------------------------------ */
/*
 * Section 2: crash at the Nth I/O (arm), then recover; the state is a
 * prefix by seq, at least the last sync.  Also crash during recovery.
 * Checked with exact prefix replay: keys are written with the seq as version.
 */
#define AK	48
struct logent {
	u64 seq;
	u32 key;
	u32 ver;	/* 0 = delete */
};

static void state_at(const struct logent *log, u32 nlog, u64 s, u32 *ver)
{
	u32 i;

	memset(ver, 0, AK * sizeof(u32));
	for (i = 0; i < nlog && log[i].seq <= s; i++)
		ver[log[i].key] = log[i].ver;
}

TEST(arm_crash_every_n)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	static struct logent log[4000];
	u32 n;

	betrkv_user_set_log(quiet);
	for (n = 0; n < 300; n += 1) {
		struct betrkv_engine *e;
		struct betrkv_dev *dev = mkdisk(_metadata, 48 * MiB);
		u32 nlog = 0, s, k, ver[AK], got[AK];
		u64 synced = 0, rng = seed_env(5) * 1000 + n, seq, lo, hi;
		bool ok = false;

		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		betrkv_simdisk_arm(dev, n);
		for (s = 0; s < 400; s++) {
			u32 r = rng_below(&rng, 20);
			u32 key = rng_below(&rng, AK);
			int err;

			if (r == 0) {
				u64 d;
				err = betrkv_engine_sync(e, &d);
				if (!err)
					synced = st_seq(e);
			} else if (r == 1) {
				err = betrkv_engine_checkpoint(e);
			} else if (r == 2) {
				err = del1(e, key, &seq);
				if (!err)
					log[nlog++] = (struct logent){ seq, key, 0 };
			} else {
				err = put1(e, key, s + 1, 200 + key * 100, &seq);
				if (!err)
					log[nlog++] = (struct logent){ seq, key, s + 1 };
			}
			if (err)
				break;
		}
		hi = st_seq(e);
		betrkv_engine_close(e);
		betrkv_simdisk_crash(dev, rng);
		betrkv_simdisk_disarm(dev);
		/* Crash during recovery too, sometimes. */
		if (n % 3 == 1) {
			betrkv_simdisk_arm(dev, rng_below(&rng, 40));
			if (!betrkv_engine_open(dev, &o, &e))
				betrkv_engine_close(e);
			betrkv_simdisk_crash(dev, rng + 1);
			betrkv_simdisk_disarm(dev);
		}
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e)) TH_LOG("n %u", n);
		for (k = 0; k < AK; k++) {
			long long gv = getver(e, k);

			ASSERT_LE(0, gv) TH_LOG("n %u key %u err %lld", n, k, gv);
			got[k] = gv;
			if (gv) {
				ASSERT_EQ(0, check1(e, k, gv, 200 + k * 100)) TH_LOG("n %u key %u", n, k);
			}
		}
		/* Find an S in [synced, hi] that matches. */
		for (lo = synced; lo <= hi && !ok; lo++) {
			state_at(log, nlog, lo, ver);
			ok = !memcmp(ver, got, sizeof(ver));
		}
		ASSERT_TRUE(ok) TH_LOG("n %u: no prefix S in [%llu, %llu] matches", n, synced, hi);
		EXPECT_EQ(0, betrkv_engine_close(e));
		betrkv_user_dev_close(dev);
	}
}

/* ------------------------------------------------------------------ */
/*
 * engine.h: "Deletes always find room on a full device."  And deletes then
 * free space so puts work again.
 */
TEST(full_device)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 i, nput = 0;
	int err = 0;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 40 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 100000; i++) {
		err = put1(e, i, 1, 8000, NULL);
		if (err)
			break;
		nput++;
	}
	ASSERT_EQ(-ENOSPC, err) TH_LOG("after %u puts", nput);
	TH_LOG("%u puts fit", nput);
	{
		/* The failed put changed nothing, now or after a crash. */
		u64 sq = st_seq(e);

		EXPECT_EQ(-ENOSPC, put1(e, nput, 1, 8000, NULL));
		EXPECT_EQ(sq, st_seq(e));
		EXPECT_EQ(1, check1(e, nput, 1, 8000));
		ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
		crash_close(e, dev, 77);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		EXPECT_EQ(1, check1(e, nput, 1, 8000)) TH_LOG("failed put durable");
		EXPECT_EQ(0, check1(e, nput - 1, 1, 8000));
		EXPECT_EQ(sq, st_seq(e));
	}
	/* Overwrites with smaller values may fail; deletes must not. */
	for (i = 0; i < nput; i++) {
		err = del1(e, i, NULL);
		ASSERT_EQ(0, err) TH_LOG("delete %u of %u", i, nput);
		if (i % 50 == 0) {
			err = betrkv_engine_checkpoint(e);
			ASSERT_TRUE(err == 0 || err == -ENOSPC) TH_LOG("cp %d", err);
		}
	}
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	for (i = 0; i < nput / 2; i++) {
		ASSERT_EQ(0, put1(e, i, 2, 8000, NULL)) TH_LOG("put %u after deleting all", i);
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < nput / 2; i++) {
		ASSERT_EQ(0, check1(e, i, 2, 8000));
	}
	EXPECT_EQ(1, check1(e, nput - 1, 1, 8000));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 2: "An acknowledged mutation becomes durable within a bounded
 * time (the store's commit interval) even if nobody calls sync()."
 */
TEST(periodic_commit)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true,
					.commit_ms = 50 };
	struct betrkv_engine *e;
	struct betrkv_dev *dev, *cp;
	u32 i, round;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 48 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (round = 0; round < 5; round++) {
		struct betrkv_engine *e2;
		struct betrkv_engine_opts ro = { .cache_bytes = 4 * MiB };

		for (i = 0; i < 20; i++) {
			ASSERT_EQ(0, put1(e, round * 20 + i, round + 1, 100, NULL));
		}
		usleep(400 * 1000);
		ASSERT_EQ(0, betrkv_simdisk_clone(dev, &cp));
		betrkv_simdisk_crash(cp, round);
		ASSERT_EQ(0, betrkv_engine_open(cp, &ro, &e2));
		for (i = 0; i < 20 * (round + 1); i++) {
			ASSERT_EQ(0, check1(e2, i, i / 20 + 1, 100))
				TH_LOG("round %u key %u not durable after 8x commit_ms", round, i);
		}
		betrkv_engine_close(e2);
		betrkv_user_dev_close(cp);
	}
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 2: "A journal block that fails its checks but is followed by
 * valid blocks written after a later completed flush is corruption of
 * durable data: recovery reports it (EUCLEAN)."
 */
TEST(journal_corrupt_middle)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int slot;
	u64 cb, joff;
	u32 i, blk;

	betrkv_user_set_log(quiet);
	for (blk = 0; blk < 12; blk++) {
		int err;

		dev = mkdisk(_metadata, 48 * MiB);
		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		ASSERT_EQ(0, betrkv_engine_super(e, &sb, &slot, &cb));
		joff = sb.geo.journal_offset;
		for (i = 0; i < 16; i++) {
			ASSERT_EQ(0, put1(e, i, 1, 3000, NULL));
			ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
		}
		crash_close(e, dev, 1);
		betrkv_simdisk_corrupt(dev, joff + blk * BETRKV_BLOCK_SIZE, blk);
		err = betrkv_engine_open(dev, &o, &e);
		if (!err) {
			/* Then it must not have silently lost synced data. */
			for (i = 0; i < 16; i++) {
				EXPECT_EQ(0, check1(e, i, 1, 3000))
					TH_LOG("block %u corrupt: key %u silently lost", blk, i);
			}
			betrkv_engine_close(e);
		} else {
			EXPECT_EQ(-EUCLEAN, err) TH_LOG("block %u", blk);
		}
		betrkv_user_dev_close(dev);
	}
}

/* ------------------------------------------------------------------ */
/*
 * Section 1: linearizability under threads; section 2: durable_seq only
 * grows and covers all mutations completed before sync.
 */
#define NTH	4
struct thctx {
	struct betrkv_engine *e;
	u32 id;
	int fail;
	char msg[200];
	volatile bool *stop;
};

static void *writer(void *arg)
{
	struct thctx *c = arg;
	u32 ver = 0, i = 0;
	u64 rng = c->id + 100;

	while (!*c->stop && ver < 3000) {
		u32 k = c->id * 1000 + rng_below(&rng, 50);
		u64 seq, d;
		int err;

		ver++;
		if (put1(c->e, k, ver, 50 + ver % 500, &seq)) {
			c->fail = 1;
			sprintf(c->msg, "put failed");
			break;
		}
		err = check1(c->e, k, ver, 50 + ver % 500);
		if (err) {
			c->fail = 1;
			sprintf(c->msg, "read-your-write key %u ver %u: %d", k, ver, err);
			break;
		}
		if (++i % 50 == 0) {
			if (betrkv_engine_sync(c->e, &d) || d < seq) {
				c->fail = 1;
				sprintf(c->msg, "sync durable %llu < my seq %llu", d, seq);
				break;
			}
		}
	}
	return NULL;
}

static void *syncer(void *arg)
{
	struct thctx *c = arg;
	u64 last = 0, d, rng = 7;

	while (!*c->stop) {
		u64 before = st_seq(c->e);
		int err = rng_below(&rng, 4) ? betrkv_engine_sync(c->e, &d) :
			  betrkv_engine_checkpoint(c->e);

		if (err) {
			c->fail = 1;
			sprintf(c->msg, "sync/cp err %d", err);
			break;
		}
		d = st_durable(c->e);
		if (d < last || d < before) {
			c->fail = 1;
			sprintf(c->msg, "durable_seq %llu last %llu before %llu", d, last, before);
			break;
		}
		last = d;
	}
	return NULL;
}

static void *scanner(void *arg)
{
	struct thctx *c = arg;
	u8 lo[32];

	while (!*c->stop) {
		struct betrkv_range r = { .lo = lo, .lolen = rkey(0, lo) };
		struct betrkv_msgbuf out;
		bool more;
		u32 i;

		betrkv_msgbuf_init(&out);
		if (betrkv_engine_scan(c->e, &r, false, 500, MODEL_SCAN_BUDGET, &out, &more)) {
			c->fail = 1;
			sprintf(c->msg, "scan failed");
			break;
		}
		for (i = 1; i < out.n; i++) {
			if (betrkv_key_cmp(out.msgs[i - 1]->data, out.msgs[i - 1]->klen,
					   out.msgs[i]->data, out.msgs[i]->klen) >= 0) {
				c->fail = 1;
				sprintf(c->msg, "scan out of order");
			}
		}
		betrkv_msgbuf_free(&out);
	}
	return NULL;
}

TEST(threads)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true,
					.commit_ms = 20 };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	pthread_t th[NTH + 2];
	struct thctx c[NTH + 2];
	volatile bool stop = false;
	u32 i;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 128 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < NTH + 2; i++) {
		c[i] = (struct thctx){ .e = e, .id = i, .stop = &stop };
		pthread_create(&th[i], NULL, i < NTH ? writer : i == NTH ? syncer : scanner, &c[i]);
	}
	for (i = 0; i < NTH; i++)
		pthread_join(th[i], NULL);
	stop = true;
	for (i = NTH; i < NTH + 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NTH + 2; i++) {
		EXPECT_EQ(0, c[i].fail) TH_LOG("thread %u: %s", i, c[i].msg);
	}
	EXPECT_EQ(st_seq(e), st_durable(e) >= st_seq(e) ? st_seq(e) : (betrkv_engine_sync(e, NULL), st_durable(e)));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 3: "A device may also lose or misdirect a write it acknowledged
 * ... it detects it on read ... and reports a corruption error; it never
 * returns the stale data as current."  Section 2: after recovery the state
 * is a prefix by seq of at least the last completed sync.  Writes to one
 * region (superblocks, indirection table, journal, nodes) are lost or
 * misdirected; recovery and reads may fail with EUCLEAN, but whatever they
 * return must be the state at some S >= the last sync.
 */
enum region { R_SB, R_ITABLE, R_JOURNAL, R_NODES };

static void lost_region(struct __test_metadata *_metadata, enum region rg,
			u32 lose, u32 misdirect, u32 cycles, bool strict_tail)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	static struct logent log[4000];
	u32 c, silent = 0, detected = 0, fine = 0, tail = 0;

	betrkv_user_set_log(quiet);
	for (c = 0; c < cycles; c++) {
		struct betrkv_simdisk_faults f = { .lose = lose, .misdirect = misdirect };
		struct betrkv_engine *e;
		struct betrkv_dev *dev = mkdisk(_metadata, 48 * MiB);
		struct betrkv_sb sb;
		unsigned int slot;
		u64 cb, synced = 0, rng = seed_env(21) * 7919 + c + rg * 100000, seq, lo, hi;
		u32 nlog = 0, s, k, ver[AK], got[AK];
		bool ok = false, tainted = false;
		int err = 0;
		u64 syncs[1600];
		u32 nsyncs = 0;

		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		ASSERT_EQ(0, betrkv_engine_super(e, &sb, &slot, &cb));
		switch (rg) {
		case R_SB: f.off = 0; f.len = 2 * BETRKV_BLOCK_SIZE; break;
		case R_ITABLE: f.off = sb.geo.itable_offset; f.len = 2 * sb.geo.itable_size; break;
		case R_JOURNAL: f.off = sb.geo.journal_offset; f.len = sb.geo.journal_size; break;
		case R_NODES: f.off = sb.geo.nodes_offset; f.len = sb.geo.nodes_size; break;
		}
		f.seed = rng;
		ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
		for (s = 0; s < 1500; s++) {
			u32 r = rng_below(&rng, 40);
			u32 key = rng_below(&rng, AK);

			if (r < 3) {
				err = betrkv_engine_sync(e, NULL);
				if (!err)
					syncs[nsyncs++] = synced = st_seq(e);
			} else if (r == 3) {
				err = betrkv_engine_checkpoint(e);
			} else if (r < 8) {
				err = del1(e, key, &seq);
				if (!err)
					log[nlog++] = (struct logent){ seq, key, 0 };
			} else {
				err = put1(e, key, s + 1, 200 + key * 100, &seq);
				if (!err)
					log[nlog++] = (struct logent){ seq, key, s + 1 };
			}
			if (err) {
				tainted = true;
				break;
			}
		}
		hi = st_seq(e);
		if (!err) {
			err = betrkv_engine_sync(e, NULL);
			if (!err)
				syncs[nsyncs++] = synced = hi;
			else
				tainted = true;
		}
		crash_close(e, dev, rng);
		f.lose = f.misdirect = 0;
		betrkv_simdisk_set_faults(dev, &f);
		err = betrkv_engine_open(dev, &o, &e);
		if (err) {
			EXPECT_TRUE(err == -EUCLEAN || err == -EIO) TH_LOG("cycle %u open %d", c, err);
			detected++;
			betrkv_user_dev_close(dev);
			continue;
		}
		for (k = 0; k < AK; k++) {
			long long gv = getver(e, k);

			if (gv < 0) {
				EXPECT_TRUE(gv == -EUCLEAN || gv == -EIO) TH_LOG("cycle %u key %u: %lld", c, k, gv);
				break;
			}
			got[k] = gv;
			if (gv && check1(e, k, gv, 200 + k * 100)) {
				EXPECT_TRUE(tainted) TH_LOG("cycle %u key %u: value garbled", c, k);
				break;
			}
		}
		if (k < AK) {
			detected++;
		} else {
			for (lo = synced; lo <= hi && !ok; lo++) {
				state_at(log, nlog, lo, ver);
				ok = !memcmp(ver, got, sizeof(ver));
			}
			if (!ok && !tainted) {
				u64 any = U64_MAX, x;
				u32 later = 0, q;

				for (x = 0; x <= hi; x++) {
					state_at(log, nlog, x, ver);
					if (!memcmp(ver, got, sizeof(ver)))
						any = x;
				}
				for (q = 0; q < nsyncs; q++)
					later += syncs[q] > any;
				TH_LOG("cycle %u (region %d): state is S=%llu, last sync covered %llu; %u completed syncs covered more",
				       c, rg, any, synced, later);
				if (any != U64_MAX && later == 1)
					tail++;
				else
					silent++;
			} else {
				fine++;
			}
		}
		betrkv_engine_close(e);
		betrkv_user_dev_close(dev);
	}
	TH_LOG("region %d: %u fine, %u detected, %u silent, %u last batch lost silently",
	       rg, fine, detected, silent, tail);
	EXPECT_EQ(0, silent);
	if (strict_tail) {
		EXPECT_EQ(0, tail);
	}
}

TEST(lost_sb)		{ lost_region(_metadata, R_SB, 300, 0, 30, false); }
TEST(misdirect_sb)	{ lost_region(_metadata, R_SB, 0, 300, 30, false); }
TEST(lost_itable)	{ lost_region(_metadata, R_ITABLE, 200, 0, 30, false); }
TEST(misdirect_itable)	{ lost_region(_metadata, R_ITABLE, 0, 200, 30, false); }
TEST(lost_journal)	{ lost_region(_metadata, R_JOURNAL, 50, 0, 30, false); }
TEST(misdirect_journal)	{ lost_region(_metadata, R_JOURNAL, 0, 50, 30, false); }
/*
 * FAILS: the last journal batch, synced and then lost (or misdirected) by
 * the device, is not detected: recovery serves the state before it as
 * current.  (journal.h concedes this case; the contract does not.)
 */
TEST(lost_journal_tail)
{
	KNOWN_VIOLATION("a lost last synced journal batch goes undetected");
	lost_region(_metadata, R_JOURNAL, 50, 50, 30, true);
}
TEST(lost_nodes)	{ lost_region(_metadata, R_NODES, 50, 50, 30, false); }

/* ------------------------------------------------------------------ */
/*
 * Section 2: "Recovery reads; it never needs to write before it can serve
 * reads (so a read-only bind of a crashed device works)", and allocation
 * failures at every point of recovery fail the open cleanly, after which
 * an open recovers the same state.
 */
TEST(recovery_alloc_faults_and_read_only)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine_opts ro = { .cache_bytes = 4 * MiB, .read_only = true };
	struct betrkv_simdisk_stats a, b;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	long long want[64];
	u32 i, n, k;
	u64 rng = seed_env(9);
	int err;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 48 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 3000; i++) {
		k = rng_below(&rng, 64);
		if (i % 7 == 0) {
			ASSERT_EQ(0, del1(e, k, NULL));
		} else {
			ASSERT_EQ(0, put1(e, k, i + 1, 300 + k * 60, NULL));
		}
		if (i % 500 == 0) {
			ASSERT_EQ(0, betrkv_engine_checkpoint(e));
		}
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	crash_close(e, dev, 5);
	/* Read-only: no writes, same state. */
	betrkv_simdisk_stats(dev, &a);
	ASSERT_EQ(0, betrkv_engine_open(dev, &ro, &e));
	for (k = 0; k < 64; k++) {
		want[k] = getver(e, k);
		ASSERT_LE(0, want[k]);
	}
	EXPECT_EQ(-EROFS, put1(e, 1, 1, 1, NULL));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_simdisk_stats(dev, &b);
	EXPECT_EQ(a.writes, b.writes) TH_LOG("read-only open and close wrote");
	/* Allocation failure at every point of a read-write recovery. */
	for (n = 1; n < 100000; n++) {
		betrkv_user_fail_alloc(n);
		err = betrkv_engine_open(dev, &o, &e);
		betrkv_user_fail_alloc(0);
		if (!err)
			break;
		ASSERT_TRUE(err == -ENOMEM) TH_LOG("n %u err %d", n, err);
		betrkv_simdisk_stats(dev, &b);
		EXPECT_EQ(a.writes, b.writes) TH_LOG("n %u: failed recovery wrote", n);
	}
	TH_LOG("%u allocation points in recovery", n);
	for (k = 0; k < 64; k++)
		ASSERT_EQ(want[k], getver(e, k)) TH_LOG("key %u", k);
	/* And at every point of gets and scans. */
	for (n = 1; n < 100000; n++) {
		struct betrkv_range r = { .lo = (const u8 *)"a", .lolen = 1 };
		struct betrkv_msgbuf out;
		bool more;

		betrkv_msgbuf_init(&out);
		betrkv_user_fail_alloc(n);
		err = betrkv_engine_scan(e, &r, false, 1000, MODEL_SCAN_BUDGET, &out, &more);
		betrkv_user_fail_alloc(0);
		if (!err) {
			u32 cnt = 0;

			for (k = 0; k < 64; k++)
				cnt += want[k] != 0;
			EXPECT_EQ(cnt, out.n);
			betrkv_msgbuf_free(&out);
			break;
		}
		EXPECT_EQ(-ENOMEM, err);
		/* (Partial output on error is the caller's to free: not checked.) */
		betrkv_msgbuf_free(&out);
	}
	for (k = 0; k < 64; k++)
		ASSERT_EQ(want[k], getver(e, k)) TH_LOG("key %u", k);
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/*
 * engine.h: "Deletes always find room on a full device" -- with keys at the
 * limit and empty values, in background mode.
 */
TEST(full_device_long_keys)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true };
	struct betrkv_op op = { .key = kbuf, .klen = BETRKV_KEY_MAX, .val = vbuf };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 i, nput = 0;
	int err = 0;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 40 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	memset(kbuf, 'q', BETRKV_KEY_MAX);
	for (i = 0; i < 200000; i++) {
		sprintf((char *)kbuf, "%08u", i);
		op.type = BETRKV_OP_PUT;
		op.vlen = i % 3 ? 0 : 3000;
		err = betrkv_engine_apply(e, &op, 1, NULL);
		if (err)
			break;
		nput++;
	}
	ASSERT_EQ(-ENOSPC, err) TH_LOG("after %u puts", nput);
	TH_LOG("%u puts fit", nput);
	for (i = 0; i < nput; i++) {
		sprintf((char *)kbuf, "%08u", i);
		op.type = BETRKV_OP_DEL;
		err = betrkv_engine_apply(e, &op, 1, NULL);
		ASSERT_EQ(0, err) TH_LOG("delete %u of %u", i, nput);
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	for (i = 0; i < nput / 2; i++) {
		sprintf((char *)kbuf, "%08u", i);
		op.type = BETRKV_OP_PUT;
		op.vlen = 0;
		ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL)) TH_LOG("put %u after deleting all", i);
	}
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* ------------------------------------------------------------------ */
/*
 * Section 1: "A batch of mutations applied by one call is atomic: after
 * any crash either all of it or none of it is visible."  Large batches
 * (records spanning many journal blocks), crash at the Nth I/O, sometimes
 * again during recovery.
 */
TEST(arm_crash_batches)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	static struct logent log[20000];
	static u8 keys[64][32], vals[64][8192];
	u32 n;

	betrkv_user_set_log(quiet);
	for (n = 0; n < 200; n++) {
		struct betrkv_engine *e;
		struct betrkv_dev *dev = mkdisk(_metadata, 48 * MiB);
		u32 nlog = 0, s, k, ver[AK], got[AK];
		u64 synced = 0, rng = seed_env(15) * 1000 + n, seq, lo, hi;
		bool ok = false;

		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		betrkv_simdisk_arm(dev, n * 3);
		for (s = 0; s < 200; s++) {
			u32 r = rng_below(&rng, 10), nb = 1 + rng_below(&rng, 40), b;
			struct betrkv_op ops[64];
			int err;

			if (r == 0) {
				err = betrkv_engine_sync(e, NULL);
				if (!err)
					synced = st_seq(e);
			} else if (r == 1) {
				err = betrkv_engine_checkpoint(e);
			} else {
				for (b = 0; b < nb; b++) {
					u32 key = rng_below(&rng, AK), vl = 4 + rng_below(&rng, 8000);

					ops[b] = (struct betrkv_op){ .key = keys[b], .val = vals[b] };
					ops[b].klen = rkey(key, keys[b]);
					if (rng_below(&rng, 5) == 0) {
						ops[b].type = BETRKV_OP_DEL;
					} else {
						ops[b].type = BETRKV_OP_PUT;
						ops[b].vlen = vl;
						/* version = s * 64 + b + 1 */
						rval(key, s * 64 + b + 1, vl, vals[b]);
					}
				}
				err = betrkv_engine_apply(e, ops, nb, &seq);
				if (!err) {
					for (b = 0; b < nb; b++) {
						u32 key = atoi((char *)keys[b] + 1);

						log[nlog++] = (struct logent){ seq, key,
							ops[b].type == BETRKV_OP_DEL ? 0 : s * 64 + b + 1 };
					}
				}
			}
			if (err)
				break;
		}
		hi = st_seq(e);
		crash_close(e, dev, rng);
		if (n % 3 == 1) {
			betrkv_simdisk_arm(dev, rng_below(&rng, 40));
			if (!betrkv_engine_open(dev, &o, &e))
				betrkv_engine_close(e);
			betrkv_simdisk_crash(dev, rng + 1);
			betrkv_simdisk_disarm(dev);
		}
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e)) TH_LOG("n %u", n);
		for (k = 0; k < AK; k++) {
			struct betrkv_msg *v = NULL;
			u8 key[32];
			int err = model_get(e, key, rkey(k, key), &v);

			if (err == -ENOENT) {
				got[k] = 0;
				continue;
			}
			ASSERT_EQ(0, err) TH_LOG("n %u key %u", n, k);
			memcpy(&got[k], betrkv_msg_val(v), 4);
			rval(k, got[k], v->vlen, vals[0]);
			ASSERT_EQ(0, memcmp(vals[0], betrkv_msg_val(v), v->vlen)) TH_LOG("n %u key %u garbled", n, k);
			kfree(v);
		}
		for (lo = synced; lo <= hi && !ok; lo++) {
			state_at(log, nlog, lo, ver);
			ok = !memcmp(ver, got, sizeof(ver));
		}
		ASSERT_TRUE(ok) TH_LOG("n %u: no prefix S in [%llu, %llu] matches (torn batch?)", n, synced, hi);
		EXPECT_EQ(0, betrkv_engine_close(e));
		betrkv_user_dev_close(dev);
	}
}

/* Section 1: unsigned bytewise order, a prefix first; NUL and 0xff bytes. */
TEST(key_order)
{
	static const char *k[] = { "\x00", "\x00\x00", "\x01", "a", "a\x00", "a\x00\x00",
				   "a\x01", "a\x7f", "a\x80", "a\xff", "a\xff\xff", "b", "\xff",
				   "\xff\x00", "\xff\xff" };
	static const u32 kl[] = { 1, 2, 1, 1, 2, 3, 2, 2, 2, 2, 3, 1, 1, 2, 2 };
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_range r = { .lo = (const u8 *)"\x00", .lolen = 1 };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_msgbuf out;
	bool more;
	u32 i, pass;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 48 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (pass = 0; pass < 2; pass++) {
		for (i = ARRAY_SIZE(k); i-- > 0;) {
			struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = (const u8 *)k[i],
						.klen = kl[i], .val = (const u8 *)&i, .vlen = 4 };

			ASSERT_EQ(0, betrkv_engine_apply(e, &op, 1, NULL));
		}
		betrkv_msgbuf_init(&out);
		ASSERT_EQ(0, betrkv_engine_scan(e, &r, false, 100, MODEL_SCAN_BUDGET, &out, &more));
		ASSERT_EQ(ARRAY_SIZE(k), out.n);
		for (i = 0; i < out.n; i++) {
			EXPECT_EQ(kl[i], out.msgs[i]->klen) TH_LOG("pass %u pos %u", pass, i);
			EXPECT_EQ(0, memcmp(k[i], out.msgs[i]->data, kl[i])) TH_LOG("pass %u pos %u", pass, i);
		}
		betrkv_msgbuf_free(&out);
		/* Excluded lower bound "a": starts at "a\0". */
		{
			struct betrkv_range r2 = { .lo = (const u8 *)"a", .lolen = 1,
						   .hi = (const u8 *)"a\x01", .hilen = 2 };

			betrkv_msgbuf_init(&out);
			ASSERT_EQ(0, betrkv_engine_scan(e, &r2, true, 100, MODEL_SCAN_BUDGET, &out, &more));
			ASSERT_EQ(2, out.n);
			EXPECT_EQ(2, out.msgs[0]->klen);
			EXPECT_EQ(3, out.msgs[1]->klen);
			betrkv_msgbuf_free(&out);
		}
		ASSERT_EQ(0, betrkv_engine_checkpoint(e));
		ASSERT_EQ(0, betrkv_engine_close(e));
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	}
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/*
 * Section 2 / uapi: "an acknowledged mutation is durable at most commit_ms
 * milliseconds after it returned, without a sync".  Measures, for puts at
 * random moments, how long until durable_seq covers them (slack of 100 ms
 * for a loaded machine).
 */
static u64 now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000ull + t.tv_nsec / 1000000;
}

TEST(commit_latency)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true,
					.commit_ms = 100 };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u64 rng = seed_env(3), worst = 0;
	u32 i;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 48 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 15; i++) {
		u64 seq, t0, t;

		usleep(rng_below(&rng, 150) * 1000);
		ASSERT_EQ(0, put1(e, i, 1, 100, &seq));
		t0 = now_ms();
		while (st_durable(e) < seq && now_ms() - t0 < 2000)
			usleep(1000);
		t = now_ms() - t0;
		worst = t > worst ? t : worst;
	}
	TH_LOG("worst put-to-durable latency %llu ms (commit_ms 100)", worst);
	EXPECT_GE(200, worst);
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/*
 * Section 3: a write failure nobody's call saw (the background worker's
 * checkpoint or periodic commit) still makes the store stop accepting
 * mutations, close reports it, and synced data survives.
 */
TEST(background_write_failure)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true,
					.commit_ms = 10 };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 i, acked = 0;
	int err = 0;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 48 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, put1(e, i, 1, 1000, NULL));
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	betrkv_simdisk_fail_writes(dev, true);
	/* One put; the periodic commit fails on its own. */
	ASSERT_EQ(0, put1(e, 1000, 1, 10, NULL));
	usleep(300 * 1000);
	for (i = 0; i < 50; i++) {
		err = put1(e, 2000 + i, 1, 10, NULL);
		if (err)
			break;
		acked++;
	}
	EXPECT_NE(0, err) TH_LOG("%u puts accepted after the worker's write failed", acked);
	EXPECT_TRUE(err == -EIO || err == -EROFS) TH_LOG("err %d", err);
	EXPECT_EQ(0, check1(e, 5, 1, 1000));
	EXPECT_NE(0, betrkv_engine_sync(e, NULL));
	EXPECT_NE(0, betrkv_engine_close(e)) TH_LOG("close did not report the failure");
	betrkv_simdisk_fail_writes(dev, false);
	betrkv_simdisk_crash(dev, 9);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, check1(e, i, 1, 1000)) TH_LOG("synced key %u lost", i);
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/* alloc_fault_checkpoint with the background worker (allocations fail on it too). */
TEST(alloc_fault_background)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true };
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 n, i, round = 0;
	int err;

	betrkv_user_set_log(quiet);
	dev = mkdisk(_metadata, 64 * MiB);
	ASSERT_NE(NULL, dev);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (n = 1; n < 3000; n += 1 + n / 40) {
		round++;
		betrkv_user_fail_alloc(n);
		for (i = 0; i < 30; i++) {
			err = put1(e, (round * 30 + i) % 500, round, 900, NULL);
			if (err) {
				ASSERT_EQ(-ENOMEM, err) TH_LOG("n %u", n);
				betrkv_user_fail_alloc(0);
				ASSERT_EQ(0, put1(e, (round * 30 + i) % 500, round, 900, NULL));
			}
		}
		err = betrkv_engine_checkpoint(e);
		betrkv_user_fail_alloc(0);
		for (i = 0; i < 30; i++) {
			err = check1(e, (round * 30 + i) % 500, round, 900);
			ASSERT_EQ(0, err) TH_LOG("n %u round %u key %u", n, round, i);
		}
		if (put1(e, 9999, round, 1, NULL)) {
			betrkv_engine_close(e);
			ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		}
	}
	ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
	crash_close(e, dev, 3);
	ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
	for (i = 0; i < 30; i++)
		ASSERT_EQ(0, check1(e, (round * 30 + i) % 500, round, 900));
	EXPECT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);
}

/*
 * uapi BETRKV_BIND_SALVAGE: with a corrupt synced journal block followed
 * by later valid batches, a read-write open fails with EUCLEAN and a
 * read-only salvage open serves a prefix (what precedes the bad block),
 * never anything after it, and says it salvaged.
 */
TEST(salvage_prefix)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB };
	struct betrkv_engine_opts so = { .cache_bytes = 4 * MiB, .read_only = true,
					 .salvage = true };
	struct betrkv_engine_stats st;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	unsigned int slot;
	u64 cb, joff;
	u32 i, blk;

	betrkv_user_set_log(quiet);
	for (blk = 1; blk < 10; blk += 3) {
		u32 present = 0;
		bool gap = false;

		dev = mkdisk(_metadata, 48 * MiB);
		ASSERT_NE(NULL, dev);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &e));
		ASSERT_EQ(0, betrkv_engine_super(e, &sb, &slot, &cb));
		joff = sb.geo.journal_offset;
		for (i = 0; i < 16; i++) {
			ASSERT_EQ(0, put1(e, i, 1, 3000, NULL));
			ASSERT_EQ(0, betrkv_engine_sync(e, NULL));
		}
		crash_close(e, dev, 1);
		betrkv_simdisk_corrupt(dev, joff + blk * BETRKV_BLOCK_SIZE, blk);
		EXPECT_EQ(-EUCLEAN, betrkv_engine_open(dev, &o, &e));
		ASSERT_EQ(0, betrkv_engine_open(dev, &so, &e)) TH_LOG("block %u", blk);
		betrkv_engine_stats(e, &st);
		EXPECT_TRUE(st.salvaged);
		for (i = 0; i < 16; i++) {
			int err = check1(e, i, 1, 3000);

			EXPECT_TRUE(err == 0 || err == 1) TH_LOG("block %u key %u: %d", blk, i, err);
			if (err == 0) {
				EXPECT_FALSE(gap) TH_LOG("block %u key %u: not a prefix", blk, i);
				present++;
			} else {
				gap = true;
			}
		}
		EXPECT_GT(16, present) TH_LOG("block %u: nothing lost, so nothing was corrupt?", blk);
		EXPECT_EQ(-EROFS, put1(e, 1, 2, 1, NULL));
		betrkv_engine_close(e);
		betrkv_user_dev_close(dev);
	}
}

TEST_HARNESS_MAIN
