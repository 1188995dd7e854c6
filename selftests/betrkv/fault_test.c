// SPDX-License-Identifier: GPL-2.0
/*
 * Device faults against the module (spec section 3, the disk model):
 *
 *  - error_writes_*: dm-flakey fails every write and flush under a bound
 *    store.  Mutations and syncs fail with EIO (no crash, no hang), the
 *    store says "failed", reads keep returning what the store holds; unbind
 *    releases the device and reports the failure (EIO); on a healthy
 *    device the store comes back with everything a completed sync covered
 *    (exactly a prefix of the mutation sequence) and takes writes again.  Four ways in: a sync, a writer and
 *    a reader running when the table switches, a put that has to write the
 *    journal, and the final checkpoint's node writes.
 *  - drop_writes_*: dm-flakey silently drops writes (reports success); see
 *    the comment there for what is provable and asserted.
 *  - error_target: a linear + error table makes one node's blocks fail to
 *    read: exactly the gets whose path reads that node fail with EIO (one
 *    leaf, then the root); the media are untouched, so all reads right after.
 *
 * A failure that is not the test's: see the dm tables in the log (dmsetup's
 * own output is printed when it fails).
 *  - bit flips between unbind and bind: a superblock copy (bind falls
 *    back), a node header and a node value (EUCLEAN for the gets reading
 *    it, the others right), the indirection table (bind fails EUCLEAN).
 *
 * Which gets read which node is worked out here from the device: the
 * newest superblock, its indirection table and every node are decoded with
 * the core's own decoders, and a get is replayed over them exactly as
 * betrkv_tree_get() walks the tree (it stops at the first message for the
 * key, top down).  The replay is first checked against the reference model,
 * so a wrong expectation cannot hide a wrong answer.
 *
 * The stores live on DISK_B, directly or under a device-mapper device
 * (DM_NAME); dmsetup must be in the guest's PATH and dm-flakey loadable.
 * Every value names its key and version and is otherwise derived from
 * them, so any value read can be told right, stale or garbage.
 */
#include <pthread.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vmtest.h"
#include "../rng.h"
#include "itable.h"
#include "nodefmt.h"

#define DM_NAME		"betrkv-fault"
#define DM_DEV		"/dev/mapper/" DM_NAME
#define DM_TABLE	"/tmp/betrkv-fault.table"
#define DISK		DISK_B

#define MAXKEYS		1024u
#define MAXLOG		16384u

/* ------------------------------------------------------------------ model */

struct mut {
	u64 seq;
	u32 key;
	u32 ver;		/* 0: delete */
};

/*
 * The reference: the current version of every key (0: absent), every
 * version ever handed out (tried, even if the put failed), and the log of
 * the mutations that completed, in sequence order.
 */
struct model {
	u32 nkeys;
	u32 vmin, vspread;	/* value lengths: vmin + [0, vspread) */
	bool big;		/* hand out versions from BIG_VER on */
	u32 ver[MAXKEYS];
	u32 nver[MAXKEYS];
	struct mut log[MAXLOG];
	u32 nlog;
	u64 last_seq;		/* of the newest completed mutation */
	u64 durable;		/* the last durable_seq a sync returned */
};

static u32 key_make(u32 i, char *key)
{
	return sprintf(key, "fk%05u", i);
}

#define VHDR_LEN	13	/* "V%05u.%05u|" */
#define KIB		1024u

/* Versions from BIG_VER on are 3-4 KiB long (to fill a journal quickly). */
#define BIG_VER		10000u

static u32 val_len(const struct model *m, u32 i, u32 ver)
{
	if (ver >= BIG_VER)
		return 3 * KIB + rng_hash((u64)i << 32 | ver) % KIB;
	return m->vmin + rng_hash((u64)i << 32 | ver) % m->vspread;
}

/* Version @ver of key @i's value into @buf (BETRKV_VALUE_MAX); its length. */
static u32 val_make(const struct model *m, u32 i, u32 ver, u8 *buf)
{
	u32 len = val_len(m, i, ver), p;
	char hdr[32];

	snprintf(hdr, sizeof(hdr), "V%05u.%05u|", i % 100000, ver % 100000);
	memcpy(buf, hdr, VHDR_LEN);
	for (p = VHDR_LEN; p < len; p++)
		buf[p] = (u8)rng_hash(((u64)i << 40) ^ ((u64)ver << 20) ^ p);
	return len;
}

/*
 * Is @val (@len bytes, read for key @i) a version of key @i's value,
 * exactly as written?  *@ver receives the version it names.
 */
static bool val_check(const struct model *m, u32 i, const u8 *val, size_t len,
		      u32 *ver)
{
	static u8 want[BETRKV_VALUE_MAX];
	char hdr[VHDR_LEN + 1];
	unsigned int ki, kv;

	*ver = 0;
	if (len < VHDR_LEN)
		return false;
	memcpy(hdr, val, VHDR_LEN);
	hdr[VHDR_LEN] = '\0';
	if (sscanf(hdr, "V%5u.%5u|", &ki, &kv) != 2 || ki != i || !kv)
		return false;
	*ver = kv;
	return val_make(m, i, kv, want) == len && !memcmp(want, val, len);
}

static struct model *model_new(u32 nkeys, u32 vmin, u32 vspread)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		vm_die("calloc");
	m->nkeys = nkeys;
	m->vmin = vmin;
	m->vspread = vspread;
	return m;
}

static void model_log(struct model *m, u64 seq, u32 key, u32 ver)
{
	if (m->nlog == MAXLOG)
		vm_die("model log full");
	m->log[m->nlog++] = (struct mut){ .seq = seq, .key = key, .ver = ver };
	m->ver[key] = ver;
	m->last_seq = seq;
}

/* Forget the mutations after @seq (they did not survive). */
static void model_rewind(struct model *m, u64 seq)
{
	u32 j;

	memset(m->ver, 0, sizeof(m->ver));
	for (j = 0; j < m->nlog && m->log[j].seq <= seq; j++)
		m->ver[m->log[j].key] = m->log[j].ver;
	m->nlog = j;
	m->last_seq = seq;
	m->durable = seq;
}

static u32 new_ver(struct model *m, u32 i)
{
	if (m->big && m->nver[i] < BIG_VER)
		m->nver[i] = BIG_VER - 1;
	return ++m->nver[i];
}

static int m_put(struct model *m, struct betrkv *s, u32 i)
{
	static u8 val[BETRKV_VALUE_MAX];
	char key[16];
	u32 ver = new_ver(m, i), klen = key_make(i, key);
	u32 vlen = val_make(m, i, ver, val);
	uint64_t seq;
	int err = betrkv_put(s, key, klen, val, vlen, &seq);

	if (!err)
		model_log(m, seq, i, ver);
	return err;
}

