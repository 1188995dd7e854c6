// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-log-replay (tools/log-replay.c, compiled in here with its main()
 * renamed) on synthetic dm-log-writes logs: the listing, replay to an entry
 * or a mark and in steps, what --torn tears and what it leaves alone, and
 * every malformed log and bad usage refused with its exit status.
 */
#define main log_replay_main
#include "log-replay.c"
#undef main

#include "kselftest_harness.h"

#define TARGET_SECTORS	64u
#define OLD		0xee	/* what the target holds before a replay */

/* A log being built in memory. */
struct synth {
	uint8_t *buf;
	size_t len;
	uint32_t ss;
	uint64_t n;
};

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void synth_grow(struct synth *s, size_t more)
{
	s->buf = realloc(s->buf, s->len + more);
	memset(s->buf + s->len, 0, more);
	s->len += more;
}

static void synth_init(struct synth *s, uint32_t ss)
{
	uint32_t v = htole32(ss);

	*s = (struct synth){ .ss = ss };
	synth_grow(s, ss);
	put64(s->buf, LOG_MAGIC);
	put64(s->buf + 8, LOG_VERSION);
	memcpy(s->buf + 24, &v, 4);
}

/* The byte every sector written by entry @idx holds. */
static uint8_t tag(uint64_t idx)
{
	return 0x10 + idx;
}

/* Append an entry; writes carry @nr sectors of tag(index). */
static void synth_add(struct synth *s, uint64_t sector, uint64_t nr,
		      uint64_t flags, const char *mark)
{
	size_t at = s->len;
	bool data = !(flags & (LOG_DISCARD | LOG_MARK));

	synth_grow(s, s->ss + (data ? nr * s->ss : 0));
	put64(s->buf + at, sector);
	put64(s->buf + at + 8, nr);
	put64(s->buf + at + 16, flags);
	if (mark) {
		put64(s->buf + at + 24, strlen(mark));
		memcpy(s->buf + at + 32, mark, strlen(mark));
	}
	if (data)
		memset(s->buf + at + s->ss, tag(s->n), nr * s->ss);
	s->n++;
	put64(s->buf + 16, s->n);
}

/* The header of entry @idx (after synth_add, for damaging it). */
static uint8_t *synth_entry(struct synth *s, uint64_t idx)
{
	size_t off = s->ss;
	uint64_t i, nr, flags;

	for (i = 0; i < idx; i++) {
		nr = le64toh(*(uint64_t *)(s->buf + off + 8));
		flags = le64toh(*(uint64_t *)(s->buf + off + 16));
		off += s->ss + (flags & (LOG_DISCARD | LOG_MARK) ? 0 : nr * s->ss);
	}
	return s->buf + off;
}

FIXTURE(replay) {
	char dir[64], log[96], target[96], out[4096];
	struct synth s;
};

