// SPDX-License-Identifier: GPL-2.0
/*
 * betrkvctl: administration of betrkv stores, and access to their data.
 *
 *   betrkvctl format DEVICE --yes [--node-size SIZE] [--journal-size SIZE]
 *   betrkvctl bind DEVICE [--read-only [--salvage]] [--cache SIZE] [--commit-ms N]
 *   betrkvctl unbind STORE
 *   betrkvctl list
 *   betrkvctl status STORE [--json]
 *   betrkvctl dump-super DEVICE-OR-IMAGE [--software-crc]
 *   betrkvctl get STORE KEY [--hex]
 *   betrkvctl put STORE KEY VALUE|-
 *   betrkvctl put STORE KEY --value-file FILE
 *   betrkvctl del STORE KEY
 *   betrkvctl scan STORE [START [END]] [--limit N] [--keys-only]
 *   betrkvctl sync STORE
 *   betrkvctl stats STORE [--json]
 *   betrkvctl load STORE [FILE|-]
 *
 * Keys and values travel as text: on the command line, in scan's output
 * and in load's input every byte stands for itself except that "\xNN" is
 * the byte with hex value NN and "\\" a backslash; scan prints every byte
 * outside printable ASCII (TAB and newline among them) as "\xNN", so a
 * scan line is KEY TAB VALUE and load takes back what scan printed.
 *
 * Exit status 0 on success, 1 when the operation failed, 2 for a wrong
 * command line.  Errors go to the error stream as
 * "betrkvctl: COMMAND: REASON".  Everything but dump-super talks to the
 * module through libbetrkv; dump-super reads the two superblock copies
 * itself and decodes them with the engine core, so it needs no module.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "cli.h"
#include "superblock.h"

#ifndef BETRKV_VERSION
#define BETRKV_VERSION	"unknown"
#endif

#define PROG	"betrkvctl"

/* ---- sizes, store references, UUIDs ---------------------------------- */

/* Multiplier of a size suffix ("", "B", "K", "KiB", ... "E"), 0 if invalid. */
static uint64_t size_suffix(const char *s)
{
	static const char units[] = "KMGTPE";
	const char *u;

	if (!*s || !strcmp(s, "B") || !strcmp(s, "b"))
		return 1;
	u = strchr(units, toupper((unsigned char)*s));
	if (!u)
		return 0;
	if (s[1] && strcasecmp(s + 1, "iB"))
		return 0;
	return 1ull << (10 * (u - units + 1));
}

/**
 * cli_parse_size() - parse a byte count such as "4096", "64M" or "1GiB".
 * @s: decimal digits, then optionally B, or one of K M G T P E (binary
 *     multiples, either case) alone or followed by "iB"
 * @bytes: receives the value
 *
 * Signs, spaces, fractions, hexadecimal and decimal (SI) suffixes such as
 * "KB" are rejected.
 *
 * Return: 0, -EINVAL for malformed text, -ERANGE if the value does not fit
 * in 64 bits.
 */
int cli_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t val = 0, mult;
	const char *p;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (p = s; isdigit((unsigned char)*p); p++)
		;
	mult = size_suffix(p);
	if (!mult)
		return -EINVAL;
	for (p = s; isdigit((unsigned char)*p); p++) {
		unsigned int d = *p - '0';

		if (val > (UINT64_MAX - d) / 10)
			return -ERANGE;
		val = val * 10 + d;
	}
	if (val > UINT64_MAX / mult)
		return -ERANGE;
	*bytes = val * mult;
	return 0;
}

/**
 * cli_parse_store() - parse a store reference: "3", "betrkv3", "/dev/betrkv3".
 * @s: the reference
 * @index: receives N
 *
 * The number is decimal without sign or leading zeros.
 *
 * Return: 0, -EINVAL for malformed text, -ERANGE if N exceeds 32 bits.
 */
int cli_parse_store(const char *s, uint32_t *index)
{
	static const char dev_prefix[] = "/dev/" BETRKV_DEVICE_PREFIX;
	uint64_t val = 0;

	if (!s)
		return -EINVAL;
	if (!strncmp(s, dev_prefix, strlen(dev_prefix)))
		s += strlen(dev_prefix);
	else if (!strncmp(s, BETRKV_DEVICE_PREFIX, strlen(BETRKV_DEVICE_PREFIX)))
		s += strlen(BETRKV_DEVICE_PREFIX);
	if (!isdigit((unsigned char)*s) || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		val = val * 10 + (*s - '0');
		if (val > UINT32_MAX)
			return -ERANGE;
	}
	if (*s)
		return -EINVAL;
	*index = val;
	return 0;
}

/**
 * cli_format_uuid() - the canonical lower-case text form of a UUID.
 * @uuid: 16 bytes
 * @buf: receives "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 *
 * Return: @buf.
 */
char *cli_format_uuid(const uint8_t uuid[16], char buf[CLI_UUID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;
	int i;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid[i] >> 4];
		*p++ = hex[uuid[i] & 15];
	}
	*p = '\0';
	return buf;
}

/**
 * cli_format_bytes() - a byte count for people: "512 B", "64 MiB", "1.5 GiB".
 * @bytes: the count
 * @buf: receives the text
 *
 * Exact multiples of a unit print as integers, others with one decimal.
 *
 * Return: @buf.
 */
char *cli_format_bytes(uint64_t bytes, char buf[CLI_BYTES_LEN])
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	unsigned int u = 0;

	while (u < 6 && bytes >> (10 * (u + 1)))
		u++;
	if (!(bytes & ((1ull << (10 * u)) - 1)))
		snprintf(buf, CLI_BYTES_LEN, "%llu %s",
			 (unsigned long long)(bytes >> (10 * u)), units[u]);
	else
		snprintf(buf, CLI_BYTES_LEN, "%.1f %s",
			 (double)bytes / (double)(1ull << (10 * u)), units[u]);
	return buf;
}

/* ---- status ------------------------------------------------------------ */

/* dev_t in the kernel's new encoding (new_encode_dev) to major, minor. */
static unsigned int dev_major(uint32_t dev)
{
	return (dev & 0xfff00) >> 8;
}

static unsigned int dev_minor(uint32_t dev)
{
	return (dev & 0xff) | ((dev >> 12) & 0xfff00);
}

