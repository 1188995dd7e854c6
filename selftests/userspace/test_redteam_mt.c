// SPDX-License-Identifier: GPL-2.0
/*
 * Red-team: threads and crashes together, with the background worker and
 * periodic commit on.  Section 1: "every operation is linearizable";
 * section 2: "Each completed mutation gets a sequence number, strictly
 * increasing in the order the mutations took effect" and after a crash the
 * store equals the mutations in sequence order up to some S >= the last
 * mutation a completed sync covered.  Writers share keys; every successful
 * mutation is logged with its seq; a crash comes while they run (the disk
 * dies at a random I/O).  Regression probe (passes).
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "user/simdisk.h"

#define MiB	(1ull << 20)
#define NK	64u
#define NW	4u

static void quiet(int level, const char *msg)
{
}

static u32 rkey(u32 i, u8 *buf)
{
	return sprintf((char *)buf, "k%08u", i);
}

static void rval(u32 i, u32 ver, u32 len, u8 *buf)
{
	u32 k;

	for (k = 0; k < len; k++)
		buf[k] = (u8)(i * 31 + ver * 7 + k);
	memcpy(buf, &ver, 4);
}

static u32 vlen_of(u32 k)
{
	return 200 + k * 50;
}

struct ent {
	u64 seq;
	u32 key, ver;	/* ver 0: delete */
};

struct sh {
	struct betrkv_engine *e;
	pthread_mutex_t lock;
	struct ent *log;
	u32 nlog;
	u32 next_ver;
	u64 synced;		/* max seq a completed sync covered */
	u64 last_durable;
	int bad;
	char msg[256];
	volatile bool stop;
};

