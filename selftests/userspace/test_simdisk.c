// SPDX-License-Identifier: GPL-2.0
/*
 * The simulated disk of the crash tests: reads through the cache, flushes,
 * FUA, every crash outcome and their issue order, failure injection, media
 * corruption, lost and misdirected writes, clones, determinism and the
 * counters.
 *
 * Every sector a test writes holds content unique to (tag, sector), so a
 * sector read back is recognisably old, new, some other write's data (a
 * bug) or garbage.  The kselftest harness ends each test with _exit(),
 * which skips LeakSanitizer, so the sanitizer build checks for leaks at the
 * end of each test itself.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "../rng.h"
#include "user/simdisk.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define leaks()		__lsan_do_recoverable_leak_check()
#else
#define leaks()		0
#endif

#define KiB		1024ull
#define MiB		(1ull << 20)
#define SECTOR		512
#define DISK_SIZE	MiB
#define SEEDS		500

/* @len bytes whose sectors are unique to (@tag, sector index). */
static u8 *pattern(size_t len, u64 tag)
{
	u64 *p = malloc(len), state;
	size_t s, i;

	if (!p)
		return NULL;
	for (s = 0; s < len / SECTOR; s++) {
		state = tag << 32 | s;
		for (i = 0; i < SECTOR / 8; i++)
			p[s * (SECTOR / 8) + i] = rng_next(&state);
	}
	return (u8 *)p;
}

/* Read [@off, @off + @len) into a new buffer; NULL if the read fails. */
static u8 *read_back(struct betrkv_dev *dev, u64 off, size_t len)
{
	u8 *buf = malloc(len);

	if (buf && betrkv_dev_read(dev, off, buf, len)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool holds(struct betrkv_dev *dev, u64 off, const u8 *want, size_t len)
{
	u8 *buf = read_back(dev, off, len);
	bool same = buf && !memcmp(buf, want, len);

	free(buf);
	return same;
}

/* FNV-1a of the whole disk, or 0 if a read fails. */
static u64 disk_hash(struct betrkv_dev *dev)
{
	u64 size = betrkv_dev_size(dev), off, h = 0xcbf29ce484222325ull;
	u8 *buf = malloc(64 * KiB);
	size_t i;

	for (off = 0; buf && off < size; off += 64 * KiB) {
		if (betrkv_dev_read(dev, off, buf, 64 * KiB)) {
			free(buf);
			return 0;
		}
		for (i = 0; i < 64 * KiB; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
	}
	free(buf);
	return h;
}

/* Crash a clone of @dev with @seed and read [@off, @off + @len) of it. */
static u8 *crash_read(struct betrkv_dev *dev, u64 seed, u64 off, size_t len)
{
	struct betrkv_dev *copy;
	u8 *buf;

	if (betrkv_simdisk_clone(dev, &copy))
		return NULL;
	betrkv_simdisk_crash(copy, seed);
	buf = read_back(copy, off, len);
	betrkv_user_dev_close(copy);
	return buf;
}

/* What a test wrote, to tell garbage from data out of place. */
struct known {
	const u8 *bufs[8];
	size_t lens[8];
	int nr;
};

static void know(struct known *k, const u8 *buf, size_t len)
{
	k->bufs[k->nr] = buf;
	k->lens[k->nr++] = len;
}

static bool is_known(const struct known *k, const u8 *sector)
{
	size_t off;
	int i;

	for (i = 0; i < k->nr; i++)
		for (off = 0; off < k->lens[i]; off += SECTOR)
			if (!memcmp(k->bufs[i] + off, sector, SECTOR))
				return true;
	return false;
}

enum fate { OLD, NEW, GARBAGE, ALIEN };

static enum fate sector_fate(const u8 *got, const u8 *old, const u8 *new,
			     const struct known *k)
{
	if (!memcmp(got, new, SECTOR))
		return NEW;
	if (!memcmp(got, old, SECTOR))
		return OLD;
	return is_known(k, got) ? ALIEN : GARBAGE;
}

enum outcome { LANDED, VANISHED, TORN, GARBLED, BAD, OUTCOMES };

/* How a write of @new over @old ended up as @got. */
static enum outcome write_outcome(const u8 *got, const u8 *old, const u8 *new,
				  size_t len, const struct known *k)
{
	size_t n[ALIEN + 1] = { 0 }, off;

	for (off = 0; off < len; off += SECTOR)
		n[sector_fate(got + off, old + off, new + off, k)]++;
	if (n[ALIEN])
		return BAD;
	if (n[GARBAGE])
		return GARBLED;
	if (!n[OLD])
		return LANDED;
	return n[NEW] ? TORN : VANISHED;
}

/* Whether some 4 KiB block of @got holds both old and new sectors. */
static bool torn_inside_4k(const u8 *got, const u8 *new, size_t len)
{
	size_t blk, off;
	int n_new;

	for (blk = 0; blk < len; blk += 4 * KiB) {
		n_new = 0;
		for (off = blk; off < blk + 4 * KiB; off += SECTOR)
			n_new += !memcmp(got + off, new + off, SECTOR);
		if (n_new && n_new < 4 * KiB / SECTOR)
			return true;
	}
	return false;
}

TEST(create_geometry)
{
	struct betrkv_dev *dev;
	u8 *zero = calloc(1, DISK_SIZE);

	ASSERT_NE(NULL, zero);
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(DISK_SIZE, 0, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(DISK_SIZE, 1024, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(DISK_SIZE, 8192, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(0, 512, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(DISK_SIZE + 512, 4096, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_create(1000, 512, &dev));

	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE + 512, 512, &dev));
	EXPECT_EQ(DISK_SIZE + 512, betrkv_dev_size(dev));
	EXPECT_EQ(512, betrkv_dev_block_size(dev));
	EXPECT_STREQ("simdisk", betrkv_dev_name(dev));
	EXPECT_TRUE(holds(dev, 0, zero, DISK_SIZE));
	EXPECT_TRUE(holds(dev, DISK_SIZE, zero, 512));
	/* The core's range checks apply. */
	EXPECT_EQ(-EINVAL, betrkv_dev_read(dev, 256, zero, 512));
	EXPECT_EQ(-ENOSPC, betrkv_dev_write(dev, DISK_SIZE, zero, 1024, 0));
	betrkv_user_dev_close(dev);

	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 4096, &dev));
	EXPECT_EQ(4096, betrkv_dev_block_size(dev));
	EXPECT_EQ(-EINVAL, betrkv_dev_write(dev, 512, zero, 4096, 0));
	EXPECT_EQ(-EINVAL, betrkv_dev_read(dev, 0, zero, 512));
	betrkv_user_dev_close(dev);
	free(zero);
	EXPECT_EQ(0, leaks());
}

TEST(reads_see_pending)
{
	u8 *a = pattern(8 * KiB, 1), *b = pattern(8 * KiB, 2);
	u8 *zero = calloc(1, 8 * KiB), *got;
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;

	ASSERT_TRUE(a && b && zero);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, 8 * KiB, 0));
	EXPECT_TRUE(holds(dev, 0, a, 8 * KiB));
	ASSERT_EQ(0, betrkv_dev_write(dev, 4 * KiB, b, 8 * KiB, 0));

	got = read_back(dev, 0, 16 * KiB);
	ASSERT_NE(NULL, got);
	EXPECT_EQ(0, memcmp(got, a, 4 * KiB));
	EXPECT_EQ(0, memcmp(got + 4 * KiB, b, 8 * KiB));
	EXPECT_EQ(0, memcmp(got + 12 * KiB, zero, 4 * KiB));
	free(got);
	/* A read that straddles both writes, sector-aligned. */
	got = read_back(dev, 3 * KiB, 2 * KiB);
	ASSERT_NE(NULL, got);
	EXPECT_EQ(0, memcmp(got, a + 3 * KiB, KiB));
	EXPECT_EQ(0, memcmp(got + KiB, b, KiB));
	free(got);

	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(2, st.pending);
	EXPECT_EQ(0, st.flushes);
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	free(zero);
	EXPECT_EQ(0, leaks());
}

/* A PREFLUSH makes every earlier write durable, whatever the crash. */
TEST(preflush_makes_durable)
{
	u8 *a = pattern(8 * KiB, 1), *b = pattern(4 * KiB, 2);
	u8 *c = pattern(8 * KiB, 3), *zero = calloc(1, 4 * KiB), *got;
	struct betrkv_simdisk_stats st;
	struct known k = { .nr = 0 };
	struct betrkv_dev *dev;
	enum fate f;
	unsigned int seed;
	int i;

	ASSERT_TRUE(a && b && c && zero);
	know(&k, a, 8 * KiB);
	know(&k, b, 4 * KiB);
	know(&k, c, 8 * KiB);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, 8 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 64 * KiB, b, 4 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, b, 2 * KiB, 0));
	/* c overlaps the second half of a. */
	ASSERT_EQ(0, betrkv_dev_write(dev, 4 * KiB, c, 8 * KiB,
				      BETRKV_IO_PREFLUSH));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(1, st.flushes);
	EXPECT_EQ(1, st.pending);

	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, 68 * KiB);
		ASSERT_NE(NULL, got);
		ASSERT_EQ(0, memcmp(got, b, 2 * KiB));
		ASSERT_EQ(0, memcmp(got + 2 * KiB, a + 2 * KiB, 2 * KiB));
		ASSERT_EQ(0, memcmp(got + 64 * KiB, b, 4 * KiB));
		for (i = 0; i < 16; i++) {
			/* Sectors 0-7 were a's, 8-15 zero. */
			f = sector_fate(got + 4 * KiB + i * SECTOR,
					i < 8 ? a + 4 * KiB + i * SECTOR : zero,
					c + i * SECTOR, &k);
			ASSERT_NE(ALIEN, f) TH_LOG("seed %u sector %d", seed, i);
		}
		free(got);
	}
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	free(c);
	free(zero);
	EXPECT_EQ(0, leaks());
}

