// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: run inside a cgroup v1 memory limit.
 *
 * The group is a child "betrkv-bench.PID" of the memory cgroup this
 * process is in, under the v1 memory controller at CG_ROOT.  Its limit
 * (memory.limit_in_bytes) covers anonymous memory and the page cache
 * charged to it.  At exit, and on SIGINT/SIGTERM/SIGHUP, the process
 * moves back to the parent, the group's pages are reclaimed
 * (memory.force_empty) and the group removed.  Groups left behind by a
 * run that was killed (e.g. by the OOM killer) are removed by the next.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "sys.h"

#define CG_ROOT		"/sys/fs/cgroup/memory"
#define CG_PREFIX	"betrkv-bench."
#define CG_PATH		(PATH_MAX + 512)

static char cg_parent[PATH_MAX];	/* our original group */
static char cg_dir[PATH_MAX + 64];	/* the child; "" when not made */
static char cg_back[CG_PATH];		/* the parent's cgroup.procs */
static char cg_empty[CG_PATH];		/* the child's memory.force_empty */
static char pid_text[24];

/* The path of our memory cgroup, from /proc/self/cgroup. */
static int own_group(char *buf, size_t size)
{
	char line[PATH_MAX + 64], *ctl, *path;
	FILE *fp = fopen("/proc/self/cgroup", "r");
	int rc = -ENOENT;

	if (!fp)
		return -errno;
	while (rc && fgets(line, sizeof(line), fp)) {
		ctl = strchr(line, ':');
		path = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (strstr(ctl + 1, "memory")) {
			snprintf(buf, size, "%s%s", CG_ROOT, path);
			rc = 0;
		}
	}
	fclose(fp);
	return rc;
}

/* Async-signal-safe: only open/write/close/rmdir. */
static void leave_group(void)
{
	if (!cg_dir[0])
		return;
	write_file(cg_back, pid_text);
	write_file(cg_empty, "0");
	rmdir(cg_dir);
	cg_dir[0] = '\0';
}

static void on_signal(int sig)
{
	leave_group();
	_exit(128 + sig);
}

static void remove_group(const char *dir)
{
	char path[CG_PATH];

	snprintf(path, sizeof(path), "%s/memory.force_empty", dir);
	write_file(path, "0");
	rmdir(dir);
}

/* Remove groups of earlier runs whose process is gone. */
static void sweep_stale(void)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	DIR *d = opendir(cg_parent);
	long pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, CG_PREFIX, strlen(CG_PREFIX)))
			continue;
		pid = strtol(de->d_name + strlen(CG_PREFIX), NULL, 10);
		if (pid > 0 && kill(pid, 0) && errno == ESRCH) {
			snprintf(path, sizeof(path), "%s/%s", cg_parent,
				 de->d_name);
			remove_group(path);
		}
	}
	closedir(d);
}

static int group_write(const char *file, const char *text)
{
	char path[CG_PATH];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", cg_dir, file);
	rc = write_file(path, text);
	if (rc)
		fprintf(stderr, "betrkv-bench: writing %s: %s\n", path,
			strerror(-rc));
	return rc;
}

static void install_cleanup(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	atexit(leave_group);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Move this process into a new memory cgroup limited to limit bytes. */
int cgroup_enter(uint64_t limit)
{
	char text[32], probe[64];

	snprintf(probe, sizeof(probe), "%s/memory.limit_in_bytes", CG_ROOT);
	if (access(probe, F_OK) || own_group(cg_parent, sizeof(cg_parent))) {
		fprintf(stderr, "betrkv-bench: --cgroup-mem needs the cgroup v1 memory controller mounted at %s\n",
			CG_ROOT);
		return -1;
	}
	sweep_stale();
	snprintf(pid_text, sizeof(pid_text), "%d", (int)getpid());
	snprintf(cg_back, sizeof(cg_back), "%s/cgroup.procs", cg_parent);
	snprintf(cg_dir, sizeof(cg_dir), "%s/" CG_PREFIX "%s", cg_parent,
		 pid_text);
	snprintf(cg_empty, sizeof(cg_empty), "%s/memory.force_empty", cg_dir);
	if (mkdir(cg_dir, 0755)) {
		fprintf(stderr, "betrkv-bench: mkdir %s: %s\n", cg_dir,
			strerror(errno));
		cg_dir[0] = '\0';
		return -1;
	}
	install_cleanup();
	snprintf(text, sizeof(text), "%" PRIu64, limit);
	if (group_write("memory.limit_in_bytes", text) ||
	    group_write("cgroup.procs", pid_text))
		return -1;
	return 0;
}

void cgroup_reset_peak(void)
{
	if (cg_dir[0])
		group_write("memory.max_usage_in_bytes", "0");
}

bool cgroup_peak(uint64_t *bytes)
{
	char path[CG_PATH];

	if (!cg_dir[0])
		return false;
	snprintf(path, sizeof(path), "%s/memory.max_usage_in_bytes", cg_dir);
	return !read_u64(path, bytes);
}
