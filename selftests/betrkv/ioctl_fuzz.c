// SPDX-License-Identifier: GPL-2.0
/*
 * A structure-aware fuzzer of the ioctl boundary, inside the VM (booted
 * with panic_on_warn=1 oops=panic, so any kernel warning ends the run).
 *
 * Each call is one of the module's commands (or a command number it does
 * not know) with well-typed but hostile arguments: struct sizes around the
 * real one, unknown flags, reserved fields set, lengths at and past every
 * limit, and pointers to valid, unmapped, read-only, kernel and page-edge
 * memory; batches mix good and bad operations.  Calls go to
 * /dev/betrkv-control and to a bound store's /dev/betrkv<N>, opened
 * read-write and read-only, as root and as an unprivileged user; then
 * several threads fuzz while another one unbinds and binds the store again.
 *
 * What must hold: every call returns 0 or one of the errnos the ABI
 * documents; a failed mutation leaves the sequence number where it was and
 * a successful one moves it by exactly one; a preloaded key set, which no
 * fuzzed key can touch (those never start with 0xff), reads back exactly at
 * the end.  BETRKV_FUZZ_CALLS (default 100000) sets the number of calls;
 * BETRKV_SEED replays a run.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "vmtest.h"
#include "../rng.h"

#define FUZZ_DISK	DISK_B
#define PRELOAD		256u
/* The arena: batch op arrays, then keys, values and buffers, then paths. */
#define OPS_BYTES	((BETRKV_BATCH_OPS_MAX + 1) * sizeof(struct betrkv_batch_op))
#define DATA_OFF	(OPS_BYTES + 4096)
/*
 * A buffer of any length starts at DATA_OFF at the latest: the most a call
 * writes there (a SCAN's 1 MiB, the module's cap) stays in the arena.
 */
#define DATA_BYTES	(1u << 20)
#define PATH_OFF	(DATA_OFF + DATA_BYTES)
#define ARENA_BYTES	(PATH_OFF + 4096)
#define PAGE		4096u
#define NOBODY		65534
#define FUZZ_THREADS	4

/* Memory the fuzzed pointers point into. */
struct arena {
	u8 *buf;	/* ARENA_BYTES, read-write, laid out as above */
	u8 *ro;		/* one read-only page */
	u8 *hole;	/* one unmapped page */
	u8 *edge;	/* one read-write page followed by an unmapped one */
};

struct fuzzer {
	unsigned long long rng;
	struct arena a;
	u8 args[2 * PAGE];	/* the argument struct, with room to spare */
	bool hostile;		/* this call's fields may be bad; else all sane */
	unsigned long calls, ok, errnos[160];
};

static u32 store_index;	/* changed by the unbind_rebind test's main thread */

static void arena_init(struct arena *a)
{
	u8 *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		vm_die("mmap");
	a->buf = malloc(ARENA_BYTES);
	if (!a->buf)
		vm_die("malloc");
	memset(a->buf, 'a', ARENA_BYTES);
	a->ro = p;
	memset(a->ro, 'r', PAGE);
	a->hole = p + PAGE;
	a->edge = p + 2 * PAGE;
	memset(a->edge, 'e', PAGE);
	if (mprotect(a->ro, PAGE, PROT_READ) || munmap(a->hole, PAGE) ||
	    munmap(a->edge + PAGE, PAGE))
		vm_die("mprotect");
}

static u32 pick(struct fuzzer *f, u32 n)
{
	return rng_below(&f->rng, n);
}

/* A length: mostly small, sometimes at or just past @limit, or absurd. */
static u32 fuzz_len(struct fuzzer *f, u32 small, u32 limit)
{
	if (!f->hostile)
		return 1 + pick(f, min(small, limit));
	switch (pick(f, 16)) {
	case 0: return 0;
	case 1: return limit;
	case 2: return limit + 1;
	case 3: return U32_MAX;
	case 4: return (u32)rng_next(&f->rng);
	case 5: return pick(f, limit + 1);
	default: return 1 + pick(f, small);
	}
}

