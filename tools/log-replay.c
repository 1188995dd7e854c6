// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-log-replay: replay a dm-log-writes log onto a device or file, up to
 * a chosen point, optionally tearing the writes a crash there could leave
 * half done.  'betrkv-log-replay --help' shows the usage.
 *
 * The log format (Documentation/admin-guide/device-mapper/log-writes.rst,
 * drivers/md/dm-log-writes.c), all integers little endian, S the log's
 * sector size (the logical block size of the logged device):
 *
 *   bytes [0, S)    the super: __le64 magic 0x6a736677736872, __le64 version
 *                   1, __le64 nr_entries, __le32 sectorsize (= S)
 *   then nr_entries times:
 *     one sector    the entry: __le64 sector, __le64 nr_sectors,
 *                   __le64 flags, __le64 data_len; a mark's name (data_len
 *                   bytes, no NUL) follows in the same sector
 *     nr_sectors*S  the data written, except for discards and marks
 *
 * sector and nr_sectors count sectors of S bytes on the logged device.
 * Flags: FLUSH (1, REQ_PREFLUSH), FUA (2), DISCARD (4), MARK (8), META (16).
 *
 * Order: a FUA write is logged when it completes.  Other writes are logged
 * when a flush that was issued after they completed completes: they come,
 * together, right before that FLUSH entry.  A mark is logged when it is set.
 * Entries past nr_entries (the super is rewritten at FUA writes, marks and
 * the end of logging) are ignored.
 *
 * Replay writes entries [FROM, N) in log order onto TARGET, which holds the
 * replay of [0, FROM) (FROM is 0 by default: a zeroed target of the logged
 * device's size).  A discard writes zeroes.  Nothing is ever read back from
 * the target.
 *
 * --torn SEED: a crash at point N, when the writes after the last completed
 * flush may each have landed fully, not at all, or torn.  Let D be the index
 * just past the last FLUSH entry before N (0 if none); then
 *   - entries before D are applied in full (a completed flush covers them);
 *   - FUA writes in [D, N) are applied in full (durable when completed);
 *   - the other writes and discards in [D, N), and entry N if it is a write
 *     or discard without FLUSH (in flight at the crash), are torn: each
 *     independently lands fully (1/4), not at all (1/4), or sector by sector
 *     (1/2), where each S-byte sector is new (1/2), left as it was (3/8), or
 *     garbage (1/8: random bytes).
 * Every state made this way is a state the disk model allows for a crash
 * at some instant; SEED makes it reproducible.  FROM must not exceed D.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define LOG_MAGIC		0x6a736677736872ULL
#define LOG_VERSION		1ULL

#define LOG_FLUSH		(1ULL << 0)
#define LOG_FUA			(1ULL << 1)
#define LOG_DISCARD		(1ULL << 2)
#define LOG_MARK		(1ULL << 3)
#define LOG_META		(1ULL << 4)
#define LOG_FLAGS_KNOWN		(LOG_FLUSH | LOG_FUA | LOG_DISCARD | LOG_MARK | LOG_META)

#define SUPER_BYTES		28	/* magic, version, nr_entries, sectorsize */
#define ENTRY_BYTES		32	/* sector, nr_sectors, flags, data_len */
#define SECTOR_MIN		512u
#define SECTOR_MAX		65536u
#define CHUNK_BYTES		(1u << 20)

#define EXIT_FAIL		1
#define EXIT_USAGE		2

static const char *prog = "betrkv-log-replay";

/* One entry of the log, as checked by read_log(). */
struct entry {
	uint64_t sector;	/* in log sectors */
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_off;	/* byte offset of the data in the log */
	char *mark;		/* a mark's name, NUL-terminated; else NULL */
};

struct log {
	int fd;
	const char *path;
	uint32_t sectorsize;
	uint64_t nr_entries;	/* as the super says */
	uint64_t nr_read;	/* entries read and checked so far */
	struct entry *entries;
};

/* What a replay did, for the summary line. */
struct tally {
	uint64_t writes, torn, new_sectors, old_sectors, junk_sectors;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/* Read exactly @len bytes at @off; a short read is an error. */
static int read_at(int fd, const char *path, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (uint8_t *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("%s: read at byte %" PRIu64 ": %s", path,
				    off + done, strerror(errno));
		if (n == 0)
			return fail("%s: ends at byte %" PRIu64 " (truncated)",
				    path, off + done);
		done += n;
	}
	return 0;
}

static int write_at(int fd, const char *path, const void *buf, size_t len,
		    uint64_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const uint8_t *)buf + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail("%s: write at byte %" PRIu64 ": %s", path,
				    off + done, n ? strerror(errno) : "no progress");
		done += n;
	}
	return 0;
}

