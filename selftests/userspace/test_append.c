// SPDX-License-Identifier: GPL-2.0
/*
 * Appended nodes (on-disk format 5: a node is a log in its slot, see
 * kmod/nodefmt.h and kmod/itable.h) against the contract (spec.md):
 *
 * - dict_rounds: puts, then rounds of random overwrites and deletes with a
 *   checkpoint after each (so leaves and internal nodes get appended
 *   layers, a leaf's with deletes), closes and reopens: every get and a
 *   full scan equal a model (section 1).
 * - crash_in_append: checkpoint A durable, then synced and unsynced
 *   mutations, then checkpoint B crashed at every I/O it does (the nodes
 *   are appended to in their slots; B's superblock may never land): the
 *   store recovers a prefix no older than the last sync (section 2), then
 *   appends again over the torn tail and stays a dictionary.
 * - lost_append: every write beyond a leaf's durable length in its slot is
 *   lost but the checkpoint that refers to it completes: reads of that
 *   leaf fail with EUCLEAN, never older data; the rest reads exactly
 *   (section 3).
 * - crafted_*: an appended header (ent.hdr > 0) rewritten with valid
 *   checksums (header resealed, moved segments' checksums recomputed) to
 *   name a segment overlapping the header, beyond the length, layers out
 *   of order, a layer-0 leaf segment with a delete, two segments of one
 *   child in one layer, a leaf limit at a run's first key, a limit on an
 *   internal node, an unknown flag: EUCLEAN on get and scan, never a crash
 *   or a wrong answer (sections 3 and 4).
 * - split_appends: a split's left half is appended to, not written whole,
 *   and the keys that left it are gone from it.
 *
 * BETRKV_SEED=<n> changes the seeds (printed in every failure).
 */
#include <stdio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "engine_model.h"
#include "format.h"
#include "bloom.h"
#include "../image_edit.h"
#include "user/simdisk.h"

#define MiB		(1ull << 20)

static void quiet(int level, const char *msg)
{
	if (getenv("BETRKV_TEST_LOG"))
		fprintf(stderr, "%s", msg);
}

static struct betrkv_engine_opts opts = { .cache_bytes = 4 * MiB };

static u64 base_seed(void)
{
	const char *env = getenv("BETRKV_SEED");

	return env ? strtoull(env, NULL, 0) : 1;
}

static u8 kbuf[BETRKV_KEY_MAX], vbuf[BETRKV_VALUE_MAX];

static int put(struct betrkv_engine *e, u32 k, u32 version, u32 vlen, u64 *seq)
{
	struct betrkv_op op = { .type = BETRKV_OP_PUT, .key = kbuf,
				.klen = model_key(k, kbuf), .val = vbuf,
				.vlen = vlen };

	model_value(k, version, vlen, vbuf);
	return betrkv_engine_apply(e, &op, 1, seq);
}

static int del(struct betrkv_engine *e, u32 k, u64 *seq)
{
	struct betrkv_op op = { .type = BETRKV_OP_DEL, .key = kbuf,
				.klen = model_key(k, kbuf) };

	return betrkv_engine_apply(e, &op, 1, seq);
}

/*
 * Get of key @k: 0 if it matches the model, @may_fail (-EUCLEAN, -EIO) if
 * the store answered that, the test fails otherwise.
 */
static int check_get(struct __test_metadata *_metadata, struct betrkv_engine *e,
		     const struct model *m, u32 k, int may_fail, u64 seed)
{
	static u8 want[BETRKV_VALUE_MAX];
	struct betrkv_msg *v = NULL;
	int err = model_get(e, kbuf, model_key(k, kbuf), &v);

	if (err && err == may_fail)
		return err;
	if (m->vlen[k] == MODEL_ABSENT) {
		EXPECT_EQ(-ENOENT, err) TH_LOG("seed %llu key %u: should be absent",
					       seed, k);
		if (!err)
			kfree(v);
		return 0;
	}
	EXPECT_EQ(0, err) TH_LOG("seed %llu key %u: get failed", seed, k);
	if (err)
		return err;
	model_value(k, m->version[k], m->vlen[k], want);
	EXPECT_TRUE(v->vlen == m->vlen[k] && !memcmp(want, betrkv_msg_val(v), v->vlen))
		TH_LOG("seed %llu key %u: wrong or stale value (vlen %u, want %u v%u)",
		       seed, k, v->vlen, m->vlen[k], m->version[k]);
	kfree(v);
	return 0;
}

/* ---- 1. a dictionary across appends ---- */

#define D_NKEYS		1500u

TEST(dict_rounds)
{
	u64 seed = base_seed(), rng = seed, appends = 0;
	struct betrkv_engine_stats st;
	struct model *m = model_new(D_NKEYS);
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	u32 round, i, k, version = 1;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < D_NKEYS; k++) {
		u32 vlen = 50 + rng_below(&rng, 600);

		ASSERT_EQ(0, put(e, k, version, vlen, NULL));
		m->vlen[k] = vlen;
		m->version[k] = version;
	}
	ASSERT_EQ(0, betrkv_engine_checkpoint(e));
	for (round = 0; round < 60; round++) {
		u32 nops = 20 + rng_below(&rng, 300);

		for (i = 0; i < nops; i++) {
			/* Clustered keys: some leaves change a lot. */
			k = rng_below(&rng, 3) ? rng_below(&rng, D_NKEYS) :
			    (round * 97 + rng_below(&rng, 60)) % D_NKEYS;
			if (rng_below(&rng, 100) < 40) {
				ASSERT_EQ(0, del(e, k, NULL));
				m->vlen[k] = MODEL_ABSENT;
			} else {
				u32 vlen = rng_below(&rng, 20) ? rng_below(&rng, 700) :
					   3000 + rng_below(&rng, 9000);

				ASSERT_EQ(0, put(e, k, ++version, vlen, NULL));
				m->vlen[k] = vlen;
				m->version[k] = version;
			}
		}
		ASSERT_EQ(0, betrkv_engine_checkpoint(e));
		if (rng_below(&rng, 3) == 0) {
			betrkv_engine_stats(e, &st);
			appends += st.cache.node_appends;
			ASSERT_EQ(0, betrkv_engine_close(e));
			ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
		}
		for (k = 0; k < D_NKEYS; k++)
			check_get(_metadata, e, m, k, 0, seed);
		model_check_scan(_metadata, e, m, 0, D_NKEYS, 1 + rng_below(&rng, 300));
		if (!_metadata->passed)
			break;
	}
	betrkv_engine_stats(e, &st);
	appends += st.cache.node_appends;
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	model_check_scan(_metadata, e, m, 0, D_NKEYS, 64);
	ASSERT_EQ(0, betrkv_engine_close(e));
	TH_LOG("seed %llu: %llu node appends", seed, appends);
	/* Otherwise this tested nothing new. */
	EXPECT_GE(appends, 20);
	betrkv_user_dev_close(dev);
	model_free(m);
}