/*
 * A pointer for @len bytes that no call can use as it stands: NULL,
 * unmapped, read-only (fine for input), kernel, straddling the end of a
 * mapping, or anything.  None of them can reach the arena.
 */
static u64 fuzz_bad_ptr(struct fuzzer *f, u32 len)
{
	switch (pick(f, 6)) {
	case 0: return 0;
	case 1: return (u64)(uintptr_t)f->a.hole + pick(f, PAGE);
	case 2: return (u64)(uintptr_t)f->a.ro + pick(f, PAGE);
	case 3: return 0xffff888000000000ull + pick(f, 1u << 20) * 8ull;
	case 4: return (u64)(uintptr_t)f->a.edge + PAGE - min(len, PAGE) +
		       pick(f, 16);
	default: return rng_next(&f->rng) | (1ull << 63);
	}
}

/*
 * A user pointer for @len bytes: mostly into the arena's data area, else a
 * bad one.  Data that a mutation's key comes from gets a first byte below
 * 0xff, so fuzzed keys never meet the preloaded ones.
 */
static u64 fuzz_ptr(struct fuzzer *f, u32 len, bool key)
{
	u32 off;

	if (f->hostile && pick(f, 10) < 3)
		return fuzz_bad_ptr(f, len);
	off = DATA_OFF + (len < DATA_BYTES ? pick(f, DATA_BYTES - len) : 0);
	if (key)
		f->a.buf[off] = pick(f, 0xff);
	return (u64)(uintptr_t)f->a.buf + off;
}

/* A struct size around @real: exact mostly, else short, long, 0 or huge. */
static u32 fuzz_size(struct fuzzer *f, u32 real)
{
	if (!f->hostile)
		return real;
	switch (pick(f, 12)) {
	case 0: return 0;
	case 1: return real - 8;
	case 2: return real + 8;
	case 3: return PAGE;
	case 4: return PAGE + 1;
	case 5: return (u32)rng_next(&f->rng);
	default: return real;
	}
}

/* Zero the argument area, fill size and flags, sometimes a reserved byte. */
static void *args_start(struct fuzzer *f, u32 real, u32 flags_known)
{
	u32 *hdr = (u32 *)f->args;

	memset(f->args, 0, sizeof(f->args));
	hdr[0] = fuzz_size(f, real);
	hdr[1] = pick(f, 8) || !f->hostile ? flags_known & (u32)rng_next(&f->rng) :
		 (u32)rng_next(&f->rng);
	/* Sometimes a byte of the reserved tail (32 bytes at least) or past it. */
	if (f->hostile && !pick(f, 16))
		f->args[real - 32 + pick(f, 40)] = 1 + pick(f, 255);
	return f->args;
}

static void fuzz_kv(struct fuzzer *f, unsigned long cmd)
{
	struct betrkv_kv_args *a = args_start(f, sizeof(*a), 0);
	bool mut = cmd != BETRKV_IOC_GET;

	a->key_len = fuzz_len(f, 24, BETRKV_KEY_MAX);
	a->key = fuzz_ptr(f, a->key_len, mut);
	a->value_len = cmd == BETRKV_IOC_DELETE && (!f->hostile || pick(f, 4)) ? 0 :
		       fuzz_len(f, 200, BETRKV_VALUE_MAX);
	a->value = fuzz_ptr(f, a->value_len, false);
}

static void fuzz_batch(struct fuzzer *f)
{
	struct betrkv_batch_args *a = args_start(f, sizeof(*a), 0);
	struct betrkv_batch_op *ops;
	u32 i, n;

	a->nops = fuzz_len(f, 8, BETRKV_BATCH_OPS_MAX);
	n = min(a->nops, BETRKV_BATCH_OPS_MAX + 1);
	if (f->hostile && pick(f, 10) < 2) {
		a->ops = fuzz_bad_ptr(f, n * sizeof(*ops));
		return;
	}
	ops = (struct betrkv_batch_op *)f->a.buf;
	a->ops = (u64)(uintptr_t)ops;
	for (i = 0; i < n; i++) {
		ops[i] = (struct betrkv_batch_op){ .type = 1 + pick(f, 2) };
		if (f->hostile && !pick(f, 64))
			ops[i].type = (u32)rng_next(&f->rng);
		if (f->hostile && !pick(f, 64))
			ops[i].pad = 1;
		ops[i].key_len = fuzz_len(f, 24, BETRKV_KEY_MAX);
		ops[i].key = fuzz_ptr(f, ops[i].key_len, true);
		if (ops[i].type == BETRKV_PUT || (f->hostile && !pick(f, 16)))
			ops[i].value_len = fuzz_len(f, 200, BETRKV_VALUE_MAX);
		ops[i].value = fuzz_ptr(f, ops[i].value_len, false);
	}
}