static void *wr(void *arg)
{
	struct sh *s = ((void **)arg)[0];
	u64 rng = (u64)(uintptr_t)((void **)arg)[1];
	u8 key[32];
	static __thread u8 val[BETRKV_VALUE_MAX];
	u64 my_last = 0;

	while (!s->stop) {
		u32 k = rng_below(&rng, NK), r = rng_below(&rng, 20);
		struct betrkv_op op = { .key = key, .val = val };
		u64 seq, d, before;
		u32 ver;
		int err;

		op.klen = rkey(k, key);
		if (r == 0) {
			before = 0;
			/* A sync covers everything completed before it began. */
			pthread_mutex_lock(&s->lock);
			for (u32 i = 0; i < s->nlog; i++)
				before = s->log[i].seq > before ? s->log[i].seq : before;
			pthread_mutex_unlock(&s->lock);
			err = betrkv_engine_sync(s->e, &d);
			if (err)
				break;
			pthread_mutex_lock(&s->lock);
			/* Per thread (sync returns race with each other across threads). */
			if (d < before || d < my_last) {
				s->bad = 1;
				snprintf(s->msg, sizeof(s->msg), "sync: durable %llu, before %llu, my last %llu",
					 d, before, my_last);
			}
			my_last = d;
			if (d > s->last_durable)
				s->last_durable = d;
			if (before > s->synced)
				s->synced = before;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (r == 1) {
			if (betrkv_engine_checkpoint(s->e))
				break;
			continue;
		}
		ver = __atomic_add_fetch(&s->next_ver, 1, __ATOMIC_RELAXED);
		if (r < 5) {
			op.type = BETRKV_OP_DEL;
			ver = 0;
		} else {
			op.type = BETRKV_OP_PUT;
			op.vlen = vlen_of(k);
			rval(k, ver, op.vlen, val);
		}
		err = betrkv_engine_apply(s->e, &op, 1, &seq);
		if (err)
			break;
		pthread_mutex_lock(&s->lock);
		s->log[s->nlog++] = (struct ent){ seq, k, ver };
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The version key k holds (0 absent), or a negative errno. */
static long long getver(struct betrkv_engine *e, u32 k)
{
	static u8 want[BETRKV_VALUE_MAX];
	struct betrkv_msg *v = NULL;
	u8 key[32];
	u32 ver;
	int err = model_get(e, key, rkey(k, key), &v);

	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	memcpy(&ver, betrkv_msg_val(v), 4);
	rval(k, ver, vlen_of(k), want);
	err = v->vlen == vlen_of(k) && !memcmp(want, betrkv_msg_val(v), v->vlen);
	kfree(v);
	return err ? ver : -1000;
}

TEST(threads_then_crash)
{
	struct betrkv_engine_opts o = { .cache_bytes = 4 * MiB, .background = true,
					.commit_ms = 5 };
	u32 cycle, cycles = getenv("BETRKV_CYCLES") ? atoi(getenv("BETRKV_CYCLES")) : 12;
	u64 seed = getenv("BETRKV_SEED") ? strtoull(getenv("BETRKV_SEED"), NULL, 0) : 3;

	betrkv_user_set_log(quiet);
	TH_LOG("seed %llu", seed);
	for (cycle = 0; cycle < cycles; cycle++) {
		struct sh s = { .lock = PTHREAD_MUTEX_INITIALIZER };
		struct betrkv_dev *dev;
		struct betrkv_sb sb;
		pthread_t th[NW];
		void *args[NW][2];
		u32 i, k, cur[NK];
		long long got[NK];
		u64 rng = seed * 1000 + cycle, S;
		bool ok = false;

		s.log = calloc(1 << 20, sizeof(*s.log));
		ASSERT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, &dev));
		ASSERT_EQ(0, betrkv_sb_format(dev, 0, BETRKV_JOURNAL_SIZE_MIN, &sb));
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &s.e));
		for (i = 0; i < NW; i++) {
			args[i][0] = &s;
			args[i][1] = (void *)(uintptr_t)(rng * 17 + i);
			pthread_create(&th[i], NULL, wr, args[i]);
		}
		usleep(20000 + rng_below(&rng, 200000));
		if (cycle % 3 == 0) {
			/* No crash: the final state is the last write per key by seq. */
			s.stop = true;
			for (i = 0; i < NW; i++)
				pthread_join(th[i], NULL);
			qsort(s.log, s.nlog, sizeof(*s.log), cmp_ent);
			for (i = 1; i < s.nlog; i++)
				ASSERT_LT(s.log[i - 1].seq, s.log[i].seq) TH_LOG("seq given twice");
			memset(cur, 0, sizeof(cur));
			for (i = 0; i < s.nlog; i++)
				cur[s.log[i].key] = s.log[i].ver;
			for (k = 0; k < NK; k++) {
				ASSERT_EQ(cur[k], getver(s.e, k))
					TH_LOG("cycle %u key %u: not the write with the highest seq", cycle, k);
			}
			ASSERT_EQ(0, s.bad) TH_LOG("%s", s.msg);
		} else {
			betrkv_simdisk_arm(dev, rng_below(&rng, 50));
			usleep(20000);
			s.stop = true;
			for (i = 0; i < NW; i++)
				pthread_join(th[i], NULL);
			ASSERT_EQ(0, s.bad) TH_LOG("%s", s.msg);
		}
		betrkv_simdisk_arm(dev, 0);
		betrkv_engine_close(s.e);
		betrkv_simdisk_crash(dev, rng);
		betrkv_simdisk_disarm(dev);
		qsort(s.log, s.nlog, sizeof(*s.log), cmp_ent);
		ASSERT_EQ(0, betrkv_engine_open(dev, &o, &s.e)) TH_LOG("cycle %u", cycle);
		for (k = 0; k < NK; k++) {
			got[k] = getver(s.e, k);
			ASSERT_LE(0, got[k]) TH_LOG("cycle %u key %u", cycle, k);
		}
		/* Some prefix S >= synced. */
		memset(cur, 0, sizeof(cur));
		for (i = 0; i < s.nlog && s.log[i].seq <= s.synced; i++)
			cur[s.log[i].key] = s.log[i].ver;
		for (;;) {
			for (k = 0; k < NK && got[k] == cur[k]; k++)
				;
			if (k == NK) {
				ok = true;
				break;
			}
			if (i >= s.nlog)
				break;
			S = s.log[i].seq;
			for (; i < s.nlog && s.log[i].seq == S; i++)
				cur[s.log[i].key] = s.log[i].ver;
		}
		ASSERT_TRUE(ok) TH_LOG("cycle %u: no prefix >= synced %llu (of %u logged) matches",
				       cycle, s.synced, s.nlog);
		betrkv_engine_close(s.e);
		betrkv_user_dev_close(dev);
		free(s.log);
	}
}

TEST_HARNESS_MAIN