static int m_del(struct model *m, struct betrkv *s, u32 i)
{
	char key[16];
	u32 klen = key_make(i, key);
	uint64_t seq;
	int err = betrkv_delete(s, key, klen, &seq);

	if (!err)
		model_log(m, seq, i, 0);
	return err;
}

/* One batch putting keys first, first + step, ... (@n of them). */
static int m_batch(struct model *m, struct betrkv *s, u32 first, u32 n, u32 step)
{
	struct betrkv_batch *b = betrkv_batch_new();
	static char keys[256][16];
	u8 *vals[256];
	u32 vers[256], j, klen;
	uint64_t seq;
	int err = 0;

	if (!b || n > 256)
		vm_die("batch");
	for (j = 0; j < n; j++) {
		u32 i = (first + j * step) % m->nkeys;

		vals[j] = malloc(BETRKV_VALUE_MAX);
		if (!vals[j])
			vm_die("malloc");
		vers[j] = new_ver(m, i);
		klen = key_make(i, keys[j]);
		err = err ?: betrkv_batch_put(b, keys[j], klen, vals[j],
					      val_make(m, i, vers[j], vals[j]));
	}
	if (!err)
		err = betrkv_batch_commit(s, b, &seq);
	for (j = 0; j < n; j++) {
		if (!err)
			model_log(m, seq, (first + j * step) % m->nkeys, vers[j]);
		free(vals[j]);
	}
	betrkv_batch_free(b);
	return err;
}

static int m_sync(struct model *m, struct betrkv *s)
{
	uint64_t d = 0;
	int err = betrkv_sync(s, &d);

	if (!err) {
		if (d < m->last_seq)	/* a sync covers every completed mutation */
			return -ENOTRECOVERABLE;
		m->durable = d;
	}
	return err;
}

/* get of key @i: 0 (value in @buf, length in *@len) or a negative errno. */
static int get_key(struct betrkv *s, u32 i, u8 *buf, size_t *len)
{
	char key[16];
	u32 klen = key_make(i, key);

	return betrkv_get(s, key, klen, buf, BETRKV_VALUE_MAX, len);
}

/* --------------------------------------------------------------- helpers */

static u64 disk_sectors(void)
{
	return dev_bytes(DISK) >> 9;
}