static void fuzz_scan(struct fuzzer *f)
{
	struct betrkv_scan_args *a = args_start(f, sizeof(*a), BETRKV_SCAN_FLAGS);

	a->start_len = fuzz_len(f, 8, BETRKV_KEY_MAX);
	a->start = fuzz_ptr(f, a->start_len, false);
	a->end_len = fuzz_len(f, 8, BETRKV_KEY_MAX);
	a->end = fuzz_ptr(f, a->end_len, false);
	a->buf_len = pick(f, 2) || !f->hostile ?
		     BETRKV_SCAN_BUF_MIN + pick(f, 1u << 16) :
		     fuzz_len(f, 4096, ARENA_BYTES);
	a->buf = fuzz_ptr(f, a->buf_len, false);
	a->max_pairs = fuzz_len(f, 64, 4096);
	if (f->hostile && !pick(f, 8))
		a->count = 1;	/* out fields given in are ignored or refused */
}

/* A path for format or bind: refused for one reason or another. */
static void fuzz_path(struct fuzzer *f, u64 *path, u32 *len)
{
	static const char *const paths[] = {
		FUZZ_DISK,	/* bound: EBUSY */
		DISK_SMALL,	/* too small for a store, never formatted */
		"/dev/null", "/nonexistent", "", "relative",
	};
	const char *p = paths[pick(f, ARRAY_SIZE(paths))];
	u8 *dst = f->a.buf + PATH_OFF;

	*len = strlen(p) + 1;
	memcpy(dst, p, *len);
	*path = (u64)(uintptr_t)dst;
	if (!pick(f, 8))
		*len = fuzz_len(f, 64, BETRKV_PATH_MAX);
	if (!pick(f, 8))
		*path = fuzz_ptr(f, *len, false);
}

/* Fill f->args for a control command; returns the command. */
static unsigned long fuzz_control(struct fuzzer *f)
{
	struct betrkv_format_args *fa;
	struct betrkv_bind_args *ba;
	struct betrkv_unbind_args *ua;
	struct betrkv_list_args *la;
	struct betrkv_status_args *sa;
	static const u32 indices[] = { 0, 1, BETRKV_MAX_STORES, U32_MAX };

	switch (pick(f, 5)) {
	case 0:
		fa = args_start(f, sizeof(*fa), 0);
		fuzz_path(f, &fa->path, &fa->path_len);
		fa->node_size = pick(f, 2) ? 0 : fuzz_len(f, 1u << 20, BETRKV_NODE_SIZE_MAX);
		return BETRKV_IOC_FORMAT;
	case 1:
		ba = args_start(f, sizeof(*ba), BETRKV_BIND_FLAGS);
		fuzz_path(f, &ba->path, &ba->path_len);
		ba->cache_bytes = pick(f, 2) ? 0 : rng_next(&f->rng) >> pick(f, 64);
		return BETRKV_IOC_BIND;
	case 2:
		ua = args_start(f, sizeof(*ua), 0);
		ua->index = pick(f, 2) ? store_index : indices[pick(f, 4)];
		return BETRKV_IOC_UNBIND;
	case 3:
		la = args_start(f, sizeof(*la), 0);
		la->capacity = fuzz_len(f, 8, BETRKV_MAX_STORES);
		la->indices = fuzz_ptr(f, min(la->capacity, 1024u) * 4, false);
		return BETRKV_IOC_LIST;
	default:
		sa = args_start(f, sizeof(*sa), 0);
		sa->index = pick(f, 2) ? store_index : indices[pick(f, 4)];
		return BETRKV_IOC_STATUS;
	}
}