/* FUA alone, and FUA with PREFLUSH over a non-empty cache. */
TEST(fua_durable)
{
	u8 *a = pattern(4 * KiB, 1), *f = pattern(4 * KiB, 2);
	u8 *g = pattern(4 * KiB, 3), *got;
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;
	unsigned int seed;

	ASSERT_TRUE(a && f && g);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, f, 4 * KiB, BETRKV_IO_FUA));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(0, st.pending);
	EXPECT_EQ(1, st.fuas);
	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, 4 * KiB);
		ASSERT_NE(NULL, got);
		ASSERT_EQ(0, memcmp(got, f, 4 * KiB)) TH_LOG("seed %u", seed);
		free(got);
	}

	ASSERT_EQ(0, betrkv_dev_write(dev, 8 * KiB, a, 4 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 16 * KiB, g, 4 * KiB,
				      BETRKV_IO_PREFLUSH | BETRKV_IO_FUA));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(0, st.pending);
	EXPECT_EQ(1, st.flushes);
	EXPECT_EQ(2, st.fuas);
	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, 20 * KiB);
		ASSERT_NE(NULL, got);
		ASSERT_EQ(0, memcmp(got, f, 4 * KiB));
		ASSERT_EQ(0, memcmp(got + 8 * KiB, a, 4 * KiB));
		ASSERT_EQ(0, memcmp(got + 16 * KiB, g, 4 * KiB));
		free(got);
	}
	betrkv_user_dev_close(dev);
	free(a);
	free(f);
	free(g);
	EXPECT_EQ(0, leaks());
}