/* ---- 2. a crash in a checkpoint that appends ---- */

#define C_NKEYS		800u
#define C_LOG		400u

struct crash_run {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	struct model *base;		/* the state checkpoint A holds */
	u32 key[C_LOG], version[C_LOG], vlen[C_LOG];	/* vlen MODEL_ABSENT: delete */
	u64 seq[C_LOG];
	u32 n;
	u64 last_synced, last_seq, a_seq;
	u64 appends;			/* in checkpoint B, before the crash */
};

static void crash_op(struct __test_metadata *_metadata, struct crash_run *r,
		     u64 *rng, u32 version)
{
	u32 k = rng_below(rng, 4) ? rng_below(rng, C_NKEYS) : rng_below(rng, 80);
	u32 vlen = rng_below(rng, 3) ? rng_below(rng, 900) : MODEL_ABSENT;
	ASSERT_GT(C_LOG, r->n);
	r->key[r->n] = k;
	r->version[r->n] = version;
	r->vlen[r->n] = vlen;
	if (vlen == MODEL_ABSENT) {
		ASSERT_EQ(0, del(r->e, k, &r->seq[r->n]));
	} else {
		ASSERT_EQ(0, put(r->e, k, version, vlen, &r->seq[r->n]));
	}
	r->last_seq = r->seq[r->n++];
}

/*
 * Everything up to checkpoint B of run @seed on a fresh disk: returns with
 * the engine open and B not begun.
 */
