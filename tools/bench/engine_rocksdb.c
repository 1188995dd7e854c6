// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: RocksDB through its C API.
 *
 * Configuration: no compression; WAL on; block-based tables with an LRU
 * block cache of cfg->cache_bytes that also holds index and filter blocks
 * (10-bit bloom filters); direct I/O for reads and for flushes and
 * compactions (WAL writes stay buffered: RocksDB does not write the WAL
 * with O_DIRECT), or buffered I/O, with a note, where the file system
 * refuses O_DIRECT.  Memtables (2 x 64 MiB by default) come on top
 * of the block cache.
 *
 * Sync: SYNC_EVERY_OP sets WriteOptions.sync, so each put/delete
 * fdatasyncs the WAL before it returns; otherwise the WAL is written to
 * the page cache and sync() is FlushWAL(sync = true), an fsync of the WAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <rocksdb/c.h>

#include "bench.h"

struct engine {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
};

/* Report and free a RocksDB error; -EIO if there was one. */
static int rdb_error(const char *what, char *err)
{
	if (!err)
		return 0;
	fprintf(stderr, "rocksdb: %s: %s\n", what, err);
	rocksdb_free(err);
	return -EIO;
}

static void rdb_options(struct engine *e, const struct engine_config *cfg)
{
	e->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(e->opts, 1);
	rocksdb_options_set_compression(e->opts, rocksdb_no_compression);
	rocksdb_options_enable_statistics(e->opts);
	e->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
	e->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(e->table, e->cache);
	rocksdb_block_based_options_set_filter_policy(e->table,
			rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(e->table,
								      1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
			e->table, 1);
	rocksdb_options_set_block_based_table_factory(e->opts, e->table);
	e->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(e->wopts, cfg->sync == SYNC_EVERY_OP);
	e->ropts = rocksdb_readoptions_create();
}

static void rdb_free(struct engine *e)
{
	if (e->db)
		rocksdb_close(e->db);
	rocksdb_readoptions_destroy(e->ropts);
	rocksdb_writeoptions_destroy(e->wopts);
	rocksdb_options_destroy(e->opts);
	rocksdb_block_based_options_destroy(e->table);
	rocksdb_cache_destroy(e->cache);
	free(e);
}

/*
 * Whether the file system under dir (created if missing, as RocksDB
 * would) takes O_DIRECT: RocksDB itself only finds out when it first
 * opens a table file.  Other errors are left to RocksDB to report.
 */
static unsigned char rdb_direct_ok(const char *dir)
{
	char probe[PATH_MAX];
	int fd;

	mkdir(dir, 0755);
	snprintf(probe, sizeof(probe), "%s/.direct-probe", dir);
	fd = open(probe, O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno != EINVAL;
	close(fd);
	unlink(probe);
	return 1;
}

static struct engine *rdb_open(const struct engine_config *cfg)
{
	struct engine *e = calloc(1, sizeof(*e));
	unsigned char direct = rdb_direct_ok(cfg->path);
	char *err = NULL;

	if (!e)
		return NULL;
	if (!direct)
		fprintf(stderr, "rocksdb: note: %s refuses O_DIRECT; using buffered I/O\n",
			cfg->path);
	rdb_options(e, cfg);
	rocksdb_options_set_use_direct_reads(e->opts, direct);
	rocksdb_options_set_use_direct_io_for_flush_and_compaction(e->opts,
								   direct);
	e->db = rocksdb_open(e->opts, cfg->path, &err);
	if (rdb_error("open", err)) {
		rdb_free(e);
		return NULL;
	}
	return e;
}

static int rdb_put(struct engine *e, const void *key, size_t klen,
		   const void *val, size_t vlen)
{
	char *err = NULL;

	rocksdb_put(e->db, e->wopts, key, klen, val, vlen, &err);
	return rdb_error("put", err);
}

static int rdb_get(struct engine *e, const void *key, size_t klen,
		   void *buf, size_t size, size_t *vlen)
{
	rocksdb_pinnableslice_t *ps;
	const char *val;
	char *err = NULL;

	ps = rocksdb_get_pinned(e->db, e->ropts, key, klen, &err);
	if (err)
		return rdb_error("get", err);
	if (!ps)
		return -ENOENT;
	val = rocksdb_pinnableslice_value(ps, vlen);
	memcpy(buf, val, *vlen < size ? *vlen : size);
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

/* RocksDB deletes blindly: an absent key is not reported. */
static int rdb_del(struct engine *e, const void *key, size_t klen)
{
	char *err = NULL;

	rocksdb_delete(e->db, e->wopts, key, klen, &err);
	return rdb_error("delete", err);
}

static int rdb_scan(struct engine *e, const void *start, size_t klen,
		    unsigned int max, scan_fn fn, void *arg)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, e->ropts);
	const char *key, *val;
	size_t kl, vl;
	char *err = NULL;
	unsigned int n = 0;

	for (rocksdb_iter_seek(it, start, klen);
	     n < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &kl);
		val = rocksdb_iter_value(it, &vl);
		n++;
		if (fn(key, kl, val, vl, arg))
			break;
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	return err ? rdb_error("scan", err) : (int)n;
}

static int rdb_sync(struct engine *e)
{
	char *err = NULL;

	rocksdb_flush_wal(e->db, 1, &err);
	return rdb_error("sync", err);
}

static int rdb_busy(struct engine *e)
{
	static const char *const props[] = {
		"rocksdb.num-running-flushes",
		"rocksdb.num-running-compactions",
		"rocksdb.compaction-pending",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (!rocksdb_property_int(e->db, props[i], &v) && v)
			return 1;
	return 0;
}

/*
 * Wait for the flushes and compactions under way or pending.  The
 * memtables are not flushed: a forced flush at the end of every phase
 * would make small L0 files and charge their compaction to whichever
 * phase happened to fill L0.
 */
static int rdb_settle(struct engine *e)
{
	while (rdb_busy(e))
		usleep(10000);
	return 0;
}

/* The N of a "NAME COUNT : N" line of the statistics dump. */
static uint64_t rdb_ticker(const char *dump, const char *name)
{
	char pat[96];
	const char *p;
	uint64_t v = 0;

	snprintf(pat, sizeof(pat), "%s COUNT : ", name);
	p = strstr(dump, pat);
	if (p)
		sscanf(p + strlen(pat), "%" SCNu64, &v);
	return v;
}

/*
 * Written: WAL, flush and compaction bytes, everything RocksDB writes.
 * Read: the bytes read from table files, last level or not (gets, scans
 * and compactions).  The block cache keeps no peak: its usage now (data,
 * index and filter blocks, pinned ones included).
 */
static int rdb_stats(struct engine *e, struct engine_stats *st)
{
	char *dump = rocksdb_options_statistics_get_string(e->opts);

	if (!dump)
		return -EIO;
	st->bytes_written = rdb_ticker(dump, "rocksdb.wal.bytes") +
			    rdb_ticker(dump, "rocksdb.flush.write.bytes") +
			    rdb_ticker(dump, "rocksdb.compact.write.bytes");
	st->bytes_read = rdb_ticker(dump, "rocksdb.last.level.read.bytes") +
			 rdb_ticker(dump, "rocksdb.non.last.level.read.bytes");
	st->cache_high_water = rocksdb_cache_get_usage(e->cache);
	rocksdb_free(dump);
	return 0;
}

const struct engine_ops rocksdb_engine = {
	.name = "rocksdb",
	.open = rdb_open,
	.put = rdb_put,
	.get = rdb_get,
	.del = rdb_del,
	.scan = rdb_scan,
	.sync = rdb_sync,
	.settle = rdb_settle,
	.stats = rdb_stats,
	.close = rdb_free,
};