/*
 * Three cached writes over durable data: every sector ends up old, new or
 * garbage, never another write's data; each outcome occurs about a quarter
 * of the time; tears are at 512-byte granularity whatever the block size.
 */
static void check_outcomes(struct __test_metadata *_metadata, u32 block_size)
{
	static const u64 offs[3] = { 64 * KiB, 192 * KiB, 512 * KiB };
	unsigned int count[OUTCOMES] = { 0 }, tears_in_4k = 0;
	const size_t len = 8 * KiB;
	struct known k = { .nr = 0 };
	struct betrkv_dev *dev;
	u8 *old[3], *new[3], *zero = calloc(1, DISK_SIZE), *got;
	enum outcome o;
	unsigned int seed;
	int i;

	ASSERT_NE(NULL, zero);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, block_size, &dev));
	for (i = 0; i < 3; i++) {
		old[i] = pattern(len, 10 + i);
		new[i] = pattern(len, 20 + i);
		ASSERT_TRUE(old[i] && new[i]);
		know(&k, old[i], len);
		know(&k, new[i], len);
		ASSERT_EQ(0, betrkv_dev_write(dev, offs[i], old[i], len,
					      BETRKV_IO_FUA));
	}
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, betrkv_dev_write(dev, offs[i], new[i], len, 0));

	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, DISK_SIZE);
		ASSERT_NE(NULL, got);
		for (i = 0; i < 3; i++) {
			o = write_outcome(got + offs[i], old[i], new[i], len,
					  &k);
			ASSERT_NE(BAD, o) TH_LOG("seed %u write %d", seed, i);
			count[o]++;
			if (o == TORN)
				tears_in_4k += torn_inside_4k(got + offs[i],
							      new[i], len);
			/* Nothing outside the writes changed. */
			memcpy(got + offs[i], zero, len);
		}
		ASSERT_EQ(0, memcmp(got, zero, DISK_SIZE))
			TH_LOG("seed %u", seed);
		free(got);
	}
	TH_LOG("landed %u vanished %u torn %u garbled %u (%u inside 4 KiB)",
	       count[LANDED], count[VANISHED], count[TORN], count[GARBLED],
	       tears_in_4k);
	for (o = LANDED; o < BAD; o++)
		EXPECT_LE(3 * SEEDS / 4 / 2, count[o]) TH_LOG("outcome %d", o);
	EXPECT_LT(0, tears_in_4k);
	betrkv_user_dev_close(dev);
	for (i = 0; i < 3; i++) {
		free(old[i]);
		free(new[i]);
	}
	free(zero);
}

TEST(crash_outcomes_512)
{
	check_outcomes(_metadata, 512);
	EXPECT_EQ(0, leaks());
}

TEST(crash_outcomes_4096)
{
	check_outcomes(_metadata, 4096);
	EXPECT_EQ(0, leaks());
}

/*
 * Durable d in x; cached a over x, then b over x and 32 more sectors y.
 * Outcomes apply in issue order: when b landed whole (y all new; a tear or
 * garbage leaves that at most 2^-32 of the time) x is b's, whatever a did;
 * when b vanished (y all old), x may be a's or d's.
 */
TEST(crash_issue_order)
{
	const size_t x = 4 * KiB, y = 16 * KiB;
	u8 *d = pattern(x, 1), *a = pattern(x, 2), *b = pattern(x + y, 3);
	u8 *zero = calloc(1, y), *got;
	unsigned int b_landed = 0, a_shows = 0, d_shows = 0;
	struct known k = { .nr = 0 };
	struct betrkv_dev *dev;
	bool y_new, y_old;
	unsigned int seed;
	enum fate f;
	size_t off;

	ASSERT_TRUE(d && a && b && zero);
	know(&k, d, x);
	know(&k, a, x);
	know(&k, b, x + y);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, d, x, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, x, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, b, x + y, 0));

	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, x + y);
		ASSERT_NE(NULL, got);
		y_new = !memcmp(got + x, b + x, y);
		y_old = !memcmp(got + x, zero, y);
		if (y_new) {
			ASSERT_EQ(0, memcmp(got, b, x)) TH_LOG("seed %u", seed);
			b_landed++;
		}
		a_shows += y_old && !memcmp(got, a, x);
		d_shows += y_old && !memcmp(got, d, x);
		/* Each sector of x is d's, a's, b's or garbage. */
		for (off = 0; off < x; off += SECTOR) {
			f = sector_fate(got + off, a + off, b + off, &k);
			ASSERT_TRUE(f != ALIEN ||
				    !memcmp(got + off, d + off, SECTOR))
				TH_LOG("seed %u", seed);
		}
		free(got);
	}
	TH_LOG("b landed %u, a shows %u, d shows %u", b_landed, a_shows,
	       d_shows);
	EXPECT_LT(0, b_landed);
	EXPECT_LT(0, a_shows);
	EXPECT_LT(0, d_shows);
	betrkv_user_dev_close(dev);
	free(d);
	free(a);
	free(b);
	free(zero);
	EXPECT_EQ(0, leaks());
}

/*
 * A FUA write over a cached write to the same place survives every crash;
 * a write cached after it may still replace it, but the older one never.
 */