/* Write @fmt as the table file; dmsetup reads it from there. */
static void table_write(const char *fmt, ...)
{
	FILE *f = fopen(DM_TABLE, "w");
	va_list ap;

	if (!f)
		vm_die(DM_TABLE);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Create DM_NAME (or replace its table: load + resume) from the table file. */
static int dm_apply(bool create)
{
	int r;

	if (create)
		r = vm_sh("dmsetup create " DM_NAME " " DM_TABLE " >/tmp/dm.out 2>&1");
	else
		r = vm_sh("dmsetup load " DM_NAME " " DM_TABLE " >/tmp/dm.out 2>&1 && "
		       "dmsetup resume " DM_NAME " >>/tmp/dm.out 2>&1");
	if (r)
		vm_sh("cat /tmp/dm.out; cat " DM_TABLE);
	return r;
}

static int dm_linear(bool create)
{
	table_write("0 %llu linear %s 0\n", disk_sectors(), DISK);
	return dm_apply(create);
}

/* @mode: "error_writes" or "drop_writes", from now on (up 0 s, down 1 s). */
static int dm_flakey(const char *mode)
{
	table_write("0 %llu flakey %s 0 0 1 1 %s\n", disk_sectors(), DISK, mode);
	return dm_apply(false);
}

/* Reads of bytes [off, off + len) of DISK fail with EIO, the rest maps 1:1. */
static int dm_error_range(bool create, u64 off, u64 len)
{
	u64 a = off >> 9, n = len >> 9, total = disk_sectors();

	table_write("0 %llu linear %s 0\n%llu %llu error\n%llu %llu linear %s %llu\n",
		    a, DISK, a, n, a + n, total - a - n, DISK, a + n);
	return dm_apply(create);
}

static void dm_remove(void)
{
	int i;

	for (i = 0; i < 20 && !access(DM_DEV, F_OK); i++)
		if (vm_sh("dmsetup remove " DM_NAME " >/dev/null 2>&1") == 0)
			break;
		else
			usleep(100000);
}

static int bound_count(void)
{
	return betrkv_list(NULL, 0);
}

struct store {
	u32 idx;
	struct betrkv *s;
};

static int store_bind(struct store *st, const char *dev, bool read_only)
{
	struct betrkv_bind_opts o = { .read_only = read_only };
	int err = betrkv_bind(dev, &o, &st->idx);

	if (err)
		return err;
	err = betrkv_open(st->idx, &st->s);
	if (err) {
		betrkv_unbind(st->idx);
		st->s = NULL;
	}
	return err;
}

static int store_unbind(struct store *st)
{
	betrkv_close(st->s);
	st->s = NULL;
	return betrkv_unbind(st->idx);
}

static int store_format(const char *dev, u64 journal_size)
{
	struct betrkv_format_opts o = { .journal_size = journal_size };

	return betrkv_format(dev, &o, NULL);
}

static u32 store_state(const struct store *st)
{
	struct betrkv_status_args a;

	if (betrkv_status(st->idx, &a))
		return 0;
	return a.state;
}

static u64 store_checkpoints(const struct store *st)
{
	struct betrkv_stats_args a;

	if (betrkv_stats(st->s, &a))
		return 0;
	return a.checkpoints;
}

/* ------------------------------------------------------------ assertions */

/* Every key reads exactly as the model says. */
static void check_exact(struct __test_metadata *_metadata, struct model *m,
			struct betrkv *s)
{
	static u8 buf[BETRKV_VALUE_MAX], want[BETRKV_VALUE_MAX];
	u32 i, bad = 0, wl;
	size_t len;
	int err;

	for (i = 0; i < m->nkeys; i++) {
		err = get_key(s, i, buf, &len);
		if (!m->ver[i] && err == -ENOENT)
			continue;
		if (m->ver[i] && !err) {
			wl = val_make(m, i, m->ver[i], want);
			if (len == wl && !memcmp(buf, want, wl))
				continue;
		}
		if (bad++ < 5)
			TH_LOG("key %u: got %d (len %zu, \"%.12s\"), want version %u",
			       i, err, err ? 0 : len, err ? "" : (char *)buf, m->ver[i]);
	}
	EXPECT_EQ(0, bad);
}

/* A full scan returns exactly the model's pairs, in order. */
static void check_scan(struct __test_metadata *_metadata, struct model *m,
		       struct betrkv *s)
{
	static u8 want[BETRKV_VALUE_MAX];
	struct betrkv_iter *it;
	const void *k, *v;
	size_t kl, vl;
	char key[16];
	u32 i = 0, bad = 0;
	int r;

	ASSERT_EQ(0, betrkv_iter_new(s, "\0", 1, NULL, 0, &it));
	while ((r = betrkv_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		while (i < m->nkeys && !m->ver[i])
			i++;
		if (i == m->nkeys || kl != key_make(i, key) || memcmp(k, key, kl) ||
		    vl != val_make(m, i, m->ver[i], want) || memcmp(v, want, vl)) {
			bad++;
			break;
		}
		i++;
	}
	while (i < m->nkeys && !m->ver[i])
		i++;
	EXPECT_EQ(0, r);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(m->nkeys, i);
	betrkv_iter_free(it);
}

/*
 * The store holds exactly the model's state after the mutations with
 * sequence numbers up to some S in [@smin, @smax]: a prefix, nothing up to
 * smin missing, nothing after smax present.  Returns S (the model is
 * rewound to it), or 0 after failing the test.
 */
static u64 check_prefix(struct __test_metadata *_metadata, struct model *m,
			struct betrkv *s, u64 smin, u64 smax)
{
	static u8 buf[BETRKV_VALUE_MAX];
	static u32 obs[MAXKEYS], cur[MAXKEYS];
	u32 i, j, bad = 0, mism = 0;
	size_t len;
	u64 S;
	int err;

	for (i = 0; i < m->nkeys; i++) {
		err = get_key(s, i, buf, &len);
		if (err == -ENOENT) {
			obs[i] = 0;
		} else if (err || !val_check(m, i, buf, len, &obs[i])) {
			if (bad++ < 5)
				TH_LOG("key %u: get %d, value \"%.12s\" (len %zu)",
				       i, err, err ? "" : (char *)buf, err ? 0 : len);
		}
	}
	ASSERT_EQ(0, bad);
	/* The state after each S in turn, counting the keys that differ. */
	memset(cur, 0, sizeof(cur));
	for (j = 0; j < m->nlog && m->log[j].seq <= smin; j++)
		cur[m->log[j].key] = m->log[j].ver;
	for (i = 0; i < m->nkeys; i++)
		mism += cur[i] != obs[i];
	for (S = smin; mism; ) {
		if (j == m->nlog || m->log[j].seq > smax)
			break;
		S = m->log[j].seq;
		for (; j < m->nlog && m->log[j].seq == S; j++) {
			i = m->log[j].key;
			mism -= cur[i] != obs[i];
			cur[i] = m->log[j].ver;
			mism += cur[i] != obs[i];
		}
	}
	if (mism) {
		for (i = 0, j = 0; i < m->nkeys && j < 5; i++)
			if (m->ver[i] != obs[i] && ++j)
				TH_LOG("key %u: version %u read, %u last written",
				       i, obs[i], m->ver[i]);
		TH_LOG("no prefix in [%llu, %llu] matches (%u keys differ at %llu)",
		       smin, smax, mism, S);
	}
	EXPECT_EQ(0, mism);
	if (mism)
		return 0;
	model_rewind(m, S);
	return S;
}

/* ------------------------------------------------------------ tree replay */

struct tnode {
	u64 id;
	u32 slot, len, hdr;
	struct betrkv_node *n;
};

/* The tree of the newest checkpoint on DISK, as the core decodes it. */
struct tree {
	struct betrkv_sb sb;
	unsigned int sb_slot;
	u32 nn;
	struct tnode *nodes;
};

static struct tnode *tree_node(struct tree *t, u64 id)
{
	u32 k;

	for (k = 0; k < t->nn; k++)
		if (t->nodes[k].id == id)
			return &t->nodes[k];
	return NULL;
}

static u64 node_off(const struct tree *t, const struct tnode *tn)
{
	return t->sb.geo.nodes_offset + (u64)tn->slot * t->sb.geo.node_size;
}

static int tree_load(const char *dev, struct tree *t)
{
	const struct betrkv_geometry *g;
	const struct betrkv_checkpoint *cp;
	struct betrkv_sb sbs[BETRKV_SB_SLOTS];
	int ret[BETRKV_SB_SLOTS], pick;
	struct betrkv_itable it;
	const char *why;
	u64 off, k;
	u8 *buf;
	int err;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < BETRKV_SB_SLOTS; k++)
		ret[k] = sb_read(dev, k, &sbs[k]);
	pick = betrkv_sb_pick(ret, sbs);
	if (pick < 0)
		return -EUCLEAN;
	t->sb = sbs[pick];
	t->sb_slot = pick;
	g = &t->sb.geo;
	cp = &t->sb.cp;
	if (!cp->itable_bytes)
		return -ENODATA;
	off = g->itable_offset + cp->itable_slot * g->itable_size;
	buf = malloc(cp->itable_bytes);
	raw_io(dev, false, off, buf, cp->itable_bytes);
	err = betrkv_itable_init(&it, g->nodes_size / g->node_size, g->node_size) ?:
	      betrkv_itable_decode(&it, t->sb.uuid, off / BETRKV_BLOCK_SIZE, buf,
				   cp->itable_bytes, &why);
	free(buf);
	if (err)
		return err;
	t->nodes = calloc(it.map.count, sizeof(*t->nodes));
	for (k = 0; k < it.map.cap; k++) {
		struct tnode *tn;

		if (!it.map.tab[k].id)
			continue;
		tn = &t->nodes[t->nn++];
		tn->id = it.map.tab[k].id;
		tn->slot = it.map.tab[k].slot;
		tn->len = it.map.tab[k].len;
		tn->hdr = it.map.tab[k].hdr;
		buf = malloc(tn->len);
		raw_io(dev, false, node_off(t, tn), buf, tn->len);
		err = betrkv_node_decode(buf, tn->len, tn->hdr, t->sb.uuid,
					 node_off(t, tn) / BETRKV_BLOCK_SIZE,
					 tn->id, &tn->n, &why);
		free(buf);
		if (err)
			break;
	}
	betrkv_itable_destroy(&it);
	return err;
}

static void tree_free(struct tree *t)
{
	u32 k;

	for (k = 0; k < t->nn; k++)
		if (t->nodes[k].n)
			betrkv_node_free(t->nodes[k].n);
	free(t->nodes);
	t->nodes = NULL;
	t->nn = 0;
}

/*
 * Replay betrkv_tree_get() for key @i: the nodes it reads go to @path
 * (*@plen of them), the message it stops at to *@found (NULL: absent).
 * Returns 0, or -EUCLEAN if a node is missing from the table.
 */
static int tree_get(struct tree *t, u32 i, u64 *path, u32 *plen,
		    const struct betrkv_msg **found)
{
	char key[16];
	u32 klen = key_make(i, key);
	u64 id = t->sb.cp.root;

	*plen = 0;
	*found = NULL;
	while (id) {
		struct tnode *tn = tree_node(t, id);
		const struct betrkv_node *n;
		u32 c;

		if (!tn || *plen == 16)
			return -EUCLEAN;
		n = tn->n;
		path[(*plen)++] = id;
		if (betrkv_node_is_leaf(n)) {
			*found = betrkv_msgbuf_find(&n->entries, (u8 *)key, klen);
			return 0;
		}
		c = betrkv_node_child_index(n, (u8 *)key, klen);
		*found = betrkv_msgbuf_find(&n->bufs[c], (u8 *)key, klen);
		id = *found ? 0 : n->children[c];
	}
	return 0;
}

static bool path_has(const u64 *path, u32 plen, u64 id)
{
	u32 k;

	for (k = 0; k < plen; k++)
		if (path[k] == id)
			return true;
	return false;
}

/* The replay agrees with the model for every key. */
static void check_replay(struct __test_metadata *_metadata, struct model *m,
			 struct tree *t)
{
	static u8 want[BETRKV_VALUE_MAX];
	const struct betrkv_msg *f;
	u64 path[16];
	u32 i, plen, bad = 0, wl;

	for (i = 0; i < m->nkeys; i++) {
		ASSERT_EQ(0, tree_get(t, i, path, &plen, &f));
		if (!m->ver[i] && (!f || f->type == BETRKV_OP_DEL))
			continue;
		wl = m->ver[i] ? val_make(m, i, m->ver[i], want) : 0;
		if (m->ver[i] && f && f->type == BETRKV_OP_PUT && f->vlen == wl &&
		    !memcmp(betrkv_msg_val(f), want, wl))
			continue;
		bad++;
	}
	ASSERT_EQ(0, bad);
}

/*
 * Every key reads as the model says, except those whose get reads node
 * @victim: these fail with @err (or, if @lenient, fail with @err or read
 * right).  Returns how many failed.
 */
static u32 check_victim(struct __test_metadata *_metadata, struct model *m,
			struct tree *t, struct betrkv *s, u64 victim, int err,
			bool lenient)
{
	static u8 buf[BETRKV_VALUE_MAX], want[BETRKV_VALUE_MAX];
	const struct betrkv_msg *f;
	u32 i, plen, bad = 0, failed = 0, wl;
	u64 path[16];
	size_t len;
	int r;

	for (i = 0; i < m->nkeys; i++) {
		bool hit;

		tree_get(t, i, path, &plen, &f);
		hit = path_has(path, plen, victim);
		r = get_key(s, i, buf, &len);
		if (r == err && hit) {
			failed++;
			continue;
		}
		if (hit && !lenient) {
			if (bad++ < 5)
				TH_LOG("key %u reads node %llu: got %d, want %d", i,
				       victim, r, err);
			continue;
		}
		if (!m->ver[i] && r == -ENOENT)
			continue;
		wl = m->ver[i] ? val_make(m, i, m->ver[i], want) : 0;
		if (m->ver[i] && !r && len == wl && !memcmp(buf, want, wl))
			continue;
		if (bad++ < 5)
			TH_LOG("key %u (%s node %llu): got %d, want version %u", i,
			       hit ? "reads" : "does not read", victim, r, m->ver[i]);
	}
	EXPECT_EQ(0, bad);
	return failed;
}

/*
 * A leaf that some gets read and others do not: the one read by the most
 * keys, short of all of them.  Returns its index in t->nodes, or -1.
 */
static int pick_leaf(struct model *m, struct tree *t, u32 *hits)
{
	const struct betrkv_msg *f;
	u32 i, k, plen, best_hits = 0;
	u64 path[16];
	int best = -1;

	for (k = 0; k < t->nn; k++) {
		u32 h = 0;

		if (!betrkv_node_is_leaf(t->nodes[k].n))
			continue;
		for (i = 0; i < m->nkeys; i++) {
			tree_get(t, i, path, &plen, &f);
			h += path_has(path, plen, t->nodes[k].id);
		}
		if (h > best_hits && h < m->nkeys) {
			best_hits = h;
			best = k;
		}
	}
	*hits = best_hits;
	return best;
}

/* ------------------------------------------------------------ the fixture */

FIXTURE(fault) {
	struct model *m;
	struct store st;
	struct tree t;
	bool no_dm;		/* dmsetup or dm-flakey missing */
};

/* The body of a test that needs device-mapper starts with this. */
#define NEED_DM() do { \
	if (self->no_dm) \
		SKIP(return, "dmsetup or dm-flakey not available"); \
} while (0)

