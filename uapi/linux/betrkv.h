/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * betrkv: a crash-safe key-value store on a raw block device.
 *
 * The ioctl ABI of /dev/betrkv-control (administration) and, later,
 * /dev/betrkv<N> (data).  Installed as <linux/betrkv.h>.
 *
 * Every argument struct starts with @size and @flags.  Callers set @size to
 * sizeof() the struct they were compiled with; the module accepts any size
 * from the first published version of that struct up to one page.  Bytes the
 * module does not know must be zero (else E2BIG), and it copies back only
 * min(@size, its own size) bytes, so old binaries keep working on new modules
 * and new binaries get a clear error on old ones.  The size bits of the
 * ioctl command number carry no meaning (the module ignores them: @size is
 * authoritative), so a struct can grow without its command changing.
 * Unknown @flags bits fail with EINVAL.  User pointers travel as __u64.  All
 * reserved fields must be zero.
 *
 * Errors a bind can report about the device (besides the usual EFAULT,
 * EINVAL, EPERM):
 *   ENOTBLK      the path is not a block device
 *   EBUSY        the device is claimed (mounted, bound, opened O_EXCL)
 *   EROFS        the device is read-only and BETRKV_BIND_RDONLY was not given
 *   ENOSPC       the device is too small for a store (format)
 *   ENODATA      no betrkv superblock on the device (not formatted)
 *   EUCLEAN      both superblock copies are corrupt
 *   EOPNOTSUPP   the store's format version is not this module's
 *   EMEDIUMTYPE  the store's geometry does not match the device
 * The kernel log carries one line naming the reason.
 */
#ifndef _UAPI_LINUX_BETRKV_H
#define _UAPI_LINUX_BETRKV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BETRKV_CONTROL_NAME	"betrkv-control"
#define BETRKV_DEVICE_PREFIX	"betrkv"

/* Size of a metadata block and of the unit every region is aligned to. */
#define BETRKV_BLOCK_SIZE	4096u
/*
 * The on-disk format version this header describes (2: nodes with Bloom
 * filters and leaf runs of 4 KiB; 3: indirection table entries record the
 * checksum of each node's header, journal blocks name their write batch;
 * 4: a node is a log of layers of segments, its header at the offset the
 * indirection table records; 5: a leaf's header may end its tables with a
 * limit key, so a split appends to the left half); a store of another
 * version is refused.
 */
#define BETRKV_FORMAT_VERSION	5u
/* Most stores bound at once. */
#define BETRKV_MAX_STORES	64u
/* Longest block device path accepted, including the terminating NUL. */
#define BETRKV_PATH_MAX		4096u

/* Format-time options: 0 selects the default. */
#define BETRKV_NODE_SIZE_MIN		(256u << 10)
#define BETRKV_NODE_SIZE_MAX		(4u << 20)
#define BETRKV_NODE_SIZE_DEFAULT	(256u << 10)
/* The smallest journal holds the record of the largest batch (below). */
#define BETRKV_JOURNAL_SIZE_MIN		(2ull << 20)
#define BETRKV_JOURNAL_SIZE_MAX		(1ull << 30)

/*
 * Every store takes keys of 1..BETRKV_KEY_MAX bytes and values of
 * 0..BETRKV_VALUE_MAX bytes; longer ones fail with E2BIG.  (A node holds at
 * least two of the largest entries, hence the smallest node size.)
 */
#define BETRKV_KEY_MAX		1024u
#define BETRKV_VALUE_MAX	65536u

/* Bind-time option: 0 selects the default; the minimum is 16 nodes. */
#define BETRKV_CACHE_NODES_MIN		16u
#define BETRKV_CACHE_BYTES_DEFAULT	(64ull << 20)

/**
 * struct betrkv_format_args - BETRKV_IOC_FORMAT: write a new, empty store.
 * @size:         sizeof(struct betrkv_format_args)
 * @flags:        none defined yet, must be 0
 * @path:         user pointer to the block device path (NUL-terminated)
 * @path_len:     bytes at @path including the NUL, at most BETRKV_PATH_MAX
 * @node_size:    bytes per tree node: a power of two in
 *                [BETRKV_NODE_SIZE_MIN, BETRKV_NODE_SIZE_MAX]; 0 = default
 * @journal_size: bytes of journal: a multiple of BETRKV_BLOCK_SIZE in
 *                [BETRKV_JOURNAL_SIZE_MIN, BETRKV_JOURNAL_SIZE_MAX] and at
 *                most a quarter of the device; 0 = 1/16 of the device,
 *                clamped to those limits
 * @uuid:         out: the new store's UUID
 * @reserved:     must be zero
 *
 * Destroys whatever the device held.  Needs CAP_SYS_ADMIN.
 */