/* Bytes in a regular file or block device. */
static int file_bytes(int fd, const char *path, uint64_t *bytes)
{
	struct stat st;

	if (fstat(fd, &st))
		return fail("%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*bytes = st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, bytes))
			return fail("%s: BLKGETSIZE64: %s", path, strerror(errno));
		return 0;
	}
	return fail("%s: not a regular file or block device", path);
}

/* A mark's name, with anything unprintable as \xNN. */
static void print_name(FILE *f, const char *name)
{
	for (; *name; name++) {
		if (*name > ' ' && *name < 0x7f && *name != '\\')
			fputc(*name, f);
		else
			fprintf(f, "\\x%02x", (uint8_t)*name);
	}
}

/* Check one entry header (in @buf, one sector) and fill @e. */
static int parse_entry(const struct log *log, uint64_t idx, const uint8_t *buf,
		       struct entry *e)
{
	uint64_t data_len = get_le64(buf + 24);

	e->sector = get_le64(buf);
	e->nr_sectors = get_le64(buf + 8);
	e->flags = get_le64(buf + 16);
	e->mark = NULL;
	if (e->flags & ~LOG_FLAGS_KNOWN)
		return fail("%s: entry %" PRIu64 ": unknown flags %#" PRIx64,
			    log->path, idx, e->flags);
	if (e->flags & LOG_MARK) {
		if (e->flags != LOG_MARK || e->nr_sectors)
			return fail("%s: entry %" PRIu64 ": a mark with flags %#" PRIx64
				    " and %" PRIu64 " sectors", log->path, idx,
				    e->flags, e->nr_sectors);
		if (data_len > log->sectorsize - ENTRY_BYTES)
			return fail("%s: entry %" PRIu64 ": mark of %" PRIu64
				    " bytes in a %u-byte sector", log->path, idx,
				    data_len, log->sectorsize);
		if (memchr(buf + ENTRY_BYTES, '\0', data_len))
			return fail("%s: entry %" PRIu64 ": NUL inside a mark's name",
				    log->path, idx);
		e->mark = strndup((const char *)buf + ENTRY_BYTES, data_len);
		return e->mark ? 0 : fail("out of memory");
	}
	if (data_len)
		return fail("%s: entry %" PRIu64 ": %" PRIu64 " bytes of inline data"
			    " in a write", log->path, idx, data_len);
	if ((e->flags & LOG_DISCARD) && (e->flags & (LOG_FLUSH | LOG_FUA)))
		return fail("%s: entry %" PRIu64 ": a discard with FLUSH or FUA",
			    log->path, idx);
	if (!e->nr_sectors && !(e->flags & LOG_FLUSH))
		return fail("%s: entry %" PRIu64 ": an empty write", log->path, idx);
	return 0;
}

/*
 * Read and check the super and every entry header.  Sizes come from the
 * log, so each is checked against the log's length before it is used.
 */