FIXTURE_SETUP(fault)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	dm_remove();
	if (access("/sys/module/dm_flakey", F_OK))
		vm_sh("modprobe dm-flakey >/dev/null 2>&1");
	self->no_dm = vm_sh("dmsetup version >/dev/null 2>&1") ||
		      access("/sys/module/dm_flakey", F_OK);
}

FIXTURE_TEARDOWN(fault)
{
	if (self->st.s)
		betrkv_close(self->st.s);
	unbind_all();
	dm_remove();
	tree_free(&self->t);
	free(self->m);
}

/* After a failure: the store is bound, mutations fail EIO, reads go on. */
static void check_failed_store(struct __test_metadata *_metadata,
			       struct model *m, struct store *st)
{
	struct betrkv_batch *b = betrkv_batch_new();

	EXPECT_EQ(BETRKV_STATE_FAILED, store_state(st));
	EXPECT_STREQ("failed", store_attr(st->idx, "state"));
	EXPECT_EQ(-EIO, m_put(m, st->s, 1));
	EXPECT_EQ(-EIO, m_put(m, st->s, m->nkeys - 1));
	EXPECT_EQ(-EIO, m_del(m, st->s, 2));
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, betrkv_batch_put(b, "fk00003", 7, "x", 1));
	EXPECT_EQ(-EIO, betrkv_batch_commit(st->s, b, NULL));
	betrkv_batch_free(b);
	EXPECT_EQ(-EIO, m_sync(m, st->s));
	EXPECT_EQ(BETRKV_STATE_FAILED, store_state(st));
	/* Reads: every completed mutation, synced or not. */
	check_exact(_metadata, m, st->s);
	check_scan(_metadata, m, st->s);
}

/*
 * Unbind a store, failed or not (the device is released whatever the final
 * checkpoint did; a failed store's unbind says EIO), make the device
 * healthy, bind again: the store holds a prefix ending in [smin, smax] and
 * takes writes again.
 */
static void rebind_healthy(struct __test_metadata *_metadata, struct model *m,
			   struct store *st, u64 smin, u64 smax)
{
	/* A failed store: unbind releases it, and reports the failure. */
	bool failed = store_state(st) == BETRKV_STATE_FAILED;