struct betrkv_format_args {
	__u32 size;
	__u32 flags;
	__u64 path;
	__u32 path_len;
	__u32 node_size;
	__u64 journal_size;
	__u8 uuid[16];
	__u64 reserved[8];
};

/* Bind without ever writing to the device. */
#define BETRKV_BIND_RDONLY	(1u << 0)
/* @commit_ms is given; without it the store commits every BETRKV_COMMIT_MS_DEFAULT. */
#define BETRKV_BIND_COMMIT_MS	(1u << 1)
/*
 * With BETRKV_BIND_RDONLY only: when the journal holds a corrupt block of
 * durable data, open the state before it instead of refusing the bind.
 */
#define BETRKV_BIND_SALVAGE	(1u << 2)
#define BETRKV_BIND_FLAGS	(BETRKV_BIND_RDONLY | BETRKV_BIND_COMMIT_MS | \
				 BETRKV_BIND_SALVAGE)

/*
 * Periodic commit: an acknowledged mutation is durable at most this many
 * milliseconds after it returned, without a sync (0 = no periodic commit).
 */
#define BETRKV_COMMIT_MS_DEFAULT	5000u
#define BETRKV_COMMIT_MS_MAX		600000u

/**
 * struct betrkv_bind_args - BETRKV_IOC_BIND: open a store on a block device.
 * @size:        sizeof(struct betrkv_bind_args)
 * @flags:       BETRKV_BIND_*
 * @path:        user pointer to the block device path (NUL-terminated)
 * @path_len:    bytes at @path including the NUL, at most BETRKV_PATH_MAX
 * @index:       out: N of the new /dev/betrkv<N>
 * @cache_bytes: memory budget of the block cache; 0 = default; at least
 *               BETRKV_CACHE_NODES_MIN nodes, at most half of RAM
 * @uuid:        out: the store's UUID
 * @commit_ms:   with BETRKV_BIND_COMMIT_MS: the periodic commit interval in
 *               milliseconds, at most BETRKV_COMMIT_MS_MAX, 0 = off; must
 *               be 0 without that flag.  A read-only store never commits.
 * @pad:         must be zero
 * @reserved:    must be zero
 *
 * Claims the device exclusively.  Needs CAP_SYS_ADMIN.  BETRKV_BIND_SALVAGE
 * without BETRKV_BIND_RDONLY fails with EINVAL.
 */
struct betrkv_bind_args {
	__u32 size;
	__u32 flags;
	__u64 path;
	__u32 path_len;
	__u32 index;
	__u64 cache_bytes;
	__u8 uuid[16];
	__u32 commit_ms;
	__u32 pad;
	__u64 reserved[7];
};

/**
 * struct betrkv_unbind_args - BETRKV_IOC_UNBIND: close a bound store.
 * @size:     sizeof(struct betrkv_unbind_args)
 * @flags:    none defined yet, must be 0
 * @index:    N of /dev/betrkv<N>
 * @pad:      must be zero
 * @reserved: must be zero
 *
 * Writes a final checkpoint (read-write binds) and releases the device.
 * Fails with EBUSY while /dev/betrkv<N> is open, ENOENT if nothing is bound
 * at @index.  Needs CAP_SYS_ADMIN.  Otherwise the store is released even
 * when the call fails: EIO (or another errno) says that a write had failed
 * before or the final checkpoint failed, and that acknowledged mutations no
 * sync covered may be lost; the store recovers from its last durable state.
 */
struct betrkv_unbind_args {
	__u32 size;
	__u32 flags;
	__u32 index;
	__u32 pad;
	__u64 reserved[8];
};

/**
 * struct betrkv_list_args - BETRKV_IOC_LIST: indices of the bound stores.
 * @size:     sizeof(struct betrkv_list_args)
 * @flags:    none defined yet, must be 0
 * @indices:  user pointer to an array of __u32 with @capacity entries
 * @capacity: entries available at @indices (0 is fine: just count)
 * @count:    out: number of bound stores; only min(@count, @capacity)
 *            indices are written, in increasing order
 * @reserved: must be zero
 */
