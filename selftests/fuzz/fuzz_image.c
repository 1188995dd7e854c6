// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: whole store images, checksum-valid but inconsistent
 * (spec section 3: a checksum-valid block is still untrusted in what it
 * says about other blocks).
 *
 * A store of height 2 is built once, deterministically: 9 leaves under 3
 * internal nodes under a root, with buffered puts and deletes at both
 * internal levels, written with image_edit.h and then changed once by the
 * engine under its tree verifier (crafted, since a node is at least 256
 * KiB: a tree the engine grows to height 2 is 2 MiB of leaves, too slow to
 * read per input).  Each input starts from that image (a memory device
 * that puts back what the last input wrote) and is read as a list of
 * mutations: child IDs (to the node itself, the root, any other node of
 * the tree: ancestor, sibling, another subtree's; or a missing ID),
 * pivots (a model key, a message's key, a neighbour's shortened or
 * lengthened), heights, children added and dropped, buffered messages and
 * leaf entries dropped or copied from another node, the root, two nodes'
 * slots swapped in the table, raw bytes of a node's header (height,
 * counts, lengths, child IDs, pivot keys and lengths, the segment table)
 * and of its segments (message types and lengths), sealed again.  The
 * nodes are written back with valid checksums and the store is opened,
 * read (gets, a scan of bounded limit and budget), changed (a small
 * batch), synced and closed.
 *
 * What must hold: every call returns 0 or a negative errno; no crash, hang,
 * sanitizer report or WARN_ON (userspace WARN_ON aborts); and every value a
 * get or scan returns is one the built store held for that key (any version
 * it wrote) or the one this input's batch put, unless segment bytes were
 * patched.
 */
#include <stdio.h>
#include <stdlib.h>

#include "user/dev_user.h"
#include "../userspace/engine_model.h"
#include "../image_edit.h"

#define MiB		(1ull << 20)
#define DEV_BYTES	(20 * MiB)
#define NLEAVES		9u
#define LEAF_KEYS	20u
#define NKEYS		(NLEAVES * LEAF_KEYS)
#define FANOUT		3u
#define NODES_MAX	32u
#define DIRTY_MAX	256u
#define MUTATIONS_MAX	16u
#define BATCH_VERSION	3u
#define BATCH_PUTS	2u

static const struct betrkv_engine_opts opts = {
	.cache_bytes = BETRKV_CACHE_NODES_MIN * BETRKV_NODE_SIZE_DEFAULT,
};

/*
 * The device: memory that remembers what each input wrote, so that
 * putting the built store back costs what the input changed.  Writes are
 * durable at once (no crash is simulated here).
 */
struct memdisk {
	struct betrkv_dev dev;
	u8 *image;
	u8 *pristine;		/* the built store */
	u64 dirty[DIRTY_MAX][2];
	u32 ndirty;		/* DIRTY_MAX + 1: everything */
};

static struct memdisk disk;
static u64 ids[NODES_MAX];		/* the built tree's nodes */
static u32 nids;

static int md_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len)
{
	memcpy(buf, disk.image + off, len);
	return 0;
}

static int md_write(struct betrkv_dev *dev, u64 off, const void *buf,
		    size_t len, unsigned int flags)
{
	if (disk.ndirty < DIRTY_MAX) {
		disk.dirty[disk.ndirty][0] = off;
		disk.dirty[disk.ndirty][1] = len;
	}
	disk.ndirty = min(disk.ndirty + 1, DIRTY_MAX + 1);
	memcpy(disk.image + off, buf, len);
	return 0;
}

static const struct betrkv_dev_ops md_ops = {
	.read = md_read, .write = md_write,
};

/* Put the built store back. */
static void md_restore(void)
{
	u32 i;

	if (disk.ndirty > DIRTY_MAX)
		memcpy(disk.image, disk.pristine, DEV_BYTES);
	for (i = 0; i < disk.ndirty && i < DIRTY_MAX; i++)
		memcpy(disk.image + disk.dirty[i][0],
		       disk.pristine + disk.dirty[i][0], disk.dirty[i][1]);
	disk.ndirty = 0;
}

static void md_init(void)
{
	disk.dev = (struct betrkv_dev){ .ops = &md_ops, .name = "fuzz-image",
		.size = DEV_BYTES, .block_size = 512 };
	disk.image = calloc(1, DEV_BYTES);
	disk.pristine = malloc(DEV_BYTES);
	if (!disk.image || !disk.pristine)
		abort();
}

