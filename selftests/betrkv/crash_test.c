// SPDX-License-Identifier: GPL-2.0
/*
 * Crash states (spec section 2), recorded with dm-log-writes and replayed
 * with betrkv-log-replay (tools/log-replay.c):
 *
 *  - record: a store on a dm-log-writes device (data and log on loop
 *    devices over files in /tmp) runs a workload of puts, deletes and
 *    batches with a sync after every round; after each completed sync the
 *    log gets a mark.  The mutations, their sequence numbers and what each
 *    mark promises are saved for the next tests.
 *  - replay: every prefix of the log is replayed and checked, and torn
 *    variants at random points: the writes no completed flush covered yet,
 *    and the one in flight, land fully, not at all, or torn, some sectors
 *    garbage.  Each image is bound read-only on a read-only loop device
 *    (so recovery cannot write) and read whole: it must equal the map after
 *    the first n mutations, for some n between what the last sync before
 *    that point covered and what had been issued by the next mark.
 *  - controls: the check does fail on a state newer than allowed, on synced
 *    data lost to a dropped FUA write, and on a damaged value.
 *
 * BETRKV_SEED=<n> picks another workload and other torn variants (the seed
 * is printed first); BETRKV_CRASH_TORN=<n> checks n torn variants (default
 * 200).  BETRKV_LOG_REPLAY names the replay tool (default:
 * betrkv-log-replay, from PATH).  Needs dmsetup in PATH, and the loop and
 * dm-log-writes modules.
 *
 * With --reset-phase1 and --reset-phase2 the program is instead the two
 * halves of a hard reset test over two boots (see "hard reset" below).
 */
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <linux/loop.h>

#include "kselftest_harness.h"
#include "vmtest.h"
#include "../rng.h"

#define WORK_DIR	"/tmp/betrkv-crash"
#define DATA_IMG	WORK_DIR "/data.img"
#define LOG_IMG		WORK_DIR "/log.img"
#define CLEAN_IMG	WORK_DIR "/clean.img"
#define TORN_IMG	WORK_DIR "/torn.img"
#define RECORD		WORK_DIR "/record"
#define DM_NAME		"betrkv-crash"
#define DM_DEV		"/dev/mapper/" DM_NAME

#define DATA_BYTES	(64ull << 20)
#define LOG_BYTES	(256ull << 20)	/* sparse */
#define JOURNAL_BYTES	BETRKV_JOURNAL_SIZE_MIN	/* the smallest: checkpoints come often */

#define NKEYS		200u
#define ROUNDS		20u
#define PER_ROUND	40u
#define TAIL		30u		/* mutations after the last sync */
#define NMUT		(ROUNDS * PER_ROUND + TAIL)
#define MAXMUT		3000u		/* the reset workload's length */
#define MAXOPS		8u		/* per batch */
#define MAXMARKS	(ROUNDS + 4)
#define TORN_VARIANTS	200u		/* default */
#define MAX_REPORTS	8u		/* failures described in full */

/* ------------------------------------------------------------ the record */

struct op {
	u16 key;
	bool put;
	u32 vlen;
};

struct mutation {
	uint64_t seq;
	u32 nops;
	struct op ops[MAXOPS];
};

/*
 * A mark set in the log, and what the store promises at every point of the
 * log after it (@lower: the first @lower mutations are durable) and before
 * it (@upper: at most the first @upper mutations had been issued).
 */
struct mark {
	char name[32];
	u32 lower, upper;
};

struct record {
	u64 seed;
	u32 nmut, nmarks;
	struct mutation mut[MAXMUT];
	struct mark marks[MAXMARKS];
	u64 checkpoints;
};

static u64 seed_from_env(void)
{
	const char *env = getenv("BETRKV_SEED");

	return env ? strtoull(env, NULL, 0) : 1;
}

/* Key @k: "k" and three digits, then k % 11 dashes (lengths vary). */
static size_t key_of(u32 k, char *buf)
{
	return sprintf(buf, "k%03u%.*s", k, (int)(k % 11), "----------");
}

/* The value op @o of mutation @m puts: it names itself, then filler. */
static void value_of(u32 m, u32 o, u32 k, u8 *buf, u32 vlen)
{
	char head[40];
	int n = snprintf(head, sizeof(head), "m%u.o%u.k%u;", m, o, k);
	u32 i;

	for (i = 0; i < vlen; i++)
		buf[i] = i < (u32)n ? head[i] : (u8)(m * 131 + o * 17 + i * 7);
}

static u32 random_vlen(u64 *rng)
{
	u64 r = rng_next(rng);

	return r % 20 == 0 ? 4096 + (r >> 8) % 8192 : 24 + (r >> 8) % 1500;
}

static void random_mutation(u64 *rng, struct mutation *mu)
{
	u64 r = rng_next(rng) % 100;
	u32 i;

	mu->nops = r < 70 ? 1 : 2 + rng_next(rng) % (MAXOPS - 1);
	for (i = 0; i < mu->nops; i++) {
		mu->ops[i].key = rng_next(rng) % NKEYS;
		mu->ops[i].put = mu->nops == 1 ? r < 55 : rng_next(rng) % 5 != 0;
		mu->ops[i].vlen = mu->ops[i].put ? random_vlen(rng) : 0;
	}
}

/* The first @n mutations of the workload of @seed. */
static void make_workload(struct record *rec, u64 seed, u32 n)
{
	u64 rng = seed;
	u32 m;

	rec->seed = seed;
	for (m = 0; m < n; m++)
		random_mutation(&rng, &rec->mut[m]);
}

