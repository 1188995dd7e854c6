// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench backend "betrkv": the betrkv engine core built for
 * userspace, on a file or block device opened with O_DIRECT (flushes are
 * fdatasync).  The same core runs in the kernel module.
 *
 * A path without a betrkv store is formatted; a regular file that does not
 * exist is created large enough for the records, at three times their size
 * (copy-on-write keeps two checkpoints' nodes).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "engine.h"

struct engine {
	struct betrkv_dev *dev;
	struct betrkv_engine *e;
	enum sync_policy sync;
};

static void log_stderr(int level, const char *msg)
{
	if (level <= BETRKV_LOG_WARN)
		fprintf(stderr, "betrkv: %s\n", msg);
}

static int create_file(const struct engine_config *cfg)
{
	u64 size = 3 * cfg->records * (cfg->key_size + cfg->value_size + 16) +
		   (256ull << 20);
	struct stat st;
	int fd;

	if (!stat(cfg->path, &st))
		return 0;
	fd = open(cfg->path, O_CREAT | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, size)) {
		perror(cfg->path);
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

static struct engine *bk_open(const struct engine_config *cfg)
{
	struct betrkv_engine_opts opts = { .cache_bytes = cfg->cache_bytes,
					   .background = true };
	struct engine *b = calloc(1, sizeof(*b));
	struct betrkv_sb sb;
	unsigned int slot;
	int err;

	betrkv_user_set_log(log_stderr);
	if (!b || create_file(cfg))
		goto fail;
	b->sync = cfg->sync;
	err = betrkv_user_dev_open(cfg->path, false, true, &b->dev);
	if (!err) {
		/* An unformatted device is expected here: probe quietly. */
		betrkv_user_set_log(NULL);
		if (betrkv_sb_load(b->dev, &sb, &slot) == -ENODATA)
			err = betrkv_sb_format(b->dev, 0, 0, &sb);
		betrkv_user_set_log(log_stderr);
	}
	if (!err)
		err = betrkv_engine_open(b->dev, &opts, &b->e);
	if (!err)
		return b;
	fprintf(stderr, "betrkv: cannot open %s: %s\n", cfg->path, strerror(-err));
fail:
	if (b)
		betrkv_user_dev_close(b->dev);
	free(b);
	return NULL;
}

static int bk_apply(struct engine *b, u8 type, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	struct betrkv_op op = { .type = type, .key = key, .klen = klen,
				.val = val, .vlen = vlen };
	int err = betrkv_engine_apply(b->e, &op, 1, NULL);

	if (!err && b->sync == SYNC_EVERY_OP)
		err = betrkv_engine_sync(b->e, NULL);
	return err;
}

static int bk_put(struct engine *b, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	return bk_apply(b, BETRKV_OP_PUT, key, klen, val, vlen);
}

static int bk_del(struct engine *b, const void *key, size_t klen)
{
	return bk_apply(b, BETRKV_OP_DEL, key, klen, NULL, 0);
}

static int bk_get(struct engine *b, const void *key, size_t klen, void *buf,
		  size_t size, size_t *vlen)
{
	struct betrkv_val v = { .buf = buf, .cap = min_t(size_t, size, U32_MAX) };
	int err = betrkv_engine_get(b->e, key, klen, &v);

	if (err && err != -ERANGE)
		return err;
	*vlen = v.len;
	return 0;
}

/* Bytes of pairs one engine scan call collects. */
#define BK_SCAN_BUDGET	(1u << 20)

/* @max pairs from @start: engine scans resumed after the last pair seen. */
static int bk_scan(struct engine *b, const void *start, size_t klen,
		   unsigned int max, scan_fn fn, void *arg)
{
	struct betrkv_range r = { .lo = start, .lolen = klen };
	struct betrkv_msg *last = NULL;
	struct betrkv_msgbuf out;
	bool more = true, excl = false, stop = false;
	unsigned int seen = 0;
	int err = 0;
	u32 i;

	while (!err && !stop && more && seen < max) {
		betrkv_msgbuf_init(&out);
		err = betrkv_engine_scan(b->e, &r, excl, max - seen, BK_SCAN_BUDGET,
					 &out, &more);
		for (i = 0; !err && !stop && i < out.n; i++)
			stop = fn(out.msgs[i]->data, out.msgs[i]->klen,
				  betrkv_msg_val(out.msgs[i]), out.msgs[i]->vlen,
				  arg);
		seen += i - stop;
		kfree(last);
		last = out.n ? betrkv_msg_dup(out.msgs[out.n - 1]) : NULL;
		if (out.n && !last)
			err = -ENOMEM;
		betrkv_msgbuf_free(&out);
		if (!last)
			break;
		r.lo = betrkv_msg_key(last);
		r.lolen = last->klen;
		excl = true;
	}
	kfree(last);
	return err ? err : (int)seen;
}

static int bk_sync(struct engine *b)
{
	return betrkv_engine_sync(b->e, NULL);
}

/*
 * Reads: the nodes' (whole nodes, headers and segments).  The engine
 * reads its superblock, indirection table and journal only at open.
 */
static int bk_stats(struct engine *b, struct engine_stats *st)
{
	struct betrkv_engine_stats s;

	betrkv_engine_stats(b->e, &s);
	st->bytes_written = s.cache.node_bytes_written + s.journal.bytes_written +
			    s.itable_bytes_written + s.sb_writes * BETRKV_BLOCK_SIZE;
	st->bytes_read = s.cache.node_bytes_read;
	st->cache_high_water = s.cache.high_water;
	return 0;
}

static void bk_close(struct engine *b)
{
	betrkv_engine_close(b->e);
	betrkv_user_dev_close(b->dev);
	free(b);
}

const struct engine_ops betrkv_engine = {
	.name = "betrkv",
	.open = bk_open,
	.put = bk_put,
	.get = bk_get,
	.del = bk_del,
	.scan = bk_scan,
	.sync = bk_sync,
	.stats = bk_stats,
	.close = bk_close,
};