static void crash_prefix(struct __test_metadata *_metadata, struct crash_run *r,
			 u64 seed)
{
	u64 rng = seed, durable;
	struct betrkv_sb sb;
	unsigned int slot;
	u32 k, i, n1, n2;

	memset(r, 0, sizeof(*r));
	ASSERT_EQ(0, betrkv_simdisk_create(40 * MiB, 512, &r->dev));
	ASSERT_EQ(0, betrkv_sb_format(r->dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(r->dev, &opts, &r->e));
	r->base = model_new(C_NKEYS);
	for (k = 0; k < C_NKEYS; k++) {
		u32 vlen = 100 + rng_below(&rng, 500);

		ASSERT_EQ(0, put(r->e, k, 1, vlen, NULL));
		r->base->vlen[k] = vlen;
		r->base->version[k] = 1;
	}
	/* Checkpoint A, then a clean open: every node has a copy on disk. */
	ASSERT_EQ(0, betrkv_engine_close(r->e));
	ASSERT_EQ(0, betrkv_sb_load(r->dev, &sb, &slot));
	r->a_seq = sb.cp.seq;
	r->last_synced = r->last_seq = sb.cp.seq;
	ASSERT_EQ(0, betrkv_engine_open(r->dev, &opts, &r->e));
	n1 = 20 + rng_below(&rng, 150);
	n2 = rng_below(&rng, 60);
	for (i = 0; i < n1; i++)
		crash_op(_metadata, r, &rng, 2 + i);
	ASSERT_EQ(0, betrkv_engine_sync(r->e, &durable));
	ASSERT_EQ(r->last_seq, durable);
	r->last_synced = durable;
	for (i = 0; i < n2; i++)
		crash_op(_metadata, r, &rng, 2 + n1 + i);
}

/* The state after sequence number @s. */
static struct model *crash_state(const struct crash_run *r, u64 s)
{
	struct model *m = model_new(C_NKEYS);
	u32 i;

	memcpy(m->vlen, r->base->vlen, C_NKEYS * sizeof(u32));
	memcpy(m->version, r->base->version, C_NKEYS * sizeof(u32));
	for (i = 0; i < r->n && r->seq[i] <= s; i++) {
		m->vlen[r->key[i]] = r->vlen[i];
		m->version[r->key[i]] = r->version[i];
	}
	return m;
}

static void crash_free(struct crash_run *r)
{
	if (r->e)
		betrkv_engine_close(r->e);
	betrkv_user_dev_close(r->dev);
	model_free(r->base);
}

/* Recover and check: a prefix no older than the last sync, exactly. */
static void crash_recover(struct __test_metadata *_metadata, struct crash_run *r,
			  u64 seed, u64 at)
{
	struct betrkv_simdisk_stats before, after;
	struct betrkv_engine_stats st;
	struct model *m;
	u32 k;

	betrkv_simdisk_stats(r->dev, &before);
	ASSERT_EQ(0, betrkv_engine_open(r->dev, &opts, &r->e))
		TH_LOG("seed %llu crash at I/O %llu: recovery failed", seed, at);
	betrkv_simdisk_stats(r->dev, &after);
	EXPECT_EQ(before.writes, after.writes)
		TH_LOG("seed %llu crash at I/O %llu: recovery wrote", seed, at);
	betrkv_engine_stats(r->e, &st);
	ASSERT_LE(r->last_synced, st.seq)
		TH_LOG("seed %llu crash at I/O %llu: synced data lost", seed, at);
	ASSERT_LE(st.seq, r->last_seq)
		TH_LOG("seed %llu crash at I/O %llu: the future", seed, at);
	m = crash_state(r, st.seq);
	for (k = 0; k < C_NKEYS; k++)
		check_get(_metadata, r->e, m, k, 0, seed);
	model_check_scan(_metadata, r->e, m, 0, C_NKEYS, 97);
	/* Rebase: the log past S never happened. */
	memcpy(r->base->vlen, m->vlen, C_NKEYS * sizeof(u32));
	memcpy(r->base->version, m->version, C_NKEYS * sizeof(u32));
	r->n = 0;
	r->last_synced = r->last_seq = st.seq;
	model_free(m);
}

TEST(crash_in_append)
{
	u64 seed0 = base_seed(), seed, at, total, before_a = 0, crashes = 0;
	struct betrkv_simdisk_stats s0, s1;
	struct betrkv_engine_stats st;
	struct crash_run *r = malloc(sizeof(*r));
	struct betrkv_sb sb;
	unsigned int slot;
	u32 i;

	betrkv_user_set_log(quiet);
	for (seed = seed0 * 1000; seed < seed0 * 1000 + 40 && !!_metadata->passed; seed++) {
		/* A clean run of checkpoint B: how many I/Os, and that it appends. */
		crash_prefix(_metadata, r, seed);
		betrkv_simdisk_stats(r->dev, &s0);
		ASSERT_EQ(0, betrkv_engine_checkpoint(r->e));
		betrkv_simdisk_stats(r->dev, &s1);
		betrkv_engine_stats(r->e, &st);
		total = s1.reads + s1.writes - s0.reads - s0.writes;
		ASSERT_LT(0, st.cache.node_appends)
			TH_LOG("seed %llu: checkpoint B appended nothing", seed);
		crash_free(r);
		for (at = 0; at <= total && !!_metadata->passed; at++) {
			u64 rng = seed * 7919 + at;

			crash_prefix(_metadata, r, seed);
			betrkv_simdisk_arm(r->dev, at);
			betrkv_engine_checkpoint(r->e);
			betrkv_engine_stats(r->e, &st);
			betrkv_simdisk_arm(r->dev, 0);
			betrkv_engine_close(r->e);
			r->e = NULL;
			betrkv_simdisk_crash(r->dev, rng_next(&rng));
			crashes++;
			ASSERT_EQ(0, betrkv_sb_load(r->dev, &sb, &slot));
			/* A durable, B's nodes appended, B's superblock never landed. */
			before_a += sb.cp.seq == r->a_seq && st.cache.node_appends;
			crash_recover(_metadata, r, seed, at);
			/* Append again over the torn tail, then a clean reopen. */
			for (i = 0; i < 40; i++)
				crash_op(_metadata, r, &rng, 1000 + i);
			ASSERT_EQ(0, betrkv_engine_checkpoint(r->e));
			for (i = 0; i < 20; i++)
				crash_op(_metadata, r, &rng, 2000 + i);
			ASSERT_EQ(0, betrkv_engine_close(r->e));
			r->e = NULL;
			r->last_synced = r->last_seq;
			crash_recover(_metadata, r, seed, at);
			crash_free(r);
		}
	}
	free(r);
	TH_LOG("%llu crashes, %llu with A durable and B's appends written", crashes,
	       before_a);
	EXPECT_GT(before_a, 0);
}

/* ---- 3. a lost append ---- */

#define L_NKEYS		2500u

static bool key_in(u32 k, const struct betrkv_node *root, u32 c)
{
	u8 key[BETRKV_KEY_MAX];
	u32 klen = model_key(k, key);

	if (c && betrkv_key_cmp(key, klen, root->pivots[c - 1]->key,
				root->pivots[c - 1]->len) < 0)
		return false;
	return c + 1 == root->nchildren ||
	       betrkv_key_cmp(key, klen, root->pivots[c]->key, root->pivots[c]->len) < 0;
}

TEST(lost_append)
{
	u64 seed = base_seed(), rng = seed, lost = 0;
	struct betrkv_simdisk_faults f = { .lose = 1000, .seed = seed };
	struct betrkv_simdisk_faults none = { 0 };
	struct betrkv_simdisk_stats ss;
	struct model *m = model_new(L_NKEYS);
	struct betrkv_itable_ent ent, ent2;
	struct betrkv_node *root;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	struct image im;
	u32 k, xlo = L_NKEYS, xhi = 0, c, i, round, version = 1, eu = 0;
	u64 leaf;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < L_NKEYS; k++) {
		ASSERT_EQ(0, put(e, k, version, 300, NULL));
		m->vlen[k] = 300;
		m->version[k] = version;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));

	/* A middle leaf X of the root, its keys [xlo, xhi), its durable length. */
	ASSERT_EQ(0, image_open(&im, dev));
	ASSERT_EQ(0, image_read_node(&im, im.sb.cp.root, &root));
	ASSERT_EQ(1, root->height) TH_LOG("want a root over leaves");
	ASSERT_LE(3, root->nchildren);
	/* The leaf with the most room left in its slot. */
	for (c = 0, i = 0; i < root->nchildren; i++) {
		ASSERT_EQ(0, betrkv_itable_lookup(&im.it, root->children[i], &ent));
		ASSERT_EQ(0, betrkv_itable_lookup(&im.it, root->children[c], &ent2));
		if (ent.len < ent2.len)
			c = i;
	}
	leaf = root->children[c];
	for (k = 0; k < L_NKEYS; k++) {
		if (key_in(k, root, c)) {
			xlo = min(xlo, k);
			xhi = max(xhi, k + 1);
		}
	}
	ASSERT_LT(xlo, xhi);
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &ent));
	f.off = image_slot_off(&im, ent.slot) + ent.len;
	f.len = im.sb.geo.node_size - ent.len;
	image_close(&im);
	betrkv_node_free(root);
	TH_LOG("leaf %llu, keys [%u, %u), slot %u, len %u: appends lost", leaf, xlo,
	       xhi, ent.slot, ent.len);

	/* Every write beyond X's length in its slot is lost. */
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (round = 0; round < 60 && !lost; round++) {
		for (i = 0; i < 40; i++) {
			k = xlo + rng_below(&rng, xhi - xlo);
			/*
			 * Mostly overwrites of the same size: the leaf neither
			 * splits nor merges (either writes it whole).
			 */
			if (rng_below(&rng, 10) == 0) {
				ASSERT_EQ(0, del(e, k, NULL));
				m->vlen[k] = MODEL_ABSENT;
			} else {
				u32 vlen = 300;

				ASSERT_EQ(0, put(e, k, ++version, vlen, NULL));
				m->vlen[k] = vlen;
				m->version[k] = version;
			}
		}
		/* Fill the root's other buffers too, so that it flushes. */
		for (i = 0; i < 150; i++) {
			k = rng_below(&rng, L_NKEYS);
			if (k >= xlo && k < xhi)
				continue;
			ASSERT_EQ(0, put(e, k, ++version, 300, NULL));
			m->vlen[k] = 300;
			m->version[k] = version;
		}
		ASSERT_EQ(0, betrkv_engine_checkpoint(e));
		betrkv_simdisk_stats(dev, &ss);
		lost = ss.lost;
	}
	if (!lost) {
		struct betrkv_engine_stats st;

		betrkv_engine_stats(e, &st);
		betrkv_engine_close(e);
		ASSERT_EQ(0, image_open(&im, dev));
		ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &ent2));
		image_close(&im);
		TH_LOG("%llu writes, %llu appends; leaf now slot %u len %u hdr %u",
		       st.cache.node_writes, st.cache.node_appends, ent2.slot,
		       ent2.len, ent2.hdr);
	}
	ASSERT_LT(0, lost) TH_LOG("no append to leaf %llu in %u rounds", leaf, round);
	/* Power off right after the checkpoint that refers to the lost append. */
	betrkv_simdisk_arm(dev, 0);
	betrkv_engine_close(e);
	betrkv_simdisk_crash(dev, seed);
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &none));

	ASSERT_EQ(0, image_open(&im, dev));
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &ent2));
	image_close(&im);
	ASSERT_EQ(ent.slot, ent2.slot) TH_LOG("the checkpoint does not name the lost append");
	ASSERT_LT(ent.len, ent2.len);
	ASSERT_LE(ent.len, ent2.hdr);
	TH_LOG("durable entry: slot %u len %u hdr %u", ent2.slot, ent2.len, ent2.hdr);

	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < L_NKEYS; k++) {
		bool in = k >= xlo && k < xhi;

		eu += check_get(_metadata, e, m, k, in ? -EUCLEAN : 0, seed) == -EUCLEAN;
	}
	TH_LOG("%u gets of leaf %llu's keys failed with EUCLEAN", eu, leaf);
	/* The rest of the store reads exactly. */
	if (xlo)
		model_check_scan(_metadata, e, m, 0, xlo, 50);
	if (xhi < L_NKEYS)
		model_check_scan(_metadata, e, m, xhi, L_NKEYS, 50);
	/* A scan must read X: the lost append is an error, not older data. */
	{
		struct betrkv_range r = { .lo = kbuf, .lolen = model_key(xlo, kbuf) };
		struct betrkv_msgbuf out;
		bool more;
		int err;

		betrkv_msgbuf_init(&out);
		err = betrkv_engine_scan(e, &r, false, L_NKEYS, 64 * MiB, &out, &more);
		EXPECT_EQ(-EUCLEAN, err) TH_LOG("scan over the leaf: %d, %u pairs", err,
						out.n);
		betrkv_msgbuf_free(&out);
	}
	EXPECT_LT(0, eu);
	betrkv_engine_close(e);
	betrkv_user_dev_close(dev);
	model_free(m);
}