/* The input, consumed from the front; zeroes once it runs out. */
struct fz {
	const u8 *p;
	size_t left;
};

static u32 fz_u8(struct fz *f)
{
	if (!f->left)
		return 0;
	f->left--;
	return *f->p++;
}

static u32 fz_u16(struct fz *f)
{
	return fz_u8(f) | fz_u8(f) << 8;
}

/* A byte of a node to change: in its header, or in segment @seg. */
struct patch {
	u32 idx;
	bool in_seg;
	u32 seg;
	u32 at;
	u8 xor;
};

/* One input's image: the nodes it decoded, and which it changed. */
struct edit {
	struct image im;
	struct betrkv_node *nodes[NODES_MAX];
	bool dirty[NODES_MAX];
	struct patch patches[MUTATIONS_MAX];
	u32 npatches;
	bool forged;			/* a segment patched: values too */
	u32 swaps[MUTATIONS_MAX][2];
	u32 nswaps;
	u32 batch_keys[BATCH_PUTS];
};

static void quiet(int level, const char *msg)
{
	if (getenv("BETRKV_TEST_LOG"))
		fprintf(stderr, "%s", msg);
}

static void check_ret(int ret)
{
	if (ret > 0 || ret < -4095)
		abort();
}

static u32 vlen_of(u32 i, u32 version)
{
	return 20 + (i * 7 + version * 13) % 200;
}

static struct betrkv_msg *model_msg(u32 i, u32 version, bool del)
{
	static u8 key[BETRKV_KEY_MAX], val[256];
	u32 vlen = del ? 0 : vlen_of(i, version);

	model_value(i, version, vlen, val);
	return betrkv_msg_new(del ? BETRKV_OP_DEL : BETRKV_OP_PUT, key,
			      model_key(i, key), val, vlen);
}

static struct betrkv_pivot *model_pivot(u32 i)
{
	static u8 key[BETRKV_KEY_MAX];

	return betrkv_pivot_new(key, model_key(i, key));
}

/* Leaf @j: keys [j * LEAF_KEYS, (j + 1) * LEAF_KEYS) at version 1. */
static u64 craft_leaf(struct image *im, u64 id, u32 j)
{
	struct betrkv_node *n = betrkv_node_alloc(id, 0);
	u32 i;

	for (i = j * LEAF_KEYS; i < (j + 1) * LEAF_KEYS; i++)
		betrkv_msgbuf_append(&n->entries, model_msg(i, 1, false));
	if (image_write_node(im, n))
		abort();
	betrkv_node_free(n);
	return id;
}

/*
 * A node of @height over leaves [@first, @first + FANOUT^height): version
 * 2 of keys 1 mod 3 buffered at height 1; at height 2, deletes of keys 4
 * mod 9 and version 2 of keys 2 mod 3, newer than all below.
 */
static u64 craft(struct image *im, u64 *id, u32 height, u32 first)
{
	struct betrkv_node *n = betrkv_node_alloc((*id)++, height);
	u32 span = height == 1 ? 1 : FANOUT, c, i;
	u64 ret = n->id;

	for (c = 0; c < FANOUT; c++) {
		n->children[c] = height == 1 ?
			craft_leaf(im, (*id)++, first + c) :
			craft(im, id, height - 1, first + c * span);
		if (c)
			n->pivots[c - 1] = model_pivot((first + c * span) * LEAF_KEYS);
		for (i = (first + c * span) * LEAF_KEYS;
		     i < (first + (c + 1) * span) * LEAF_KEYS; i++)
			if (height == 1 ? i % 3 == 1 : i % 9 == 4 || i % 3 == 2)
				betrkv_msgbuf_append(&n->bufs[c],
						     model_msg(i, 2, i % 9 == 4));
	}
	n->nchildren = FANOUT;
	if (image_write_node(im, n))
		abort();
	betrkv_node_free(n);
	return ret;
}

/* What the crafted store holds for key @i: its version, 0 if deleted. */
static u32 crafted_version(u32 i)
{
	return i % 9 == 4 ? 0 : i % 3 ? 2 : 1;
}

