/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between the betrkv core and the environment it runs in.
 *
 * The core (every kmod/ file that includes this header and nothing else from
 * the outside world) is kernel-style C that builds unchanged into betrkv.ko
 * and into a userspace library for tests, fuzzers and benchmarks.  Each side
 * supplies one header: env_kernel.h maps the names below onto the kernel,
 * user/env_user.h provides the same kernel API subset (types, endianness,
 * allocation, logging, errno) on top of libc.  The functions declared here
 * are implemented once per side, in env_kernel.c and user/env_user.c.
 */
#ifndef BETRKV_ENV_H
#define BETRKV_ENV_H

#ifdef __KERNEL__
#include "env_kernel.h"
#else
#include "user/env_user.h"
#endif

/* A block device as the core sees it; defined by each environment. */
struct betrkv_dev;

/* Flags of betrkv_dev_write(). */
#define BETRKV_IO_PREFLUSH	(1u << 0)	/* earlier completed writes are durable first */
#define BETRKV_IO_FUA		(1u << 1)	/* this write is durable when it completes */

/**
 * betrkv_dev_read() - read bytes from the device, synchronously.
 * @dev: the device
 * @off: byte offset, a multiple of the device's logical block size
 * @buf: destination (from kmalloc/kvmalloc, never the stack)
 * @len: bytes, a multiple of the device's logical block size
 *
 * Return: 0 or a negative errno (-EIO for a failed read).
 */
int betrkv_dev_read(struct betrkv_dev *dev, u64 off, void *buf, size_t len);

/**
 * betrkv_dev_write() - write bytes to the device, synchronously.
 * @dev: the device
 * @off: byte offset, a multiple of the device's logical block size
 * @buf: source (from kmalloc/kvmalloc, never the stack)
 * @len: bytes, a multiple of the device's logical block size
 * @flags: BETRKV_IO_PREFLUSH and/or BETRKV_IO_FUA
 *
 * Return: 0 or a negative errno.
 */
int betrkv_dev_write(struct betrkv_dev *dev, u64 off, const void *buf,
		     size_t len, unsigned int flags);

/* Size in bytes, logical block size and name (for log lines) of the device. */
u64 betrkv_dev_size(const struct betrkv_dev *dev);
u32 betrkv_dev_block_size(const struct betrkv_dev *dev);
const char *betrkv_dev_name(const struct betrkv_dev *dev);

/**
 * betrkv_crc32c() - CRC-32C (Castagnoli) of two concatenated byte ranges.
 * @head: first range (may be NULL when @head_len is 0)
 * @head_len: its length
 * @body: second range
 * @body_len: its length
 *
 * The standard CRC-32C (initial value and final xor 0xffffffff) of
 * @head followed by @body: betrkv_crc32c(NULL, 0, "123456789", 9) is
 * 0xe3069283.  Block checksums hash a per-type salt as @head.
 */
u32 betrkv_crc32c(const void *head, size_t head_len, const void *body,
		  size_t body_len);

/*
 * A background worker: runs @fn(@arg) in its own context each time it is
 * kicked (a kick while @fn runs makes it run once more).  Its timer, once
 * set with betrkv_worker_every(), also runs @tfn(@arg) there every @ms
 * milliseconds, never at the same time as @fn.  stop() waits for a run
 * under way and allows no more.
 */
struct betrkv_worker;

int betrkv_worker_start(const char *name, void (*fn)(void *arg), void *arg,
			struct betrkv_worker **wp);
void betrkv_worker_kick(struct betrkv_worker *w);
void betrkv_worker_every(struct betrkv_worker *w, void (*tfn)(void *arg),
			 unsigned int ms);
void betrkv_worker_stop(struct betrkv_worker *w);

#endif /* BETRKV_ENV_H */