/* ---- 4. crafted appended headers ---- */

/* A node's header parsed into parts, to emit again changed. */
struct hparts {
	struct nf_hdr h;
	u8 pre[BETRKV_NODE_SIZE_DEFAULT];	/* internal: children, pivots */
	u32 npre;
	struct nf_seg segs[BETRKV_NODE_LAYERS_MAX * BETRKV_LEAF_RUNS_MAX];
	u8 *key[BETRKV_NODE_LAYERS_MAX * BETRKV_LEAF_RUNS_MAX];	/* leaf: raw */
	u32 keylen[BETRKV_NODE_LAYERS_MAX * BETRKV_LEAF_RUNS_MAX];
	u8 *bloom[BETRKV_NODE_LAYERS_MAX * BETRKV_LEAF_RUNS_MAX];
	u32 nsegs;
	u8 *limit;		/* leaf with NF_LIMIT: raw */
	u32 limitlen;
};

static u32 rd16(const u8 *p)
{
	return p[0] | p[1] << 8;
}

/* Parse the header at @buf (checked by the engine when it wrote it). */
static void hparse(const u8 *buf, struct hparts *hp)
{
	const u8 *p = buf + sizeof(hp->h);
	u32 i;

	memcpy(&hp->h, buf, sizeof(hp->h));
	hp->nsegs = le32_to_cpu(hp->h.nsegs);
	if (le32_to_cpu(hp->h.height)) {
		u32 nc = le32_to_cpu(hp->h.nchildren);

		p += nc * sizeof(__le64);
		for (i = 0; i + 1 < nc; i++)
			p += 2 + rd16(p);
	}
	hp->npre = p - buf - sizeof(hp->h);
	memcpy(hp->pre, buf + sizeof(hp->h), hp->npre);
	memcpy(hp->segs, p, hp->nsegs * sizeof(struct nf_seg));
	p += hp->nsegs * sizeof(struct nf_seg);
	for (i = 0; !le32_to_cpu(hp->h.height) && i < hp->nsegs; i++) {
		hp->key[i] = (u8 *)p;
		hp->keylen[i] = 2 + rd16(p);
		p += hp->keylen[i];
	}
	hp->limit = NULL;
	if (le16_to_cpu(hp->h.flags) & NF_LIMIT) {
		hp->limit = (u8 *)p;
		hp->limitlen = 2 + rd16(p);
		p += hp->limitlen;
	}
	for (i = 0; i < hp->nsegs; i++) {
		hp->bloom[i] = (u8 *)p;
		p += betrkv_bloom_bytes(le32_to_cpu(hp->segs[i].nmsgs));
	}
}

/*
 * Emit @hp at @out (the parts' pointers must not point into it); returns
 * the header length.
 */
static u32 hemit(const struct hparts *hp, u32 nlayers, u8 *out)
{
	static u8 tmp[BETRKV_NODE_SIZE_DEFAULT];
	struct nf_hdr h = hp->h;
	u8 *p = tmp + sizeof(h);
	u32 i, n;

	memcpy(p, hp->pre, hp->npre);
	p += hp->npre;
	memcpy(p, hp->segs, hp->nsegs * sizeof(struct nf_seg));
	p += hp->nsegs * sizeof(struct nf_seg);
	for (i = 0; !le32_to_cpu(h.height) && i < hp->nsegs; i++) {
		memcpy(p, hp->key[i], hp->keylen[i]);
		p += hp->keylen[i];
	}
	if (hp->limit) {
		memcpy(p, hp->limit, hp->limitlen);
		p += hp->limitlen;
	}
	for (i = 0; i < hp->nsegs; i++) {
		n = betrkv_bloom_bytes(le32_to_cpu(hp->segs[i].nmsgs));
		memcpy(p, hp->bloom[i], n);
		p += n;
	}
	h.nsegs = cpu_to_le32(hp->nsegs);
	h.nlayers = cpu_to_le16(nlayers);
	h.hdr_len = cpu_to_le32(p - tmp);
	memcpy(tmp, &h, sizeof(h));
	memcpy(out, tmp, p - tmp);
	return p - tmp;
}