/* A store of one leaf, then a tree of height 2 crafted in its place. */
static void build(void)
{
	static u8 key[BETRKV_KEY_MAX], val[256];
	struct betrkv_engine *e;
	struct betrkv_op op;
	struct image im;
	struct betrkv_sb sb;
	u64 id;

	op = (struct betrkv_op){ .type = BETRKV_OP_PUT, .key = key,
		.klen = model_key(0, key), .val = val, .vlen = vlen_of(0, 1) };
	model_value(0, 1, op.vlen, val);
	if (betrkv_sb_format(&disk.dev, 0, 0, &sb) ||
	    betrkv_engine_open(&disk.dev, &opts, &e) ||
	    betrkv_engine_apply(e, &op, 1, NULL) || betrkv_engine_close(e) ||
	    image_open(&im, &disk.dev))
		abort();
	betrkv_itable_unmap(&im.it, im.sb.cp.root);
	id = im.sb.cp.next_node_id;
	im.sb.cp.root = craft(&im, &id, 2, 0);
	if (image_commit(&im))
		abort();
	image_close(&im);
}

/* The engine reads back what was crafted, and changes it under the verifier. */
static void check_build(void)
{
	static u8 key[BETRKV_KEY_MAX], want[256];
	struct betrkv_engine *e;
	struct betrkv_msg *v;
	struct betrkv_op op;
	u32 i, ver;
	int err;

	if (betrkv_engine_open(&disk.dev, &opts, &e))
		abort();
	for (i = 0; i < NKEYS; i++) {
		ver = crafted_version(i);
		err = model_get(e, key, model_key(i, key), &v);
		if (ver)
			model_value(i, ver, vlen_of(i, ver), want);
		if (ver ? err || v->vlen != vlen_of(i, ver) ||
			  memcmp(betrkv_msg_val(v), want, v->vlen) : err != -ENOENT)
			abort();
		if (!err)
			kfree(v);
	}
	/* A change that reaches the leaves: the verifier checks the tree. */
	op = (struct betrkv_op){ .type = BETRKV_OP_DEL, .key = key,
		.klen = model_key(NKEYS - 1, key) };
	betrkv_tree_verify = true;
	if (betrkv_engine_apply(e, &op, 1, NULL) || betrkv_engine_close(e))
		abort();
	betrkv_tree_verify = false;
}

/* Keep the built store: the bytes, and the IDs its table maps. */
static void snapshot(void)
{
	struct image im;
	u64 i;

	if (image_open(&im, &disk.dev))
		abort();
	for (i = 0; i < im.it.map.cap; i++) {
		if (!im.it.map.tab[i].id)
			continue;
		if (nids == NODES_MAX)
			abort();
		ids[nids++] = im.it.map.tab[i].id;
	}
	image_close(&im);
	memcpy(disk.pristine, disk.image, DEV_BYTES);
	disk.ndirty = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	betrkv_user_set_log(quiet);
	/* The verifier checks what the code made; these trees are crafted. */
	betrkv_tree_verify = false;
	md_init();
	build();
	check_build();
	snapshot();
	return 0;
}

/* Node @idx of the built tree, decoded once per input; NULL if it fails. */
static struct betrkv_node *node(struct edit *ed, u32 idx)
{
	if (!ed->nodes[idx] && image_read_node(&ed->im, ids[idx], &ed->nodes[idx]))
		ed->nodes[idx] = NULL;
	return ed->nodes[idx];
}

/* A node ID: another node of the tree, @self, the root or a missing one. */
static u64 pick_id(struct fz *f, struct edit *ed, u64 self)
{
	u32 sel = fz_u8(f);

	switch (sel % 4) {
	case 0:
		return self;
	case 1:
		return ed->im.sb.cp.root;
	case 2:
		return ed->im.sb.cp.next_node_id + sel / 4;
	default:
		return ids[sel / 4 % nids];
	}
}

/* A message of some node of the tree; NULL if it has none. */
static const struct betrkv_msg *pick_msg(struct fz *f, struct edit *ed)
{
	struct betrkv_node *n = node(ed, fz_u8(f) % nids);
	const struct betrkv_msgbuf *b;

	if (!n)
		return NULL;
	b = n->height ? &n->bufs[fz_u8(f) % n->nchildren] : &n->entries;
	return b->n ? b->msgs[fz_u16(f) % b->n] : NULL;
}

/* A key: a model key, a message's key, or a neighbour pivot cut or grown. */
static struct betrkv_pivot *pick_key(struct fz *f, struct edit *ed,
				     const struct betrkv_node *n, u32 i)
{
	static u8 key[BETRKV_KEY_MAX];
	const struct betrkv_pivot *p = n->pivots[i % (n->nchildren - 1)];
	const struct betrkv_msg *m;
	u32 len;

	switch (fz_u8(f) % 4) {
	case 0:
		return betrkv_pivot_new(key, model_key(fz_u16(f) % NKEYS, key));
	case 1:
		m = pick_msg(f, ed);
		return m ? betrkv_pivot_new(betrkv_msg_key(m), m->klen) : NULL;
	case 2:
		return betrkv_pivot_new(p->key, 1 + fz_u16(f) % p->len);
	default:
		len = min(p->len + 1 + fz_u16(f) % 64, BETRKV_KEY_MAX);
		memcpy(key, p->key, p->len);
		memset(key + p->len, fz_u8(f), len - p->len);
		return betrkv_pivot_new(key, len);
	}
}