static void print_field(FILE *out, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void print_field(FILE *out, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  %-20s ", label);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

static void print_bytes_field(FILE *out, const char *label, uint64_t bytes)
{
	char human[CLI_BYTES_LEN];

	print_field(out, label, "%llu (%s)", (unsigned long long)bytes,
		    cli_format_bytes(bytes, human));
}

static void print_region(FILE *out, const char *label, uint64_t offset,
			 uint64_t size)
{
	char human[CLI_BYTES_LEN];

	print_field(out, label, "offset %llu, size %llu (%s)",
		    (unsigned long long)offset, (unsigned long long)size,
		    cli_format_bytes(size, human));
}

static int backing_name_len(const struct betrkv_status_args *st)
{
	return strnlen(st->backing_name, sizeof(st->backing_name));
}

/**
 * cli_print_status() - every field of a store's status, for people.
 * @out: where to print
 * @st: the status, as betrkv_status() returned it
 */
void cli_print_status(FILE *out, const struct betrkv_status_args *st)
{
	char uuid[CLI_UUID_LEN];

	fprintf(out, "/dev/" BETRKV_DEVICE_PREFIX "%u:\n", st->index);
	print_field(out, "state:", "%s", betrkv_state_name(st->state));
	print_field(out, "uuid:", "%s", cli_format_uuid(st->uuid, uuid));
	print_field(out, "backing device:", "%.*s (%u:%u)",
		    backing_name_len(st), st->backing_name,
		    dev_major(st->backing_dev), dev_minor(st->backing_dev));
	print_bytes_field(out, "device size:", st->device_bytes);
	print_field(out, "logical block size:", "%u", st->logical_block_size);
	print_field(out, "format version:", "%u", st->format_version);
	print_field(out, "generation:", "%llu",
		    (unsigned long long)st->generation);
	print_field(out, "superblock slot:", "%u", st->sb_slot);
	print_bytes_field(out, "node size:", st->node_size);
	print_region(out, "journal:", st->journal_offset, st->journal_size);
	print_region(out, "indirection table:", st->itable_offset,
		     st->itable_size);
	print_region(out, "nodes:", st->nodes_offset, st->nodes_size);
	print_bytes_field(out, "cache:", st->cache_bytes);
	if (st->commit_ms)
		print_field(out, "commit interval:", "%u ms", st->commit_ms);
	else
		print_field(out, "commit interval:", "off");
	print_field(out, "salvaged:", "%s", st->salvaged ?
		    "yes (the state before a corrupt journal block)" : "no");
}

static void print_json_string(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/**
 * cli_print_status_json() - every field of a store's status as one JSON object.
 * @out: where to print
 * @st: the status, as betrkv_status() returned it
 */
void cli_print_status_json(FILE *out, const struct betrkv_status_args *st)
{
	char uuid[CLI_UUID_LEN];

	fprintf(out, "{\"index\": %u, \"device\": \"/dev/" BETRKV_DEVICE_PREFIX
		"%u\", \"state\": \"%s\", \"uuid\": \"%s\", ",
		st->index, st->index, betrkv_state_name(st->state),
		cli_format_uuid(st->uuid, uuid));
	fputs("\"backing_name\": ", out);
	print_json_string(out, st->backing_name, backing_name_len(st));
	fprintf(out, ", \"backing_major\": %u, \"backing_minor\": %u, ",
		dev_major(st->backing_dev), dev_minor(st->backing_dev));
	fprintf(out, "\"device_bytes\": %llu, \"logical_block_size\": %u, "
		"\"format_version\": %u, \"generation\": %llu, \"sb_slot\": %u, "
		"\"node_size\": %u, ",
		(unsigned long long)st->device_bytes, st->logical_block_size,
		st->format_version, (unsigned long long)st->generation,
		st->sb_slot, st->node_size);
	fprintf(out, "\"journal_offset\": %llu, \"journal_size\": %llu, "
		"\"itable_offset\": %llu, \"itable_size\": %llu, "
		"\"nodes_offset\": %llu, \"nodes_size\": %llu, "
		"\"cache_bytes\": %llu, \"commit_ms\": %u, \"salvaged\": %s}\n",
		(unsigned long long)st->journal_offset,
		(unsigned long long)st->journal_size,
		(unsigned long long)st->itable_offset,
		(unsigned long long)st->itable_size,
		(unsigned long long)st->nodes_offset,
		(unsigned long long)st->nodes_size,
		(unsigned long long)st->cache_bytes, st->commit_ms,
		st->salvaged ? "true" : "false");
}

/* ---- keys and values as text ------------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/**
 * cli_unescape() - the bytes a key or value text stands for.
 * @s: the text: bytes taken as they are, except "\xNN" (two hex digits,
 *     either case), which is the byte NN, and "\\", which is a backslash
 * @len: bytes at @s (it need not be NUL-terminated and may hold NULs)
 * @buf: receives the bytes
 * @cap: room at @buf
 * @out_len: receives their number
 *
 * Return: 0, -EINVAL for any other backslash sequence, -E2BIG if the bytes
 * do not fit in @cap.
 */
int cli_unescape(const char *s, size_t len, uint8_t *buf, size_t cap,
		 size_t *out_len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (c == '\\') {
			if (len - i > 1 && s[i + 1] == '\\') {
				i++;
			} else if (len - i > 3 && s[i + 1] == 'x' &&
				   hex_digit(s[i + 2]) >= 0 &&
				   hex_digit(s[i + 3]) >= 0) {
				c = hex_digit(s[i + 2]) << 4 | hex_digit(s[i + 3]);
				i += 3;
			} else {
				return -EINVAL;
			}
		}
		if (n == cap)
			return -E2BIG;
		buf[n++] = c;
	}
	*out_len = n;
	return 0;
}

/**
 * cli_print_escaped() - print bytes so that cli_unescape() gives them back.
 * @out: where to print
 * @data: the bytes
 * @len: their number
 *
 * Printable ASCII but the backslash prints as it is, a backslash as "\\",
 * every other byte (TAB and newline included) as "\xNN" in lower case, so
 * the text holds no TAB and no newline.
 */
void cli_print_escaped(FILE *out, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\\')
			fputs("\\\\", out);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], out);
		else
			fprintf(out, "\\x%02x", p[i]);
	}
}

/* ---- stats ------------------------------------------------------------- */

#define STATS_FIELD(f)	{ #f, offsetof(struct betrkv_stats_args, f),	\
			  sizeof(((struct betrkv_stats_args *)0)->f) }

/* Every counter of struct betrkv_stats_args, in its order. */
static const struct {
	const char *name;
	size_t offset;
	size_t size;		/* 4 or 8 */
} stats_fields[] = {
	STATS_FIELD(puts), STATS_FIELD(deletes), STATS_FIELD(batches),
	STATS_FIELD(gets), STATS_FIELD(scans), STATS_FIELD(syncs),
	STATS_FIELD(checkpoints), STATS_FIELD(seq), STATS_FIELD(durable_seq),
	STATS_FIELD(height), STATS_FIELD(nodes), STATS_FIELD(slots_used),
	STATS_FIELD(slots_total), STATS_FIELD(node_size),
	STATS_FIELD(cache_hits), STATS_FIELD(cache_misses),
	STATS_FIELD(cache_evictions), STATS_FIELD(cache_bytes),
	STATS_FIELD(cache_used), STATS_FIELD(cache_high_water),
	STATS_FIELD(node_reads), STATS_FIELD(node_bytes_read),
	STATS_FIELD(node_writes), STATS_FIELD(node_bytes_written),
	STATS_FIELD(journal_blocks_written),
	STATS_FIELD(journal_bytes_written), STATS_FIELD(journal_flushes),
	STATS_FIELD(sb_writes), STATS_FIELD(itable_bytes_written),
	STATS_FIELD(key_max), STATS_FIELD(value_max),
	STATS_FIELD(node_appends), STATS_FIELD(writebacks),
	STATS_FIELD(cp_forced), STATS_FIELD(bloom_skips),
};

#define NR_STATS_FIELDS	(sizeof(stats_fields) / sizeof(stats_fields[0]))