	EXPECT_EQ(failed ? -EIO : 0, store_unbind(st));
	ASSERT_EQ(0, bound_count());
	ASSERT_EQ(0, dm_linear(false));
	ASSERT_EQ(0, store_bind(st, DM_DEV, false));
	EXPECT_EQ(BETRKV_STATE_LIVE, store_state(st));
	EXPECT_STREQ("live", store_attr(st->idx, "state"));
	ASSERT_NE(0, check_prefix(_metadata, m, st->s, smin, smax));
	/* Writable again, and durable across unbind and bind. */
	ASSERT_EQ(0, m_put(m, st->s, 5));
	ASSERT_EQ(0, m_del(m, st->s, 6));
	ASSERT_EQ(0, m_batch(m, st->s, 7, 20, 3));
	ASSERT_EQ(0, m_sync(m, st->s));
	check_exact(_metadata, m, st->s);
	ASSERT_EQ(0, store_unbind(st));
	ASSERT_EQ(0, store_bind(st, DM_DEV, false));
	check_exact(_metadata, m, st->s);
	check_scan(_metadata, m, st->s);
	EXPECT_EQ(0, store_unbind(st));
}

/* Format and bind on a linear DM_NAME over DISK; keys 0..199, synced. */
static void start_flakey_store(struct __test_metadata *_metadata,
			       FIXTURE_DATA(fault) *self, u64 journal_size)
{
	u32 i;

	self->m = model_new(300, 100, 1500);
	ASSERT_EQ(0, dm_linear(true));
	ASSERT_EQ(0, store_format(DM_DEV, journal_size));
	ASSERT_EQ(0, store_bind(&self->st, DM_DEV, false));
	for (i = 0; i < 200; i++)
		ASSERT_EQ(0, m_put(self->m, self->st.s, i));
	for (i = 0; i < 200; i += 17)
		ASSERT_EQ(0, m_del(self->m, self->st.s, i));
	ASSERT_EQ(0, m_sync(self->m, self->st.s));
}

/*
 * Writes fail from some point on; the first I/O is the sync.  Puts before
 * it only fill the journal's memory buffer, so they may still succeed (or
 * fail with EIO); the sync must fail.
 */
TEST_F_TIMEOUT(fault, error_writes_sync, 120)
{
	struct model *m;
	u64 synced, before;
	u32 i;
	int err;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	synced = m->durable;
	for (i = 200; i < 240; i++)		/* completed, never synced */
		ASSERT_EQ(0, m_put(m, self->st.s, i));
	before = m->last_seq;

	ASSERT_EQ(0, dm_flakey("error_writes"));
	for (i = 0, err = 0; i < 30 && !err; i++) {
		err = m_put(m, self->st.s, 250 + i);
		EXPECT_TRUE(err == 0 || err == -EIO) TH_LOG("put: %d", err);
	}
	EXPECT_EQ(-EIO, m_sync(m, self->st.s));
	check_failed_store(_metadata, m, &self->st);
	/* Nothing written after the switch landed: S <= before. */
	rebind_healthy(_metadata, m, &self->st, synced, before);
}

/* A writer (put, sync every 8th) and a reader, both running at the switch. */
struct workload {
	struct model *m;
	struct betrkv *s;
	volatile bool stop;
	volatile int werr;	/* the writer's error: it stops at the first */
	volatile u32 wops;	/* its completed puts */
	u32 rgets, rbad;	/* the reader's gets, and wrong answers */
	int rerr;		/* the first wrong answer's errno */
};

static void *writer(void *arg)
{
	struct workload *w = arg;
	int err = 0;

	while (!err && w->wops < 50000) {
		err = m_put(w->m, w->s, (w->wops * 7) % w->m->nkeys);
		if (!err && ++w->wops % 8 == 0)
			err = m_sync(w->m, w->s);
	}
	w->werr = err ?: -EAGAIN;	/* -EAGAIN: it never failed */
	return NULL;
}

static void *reader(void *arg)
{
	static u8 buf[BETRKV_VALUE_MAX];
	struct workload *w = arg;
	u32 i = 0, ver;
	size_t len;
	int r;

	while (!w->stop) {
		i = (i + 13) % w->m->nkeys;
		r = get_key(w->s, i, buf, &len);
		w->rgets++;
		if (r == -ENOENT || (!r && val_check(w->m, i, buf, len, &ver)))
			continue;
		if (!w->rbad++)
			w->rerr = r;
	}
	return NULL;
}

TEST_F_TIMEOUT(fault, error_writes_running, 120)
{
	struct workload w = { 0 };
	pthread_t wt, rt;
	struct model *m;
	u32 i;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	w.m = m;
	w.s = self->st.s;
	ASSERT_EQ(0, pthread_create(&wt, NULL, writer, &w));
	ASSERT_EQ(0, pthread_create(&rt, NULL, reader, &w));
	for (i = 0; i < 1000 && w.wops < 40 && !w.werr; i++)
		usleep(10000);
	EXPECT_EQ(0, dm_flakey("error_writes"));	/* while both run */
	pthread_join(wt, NULL);
	w.stop = true;
	pthread_join(rt, NULL);
	TH_LOG("writer: %u puts, then %d; reader: %u gets, %u wrong", w.wops,
	       w.werr, w.rgets, w.rbad);
	EXPECT_EQ(-EIO, w.werr);
	EXPECT_LE(40, w.wops);
	EXPECT_LT(0, w.rgets);
	EXPECT_EQ(0, w.rbad) TH_LOG("first wrong get: %d", w.rerr);
	check_failed_store(_metadata, m, &self->st);
	/* The last completed sync and the last completed put bound S. */
	rebind_healthy(_metadata, m, &self->st, m->durable, m->last_seq);
}

/*
 * Writes fail, and puts go on without a sync until the journal's buffer
 * is full and a put has to write it: that put fails with EIO and the store
 * is failed from then on.
 */
TEST_F_TIMEOUT(fault, error_writes_put, 120)
{
	struct model *m;
	u64 synced;
	u32 i;
	int err = 0;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	synced = m->durable;
	m->big = true;
	ASSERT_EQ(0, dm_flakey("error_writes"));
	/* At most 2 MiB of puts: more than any journal buffer of this store. */
	for (i = 0; i < 600 && !err; i++)
		err = m_put(m, self->st.s, i % m->nkeys);
	ASSERT_EQ(-EIO, err) TH_LOG("%u puts succeeded", i);
	TH_LOG("put %u failed with EIO", i);
	check_failed_store(_metadata, m, &self->st);
	rebind_healthy(_metadata, m, &self->st, synced, synced);
}