static void set_pivot(struct betrkv_node *n, u32 i, struct betrkv_pivot *p)
{
	if (!p)
		return;
	kfree(n->pivots[i]);
	n->pivots[i] = p;
}

static void msgbuf_drop(struct betrkv_msgbuf *b, u32 at)
{
	b->bytes -= betrkv_msg_weight(b->msgs[at]);
	kfree(b->msgs[at]);
	memmove(&b->msgs[at], &b->msgs[at + 1], (b->n - at - 1) * sizeof(*b->msgs));
	b->n--;
}

/* Copy a message of the tree into @n: a leaf's entries, or its buffer. */
static void copy_msg(struct fz *f, struct edit *ed, struct betrkv_node *n)
{
	const struct betrkv_msg *m = pick_msg(f, ed);
	struct betrkv_msgbuf *b = &n->entries;
	struct betrkv_msg *dup;

	if (!m || (!n->height && m->type != BETRKV_OP_PUT))
		return;
	if (n->height)
		b = &n->bufs[betrkv_node_child_index(n, betrkv_msg_key(m), m->klen)];
	dup = betrkv_msg_dup(m);
	if (dup && betrkv_msgbuf_upsert(b, dup))
		kfree(dup);
}

static void drop_msg(struct fz *f, struct betrkv_node *n)
{
	struct betrkv_msgbuf *b = n->height ? &n->bufs[fz_u8(f) % n->nchildren] :
			       &n->entries;

	if (b->n)
		msgbuf_drop(b, fz_u16(f) % b->n);
}

/* A child right of child @i % (nchildren - 1), if a pivot was found. */
static void add_child(struct fz *f, struct edit *ed, struct betrkv_node *n,
		      u32 i)
{
	struct betrkv_pivot *p = pick_key(f, ed, n, i);
	u64 child = pick_id(f, ed, n->id);

	if (p)
		betrkv_node_insert_child(n, 1 + i % (n->nchildren - 1), p, child);
}

/* What an internal node's mutations change. */
static void mutate_internal(struct fz *f, struct edit *ed, struct betrkv_node *n,
			    u32 op)
{
	u32 i = fz_u8(f);

	switch (op) {
	case 0:
		n->children[i % n->nchildren] = pick_id(f, ed, n->id);
		break;
	case 1:
		if (n->nchildren > 1)
			set_pivot(n, i % (n->nchildren - 1), pick_key(f, ed, n, i));
		break;
	case 2:
		n->height = 1 + fz_u8(f) % BETRKV_HEIGHT_MAX;
		break;
	case 3:
		if (n->nchildren > 1)
			betrkv_node_remove_child(n, 1 + i % (n->nchildren - 1));
		break;
	default:
		if (n->nchildren > 1 && n->nchildren < BETRKV_FANOUT_MAX)
			add_child(f, ed, n, i);
	}
}

static void add_patch(struct fz *f, struct edit *ed, u32 idx, bool in_seg)
{
	struct patch *p = &ed->patches[ed->npatches++];

	*p = (struct patch){ .idx = idx, .in_seg = in_seg, .seg = fz_u8(f),
		.at = fz_u16(f), .xor = fz_u8(f) };
	ed->forged |= in_seg;
}

/* One mutation, its kind and target read from the input. */
static void mutate(struct fz *f, struct edit *ed)
{
	u32 op = fz_u8(f) % 11, idx = fz_u8(f) % nids;
	struct betrkv_node *n = node(ed, idx);

	if ((op == 7 || op == 10) && ed->npatches < MUTATIONS_MAX) {
		add_patch(f, ed, idx, op == 10);
	} else if (op == 8 && ed->nswaps < MUTATIONS_MAX) {
		ed->swaps[ed->nswaps][0] = idx;
		ed->swaps[ed->nswaps++][1] = fz_u8(f) % nids;
	} else if (op == 9) {
		ed->im.sb.cp.root = pick_id(f, ed, ids[idx]);
	} else if (n && (op == 5 || op == 6)) {
		if (op == 5)
			drop_msg(f, n);
		else
			copy_msg(f, ed, n);
		ed->dirty[idx] = true;
	} else if (n && n->height && op < 5) {
		mutate_internal(f, ed, n, op);
		ed->dirty[idx] = true;
	}
}