static int read_log(struct log *log)
{
	uint64_t log_bytes, off, room, version, cap = 0;
	uint8_t super[SUPER_BYTES], *buf;
	struct entry *e;
	int ret = -1;

	if (file_bytes(log->fd, log->path, &log_bytes) ||
	    read_at(log->fd, log->path, super, sizeof(super), 0))
		return -1;
	if (get_le64(super) != LOG_MAGIC)
		return fail("%s: not a dm-log-writes log (magic %#" PRIx64 ")",
			    log->path, get_le64(super));
	version = get_le64(super + 8);
	if (version != LOG_VERSION)
		return fail("%s: log version %" PRIu64 ", only %llu is known",
			    log->path, version, LOG_VERSION);
	log->nr_entries = get_le64(super + 16);
	log->sectorsize = get_le32(super + 24);
	if (log->sectorsize < SECTOR_MIN || log->sectorsize > SECTOR_MAX ||
	    (log->sectorsize & (log->sectorsize - 1)))
		return fail("%s: sector size %u is not a power of two in [%u, %u]",
			    log->path, log->sectorsize, SECTOR_MIN, SECTOR_MAX);
	buf = malloc(log->sectorsize);
	if (!buf)
		return fail("out of memory");
	off = log->sectorsize;
	while (log->nr_read < log->nr_entries) {
		if (off > log_bytes || log_bytes - off < log->sectorsize) {
			fail("%s: entry %" PRIu64 " of %" PRIu64 " lies past the end",
			     log->path, log->nr_read, log->nr_entries);
			goto out;
		}
		if (log->nr_read == cap) {
			cap = cap ? 2 * cap : 64;
			e = reallocarray(log->entries, cap, sizeof(*e));
			if (!e) {
				fail("out of memory");
				goto out;
			}
			log->entries = e;
		}
		e = &log->entries[log->nr_read];
		if (read_at(log->fd, log->path, buf, log->sectorsize, off) ||
		    parse_entry(log, log->nr_read, buf, e))
			goto out;
		off += log->sectorsize;
		e->data_off = off;
		if (!(e->flags & (LOG_DISCARD | LOG_MARK))) {
			room = (log_bytes - off) / log->sectorsize;
			if (e->nr_sectors > room) {
				fail("%s: entry %" PRIu64 ": %" PRIu64 " sectors of"
				     " data run past the end", log->path,
				     log->nr_read, e->nr_sectors);
				goto out;
			}
			off += e->nr_sectors * log->sectorsize;
		}
		log->nr_read++;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

static void free_log(struct log *log)
{
	uint64_t i;

	for (i = 0; i < log->nr_read; i++)
		free(log->entries[i].mark);
	free(log->entries);
	close(log->fd);
}

static void print_flags(FILE *f, uint64_t flags)
{
	static const char *const names[] = { "FLUSH", "FUA", "DISCARD", "MARK", "META" };
	const char *sep = "";
	unsigned int i;

	if (!flags)
		fputc('-', f);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flags & (1ULL << i)) {
			fprintf(f, "%s%s", sep, names[i]);
			sep = "|";
		}
	}
}

static void list_log(const struct log *log)
{
	const struct entry *e;
	uint64_t i;

	printf("# %" PRIu64 " entries, sector size %u\n", log->nr_entries,
	       log->sectorsize);
	printf("# index sector nr_sectors flags [mark]\n");
	for (i = 0; i < log->nr_entries; i++) {
		e = &log->entries[i];
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " ", i, e->sector,
		       e->nr_sectors);
		print_flags(stdout, e->flags);
		if (e->flags & LOG_MARK) {
			putchar(' ');
			print_name(stdout, e->mark);
		}
		putchar('\n');
	}
}

/* splitmix64: small, seedable, good enough to pick sectors. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* What becomes of one sector of a write. */
enum fate { LAND, KEEP, JUNK };

struct replay {
	const struct log *log;
	int fd;
	const char *path;
	uint64_t target_sectors;
	uint8_t *chunk;		/* CHUNK_BYTES */
	enum fate *fates;	/* one per sector of a chunk */
	uint64_t rng;
	struct tally tally;
};

/*
 * Pick the fate of each of the @n sectors of a chunk of a write: all LAND
 * when it is not torn; else by @whole (the write's lot, the same for all
 * its chunks): 0 lands, 1 keeps, 2 and 3 tear sector by sector.
 */
static void pick_fates(struct replay *r, bool torn, uint64_t whole, uint64_t n)
{
	uint64_t i, x;

	for (i = 0; i < n; i++) {
		if (!torn || whole == 0) {
			r->fates[i] = LAND;
		} else if (whole == 1) {
			r->fates[i] = KEEP;
		} else {
			x = rng_next(&r->rng) % 8;
			r->fates[i] = x < 4 ? LAND : x < 7 ? KEEP : JUNK;
		}
		r->tally.new_sectors += r->fates[i] == LAND;
		r->tally.old_sectors += r->fates[i] == KEEP;
		r->tally.junk_sectors += r->fates[i] == JUNK;
	}
}

static void fill_junk(struct replay *r, uint8_t *p, uint32_t len)
{
	uint64_t v;
	uint32_t i;

	for (i = 0; i < len; i += sizeof(v)) {
		v = rng_next(&r->rng);
		memcpy(p + i, &v, sizeof(v));
	}
}