/*
 * Everything is synced, then writes fail; the final checkpoint of unbind
 * has no journal to write, so its first write is a node's: unbind reports
 * EIO, yet releases the device, and nothing is lost.
 */
TEST_F_TIMEOUT(fault, error_writes_checkpoint, 120)
{
	struct model *m;
	u64 synced;
	int err;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	synced = m->durable;
	ASSERT_EQ(0, dm_flakey("error_writes"));
	klog_clear();
	betrkv_close(self->st.s);
	self->st.s = NULL;
	EXPECT_EQ(-EIO, betrkv_unbind(self->st.idx));
	EXPECT_TRUE(klog_has("node write failed"));
	EXPECT_TRUE(klog_has("final checkpoint failed"));
	ASSERT_EQ(0, bound_count());
	/* The device is free: it binds again at once (writes still fail). */
	ASSERT_EQ(0, store_bind(&self->st, DM_DEV, false));
	check_exact(_metadata, m, self->st.s);
	EXPECT_EQ(BETRKV_STATE_LIVE, store_state(&self->st));
	err = m_put(m, self->st.s, 0);	/* buffered: may not write yet */
	EXPECT_TRUE(err == 0 || err == -EIO) TH_LOG("put: %d", err);
	EXPECT_EQ(-EIO, m_sync(m, self->st.s));
	check_failed_store(_metadata, m, &self->st);
	rebind_healthy(_metadata, m, &self->st, synced, synced);
}

/*
 * drop_writes: every write and flush "succeeds" but nothing reaches the
 * media.  The store cannot notice (so every call must succeed).  What is
 * still provable:
 *
 * 1. Dropped until unbind (drop_writes_then_unbind).  The media then hold
 *    exactly what the writes that completed before the switch left: the
 *    state of a crash at the instant of the switch, with every write that
 *    completed before it on the media, which the disk model allows.  So a
 *    bind on the healthy device must succeed and show a prefix of the
 *    mutations ending at or after the last sync that completed before the
 *    switch, and at or before the last mutation completed before it.  The
 *    syncs that "completed" while writes were dropped promise nothing: the
 *    device broke the model (it acknowledged flushes it did not do).
 *
 * 2. Dropped for a while, then healthy again under the bound store
 *    (drop_writes_then_heal).  Now the media hold writes made after a hole:
 *    journal blocks chained to blocks that never landed, and a checkpoint
 *    whose table points at nodes that were "written" during the hole.  A
 *    slot the hole skipped holds whatever it held before: zeros, another
 *    node, or an older copy of the same node under the same ID, which
 *    passes every check (its checksum, location, ID and length are all
 *    right).  So keys may come back absent or with any older version, even
 *    keys synced before the hole, and bind may fail.  What stays provable
 *    is what checksums give: bind succeeds or fails with EUCLEAN or EIO;
 *    a get returns ENOENT, EIO, EUCLEAN, or a value that was written for
 *    that very key at some point, byte for byte; a scan returns only such
 *    pairs, in order; and nothing oopses or hangs.
 */
TEST_F_TIMEOUT(fault, drop_writes_then_unbind, 120)
{
	struct model *m;
	u64 synced, before, cps;
	u32 i;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	synced = m->durable;
	for (i = 200; i < 230; i++)
		ASSERT_EQ(0, m_put(m, self->st.s, i));
	before = m->last_seq;

	ASSERT_EQ(0, dm_flakey("drop_writes"));
	cps = store_checkpoints(&self->st);
	m->big = true;
	for (i = 0; i < 12; i++) {	/* ~1 MiB: checkpoints, splits */
		ASSERT_EQ(0, m_batch(m, self->st.s, i * 25, 25, 1));
		ASSERT_EQ(0, m_del(m, self->st.s, i * 7));
		ASSERT_EQ(0, m_sync(m, self->st.s));
	}
	EXPECT_LT(cps, store_checkpoints(&self->st));
	EXPECT_EQ(BETRKV_STATE_LIVE, store_state(&self->st));
	check_exact(_metadata, m, self->st.s);
	ASSERT_EQ(0, store_unbind(&self->st));

	ASSERT_EQ(0, dm_linear(false));
	ASSERT_EQ(0, store_bind(&self->st, DM_DEV, false));
	ASSERT_NE(0, check_prefix(_metadata, m, self->st.s, synced, before));
	check_scan(_metadata, m, self->st.s);
	/* And it goes on as a normal store. */
	rebind_healthy(_metadata, m, &self->st, m->last_seq, m->last_seq);
}