/* What the segment at @off of @len bytes of node @id checks out as. */
static u32 seg_csum(const u8 uuid[16], u64 id, u32 off, const u8 *seg, u32 len)
{
	struct nf_seg_salt salt = { .id = cpu_to_le64(id), .off = cpu_to_le32(off) };

	memcpy(salt.uuid, uuid, sizeof(salt.uuid));
	return betrkv_crc32c(&salt, sizeof(salt), seg, len);
}

enum craft {
	SEG_IN_HDR,		/* a new-layer segment starts inside the header */
	SEG_BEYOND_LEN,		/* a segment past the node's length */
	LAYERS_REVERSED,	/* old segments labelled newest, new ones oldest */
	LAYER_GAP,		/* the newest layer numbered one too high */
	LEAF_L0_DELETE,		/* a leaf header naming only the new layer, as 0 */
	CHILD_TWICE,		/* two segments of one child in one layer */
	LIMIT_AT_RUN,		/* a leaf's limit at a run's first key */
	LIMIT_INTERNAL,		/* an internal node with NF_LIMIT */
	FLAG_UNKNOWN,		/* a flag no format version has */
};

static const char *const craft_name[] = {
	"seg_in_hdr", "seg_beyond_len", "layers_reversed",
	"layer_gap", "leaf_l0_delete", "child_twice", "limit_at_run",
	"limit_internal", "flag_unknown",
};

#define X_LEAF_KEYS	40u
#define X_INT_KEYS	1500u

/*
 * A store whose root is appended to (a leaf root with deletes in its new
 * layer, or an internal root with new buffered messages), rewritten as
 * @how says with valid checksums; then every get and a full scan must fail
 * with EUCLEAN (or match the model, for a get that reads no bad byte), never
 * crash or answer wrongly.
 */
static void crafted(struct __test_metadata *_metadata, bool internal, enum craft how)
{
	u32 nkeys = internal ? X_INT_KEYS : X_LEAF_KEYS, k, l, s = U32_MAX, eu = 0;
	static struct hparts hp;
	struct model *m = model_new(nkeys);
	u64 seed = base_seed(), rng = seed, uid;
	struct betrkv_itable_ent ent;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	struct image im;
	u32 nlayers, total, hdr_end, first_new, hdr_len;
	bool seg_level = how == LEAF_L0_DELETE;
	bool changed[X_INT_KEYS] = { false };
	int err;
	u8 *slot;

	betrkv_tree_verify = false;
	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < nkeys; k++) {
		ASSERT_EQ(0, put(e, k, 1, internal ? 400 : 100, NULL));
		m->vlen[k] = internal ? 400 : 100;
		m->version[k] = 1;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < (internal ? 60 : nkeys); k++) {
		u32 key = internal ? rng_below(&rng, nkeys) : k;

		if (!internal && k % 3 == 2)
			continue;
		changed[key] = true;
		if (rng_below(&rng, 2)) {
			ASSERT_EQ(0, del(e, key, NULL));
			m->vlen[key] = MODEL_ABSENT;
		} else {
			ASSERT_EQ(0, put(e, key, 2 + k, 60, NULL));
			m->vlen[key] = 60;
			m->version[key] = 2 + k;
		}
	}
	ASSERT_EQ(0, betrkv_engine_close(e));

	ASSERT_EQ(0, image_open(&im, dev));
	uid = im.sb.cp.root;
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, uid, &ent));
	ASSERT_LT(0, ent.hdr) TH_LOG("the root was not appended to");
	slot = malloc(im.sb.geo.node_size);
	ASSERT_EQ(0, betrkv_dev_read(dev, image_slot_off(&im, ent.slot), slot,
				     im.sb.geo.node_size));
	hparse(slot + ent.hdr, &hp);
	nlayers = le16_to_cpu(hp.h.nlayers);
	total = le32_to_cpu(hp.h.total_len);
	hdr_end = ent.hdr + le32_to_cpu(hp.h.hdr_len);
	ASSERT_EQ(!!internal, !!le32_to_cpu(hp.h.height));
	ASSERT_LE(2, nlayers);
	for (first_new = 0; le16_to_cpu(hp.segs[first_new].layer) != nlayers - 1; first_new++)
		;
	TH_LOG("%s root %llu: len %u hdr %u..%u, %u segments in %u layers (newest from %u)",
	       internal ? "internal" : "leaf", uid, ent.len, ent.hdr, hdr_end,
	       hp.nsegs, nlayers, first_new);
	ASSERT_EQ(hdr_end, le32_to_cpu(hp.segs[first_new].off));

	switch (how) {
	case SEG_IN_HDR:
		s = first_new;
		hp.segs[s].off = cpu_to_le32(hdr_end - 16);
		break;
	case SEG_BEYOND_LEN:
		s = hp.nsegs - 1;
		hp.segs[s].off = cpu_to_le32(total);
		ASSERT_GE(im.sb.geo.node_size, total + le32_to_cpu(hp.segs[s].len));
		break;
	case LAYERS_REVERSED:
		for (s = 0; s < hp.nsegs; s++)
			hp.segs[s].layer = cpu_to_le16(nlayers - 1 -
						       le16_to_cpu(hp.segs[s].layer));
		s = U32_MAX;
		break;
	case LAYER_GAP:
		for (s = first_new; s < hp.nsegs; s++)
			hp.segs[s].layer = cpu_to_le16(nlayers);
		s = U32_MAX;
		break;
	case LEAF_L0_DELETE:
		/* Only the new layer, as layer 0: it holds deletes. */
		memmove(&hp.segs[0], &hp.segs[first_new],
			(hp.nsegs - first_new) * sizeof(hp.segs[0]));
		memmove(&hp.key[0], &hp.key[first_new],
			(hp.nsegs - first_new) * sizeof(hp.key[0]));
		memmove(&hp.keylen[0], &hp.keylen[first_new],
			(hp.nsegs - first_new) * sizeof(hp.keylen[0]));
		memmove(&hp.bloom[0], &hp.bloom[first_new],
			(hp.nsegs - first_new) * sizeof(hp.bloom[0]));
		hp.nsegs -= first_new;
		for (s = 0; s < hp.nsegs; s++)
			hp.segs[s].layer = 0;
		nlayers = 1;
		s = U32_MAX;
		break;
	case CHILD_TWICE:
		/* Two segments of one layer name one child. */
		for (s = first_new + 1; s < hp.nsegs; s++)
			if (le16_to_cpu(hp.segs[s].layer) == le16_to_cpu(hp.segs[s - 1].layer))
				break;
		if (s < hp.nsegs) {
			hp.segs[s].child = hp.segs[s - 1].child;
		} else {
			/* One new segment: merge the two newest layers' ones. */
			for (s = first_new; s > 0 && le16_to_cpu(hp.segs[s - 1].child) !=
			     le16_to_cpu(hp.segs[first_new].child); s--)
				;
			ASSERT_LT(0, s) TH_LOG("no child buffered in two layers");
			hp.segs[first_new].layer = hp.segs[s - 1].layer;
			for (l = first_new + 1; l < hp.nsegs; l++)
				hp.segs[l].layer = cpu_to_le16(le16_to_cpu(hp.segs[l].layer) - 1);
			nlayers--;
		}
		s = U32_MAX;
		break;
	case LIMIT_AT_RUN:
		/* The newest run would hold nothing alive. */
		hp.limit = hp.key[hp.nsegs - 1];
		hp.limitlen = hp.keylen[hp.nsegs - 1];
		hp.h.flags = cpu_to_le16(NF_LIMIT);
		/* Room for it: the new segments move up, checksummed anew. */
		l = le32_to_cpu(hp.segs[hp.nsegs - 1].off) +
		    le32_to_cpu(hp.segs[hp.nsegs - 1].len);
		ASSERT_GE(total, l + hp.limitlen);
		memmove(slot + hdr_end + hp.limitlen, slot + hdr_end, l - hdr_end);
		for (s = first_new; s < hp.nsegs; s++) {
			u32 off = le32_to_cpu(hp.segs[s].off) + hp.limitlen;

			hp.segs[s].off = cpu_to_le32(off);
			hp.segs[s].csum = cpu_to_le32(seg_csum(im.sb.uuid, uid, off,
							       slot + off,
							       le32_to_cpu(hp.segs[s].len)));
		}
		hdr_end += hp.limitlen;
		s = U32_MAX;
		break;
	case LIMIT_INTERNAL:
		hp.h.flags = cpu_to_le16(NF_LIMIT);
		break;
	case FLAG_UNKNOWN:
		hp.h.flags = cpu_to_le16(NF_LIMIT << 1);
		break;
	}
	/* A moved or resized segment checks out where it now lies. */
	if (s != U32_MAX) {
		u32 off = le32_to_cpu(hp.segs[s].off);

		hp.segs[s].csum = cpu_to_le32(seg_csum(im.sb.uuid, uid, off, slot + off,
						       le32_to_cpu(hp.segs[s].len)));
	}
	memcpy(im.buf, slot, ent.len);
	hdr_len = hemit(&hp, nlayers, im.buf + ent.hdr);
	if (ent.hdr + hdr_len < hdr_end)
		memset(im.buf + ent.hdr + hdr_len, 0, hdr_end - ent.hdr - hdr_len);
	ASSERT_GE(hdr_end, ent.hdr + hdr_len);
	ASSERT_EQ(0, image_reseal_raw(&im, &ent));
	ASSERT_EQ(0, image_commit(&im));
	image_close(&im);
	free(slot);

	/* The crafted leaf holds only the new layer: the rest is absent. */
	for (k = 0; how == LEAF_L0_DELETE && k < nkeys; k++)
		if (!changed[k])
			m->vlen[k] = MODEL_ABSENT;
	err = betrkv_engine_open(dev, &opts, &e);
	if (err) {
		EXPECT_EQ(-EUCLEAN, err);
		goto out;
	}
	for (k = 0; k < nkeys; k++)
		eu += check_get(_metadata, e, m, k, -EUCLEAN, seed) == -EUCLEAN;
	TH_LOG("%s: %u of %u gets EUCLEAN", craft_name[how], eu, nkeys);
	if (seg_level) {
		EXPECT_LT(0, eu);
	} else {
		EXPECT_EQ(nkeys, eu) TH_LOG("a get read past a bad header");
	}
	{
		struct betrkv_range r = { .lo = kbuf, .lolen = model_key(0, kbuf) };
		struct betrkv_msgbuf out;
		bool more;

		betrkv_msgbuf_init(&out);
		err = betrkv_engine_scan(e, &r, false, nkeys + 1, 64 * MiB, &out, &more);
		EXPECT_EQ(-EUCLEAN, err) TH_LOG("%s: scan %d, %u pairs", craft_name[how],
						err, out.n);
		betrkv_msgbuf_free(&out);
	}
	betrkv_engine_close(e);
