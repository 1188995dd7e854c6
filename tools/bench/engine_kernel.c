// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench backend "betrkv-kernel": a store bound by the module,
 * through libbetrkv's ioctls, so that one driver measures the kernel path
 * and (backend "betrkv") the same engine core in userspace.
 *
 * --path names the bound store: "/dev/betrkvN", "betrkvN" or N.  Bind it
 * first (betrkvctl format/bind); the benchmark neither formats nor binds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "betrkv.h"
#include "cli.h"

struct engine {
	struct betrkv *s;
	enum sync_policy sync;
};

static struct engine *kb_open(const struct engine_config *cfg)
{
	struct engine *k = calloc(1, sizeof(*k));
	uint32_t index;
	int err;

	if (!k)
		return NULL;
	err = cli_parse_store(cfg->path, &index) ? -EINVAL :
	      betrkv_open(index, &k->s);
	if (err) {
		fprintf(stderr, "betrkv-kernel: %s: %s\n", cfg->path, betrkv_errstr(err));
		free(k);
		return NULL;
	}
	k->sync = cfg->sync;
	return k;
}

static int kb_synced(struct engine *k, int err)
{
	if (!err && k->sync == SYNC_EVERY_OP)
		err = betrkv_sync(k->s, NULL);
	return err;
}

static int kb_put(struct engine *k, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	return kb_synced(k, betrkv_put(k->s, key, klen, val, vlen, NULL));
}

static int kb_del(struct engine *k, const void *key, size_t klen)
{
	return kb_synced(k, betrkv_delete(k->s, key, klen, NULL));
}

static int kb_get(struct engine *k, const void *key, size_t klen, void *buf,
		  size_t size, size_t *vlen)
{
	int err = betrkv_get(k->s, key, klen, buf, size, vlen);

	return err == -ERANGE ? 0 : err;
}

static int kb_scan(struct engine *k, const void *start, size_t klen,
		   unsigned int max, scan_fn fn, void *arg)
{
	const void *key, *val;
	size_t kl, vl;
	struct betrkv_iter *it;
	unsigned int n = 0;
	int err;

	err = betrkv_iter_new(k->s, start, klen, NULL, 0, &it);
	if (err)
		return err;
	while (n < max && (err = betrkv_iter_next(it, &key, &kl, &val, &vl)) == 1) {
		n++;
		if (fn(key, kl, val, vl, arg))
			break;
	}
	betrkv_iter_free(it);
	return err < 0 ? err : (int)n;
}

static int kb_sync(struct engine *k)
{
	return betrkv_sync(k->s, NULL);
}

static int kb_stats(struct engine *k, struct engine_stats *st)
{
	struct betrkv_stats_args s;
	int err = betrkv_stats(k->s, &s);

	if (err)
		return err;
	st->bytes_written = s.node_bytes_written + s.journal_bytes_written +
			    s.itable_bytes_written + s.sb_writes * BETRKV_BLOCK_SIZE;
	st->bytes_read = s.node_bytes_read;
	st->cache_high_water = s.cache_high_water;
	return 0;
}

static void kb_close(struct engine *k)
{
	betrkv_close(k->s);
	free(k);
}

const struct engine_ops betrkv_kernel_engine = {
	.name = "betrkv-kernel",
	.open = kb_open,
	.put = kb_put,
	.get = kb_get,
	.del = kb_del,
	.scan = kb_scan,
	.sync = kb_sync,
	.stats = kb_stats,
	.close = kb_close,
};