TEST_F_TIMEOUT(fault, drop_writes_then_heal, 120)
{
	static u8 buf[BETRKV_VALUE_MAX];
	u32 i, ver, n_ok = 0, n_absent = 0, n_err = 0, n_latest = 0, bad = 0;
	struct betrkv_iter *it;
	const void *k, *v;
	struct model *m;
	size_t kl, vl, len;
	u64 cps;
	int err, r;

	NEED_DM();

	start_flakey_store(_metadata, self, BETRKV_JOURNAL_SIZE_MIN);
	m = self->m;
	ASSERT_EQ(0, dm_flakey("drop_writes"));
	cps = store_checkpoints(&self->st);
	m->big = true;
	for (i = 0; i < 12; i++) {	/* ~1 MiB: checkpoints, splits */
		ASSERT_EQ(0, m_batch(m, self->st.s, i * 25, 25, 1));
		ASSERT_EQ(0, m_del(m, self->st.s, i * 11));
		ASSERT_EQ(0, m_sync(m, self->st.s));
	}
	EXPECT_LT(cps, store_checkpoints(&self->st));
	/*
	 * Healthy again, still bound: a few small mutations, so that the
	 * final checkpoint rewrites only the nodes they touch and its table
	 * points at nodes the hole swallowed.
	 */
	ASSERT_EQ(0, dm_linear(false));
	m->big = false;
	ASSERT_EQ(0, m_put(m, self->st.s, 1));
	ASSERT_EQ(0, m_del(m, self->st.s, 2));
	ASSERT_EQ(0, m_sync(m, self->st.s));
	check_exact(_metadata, m, self->st.s);
	ASSERT_EQ(0, store_unbind(&self->st));

	err = store_bind(&self->st, DM_DEV, true);
	ASSERT_TRUE(err == 0 || err == -EUCLEAN || err == -EIO) TH_LOG("bind: %d", err);
	if (err) {
		TH_LOG("bind after the hole: %d", err);
		return;
	}
	for (i = 0; i < m->nkeys; i++) {
		r = get_key(self->st.s, i, buf, &len);
		n_latest += (r == -ENOENT && !m->ver[i]) ||
			    (!r && val_check(m, i, buf, len, &ver) && ver == m->ver[i]);
		if (r == -ENOENT) {
			n_absent++;
		} else if (r == -EIO || r == -EUCLEAN) {
			n_err++;
		} else if (!r && val_check(m, i, buf, len, &ver) && ver <= m->nver[i]) {
			n_ok++;
		} else if (bad++ < 5) {
			TH_LOG("key %u: get %d, \"%.12s\" (len %zu)", i, r,
			       r ? "" : (char *)buf, r ? 0 : len);
		}
	}
	EXPECT_EQ(0, bad);
	TH_LOG("after the hole: %u values, %u absent, %u errors; %u of %u keys as last written",
	       n_ok, n_absent, n_err, n_latest, m->nkeys);
	ASSERT_EQ(0, betrkv_iter_new(self->st.s, "\0", 1, NULL, 0, &it));
	i = 0;
	bad = 0;
	while ((r = betrkv_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		unsigned int ki;
		char key[16];

		if (kl != 7 || sscanf((const char *)k, "fk%5u", &ki) != 1 ||
		    ki >= m->nkeys || ki < i || key_make(ki, key) != kl ||
		    memcmp(k, key, kl) || !val_check(m, ki, v, vl, &ver) ||
		    ver > m->nver[ki]) {
			bad++;
			break;
		}
		i = ki + 1;
	}
	EXPECT_TRUE(r == 0 || r == -EIO || r == -EUCLEAN) TH_LOG("scan: %d", r);
	TH_LOG("scan: up to key %u, then %d", i, r);
	EXPECT_EQ(0, bad);
	betrkv_iter_free(it);
	EXPECT_EQ(0, store_unbind(&self->st));
}

/* ------------------------------------------------- reads that fail, corruption */

/*
 * A store on DISK with a tree of several leaves: 600 keys of 0.8-2 KiB,
 * some overwritten, some deleted, cleanly unbound; its tree decoded into
 * self->t and checked against the model.
 */
static void make_tree(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fault) *self)
{
	struct model *m;
	u32 i, leaves = 0;

	self->m = m = model_new(600, 800, 1200);
	ASSERT_EQ(0, store_format(DISK, BETRKV_JOURNAL_SIZE_MIN));
	ASSERT_EQ(0, store_bind(&self->st, DISK, false));
	for (i = 0; i < m->nkeys; i += 50)
		ASSERT_EQ(0, m_batch(m, self->st.s, i, 50, 1));
	ASSERT_EQ(0, m_batch(m, self->st.s, 3, 100, 4));
	for (i = 0; i < m->nkeys; i += 13)
		ASSERT_EQ(0, m_del(m, self->st.s, i));
	ASSERT_EQ(0, m_sync(m, self->st.s));
	ASSERT_EQ(0, store_unbind(&self->st));
	ASSERT_EQ(0, tree_load(DISK, &self->t));
	for (i = 0; i < self->t.nn; i++)
		leaves += betrkv_node_is_leaf(self->t.nodes[i].n);
	TH_LOG("tree: %u nodes, %u leaves, generation %llu", self->t.nn, leaves,
	       self->t.sb.generation);
	ASSERT_LE(3, leaves);
	check_replay(_metadata, m, &self->t);
}

/* The error target over one leaf's blocks, then over the root's. */
TEST_F_TIMEOUT(fault, error_target, 120)
{
	struct tnode *leaf, *root;
	struct betrkv_iter *it;
	const void *k, *v;
	size_t kl, vl;
	u32 hits, failed, pairs = 0;
	int idx, err, r;

	NEED_DM();

	make_tree(_metadata, self);
	idx = pick_leaf(self->m, &self->t, &hits);
	ASSERT_LE(0, idx);
	leaf = &self->t.nodes[idx];
	TH_LOG("leaf %llu (slot %u, %u bytes): %u gets read it", leaf->id,
	       leaf->slot, leaf->len, hits);
	ASSERT_EQ(0, dm_error_range(true, node_off(&self->t, leaf), leaf->len));
	ASSERT_EQ(0, store_bind(&self->st, DM_DEV, true));
	failed = check_victim(_metadata, self->m, &self->t, self->st.s, leaf->id,
			      -EIO, false);
	EXPECT_EQ(hits, failed);
	/* Again: a failed read leaves nothing behind in the cache. */
	failed = check_victim(_metadata, self->m, &self->t, self->st.s, leaf->id,
			      -EIO, false);
	EXPECT_EQ(hits, failed);
	/* A full scan reaches the leaf: EIO, after only right pairs. */
	ASSERT_EQ(0, betrkv_iter_new(self->st.s, "\0", 1, NULL, 0, &it));
	while ((r = betrkv_iter_next(it, &k, &kl, &v, &vl)) == 1)
		pairs++;
	EXPECT_EQ(-EIO, r);
	betrkv_iter_free(it);
	TH_LOG("scan: %u pairs, then %d", pairs, r);
	EXPECT_EQ(0, store_unbind(&self->st));

	/* The root: bind may read it (EIO); if not, every get fails. */
	root = tree_node(&self->t, self->t.sb.cp.root);
	ASSERT_NE(NULL, root);
	ASSERT_EQ(0, dm_error_range(false, node_off(&self->t, root), root->len));
	err = store_bind(&self->st, DM_DEV, true);
	ASSERT_TRUE(err == 0 || err == -EIO) TH_LOG("bind: %d", err);
	TH_LOG("root %llu unreadable: bind %d", root->id, err);
	if (!err) {
		failed = check_victim(_metadata, self->m, &self->t, self->st.s,
				      root->id, -EIO, false);
		EXPECT_EQ(self->m->nkeys, failed);
		EXPECT_EQ(0, store_unbind(&self->st));
	}

	/* The media were never touched: all is there through a plain table. */
	ASSERT_EQ(0, dm_linear(false));
	ASSERT_EQ(0, store_bind(&self->st, DM_DEV, false));
	check_exact(_metadata, self->m, self->st.s);
	check_scan(_metadata, self->m, self->st.s);
	EXPECT_EQ(0, store_unbind(&self->st));
}