out:
	betrkv_user_dev_close(dev);
	model_free(m);
}

TEST(crafted_leaf_seg_in_hdr)		{ crafted(_metadata, false, SEG_IN_HDR); }
TEST(crafted_leaf_seg_beyond_len)	{ crafted(_metadata, false, SEG_BEYOND_LEN); }
TEST(crafted_leaf_layers_reversed)	{ crafted(_metadata, false, LAYERS_REVERSED); }
TEST(crafted_leaf_layer_gap)		{ crafted(_metadata, false, LAYER_GAP); }
TEST(crafted_leaf_l0_delete)		{ crafted(_metadata, false, LEAF_L0_DELETE); }
TEST(crafted_int_seg_in_hdr)		{ crafted(_metadata, true, SEG_IN_HDR); }
TEST(crafted_int_seg_beyond_len)	{ crafted(_metadata, true, SEG_BEYOND_LEN); }
TEST(crafted_int_layers_reversed)	{ crafted(_metadata, true, LAYERS_REVERSED); }
TEST(crafted_int_layer_gap)		{ crafted(_metadata, true, LAYER_GAP); }
TEST(crafted_int_child_twice)		{ crafted(_metadata, true, CHILD_TWICE); }
TEST(crafted_leaf_limit_at_run)		{ crafted(_metadata, false, LIMIT_AT_RUN); }
TEST(crafted_int_limit)			{ crafted(_metadata, true, LIMIT_INTERNAL); }
TEST(crafted_leaf_flag_unknown)		{ crafted(_metadata, false, FLAG_UNKNOWN); }

/* ---- 5. a split appends to its left half ---- */

#define S_NKEYS		400u
#define S_VLEN		1000u

/*
 * A leaf root written whole, then enough puts for a split: the leaf, now
 * the left half, is appended to in its slot with a limit at the split key
 * (nodefmt.h), not written whole.  Returns the store and the leaf's ID.
 */