/* Fill f->args for a data command; returns the command. */
static unsigned long fuzz_data(struct fuzzer *f)
{
	static const unsigned long kv[] = {
		BETRKV_IOC_GET, BETRKV_IOC_PUT, BETRKV_IOC_DELETE,
	};
	unsigned long cmd;

	switch (pick(f, 8)) {
	case 0: case 1: case 2:
		cmd = kv[pick(f, 3)];
		fuzz_kv(f, cmd);
		return cmd;
	case 3:
		fuzz_batch(f);
		return BETRKV_IOC_BATCH;
	case 4: case 5:
		fuzz_scan(f);
		return BETRKV_IOC_SCAN;
	case 6:
		args_start(f, sizeof(struct betrkv_sync_args), 0);
		return BETRKV_IOC_SYNC;
	default:
		args_start(f, sizeof(struct betrkv_stats_args), 0);
		return BETRKV_IOC_STATS;
	}
}

/* The errnos the ABI documents for the module's ioctls. */
static bool errno_known(int e)
{
	switch (e) {
	case EINVAL: case E2BIG: case EFAULT: case ENOENT: case EEXIST:
	case EBUSY: case ENOSPC: case EROFS: case EPERM: case ENOTTY:
	case ERANGE: case EBADF: case ENODATA: case ENOTBLK: case EMEDIUMTYPE:
		return true;
	default:
		return false;
	}
}

static bool is_mutation(unsigned long cmd)
{
	return cmd == BETRKV_IOC_PUT || cmd == BETRKV_IOC_DELETE ||
	       cmd == BETRKV_IOC_BATCH;
}

static u64 store_seq(int fd)
{
	struct betrkv_stats_args st = { .size = sizeof(st) };

	if (ioctl(fd, BETRKV_IOC_STATS, &st))
		vm_die("STATS");
	return st.seq;
}

/*
 * One call on @fd (a data fd if @data, else the control device), its
 * argument struct at a fuzzed address.  @seq_fd, if >= 0, is a data fd
 * nobody else mutates through meanwhile: the sequence number is checked
 * around mutations.  Returns false on a contract violation.
 */
static bool fuzz_call(struct fuzzer *f, int fd, bool data, int seq_fd)
{
	unsigned long cmd;
	void *argp = f->args;
	u64 before = 0, after;
	int ret, e;

	f->hostile = pick(f, 2);
	cmd = data ? fuzz_data(f) : fuzz_control(f);
	if (f->hostile && !pick(f, 16))	/* a command the module does not know */
		cmd = _IOC(pick(f, 4), pick(f, 2) ? BETRKV_IOCTL_TYPE : pick(f, 256),
			   pick(f, 64), pick(f, 1u << 14));
	else if (f->hostile && !pick(f, 16))	/* size bits carry no meaning */
		cmd = BETRKV_IOC_NOSIZE(cmd) | _IOC(0, 0, 0, pick(f, 1u << 14));
	if (f->hostile && !pick(f, 32))
		argp = (void *)(uintptr_t)fuzz_bad_ptr(f, 128);
	if (seq_fd >= 0 && is_mutation(cmd))
		before = store_seq(seq_fd);
	ret = ioctl(fd, cmd, argp);
	e = errno;
	f->calls++;
	if (ret && !errno_known(e)) {
		fprintf(stderr, "# cmd %#lx: unexpected errno %d (%s)\n", cmd, e,
			strerror(e));
		return false;
	}
	if (ret)
		f->errnos[e]++;
	else
		f->ok++;
	if (seq_fd < 0 || !is_mutation(cmd))
		return true;
	after = store_seq(seq_fd);
	if (after == before + !ret)
		return true;
	fprintf(stderr, "# cmd %#lx returned %d (errno %d): seq %llu -> %llu\n",
		cmd, ret, ret ? e : 0, before, after);
	return false;
}

static int open_node(int mode)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/betrkv%u",
		 __atomic_load_n(&store_index, __ATOMIC_RELAXED));
	return open(path, mode);
}

