/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the in-VM selftests: the disks the VM is booted with,
 * raw device access that bypasses the page cache (the module does its own
 * bio I/O), device fingerprints, and the superblock as the core decodes it.
 *
 * tools/run-tests.sh boots the VM with these disks, in this order.
 */
#ifndef BETRKV_VMTEST_H
#define BETRKV_VMTEST_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "betrkv.h"
#include "superblock.h"

#define DISK_A		"/dev/vda"	/* 64 MiB */
#define DISK_B		"/dev/vdb"	/* 64 MiB */
#define DISK_SMALL	"/dev/vdc"	/* 8 MiB: too small for a store */
#define DISK_BIG	"/dev/vdd"	/* 96 MiB */
#define DISK_4K		"/dev/vde"	/* 64 MiB, 4096-byte logical blocks */

#define MODULE_PATH	"/lib/modules/betrkv.ko"

/* Run a shell command built printf-style: its exit status, or -1. */
static inline __attribute__((format(printf, 1, 2))) int vm_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r != -1 && WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static inline void vm_die(const char *what)
{
	perror(what);
	exit(2);
}

/* Read or write whole 4 KiB blocks of @path with O_DIRECT. */
static inline void raw_io(const char *path, bool write, u64 off, void *buf,
			  size_t len)
{
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	void *bounce;
	ssize_t n;

	if (fd < 0)
		vm_die(path);
	if (posix_memalign(&bounce, 4096, len))
		vm_die("posix_memalign");
	if (write)
		memcpy(bounce, buf, len);
	n = write ? pwrite(fd, bounce, len, off) : pread(fd, bounce, len, off);
	if (n != (ssize_t)len)
		vm_die(write ? "pwrite" : "pread");
	if (!write)
		memcpy(buf, bounce, len);
	if (write && fsync(fd))
		vm_die("fsync");
	free(bounce);
	close(fd);
}

static inline u64 dev_bytes(const char *path)
{
	u64 size = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size))
		vm_die(path);
	close(fd);
	return size;
}

/* A CRC-32C per MiB, folded: equal iff (almost surely) every byte is equal. */
static inline u64 dev_fingerprint(const char *path)
{
	u64 size = dev_bytes(path), off, fp = 0;
	static u8 buf[1 << 20];

	for (off = 0; off < size; off += sizeof(buf)) {
		size_t len = size - off < sizeof(buf) ? size - off : sizeof(buf);

		raw_io(path, false, off, buf, len);
		fp = fp * 1000003 + betrkv_crc32c(&off, sizeof(off), buf, len);
	}
	return fp;
}

static inline void dev_zero(const char *path, u64 off, size_t len)
{
	void *z = calloc(1, len);

	raw_io(path, true, off, z, len);
	free(z);
}

/* Flip one bit in block @blocknr (in a byte the checksum covers). */
static inline void dev_flip(const char *path, u64 blocknr, size_t byte)
{
	u8 blk[BETRKV_BLOCK_SIZE];

	raw_io(path, false, blocknr * BETRKV_BLOCK_SIZE, blk, sizeof(blk));
	blk[byte] ^= 0x04;
	raw_io(path, true, blocknr * BETRKV_BLOCK_SIZE, blk, sizeof(blk));
}

/* Decode superblock copy @slot of @path; returns betrkv_sb_decode()'s value. */
static inline int sb_read(const char *path, unsigned int slot,
			  struct betrkv_sb *sb)
{
	u8 blk[BETRKV_BLOCK_SIZE];
	const char *why;

	raw_io(path, false, (u64)slot * BETRKV_BLOCK_SIZE, blk, sizeof(blk));
	return betrkv_sb_decode(blk, slot, sb, &why);
}

/* Write @sb into copy @slot of @path, as the core encodes it. */
static inline void sb_put(const char *path, unsigned int slot,
			  const struct betrkv_sb *sb)
{
	u8 blk[BETRKV_BLOCK_SIZE];

	betrkv_sb_encode(sb, slot, blk);
	raw_io(path, true, (u64)slot * BETRKV_BLOCK_SIZE, blk, sizeof(blk));
}

/* Read /sys/class/betrkv/betrkv<index>/<attr> without the newline. */
static inline const char *store_attr(u32 index, const char *attr)
{
	static char buf[256];
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/betrkv/betrkv%u/%s", index, attr);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return "(missing)";
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* Unbind every store, so that each test starts from nothing bound. */
static inline void unbind_all(void)
{
	u32 idx[BETRKV_MAX_STORES];
	int n = betrkv_list(idx, BETRKV_MAX_STORES), i;

	for (i = 0; i < n; i++)
		betrkv_unbind(idx[i]);
}

/* The kernel log: clear it before a call, then look for the reason. */
static inline void klog_clear(void)
{
	klogctl(5, NULL, 0);	/* SYSLOG_ACTION_CLEAR */
}

static inline bool klog_has(const char *needle)
{
	static char buf[1 << 16];
	int n = klogctl(3, buf, sizeof(buf) - 1);	/* SYSLOG_ACTION_READ_ALL */

	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static inline void quiet_core(int level, const char *msg)
{
}

#endif /* BETRKV_VMTEST_H */
