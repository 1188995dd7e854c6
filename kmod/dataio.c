// SPDX-License-Identifier: GPL-2.0
/*
 * The data path: ioctls on /dev/betrkv<N>.
 *
 * Every request is copied in whole (extensible structs, see uargs.c), its
 * lengths checked against the limits before anything is allocated, and
 * keys and values copied once into kernel memory; the engine then works on
 * kernel memory only.  Mutations and sync need the device open for
 * writing.  Output structs are built from zero before they are copied out.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "store.h"
#include "uargs.h"

/* Most pairs one SCAN returns, whatever the caller asks. */
#define SCAN_PAIRS_MAX	4096u
/* Most bytes of results one SCAN builds in kernel memory. */
#define SCAN_BYTES_MAX	(1u << 20)

static int check_key_len(u32 len)
{
	if (!len)
		return -EINVAL;
	return len > BETRKV_KEY_MAX ? -E2BIG : 0;
}

static int data_get(struct betrkv_store *store, void __user *uarg)
{
	struct betrkv_val v = { };
	struct betrkv_kv_args a;
	u8 *key;
	int usize, err;

	usize = betrkv_args_in(&a, sizeof(a), uarg, "get");
	if (usize < 0)
		return usize;
	if (a.flags || a.seq || !betrkv_all_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	err = check_key_len(a.key_len);
	if (err)
		return err;
	key = betrkv_bytes_in(a.key, a.key_len);
	if (IS_ERR(key))
		return PTR_ERR(key);
	/* The value only, allocated at its length: the caller's cap may be huge. */
	v.cap = a.value_len;
	err = betrkv_engine_get(store->engine, key, a.key_len, &v);
	kvfree(key);
	if (err && err != -ERANGE)
		return err;
	if (!err && copy_to_user(u64_to_user_ptr(a.value), v.buf, v.len))
		err = -EFAULT;
	kvfree(v.buf);
	if (err == -EFAULT)
		return err;
	a.value_len = v.len;
	return betrkv_args_out(uarg, &a, sizeof(a), usize) ?: err;
}

/* PUT and DELETE: one mutation. */
static int data_mutate(struct betrkv_store *store, void __user *uarg, u8 type)
{
	struct betrkv_op op = { .type = type };
	struct betrkv_kv_args a;
	u8 *key, *val = NULL;
	int usize, err;

	usize = betrkv_args_in(&a, sizeof(a), uarg,
			       type == BETRKV_OP_PUT ? "put" : "delete");
	if (usize < 0)
		return usize;
	if (a.flags || a.seq || !betrkv_all_zero(a.reserved, sizeof(a.reserved)) ||
	    (type == BETRKV_OP_DEL && (a.value_len || a.value)))
		return -EINVAL;
	err = check_key_len(a.key_len);
	if (err)
		return err;
	if (a.value_len > BETRKV_VALUE_MAX)
		return -E2BIG;
	key = betrkv_bytes_in(a.key, a.key_len);
	if (IS_ERR(key))
		return PTR_ERR(key);
	if (type == BETRKV_OP_PUT) {
		val = betrkv_bytes_in(a.value, a.value_len);
		if (IS_ERR(val)) {
			kvfree(key);
			return PTR_ERR(val);
		}
	}
	op.key = key;
	op.klen = a.key_len;
	op.val = val;
	op.vlen = a.value_len;
	err = betrkv_engine_apply(store->engine, &op, 1, &a.seq);
	kvfree(key);
	kvfree(val);
	return err ?: betrkv_args_out(uarg, &a, sizeof(a), usize);
}

/* Check a batch's ops and copy all their keys and values into one blob. */
static int batch_in(const struct betrkv_batch_op *uops, u32 nops,
		    struct betrkv_op *ops, u8 **blobp)
{
	u64 bytes = 0, off = 0;
	u32 i;
	u8 *blob;
	int err;

	for (i = 0; i < nops; i++) {
		const struct betrkv_batch_op *o = &uops[i];

		if ((o->type != BETRKV_PUT && o->type != BETRKV_DELETE) || o->pad ||
		    (o->type == BETRKV_DELETE && (o->value_len || o->value)))
			return -EINVAL;
		err = check_key_len(o->key_len);
		if (err)
			return err;
		if (o->value_len > BETRKV_VALUE_MAX)
			return -E2BIG;
		bytes += o->key_len + o->value_len;
	}
	if (bytes > BETRKV_BATCH_BYTES_MAX)
		return -E2BIG;
	blob = kvmalloc(max_t(u64, bytes, 1), GFP_KERNEL);
	if (!blob)
		return -ENOMEM;
	for (i = 0; i < nops; i++) {
		const struct betrkv_batch_op *o = &uops[i];

		ops[i] = (struct betrkv_op){
			.type = o->type == BETRKV_PUT ? BETRKV_OP_PUT : BETRKV_OP_DEL,
			.key = blob + off, .klen = o->key_len,
			.val = blob + off + o->key_len, .vlen = o->value_len };
		if (copy_from_user(blob + off, u64_to_user_ptr(o->key), o->key_len) ||
		    copy_from_user(blob + off + o->key_len,
				   u64_to_user_ptr(o->value), o->value_len)) {
			kvfree(blob);
			return -EFAULT;
		}
		off += o->key_len + o->value_len;
	}
	*blobp = blob;
	return 0;
}

static int data_batch(struct betrkv_store *store, void __user *uarg)
{
	struct betrkv_batch_op *uops;
	struct betrkv_batch_args a;
	struct betrkv_op *ops;
	u8 *blob = NULL;
	int usize, err;

	usize = betrkv_args_in(&a, sizeof(a), uarg, "batch");
	if (usize < 0)
		return usize;
	if (a.flags || a.pad || a.seq || !betrkv_all_zero(a.reserved, sizeof(a.reserved)) ||
	    !a.nops)
		return -EINVAL;
	if (a.nops > BETRKV_BATCH_OPS_MAX)
		return -E2BIG;
	uops = vmemdup_user(u64_to_user_ptr(a.ops), a.nops * sizeof(*uops));
	if (IS_ERR(uops))
		return PTR_ERR(uops);
	ops = kvmalloc_array(a.nops, sizeof(*ops), GFP_KERNEL);
	err = ops ? batch_in(uops, a.nops, ops, &blob) : -ENOMEM;
	kvfree(uops);
	if (!err)
		err = betrkv_engine_apply(store->engine, ops, a.nops, &a.seq);
	kvfree(ops);
	kvfree(blob);
	return err ?: betrkv_args_out(uarg, &a, sizeof(a), usize);
}

/* Pack pairs as struct betrkv_scan_rec + key + value, each 8-aligned. */
static u32 scan_pack(const struct betrkv_msgbuf *out, u8 *buf, u32 cap,
		     u32 *used)
{
	u32 i, off = 0, len;

	for (i = 0; i < out->n; i++) {
		const struct betrkv_msg *m = out->msgs[i];
		struct betrkv_scan_rec rec = { .key_len = m->klen, .value_len = m->vlen };

		len = ALIGN(sizeof(rec) + m->klen + m->vlen, 8);
		if (len > cap - off)
			break;
		memcpy(buf + off, &rec, sizeof(rec));
		memcpy(buf + off + sizeof(rec), m->data, m->klen + m->vlen);
		memset(buf + off + sizeof(rec) + m->klen + m->vlen, 0,
		       len - sizeof(rec) - m->klen - m->vlen);
		off += len;
	}
	*used = off;
	return i;
}

static int scan_range(const struct betrkv_scan_args *a, struct betrkv_range *r,
		      u8 **lo, u8 **hi)
{
	int err = check_key_len(a->start_len);

	if (err)
		return err;
	*lo = betrkv_bytes_in(a->start, a->start_len);
	if (IS_ERR(*lo))
		return PTR_ERR(*lo);
	*r = (struct betrkv_range){ .lo = *lo, .lolen = a->start_len };
	*hi = NULL;
	if (a->flags & BETRKV_SCAN_TO_END)
		return 0;
	err = check_key_len(a->end_len);
	if (err)
		return err;
	*hi = betrkv_bytes_in(a->end, a->end_len);
	if (IS_ERR(*hi)) {
		err = PTR_ERR(*hi);
		*hi = NULL;
		return err;
	}
	r->hi = *hi;
	r->hilen = a->end_len;
	if (betrkv_key_cmp(r->hi, r->hilen, r->lo, r->lolen) < 0)
		return -EINVAL;
	return 0;
}

static int data_scan(struct betrkv_store *store, void __user *uarg)
{
	struct betrkv_scan_args a;
	struct betrkv_msgbuf out;
	struct betrkv_range r;
	u8 *lo = NULL, *hi = NULL, *buf = NULL;
	u32 used = 0, cap;
	bool more = false;
	int usize, err;

	usize = betrkv_args_in(&a, sizeof(a), uarg, "scan");
	if (usize < 0)
		return usize;
	if ((a.flags & ~BETRKV_SCAN_FLAGS) || a.count || a.more || !a.max_pairs ||
	    !betrkv_all_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	betrkv_msgbuf_init(&out);
	err = scan_range(&a, &r, &lo, &hi);
	if (err)
		goto out;
	/*
	 * The pairs collected weigh at most what the buffer takes (the first
	 * one aside), so the request holds at most about three times
	 * min(buf_len, SCAN_BYTES_MAX) plus two of the largest pairs: the
	 * buffer, and what betrkv_engine_scan() holds.
	 */
	cap = min(a.buf_len, SCAN_BYTES_MAX);
	buf = kvmalloc(max(cap, 1u), GFP_KERNEL);
	err = buf ? betrkv_engine_scan(store->engine, &r, a.flags & BETRKV_SCAN_AFTER,
				       min(a.max_pairs, SCAN_PAIRS_MAX),
				       max(cap, 1u), &out, &more) :
		    -ENOMEM;
	if (err)
		goto out;
	a.count = scan_pack(&out, buf, cap, &used);
	a.more = more || a.count < out.n;
	err = out.n && !a.count ? -ERANGE : 0;
	if (!err && copy_to_user(u64_to_user_ptr(a.buf), buf, used))
		err = -EFAULT;
	if (!err)
		err = betrkv_args_out(uarg, &a, sizeof(a), usize);
out:
	betrkv_msgbuf_free(&out);
	kvfree(buf);
	if (!IS_ERR_OR_NULL(lo))
		kvfree(lo);
	kvfree(hi);
	return err;
}

static int data_sync(struct betrkv_store *store, void __user *uarg)
{
	struct betrkv_sync_args a;
	int usize, err;

	usize = betrkv_args_in(&a, sizeof(a), uarg, "sync");
	if (usize < 0)
		return usize;
	if (a.flags || a.durable_seq || !betrkv_all_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	err = betrkv_engine_sync(store->engine, &a.durable_seq);
	return err ?: betrkv_args_out(uarg, &a, sizeof(a), usize);
}

/**
 * betrkv_store_stats() - the STATS fields of a store.
 * @store: the store
 * @a: receives them (every field written)
 */
void betrkv_store_stats(struct betrkv_store *store, struct betrkv_stats_args *a)
{
	struct betrkv_engine_stats st;

	betrkv_engine_stats(store->engine, &st);
	*a = (struct betrkv_stats_args){
		.size = sizeof(*a),
		.puts = st.puts, .deletes = st.deletes, .batches = st.batches,
		.gets = st.gets, .scans = st.scans, .syncs = st.syncs,
		.checkpoints = st.checkpoints, .seq = st.seq,
		.durable_seq = st.durable_seq, .height = st.height,
		.nodes = st.nodes, .slots_used = st.slots_used,
		.slots_total = st.slots_total, .node_size = st.node_size,
		.cache_hits = st.cache.hits, .cache_misses = st.cache.misses,
		.cache_evictions = st.cache.evictions,
		.cache_bytes = st.cache_bytes, .cache_used = st.cache_used,
		.cache_high_water = st.cache.high_water,
		.node_reads = st.cache.node_reads,
		.node_bytes_read = st.cache.node_bytes_read,
		.node_writes = st.cache.node_writes,
		.node_bytes_written = st.cache.node_bytes_written,
		.journal_blocks_written = st.journal.blocks_written,
		.journal_bytes_written = st.journal.bytes_written,
		.journal_flushes = st.journal.flushes,
		.sb_writes = st.sb_writes,
		.itable_bytes_written = st.itable_bytes_written,
		.key_max = BETRKV_KEY_MAX, .value_max = BETRKV_VALUE_MAX,
		.node_appends = st.cache.node_appends,
		.writebacks = st.cache.writebacks,
		.cp_forced = st.cache.cp_forced,
		.bloom_skips = st.cache.bloom_skips,
	};
}

static int data_stats(struct betrkv_store *store, void __user *uarg)
{
	struct betrkv_stats_args a;
	int usize;

	usize = betrkv_args_in(&a, sizeof(a), uarg, "stats");
	if (usize < 0)
		return usize;
	if (a.flags)
		return -EINVAL;
	betrkv_store_stats(store, &a);
	return betrkv_args_out(uarg, &a, sizeof(a), usize);
}

/**
 * betrkv_data_ioctl() - an ioctl on /dev/betrkv<N>.
 * @file: the open store device
 * @cmd: the command (matched without its size bits)
 * @arg: user pointer to the argument struct
 *
 * Return: 0 or a negative errno; -ENOTTY for unknown commands, -EBADF for
 * mutations and sync on a device not open for writing.
 */
long betrkv_data_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct betrkv_store *store = file->private_data;
	void __user *uarg = (void __user *)arg;
	bool writer = file->f_mode & FMODE_WRITE;

	switch (BETRKV_IOC_NOSIZE(cmd)) {
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_GET):
		return data_get(store, uarg);
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_PUT):
		return writer ? data_mutate(store, uarg, BETRKV_OP_PUT) : -EBADF;
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_DELETE):
		return writer ? data_mutate(store, uarg, BETRKV_OP_DEL) : -EBADF;
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_BATCH):
		return writer ? data_batch(store, uarg) : -EBADF;
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_SCAN):
		return data_scan(store, uarg);
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_SYNC):
		return writer ? data_sync(store, uarg) : -EBADF;
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_STATS):
		return data_stats(store, uarg);
	}
	return -ENOTTY;
}