static void split_store(struct __test_metadata *_metadata, struct model *m,
			struct betrkv_dev **devp, u64 *leafp)
{
	struct betrkv_itable_ent before, after;
	static struct hparts hp;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	struct image im;
	u64 leaf;
	u8 *slot;
	u32 k;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(64 * MiB, 512, &dev));
	*devp = dev;
	ASSERT_EQ(0, betrkv_sb_format(dev, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	/* Every other key of the first half: one leaf. */
	for (k = 0; k < S_NKEYS / 2; k += 2) {
		ASSERT_EQ(0, put(e, k, 1, S_VLEN, NULL));
		m->vlen[k] = S_VLEN;
		m->version[k] = 1;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, image_open(&im, dev));
	leaf = im.sb.cp.root;
	*leafp = leaf;
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &before));
	image_close(&im);
	ASSERT_EQ(0, before.hdr);
	/* The rest, in two passes: the leaf splits and takes keys of both. */
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < 2 * S_NKEYS; k++) {
		u32 key = k < S_NKEYS ? (k * 2 + 1) % S_NKEYS : k - S_NKEYS;

		if (m->vlen[key] != MODEL_ABSENT)
			continue;
		ASSERT_EQ(0, put(e, key, 2, S_VLEN, NULL));
		m->vlen[key] = S_VLEN;
		m->version[key] = 2;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));

	ASSERT_EQ(0, image_open(&im, dev));
	ASSERT_NE(leaf, im.sb.cp.root) TH_LOG("the tree did not grow");
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &after));
	slot = malloc(im.sb.geo.node_size);
	ASSERT_EQ(0, betrkv_dev_read(dev, image_slot_off(&im, after.slot), slot,
				     im.sb.geo.node_size));
	hparse(slot + after.hdr, &hp);
	TH_LOG("leaf %llu: slot %u len %u before, slot %u len %u hdr %u after",
	       leaf, before.slot, before.len, after.slot, after.len, after.hdr);
	EXPECT_EQ(before.slot, after.slot) TH_LOG("the left half was written whole");
	EXPECT_LT(0, after.hdr);
	EXPECT_TRUE(le16_to_cpu(hp.h.flags) & NF_LIMIT) TH_LOG("no limit");
	free(slot);
	image_close(&im);
}

/*
 * Every key reads exactly after the split, also after reopening, and none
 * of the right half's keys comes back from the left half's straddling
 * segment.
 */
TEST(split_appends)
{
	struct model *m = model_new(S_NKEYS);
	u64 seed = base_seed(), leaf;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	u32 k;

	split_store(_metadata, m, &dev, &leaf);
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < S_NKEYS; k++)
		check_get(_metadata, e, m, k, 0, seed);
	model_check_scan(_metadata, e, m, 0, S_NKEYS, S_NKEYS + 1);
	betrkv_engine_close(e);
	betrkv_user_dev_close(dev);
	model_free(m);
}

/* A full scan of the store: its error. */
static int scan_all(struct betrkv_engine *e, u32 nkeys)
{
	struct betrkv_range r = { .lo = kbuf, .lolen = model_key(0, kbuf) };
	struct betrkv_msgbuf out;
	bool more;
	int err;

	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(e, &r, false, nkeys + 1, 64 * MiB, &out, &more);
	betrkv_msgbuf_free(&out);
	return err;
}

/*
 * The split's left half with its limit lowered (valid checksums) below the
 * pivot its parent gives it: the keys between would be dropped as dead.
 * Every get the parent routes to the leaf, and a scan, is EUCLEAN, whether
 * the leaf is read as a header and segments (gets first) or whole (scan
 * first); the right half's keys read exactly.
 */
TEST(crafted_leaf_limit_inside)
{
	struct model *m = model_new(S_NKEYS);
	u64 seed = base_seed(), leaf;
	struct betrkv_itable_ent ent;
	static struct hparts hp;
	struct betrkv_engine *e;
	struct betrkv_dev *dev;
	struct image im;
	u32 k, pivot, lim, round, eu;
	u8 *limit;

	split_store(_metadata, m, &dev, &leaf);
	ASSERT_EQ(0, image_open(&im, dev));
	ASSERT_EQ(0, betrkv_itable_lookup(&im.it, leaf, &ent));
	ASSERT_EQ(0, betrkv_dev_read(dev, image_slot_off(&im, ent.slot), im.buf,
				     ent.len));
	hparse(im.buf + ent.hdr, &hp);
	ASSERT_TRUE(hp.limit != NULL);
	/*
	 * Keys are their 4-byte big-endian number and a suffix.  The limit
	 * goes just past the last run's first key, which the decoder checks
	 * on its own, and stays below the pivot.
	 */
	limit = hp.limit + 2;
	pivot = model_key_number(limit);
	for (k = lim = 0; k < hp.nsegs; k++)
		lim = max(lim, model_key_number(hp.key[k] + 2) + 1);
	TH_LOG("leaf %llu: limit at key %u, lowered to %u", leaf, pivot, lim);
	ASSERT_LT(lim + 1, pivot);
	model_key_renumber(limit, lim);
	ASSERT_EQ(0, image_reseal_raw(&im, &ent));
	ASSERT_EQ(0, image_commit(&im));
	image_close(&im);

	for (round = 0; round < 2; round++) {
		ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
		if (round)
			EXPECT_EQ(-EUCLEAN, scan_all(e, S_NKEYS));
		for (k = eu = 0; k < S_NKEYS; k++)
			eu += check_get(_metadata, e, m, k, k < pivot ? -EUCLEAN : 0, seed) ==
			      -EUCLEAN;
		TH_LOG("round %u: %u of %u gets EUCLEAN", round, eu, S_NKEYS);
		EXPECT_EQ(pivot, eu) TH_LOG("a get trusted a limit inside its range");
		if (!round)
			EXPECT_EQ(-EUCLEAN, scan_all(e, S_NKEYS));
		betrkv_engine_close(e);
	}
	betrkv_user_dev_close(dev);
	model_free(m);
}

/* ---- 6. flushes into leaves that are not read ---- */

#define B_NKEYS		6000u	/* of 1000 bytes: 1.5 times the cache */
#define B_OPS		12000u
#define B_SYNC_AT	6000u
#define B_CRASHES	24u

/* A workload's ops: key, version, length (MODEL_ABSENT: a delete), seq. */
struct blind_run {
	u32 key[B_OPS], version[B_OPS], vlen[B_OPS];
	u64 seq[B_OPS];
	u32 n;
	u64 synced;
	struct model *now;	/* the state after the last op */
};

/*
 * Random puts and deletes, synced once, with gets checked against @r->now
 * (from @m0) between them: many flushes go down into leaves that are not
 * resident.  Stops at the first error (the disk armed to fail);
 * returns it.
 */