TEST(fua_after_pending)
{
	const size_t len = 4 * KiB;
	u8 *d = pattern(len, 1), *a = pattern(len, 2), *f = pattern(len, 3);
	u8 *c = pattern(len, 4), *got;
	unsigned int count[OUTCOMES] = { 0 };
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev, *later;
	struct known k = { .nr = 0 };
	enum outcome o;
	unsigned int seed;

	ASSERT_TRUE(d && a && f && c);
	know(&k, d, len);
	know(&k, a, len);
	know(&k, f, len);
	know(&k, c, len);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, d, len, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, len, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, f, len, BETRKV_IO_FUA));
	EXPECT_TRUE(holds(dev, 0, f, len));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(1, st.pending);
	EXPECT_EQ(2, st.fuas);
	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 0, len);
		ASSERT_NE(NULL, got);
		ASSERT_EQ(0, memcmp(got, f, len)) TH_LOG("seed %u", seed);
		free(got);
	}

	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &later));
	ASSERT_EQ(0, betrkv_dev_write(later, 0, c, len, 0));
	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(later, seed, 0, len);
		ASSERT_NE(NULL, got);
		o = write_outcome(got, f, c, len, &k);
		ASSERT_NE(BAD, o) TH_LOG("seed %u", seed);
		count[o]++;
		free(got);
	}
	EXPECT_LT(0, count[VANISHED]);
	EXPECT_LT(0, count[LANDED]);
	betrkv_user_dev_close(later);
	betrkv_user_dev_close(dev);
	free(d);
	free(a);
	free(f);
	free(c);
	EXPECT_EQ(0, leaks());
}

/* arm(3): three I/Os succeed, then every one fails and changes nothing. */
TEST(arm_fails_io)
{
	u8 *a = pattern(4 * KiB, 1), *b = pattern(4 * KiB, 2);
	u8 *c = pattern(4 * KiB, 3), *buf = malloc(4 * KiB), *got, *want;
	struct betrkv_simdisk_stats before, after;
	struct betrkv_dev *dev, *snap;
	unsigned int seed, landed, vanished;

	ASSERT_TRUE(a && b && c && buf);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, 4 * KiB, 0));
	betrkv_simdisk_arm(dev, 3);
	EXPECT_EQ(0, betrkv_dev_read(dev, 0, buf, 4 * KiB));
	EXPECT_EQ(0, betrkv_dev_write(dev, 8 * KiB, b, 4 * KiB, 0));
	EXPECT_EQ(0, betrkv_dev_read(dev, 8 * KiB, buf, 4 * KiB));
	EXPECT_EQ(0, memcmp(buf, b, 4 * KiB));

	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &snap));
	betrkv_simdisk_stats(dev, &before);
	EXPECT_EQ(-EIO, betrkv_dev_write(dev, 0, c, 4 * KiB,
					 BETRKV_IO_PREFLUSH | BETRKV_IO_FUA));
	EXPECT_EQ(-EIO, betrkv_dev_write(dev, 16 * KiB, c, 4 * KiB, 0));
	EXPECT_EQ(-EIO, betrkv_dev_read(dev, 0, buf, 4 * KiB));
	betrkv_simdisk_stats(dev, &after);
	EXPECT_EQ(before.reads, after.reads);	/* no I/O completed */
	EXPECT_EQ(before.writes, after.writes);

	/*
	 * The first write to fail was in flight: its PREFLUSH completed (b is
	 * durable in every crash) and the write itself may land or not; the
	 * second never reached the disk.
	 */
	landed = vanished = 0;
	for (seed = 0; seed < 64; seed++) {
		got = crash_read(dev, seed, 0, 20 * KiB);
		want = crash_read(snap, seed, 0, 20 * KiB);
		ASSERT_TRUE(got && want);
		EXPECT_EQ(0, memcmp(got + 8 * KiB, b, 4 * KiB)) TH_LOG("seed %u", seed);
		EXPECT_EQ(0, memcmp(got + 16 * KiB, want + 16 * KiB, 4 * KiB))
			TH_LOG("seed %u", seed);
		landed += !memcmp(got, c, 4 * KiB);
		vanished += !memcmp(got, a, 4 * KiB);
		free(got);
		free(want);
	}
	EXPECT_LT(0, landed);
	EXPECT_LT(0, vanished);

	/* A crash reboots the machine: I/O works again. */
	betrkv_simdisk_crash(dev, 7);
	EXPECT_EQ(0, betrkv_dev_write(dev, 0, c, 4 * KiB, 0));
	EXPECT_TRUE(holds(dev, 0, c, 4 * KiB));

	/* arm(0) fails the very next I/O; disarm ends it. */
	betrkv_simdisk_arm(dev, 0);
	EXPECT_EQ(-EIO, betrkv_dev_read(dev, 0, buf, 4 * KiB));
	EXPECT_EQ(-EIO, betrkv_dev_write(dev, 0, a, 4 * KiB, 0));
	betrkv_simdisk_disarm(dev);
	EXPECT_TRUE(holds(dev, 0, c, 4 * KiB));
	betrkv_user_dev_close(snap);
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	free(c);
	free(buf);
	EXPECT_EQ(0, leaks());
}