FIXTURE_SETUP(replay)
{
	strcpy(self->dir, "/tmp/test_log_replay.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->log, sizeof(self->log), "%s/log", self->dir);
	snprintf(self->target, sizeof(self->target), "%s/target", self->dir);
	synth_init(&self->s, 512);
}

FIXTURE_TEARDOWN(replay)
{
	unlink(self->log);
	unlink(self->target);
	rmdir(self->dir);
	free(self->s.buf);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* A target of @sectors sectors of @ss bytes, all OLD. */
static void make_target(const char *path, uint32_t ss, uint32_t sectors)
{
	uint8_t *buf = malloc((size_t)ss * sectors);

	memset(buf, OLD, (size_t)ss * sectors);
	write_file(path, buf, (size_t)ss * sectors);
	free(buf);
}

static uint8_t *read_target(const char *path, size_t *len)
{
	static uint8_t buf[TARGET_SECTORS * 4096];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	*len = n < 0 ? 0 : n;
	return buf;
}

/*
 * Run the tool on @self's log (written out first) with the arguments that
 * follow (NULL-terminated; "LOG" and "TARGET" stand for the files); its
 * stdout and stderr go to self->out.  Returns its exit status.
 */
static int run(FIXTURE_DATA(replay) *self, ...)
{
	char *argv[16] = { "betrkv-log-replay" };
	int argc = 1, saved_out, saved_err, fd, ret;
	const char *arg;
	ssize_t n;
	va_list ap;

	write_file(self->log, self->s.buf, self->s.len);
	va_start(ap, self);
	while ((arg = va_arg(ap, const char *)) && argc < 15)
		argv[argc++] = !strcmp(arg, "LOG") ? self->log :
			       !strcmp(arg, "TARGET") ? self->target : (char *)arg;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fd = open(self->dir, O_TMPFILE | O_RDWR, 0600);
	dup2(fd, 1);
	dup2(fd, 2);
	optind = 0;
	ret = log_replay_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	n = pread(fd, self->out, sizeof(self->out) - 1, 0);
	self->out[n < 0 ? 0 : n] = '\0';
	close(fd);
	return ret;
}

/* Sectors [first, first + nr) of @img all hold @byte. */
static bool sectors_are(const uint8_t *img, uint32_t ss, uint32_t first,
			uint32_t nr, uint8_t byte)
{
	size_t i;

	for (i = (size_t)first * ss; i < (size_t)(first + nr) * ss; i++)
		if (img[i] != byte)
			return false;
	return true;
}

/* The log most tests use; entry indices in the comments. */
static void sample_log(struct synth *s)
{
	synth_add(s, 0, 2, 0, NULL);			/* 0: write */
	synth_add(s, 0, 0, LOG_FLUSH | LOG_FUA, NULL);	/* 1: flush */
	synth_add(s, 4, 1, LOG_FUA, NULL);		/* 2: FUA write */
	synth_add(s, 0, 0, LOG_MARK, "sync-1");		/* 3: mark */
	synth_add(s, 8, 2, LOG_DISCARD, NULL);		/* 4: discard */
	synth_add(s, 10, 3, LOG_META, NULL);		/* 5: write */
}

TEST_F(replay, list)
{
	sample_log(&self->s);
	synth_add(&self->s, 0, 0, LOG_MARK, "a b\\\x01");
	ASSERT_EQ(0, run(self, "--list", "LOG", NULL));
	EXPECT_STREQ("# 7 entries, sector size 512\n"
		     "# index sector nr_sectors flags [mark]\n"
		     "0 0 2 -\n"
		     "1 0 0 FLUSH|FUA\n"
		     "2 4 1 FUA\n"
		     "3 0 0 MARK sync-1\n"
		     "4 8 2 DISCARD\n"
		     "5 10 3 META\n"
		     "6 0 0 MARK a\\x20b\\x5c\\x01\n", self->out);
}

TEST_F(replay, to_entry_mark_and_steps)
{
	uint8_t full[TARGET_SECTORS * 512];
	const uint8_t *img;
	size_t len;

	sample_log(&self->s);
	make_target(self->target, 512, TARGET_SECTORS);
	ASSERT_EQ(0, run(self, "--to-entry", "3", "LOG", "TARGET", NULL));
	EXPECT_NE(NULL, strstr(self->out, "replayed entries [0, 3) onto "));
	EXPECT_NE(NULL, strstr(self->out, ": 2 writes\n"));
	img = read_target(self->target, &len);
	ASSERT_EQ(TARGET_SECTORS * 512, len);
	EXPECT_TRUE(sectors_are(img, 512, 0, 2, tag(0)));
	EXPECT_TRUE(sectors_are(img, 512, 2, 2, OLD));
	EXPECT_TRUE(sectors_are(img, 512, 4, 1, tag(2)));
	EXPECT_TRUE(sectors_are(img, 512, 5, TARGET_SECTORS - 5, OLD));

	make_target(self->target, 512, TARGET_SECTORS);
	ASSERT_EQ(0, run(self, "--to-mark", "sync-1", "LOG", "TARGET", NULL));
	EXPECT_EQ(0, memcmp(img, read_target(self->target, &len), len));

	/* All of it: the discard zeroes, the META write lands. */
	make_target(self->target, 512, TARGET_SECTORS);
	ASSERT_EQ(0, run(self, "LOG", "TARGET", NULL));
	img = read_target(self->target, &len);
	EXPECT_TRUE(sectors_are(img, 512, 8, 2, 0));
	EXPECT_TRUE(sectors_are(img, 512, 10, 3, tag(5)));
	memcpy(full, img, sizeof(full));

	/* The same in steps. */
	make_target(self->target, 512, TARGET_SECTORS);
	ASSERT_EQ(0, run(self, "--to-entry", "2", "LOG", "TARGET", NULL));
	ASSERT_EQ(0, run(self, "--from-entry", "2", "--to-entry", "5", "LOG", "TARGET", NULL));
	ASSERT_EQ(0, run(self, "--from-entry", "5", "LOG", "TARGET", NULL));
	EXPECT_EQ(0, memcmp(full, read_target(self->target, &len), sizeof(full)));
	EXPECT_EQ(0, run(self, "--from-entry", "6", "--to-entry", "6", "LOG", "TARGET", NULL));
}

TEST_F(replay, sector_size_4096)
{
	const uint8_t *img;
	size_t len;

	synth_init(&self->s, 4096);
	synth_add(&self->s, 3, 2, LOG_FUA, NULL);
	make_target(self->target, 4096, 8);
	ASSERT_EQ(0, run(self, "LOG", "TARGET", NULL));
	img = read_target(self->target, &len);
	ASSERT_EQ(8 * 4096, len);
	EXPECT_TRUE(sectors_are(img, 4096, 0, 3, OLD));
	EXPECT_TRUE(sectors_are(img, 4096, 3, 2, tag(0)));
	EXPECT_TRUE(sectors_are(img, 4096, 5, 3, OLD));
}

/* Classify each sector of a write of entry @idx: new, old or garbage. */
static void fates(const uint8_t *img, uint32_t first, uint32_t nr, uint64_t idx,
		  uint32_t count[3])
{
	uint32_t i;

	for (i = first; i < first + nr; i++) {
		if (sectors_are(img, 512, i, 1, tag(idx)))
			count[0]++;
		else if (sectors_are(img, 512, i, 1, OLD))
			count[1]++;
		else
			count[2]++;
	}
}

/*
 * 0: write [0, 4)        1: FLUSH          2: write [8, 24)
 * 3: FUA write [24, 28)  4: write [32, 48)  5: FLUSH
 * 6: write [48, 56)      7: FLUSH|FUA, with data [56, 58)
 */
static void torn_log(struct synth *s)
{
	synth_add(s, 0, 4, 0, NULL);
	synth_add(s, 0, 0, LOG_FLUSH, NULL);
	synth_add(s, 8, 16, 0, NULL);
	synth_add(s, 24, 4, LOG_FUA, NULL);
	synth_add(s, 32, 16, 0, NULL);
	synth_add(s, 0, 0, LOG_FLUSH, NULL);
	synth_add(s, 48, 8, 0, NULL);
	synth_add(s, 56, 2, LOG_FLUSH | LOG_FUA, NULL);
}

TEST_F(replay, torn)
{
	uint32_t c2[3] = { 0 }, c4[3] = { 0 }, whole_new = 0, whole_old = 0;
	const uint8_t *img;
	char seed[16];
	size_t len;
	int i;

	torn_log(&self->s);
	for (i = 0; i < 200; i++) {
		uint32_t a[3] = { 0 }, b[3] = { 0 };

		make_target(self->target, 512, TARGET_SECTORS);
		snprintf(seed, sizeof(seed), "%d", i);
		ASSERT_EQ(0, run(self, "--to-entry", "5", "--torn", seed, "LOG", "TARGET",
				 NULL)) TH_LOG("%s", self->out);
		img = read_target(self->target, &len);
		/* Durable before the flush; FUA durable; nothing after the stop. */
		ASSERT_TRUE(sectors_are(img, 512, 0, 4, tag(0)));
		ASSERT_TRUE(sectors_are(img, 512, 4, 4, OLD));
		ASSERT_TRUE(sectors_are(img, 512, 24, 4, tag(3)));
		ASSERT_TRUE(sectors_are(img, 512, 48, TARGET_SECTORS - 48, OLD));
		fates(img, 8, 16, 2, a);
		fates(img, 32, 16, 4, b);
		whole_new += (a[0] == 16) + (b[0] == 16);
		whole_old += (a[1] == 16) + (b[1] == 16);
		c2[0] += a[0], c2[1] += a[1], c2[2] += a[2];
		c4[0] += b[0], c4[1] += b[1], c4[2] += b[2];
	}
	/* Each fate turns up, roughly as often as documented. */
	EXPECT_LT(60, whole_new);
	EXPECT_LT(60, whole_old);
	EXPECT_LT(200, c2[2] + c4[2]);
	EXPECT_LT(c2[2] + c4[2], c2[0] + c4[0]);
	EXPECT_NE(NULL, strstr(self->out, "; durable before 2, 2 torn: "));

	/* The write in flight at the stop point is torn; a FLUSH one is not. */
	for (i = 0; i < 20; i++) {
		uint32_t a[3] = { 0 };

		make_target(self->target, 512, TARGET_SECTORS);
		snprintf(seed, sizeof(seed), "%d", i);
		ASSERT_EQ(0, run(self, "--to-entry", "6", "--torn", seed, "LOG", "TARGET",
				 NULL));
		img = read_target(self->target, &len);
		ASSERT_TRUE(sectors_are(img, 512, 8, 16, tag(2)));
		ASSERT_TRUE(sectors_are(img, 512, 32, 16, tag(4)));
		fates(img, 48, 8, 6, a);
		ASSERT_EQ(8, a[0] + a[1] + a[2]);
		ASSERT_EQ(0, run(self, "--from-entry", "6", "--to-entry", "7", "--torn", seed,
				 "LOG", "TARGET", NULL));
		img = read_target(self->target, &len);
		ASSERT_TRUE(sectors_are(img, 512, 56, 2, OLD));
	}
	/* The same seed, the same image. */
	make_target(self->target, 512, TARGET_SECTORS);
	ASSERT_EQ(0, run(self, "--to-entry", "5", "--torn", "7", "LOG", "TARGET", NULL));
	img = read_target(self->target, &len);
	{
		static uint8_t first[TARGET_SECTORS * 512];

		memcpy(first, img, sizeof(first));
		make_target(self->target, 512, TARGET_SECTORS);
		ASSERT_EQ(0, run(self, "--to-entry", "5", "--torn", "7", "LOG", "TARGET", NULL));
		EXPECT_EQ(0, memcmp(first, read_target(self->target, &len), sizeof(first)));
	}
	/* Starting past the last flush would skip writes that must tear. */
	EXPECT_EQ(EXIT_FAIL, run(self, "--from-entry", "3", "--to-entry", "5", "--torn",
				 "1", "LOG", "TARGET", NULL));
	EXPECT_NE(NULL, strstr(self->out, "--torn: replay must start at or before entry 2"));
}

/* Damage the sample log with @how; the tool must refuse it, saying @why. */
struct bad_log {
	const char *why;
	void (*how)(struct synth *s);
};

static void bad_magic(struct synth *s) { s->buf[0] ^= 1; }
static void bad_version(struct synth *s) { put64(s->buf + 8, 2); }
static void odd_sector(struct synth *s) { s->buf[24] = 0x10; s->buf[25] = 2; }
static void tiny_sector(struct synth *s) { s->buf[24] = 0; s->buf[25] = 1; }
static void more_entries(struct synth *s) { put64(s->buf + 16, 7); }
static void huge_write(struct synth *s) { put64(synth_entry(s, 5) + 8, 1ull << 60); }
static void long_write(struct synth *s) { put64(synth_entry(s, 5) + 8, 4); }
static void new_flag(struct synth *s) { put64(synth_entry(s, 0) + 16, 1 << 5); }
static void mark_sectors(struct synth *s) { put64(synth_entry(s, 3) + 8, 1); }
static void mark_flags(struct synth *s) { put64(synth_entry(s, 3) + 16, LOG_MARK | LOG_FUA); }
static void mark_long(struct synth *s) { put64(synth_entry(s, 3) + 24, 481); }
static void mark_nul(struct synth *s) { synth_entry(s, 3)[33] = 0; }
static void inline_data(struct synth *s) { put64(synth_entry(s, 0) + 24, 8); }
static void discard_fua(struct synth *s) { put64(synth_entry(s, 4) + 16, LOG_DISCARD | LOG_FUA); }
static void empty_write(struct synth *s) { put64(synth_entry(s, 0) + 8, 0); }
static void past_target(struct synth *s) { put64(synth_entry(s, 5), TARGET_SECTORS - 2); }
static void far_target(struct synth *s) { put64(synth_entry(s, 5), UINT64_MAX - 1); }
static void no_super(struct synth *s) { s->len = 20; }

TEST_F(replay, malformed_logs)
{
	static const struct bad_log bad[] = {
		{ "not a dm-log-writes log (magic 0x6a736677736873)", bad_magic },
		{ "log version 2, only 1 is known", bad_version },
		{ "sector size 528 is not a power of two", odd_sector },
		{ "sector size 256 is not a power of two", tiny_sector },
		{ "entry 6 of 7 lies past the end", more_entries },
		{ "entry 5: 1152921504606846976 sectors of data run past the end", huge_write },
		{ "entry 5: 4 sectors of data run past the end", long_write },
		{ "entry 0: unknown flags 0x20", new_flag },
		{ "entry 3: a mark with flags 0xa and 0 sectors", mark_flags },
		{ "entry 3: a mark with flags 0x8 and 1 sectors", mark_sectors },
		{ "entry 3: mark of 481 bytes in a 512-byte sector", mark_long },
		{ "entry 3: NUL inside a mark's name", mark_nul },
		{ "entry 0: 8 bytes of inline data in a write", inline_data },
		{ "entry 4: a discard with FLUSH or FUA", discard_fua },
		{ "entry 0: an empty write", empty_write },
		{ "entry 5 writes sectors [62, +3) past the target's 64", past_target },
		{ "entry 5 writes sectors [18446744073709551614, +3) past", far_target },
		{ "ends at byte 20 (truncated)", no_super },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		synth_init(&self->s, 512);
		sample_log(&self->s);
		bad[i].how(&self->s);
		make_target(self->target, 512, TARGET_SECTORS);
		EXPECT_EQ(EXIT_FAIL, run(self, "LOG", "TARGET", NULL)) TH_LOG("case %zu", i);
		EXPECT_NE(NULL, strstr(self->out, bad[i].why))
			TH_LOG("case %zu: '%s'", i, self->out);
	}
	synth_init(&self->s, 512);
	sample_log(&self->s);
	EXPECT_EQ(EXIT_FAIL, run(self, "--to-mark", "sync-2", "LOG", "TARGET", NULL));
	EXPECT_NE(NULL, strstr(self->out, "no mark named 'sync-2'"));
	EXPECT_EQ(EXIT_FAIL, run(self, "--to-entry", "7", "LOG", "TARGET", NULL));
	EXPECT_NE(NULL, strstr(self->out, "entries [0, 7) are not within the log's 6"));
	EXPECT_EQ(EXIT_FAIL, run(self, "--from-entry", "4", "--to-entry", "3", "LOG",
				 "TARGET", NULL));
	EXPECT_EQ(EXIT_FAIL, run(self, "LOG", "/nonexistent/target", NULL));
	EXPECT_NE(NULL, strstr(self->out, "/nonexistent/target: No such file"));
	EXPECT_EQ(EXIT_FAIL, run(self, "--list", "/dev/null", NULL));
	EXPECT_NE(NULL, strstr(self->out, "/dev/null: not a regular file or block device"));
}

TEST_F(replay, usage)
{
	sample_log(&self->s);
	EXPECT_EQ(EXIT_USAGE, run(self, NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "LOG", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--list", "LOG", "TARGET", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--list", "--torn", "1", "LOG", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--list", "--from-entry", "0", "LOG", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--to-entry", "3", "--to-mark", "x", "LOG",
				  "TARGET", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--to-entry", "x3", "LOG", "TARGET", NULL));
	EXPECT_NE(NULL, strstr(self->out, "--to-entry wants a number, not 'x3'"));
	EXPECT_EQ(EXIT_USAGE, run(self, "--torn", "-1", "LOG", "TARGET", NULL));
	EXPECT_EQ(EXIT_USAGE, run(self, "--bogus", "LOG", "TARGET", NULL));
	EXPECT_EQ(0, run(self, "--help", NULL));
	EXPECT_NE(NULL, strstr(self->out, "usage: betrkv-log-replay --list LOG"));
}

TEST_HARNESS_MAIN
