/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkv-bench: what the system says about the run: bytes written to the
 * device under --path and by this process, bytes this process read from
 * storage, its CPU time, peak RSS, the page cache, and the cgroup v1
 * memory limit.
 */
#ifndef BENCH_SYS_H
#define BENCH_SYS_H

#include <stdbool.h>
#include <stdint.h>

struct io_source {
	char fs[16];		/* file system type, or "blockdev" */
	char dev[32];		/* block device name; "" when there is none */
	char stat_path[56];	/* its /sys/dev/block/MAJ:MIN/stat */
};

struct io_counters {
	uint64_t dev_bytes;	/* sectors written to the device * 512 */
	uint64_t proc_bytes;	/* /proc/self/io write_bytes */
	uint64_t proc_read_bytes; /* /proc/self/io read_bytes */
};

void io_source_init(struct io_source *s, const char *path);
void io_read(const struct io_source *s, struct io_counters *c);

int write_file(const char *path, const char *text);
int read_u64(const char *path, uint64_t *val);

int path_syncfs(const char *path);
void path_evict(const char *path);

uint64_t cpu_time_ns(void);

void rss_reset_peak(void);
uint64_t rss_peak(void);

int cgroup_enter(uint64_t limit);
void cgroup_reset_peak(void);
bool cgroup_peak(uint64_t *bytes);

#endif /* BENCH_SYS_H */