/* Write @n sectors from r->chunk at target sector @sector, as fated. */
static int write_chunk(struct replay *r, uint64_t sector, uint64_t n)
{
	uint32_t ss = r->log->sectorsize;
	uint64_t i, run;

	for (i = 0; i < n; i++)
		if (r->fates[i] == JUNK)
			fill_junk(r, r->chunk + i * ss, ss);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n &&
		     (r->fates[i + run] == KEEP) == (r->fates[i] == KEEP); run++)
			;
		if (r->fates[i] != KEEP &&
		    write_at(r->fd, r->path, r->chunk + i * ss, run * ss,
			     (sector + i) * ss))
			return -1;
	}
	return 0;
}

/*
 * Write entry @e's data (zeroes for a discard) onto the target; when @torn,
 * as a crash could leave it (see the top of this file).
 */
static int apply_entry(struct replay *r, uint64_t idx, const struct entry *e,
		       bool torn)
{
	uint32_t ss = r->log->sectorsize;
	uint64_t per_chunk = CHUNK_BYTES / ss, whole, done, n;

	if (!e->nr_sectors)
		return 0;
	if (e->sector > r->target_sectors ||
	    e->nr_sectors > r->target_sectors - e->sector)
		return fail("%s: entry %" PRIu64 " writes sectors [%" PRIu64 ", +%"
			    PRIu64 ") past the target's %" PRIu64, r->path, idx,
			    e->sector, e->nr_sectors, r->target_sectors);
	whole = torn ? rng_next(&r->rng) % 4 : 0;
	r->tally.writes++;
	r->tally.torn += torn;
	for (done = 0; done < e->nr_sectors; done += n) {
		n = e->nr_sectors - done < per_chunk ? e->nr_sectors - done : per_chunk;
		if (e->flags & LOG_DISCARD)
			memset(r->chunk, 0, n * ss);
		else if (read_at(r->log->fd, r->log->path, r->chunk, n * ss,
				 e->data_off + done * ss))
			return -1;
		pick_fates(r, torn, whole, n);
		if (write_chunk(r, e->sector + done, n))
			return -1;
	}
	return 0;
}

/*
 * Is entry @i torn by a crash at point @to, when entries before @durable
 * are durable?  Writes after @durable that are not FUA, and the write in
 * flight at @to unless it carries a flush (see the top of this file).
 */
static bool tears(const struct entry *e, uint64_t i, uint64_t durable,
		  uint64_t to)
{
	if (i < durable || !e->nr_sectors)
		return false;
	return i < to ? !(e->flags & LOG_FUA) : !(e->flags & LOG_FLUSH);
}

static int replay(const struct log *log, int fd, const char *path,
		  uint64_t from, uint64_t to, bool torn, uint64_t seed)
{
	struct replay r = { .log = log, .fd = fd, .path = path, .rng = seed };
	uint64_t bytes, durable = 0, i;
	int ret = -1;

	if (file_bytes(fd, path, &bytes))
		return -1;
	r.target_sectors = bytes / log->sectorsize;
	for (i = 0; i < to; i++)
		if (log->entries[i].flags & LOG_FLUSH)
			durable = i + 1;
	if (torn && from > durable)
		return fail("--torn: replay must start at or before entry %" PRIu64
			    " (just past the last flush before entry %" PRIu64 ")",
			    durable, to);
	r.chunk = malloc(CHUNK_BYTES);
	r.fates = calloc(CHUNK_BYTES / log->sectorsize, sizeof(*r.fates));
	if (!r.chunk || !r.fates) {
		fail("out of memory");
		goto out;
	}
	for (i = from; i < to; i++)
		if (apply_entry(&r, i, &log->entries[i],
				torn && tears(&log->entries[i], i, durable, to)))
			goto out;
	if (torn && to < log->nr_entries && tears(&log->entries[to], to, durable, to) &&
	    apply_entry(&r, to, &log->entries[to], true))
		goto out;
	if (fsync(fd)) {
		fail("%s: fsync: %s", path, strerror(errno));
		goto out;
	}
	printf("replayed entries [%" PRIu64 ", %" PRIu64 ") onto %s: %" PRIu64
	       " writes", from, to, path, r.tally.writes);
	if (torn)
		printf("; durable before %" PRIu64 ", %" PRIu64 " torn: %" PRIu64
		       " sectors new, %" PRIu64 " old, %" PRIu64 " garbage",
		       durable, r.tally.torn, r.tally.new_sectors,
		       r.tally.old_sectors, r.tally.junk_sectors);
	putchar('\n');
	ret = 0;
out:
	free(r.fates);
	free(r.chunk);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s --list LOG\n"
"       %s [--from-entry M] [--to-entry N | --to-mark NAME] [--torn SEED] LOG TARGET\n"
"\n"
"Replay a dm-log-writes log: write its entries [M, N), in order, onto TARGET\n"
"(a file or block device of the logged device's size holding the replay of\n"
"[0, M); M defaults to 0, for a zeroed TARGET).\n"
"\n"
"  --list           print the entries: index sector nr_sectors flags [mark]\n"
"                   (sectors in units of the log's sector size; flags FLUSH,\n"
"                   FUA, DISCARD, MARK, META joined by |, or -)\n"
"  --from-entry M   TARGET already holds entries [0, M)\n"
"  --to-entry N     stop before entry N (default: all entries)\n"
"  --to-mark NAME   stop at the first mark named NAME\n"
"  --torn SEED      replay a crash at the stop point: the writes that no\n"
"                   completed flush covers yet, and the write in flight\n"
"                   there, land fully, not at all, or torn sector by sector\n"
"                   (some sectors garbage), as SEED picks; M must not be past\n"
"                   the last flush before the stop point\n"
"  -h, --help       this help\n"
"\n"
"Prints one line saying what it wrote.  Exit status: 0 done, 1 the log or\n"
"TARGET is unusable (the reason on stderr), 2 bad usage.\n", prog, prog);
}