/* Writes and their flushes fail and change nothing; reads go on. */
TEST(fail_writes)
{
	static const unsigned int flags[] = {
		0, BETRKV_IO_PREFLUSH, BETRKV_IO_FUA,
		BETRKV_IO_PREFLUSH | BETRKV_IO_FUA,
	};
	u8 *a = pattern(4 * KiB, 1), *b = pattern(4 * KiB, 2), *got, *want;
	struct betrkv_simdisk_stats before, after;
	struct betrkv_dev *dev, *snap;
	unsigned int seed;
	int i;

	ASSERT_TRUE(a && b);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, 4 * KiB, 0));
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &snap));
	betrkv_simdisk_fail_writes(dev, true);
	betrkv_simdisk_stats(dev, &before);
	for (i = 0; i < ARRAY_SIZE(flags); i++)
		EXPECT_EQ(-EIO, betrkv_dev_write(dev, 0, b, 4 * KiB, flags[i]));
	EXPECT_TRUE(holds(dev, 0, a, 4 * KiB));
	betrkv_simdisk_stats(dev, &after);
	EXPECT_EQ(before.reads + 1, after.reads);
	after.reads--;
	EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));

	/* No flush happened either: every crash ends as it would have. */
	for (seed = 0; seed < 64; seed++) {
		got = crash_read(dev, seed, 0, 4 * KiB);
		want = crash_read(snap, seed, 0, 4 * KiB);
		ASSERT_TRUE(got && want);
		EXPECT_EQ(0, memcmp(got, want, 4 * KiB))
			TH_LOG("seed %u", seed);
		free(got);
		free(want);
	}

	betrkv_simdisk_fail_writes(dev, false);
	EXPECT_EQ(0, betrkv_dev_write(dev, 0, b, 4 * KiB, 0));
	EXPECT_TRUE(holds(dev, 0, b, 4 * KiB));

	/* A crash ends it too. */
	betrkv_simdisk_fail_writes(dev, true);
	betrkv_simdisk_crash(dev, 3);
	EXPECT_EQ(0, betrkv_dev_write(dev, 0, a, 4 * KiB, 0));
	betrkv_user_dev_close(snap);
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	EXPECT_EQ(0, leaks());
}

static int bit_diff(const u8 *x, const u8 *y, size_t len)
{
	int n = 0;
	size_t i;

	for (i = 0; i < len; i++)
		n += __builtin_popcount(x[i] ^ y[i]);
	return n;
}

/* Blocks 0-4 of a 20 KiB region: how many bits each differs by. */
static void block_diffs(const u8 *got, const u8 *want, int *n)
{
	int blk;

	for (blk = 0; blk < 5; blk++)
		n[blk] = bit_diff(got + blk * 4 * KiB, want + blk * 4 * KiB,
				  4 * KiB);
}

/*
 * Corruption flips one to eight bits of the 4 KiB block, durable or cached,
 * which stay flipped across flushes and crashes; the same seed flips the
 * same bits.
 */
TEST(corrupt_flips_bits)
{
	u8 *d = pattern(20 * KiB, 1), *p = pattern(4 * KiB, 2), *want, *got;
	u8 *again;
	struct betrkv_dev *dev, *twin;
	int n[5], blk;

	ASSERT_TRUE(d && p);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, d, 20 * KiB, BETRKV_IO_FUA));
	/* Block 2 is partly cached, block 3 wholly. */
	ASSERT_EQ(0, betrkv_dev_write(dev, 9 * KiB, p, KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 12 * KiB, p, 4 * KiB, 0));
	want = read_back(dev, 0, 20 * KiB);
	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &twin));

	betrkv_simdisk_corrupt(dev, 4 * KiB + 1000, 5);
	betrkv_simdisk_corrupt(dev, 8 * KiB + 2047, 6);
	betrkv_simdisk_corrupt(dev, 16 * KiB - 1, 7);
	got = read_back(dev, 0, 20 * KiB);
	ASSERT_NE(NULL, got);
	block_diffs(got, want, n);
	EXPECT_EQ(0, n[0]);
	for (blk = 1; blk < 4; blk++) {
		EXPECT_LE(1, n[blk]) TH_LOG("block %d", blk);
		EXPECT_GE(8, n[blk]) TH_LOG("block %d", blk);
	}
	EXPECT_EQ(0, n[4]);

	/* A flush, then a crash, change none of it. */
	ASSERT_EQ(0, betrkv_dev_write(dev, 64 * KiB, p, KiB,
				      BETRKV_IO_PREFLUSH));
	betrkv_simdisk_crash(dev, 1);
	EXPECT_TRUE(holds(dev, 0, got, 20 * KiB));

	/* The same seeds corrupt the twin alike; another seed differently. */
	betrkv_simdisk_corrupt(twin, 4 * KiB, 5);
	betrkv_simdisk_corrupt(twin, 8 * KiB, 6);
	betrkv_simdisk_corrupt(twin, 12 * KiB, 7);
	again = read_back(twin, 0, 20 * KiB);
	ASSERT_NE(NULL, again);
	EXPECT_EQ(0, memcmp(got, again, 20 * KiB));
	betrkv_simdisk_corrupt(twin, 4 * KiB, 5);
	betrkv_simdisk_corrupt(twin, 4 * KiB, 8);
	EXPECT_FALSE(holds(twin, 4 * KiB, want + 4 * KiB, 4 * KiB));

	/* Beyond the device: nothing. */
	free(again);
	again = read_back(twin, 0, 20 * KiB);
	ASSERT_NE(NULL, again);
	betrkv_simdisk_corrupt(twin, DISK_SIZE, 9);
	EXPECT_TRUE(holds(twin, 0, again, 20 * KiB));
	betrkv_user_dev_close(twin);
	betrkv_user_dev_close(dev);
	free(d);
	free(p);
	free(want);
	free(got);
	free(again);
	EXPECT_EQ(0, leaks());
}

/* Odds and ranges betrkv_simdisk_set_faults() refuses. */
TEST(faults_refused)
{
	struct betrkv_dev *dev;

	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 4096, &dev));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_set_faults(dev,
		&(struct betrkv_simdisk_faults){ .len = DISK_SIZE, .lose = 1001 }));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_set_faults(dev,
		&(struct betrkv_simdisk_faults){ .len = DISK_SIZE, .lose = 600,
						 .misdirect = 401 }));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_set_faults(dev,
		&(struct betrkv_simdisk_faults){ .off = 512, .len = 4096 }));
	EXPECT_EQ(-EINVAL, betrkv_simdisk_set_faults(dev,
		&(struct betrkv_simdisk_faults){ .off = 4096, .len = DISK_SIZE }));
	EXPECT_EQ(0, betrkv_simdisk_set_faults(dev,
		&(struct betrkv_simdisk_faults){ .len = DISK_SIZE, .lose = 600,
						 .misdirect = 400 }));
	betrkv_user_dev_close(dev);
	EXPECT_EQ(0, leaks());
}