static unsigned long fuzz_calls(void)
{
	const char *s = getenv("BETRKV_FUZZ_CALLS");

	return s ? strtoul(s, NULL, 0) : 100000;
}

static unsigned long long fuzz_seed(void)
{
	const char *s = getenv("BETRKV_SEED");

	return s ? strtoull(s, NULL, 0) : 1;
}

static void fuzzer_init(struct fuzzer *f, unsigned long long seed)
{
	memset(f, 0, sizeof(*f));
	f->rng = seed;
	arena_init(&f->a);
}

/* @n calls spread over the control device and the store's two fds. */
static bool fuzz_run(struct fuzzer *f, unsigned long n)
{
	int ctl = open("/dev/" BETRKV_CONTROL_NAME, O_RDWR);
	int rw = open_node(O_RDWR), ro = open_node(O_RDONLY);
	bool good = ctl >= 0 && rw >= 0 && ro >= 0;
	unsigned long i;

	for (i = 0; good && i < n; i++) {
		u32 r = pick(f, 8);	/* 1/8 control, 2/8 read-only, 5/8 read-write */

		good = fuzz_call(f, r ? (r < 3 ? ro : rw) : ctl, r, rw);
	}
	close(ctl);
	close(rw);
	close(ro);
	return good;
}

static void report(const struct fuzzer *f, const char *who)
{
	printf("# %s: %lu calls, %lu succeeded; EINVAL %lu, E2BIG %lu, EFAULT %lu, "
	       "EPERM %lu, EBADF %lu, ENOTTY %lu, ERANGE %lu, ENOENT %lu, EBUSY %lu\n",
	       who, f->calls, f->ok, f->errnos[EINVAL], f->errnos[E2BIG],
	       f->errnos[EFAULT], f->errnos[EPERM], f->errnos[EBADF],
	       f->errnos[ENOTTY], f->errnos[ERANGE], f->errnos[ENOENT],
	       f->errnos[EBUSY]);
}

/* The preloaded pairs: keys 0xff 'P' <i>, values derived from i. */
static void preload_pair(u32 i, char *key, char *val)
{
	sprintf(key, "\xffP%05u", i);
	sprintf(val, "value-%u-%llx", i, rng_hash(i));
}

static void preload(struct betrkv *s)
{
	char key[16], val[64];
	u32 i;

	for (i = 0; i < PRELOAD; i++) {
		preload_pair(i, key, val);
		if (betrkv_put(s, key, strlen(key), val, strlen(val), NULL))
			vm_die("preload");
	}
}

/* Every preloaded pair reads back exactly, and nothing else has 0xff keys. */
static bool verify_preload(struct betrkv *s)
{
	char key[16], val[64], got[64];
	struct betrkv_iter *it;
	const void *k, *v;
	size_t kl, vl;
	u32 i, n = 0;
	int ret;

	for (i = 0; i < PRELOAD; i++) {
		preload_pair(i, key, val);
		ret = betrkv_get(s, key, strlen(key), got, sizeof(got), &vl);
		if (ret || vl != strlen(val) || memcmp(got, val, vl))
			return false;
	}
	if (betrkv_iter_new(s, "\xff", 1, NULL, 0, &it))
		return false;
	while ((ret = betrkv_iter_next(it, &k, &kl, &v, &vl)) > 0)
		n++;
	betrkv_iter_free(it);
	return !ret && n == PRELOAD;
}

FIXTURE(fuzz) {
	struct betrkv *s;
};

FIXTURE_SETUP(fuzz)
{
	unbind_all();
	ASSERT_EQ(0, betrkv_format(FUZZ_DISK, NULL, NULL));
	ASSERT_EQ(0, betrkv_bind(FUZZ_DISK, NULL, &store_index));
	ASSERT_EQ(0, betrkv_open(store_index, &self->s));
	preload(self->s);
	ASSERT_EQ(0, betrkv_sync(self->s, NULL));
}

FIXTURE_TEARDOWN(fuzz)
{
	if (self->s)
		betrkv_close(self->s);
	unbind_all();
}