/* One superblock copy flipped: bind falls back to the other; both: EUCLEAN. */
TEST_F_TIMEOUT(fault, flip_superblock, 120)
{
	struct betrkv_status_args sta;
	struct betrkv_sb sb[2], scratch;
	unsigned int newest;

	make_tree(_metadata, self);
	ASSERT_EQ(0, sb_read(DISK, 0, &sb[0]));
	ASSERT_EQ(0, sb_read(DISK, 1, &sb[1]));
	newest = sb[1].generation > sb[0].generation;
	ASSERT_EQ(newest, self->t.sb_slot);
	ASSERT_EQ(sb[newest].generation, sb[!newest].generation + 1);

	dev_flip(DISK, newest, 64);
	ASSERT_NE(0, sb_read(DISK, newest, &scratch));
	klog_clear();
	ASSERT_EQ(0, store_bind(&self->st, DISK, true));
	EXPECT_TRUE(klog_has("unusable"));
	ASSERT_EQ(0, betrkv_status(self->st.idx, &sta));
	EXPECT_EQ(sb[!newest].generation, sta.generation);
	EXPECT_EQ(!newest, sta.sb_slot);
	/* The older checkpoint and the journal after it: every key. */
	check_exact(_metadata, self->m, self->st.s);
	check_scan(_metadata, self->m, self->st.s);
	EXPECT_EQ(0, store_unbind(&self->st));

	dev_flip(DISK, !newest, 64);
	klog_clear();
	EXPECT_EQ(-EUCLEAN, store_bind(&self->st, DISK, true));
	EXPECT_TRUE(klog_has("both superblock copies are corrupt"));
	EXPECT_EQ(0, bound_count());

	dev_flip(DISK, 0, 64);
	dev_flip(DISK, 1, 64);
	ASSERT_EQ(0, store_bind(&self->st, DISK, false));
	ASSERT_EQ(0, betrkv_status(self->st.idx, &sta));
	EXPECT_EQ(sb[newest].generation, sta.generation);
	check_exact(_metadata, self->m, self->st.s);
	EXPECT_EQ(0, store_unbind(&self->st));
}

/* A bit of one leaf's header: every get reading that leaf is EUCLEAN. */
TEST_F_TIMEOUT(fault, flip_node_header, 120)
{
	struct tnode *leaf;
	u64 blk;
	u32 hits, failed;
	int idx;

	make_tree(_metadata, self);
	idx = pick_leaf(self->m, &self->t, &hits);
	ASSERT_LE(0, idx);
	leaf = &self->t.nodes[idx];
	blk = node_off(&self->t, leaf) / BETRKV_BLOCK_SIZE;
	dev_flip(DISK, blk, 24);		/* the node header's height */
	klog_clear();
	ASSERT_EQ(0, store_bind(&self->st, DISK, true));
	failed = check_victim(_metadata, self->m, &self->t, self->st.s, leaf->id,
			      -EUCLEAN, false);
	EXPECT_EQ(hits, failed);
	EXPECT_TRUE(klog_has("is corrupt"));
	EXPECT_EQ(0, store_unbind(&self->st));

	dev_flip(DISK, blk, 24);
	ASSERT_EQ(0, store_bind(&self->st, DISK, true));
	check_exact(_metadata, self->m, self->st.s);
	EXPECT_EQ(0, store_unbind(&self->st));
}

/*
 * A bit inside one value stored in a leaf: the get of that key is EUCLEAN;
 * the other gets reading the leaf are EUCLEAN or right (a store may check
 * only the segment a get needs); all other gets are right.
 */
TEST_F_TIMEOUT(fault, flip_node_value, 120)
{
	static u8 want[BETRKV_VALUE_MAX];
	const struct betrkv_msg *f;
	struct tnode *leaf = NULL;
	u32 i, plen, wl;
	u64 path[16], off = 0, blk;
	u8 *raw, *hit = NULL;
	size_t len;

	make_tree(_metadata, self);
	/* A key whose get ends in a leaf holding its value. */
	for (i = 1; i < self->m->nkeys && !hit; i++) {
		ASSERT_EQ(0, tree_get(&self->t, i, path, &plen, &f));
		leaf = tree_node(&self->t, path[plen - 1]);
		if (!f || !betrkv_node_is_leaf(leaf->n) || f->type != BETRKV_OP_PUT)
			continue;
		wl = val_make(self->m, i, self->m->ver[i], want);
		raw = malloc(leaf->len);
		raw_io(DISK, false, node_off(&self->t, leaf), raw, leaf->len);
		hit = memmem(raw, leaf->len, want, wl);
		if (hit)
			off = node_off(&self->t, leaf) + (hit - raw) + wl / 2;
		free(raw);
	}
	ASSERT_NE(NULL, hit);
	i--;
	TH_LOG("key %u: value byte at %llu in leaf %llu", i, off, leaf->id);
	blk = off / BETRKV_BLOCK_SIZE;
	dev_flip(DISK, blk, off % BETRKV_BLOCK_SIZE);
	klog_clear();
	ASSERT_EQ(0, store_bind(&self->st, DISK, true));
	EXPECT_EQ(-EUCLEAN, get_key(self->st.s, i, want, &len));
	check_victim(_metadata, self->m, &self->t, self->st.s, leaf->id, -EUCLEAN,
		     true);
	EXPECT_EQ(-EUCLEAN, get_key(self->st.s, i, want, &len));
	EXPECT_TRUE(klog_has("is corrupt"));
	EXPECT_EQ(0, store_unbind(&self->st));

	dev_flip(DISK, blk, off % BETRKV_BLOCK_SIZE);
	ASSERT_EQ(0, store_bind(&self->st, DISK, true));
	check_exact(_metadata, self->m, self->st.s);
	EXPECT_EQ(0, store_unbind(&self->st));
}

/* A bit of the indirection table: bind fails with EUCLEAN, read-only or not. */
TEST_F_TIMEOUT(fault, flip_itable, 120)
{
	const struct betrkv_geometry *g;
	u64 blk;

	make_tree(_metadata, self);
	g = &self->t.sb.geo;
	blk = (g->itable_offset + self->t.sb.cp.itable_slot * g->itable_size) /
	      BETRKV_BLOCK_SIZE;
	dev_flip(DISK, blk, 100);
	klog_clear();
	EXPECT_EQ(-EUCLEAN, store_bind(&self->st, DISK, true));
	EXPECT_TRUE(klog_has("indirection table"));
	EXPECT_EQ(-EUCLEAN, store_bind(&self->st, DISK, false));
	EXPECT_EQ(0, bound_count());
	/* The last block of the table too. */
	dev_flip(DISK, blk, 100);
	blk += self->t.sb.cp.itable_bytes / BETRKV_BLOCK_SIZE - 1;
	dev_flip(DISK, blk, BETRKV_BLOCK_SIZE - 1);
	EXPECT_EQ(-EUCLEAN, store_bind(&self->st, DISK, true));
	EXPECT_EQ(0, bound_count());

	dev_flip(DISK, blk, BETRKV_BLOCK_SIZE - 1);
	ASSERT_EQ(0, store_bind(&self->st, DISK, false));
	check_exact(_metadata, self->m, self->st.s);
	ASSERT_EQ(0, m_put(self->m, self->st.s, 0));
	ASSERT_EQ(0, m_sync(self->m, self->st.s));
	EXPECT_EQ(0, store_unbind(&self->st));
}

TEST_HARNESS_MAIN