/*
 * A lost write is acknowledged and counted, but no block changes: not in
 * reads, not after its own PREFLUSH, not at a crash.  Writes outside the
 * range land.
 */
TEST(lost_writes)
{
	u8 *a = pattern(8 * KiB, 1), *b = pattern(8 * KiB, 2);
	struct betrkv_simdisk_faults f = { .off = 64 * KiB, .len = 64 * KiB,
					   .lose = 1000 };
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;
	unsigned int seed;
	u8 *got;

	ASSERT_TRUE(a && b);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 64 * KiB, a, 8 * KiB, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
	ASSERT_EQ(0, betrkv_dev_write(dev, 64 * KiB, b, 8 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 120 * KiB, b, 8 * KiB,
				      BETRKV_IO_PREFLUSH | BETRKV_IO_FUA));
	/* Starts before the range: not affected. */
	ASSERT_EQ(0, betrkv_dev_write(dev, 60 * KiB, b, 8 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, b, 8 * KiB, 0));
	EXPECT_TRUE(holds(dev, 0, b, 8 * KiB));
	EXPECT_TRUE(holds(dev, 60 * KiB, b, 8 * KiB));
	EXPECT_TRUE(holds(dev, 68 * KiB, a + 4 * KiB, 4 * KiB));
	EXPECT_FALSE(holds(dev, 120 * KiB, b, 8 * KiB));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(2, st.lost);
	EXPECT_EQ(0, st.misdirected);
	EXPECT_EQ(5, st.writes);
	EXPECT_EQ(1, st.flushes);
	EXPECT_EQ(2, st.fuas);
	EXPECT_EQ(2, st.pending);
	for (seed = 0; seed < SEEDS; seed++) {
		got = crash_read(dev, seed, 64 * KiB, 64 * KiB);
		ASSERT_NE(NULL, got);
		/* Whatever became of the write at 60 KiB, 68 KiB is a's. */
		ASSERT_EQ(0, memcmp(got + 4 * KiB, a + 4 * KiB, 4 * KiB))
			TH_LOG("seed %u", seed);
		ASSERT_FALSE(memcmp(got + 56 * KiB, b, 8 * KiB) == 0)
			TH_LOG("seed %u", seed);
		free(got);
	}
	/* Odds of 0: writes land again. */
	f.lose = 0;
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
	ASSERT_EQ(0, betrkv_dev_write(dev, 64 * KiB, b, 8 * KiB, 0));
	EXPECT_TRUE(holds(dev, 64 * KiB, b, 8 * KiB));
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	EXPECT_EQ(0, leaks());
}

/*
 * A misdirected write lands whole at another block of the range, where it
 * fits, and its own place keeps what it held; over many writes every other
 * place is hit and nothing outside the range changes.
 */
TEST(misdirected_writes)
{
	const u64 lo = 256 * KiB, span = 64 * KiB, len = 16 * KiB;
	struct betrkv_simdisk_faults f = { .off = lo, .len = span,
					   .misdirect = 1000 };
	u8 *a = pattern(len, 1), *zero = calloc(1, DISK_SIZE), *got;
	bool hit[64 * KiB / 4096] = { false };
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev, *copy;
	u64 off, where;
	int i, nhit = 0;

	ASSERT_TRUE(a && zero);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 4096, &dev));
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, betrkv_simdisk_clone(dev, &copy));
		f.seed = i;
		ASSERT_EQ(0, betrkv_simdisk_set_faults(copy, &f));
		ASSERT_EQ(0, betrkv_dev_write(copy, lo + 4096, a, len, 0));
		betrkv_simdisk_stats(copy, &st);
		EXPECT_EQ(1, st.misdirected);
		EXPECT_EQ(0, st.lost);
		got = read_back(copy, 0, DISK_SIZE);
		ASSERT_NE(NULL, got);
		betrkv_user_dev_close(copy);
		where = DISK_SIZE;
		for (off = lo; off + len <= lo + span; off += 4096)
			if (!memcmp(got + off, a, len))
				where = off;
		ASSERT_NE(DISK_SIZE, where) TH_LOG("write %d landed nowhere", i);
		ASSERT_NE(lo + 4096, where) TH_LOG("write %d landed at home", i);
		hit[(where - lo) / 4096] = true;
		memset(got + where, 0, len);
		ASSERT_EQ(0, memcmp(got, zero, DISK_SIZE)) TH_LOG("write %d", i);
		free(got);
	}
	for (i = 0; i < ARRAY_SIZE(hit); i++)
		nhit += hit[i];
	/* 13 places fit; 12 are not its own. */
	EXPECT_EQ(12, nhit);
	EXPECT_FALSE(hit[1]);
	/* A write that fits nowhere else in the range is lost. */
	f.len = len;
	f.off = lo + 4096;
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
	ASSERT_EQ(0, betrkv_dev_write(dev, lo + 4096, a, len, 0));
	EXPECT_TRUE(holds(dev, 0, zero, DISK_SIZE));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(1, st.lost);
	EXPECT_EQ(0, st.misdirected);
	betrkv_user_dev_close(dev);
	free(a);
	free(zero);
	EXPECT_EQ(0, leaks());
}

