// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: LMDB.
 *
 * One environment in the directory cfg->path, its main database, a write
 * transaction per put/delete and a read transaction per get/scan.  LMDB
 * has no cache of its own: reads go through its read-only memory map,
 * that is the page cache, which a --cgroup-mem limit constrains.
 * MDB_NORDAHEAD is set, as LMDB advises for databases larger than RAM.
 * The map is sized to four times the expected data plus 1 GiB.
 *
 * Sync: SYNC_EVERY_OP opens the environment without MDB_NOSYNC, so each
 * commit fdatasyncs the data file, writes the meta page and fdatasyncs
 * again before it returns; otherwise MDB_NOSYNC is set, commits only
 * write to the page cache, and sync() is mdb_env_sync(force = 1), one
 * fdatasync of the data file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lmdb.h>

#include "bench.h"

struct engine {
	MDB_env *env;
	MDB_dbi dbi;
};

/* Report an LMDB error; a negative errno. */
static int lmdb_error(const char *what, int rc)
{
	if (!rc)
		return 0;
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
	return rc > 0 ? -rc : -EIO;
}

static size_t lmdb_map_size(const struct engine_config *cfg)
{
	size_t data = cfg->records * (cfg->key_size + cfg->value_size + 64);

	return 4 * data + (1UL << 30);
}

static int lmdb_setup(struct engine *e, const struct engine_config *cfg)
{
	unsigned int flags = MDB_NORDAHEAD;
	MDB_txn *txn;
	int rc;

	if (cfg->sync != SYNC_EVERY_OP)
		flags |= MDB_NOSYNC;
	if (mkdir(cfg->path, 0755) && errno != EEXIST)
		return lmdb_error("mkdir", errno);
	rc = mdb_env_set_mapsize(e->env, lmdb_map_size(cfg));
	if (!rc)
		rc = mdb_env_set_maxreaders(e->env, cfg->threads + 16);
	if (!rc)
		rc = mdb_env_open(e->env, cfg->path, flags, 0644);
	if (!rc)
		rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc)
		return lmdb_error("open", rc);
	rc = mdb_dbi_open(txn, NULL, 0, &e->dbi);
	if (!rc)
		return lmdb_error("open", mdb_txn_commit(txn));
	mdb_txn_abort(txn);
	return lmdb_error("open", rc);
}

static struct engine *lmdb_open(const struct engine_config *cfg)
{
	struct engine *e = calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return NULL;
	rc = mdb_env_create(&e->env);
	if (rc) {
		lmdb_error("open", rc);
		free(e);
		return NULL;
	}
	if (lmdb_setup(e, cfg)) {
		mdb_env_close(e->env);
		free(e);
		return NULL;
	}
	return e;
}

static int lmdb_put(struct engine *e, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc)
		return lmdb_error("put", rc);
	rc = mdb_put(txn, e->dbi, &k, &v, 0);
	if (rc) {
		mdb_txn_abort(txn);
		return lmdb_error("put", rc);
	}
	return lmdb_error("put", mdb_txn_commit(txn));
}

static int lmdb_get(struct engine *e, const void *key, size_t klen,
		    void *buf, size_t size, size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return lmdb_error("get", rc);
	rc = mdb_get(txn, e->dbi, &k, &v);
	if (!rc) {
		*vlen = v.mv_size;
		memcpy(buf, v.mv_data, v.mv_size < size ? v.mv_size : size);
	}
	mdb_txn_abort(txn);
	return lmdb_error("get", rc);
}

static int lmdb_del(struct engine *e, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc)
		return lmdb_error("delete", rc);
	rc = mdb_del(txn, e->dbi, &k, NULL);
	if (rc) {
		mdb_txn_abort(txn);
		return lmdb_error("delete", rc);
	}
	return lmdb_error("delete", mdb_txn_commit(txn));
}

static int lmdb_walk(MDB_cursor *cur, MDB_val *k, unsigned int max,
		     scan_fn fn, void *arg)
{
	MDB_val v;
	unsigned int n = 0;
	int rc;

	for (rc = mdb_cursor_get(cur, k, &v, MDB_SET_RANGE);
	     !rc && n < max; rc = mdb_cursor_get(cur, k, &v, MDB_NEXT)) {
		n++;
		if (fn(k->mv_data, k->mv_size, v.mv_data, v.mv_size, arg))
			break;
	}
	return rc && rc != MDB_NOTFOUND ? lmdb_error("scan", rc) : (int)n;
}

static int lmdb_scan(struct engine *e, const void *start, size_t klen,
		     unsigned int max, scan_fn fn, void *arg)
{
	MDB_val k = { klen, (void *)start };
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return lmdb_error("scan", rc);
	rc = mdb_cursor_open(txn, e->dbi, &cur);
	if (!rc) {
		rc = lmdb_walk(cur, &k, max, fn, arg);
		mdb_cursor_close(cur);
	} else {
		rc = lmdb_error("scan", rc);
	}
	mdb_txn_abort(txn);
	return rc;
}

static int lmdb_sync(struct engine *e)
{
	return lmdb_error("sync", mdb_env_sync(e->env, 1));
}

static void lmdb_close(struct engine *e)
{
	mdb_env_close(e->env);
	free(e);
}

const struct engine_ops lmdb_engine = {
	.name = "lmdb",
	.open = lmdb_open,
	.put = lmdb_put,
	.get = lmdb_get,
	.del = lmdb_del,
	.scan = lmdb_scan,
	.sync = lmdb_sync,
	.close = lmdb_close,
};