static int parse_u64(const char *s, const char *opt, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "%s: %s wants a number, not '%s'\n", prog, opt, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "from-entry", required_argument, NULL, 'f' },
		{ "to-entry", required_argument, NULL, 't' },
		{ "to-mark", required_argument, NULL, 'm' },
		{ "torn", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct log log = { .fd = -1 };
	uint64_t from = 0, to = UINT64_MAX, seed = 0, i;
	const char *mark = NULL, *target = NULL;
	bool list = false, torn = false, from_set = false, to_set = false;
	int c, fd = -1, ret = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			list = true;
			break;
		case 'f':
			if (parse_u64(optarg, "--from-entry", &from))
				return EXIT_USAGE;
			from_set = true;
			break;
		case 't':
			if (parse_u64(optarg, "--to-entry", &to))
				return EXIT_USAGE;
			to_set = true;
			break;
		case 'm':
			mark = optarg;
			break;
		case 'T':
			if (parse_u64(optarg, "--torn", &seed))
				return EXIT_USAGE;
			torn = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "try '%s --help'\n", prog);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != (list ? 1 : 2) ||
	    (list && (from_set || to_set || mark || torn)) || (to_set && mark)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log.path = argv[optind];
	if (!list)
		target = argv[optind + 1];
	log.fd = open(log.path, O_RDONLY | O_CLOEXEC);
	if (log.fd < 0) {
		fail("%s: %s", log.path, strerror(errno));
		return EXIT_FAIL;
	}
	if (read_log(&log))
		goto out;
	if (list) {
		list_log(&log);
		ret = 0;
		goto out;
	}
	if (mark) {
		for (i = 0; i < log.nr_entries; i++)
			if ((log.entries[i].flags & LOG_MARK) &&
			    !strcmp(log.entries[i].mark, mark))
				break;
		if (i == log.nr_entries) {
			fail("%s: no mark named '%s'", log.path, mark);
			goto out;
		}
		to = i;
	}
	if (!to_set && !mark)
		to = log.nr_entries;
	if (to > log.nr_entries || from > to) {
		fail("%s: entries [%" PRIu64 ", %" PRIu64 ") are not within the log's %"
		     PRIu64, log.path, from, to, log.nr_entries);
		goto out;
	}
	fd = open(target, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail("%s: %s", target, strerror(errno));
		goto out;
	}
	if (!replay(&log, fd, target, from, to, torn, seed))
		ret = 0;
out:
	if (fd >= 0 && close(fd) && !ret) {
		fail("%s: close: %s", target, strerror(errno));
		ret = EXIT_FAIL;
	}
	free_log(&log);
	if (fflush(stdout) && !ret) {
		fail("writing the output: %s", strerror(errno));
		ret = EXIT_FAIL;
	}
	return ret;
}