static int save_record(const struct record *rec)
{
	FILE *f = fopen(RECORD, "w");
	int ok = f && fwrite(rec, sizeof(*rec), 1, f) == 1;

	return (f && fclose(f)) || !ok ? -1 : 0;
}

static int load_record(struct record *rec)
{
	FILE *f = fopen(RECORD, "r");
	int ok = f && fread(rec, sizeof(*rec), 1, f) == 1;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------ the guest */

static const char *replay_tool(void)
{
	const char *env = getenv("BETRKV_LOG_REPLAY");

	return env ? env : "betrkv-log-replay";
}

/* Run the replay tool with @args; its first output line goes to @out. */
static int replay(char *out, size_t cap, const char *fmt, ...)
{
	char args[256], cmd[512];
	va_list ap;
	FILE *p;
	int r;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", replay_tool(), args);
	p = popen(cmd, "r");
	if (!p)
		return 128;
	out[0] = '\0';
	if (fgets(out, cap, p))
		out[strcspn(out, "\n")] = '\0';
	while (fgetc(p) != EOF)
		;
	r = pclose(p);
	return WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

/* A zeroed sparse file of @bytes. */
static int make_file(const char *path, u64 bytes)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int r = fd < 0 || ftruncate(fd, bytes) ? -1 : 0;

	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Attach @file to a free loop device that goes away when the returned fd
 * (kept open meanwhile) and every other user are closed; read-only unless
 * @writable.  The device's path goes to @dev.  Returns the fd or -1.
 */
static int loop_attach(const char *file, bool writable, char *dev, size_t cap)
{
	struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
	int ctl, nr, ffd, lfd = -1;

	ctl = open("/dev/loop-control", O_RDWR);
	nr = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	if (ctl >= 0)
		close(ctl);
	if (nr < 0)
		return -1;
	snprintf(dev, cap, "/dev/loop%d", nr);
	ffd = open(file, writable ? O_RDWR : O_RDONLY);
	if (ffd < 0)
		return -1;
	lfd = open(dev, writable ? O_RDWR : O_RDONLY);
	if (lfd >= 0 && (ioctl(lfd, LOOP_SET_FD, ffd) ||
			 ioctl(lfd, LOOP_SET_STATUS64, &info))) {
		close(lfd);
		lfd = -1;
	}
	close(ffd);
	return lfd;
}

/* Make @to a copy of @from (same size), writing only @from's data extents. */
static int copy_image(const char *from, const char *to)
{
	static u8 buf[1 << 20];
	int in = open(from, O_RDONLY), out = open(to, O_RDWR);
	off_t size, off, end, n;
	int r = -1;

	if (in < 0 || out < 0)
		goto out;
	size = lseek(in, 0, SEEK_END);
	if (fallocate(out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size))
		goto out;
	for (off = lseek(in, 0, SEEK_DATA); off >= 0 && off < size;
	     off = lseek(in, end, SEEK_DATA)) {
		end = lseek(in, off, SEEK_HOLE);
		for (; off < end; off += n) {
			n = end - off < (off_t)sizeof(buf) ? end - off : (off_t)sizeof(buf);
			if (pread(in, buf, n, off) != n || pwrite(out, buf, n, off) != n)
				goto out;
		}
	}
	r = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

/* ------------------------------------------------------------ the check */

/* One entry of the log, from the replay tool's --list. */
struct lentry {
	u64 nr_sectors;
	bool flush, fua, mark;
	char name[32];
};

struct loglist {
	u32 n;
	struct lentry *e;
};

static int list_log(struct loglist *l)
{
	char cmd[256], line[512], flags[64], name[64];
	unsigned long long idx, sector, nr;
	struct lentry *e;
	u32 cap = 0;
	FILE *p;
	int k;

	snprintf(cmd, sizeof(cmd), "%s --list %s", replay_tool(), LOG_IMG);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	l->n = 0;
	l->e = NULL;
	while (fgets(line, sizeof(line), p)) {
		if (line[0] == '#')
			continue;
		name[0] = '\0';
		k = sscanf(line, "%llu %llu %llu %63s %63s", &idx, &sector, &nr,
			   flags, name);
		if (k < 4 || idx != l->n)
			break;
		if (l->n == cap) {
			cap = cap ? 2 * cap : 256;
			e = reallocarray(l->e, cap, sizeof(*e));
			if (!e)
				break;
			l->e = e;
		}
		l->e[l->n] = (struct lentry){ .nr_sectors = nr,
			.flush = strstr(flags, "FLUSH"), .fua = strstr(flags, "FUA"),
			.mark = strstr(flags, "MARK") };
		snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name);
		l->n++;
	}
	return pclose(p) == 0 && l->n ? 0 : -1;
}

/* What the store must show at a point: some prefix n in [lower, upper]. */
struct bounds {
	u32 lower, upper;
	bool may_be_blank;	/* before format completed: no store is fine */
};

/*
 * The image a crash at point @p (entries [0, p) replayed) leaves must hold
 * what every mark before @p promised, and nothing issued after the first
 * mark at or past @p.
 */
static struct bounds bounds_at(const struct record *rec, const u32 *mark_idx,
			       u32 p)
{
	struct bounds b = { .lower = 0, .upper = rec->nmut };
	u32 i;

	for (i = 0; i < rec->nmarks; i++) {
		if (mark_idx[i] < p && rec->marks[i].lower > b.lower)
			b.lower = rec->marks[i].lower;
		if (mark_idx[i] >= p && rec->marks[i].upper < b.upper)
			b.upper = rec->marks[i].upper;
	}
	b.may_be_blank = p <= mark_idx[0];	/* marks[0] is "formatted" */
	return b;
}

/*
 * Which put each key's value came from (m * MAXOPS + o), or -1 when absent,
 * as read from a store.  Every value must be one the workload put on that
 * key, byte for byte.
 */
static int decode_pair(const struct record *rec, const void *key, size_t klen,
		       const void *val, size_t vlen, int *gen, char *why,
		       size_t cap)
{
	static u8 want[BETRKV_VALUE_MAX];
	char kin[32], kbuf[32], head[48];
	u32 k, m, o;

	snprintf(kin, sizeof(kin), "%.*s", (int)(klen < 31 ? klen : 31),
		 (const char *)key);
	if (sscanf(kin, "k%3u", &k) != 1 || k >= NKEYS || key_of(k, kbuf) != klen ||
	    memcmp(kbuf, key, klen)) {
		snprintf(why, cap, "unknown key '%s' (%zu bytes)", kin, klen);
		return -1;
	}
	if (gen[k] != -1) {
		snprintf(why, cap, "key %s twice", kbuf);
		return -1;
	}
	snprintf(head, sizeof(head), "%.*s", (int)(vlen < 40 ? vlen : 40),
		 (const char *)val);
	if (sscanf(head, "m%u.o%u.k", &m, &o) != 2 || m >= rec->nmut ||
	    o >= rec->mut[m].nops || !rec->mut[m].ops[o].put ||
	    rec->mut[m].ops[o].key != k || rec->mut[m].ops[o].vlen != vlen) {
		snprintf(why, cap, "key %s: a value the workload never put ('%.20s', %zu bytes)",
			 kbuf, head, vlen);
		return -1;
	}
	value_of(m, o, k, want, vlen);
	if (memcmp(want, val, vlen)) {
		snprintf(why, cap, "key %s: value of mutation %u op %u is damaged",
			 kbuf, m, o);
		return -1;
	}
	gen[k] = m * MAXOPS + o;
	return 0;
}

/* Read the whole store @s into @gen; 0, or -1 with the reason in @why. */
static int read_pairs(const struct record *rec, struct betrkv *s, int *gen,
		      char *why, size_t cap)
{
	struct betrkv_iter *it = NULL;
	const void *key, *val;
	size_t klen, vlen;
	u32 k;
	int err;

	for (k = 0; k < NKEYS; k++)
		gen[k] = -1;
	err = betrkv_iter_new(s, "", 1, NULL, 0, &it);
	while (!err && (err = betrkv_iter_next(it, &key, &klen, &val, &vlen)) == 1)
		err = decode_pair(rec, key, klen, val, vlen, gen, why, cap) ? -EBADMSG : 0;
	betrkv_iter_free(it);
	if (err && err != -EBADMSG)
		snprintf(why, cap, "reading the store: error %d (%s)", err,
			 betrkv_errstr(err));
	return err ? -1 : 0;
}

/*
 * Bind @dev read-only and read the whole store into @gen.  Returns 0,
 * -ENODATA when the device holds no store, or -1 with the reason in @why.
 */
static int read_store(const struct record *rec, const char *dev, int *gen,
		      char *why, size_t cap)
{
	struct betrkv_bind_opts opts = { .read_only = true };
	struct betrkv *s = NULL;
	u32 index;
	int err, r;

	err = betrkv_bind(dev, &opts, &index);
	if (err == -ENODATA)
		return -ENODATA;
	if (err) {
		snprintf(why, cap, "bind: error %d (%s)", err, betrkv_errstr(err));
		return -1;
	}
	err = betrkv_open(index, &s);
	if (err)
		snprintf(why, cap, "open: error %d (%s)", err, betrkv_errstr(err));
	r = err ? -1 : read_pairs(rec, s, gen, why, cap);
	betrkv_close(s);
	err = betrkv_unbind(index);
	if (err && !r) {
		snprintf(why, cap, "unbind: error %d (%s)", err, betrkv_errstr(err));
		r = -1;
	}
	return r;
}

/*
 * The n in [b.lower, b.upper] such that @gen is the map after the first n
 * mutations, or -1.  Walks the mutations once, counting the keys on which
 * the map and @gen differ.
 */
static int find_prefix(const struct record *rec, const int *gen,
		       struct bounds b)
{
	int model[NKEYS], was, now;
	u32 k, n, o, diff = 0;

	for (k = 0; k < NKEYS; k++) {
		model[k] = -1;
		diff += gen[k] != -1;
	}
	for (n = 0; n <= b.upper; n++) {
		if (n >= b.lower && !diff)
			return n;
		if (n == rec->nmut)
			break;
		for (o = 0; o < rec->mut[n].nops; o++) {
			k = rec->mut[n].ops[o].key;
			was = model[k] != gen[k];
			model[k] = rec->mut[n].ops[o].put ? (int)(n * MAXOPS + o) : -1;
			now = model[k] != gen[k];
			diff += now - was;
		}
	}
	return -1;
}

/*
 * Check the store on @dev against @b: returns the prefix length it shows
 * (0 for a device without a store, where that is allowed) or -1 with the
 * reason in @why.
 */
static int check_image(const struct record *rec, const char *dev,
		       struct bounds b, char *why, size_t cap)
{
	int gen[NKEYS], r;

	r = read_store(rec, dev, gen, why, cap);
	if (r == -ENODATA && b.may_be_blank)
		return 0;
	if (r == -ENODATA)
		snprintf(why, cap, "no store on the device");
	if (r)
		return -1;
	r = find_prefix(rec, gen, b);
	if (r < 0) {
		u32 k, present = 0;

		for (k = 0; k < NKEYS; k++)
			present += gen[k] != -1;
		snprintf(why, cap, "%u keys, not the map after n mutations for any n in [%u, %u]",
			 present, b.lower, b.upper);
	}
	return r;
}

/* ------------------------------------------------------------ the tests */

FIXTURE(crash) {
	struct record *rec;
	struct loglist log;
	u32 mark_idx[MAXMARKS];
	char clean_dev[32], torn_dev[32];
	int clean_fd, torn_fd;
};

FIXTURE_SETUP(crash)
{
	betrkv_user_set_log(quiet_core);
	unbind_all();
	self->rec = calloc(1, sizeof(*self->rec));
	ASSERT_NE(NULL, self->rec);
	self->clean_fd = self->torn_fd = -1;
}

FIXTURE_TEARDOWN(crash)
{
	unbind_all();
	if (self->clean_fd >= 0)
		close(self->clean_fd);
	if (self->torn_fd >= 0)
		close(self->torn_fd);
	free(self->log.e);
	free(self->rec);
}

static int mark(struct record *rec, const char *name, u32 lower, u32 upper)
{
	struct mark *mk = &rec->marks[rec->nmarks++];

	snprintf(mk->name, sizeof(mk->name), "%s", name);
	mk->lower = lower;
	mk->upper = upper;
	return vm_sh("dmsetup message " DM_NAME " 0 mark %s", name);
}

static int do_mutation(struct betrkv *s, u32 m, const struct mutation *mu,
		       uint64_t *seq)
{
	static u8 vals[MAXOPS][BETRKV_VALUE_MAX];
	char keys[MAXOPS][32];
	size_t klen[MAXOPS];
	struct betrkv_batch *b;
	u32 o;
	int err;

	for (o = 0; o < mu->nops; o++) {
		klen[o] = key_of(mu->ops[o].key, keys[o]);
		value_of(m, o, mu->ops[o].key, vals[o], mu->ops[o].vlen);
	}
	if (mu->nops == 1 && mu->ops[0].put)
		return betrkv_put(s, keys[0], klen[0], vals[0], mu->ops[0].vlen, seq);
	if (mu->nops == 1)
		return betrkv_delete(s, keys[0], klen[0], seq);
	b = betrkv_batch_new();
	if (!b)
		return -ENOMEM;
	for (o = 0, err = 0; o < mu->nops && !err; o++)
		err = mu->ops[o].put ?
		      betrkv_batch_put(b, keys[o], klen[o], vals[o], mu->ops[o].vlen) :
		      betrkv_batch_delete(b, keys[o], klen[o]);
	err = err ?: betrkv_batch_commit(s, b, seq);
	betrkv_batch_free(b);
	return err;
}

/* Mutations [0, n) with a sequence number up to @seq. */
static u32 covered(const struct record *rec, u32 n, uint64_t seq)
{
	u32 c = 0;

	while (c < n && rec->mut[c].seq <= seq)
		c++;
	return c;
}

TEST_F_TIMEOUT(crash, record, 300)
{
	struct betrkv_format_opts fopts = { .journal_size = JOURNAL_BYTES };
	struct record *rec = self->rec;
	struct betrkv_stats_args st;
	char data_dev[32], log_dev[32], name[32];
	int data_fd, log_fd;
	struct betrkv *s;
	uint64_t durable, last = 0;
	u32 index, r, m = 0, end, synced = 0;

	make_workload(rec, seed_from_env(), NMUT);
	ksft_print_msg("seed %llu (BETRKV_SEED replays it)\n", rec->seed);
	ASSERT_EQ(0, vm_sh("modprobe loop && modprobe dm-log-writes"))
		TH_LOG("the loop and dm-log-writes modules are needed");
	vm_sh("dmsetup remove " DM_NAME " >/dev/null 2>&1");
	ASSERT_EQ(0, vm_sh("rm -rf " WORK_DIR " && mkdir -p " WORK_DIR));
	ASSERT_EQ(0, make_file(DATA_IMG, DATA_BYTES));
	ASSERT_EQ(0, make_file(LOG_IMG, LOG_BYTES));
	data_fd = loop_attach(DATA_IMG, true, data_dev, sizeof(data_dev));
	log_fd = loop_attach(LOG_IMG, true, log_dev, sizeof(log_dev));
	ASSERT_LE(0, data_fd);
	ASSERT_LE(0, log_fd);
	ASSERT_EQ(0, vm_sh("dmsetup create " DM_NAME " --table '0 %llu log-writes %s %s'",
			DATA_BYTES >> 9, data_dev, log_dev));

	ASSERT_EQ(0, betrkv_format(DM_DEV, &fopts, NULL));
	ASSERT_EQ(0, mark(rec, "formatted", 0, 0));
	ASSERT_EQ(0, betrkv_bind(DM_DEV, NULL, &index));
	ASSERT_EQ(0, betrkv_open(index, &s));
	for (r = 1; r <= ROUNDS + 1; r++) {
		end = r <= ROUNDS ? r * PER_ROUND : NMUT;
		for (; m < end; m++) {
			ASSERT_EQ(0, do_mutation(s, m, &rec->mut[m], &rec->mut[m].seq))
				TH_LOG("mutation %u", m);
			ASSERT_LT(last, rec->mut[m].seq);
			last = rec->mut[m].seq;
			rec->nmut = m + 1;
		}
		if (r > ROUNDS)
			break;
		ASSERT_EQ(0, betrkv_sync(s, &durable));
		ASSERT_LE(last, durable);
		synced = covered(rec, m, durable);
		snprintf(name, sizeof(name), "sync-%u", r);
		ASSERT_EQ(0, mark(rec, name, synced, m));
	}
	ASSERT_EQ(0, mark(rec, "workload-end", synced, m));
	ASSERT_EQ(0, betrkv_stats(s, &st));
	rec->checkpoints = st.checkpoints;
	ksft_print_msg("%llu node writes: %llu appended, %llu written back, %llu forced\n",
		       st.node_writes, st.node_appends, st.writebacks, st.cp_forced);
	EXPECT_LE(st.node_appends, st.node_writes);
	EXPECT_LE(st.writebacks, st.node_writes);
	betrkv_close(s);
	/* Unbind writes the final checkpoint: after it, everything is there. */
	ASSERT_EQ(0, betrkv_unbind(index));
	ASSERT_EQ(0, mark(rec, "unbound", m, m));
	ASSERT_EQ(0, vm_sh("dmsetup remove " DM_NAME));
	close(data_fd);
	close(log_fd);
	ASSERT_EQ(0, save_record(rec));
	ksft_print_msg("recorded %u mutations, %u syncs, %llu checkpoints\n",
		       rec->nmut, ROUNDS, rec->checkpoints);
	/* The point of the exercise: crash states inside checkpoints too. */
	EXPECT_LE(1, rec->checkpoints);
}

/* Load the record and the log's entries; find the marks. */
static void setup_replay(struct __test_metadata *_metadata,
			 FIXTURE_DATA(crash) *self)
{
	u32 i, j = 0;

	ASSERT_EQ(0, load_record(self->rec)) TH_LOG("no record: did crash.record fail?");
	ASSERT_EQ(0, list_log(&self->log)) TH_LOG("%s --list %s failed",
						  replay_tool(), LOG_IMG);
	for (i = 0; i < self->rec->nmarks; i++) {
		while (j < self->log.n && !(self->log.e[j].mark &&
		       !strcmp(self->log.e[j].name, self->rec->marks[i].name)))
			j++;
		ASSERT_GT(self->log.n, j) TH_LOG("mark %s is not in the log",
						 self->rec->marks[i].name);
		self->mark_idx[i] = j;
	}
	ASSERT_EQ(0, make_file(CLEAN_IMG, DATA_BYTES));
	ASSERT_EQ(0, make_file(TORN_IMG, DATA_BYTES));
	self->clean_fd = loop_attach(CLEAN_IMG, false, self->clean_dev,
				     sizeof(self->clean_dev));
	self->torn_fd = loop_attach(TORN_IMG, false, self->torn_dev,
				    sizeof(self->torn_dev));
	ASSERT_LE(0, self->clean_fd);
	ASSERT_LE(0, self->torn_fd);
}

/* The index just past the last FLUSH entry before @p (0 if none). */
static u32 durable_before(const struct loglist *l, u32 p)
{
	while (p && !l->e[p - 1].flush)
		p--;
	return p;
}

/* Would --torn at @p tear anything (see tools/log-replay.c)? */
static bool tearable(const struct loglist *l, u32 p)
{
	u32 i;

	for (i = durable_before(l, p); i < p; i++)
		if (l->e[i].nr_sectors && !l->e[i].fua)
			return true;
	return p < l->n && l->e[p].nr_sectors && !l->e[p].flush;
}

struct variant {
	u32 point;
	u64 seed;
};

static int cmp_variant(const void *a, const void *b)
{
	const struct variant *x = a, *y = b;

	return x->point < y->point ? -1 : x->point > y->point;
}

/* Zero a file in place (the loop device on it stays attached). */
static int zero_file(const char *path)
{
	int fd = open(path, O_RDWR);
	int r = fd < 0 || fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    0, DATA_BYTES) ? -1 : 0;

	if (fd >= 0)
		close(fd);
	return r;
}

/* Add up the tool's "N torn: A sectors new, B old, C garbage". */
static void count_torn(const char *out, unsigned long long sum[4])
{
	const char *at = strstr(out, "; durable before");
	unsigned long long v[4];
	int i;

	if (at && sscanf(at, "; durable before %*u, %llu torn: %llu sectors new, %llu old, %llu garbage",
			 &v[0], &v[1], &v[2], &v[3]) == 4)
		for (i = 0; i < 4; i++)
			sum[i] += v[i];
}

/*
 * Every prefix of the log is a crash state (writes no flush covered yet
 * are logged in a batch just before the FLUSH entry, so a prefix ending
 * inside a batch is a subset of them landing): each is replayed in order
 * onto CLEAN_IMG and checked.  Torn variants: at random points past format
 * where --torn has something to tear, each made from a copy of the clean
 * image at its last flush.
 */
TEST_F_TIMEOUT(crash, replay, 900)
{
	const char *env = getenv("BETRKV_CRASH_TORN");
	u32 want = env ? strtoul(env, NULL, 0) : TORN_VARIANTS;
	const struct loglist *l = &self->log;
	unsigned long long sum[4] = { 0 };
	u32 *cand, ncand = 0, ntorn = 0, t = 0, i, q;
	struct variant *torn;
	u32 fails = 0, blank = 0, newer = 0, barrier = 0;
	char why[256], out[256];
	struct bounds b;
	u64 rng;
	int n;

	setup_replay(_metadata, self);
	cand = calloc(l->n + 1, sizeof(*cand));
	torn = calloc(want + 1, sizeof(*torn));
	ASSERT_NE(NULL, cand);
	ASSERT_NE(NULL, torn);
	for (q = self->mark_idx[0] + 1; q <= l->n; q++)
		if (tearable(l, q))
			cand[ncand++] = q;
	rng = self->rec->seed ^ 0x746f726eull;
	for (i = 0; ncand && i < want; i++)
		torn[ntorn++] = (struct variant){ .point = cand[rng_next(&rng) % ncand],
						  .seed = rng_next(&rng) };
	qsort(torn, ntorn, sizeof(*torn), cmp_variant);
	for (i = 0; i < l->n; i++)
		barrier += l->e[i].flush || l->e[i].fua;
	ksft_print_msg("log: %u entries (%u FLUSH or FUA), %u points where a crash tears writes\n",
		       l->n, barrier, ncand);

	for (q = 0; q <= l->n; q++) {
		if (q)
			ASSERT_EQ(0, replay(out, sizeof(out), "--from-entry %u --to-entry %u %s %s",
					    q - 1, q, LOG_IMG, CLEAN_IMG)) TH_LOG("%s", out);
		b = bounds_at(self->rec, self->mark_idx, q);
		n = check_image(self->rec, self->clean_dev, b, why, sizeof(why));
		if (n < 0 && fails++ < MAX_REPORTS)
			ksft_print_msg("point %u: %s\n", q, why);
		blank += b.may_be_blank;
		newer += n > (int)b.lower;
		for (; t < ntorn && durable_before(l, torn[t].point) == q; t++) {
			ASSERT_EQ(0, copy_image(CLEAN_IMG, TORN_IMG));
			ASSERT_EQ(0, replay(out, sizeof(out),
					    "--from-entry %u --to-entry %u --torn %llu %s %s",
					    q, torn[t].point, torn[t].seed, LOG_IMG,
					    TORN_IMG)) TH_LOG("%s", out);
			count_torn(out, sum);
			b = bounds_at(self->rec, self->mark_idx, torn[t].point);
			n = check_image(self->rec, self->torn_dev, b, why, sizeof(why));
			if (n < 0 && fails++ < MAX_REPORTS)
				ksft_print_msg("torn at %u, seed %llu: %s (%s)\n",
					       torn[t].point, torn[t].seed, why, out);
		}
	}
	EXPECT_EQ(ntorn, t);
	ksft_print_msg("checked %u prefixes: %u before format completed, %u newer than the last sync\n",
		       l->n + 1, blank, newer);
	ksft_print_msg("checked %u torn variants: %llu writes torn; sectors: %llu new, %llu old, %llu garbage\n",
		       ntorn, sum[0], sum[1], sum[2], sum[3]);
	EXPECT_EQ(0, fails) TH_LOG("%u of %u images failed", fails, l->n + 1 + ntorn);
	free(torn);
	free(cand);
}

/* The map after all mutations: which put each key holds, or -1. */
static void final_map(const struct record *rec, int *gen)
{
	u32 k, m, o;

	for (k = 0; k < NKEYS; k++)
		gen[k] = -1;
	for (m = 0; m < rec->nmut; m++)
		for (o = 0; o < rec->mut[m].nops; o++)
			gen[rec->mut[m].ops[o].key] = rec->mut[m].ops[o].put ?
						      (int)(m * MAXOPS + o) : -1;
}

/* Flip a bit in every copy of @pat in the node region of CLEAN_IMG. */
static u32 damage_nodes(const char *dev, const char *pat, size_t len)
{
	static u8 buf[(1 << 20) + 64];
	struct betrkv_sb sb[2];
	int ok0 = sb_read(dev, 0, &sb[0]), ok1 = sb_read(dev, 1, &sb[1]);
	const struct betrkv_sb *cur;
	u64 off, end;
	u32 hits = 0;
	u8 *at;
	int fd;

	if (ok0 && ok1)
		return 0;
	cur = ok1 || (!ok0 && sb[0].generation > sb[1].generation) ? &sb[0] : &sb[1];
	fd = open(CLEAN_IMG, O_RDWR);
	if (fd < 0)
		return 0;
	end = cur->geo.nodes_offset + cur->geo.nodes_size;
	for (off = cur->geo.nodes_offset; off < end; off += 1 << 20) {
		if (pread(fd, buf, sizeof(buf), off) <= 0)
			break;
		for (at = buf; (at = memmem(at, buf + (1 << 20) - at, pat, len)); at++) {
			at[len] ^= 0x10;	/* a filler byte of the value */
			if (pwrite(fd, at + len, 1, off + (at + len - buf)) == 1)
				hits++;
		}
	}
	close(fd);
	return hits;
}

/*
 * The check can fail: a state newer than allowed, synced data lost to a
 * dropped FUA write, and a damaged value are all caught.
 */
TEST_F_TIMEOUT(crash, controls, 300)
{
	u32 sync1, last, j, k, hits;
	int gen[NKEYS], n;
	char why[256], out[256], pat[40];
	struct bounds b;

	setup_replay(_metadata, self);
	sync1 = self->mark_idx[1];	/* marks[1] is "sync-1" */
	ASSERT_STREQ("sync-1", self->rec->marks[1].name);

	/* The state at sync-1 passes, and fails when held to an older bound. */
	ASSERT_EQ(0, replay(out, sizeof(out), "--to-mark sync-1 %s %s", LOG_IMG,
			    CLEAN_IMG)) TH_LOG("%s", out);
	b = bounds_at(self->rec, self->mark_idx, sync1 + 1);
	n = check_image(self->rec, self->clean_dev, b, why, sizeof(why));
	EXPECT_EQ((int)self->rec->marks[1].lower, n) TH_LOG("%s", why);
	ASSERT_LT(0, b.lower);
	b.upper = b.lower - 1;
	b.lower = 0;
	EXPECT_EQ(-1, check_image(self->rec, self->clean_dev, b, why, sizeof(why)));
	ksft_print_msg("control: a state newer than allowed: %s\n", why);

	/* Drop sync-1's last FUA write: what it synced is lost, and seen. */
	for (j = sync1; j && !(self->log.e[j - 1].fua && self->log.e[j - 1].nr_sectors); j--)
		;
	ASSERT_LT(self->mark_idx[0], j - 1);
	ASSERT_EQ(0, zero_file(CLEAN_IMG));
	ASSERT_EQ(0, replay(out, sizeof(out), "--to-entry %u %s %s", j - 1, LOG_IMG,
			    CLEAN_IMG)) TH_LOG("%s", out);
	ASSERT_EQ(0, replay(out, sizeof(out), "--from-entry %u --to-mark sync-1 %s %s",
			    j, LOG_IMG, CLEAN_IMG)) TH_LOG("%s", out);
	b = bounds_at(self->rec, self->mark_idx, sync1 + 1);
	EXPECT_EQ(-1, check_image(self->rec, self->clean_dev, b, why, sizeof(why)));
	ksft_print_msg("control: entry %u (FUA) dropped: %s\n", j - 1, why);
	b.lower = 0;
	n = check_image(self->rec, self->clean_dev, b, why, sizeof(why));
	EXPECT_LE(0, n) TH_LOG("%s", why);
	EXPECT_GT((int)self->rec->marks[1].lower, n);

	/* Damage every copy of a live value in the node region. */
	last = self->rec->nmarks - 1;
	ASSERT_EQ(0, zero_file(CLEAN_IMG));
	ASSERT_EQ(0, replay(out, sizeof(out), "--to-mark %s %s %s",
			    self->rec->marks[last].name, LOG_IMG, CLEAN_IMG))
		TH_LOG("%s", out);
	b = bounds_at(self->rec, self->mark_idx, self->mark_idx[last] + 1);
	ASSERT_EQ((int)self->rec->nmut,
		  check_image(self->rec, self->clean_dev, b, why, sizeof(why)))
		TH_LOG("%s", why);
	final_map(self->rec, gen);
	for (k = 0; k < NKEYS && gen[k] < 0; k++)
		;
	ASSERT_GT(NKEYS, k);
	snprintf(pat, sizeof(pat), "m%u.o%u.k%u;", gen[k] / MAXOPS, gen[k] % MAXOPS, k);
	hits = damage_nodes(self->clean_dev, pat, strlen(pat));
	ASSERT_LT(0, hits);
	EXPECT_EQ(-1, check_image(self->rec, self->clean_dev, b, why, sizeof(why)));
	ksft_print_msg("control: value '%s' damaged in %u places: %s\n", pat, hits, why);
	close(self->clean_fd);
	close(self->torn_fd);
	self->clean_fd = self->torn_fd = -1;
	vm_sh("rm -rf " WORK_DIR);
}

/* ------------------------------------------------------------ hard reset */

/*
 * A hard reset in the middle of a workload, over two boots of a VM that
 * share their disks (tools/run-tests.sh runs both):
 *
 *   crash_test --reset-phase1   formats RESET_DATA and runs the workload,
 *                               with a sync every RESET_SYNC_EVERY mutations
 *                               whose result is noted durably on RESET_META;
 *                               once a random number of mutations is done it
 *                               resets the machine (sysrq b) while the
 *                               workload goes on.  It prints "betrkv-reset:
 *                               resetting" first and never returns then.
 *   crash_test --reset-phase2   (TAP) binds the store read-only: it holds a
 *                               prefix of the workload with everything the
 *                               last noted sync covered; binds it read-write:
 *                               the same prefix; goes on with the workload
 *                               from there, syncs and binds again: exactly
 *                               the longer prefix.
 */
#define RESET_DATA	"/dev/vda"	/* 64 MiB */
#define RESET_META	"/dev/vdb"	/* at least 4 KiB */
#define RESET_MAGIC	0x7465736572766b62ull
#define RESET_SYNC_EVERY 40u
#define RESET_MORE	50u		/* mutations phase 2 adds */

struct reset_note {
	u64 magic, seed;
	u32 target;	/* phase 1 resets after this many mutations */
	u32 syncs;
	u32 synced;	/* mutations the last completed sync covered */
};

static void note_write(const struct reset_note *note)
{
	static u8 blk[BETRKV_BLOCK_SIZE];

	memcpy(blk, note, sizeof(*note));
	raw_io(RESET_META, true, 0, blk, sizeof(blk));	/* O_DIRECT, fsync */
}

/* The workload, in a child process; @done counts completed mutations. */
static void reset_workload(struct record *rec, struct betrkv *s,
			   struct reset_note note, volatile u32 *done)
{
	uint64_t durable;
	u32 m;

	for (m = 0; m < MAXMUT; m++) {
		if (do_mutation(s, m, &rec->mut[m], &rec->mut[m].seq))
			_exit(1);
		*done = m + 1;
		if ((m + 1) % RESET_SYNC_EVERY)
			continue;
		if (betrkv_sync(s, &durable))
			_exit(1);
		note.synced = covered(rec, m + 1, durable);
		note.syncs++;
		note_write(&note);
	}
	_exit(0);
}

static int reset_phase1(void)
{
	struct betrkv_format_opts fopts = { .journal_size = JOURNAL_BYTES };
	struct reset_note note = { .magic = RESET_MAGIC, .seed = seed_from_env() };
	struct record *rec = calloc(1, sizeof(*rec));
	volatile u32 *done;
	struct betrkv *s;
	u64 rng = note.seed ^ 0x7265736574ull;
	u32 index;
	pid_t pid;
	int err, fd;

	betrkv_user_set_log(quiet_core);
	done = mmap(NULL, sizeof(*done), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!rec || done == MAP_FAILED)
		vm_die("reset phase 1");
	make_workload(rec, note.seed, MAXMUT);
	rec->nmut = MAXMUT;
	note.target = 400 + rng_next(&rng) % (MAXMUT / 2);
	err = betrkv_format(RESET_DATA, &fopts, NULL) ?:
	      betrkv_bind(RESET_DATA, NULL, &index) ?: betrkv_open(index, &s);
	if (err) {
		printf("betrkv-reset: %s: %s\n", RESET_DATA, betrkv_errstr(err));
		return 1;
	}
	note_write(&note);
	printf("betrkv-reset: seed %llu; resetting after %u mutations\n",
	       note.seed, note.target);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		vm_die("fork");
	if (!pid)
		reset_workload(rec, s, note, done);
	while (*done < note.target && !waitpid(pid, NULL, WNOHANG))
		usleep(1000);
	if (*done < note.target) {
		printf("betrkv-reset: the workload stopped after %u mutations\n", *done);
		return 1;
	}
	printf("betrkv-reset: resetting\n");
	fflush(stdout);
	tcdrain(STDOUT_FILENO);		/* the console shows it before the end */
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "b", 1) != 1)
		vm_die("/proc/sysrq-trigger");
	sleep(10);
	printf("betrkv-reset: still running after sysrq b\n");
	return 1;
}