/* As root: control device, read-write and read-only store fds. */
TEST_F_TIMEOUT(fuzz, root, 900)
{
	struct fuzzer *f = malloc(sizeof(*f));

	ASSERT_NE(NULL, f);
	fuzzer_init(f, fuzz_seed());
	EXPECT_TRUE(fuzz_run(f, fuzz_calls() * 6 / 10));
	report(f, "root");
	EXPECT_TRUE(verify_preload(self->s));
	free(f);
}

/* As nobody, with the store's node and the control device world-writable. */
TEST_F_TIMEOUT(fuzz, unprivileged, 900)
{
	const char *ctl = "/dev/" BETRKV_CONTROL_NAME;
	struct stat ctl_st;
	char path[64];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "/dev/betrkv%u", store_index);
	ASSERT_EQ(0, stat(ctl, &ctl_st));
	ASSERT_EQ(0, chmod(path, 0666));
	ASSERT_EQ(0, chmod(ctl, 0666));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct fuzzer *f = malloc(sizeof(*f));

		if (!f || setgid(NOBODY) || setuid(NOBODY))
			_exit(2);
		fuzzer_init(f, fuzz_seed() + 1);
		status = fuzz_run(f, fuzz_calls() * 2 / 10) &&
			 f->errnos[EPERM] > 0;
		report(f, "nobody");
		_exit(status ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	chmod(ctl, ctl_st.st_mode & 07777);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_TRUE(verify_preload(self->s));
}

struct churn {
	unsigned long long seed;
	unsigned long calls;
	bool good;
	bool finished;
	struct fuzzer f;
};

/* A fuzzing thread: open the store, a few calls, close, again. */
static void *churn_fuzz(void *arg)
{
	struct churn *c = arg;
	int fd;

	fuzzer_init(&c->f, c->seed);
	c->good = true;
	while (c->good && c->f.calls < c->calls) {
		fd = open_node(pick(&c->f, 2) ? O_RDWR : O_RDONLY);
		if (fd < 0) {
			c->good = errno == ENOENT || errno == ENXIO || errno == ENODEV;
			continue;
		}
		for (u32 i = 0; c->good && i < 20; i++)
			c->good = fuzz_call(&c->f, fd, true, -1);
		close(fd);
		usleep(pick(&c->f, 2000));	/* gaps in which unbind can win */
	}
	__atomic_store_n(&c->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Threads fuzz while the store is unbound and bound again under them. */
TEST_F_TIMEOUT(fuzz, unbind_rebind, 900)
{
	struct churn *c = calloc(FUZZ_THREADS, sizeof(*c));
	pthread_t th[FUZZ_THREADS];
	int done = 0, rebinds = 0, i, ret;
	u32 index;

	ASSERT_NE(NULL, c);
	betrkv_close(self->s);
	self->s = NULL;
	for (i = 0; i < FUZZ_THREADS; i++) {
		c[i].seed = fuzz_seed() + 2 + i;
		c[i].calls = fuzz_calls() * 2 / 10 / FUZZ_THREADS;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, churn_fuzz, &c[i]));
	}
	while (done < FUZZ_THREADS) {
		ret = betrkv_unbind(store_index);
		if (!ret) {
			ASSERT_EQ(0, betrkv_bind(FUZZ_DISK, NULL, &index));
			__atomic_store_n(&store_index, index, __ATOMIC_RELAXED);
			rebinds++;
		} else {
			ASSERT_EQ(-EBUSY, ret);
		}
		usleep(200);
		for (done = 0, i = 0; i < FUZZ_THREADS; i++)
			done += __atomic_load_n(&c[i].finished, __ATOMIC_ACQUIRE);
	}
	for (i = 0; i < FUZZ_THREADS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_TRUE(c[i].good);
		report(&c[i].f, "thread");
	}
	printf("# %d unbinds and binds under the threads\n", rebinds);
	EXPECT_LT(0, rebinds);
	ASSERT_EQ(0, betrkv_open(store_index, &self->s));
	EXPECT_TRUE(verify_preload(self->s));
	free(c);
}

TEST_HARNESS_MAIN