struct betrkv_list_args {
	__u32 size;
	__u32 flags;
	__u64 indices;
	__u32 capacity;
	__u32 count;
	__u64 reserved[8];
};

/* Values of betrkv_status_args.state. */
enum betrkv_state {
	BETRKV_STATE_LIVE = 1,		/* bound read-write */
	BETRKV_STATE_READONLY = 2,	/* bound read-only */
	BETRKV_STATE_FAILED = 3,	/* a write failed: read-only until unbind */
};

/* Initializer of a table of the states' names, indexed by enum betrkv_state. */
#define BETRKV_STATE_NAMES {					\
	[BETRKV_STATE_LIVE] = "live",				\
	[BETRKV_STATE_READONLY] = "read-only",			\
	[BETRKV_STATE_FAILED] = "failed",			\
}

/**
 * struct betrkv_status_args - BETRKV_IOC_STATUS: describe one bound store.
 * @size:              sizeof(struct betrkv_status_args)
 * @flags:             none defined yet, must be 0
 * @index:             in: N of /dev/betrkv<N>
 * @state:             out: enum betrkv_state
 * @uuid:              out: the store's UUID
 * @generation:        out: generation of the newest superblock
 * @format_version:    out: on-disk format version
 * @logical_block_size: out: of the backing device
 * @device_bytes:      out: size of the backing device
 * @node_size:         out: bytes per tree node
 * @sb_slot:           out: which superblock copy (0 or 1) is newest
 * @journal_offset:    out: byte offset of the journal region
 * @journal_size:      out: bytes of journal
 * @itable_offset:     out: byte offset of the two indirection table slots
 * @itable_size:       out: bytes of one indirection table slot
 * @nodes_offset:      out: byte offset of the node region
 * @nodes_size:        out: bytes of the node region
 * @cache_bytes:       out: memory budget of the block cache
 * @backing_dev:       out: the backing device's dev_t, in the kernel's new
 *                     encoding (new_encode_dev(): major and minor as
 *                     decoded by the C library's major() and minor())
 * @backing_name:      out: the backing device's name, e.g. "vdb"
 *                     (NUL-terminated); the sysfs attribute backing_dev
 *                     of /sys/class/betrkv/betrkv<N>/ holds this name,
 *                     not the dev_t
 * @commit_ms:         out: the periodic commit interval (0 = off)
 * @salvaged:          out: 1 if a salvage bind (BETRKV_BIND_SALVAGE) opened
 *                     the state before a corrupt journal block, else 0
 * @reserved:          must be zero
 */
struct betrkv_status_args {
	__u32 size;
	__u32 flags;
	__u32 index;
	__u32 state;
	__u8 uuid[16];
	__u64 generation;
	__u32 format_version;
	__u32 logical_block_size;
	__u64 device_bytes;
	__u32 node_size;
	__u32 sb_slot;
	__u64 journal_offset;
	__u64 journal_size;
	__u64 itable_offset;
	__u64 itable_size;
	__u64 nodes_offset;
	__u64 nodes_size;
	__u64 cache_bytes;
	__u32 backing_dev;
	__u32 pad;
	char backing_name[32];
	__u32 commit_ms;
	__u32 salvaged;
	__u64 reserved[7];
};

/* ---- Data: ioctls on /dev/betrkv<N> ---- */

/* Values of betrkv_batch_op.type. */
#define BETRKV_PUT	1
#define BETRKV_DELETE	2

/**
 * struct betrkv_kv_args - BETRKV_IOC_GET, BETRKV_IOC_PUT, BETRKV_IOC_DELETE.
 * @size:      sizeof(struct betrkv_kv_args)
 * @flags:     none defined yet, must be 0
 * @key:       user pointer to the key
 * @key_len:   1..BETRKV_KEY_MAX (longer: E2BIG)
 * @value_len: PUT: bytes at @value, 0..BETRKV_VALUE_MAX (longer: E2BIG);
 *             GET: in, the room at @value; out, the value's length (also
 *             when the room is too small: then the call fails with ERANGE
 *             and nothing is copied); DELETE: must be 0
 * @value:     user pointer to the value (PUT) or the buffer for it (GET)
 * @seq:       out (PUT, DELETE): the mutation's sequence number
 * @reserved:  must be zero
 *
 * GET fails with ENOENT when the key is absent; DELETE of an absent key
 * succeeds.  PUT and DELETE fail with EBADF on a file descriptor not open
 * for writing (O_RDONLY), whatever the store's state; GET works on any.
 * Mutations fail with EROFS on a read-only store, and with EIO once a write
 * to the device failed.
 */