/* The odds hold, the seed decides, and a clone carries on alike. */
TEST(fault_odds)
{
	struct betrkv_simdisk_faults f = { .len = DISK_SIZE, .lose = 200,
					   .misdirect = 100, .seed = 9 };
	struct betrkv_simdisk_stats st, cst;
	struct betrkv_dev *dev, *copy;
	u8 *buf = pattern(4 * KiB, 1);
	int i;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 4096, &dev));
	ASSERT_EQ(0, betrkv_simdisk_set_faults(dev, &f));
	for (i = 0; i < 2000; i++)
		ASSERT_EQ(0, betrkv_dev_write(dev, i % 256 * 4 * KiB, buf,
					      4 * KiB, 0));
	betrkv_simdisk_stats(dev, &st);
	TH_LOG("%llu lost, %llu misdirected of 2000", st.lost, st.misdirected);
	EXPECT_LT(300, st.lost);
	EXPECT_GT(500, st.lost);
	EXPECT_LT(130, st.misdirected);
	EXPECT_GT(270, st.misdirected);
	EXPECT_EQ(2000 - st.lost, st.pending);
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &copy));
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, betrkv_dev_write(dev, i * 4 * KiB, buf, 4 * KiB, 0));
		ASSERT_EQ(0, betrkv_dev_write(copy, i * 4 * KiB, buf, 4 * KiB, 0));
	}
	betrkv_simdisk_stats(dev, &st);
	betrkv_simdisk_stats(copy, &cst);
	EXPECT_EQ(st.lost, cst.lost);
	EXPECT_EQ(st.misdirected, cst.misdirected);
	EXPECT_EQ(disk_hash(dev), disk_hash(copy));
	betrkv_user_dev_close(copy);
	betrkv_user_dev_close(dev);
	free(buf);
	EXPECT_EQ(0, leaks());
}

/* A clone shares nothing with its original. */
TEST(clone_independent)
{
	u8 *a = pattern(4 * KiB, 1), *b = pattern(4 * KiB, 2);
	u8 *c = pattern(4 * KiB, 3), *d = pattern(4 * KiB, 4);
	struct betrkv_simdisk_stats st, cst;
	struct betrkv_dev *dev, *copy;

	ASSERT_TRUE(a && b && c && d);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 4096, &dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, a, 4 * KiB, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, 4 * KiB, b, 4 * KiB, 0));
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &copy));
	EXPECT_EQ(betrkv_dev_size(dev), betrkv_dev_size(copy));
	EXPECT_EQ(4096, betrkv_dev_block_size(copy));
	betrkv_simdisk_stats(dev, &st);
	betrkv_simdisk_stats(copy, &cst);
	EXPECT_EQ(0, memcmp(&st, &cst, sizeof(st)));

	ASSERT_EQ(0, betrkv_dev_write(dev, 0, c, 4 * KiB, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(copy, 4 * KiB, d, 4 * KiB, 0));
	EXPECT_TRUE(holds(dev, 0, c, 4 * KiB));
	EXPECT_TRUE(holds(dev, 4 * KiB, b, 4 * KiB));
	EXPECT_TRUE(holds(copy, 0, a, 4 * KiB));
	EXPECT_TRUE(holds(copy, 4 * KiB, d, 4 * KiB));

	/* Crashing, corrupting and closing the original leave the copy be. */
	betrkv_simdisk_arm(dev, 0);
	betrkv_simdisk_corrupt(dev, 0, 1);
	betrkv_simdisk_crash(dev, 1);
	betrkv_user_dev_close(dev);
	EXPECT_TRUE(holds(copy, 0, a, 4 * KiB));
	EXPECT_TRUE(holds(copy, 4 * KiB, d, 4 * KiB));
	betrkv_simdisk_stats(copy, &cst);
	EXPECT_EQ(2, cst.pending);
	betrkv_user_dev_close(copy);
	free(a);
	free(b);
	free(c);
	free(d);
	EXPECT_EQ(0, leaks());
}

/* Fill @dev's cache with @n writes of 1-16 sectors, a few FUA or PREFLUSH. */
static int random_writes(struct betrkv_dev *dev, int n, u64 seed)
{
	u8 *buf = malloc(8 * KiB);
	unsigned int flags;
	size_t len;
	u64 off, r;
	int i, ret = 0;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < n && !ret; i++) {
		r = rng_next(&seed);
		len = (1 + r % 16) * SECTOR;
		off = (r >> 8) % ((DISK_SIZE - len) / SECTOR) * SECTOR;
		flags = (r >> 40) % 16 == 0 ? BETRKV_IO_FUA : 0;
		flags |= (r >> 44) % 64 == 0 ? BETRKV_IO_PREFLUSH : 0;
		memset(buf, (int)(r >> 48) | 1, len);
		ret = betrkv_dev_write(dev, off, buf, len, flags);
	}
	free(buf);
	return ret;
}

/* The same seed gives the same image; another seed another one. */
TEST(crash_deterministic)
{
	struct betrkv_dev *dev, *c1, *c2, *c3;
	u64 h1, h2, h3;

	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	ASSERT_EQ(0, random_writes(dev, 300, 1));
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &c1));
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &c2));
	ASSERT_EQ(0, betrkv_simdisk_clone(dev, &c3));
	betrkv_simdisk_crash(c1, 42);
	betrkv_simdisk_crash(c2, 42);
	betrkv_simdisk_crash(c3, 43);
	h1 = disk_hash(c1);
	h2 = disk_hash(c2);
	h3 = disk_hash(c3);
	EXPECT_NE(0, h1);
	EXPECT_EQ(h1, h2);
	EXPECT_NE(h1, h3);
	betrkv_user_dev_close(c1);
	betrkv_user_dev_close(c2);
	betrkv_user_dev_close(c3);
	betrkv_user_dev_close(dev);
	EXPECT_EQ(0, leaks());
}