static int reset_phase2(void)
{
	struct record *rec = calloc(1, sizeof(*rec));
	u8 blk[BETRKV_BLOCK_SIZE];
	struct reset_note note;
	struct betrkv *s = NULL;
	int gen[NKEYS], n, n2 = -1, n3 = -1, err;
	char why[256] = "";
	struct bounds b;
	u32 index, m;
	bool bound;

	betrkv_user_set_log(quiet_core);
	ksft_print_header();
	ksft_set_plan(3);
	if (!rec)
		ksft_exit_fail_msg("out of memory\n");
	raw_io(RESET_META, false, 0, blk, sizeof(blk));
	memcpy(&note, blk, sizeof(note));
	if (note.magic != RESET_MAGIC)
		ksft_exit_fail_msg("no note of phase 1 on %s\n", RESET_META);
	make_workload(rec, note.seed, MAXMUT);
	rec->nmut = MAXMUT;
	ksft_print_msg("phase 1: seed %llu, reset after %u+ mutations, %u syncs noted, the last covering %u\n",
		       note.seed, note.target, note.syncs, note.synced);

	b = (struct bounds){ .lower = note.synced, .upper = MAXMUT - RESET_MORE };
	n = check_image(rec, RESET_DATA, b, why, sizeof(why));
	if (n < 0)
		ksft_print_msg("%s\n", why);
	else
		ksft_print_msg("the store holds the first %d mutations\n", n);
	ksft_test_result(n >= 0, "reset: a read-only bind shows a prefix with everything synced\n");

	err = betrkv_bind(RESET_DATA, NULL, &index);
	bound = !err;
	err = err ?: betrkv_open(index, &s);
	if (err)
		ksft_print_msg("read-write bind: %s\n", betrkv_errstr(err));
	else if (read_pairs(rec, s, gen, why, sizeof(why)))
		ksft_print_msg("%s\n", why);
	else
		n2 = find_prefix(rec, gen, b);
	ksft_test_result(n >= 0 && n2 == n, "reset: a read-write bind recovers the same state\n");

	for (m = 0; n2 >= 0 && m < RESET_MORE && !err; m++)
		err = do_mutation(s, n2 + m, &rec->mut[n2 + m], &rec->mut[n2 + m].seq);
	err = err ?: betrkv_sync(s, NULL);
	betrkv_close(s);
	if (bound && betrkv_unbind(index))
		err = err ?: -EIO;
	if (!err && n2 >= 0) {
		b.lower = b.upper = n2 + RESET_MORE;
		n3 = check_image(rec, RESET_DATA, b, why, sizeof(why));
		if (n3 < 0)
			ksft_print_msg("%s\n", why);
	}
	ksft_test_result(n2 >= 0 && n3 == n2 + (int)RESET_MORE,
			 "reset: the store goes on from the recovered state\n");
	ksft_print_cnts();
	return ksft_get_fail_cnt() ? KSFT_FAIL : KSFT_PASS;
}

/* TEST_HARNESS_MAIN, and the two phases of the reset test. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--reset-phase1"))
		return reset_phase1();
	if (argc == 2 && !strcmp(argv[1], "--reset-phase2"))
		return reset_phase2();
	return test_harness_run(argc, argv);
}