struct betrkv_kv_args {
	__u32 size;
	__u32 flags;
	__u64 key;
	__u32 key_len;
	__u32 value_len;
	__u64 value;
	__u64 seq;
	__u64 reserved[4];
};

/* One mutation of a BETRKV_IOC_BATCH. */
struct betrkv_batch_op {
	__u32 type;		/* BETRKV_PUT or BETRKV_DELETE */
	__u32 key_len;
	__u32 value_len;	/* 0 for a delete */
	__u32 pad;		/* must be zero */
	__u64 key;
	__u64 value;
};

/* Most mutations and bytes (keys + values) in one batch. */
#define BETRKV_BATCH_OPS_MAX	4096u
#define BETRKV_BATCH_BYTES_MAX	(1u << 20)

/**
 * struct betrkv_batch_args - BETRKV_IOC_BATCH: mutations applied atomically.
 * @size:     sizeof(struct betrkv_batch_args)
 * @flags:    none defined yet, must be 0
 * @ops:      user pointer to @nops struct betrkv_batch_op
 * @nops:     1..BETRKV_BATCH_OPS_MAX
 * @pad:      must be zero
 * @seq:      out: the batch's sequence number (one for all of it)
 * @reserved: must be zero
 *
 * In order: a later op on the same key wins.  After a crash either all of
 * the batch is visible or none of it.  Fails with EBADF on a file
 * descriptor not open for writing (O_RDONLY), whatever the store's state;
 * with E2BIG for more than BETRKV_BATCH_OPS_MAX ops, more than
 * BETRKV_BATCH_BYTES_MAX bytes of keys and values, or a key or value over
 * its limit; like a single mutation with EROFS on a read-only store and EIO
 * once a write to the device failed.  A batch that fails changes nothing.
 */
struct betrkv_batch_args {
	__u32 size;
	__u32 flags;
	__u64 ops;
	__u32 nops;
	__u32 pad;
	__u64 seq;
	__u64 reserved[4];
};

/* Flags of BETRKV_IOC_SCAN. */
#define BETRKV_SCAN_AFTER	(1u << 0)	/* start after @start, not at it */
#define BETRKV_SCAN_TO_END	(1u << 1)	/* no upper bound: @end is ignored */
#define BETRKV_SCAN_FLAGS	(BETRKV_SCAN_AFTER | BETRKV_SCAN_TO_END)

/*
 * A scan's result records in the caller's buffer, one after another, each
 * starting at a multiple of 8 bytes: this header, the key, the value.
 */
struct betrkv_scan_rec {
	__u32 key_len;
	__u32 value_len;
};

/**
 * struct betrkv_scan_args - BETRKV_IOC_SCAN: pairs with start <= key < end.
 * @size:      sizeof(struct betrkv_scan_args)
 * @flags:     BETRKV_SCAN_*
 * @start:     user pointer to the lower bound key
 * @start_len: its length, 1..BETRKV_KEY_MAX
 * @end_len:   the upper bound's length (unless BETRKV_SCAN_TO_END)
 * @end:       user pointer to the upper bound key
 * @buf:       user pointer to the result buffer
 * @buf_len:   its size; at least one record of the largest pair fits in
 *             BETRKV_SCAN_BUF_MIN, a smaller buffer may fail with ERANGE
 *             when the first pair does not fit
 * @max_pairs: most pairs to return, at least 1 (at most 4096 are returned
 *             at once); fewer than both only at the end of the range or
 *             when the buffer is full: deleted keys do not count
 * @count:     out: pairs returned
 * @more:      out: 1 if pairs may follow the last one returned: call again
 *             with its key as @start and BETRKV_SCAN_AFTER
 * @reserved:  must be zero
 *
 * An @end below @start fails with EINVAL.  The kernel memory a scan takes
 * is bounded by its buffer, not by what the store holds: at most about
 * three times min(@buf_len, 1 MiB) plus two of the largest pairs.
 */
struct betrkv_scan_args {
	__u32 size;
	__u32 flags;
	__u64 start;
	__u32 start_len;
	__u32 end_len;
	__u64 end;
	__u64 buf;
	__u32 buf_len;
	__u32 max_pairs;
	__u32 count;
	__u32 more;
	__u64 reserved[4];
};

