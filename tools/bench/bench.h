/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: the interface between the workload driver and an engine
 * backend.  A backend is one file defining a const struct engine_ops and
 * one entry in the table of engines.c.
 *
 * Every callback but open returns 0 or a negative errno; a backend prints
 * its own error text (prefixed with its name) to the error stream and
 * returns -EIO when its error has no errno.  put, get, del and scan are
 * called concurrently from several threads.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

enum sync_policy {
	SYNC_NONE,	/* writes reach the OS; durable at the next sync() */
	SYNC_EVERY_OP,	/* each put/del is durable when it returns */
	SYNC_EVERY_N,	/* as SYNC_NONE; the driver calls sync() every N writes */
};

struct engine_config {
	const char *path;	/* directory, file or block device */
	uint64_t cache_bytes;	/* the engine's own cache budget */
	enum sync_policy sync;
	uint64_t records;	/* expected number of records, for sizing */
	size_t key_size;
	size_t value_size;
	unsigned int threads;	/* threads that will call in at once */
};

/* A field of struct engine_stats that the engine does not keep. */
#define STAT_UNKNOWN	UINT64_MAX

/*
 * The driver sets every field to STAT_UNKNOWN before calling stats(),
 * which fills in those the engine keeps.
 */
struct engine_stats {
	uint64_t bytes_written;	/* bytes the engine wrote to its storage */
	uint64_t bytes_read;	/* bytes the engine read from its storage */
	/*
	 * The most bytes its cache has held since the engine was opened, or,
	 * where it keeps no peak, the bytes the cache holds now.
	 */
	uint64_t cache_high_water;
};

struct engine;

/* Called for each record of a scan; a non-zero return ends the scan. */
typedef int (*scan_fn)(const void *key, size_t klen, const void *val,
		       size_t vlen, void *arg);

struct engine_ops {
	const char *name;
	/* Create or open the store; NULL and a message on failure. */
	struct engine *(*open)(const struct engine_config *cfg);
	int (*put)(struct engine *e, const void *key, size_t klen,
		   const void *val, size_t vlen);
	/*
	 * Copy the value into buf if it fits in size bytes (if not, what
	 * buf then holds is unspecified) and its full length to *vlen;
	 * -ENOENT when the key is absent.
	 */
	int (*get)(struct engine *e, const void *key, size_t klen,
		   void *buf, size_t size, size_t *vlen);
	/* -ENOENT when the key is absent, if the engine can tell. */
	int (*del)(struct engine *e, const void *key, size_t klen);
	/*
	 * Optional.  Visit up to max records in key order from the first
	 * key >= start; return how many were visited.
	 */
	int (*scan)(struct engine *e, const void *start, size_t klen,
		    unsigned int max, scan_fn fn, void *arg);
	/* Make every write that has returned durable. */
	int (*sync)(struct engine *e);
	/*
	 * Optional.  Wait for the background work under way or pending
	 * (e.g. flushes, compactions), so that its bytes are counted in the
	 * phase that caused it.  Not timed.
	 */
	int (*settle)(struct engine *e);
	/* Optional: what the engine knows about its own I/O. */
	int (*stats)(struct engine *e, struct engine_stats *st);
	void (*close)(struct engine *e);
};

const struct engine_ops *engine_find(const char *name);
void engine_list(char *buf, size_t size);

#endif /* BENCH_H */