static unsigned long long stats_value(const struct betrkv_stats_args *st,
				      size_t i)
{
	const char *p = (const char *)st + stats_fields[i].offset;
	uint32_t v32;
	uint64_t v64;

	if (stats_fields[i].size == sizeof(v32)) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

/**
 * cli_print_stats() - every counter of a store, one "name: value" line each.
 * @out: where to print
 * @st: the counters, as betrkv_stats() returned them
 *
 * The names are those of the fields of struct betrkv_stats_args.
 */
void cli_print_stats(FILE *out, const struct betrkv_stats_args *st)
{
	size_t i;

	for (i = 0; i < NR_STATS_FIELDS; i++)
		fprintf(out, "%s: %llu\n", stats_fields[i].name,
			stats_value(st, i));
}

/**
 * cli_print_stats_json() - every counter of a store as one JSON object.
 * @out: where to print
 * @st: the counters, as betrkv_stats() returned them
 */
void cli_print_stats_json(FILE *out, const struct betrkv_stats_args *st)
{
	size_t i;

	for (i = 0; i < NR_STATS_FIELDS; i++)
		fprintf(out, "%s\"%s\": %llu", i ? ", " : "{",
			stats_fields[i].name, stats_value(st, i));
	fputs("}\n", out);
}

/* ---- dump-super -------------------------------------------------------- */

/* What dump-super learnt about the file it reads. */
struct sb_source {
	int fd;
	bool is_blockdev;
	uint64_t bytes;
	uint32_t logical_block_size;	/* 0 for a regular file */
};

static void cmd_error(FILE *err, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cmd_error(FILE *err, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(err, PROG ": %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

/* Open @path and find its size; 0 or a negative errno. */
static int sb_source_open(struct sb_source *src, const char *path)
{
	struct stat st;
	int ret;

	src->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (src->fd < 0)
		return -errno;
	if (fstat(src->fd, &st)) {
		ret = -errno;
		goto out_close;
	}
	src->is_blockdev = S_ISBLK(st.st_mode);
	src->logical_block_size = 0;
	if (S_ISREG(st.st_mode)) {
		src->bytes = st.st_size;
		return 0;
	}
	if (!src->is_blockdev) {
		ret = -EINVAL;
		goto out_close;
	}
	if (ioctl(src->fd, BLKGETSIZE64, &src->bytes) ||
	    ioctl(src->fd, BLKSSZGET, &src->logical_block_size)) {
		ret = -errno;
		goto out_close;
	}
	/* Bypass the page cache: the module writes around it. */
	fcntl(src->fd, F_SETFL, O_DIRECT);
	return 0;

out_close:
	close(src->fd);
	src->fd = -1;
	return ret;
}

/* Read up to @len bytes at @off; the count read or a negative errno. */
static ssize_t read_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static void print_sb(FILE *out, const struct betrkv_sb *sb)
{
	const struct betrkv_geometry *geo = &sb->geo;
	const struct betrkv_checkpoint *cp = &sb->cp;
	char uuid[CLI_UUID_LEN], when[64] = "";
	time_t t = (time_t)sb->format_time;
	struct tm tm;

	if (sb->format_time <= INT64_MAX && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), " (%Y-%m-%d %H:%M:%S UTC)", &tm);
	print_field(out, "format version:", "%u", (unsigned int)sb->format_version);
	print_field(out, "uuid:", "%s", cli_format_uuid(sb->uuid, uuid));
	print_field(out, "generation:", "%llu",
		    (unsigned long long)sb->generation);
	print_field(out, "format time:", "%llu%s",
		    (unsigned long long)sb->format_time, when);
	print_bytes_field(out, "device size:", geo->device_bytes);
	print_field(out, "logical block size:", "%u",
		    (unsigned int)geo->logical_block_size);
	print_bytes_field(out, "node size:", geo->node_size);
	print_region(out, "journal:", geo->journal_offset, geo->journal_size);
	print_region(out, "indirection table:", geo->itable_offset,
		     geo->itable_size);
	print_region(out, "nodes:", geo->nodes_offset, geo->nodes_size);
	print_field(out, "checkpoint seq:", "%llu",
		    (unsigned long long)cp->seq);
	print_field(out, "journal replay:", "from stream position %llu, link 0x%08x",
		    (unsigned long long)cp->journal_pos,
		    (unsigned int)cp->journal_prev);
	print_field(out, "checkpoint itable:", "slot %u, %llu bytes, crc32c 0x%08x",
		    (unsigned int)cp->itable_slot,
		    (unsigned long long)cp->itable_bytes,
		    (unsigned int)cp->itable_csum);
	print_field(out, "root node:", "%llu", (unsigned long long)cp->root);
	print_field(out, "next node id:", "%llu",
		    (unsigned long long)cp->next_node_id);
}

/* Read and decode slot @slot; print it; 0 or betrkv_sb_decode()'s error. */
static int dump_slot(const struct sb_source *src, unsigned int slot,
		     struct betrkv_sb *sb, FILE *out)
{
	const char *why = NULL;
	void *blk;
	ssize_t n;
	int ret;

	fprintf(out, "copy %u (block %u): ", slot, slot);
	memset(sb, 0, sizeof(*sb));
	ret = posix_memalign(&blk, BETRKV_BLOCK_SIZE, BETRKV_BLOCK_SIZE);
	if (ret) {
		fprintf(out, "unreadable: %s\n", strerror(ret));
		return -ret;
	}
	n = read_full(src->fd, blk, BETRKV_BLOCK_SIZE,
		      (off_t)slot * BETRKV_BLOCK_SIZE);
	if (n < 0) {
		ret = n;
		fprintf(out, "unreadable: %s\n", strerror(-ret));
	} else if (n < BETRKV_BLOCK_SIZE) {
		ret = -EIO;
		fprintf(out, "invalid: short read (%zd of %u bytes)\n", n,
			BETRKV_BLOCK_SIZE);
	} else {
		ret = betrkv_sb_decode(blk, slot, sb, &why);
		if (ret == -EOPNOTSUPP)
			fprintf(out, "intact, generation %llu, but format version %u is not this tool's\n",
				(unsigned long long)sb->generation,
				(unsigned int)sb->format_version);
		else if (ret)
			fprintf(out, "invalid: %s\n",
				why ? why : strerror(-ret));
		else
			fputs("valid\n", out);
	}
	free(blk);
	if (!ret)
		print_sb(out, sb);
	return ret;
}

/* Choose the crc32c implementation and print which one is used. */
static void dump_choose_crc(bool software_crc, FILE *out)
{
	int ret = 0;

	if (software_crc)
		betrkv_crc32c_use_software(true);
	else
		ret = betrkv_crc32c_use_kcapi();
	fprintf(out, "crc32c: %s", betrkv_crc32c_backend());
	if (software_crc)
		fputs(" (software, as asked)", out);
	else if (ret)
		fprintf(out, " (software: kernel crypto API unavailable: %s)",
			strerror(-ret));
	fputc('\n', out);
}

/* Print how the newest copy's geometry fits the file it was read from. */
static void dump_check_device(const struct sb_source *src,
			      const struct betrkv_sb *sb, FILE *out)
{
	uint32_t lbs = src->logical_block_size;
	const char *why = NULL;
	int ret;

	if (!src->is_blockdev)
		lbs = sb->geo.logical_block_size;
	ret = betrkv_sb_check_device(&sb->geo, src->bytes, lbs, &why);
	if (ret)
		fprintf(out, "device check: mismatch: %s\n",
			why ? why : strerror(-ret));
	else
		fputs("device check: geometry matches\n", out);
}

/* Print the verdict on the copies; CLI_EXIT_OK if the newest is usable. */
static int dump_verdict(const struct sb_source *src, const char *path,
			const int ret[BETRKV_SB_SLOTS],
			const struct betrkv_sb sb[BETRKV_SB_SLOTS],
			FILE *out, FILE *err)
{
	int pick = betrkv_sb_pick(ret, sb);

	if (pick < 0) {
		fputs("newest: none\n", out);
		cmd_error(err, "dump-super", "%s: %s", path,
			  ret[0] == -ENODATA && ret[1] == -ENODATA ?
			  "no betrkv superblock (not formatted)" :
			  "no valid superblock copy");
		return CLI_EXIT_FAIL;
	}
	fprintf(out, "newest: copy %d (generation %llu)\n", pick,
		(unsigned long long)sb[pick].generation);
	if (ret[pick]) {
		cmd_error(err, "dump-super", "%s: the newest copy has format version %u, not this tool's",
			  path, (unsigned int)sb[pick].format_version);
		return CLI_EXIT_FAIL;
	}
	if (!ret[0] && !ret[1] && memcmp(sb[0].uuid, sb[1].uuid, 16))
		fputs("warning: the two copies belong to different stores\n", out);
	dump_check_device(src, &sb[pick], out);
	return CLI_EXIT_OK;
}

/**
 * cli_dump_super() - print both superblock copies of a device or image.
 * @path: a block device or a regular file holding a store image
 * @software_crc: verify with the software crc32c instead of trying the
 *                kernel crypto API (AF_ALG, through libkcapi) first
 * @out: where the report goes
 * @err: where the error line goes
 *
 * Prints the crc32c backend that verifies the copies, each copy's fields or
 * the reason it is invalid, the newest copy (chosen as a bind chooses it)
 * and whether its geometry fits @path.
 *
 * Return: CLI_EXIT_OK if the newest copy is valid, else CLI_EXIT_FAIL
 * (also when no copy is valid).
 */
int cli_dump_super(const char *path, bool software_crc, FILE *out, FILE *err)
{
	struct betrkv_sb sb[BETRKV_SB_SLOTS];
	int ret[BETRKV_SB_SLOTS];
	struct sb_source src;
	unsigned int i;
	int status;

	status = sb_source_open(&src, path);
	if (status) {
		cmd_error(err, "dump-super", "%s: %s", path,
			  status == -EINVAL ? "not a block device or regular file" :
			  strerror(-status));
		return CLI_EXIT_FAIL;
	}
	fprintf(out, "%s: %s, %llu bytes\n", path,
		src.is_blockdev ? "block device" : "image file",
		(unsigned long long)src.bytes);
	dump_choose_crc(software_crc, out);
	for (i = 0; i < BETRKV_SB_SLOTS; i++)
		ret[i] = dump_slot(&src, i, &sb[i], out);
	status = dump_verdict(&src, path, ret, sb, out, err);
	close(src.fd);
	return status;
}

/* ---- the command line -------------------------------------------------- */

#define CLI_MAX_OPTS	6
#define CLI_MAX_POS	3

/* An option of a command; the first of every table is --help. */
struct cli_opt {
	const char *name;	/* long form, without "--" */
	char short_name;	/* 0: none */
	bool has_arg;
};

/* A parsed command line. */
struct cli_args {
	const char *pos[CLI_MAX_POS];
	int npos;
	const char *val[CLI_MAX_OPTS];	/* value, "" for a flag, NULL if absent */
};

struct cli_cmd;
typedef int (*cli_run_fn)(const struct cli_cmd *cmd,
			  const struct cli_args *args, FILE *in, FILE *out,
			  FILE *err);

struct cli_cmd {
	const char *name;
	const char *synopsis;
	const char *help;
	struct cli_opt opts[CLI_MAX_OPTS];
	int min_pos;
	int max_pos;
	cli_run_fn run;
};

#define OPT_HELP	{ "help", 'h', false }

static void usage_error(FILE *err, const struct cli_cmd *cmd,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void usage_error(FILE *err, const struct cli_cmd *cmd,
			const char *fmt, ...)
{
	const char *name = cmd ? cmd->name : NULL;
	va_list ap;

	fprintf(err, PROG ": %s%s", name ? name : "", name ? ": " : "");
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, "\nTry '" PROG " %s%s--help'.\n", name ? name : "",
		name ? " " : "");
}

static const struct cli_opt *find_long(const struct cli_cmd *cmd,
				       const char *name, size_t len)
{
	const struct cli_opt *o;

	for (o = cmd->opts; o < cmd->opts + CLI_MAX_OPTS && o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_cmd *cmd, char c)
{
	const struct cli_opt *o;

	for (o = cmd->opts; o < cmd->opts + CLI_MAX_OPTS && o->name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

/*
 * Parse one option at argv[*i] ("--name", "--name=value", "--name value",
 * "-x", "-x value"); 0 or CLI_EXIT_USAGE after saying why.
 */
static int parse_option(const struct cli_cmd *cmd, int argc, char **argv,
			int *i, struct cli_args *args, FILE *err)
{
	const char *arg = argv[*i], *value = NULL;
	const struct cli_opt *o;

	if (arg[1] == '-') {
		const char *eq = strchr(arg + 2, '=');
		size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

		o = find_long(cmd, arg + 2, len);
		if (eq)
			value = eq + 1;
	} else {
		o = arg[2] ? NULL : find_short(cmd, arg[1]);
	}
	if (!o) {
		usage_error(err, cmd, "unknown option '%s'", arg);
		return CLI_EXIT_USAGE;
	}
	if (!o->has_arg && value) {
		usage_error(err, cmd, "option '--%s' takes no value", o->name);
		return CLI_EXIT_USAGE;
	}
	if (o->has_arg && !value) {
		if (*i + 1 >= argc) {
			usage_error(err, cmd, "option '%s' needs a value", arg);
			return CLI_EXIT_USAGE;
		}
		value = argv[++*i];
	}
	args->val[o - cmd->opts] = value ? value : "";
	return 0;
}

/* Parse argv[1..] of a command into @args; 0 or CLI_EXIT_USAGE. */
static int parse_args(const struct cli_cmd *cmd, int argc, char **argv,
		      struct cli_args *args, FILE *err)
{
	bool options_done = false;
	int i, ret;

	memset(args, 0, sizeof(*args));
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!options_done && !strcmp(arg, "--")) {
			options_done = true;
			continue;
		}
		if (!options_done && arg[0] == '-' && arg[1]) {
			ret = parse_option(cmd, argc, argv, &i, args, err);
			if (ret)
				return ret;
			if (args->val[0])	/* --help: nothing else matters */
				return 0;
			continue;
		}
		if (args->npos == cmd->max_pos) {
			usage_error(err, cmd, "unexpected argument '%s'", arg);
			return CLI_EXIT_USAGE;
		}
		args->pos[args->npos++] = arg;
	}
	if (args->npos < cmd->min_pos) {
		usage_error(err, cmd, "missing %s", cmd->synopsis);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Parse the size given to option @opt; 0 or CLI_EXIT_USAGE. */
static int option_size(const struct cli_cmd *cmd, const struct cli_args *args,
		       int opt, uint64_t *bytes, FILE *err)
{
	const char *s = args->val[opt];
	int ret;

	*bytes = 0;
	if (!s)
		return 0;
	ret = cli_parse_size(s, bytes);
	if (ret == -ERANGE) {
		usage_error(err, cmd, "size '%s' of --%s is too large", s,
			    cmd->opts[opt].name);
		return CLI_EXIT_USAGE;
	}
	if (ret) {
		usage_error(err, cmd, "invalid size '%s' for --%s (examples: 4096, 256K, 64MiB)",
			    s, cmd->opts[opt].name);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Parse the count given to option @opt (decimal digits only). */
static int option_count(const struct cli_cmd *cmd, const struct cli_args *args,
			int opt, uint64_t *count, FILE *err)
{
	const char *s = args->val[opt];

	*count = UINT64_MAX;
	if (!s)
		return 0;
	if (!*s || s[strspn(s, "0123456789")] || cli_parse_size(s, count)) {
		usage_error(err, cmd, "invalid count '%s' for --%s", s,
			    cmd->opts[opt].name);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Parse the store reference of positional argument 0; 0 or CLI_EXIT_USAGE. */
static int store_arg(const struct cli_cmd *cmd, const struct cli_args *args,
		     uint32_t *index, FILE *err)
{
	if (cli_parse_store(args->pos[0], index)) {
		usage_error(err, cmd, "invalid store '%s' (expected N, "
			    BETRKV_DEVICE_PREFIX "N or /dev/"
			    BETRKV_DEVICE_PREFIX "N)", args->pos[0]);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Report a failed library call about a store; returns CLI_EXIT_FAIL. */
static int store_error(FILE *err, const struct cli_cmd *cmd, uint32_t index,
		       int ret)
{
	cmd_error(err, cmd->name, BETRKV_DEVICE_PREFIX "%u: %s", index,
		  ret == -ENOENT ? "no store bound at that index" :
		  betrkv_errstr(ret));
	return CLI_EXIT_FAIL;
}

enum { FORMAT_NODE_SIZE = 1, FORMAT_JOURNAL_SIZE, FORMAT_YES };

static int check_format_sizes(const struct cli_cmd *cmd, uint64_t node,
			      uint64_t journal, FILE *err)
{
	if (node && (node < BETRKV_NODE_SIZE_MIN ||
		     node > BETRKV_NODE_SIZE_MAX || (node & (node - 1)))) {
		usage_error(err, cmd, "--node-size must be a power of two from 256KiB to 4MiB");
		return CLI_EXIT_USAGE;
	}
	if (journal && (journal < BETRKV_JOURNAL_SIZE_MIN ||
			journal > BETRKV_JOURNAL_SIZE_MAX ||
			journal % BETRKV_BLOCK_SIZE)) {
		usage_error(err, cmd, "--journal-size must be a multiple of 4KiB from 2MiB to 1GiB");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int run_format(const struct cli_cmd *cmd, const struct cli_args *args,
		      FILE *in, FILE *out, FILE *err)
{
	const char *dev = args->pos[0];
	struct betrkv_format_opts opts = { 0 };
	uint64_t node, journal;
	char text[CLI_UUID_LEN];
	uint8_t uuid[16];
	int ret;

	ret = option_size(cmd, args, FORMAT_NODE_SIZE, &node, err) ?:
	      option_size(cmd, args, FORMAT_JOURNAL_SIZE, &journal, err) ?:
	      check_format_sizes(cmd, node, journal, err);
	if (ret)
		return ret;
	if (!args->val[FORMAT_YES]) {
		usage_error(err, cmd, "formatting destroys everything on %s; add --yes to do it",
			    dev);
		return CLI_EXIT_USAGE;
	}
	opts.node_size = node;
	opts.journal_size = journal;
	ret = betrkv_format(dev, &opts, uuid);
	if (ret) {
		cmd_error(err, cmd->name, "%s: %s", dev, betrkv_errstr(ret));
		return CLI_EXIT_FAIL;
	}
	fprintf(out, "%s\n", cli_format_uuid(uuid, text));
	return CLI_EXIT_OK;
}

enum { BIND_READ_ONLY = 1, BIND_CACHE, BIND_COMMIT_MS, BIND_SALVAGE };

/* --commit-ms and --salvage; 0 or CLI_EXIT_USAGE. */
static int bind_options(const struct cli_cmd *cmd, const struct cli_args *args,
			struct betrkv_bind_opts *opts, FILE *err)
{
	uint64_t ms;
	int ret;

	opts->read_only = args->val[BIND_READ_ONLY];
	opts->salvage = args->val[BIND_SALVAGE];
	if (opts->salvage && !opts->read_only) {
		usage_error(err, cmd, "--salvage needs --read-only");
		return CLI_EXIT_USAGE;
	}
	ret = option_count(cmd, args, BIND_COMMIT_MS, &ms, err);
	if (ret || !args->val[BIND_COMMIT_MS])
		return ret;
	if (ms > BETRKV_COMMIT_MS_MAX) {
		usage_error(err, cmd, "--commit-ms must be at most %u (0 = off)",
			    BETRKV_COMMIT_MS_MAX);
		return CLI_EXIT_USAGE;
	}
	opts->set_commit_ms = true;
	opts->commit_ms = ms;
	return 0;
}

static int run_bind(const struct cli_cmd *cmd, const struct cli_args *args,
		    FILE *in, FILE *out, FILE *err)
{
	const char *dev = args->pos[0];
	struct betrkv_bind_opts opts = { 0 };
	uint32_t index;
	int ret;

	ret = option_size(cmd, args, BIND_CACHE, &opts.cache_bytes, err) ?:
	      bind_options(cmd, args, &opts, err);
	if (ret)
		return ret;
	ret = betrkv_bind(dev, &opts, &index);
	if (ret) {
		cmd_error(err, cmd->name, "%s: %s", dev, betrkv_errstr(ret));
		return CLI_EXIT_FAIL;
	}
	fprintf(out, "/dev/" BETRKV_DEVICE_PREFIX "%u\n", index);
	return CLI_EXIT_OK;
}

/* Does this error of betrkv_unbind() leave the store bound (a refusal)? */
static bool unbind_refused(int ret)
{
	switch (-ret) {
	case ENOENT: case EBUSY: case EPERM: case EINVAL: case E2BIG:
	case EFAULT: case ENODEV: case ENOTTY: case EACCES:
		return true;
	}
	return false;
}

static int run_unbind(const struct cli_cmd *cmd, const struct cli_args *args,
		      FILE *in, FILE *out, FILE *err)
{
	uint32_t index;
	int ret;

	ret = store_arg(cmd, args, &index, err);
	if (ret)
		return ret;
	ret = betrkv_unbind(index);
	if (!ret)
		return CLI_EXIT_OK;
	if (!unbind_refused(ret)) {
		cmd_error(err, cmd->name, BETRKV_DEVICE_PREFIX "%u: unbound, but a write or the final checkpoint had failed (%s): acknowledged mutations that no sync covered may be lost",
			  index, betrkv_errstr(ret));
		return CLI_EXIT_FAIL;
	}
	return store_error(err, cmd, index, ret);
}

/* The indices of all bound stores, in a malloc'd array; count or -errno. */
static int list_indices(uint32_t **indices)
{
	uint32_t cap = BETRKV_MAX_STORES;
	int ret;

	for (;;) {
		*indices = calloc(cap, sizeof(**indices));
		if (!*indices)
			return -ENOMEM;
		ret = betrkv_list(*indices, cap);
		if (ret >= 0 && (uint32_t)ret <= cap)
			return ret;
		free(*indices);
		*indices = NULL;
		if (ret < 0)
			return ret;
		cap = ret;	/* more stores appeared: ask again */
	}
}

static int run_list(const struct cli_cmd *cmd, const struct cli_args *args,
		    FILE *in, FILE *out, FILE *err)
{
	struct betrkv_status_args st;
	int count, i, ret, status = CLI_EXIT_OK;
	char uuid[CLI_UUID_LEN];
	uint32_t *indices;

	count = list_indices(&indices);
	if (count < 0) {
		cmd_error(err, cmd->name, "%s", betrkv_errstr(count));
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < count; i++) {
		ret = betrkv_status(indices[i], &st);
		if (ret == -ENOENT)	/* unbound since the list was taken */
			continue;
		if (ret) {
			status = store_error(err, cmd, indices[i], ret);
			continue;
		}
		fprintf(out, BETRKV_DEVICE_PREFIX "%-4u %-9s %s %.*s\n",
			st.index, betrkv_state_name(st.state),
			cli_format_uuid(st.uuid, uuid), backing_name_len(&st),
			st.backing_name);
	}
	free(indices);
	return status;
}

enum { STATUS_JSON = 1 };

static int run_status(const struct cli_cmd *cmd, const struct cli_args *args,
		      FILE *in, FILE *out, FILE *err)
{
	struct betrkv_status_args st;
	uint32_t index;
	int ret;

	ret = store_arg(cmd, args, &index, err);
	if (ret)
		return ret;
	ret = betrkv_status(index, &st);
	if (ret)
		return store_error(err, cmd, index, ret);
	if (args->val[STATUS_JSON])
		cli_print_status_json(out, &st);
	else
		cli_print_status(out, &st);
	return CLI_EXIT_OK;
}

enum { DUMP_SOFTWARE_CRC = 1 };

static int run_dump_super(const struct cli_cmd *cmd,
			  const struct cli_args *args, FILE *in, FILE *out,
			  FILE *err)
{
	return cli_dump_super(args->pos[0], args->val[DUMP_SOFTWARE_CRC],
			      out, err);
}

/* ---- data commands ----------------------------------------------------- */

/* betrkv_errstr(), with the meanings some errnos have in the data calls. */
static const char *data_errstr(int ret)
{
	switch (ret) {
	case -EUCLEAN:
		return "stored data is corrupt (checksum mismatch)";
	case -EROFS:
		return "store is read-only";
	case -ENOSPC:
		return "device is full";
	case -ENOTTY:
		return "not a betrkv store device (ioctl not supported)";
	}
	return betrkv_errstr(ret);
}

/* Report a failed data call on a store; returns CLI_EXIT_FAIL. */
static int data_error(FILE *err, const struct cli_cmd *cmd, uint32_t index,
		      int ret)
{
	cmd_error(err, cmd->name, BETRKV_DEVICE_PREFIX "%u: %s", index,
		  data_errstr(ret));
	return CLI_EXIT_FAIL;
}

/* Open store @index; 0 or CLI_EXIT_FAIL after saying why. */
static int open_store(const struct cli_cmd *cmd, uint32_t index,
		      struct betrkv **s, FILE *err)
{
	int ret = betrkv_open(index, s);

	return ret ? store_error(err, cmd, index, ret) : 0;
}

/*
 * Decode the command line argument @arg, called @what in messages, into at
 * most @cap bytes at @buf; 0 or CLI_EXIT_USAGE.
 */
static int bytes_arg(const struct cli_cmd *cmd, const char *what,
		     const char *arg, uint8_t *buf, size_t cap, size_t *len,
		     FILE *err)
{
	int ret = cli_unescape(arg, strlen(arg), buf, cap, len);

	if (ret == -E2BIG) {
		usage_error(err, cmd, "%s is longer than %zu bytes", what, cap);
		return CLI_EXIT_USAGE;
	}
	if (ret) {
		usage_error(err, cmd, "invalid escape in %s '%s' (\\xNN is a byte, \\\\ a backslash)",
			    what, arg);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* The KEY argument: 1..BETRKV_KEY_MAX bytes; 0 or CLI_EXIT_USAGE. */
static int key_arg(const struct cli_cmd *cmd, const char *arg,
		   uint8_t key[BETRKV_KEY_MAX], size_t *len, FILE *err)
{
	int ret = bytes_arg(cmd, "KEY", arg, key, BETRKV_KEY_MAX, len, err);

	if (!ret && !*len) {
		usage_error(err, cmd, "KEY is empty");
		return CLI_EXIT_USAGE;
	}
	return ret;
}

/* How messages name the input @path. */
static const char *input_name(const char *path)
{
	return strcmp(path, "-") ? path : "standard input";
}

/*
 * Read a whole value, raw, from @path ("-": @in) into @buf, which has room
 * for BETRKV_VALUE_MAX + 1 bytes; 0 or CLI_EXIT_FAIL after saying why.
 */
static int read_value(const struct cli_cmd *cmd, const char *path, FILE *in,
		      uint8_t *buf, size_t *len, FILE *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : in;
	int status = CLI_EXIT_OK;

	if (!f) {
		cmd_error(err, cmd->name, "%s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	*len = fread(buf, 1, BETRKV_VALUE_MAX + 1, f);
	if (ferror(f)) {
		cmd_error(err, cmd->name, "%s: %s", input_name(path),
			  strerror(errno));
		status = CLI_EXIT_FAIL;
	} else if (*len > BETRKV_VALUE_MAX) {
		cmd_error(err, cmd->name, "%s: value is longer than %u bytes",
			  input_name(path), BETRKV_VALUE_MAX);
		status = CLI_EXIT_FAIL;
	}
	if (f != in)
		fclose(f);
	return status;
}

/*
 * The value of a key, in a malloc'd buffer: a first try with room for 4 KiB,
 * then again with the length the store said (which may have changed since).
 */
static int get_value(struct betrkv *s, const uint8_t *key, size_t key_len,
		     uint8_t **value, size_t *len)
{
	size_t cap = 4096;
	int ret;

	for (;;) {
		*value = malloc(cap);
		if (!*value)
			return -ENOMEM;
		ret = betrkv_get(s, key, key_len, *value, cap, len);
		if (ret != -ERANGE)
			break;
		free(*value);
		cap = *len;
	}
	if (ret)
		free(*value);
	return ret;
}

enum { GET_HEX = 1 };

static int run_get(const struct cli_cmd *cmd, const struct cli_args *args,
		   FILE *in, FILE *out, FILE *err)
{
	uint8_t key[BETRKV_KEY_MAX], *value;
	size_t key_len, len, i;
	struct betrkv *s;
	uint32_t index;
	int ret;

	ret = store_arg(cmd, args, &index, err) ?:
	      key_arg(cmd, args->pos[1], key, &key_len, err) ?:
	      open_store(cmd, index, &s, err);
	if (ret)
		return ret;
	ret = get_value(s, key, key_len, &value, &len);
	betrkv_close(s);
	if (ret == -ENOENT) {
		cmd_error(err, cmd->name, BETRKV_DEVICE_PREFIX "%u: key not found",
			  index);
		return CLI_EXIT_FAIL;
	}
	if (ret)
		return data_error(err, cmd, index, ret);
	if (args->val[GET_HEX]) {
		for (i = 0; i < len; i++)
			fprintf(out, "%02x", value[i]);
		fputc('\n', out);
	} else {
		fwrite(value, 1, len, out);
	}
	free(value);
	return CLI_EXIT_OK;
}

enum { PUT_VALUE_FILE = 1 };

/* The value of put, from VALUE or --value-file; 0 or an exit status. */
static int put_value(const struct cli_cmd *cmd, const struct cli_args *args,
		     FILE *in, uint8_t *value, size_t *len, FILE *err)
{
	const char *file = args->val[PUT_VALUE_FILE];

	if (file && args->npos > 2) {
		usage_error(err, cmd, "give VALUE or --value-file, not both");
		return CLI_EXIT_USAGE;
	}
	if (!file && args->npos < 3) {
		usage_error(err, cmd, "missing VALUE (or --value-file FILE)");
		return CLI_EXIT_USAGE;
	}
	if (!file && strcmp(args->pos[2], "-"))
		return bytes_arg(cmd, "VALUE", args->pos[2], value,
				 BETRKV_VALUE_MAX, len, err);
	return read_value(cmd, file ? file : "-", in, value, len, err);
}

static int run_put(const struct cli_cmd *cmd, const struct cli_args *args,
		   FILE *in, FILE *out, FILE *err)
{
	uint8_t key[BETRKV_KEY_MAX], *value;
	size_t key_len, len;
	struct betrkv *s;
	uint32_t index;
	int ret;

	value = malloc(BETRKV_VALUE_MAX + 1);
	if (!value) {
		cmd_error(err, cmd->name, "%s", strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	ret = store_arg(cmd, args, &index, err) ?:
	      key_arg(cmd, args->pos[1], key, &key_len, err) ?:
	      put_value(cmd, args, in, value, &len, err) ?:
	      open_store(cmd, index, &s, err);
	if (!ret) {
		ret = betrkv_put(s, key, key_len, value, len, NULL);
		betrkv_close(s);
		if (ret)
			ret = data_error(err, cmd, index, ret);
	}
	free(value);
	return ret;
}

static int run_del(const struct cli_cmd *cmd, const struct cli_args *args,
		   FILE *in, FILE *out, FILE *err)
{
	uint8_t key[BETRKV_KEY_MAX];
	struct betrkv *s;
	uint32_t index;
	size_t key_len;
	int ret;

	ret = store_arg(cmd, args, &index, err) ?:
	      key_arg(cmd, args->pos[1], key, &key_len, err) ?:
	      open_store(cmd, index, &s, err);
	if (ret)
		return ret;
	ret = betrkv_delete(s, key, key_len, NULL);
	betrkv_close(s);
	return ret ? data_error(err, cmd, index, ret) : CLI_EXIT_OK;
}

enum { SCAN_LIMIT = 1, SCAN_KEYS_ONLY };

/* Print the pairs of @it, at most @limit of them; 0 or a negative errno. */
static int scan_print(struct betrkv_iter *it, uint64_t limit, bool keys_only,
		      FILE *out)
{
	const void *key, *value;
	size_t key_len, value_len;
	uint64_t n;
	int ret;

	for (n = 0; n < limit; n++) {
		ret = betrkv_iter_next(it, &key, &key_len, &value, &value_len);
		if (ret <= 0)
			return ret;
		cli_print_escaped(out, key, key_len);
		if (!keys_only) {
			fputc('\t', out);
			cli_print_escaped(out, value, value_len);
		}
		fputc('\n', out);
	}
	return 0;
}

static int run_scan(const struct cli_cmd *cmd, const struct cli_args *args,
		    FILE *in, FILE *out, FILE *err)
{
	uint8_t start[BETRKV_KEY_MAX], end[BETRKV_KEY_MAX];
	size_t start_len = 0, end_len = 0;
	struct betrkv_iter *it;
	struct betrkv *s;
	uint32_t index;
	uint64_t limit;
	int ret;

	ret = store_arg(cmd, args, &index, err) ?:
	      option_count(cmd, args, SCAN_LIMIT, &limit, err);
	if (!ret && args->npos > 1)
		ret = bytes_arg(cmd, "START", args->pos[1], start,
				BETRKV_KEY_MAX, &start_len, err);
	if (!ret && args->npos > 2)
		ret = bytes_arg(cmd, "END", args->pos[2], end, BETRKV_KEY_MAX,
				&end_len, err);
	if (ret)
		return ret;
	if (!start_len) {	/* from the smallest key there can be */
		start[0] = 0;
		start_len = 1;
	}
	ret = open_store(cmd, index, &s, err);
	if (ret)
		return ret;
	ret = betrkv_iter_new(s, start, start_len, end_len ? end : NULL,
			      end_len, &it);
	if (ret == -EINVAL) {	/* the only invalid argument left */
		betrkv_close(s);
		usage_error(err, cmd, "END is below START");
		return CLI_EXIT_USAGE;
	}
	if (!ret) {
		ret = scan_print(it, limit, args->val[SCAN_KEYS_ONLY], out);
		betrkv_iter_free(it);
	}
	betrkv_close(s);
	return ret ? data_error(err, cmd, index, ret) : CLI_EXIT_OK;
}

static int run_sync(const struct cli_cmd *cmd, const struct cli_args *args,
		    FILE *in, FILE *out, FILE *err)
{
	struct betrkv *s;
	uint64_t durable;
	uint32_t index;
	int ret;

	ret = store_arg(cmd, args, &index, err) ?:
	      open_store(cmd, index, &s, err);
	if (ret)
		return ret;
	ret = betrkv_sync(s, &durable);
	betrkv_close(s);
	if (ret)
		return data_error(err, cmd, index, ret);
	fprintf(out, "%llu\n", (unsigned long long)durable);
	return CLI_EXIT_OK;
}

enum { STATS_JSON = 1 };

static int run_stats(const struct cli_cmd *cmd, const struct cli_args *args,
		     FILE *in, FILE *out, FILE *err)
{
	struct betrkv_stats_args st;
	struct betrkv *s;
	uint32_t index;
	int ret;

	ret = store_arg(cmd, args, &index, err) ?:
	      open_store(cmd, index, &s, err);
	if (ret)
		return ret;
	ret = betrkv_stats(s, &st);
	betrkv_close(s);
	if (ret)
		return data_error(err, cmd, index, ret);
	if (args->val[STATS_JSON])
		cli_print_stats_json(out, &st);
	else
		cli_print_stats(out, &st);
	return CLI_EXIT_OK;
}

/* Pairs per batch of load, and how often it reports progress. */
#define LOAD_BATCH_PAIRS	256
#define LOAD_PROGRESS_PAIRS	100000
#define LOAD_PROGRESS_NSEC	1000000000ll

/* A load in progress. */
struct loader {
	const struct cli_cmd *cmd;
	struct betrkv *s;
	uint32_t index;
	struct betrkv_batch *batch;
	uint8_t *arena;		/* the keys and values @batch points to */
	size_t used;		/* bytes of @arena in use */
	uint32_t pending;	/* pairs in @batch */
	uint64_t pairs;		/* pairs committed */
	uint64_t bytes;		/* bytes of their keys and values */
	FILE *err;
	bool tty;		/* @err is a terminal: show progress */
	bool shown;		/* a progress line is on it */
	uint64_t reported;	/* pairs at the last progress line */
	struct timespec last;	/* time of the last progress line */
};

static long long elapsed_nsec(const struct timespec *from,
			      const struct timespec *to)
{
	return (to->tv_sec - from->tv_sec) * 1000000000ll +
	       (to->tv_nsec - from->tv_nsec);
}

/* Overwrite the progress line, every 100,000 pairs or once a second. */
static void load_progress(struct loader *l)
{
	char human[CLI_BYTES_LEN];
	struct timespec now;

	if (!l->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (l->pairs / LOAD_PROGRESS_PAIRS == l->reported / LOAD_PROGRESS_PAIRS &&
	    elapsed_nsec(&l->last, &now) < LOAD_PROGRESS_NSEC)
		return;
	fprintf(l->err, "\rloaded %llu pairs (%s)", (unsigned long long)l->pairs,
		cli_format_bytes(l->bytes, human));
	fflush(l->err);
	l->reported = l->pairs;
	l->last = now;
	l->shown = true;
}

/* Commit the pending pairs; 0 or CLI_EXIT_FAIL after saying why. */
static int load_commit(struct loader *l)
{
	int ret;

	if (!l->pending)
		return 0;
	ret = betrkv_batch_commit(l->s, l->batch, NULL);
	if (ret)
		return data_error(l->err, l->cmd, l->index, ret);
	l->pairs += l->pending;
	l->bytes += l->used;
	l->pending = 0;
	l->used = 0;
	load_progress(l);
	return 0;
}

#define LOAD_WHY_LEN	80

/* Split and decode one line (without its newline); false if malformed. */
static bool load_parse(const char *line, size_t len, uint8_t *key,
		       size_t *key_len, uint8_t *value, size_t *value_len,
		       char why[LOAD_WHY_LEN])
{
	const char *tab = memchr(line, '\t', len);
	int ret;

	if (!tab) {
		snprintf(why, LOAD_WHY_LEN, "no TAB between key and value");
		return false;
	}
	ret = cli_unescape(line, tab - line, key, BETRKV_KEY_MAX, key_len);
	if (ret == -E2BIG) {
		snprintf(why, LOAD_WHY_LEN, "key longer than %u bytes",
			 BETRKV_KEY_MAX);
		return false;
	}
	if (!ret && !*key_len) {
		snprintf(why, LOAD_WHY_LEN, "empty key");
		return false;
	}
	if (!ret)
		ret = cli_unescape(tab + 1, line + len - tab - 1, value,
				   BETRKV_VALUE_MAX, value_len);
	if (ret == -E2BIG) {
		snprintf(why, LOAD_WHY_LEN, "value longer than %u bytes",
			 BETRKV_VALUE_MAX);
		return false;
	}
	if (ret) {
		snprintf(why, LOAD_WHY_LEN, "invalid escape (\\xNN is a byte, \\\\ a backslash)");
		return false;
	}
	return true;
}

/* Add one pair to the batch, committing the batch first if it is full. */
static int load_pair(struct loader *l, const uint8_t *key, size_t key_len,
		     const uint8_t *value, size_t value_len)
{
	uint8_t *k, *v;
	int ret;

	if (l->pending == LOAD_BATCH_PAIRS ||
	    l->used + key_len + value_len > BETRKV_BATCH_BYTES_MAX) {
		ret = load_commit(l);
		if (ret)
			return ret;
	}
	k = l->arena + l->used;
	v = k + key_len;
	memcpy(k, key, key_len);
	memcpy(v, value, value_len);
	ret = betrkv_batch_put(l->batch, k, key_len, v, value_len);
	if (ret)
		return data_error(l->err, l->cmd, l->index, ret);
	l->used += key_len + value_len;
	l->pending++;
	return 0;
}

/* Load every line of @f, called @name; an exit status. */
static int load_lines(struct loader *l, FILE *f, const char *name)
{
	uint8_t key[BETRKV_KEY_MAX], *value;
	size_t key_len, value_len, cap = 0;
	unsigned long long lineno = 0;
	char why[LOAD_WHY_LEN] = "";
	char *line = NULL;
	int status = 0;
	ssize_t len;

	value = malloc(BETRKV_VALUE_MAX);
	if (!value) {
		cmd_error(l->err, l->cmd->name, "%s", strerror(ENOMEM));
		return CLI_EXIT_FAIL;
	}
	while (!status && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			len--;
		if (!load_parse(line, len, key, &key_len, value, &value_len,
				why))
			break;
		status = load_pair(l, key, key_len, value, value_len);
	}
	if (!status && ferror(f)) {
		cmd_error(l->err, l->cmd->name, "%s: %s", name, strerror(errno));
		status = CLI_EXIT_FAIL;
	}
	/* The lines before a malformed one are loaded, none after it. */
	if (!status)
		status = load_commit(l);
	if (*why) {
		cmd_error(l->err, l->cmd->name, "%s: line %llu: %s", name,
			  lineno, why);
		status = CLI_EXIT_FAIL;
	}
	free(line);
	free(value);
	return status;
}

static int run_load(const struct cli_cmd *cmd, const struct cli_args *args,
		    FILE *in, FILE *out, FILE *err)
{
	const char *path = args->npos > 1 ? args->pos[1] : "-";
	struct loader l = { .cmd = cmd, .err = err };
	char human[CLI_BYTES_LEN];
	FILE *f;
	int ret;

	ret = store_arg(cmd, args, &l.index, err);
	if (ret)
		return ret;
	f = strcmp(path, "-") ? fopen(path, "r") : in;
	if (!f) {
		cmd_error(err, cmd->name, "%s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	ret = open_store(cmd, l.index, &l.s, err);
	if (ret)
		goto out_close;
	l.batch = betrkv_batch_new();
	l.arena = malloc(BETRKV_BATCH_BYTES_MAX);
	if (!l.batch || !l.arena) {
		cmd_error(err, cmd->name, "%s", strerror(ENOMEM));
		ret = CLI_EXIT_FAIL;
	} else {
		l.tty = isatty(fileno(err));
		clock_gettime(CLOCK_MONOTONIC, &l.last);
		ret = load_lines(&l, f, input_name(path));
		if (l.shown)
			fputc('\n', err);
		fprintf(out, "loaded %llu pairs (%s)\n",
			(unsigned long long)l.pairs,
			cli_format_bytes(l.bytes, human));
	}
	free(l.arena);
	betrkv_batch_free(l.batch);
	betrkv_close(l.s);
out_close:
	if (f != in)
		fclose(f);
	return ret;
}

static const struct cli_cmd commands[] = {
	{
		.name = "format", .synopsis = "DEVICE",
		.help = "Write a new, empty store onto DEVICE, destroying its contents, and\n"
			"print the store's UUID.  Refuses to run without --yes.\n\n"
			"  -y, --yes                really destroy what DEVICE holds\n"
			"  -n, --node-size SIZE     bytes per tree node, a power of two from\n"
			"                           256K to 4M (default 256K)\n"
			"  -j, --journal-size SIZE  bytes of journal, a multiple of 4K from\n"
			"                           2M to 1G (default 1/16 of the device)\n"
			"  -h, --help               show this help\n",
		.opts = { OPT_HELP, { "node-size", 'n', true },
			  { "journal-size", 'j', true }, { "yes", 'y', false } },
		.min_pos = 1, .max_pos = 1, .run = run_format,
	},
	{
		.name = "bind", .synopsis = "DEVICE",
		.help = "Open the store on DEVICE as /dev/betrkvN and print that path.\n\n"
			"  -r, --read-only     never write to DEVICE\n"
			"  -c, --cache SIZE    block cache budget (default 64M)\n"
			"      --commit-ms N   make acknowledged mutations durable within N\n"
			"                      milliseconds without a sync (default 5000,\n"
			"                      0 = only on sync; at most 600000)\n"
			"      --salvage       with --read-only: if the journal holds a\n"
			"                      corrupt block of synced data, open the state\n"
			"                      before it instead of refusing\n"
			"  -h, --help          show this help\n",
		.opts = { OPT_HELP, { "read-only", 'r', false },
			  { "cache", 'c', true }, { "commit-ms", 0, true },
			  { "salvage", 0, false } },
		.min_pos = 1, .max_pos = 1, .run = run_bind,
	},
	{
		.name = "unbind", .synopsis = "STORE",
		.help = "Checkpoint and close a bound store.  STORE is N, betrkvN or\n"
			"/dev/betrkvN.  A store whose writes had failed is unbound too,\n"
			"with exit status 1: acknowledged mutations that no sync covered\n"
			"may be lost.\n\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP },
		.min_pos = 1, .max_pos = 1, .run = run_unbind,
	},
	{
		.name = "list", .synopsis = "",
		.help = "Print one line per bound store: name, state, UUID, backing device.\n\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP },
		.min_pos = 0, .max_pos = 0, .run = run_list,
	},
	{
		.name = "status", .synopsis = "STORE",
		.help = "Describe a bound store.  STORE is N, betrkvN or /dev/betrkvN.\n\n"
			"      --json  print one JSON object instead of text\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP, { "json", 0, false } },
		.min_pos = 1, .max_pos = 1, .run = run_status,
	},
	{
		.name = "dump-super", .synopsis = "DEVICE-OR-IMAGE",
		.help = "Decode both superblock copies of a device or image file (no module\n"
			"needed) and name the newest.  Fails when the newest is not valid.\n\n"
			"      --software-crc  verify with the software crc32c instead of\n"
			"                      the kernel's (AF_ALG), which is tried first\n"
			"  -h, --help          show this help\n",
		.opts = { OPT_HELP, { "software-crc", 0, false } },
		.min_pos = 1, .max_pos = 1, .run = run_dump_super,
	},
	{
		.name = "get", .synopsis = "STORE KEY",
		.help = "Print the value of KEY as it is, without a newline.  Fails when KEY\n"
			"is absent.  KEY takes \\xNN escapes for any byte, \\\\ for a backslash.\n\n"
			"      --hex   print the value in lower-case hex and a newline\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP, { "hex", 0, false } },
		.min_pos = 2, .max_pos = 2, .run = run_get,
	},
	{
		.name = "put", .synopsis = "STORE KEY [VALUE]",
		.help = "Set KEY to VALUE.  KEY and VALUE take \\xNN escapes for any byte,\n"
			"\\\\ for a backslash.  A VALUE of - reads the value from standard input,\n"
			"as it is (no escapes); so does --value-file.\n\n"
			"  -f, --value-file FILE  read the value from FILE (- for standard input)\n"
			"  -h, --help             show this help\n",
		.opts = { OPT_HELP, { "value-file", 'f', true } },
		.min_pos = 2, .max_pos = 3, .run = run_put,
	},
	{
		.name = "del", .synopsis = "STORE KEY",
		.help = "Remove KEY; an absent KEY is no error.  KEY takes \\xNN escapes for\n"
			"any byte, \\\\ for a backslash.\n\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP },
		.min_pos = 2, .max_pos = 2, .run = run_del,
	},
	{
		.name = "scan", .synopsis = "STORE [START [END]]",
		.help = "Print the pairs with START <= key < END in key order, one a line:\n"
			"KEY, a TAB, VALUE.  Printable ASCII prints as it is, a backslash as\n"
			"\\\\, every other byte as \\xNN; START and END take the same escapes.\n"
			"Without START (or with an empty one) the scan starts at the first key,\n"
			"without END (or with an empty one) it runs to the last.\n\n"
			"  -n, --limit N    print at most N pairs\n"
			"  -k, --keys-only  print only the keys\n"
			"  -h, --help       show this help\n",
		.opts = { OPT_HELP, { "limit", 'n', true },
			  { "keys-only", 'k', false } },
		.min_pos = 1, .max_pos = 3, .run = run_scan,
	},
	{
		.name = "sync", .synopsis = "STORE",
		.help = "Make every completed mutation durable and print the durable\n"
			"sequence number: every mutation up to it survives a crash.\n\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP },
		.min_pos = 1, .max_pos = 1, .run = run_sync,
	},
	{
		.name = "stats", .synopsis = "STORE",
		.help = "Print the store's counters, one \"name: value\" line each.\n\n"
			"      --json  print one JSON object instead of text\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP, { "json", 0, false } },
		.min_pos = 1, .max_pos = 1, .run = run_stats,
	},
	{
		.name = "load", .synopsis = "STORE [FILE]",
		.help = "Put the pairs of FILE (default, or -: standard input), one a line as\n"
			"scan prints them: KEY, a TAB, VALUE, with the same escapes.  Pairs go\n"
			"in atomic batches of up to 256.  A malformed line stops the load with\n"
			"an error naming it: the lines before it are loaded, none after it.\n"
			"Prints \"loaded N pairs (SIZE)\" at the end, and progress on standard\n"
			"error when that is a terminal.  Run sync to make the pairs durable.\n\n"
			"  -h, --help  show this help\n",
		.opts = { OPT_HELP },
		.min_pos = 1, .max_pos = 2, .run = run_load,
	},
};

#define NR_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const struct cli_cmd *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void command_usage(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "Usage: " PROG " %s%s%s [OPTIONS]\n%s", cmd->name,
		*cmd->synopsis ? " " : "", cmd->synopsis, cmd->help);
}

static void main_usage(FILE *f)
{
	size_t i;

	fputs("Usage: " PROG " COMMAND [ARGS] [OPTIONS]\n"
	      "Administer and use betrkv key-value stores on block devices.\n\n"
	      "Commands:\n", f);
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %s%s%s\n", commands[i].name,
			*commands[i].synopsis ? " " : "", commands[i].synopsis);
	fputs("\nSIZE takes the suffixes K, M, G, T (or KiB, MiB, ...): powers of 1024.\n"
	      "STORE is N, betrkvN or /dev/betrkvN.  KEY, VALUE, START and END take\n"
	      "\\xNN escapes for any byte and \\\\ for a backslash.\n"
	      "'" PROG " COMMAND --help' describes a command.  Exit status: 0 success,\n"
	      "1 failure, 2 wrong usage.\n", f);
}

/* "help [COMMAND]", "--help", "-h", "--version"; -1 if @argv is none of them. */
static int global_option(int argc, char **argv, FILE *out, FILE *err)
{
	const struct cli_cmd *cmd;
	const char *arg = argv[1];

	if (!strcmp(arg, "--version")) {
		fputs(PROG " " BETRKV_VERSION "\n", out);
		return CLI_EXIT_OK;
	}
	if (strcmp(arg, "help") && strcmp(arg, "--help") && strcmp(arg, "-h"))
		return -1;
	if (argc < 3) {
		main_usage(out);
		return CLI_EXIT_OK;
	}
	cmd = find_command(argv[2]);
	if (!cmd || argc > 3) {
		usage_error(err, NULL, "no help for '%s'", argv[argc > 3 ? 3 : 2]);
		return CLI_EXIT_USAGE;
	}
	command_usage(out, cmd);
	return CLI_EXIT_OK;
}

/**
 * betrkvctl_main() - run one betrkvctl command line.
 * @argc: argument count, argv[0] included
 * @argv: the arguments; argv[1] is the command
 * @in: the standard input to use (put and load read it)
 * @out: the standard output to use
 * @err: the standard error to use
 *
 * Return: the exit status: CLI_EXIT_OK, CLI_EXIT_FAIL or CLI_EXIT_USAGE.
 */
int betrkvctl_main(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
	const struct cli_cmd *cmd;
	struct cli_args args;
	int ret;

	if (argc < 2) {
		main_usage(err);
		return CLI_EXIT_USAGE;
	}
	ret = global_option(argc, argv, out, err);
	if (ret >= 0)
		return ret;
	cmd = find_command(argv[1]);
	if (!cmd) {
		usage_error(err, NULL, "unknown command '%s'", argv[1]);
		return CLI_EXIT_USAGE;
	}
	ret = parse_args(cmd, argc - 1, argv + 1, &args, err);
	if (ret)
		return ret;
	if (args.val[0]) {
		command_usage(out, cmd);
		return CLI_EXIT_OK;
	}
	return cmd->run(cmd, &args, in, out, err);
}