/* The salt of a segment's checksum (nodefmt.c). */
/*
 * Change a byte of segment @p->seg of the node in im->buf and the
 * checksum its header records for it (found by value: the segment
 * table's entry is the only place the header holds it).
 */
static void patch_seg(struct edit *ed, const struct patch *p,
		      const struct betrkv_itable_ent *ent)
{
	struct nf_seg_salt salt = { .id = cpu_to_le64(ids[p->idx]) };
	struct betrkv_node_hdr *h;
	__le32 old, new;
	const char *why;
	u8 *at;
	u32 s;

	if (betrkv_node_hdr_decode(ed->im.buf + ent->hdr, ent->len, ent->hdr,
				   ed->im.sb.uuid,
				   image_slot_off(&ed->im, ent->slot) /
				   BETRKV_BLOCK_SIZE, ids[p->idx], &h, &why))
		return;
	s = p->seg % h->nsegs;
	if (h->segs[s].len) {
		old = cpu_to_le32(h->segs[s].csum);
		ed->im.buf[h->segs[s].off + p->at % h->segs[s].len] ^= p->xor;
		memcpy(salt.uuid, ed->im.sb.uuid, sizeof(salt.uuid));
		salt.off = cpu_to_le32(h->segs[s].off);
		new = cpu_to_le32(betrkv_crc32c(&salt, sizeof(salt),
						ed->im.buf + h->segs[s].off,
						h->segs[s].len));
		at = memmem(ed->im.buf + ent->hdr, h->hdr_len, &old, sizeof(old));
		if (at)
			memcpy(at, &new, sizeof(new));
	}
	betrkv_node_hdr_free(h);
}

/* Patch a byte of a node past its block header, seal it again. */
static void patch(struct edit *ed, const struct patch *p)
{
	struct betrkv_itable_ent ent;
	u32 hdr_len;

	if (image_read_raw(&ed->im, ids[p->idx], &ent) ||
	    betrkv_node_hdr_len(ed->im.buf + ent.hdr, ent.len, ent.hdr, &hdr_len))
		return;
	if (p->in_seg)
		patch_seg(ed, p, &ent);
	else
		ed->im.buf[ent.hdr + sizeof(struct betrkv_block_header) +
			   p->at % (hdr_len - sizeof(struct betrkv_block_header))] ^= p->xor;
	image_reseal_raw(&ed->im, &ent);
}

/* Node @pair[0]'s ID maps to where @pair[1]'s was, and the other way. */
static void swap_slots(struct edit *ed, const u32 *pair)
{
	struct betrkv_itable_ent a, b;
	u64 id;

	if (betrkv_itable_lookup(&ed->im.it, ids[pair[0]], &a) ||
	    betrkv_itable_lookup(&ed->im.it, ids[pair[1]], &b))
		return;
	id = a.id;
	a.id = b.id;
	b.id = id;
	betrkv_itable_map(&ed->im.it, &a, BETRKV_ITABLE_LIVE);
	betrkv_itable_map(&ed->im.it, &b, BETRKV_ITABLE_LIVE);
}

/* Write what the input changed; nodes the encoder would refuse stay. */
static void write_back(struct edit *ed)
{
	const char *why;
	u32 i;

	for (i = 0; i < nids; i++)
		if (ed->dirty[i] && !betrkv_node_check_shape(ed->nodes[i], &why))
			image_write_node(&ed->im, ed->nodes[i]);
	for (i = 0; i < ed->npatches; i++)
		patch(ed, &ed->patches[i]);
	for (i = 0; i < ed->nswaps; i++)
		swap_slots(ed, ed->swaps[i]);
	if (image_commit(&ed->im))
		abort();
}

static bool in_batch(const struct edit *ed, u32 i)
{
	u32 b;

	for (b = 0; b < BATCH_PUTS; b++)
		if (ed->batch_keys[b] == i)
			return true;
	return false;
}

/*
 * The pair is one the built store held (any version) or this input's batch
 * put; after a patch of segment bytes, anything can be.
 */