static int blind_workload(struct __test_metadata *_metadata,
			  const struct model *m0, struct blind_run *r, u64 seed,
			  struct betrkv_engine *e)
{
	u64 rng = seed, durable;
	int err = 0;
	u32 i, k;

	memcpy(r->now->vlen, m0->vlen, B_NKEYS * sizeof(u32));
	memcpy(r->now->version, m0->version, B_NKEYS * sizeof(u32));
	r->n = 0;
	r->synced = 0;
	for (i = 0; i < B_OPS && !err; i++) {
		k = rng_below(&rng, B_NKEYS);
		r->key[i] = k;
		r->version[i] = 2 + i;
		r->vlen[i] = rng_below(&rng, 10) < 3 ? MODEL_ABSENT :
			     200 + rng_below(&rng, 1000);
		err = r->vlen[i] == MODEL_ABSENT ? del(e, k, &r->seq[i]) :
		      put(e, k, r->version[i], r->vlen[i], &r->seq[i]);
		if (err)
			break;
		r->n++;
		r->now->vlen[k] = r->vlen[i];
		r->now->version[k] = r->version[i];
		if (i % 4 == 0)
			err = check_get(_metadata, e, r->now,
					rng_below(&rng, B_NKEYS), -EIO, seed);
		if (!err && i == B_SYNC_AT) {
			err = betrkv_engine_sync(e, &durable);
			r->synced = err ? 0 : durable;
		}
	}
	return err;
}

/* @m0 with the ops of @r up to sequence number @seq applied. */
static struct model *blind_state(const struct model *m0, const struct blind_run *r,
				 u64 seq)
{
	struct model *m = model_new(B_NKEYS);
	u32 i;

	memcpy(m->vlen, m0->vlen, B_NKEYS * sizeof(u32));
	memcpy(m->version, m0->version, B_NKEYS * sizeof(u32));
	for (i = 0; i < r->n && r->seq[i] <= seq; i++) {
		m->vlen[r->key[i]] = r->vlen[i];
		m->version[r->key[i]] = r->version[i];
	}
	return m;
}

/*
 * A store three times its cache, checkpointed: a workload's flushes into
 * its leaves are appended to them without reading them (cache.c), which
 * a clean run counts.  Then the workload again, the disk failing from its
 * I/O n on and the machine crashing, for n spread over all its I/Os: the
 * store recovers to exactly the state after some sequence number from the
 * last sync to the last acknowledged op.
 */
FIXTURE(blind) {
};

FIXTURE_SETUP(blind)
{
}

FIXTURE_TEARDOWN(blind)
{
}

TEST_F_TIMEOUT(blind, crash_in_flush, 300)
{
	struct betrkv_simdisk_stats s0, s1;
	struct betrkv_engine_stats st;
	struct blind_run *r = malloc(sizeof(*r));
	struct model *m0 = model_new(B_NKEYS), *m;

	r->now = model_new(B_NKEYS);
	struct betrkv_dev *snap, *dev;
	u64 seed = base_seed(), ios, at, blind = 0;
	struct betrkv_engine *e;
	struct betrkv_sb sb;
	u32 k, c;

	betrkv_user_set_log(quiet);
	ASSERT_EQ(0, betrkv_simdisk_create(96 * MiB, 512, &snap));
	ASSERT_EQ(0, betrkv_sb_format(snap, 0, 0, &sb));
	ASSERT_EQ(0, betrkv_engine_open(snap, &opts, &e));
	for (k = 0; k < B_NKEYS; k++) {
		ASSERT_EQ(0, put(e, k, 1, 1000, NULL));
		m0->vlen[k] = 1000;
		m0->version[k] = 1;
	}
	ASSERT_EQ(0, betrkv_engine_close(e));

	ASSERT_EQ(0, betrkv_simdisk_clone(snap, &dev));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	betrkv_simdisk_stats(dev, &s0);
	ASSERT_EQ(0, blind_workload(_metadata, m0, r, seed, e));
	betrkv_simdisk_stats(dev, &s1);
	betrkv_engine_stats(e, &st);
	ios = s1.reads + s1.writes - s0.reads - s0.writes;
	TH_LOG("%llu I/Os, %llu flushes into leaves not read, %llu node reads",
	       ios, st.cache.leaf_appends, st.cache.node_reads);
	ASSERT_LT(0, st.cache.leaf_appends);
	m = blind_state(m0, r, st.seq);
	for (k = 0; k < B_NKEYS; k++)
		check_get(_metadata, e, m, k, 0, seed);
	model_check_scan(_metadata, e, m, 0, B_NKEYS, 500);
	ASSERT_EQ(0, betrkv_engine_close(e));
	ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
	for (k = 0; k < B_NKEYS; k++)
		check_get(_metadata, e, m, k, 0, seed);
	model_free(m);
	ASSERT_EQ(0, betrkv_engine_close(e));
	betrkv_user_dev_close(dev);

	for (c = 0; c < B_CRASHES && _metadata->passed; c++) {
		at = ios * c / B_CRASHES;
		ASSERT_EQ(0, betrkv_simdisk_clone(snap, &dev));
		ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e));
		betrkv_simdisk_arm(dev, at);
		blind_workload(_metadata, m0, r, seed, e);
		betrkv_engine_stats(e, &st);
		blind += !!st.cache.leaf_appends;
		betrkv_simdisk_arm(dev, 0);
		betrkv_engine_close(e);
		betrkv_simdisk_crash(dev, seed + c);
		ASSERT_EQ(0, betrkv_engine_open(dev, &opts, &e))
			TH_LOG("crash at I/O %llu: recovery failed", at);
		betrkv_engine_stats(e, &st);
		ASSERT_LE(r->synced, st.seq) TH_LOG("crash at I/O %llu: synced data lost", at);
		ASSERT_TRUE(!r->n || st.seq <= r->seq[r->n - 1])
			TH_LOG("crash at I/O %llu: the future", at);
		m = blind_state(m0, r, st.seq);
		model_check_scan(_metadata, e, m, 0, B_NKEYS, 500);
		model_free(m);
		ASSERT_EQ(0, betrkv_engine_close(e));
		betrkv_user_dev_close(dev);
	}
	TH_LOG("%u crashes, %llu after a flush into a leaf not read", c, blind);
	EXPECT_LE(B_CRASHES / 3, blind);
	betrkv_user_dev_close(snap);
	model_free(r->now);
	model_free(m0);
	free(r);
}

TEST_HARNESS_MAIN