#define BETRKV_SCAN_BUF_MIN	(sizeof(struct betrkv_scan_rec) + BETRKV_KEY_MAX + \
				 BETRKV_VALUE_MAX + 8)

/**
 * struct betrkv_sync_args - BETRKV_IOC_SYNC: make completed mutations durable.
 * @size:        sizeof(struct betrkv_sync_args)
 * @flags:       none defined yet, must be 0
 * @durable_seq: out: every mutation with a sequence number up to this one
 *               survives a crash (it never decreases)
 * @reserved:    must be zero
 *
 * Fails with EBADF on a file descriptor not open for writing (O_RDONLY).
 * On a read-only store (bound with BETRKV_BIND_RDONLY) it succeeds: there
 * is nothing to sync.  Fails with EIO once a write to the device failed.
 */
struct betrkv_sync_args {
	__u32 size;
	__u32 flags;
	__u64 durable_seq;
	__u64 reserved[4];
};

/**
 * struct betrkv_stats_args - BETRKV_IOC_STATS: what the store has done.
 * Every field but @size and @flags is output.
 */
struct betrkv_stats_args {
	__u32 size;
	__u32 flags;
	/* operations */
	__u64 puts, deletes, batches, gets, scans, syncs, checkpoints;
	__u64 seq, durable_seq;
	/* tree and space */
	__u32 height, pad;
	__u64 nodes, slots_used, slots_total, node_size;
	/* cache */
	__u64 cache_hits, cache_misses, cache_evictions, cache_bytes,
	      cache_used, cache_high_water;
	/*
	 * Device traffic.  Each of journal_flushes and sb_writes is one write
	 * with PREFLUSH and FUA; the store issues no other ordered writes.
	 */
	__u64 node_reads, node_bytes_read, node_writes, node_bytes_written;
	__u64 journal_blocks_written, journal_bytes_written, journal_flushes;
	__u64 sb_writes, itable_bytes_written;
	/* limits */
	__u32 key_max, value_max;
	/*
	 * Node writes in detail: of node_writes, those appended to the node's
	 * copy on disk, and those the worker made ahead of eviction; nodes a
	 * mutation had to write for the checkpoint in progress; segment reads
	 * that a Bloom filter saved a point query.
	 */
	__u64 node_appends, writebacks, cp_forced, bloom_skips;
	__u64 reserved[4];
};

#define BETRKV_IOCTL_TYPE	0xbe
/* A command number with its size bits cleared: what the module matches. */
#define BETRKV_IOC_NOSIZE(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

/* Control device, /dev/betrkv-control. */
#define BETRKV_IOC_FORMAT	_IOWR(BETRKV_IOCTL_TYPE, 0x01, struct betrkv_format_args)
#define BETRKV_IOC_BIND		_IOWR(BETRKV_IOCTL_TYPE, 0x02, struct betrkv_bind_args)
#define BETRKV_IOC_UNBIND	_IOW(BETRKV_IOCTL_TYPE, 0x03, struct betrkv_unbind_args)
#define BETRKV_IOC_LIST		_IOWR(BETRKV_IOCTL_TYPE, 0x04, struct betrkv_list_args)
#define BETRKV_IOC_STATUS	_IOWR(BETRKV_IOCTL_TYPE, 0x05, struct betrkv_status_args)

/* Store devices, /dev/betrkv<N>. */
#define BETRKV_IOC_GET		_IOWR(BETRKV_IOCTL_TYPE, 0x20, struct betrkv_kv_args)
#define BETRKV_IOC_PUT		_IOWR(BETRKV_IOCTL_TYPE, 0x21, struct betrkv_kv_args)
#define BETRKV_IOC_DELETE	_IOWR(BETRKV_IOCTL_TYPE, 0x22, struct betrkv_kv_args)
#define BETRKV_IOC_BATCH	_IOWR(BETRKV_IOCTL_TYPE, 0x23, struct betrkv_batch_args)
#define BETRKV_IOC_SCAN		_IOWR(BETRKV_IOCTL_TYPE, 0x24, struct betrkv_scan_args)
#define BETRKV_IOC_SYNC		_IOWR(BETRKV_IOCTL_TYPE, 0x25, struct betrkv_sync_args)
#define BETRKV_IOC_STATS	_IOWR(BETRKV_IOCTL_TYPE, 0x26, struct betrkv_stats_args)

#endif /* _UAPI_LINUX_BETRKV_H */