static void check_pair(const struct edit *ed, const u8 *key, u32 klen,
		       const u8 *val, u32 vlen)
{
	static u8 want_key[BETRKV_KEY_MAX], want[256];
	u32 i, v;

	if (ed->forged)
		return;
	if (klen < 4)
		abort();
	i = (u32)key[0] << 24 | key[1] << 16 | key[2] << 8 | key[3];
	if (model_key(i, want_key) != klen || memcmp(key, want_key, klen))
		abort();
	for (v = 1; v <= BATCH_VERSION; v++) {
		if (v == BATCH_VERSION && !in_batch(ed, i))
			break;
		model_value(i, v, vlen_of(i, v), want);
		if (vlen == vlen_of(i, v) && !memcmp(val, want, vlen))
			return;
	}
	abort();
}

static void get_some(struct fz *f, struct edit *ed, struct betrkv_engine *e)
{
	static u8 key[BETRKV_KEY_MAX];
	struct betrkv_msg *v;
	u32 n, i;
	int err;

	for (n = 0; n < 4; n++) {
		i = fz_u16(f) % (NKEYS + 100);
		err = model_get(e, key, model_key(i, key), &v);
		check_ret(err);
		if (err)
			continue;
		check_pair(ed, key, v->klen, betrkv_msg_val(v), v->vlen);
		kfree(v);
	}
}

static void scan_some(struct fz *f, struct edit *ed, struct betrkv_engine *e)
{
	static u8 key[BETRKV_KEY_MAX];
	struct betrkv_range r = { .lo = key };
	struct betrkv_msgbuf out;
	const struct betrkv_msg *m;
	bool more;
	u32 i;
	int err;

	r.lolen = model_key(fz_u16(f) % NKEYS, key);
	betrkv_msgbuf_init(&out);
	err = betrkv_engine_scan(e, &r, fz_u8(f) & 1, 1 + fz_u8(f) % 64,
				 64 << 10, &out, &more);
	check_ret(err);
	for (i = 0; !err && i < out.n; i++) {
		m = out.msgs[i];
		check_pair(ed, betrkv_msg_key(m), m->klen, betrkv_msg_val(m),
			   m->vlen);
	}
	betrkv_msgbuf_free(&out);
}

/* Put key @i at @version (or delete it) in @op, with room at @key, @val. */
static void model_op(struct betrkv_op *op, u32 i, u32 version, bool del,
		     u8 *key, u8 *val)
{
	*op = (struct betrkv_op){ .type = del ? BETRKV_OP_DEL : BETRKV_OP_PUT,
		.key = key, .klen = model_key(i, key), .val = val };
	if (del)
		return;
	op->vlen = vlen_of(i, version);
	model_value(i, version, op->vlen, val);
}

/* Two puts and a delete. */
static void apply_some(struct fz *f, struct edit *ed, struct betrkv_engine *e)
{
	static u8 key[BATCH_PUTS + 1][BETRKV_KEY_MAX], val[BATCH_PUTS][256];
	struct betrkv_op ops[BATCH_PUTS + 1];
	u32 i;

	for (i = 0; i < BATCH_PUTS; i++) {
		ed->batch_keys[i] = fz_u16(f) % NKEYS;
		model_op(&ops[i], ed->batch_keys[i], BATCH_VERSION, false,
			 key[i], val[i]);
	}
	model_op(&ops[i], fz_u16(f) % NKEYS, 0, true, key[i], NULL);
	check_ret(betrkv_engine_apply(e, ops, BATCH_PUTS + 1, NULL));
}

/* Open the rewritten store, read, change, sync and close it. */
static void exercise(struct fz *f, struct edit *ed)
{
	struct betrkv_engine *e;
	int err;

	err = betrkv_engine_open(ed->im.dev, &opts, &e);
	check_ret(err);
	if (err)
		return;
	get_some(f, ed, e);
	scan_some(f, ed, e);
	apply_some(f, ed, e);
	get_some(f, ed, e);
	check_ret(betrkv_engine_sync(e, NULL));
	check_ret(betrkv_engine_close(e));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .p = data, .left = size };
	struct edit *ed = calloc(1, sizeof(*ed));
	u32 i, nmut = fz_u8(&f) % (MUTATIONS_MAX + 1);

	md_restore();
	if (!ed || image_open(&ed->im, &disk.dev))
		abort();
	memset(ed->batch_keys, 0xff, sizeof(ed->batch_keys));
	for (i = 0; i < nmut; i++)
		mutate(&f, ed);
	write_back(ed);
	for (i = 0; i < nids; i++)
		if (ed->nodes[i])
			betrkv_node_free(ed->nodes[i]);
	exercise(&f, ed);
	image_close(&ed->im);
	free(ed);
	return 0;
}