/* The counters count completed I/Os. */
TEST(stats_count)
{
	u8 *buf = pattern(8 * KiB, 1);
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(0, st.reads + st.writes + st.bytes_written + st.flushes +
		     st.fuas + st.pending);
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 8 * KiB, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 512, BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 1024, BETRKV_IO_PREFLUSH));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 2048, 0));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 512,
				      BETRKV_IO_PREFLUSH | BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, buf, 4096, 0));
	ASSERT_EQ(0, betrkv_dev_read(dev, 0, buf, 512));
	ASSERT_EQ(0, betrkv_dev_read(dev, 0, buf, 8 * KiB));
	betrkv_simdisk_fail_writes(dev, true);
	EXPECT_EQ(-EIO, betrkv_dev_write(dev, 0, buf, 512, BETRKV_IO_PREFLUSH));
	betrkv_simdisk_fail_writes(dev, false);
	betrkv_simdisk_arm(dev, 0);
	EXPECT_EQ(-EIO, betrkv_dev_read(dev, 0, buf, 512));
	betrkv_simdisk_disarm(dev);

	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(2, st.reads);
	EXPECT_EQ(6, st.writes);
	EXPECT_EQ(8192 + 512 + 1024 + 2048 + 512 + 4096, st.bytes_written);
	EXPECT_EQ(2, st.flushes);
	EXPECT_EQ(2, st.fuas);
	EXPECT_EQ(1, st.pending);
	betrkv_simdisk_crash(dev, 0);
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(0, st.pending);
	EXPECT_EQ(6, st.writes);
	betrkv_user_dev_close(dev);
	free(buf);
	EXPECT_EQ(0, leaks());
}

/* Thousands of cached writes: all read back, then all made durable. */
TEST(many_pending)
{
	const int n = 2048;
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;
	u8 *img = pattern(DISK_SIZE, 1);
	unsigned int seed;
	int i;

	ASSERT_NE(NULL, img);
	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, betrkv_dev_write(dev, (u64)i * SECTOR,
					      img + i * SECTOR, SECTOR, 0));
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(n, st.pending);
	EXPECT_TRUE(holds(dev, 0, img, DISK_SIZE));
	ASSERT_EQ(0, betrkv_dev_write(dev, 0, img, SECTOR, BETRKV_IO_PREFLUSH |
				      BETRKV_IO_FUA));
	for (seed = 0; seed < 4; seed++) {
		u8 *got = crash_read(dev, seed, 0, DISK_SIZE);

		ASSERT_NE(NULL, got);
		EXPECT_EQ(0, memcmp(got, img, DISK_SIZE));
		free(got);
	}
	betrkv_user_dev_close(dev);
	free(img);
	EXPECT_EQ(0, leaks());
}

/* A disk of the size the crash tests use, to its last block. */
TEST(large_disk)
{
	const u64 size = 256 * MiB;
	u8 *a = pattern(64 * KiB, 1), *b = pattern(64 * KiB, 2);
	struct betrkv_dev *dev;
	unsigned int seed;

	ASSERT_TRUE(a && b);
	ASSERT_EQ(0, betrkv_simdisk_create(size, 4096, &dev));
	EXPECT_EQ(size, betrkv_dev_size(dev));
	ASSERT_EQ(0, betrkv_dev_write(dev, size - 64 * KiB, a, 64 * KiB,
				      BETRKV_IO_FUA));
	ASSERT_EQ(0, betrkv_dev_write(dev, size / 2, b, 64 * KiB, 0));
	EXPECT_EQ(-ENOSPC, betrkv_dev_write(dev, size, a, 4096, 0));
	EXPECT_TRUE(holds(dev, size / 2, b, 64 * KiB));
	for (seed = 0; seed < 2; seed++) {
		u8 *got = crash_read(dev, seed, size - 64 * KiB, 64 * KiB);

		ASSERT_NE(NULL, got);
		EXPECT_EQ(0, memcmp(got, a, 64 * KiB));
		free(got);
	}
	betrkv_user_dev_close(dev);
	free(a);
	free(b);
	EXPECT_EQ(0, leaks());
}

struct worker {
	struct betrkv_dev *dev;
	u64 off;
	int errors;
};

/* Write a 64 KiB region a sector at a time, reading each one back. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	u8 *want = pattern(64 * KiB, w->off), *got = malloc(SECTOR);
	unsigned int flags;
	u64 off;

	if (!want || !got)
		w->errors++;
	for (off = 0; !w->errors && off < 64 * KiB; off += SECTOR) {
		flags = off % (8 * KiB) ? 0 : BETRKV_IO_PREFLUSH;
		w->errors += !!betrkv_dev_write(w->dev, w->off + off,
						want + off, SECTOR, flags);
		w->errors += !!betrkv_dev_read(w->dev, w->off + off, got,
					       SECTOR);
		w->errors += !!memcmp(got, want + off, SECTOR);
	}
	w->errors += !holds(w->dev, w->off, want, 64 * KiB);
	free(want);
	free(got);
	return NULL;
}

/* Concurrent I/O from several threads. */
TEST(threads)
{
	struct worker w[8];
	pthread_t t[8];
	struct betrkv_simdisk_stats st;
	struct betrkv_dev *dev;
	int i;

	ASSERT_EQ(0, betrkv_simdisk_create(DISK_SIZE, 512, &dev));
	for (i = 0; i < 8; i++) {
		w[i] = (struct worker){ .dev = dev, .off = i * 64 * KiB };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_run, &w[i]));
	}
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, w[i].errors) TH_LOG("thread %d", i);
	}
	betrkv_simdisk_stats(dev, &st);
	EXPECT_EQ(8 * 128, st.writes);
	EXPECT_EQ(8 * 129, st.reads);
	betrkv_user_dev_close(dev);
	EXPECT_EQ(0, leaks());
}

TEST_HARNESS_MAIN
