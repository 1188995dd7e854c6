// SPDX-License-Identifier: GPL-2.0
/*
 * betrkvctl on the host: its parsers and formatters, whole command lines
 * through betrkvctl_main() (exit status, standard input, output and
 * error), and dump-super on store images built here with the engine core.
 *
 * Commands that need the module run against a fake control device and a
 * fake store device: this program's ioctl() answers BETRKV_IOC_* for the
 * library linked into it (BETRKV_CONTROL_PATH points the library at
 * /dev/null, BETRKV_DEVICE_DIR at a directory where betrkv12 leads to
 * /dev/null) and passes every other request to the kernel.  The fake store
 * (fake_store.h) is a sorted array that answers a scan with at most three
 * pairs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cli.h"
#include "fake_store.h"
#include "superblock.h"

/* ---- running a command line ---- */

struct run {
	int status;
	char *out;
	size_t out_len;
	char *err;
};

/*
 * betrkvctl_main() with @len bytes at @input as its standard input, on the
 * NULL-terminated arguments after "betrkvctl" in @ap.
 */
static void run_cli_v(struct run *r, const char *input, size_t len,
		      const char *arg, va_list ap)
{
	char *argv[16] = { "betrkvctl" };
	FILE *in, *out, *err;
	size_t err_len;
	int argc = 1;

	for (; arg && argc < 15; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	argv[argc] = NULL;
	in = len ? fmemopen((void *)input, len, "r") : fopen("/dev/null", "r");
	out = open_memstream(&r->out, &r->out_len);
	err = open_memstream(&r->err, &err_len);
	if (!in || !out || !err)
		abort();
	r->status = betrkvctl_main(argc, argv, in, out, err);
	fclose(in);
	fclose(out);
	fclose(err);
}

/* betrkvctl_main() on the NULL-terminated arguments after "betrkvctl". */
static void run_cli(struct run *r, const char *arg, ...)
{
	va_list ap;

	va_start(ap, arg);
	run_cli_v(r, NULL, 0, arg, ap);
	va_end(ap);
}

/* run_cli() with the NUL-terminated @input as standard input. */
static void run_cli_in(struct run *r, const char *input, const char *arg, ...)
{
	va_list ap;

	va_start(ap, arg);
	run_cli_v(r, input, strlen(input), arg, ap);
	va_end(ap);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static bool has(const char *text, const char *part)
{
	return strstr(text, part) != NULL;
}

static bool starts_with(const char *text, const char *prefix)
{
	return !strncmp(text, prefix, strlen(prefix));
}

/* ---- the fake control device ---- */

static bool fake_on;
static int fake_ret;		/* errno to fail with, 0 to succeed */
static int fake_status_ret;	/* errno for BETRKV_IOC_STATUS only */
static struct betrkv_format_args fake_format_seen;
static struct betrkv_bind_args fake_bind_seen;

static const uint8_t fake_uuid[16] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x4d, 0xef,
	0x8e, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

/* Bound: 0 (live, on vdb) and 12 (read-only, on vdc). */
static int fake_list(struct betrkv_list_args *a)
{
	uint32_t *idx = (uint32_t *)(uintptr_t)a->indices;

	if (a->capacity > 0)
		idx[0] = 0;
	if (a->capacity > 1)
		idx[1] = 12;
	a->count = 2;
	return 0;
}

static int fake_status(struct betrkv_status_args *a)
{
	if (fake_status_ret)
		return -fake_status_ret;
	if (a->index != 0 && a->index != 12)
		return -ENOENT;
	a->state = a->index ? BETRKV_STATE_READONLY : BETRKV_STATE_LIVE;
	memcpy(a->uuid, fake_uuid, sizeof(a->uuid));
	a->uuid[15] = a->index;
	a->generation = 42;
	a->format_version = 1;
	a->logical_block_size = 512;
	a->device_bytes = 1ull << 30;
	a->node_size = 256 << 10;
	a->sb_slot = 1;
	a->journal_offset = 8192;
	a->journal_size = 16 << 20;
	a->itable_offset = 16785408;
	a->itable_size = 258048;
	a->nodes_offset = 17301504;
	a->nodes_size = 4030ull << 18;
	a->cache_bytes = 64 << 20;
	a->commit_ms = a->index ? 0 : BETRKV_COMMIT_MS_DEFAULT;
	a->salvaged = a->index ? 1 : 0;
	/* 259:300 in the kernel's new encoding */
	a->backing_dev = (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12);
	strcpy(a->backing_name, a->index ? "vdc" : "vdb");
	return 0;
}

/* ---- the fake store device ---- */

static int fake_gets, fake_puts, fake_scans;	/* calls seen */
static uint32_t fake_batches[512];	/* ops of each batch seen */
static int fake_nbatches;
static int fake_scans_ok = -1;		/* scans before they fail with EIO */

static int fake_kv(unsigned long request, struct betrkv_kv_args *a)
{
	const void *key = (const void *)(uintptr_t)a->key;
	struct fake_pair *p;

	if (a->size != sizeof(*a) || !a->key_len || a->key_len > BETRKV_KEY_MAX)
		return -EINVAL;
	switch (request) {
	case BETRKV_IOC_GET:
		fake_gets++;
		p = fake_lookup(key, a->key_len);
		if (!p)
			return -ENOENT;
		if (p->value_len > a->value_len) {
			a->value_len = p->value_len;
			return -ERANGE;
		}
		if (p->value_len)
			memcpy((void *)(uintptr_t)a->value, p->value, p->value_len);
		a->value_len = p->value_len;
		return 0;
	case BETRKV_IOC_PUT:
		fake_puts++;
		fake_set(key, a->key_len, (const void *)(uintptr_t)a->value,
			 a->value_len);
		break;
	default:
		fake_unset(key, a->key_len);
	}
	a->seq = ++fake_seq;
	return 0;
}

static int fake_batch(struct betrkv_batch_args *a)
{
	const struct betrkv_batch_op *ops = (const void *)(uintptr_t)a->ops;
	uint64_t bytes = 0;
	uint32_t i;

	if (a->size != sizeof(*a) || !a->nops || a->nops > BETRKV_BATCH_OPS_MAX)
		return -EINVAL;
	for (i = 0; i < a->nops; i++)
		bytes += ops[i].key_len + ops[i].value_len;
	if (bytes > BETRKV_BATCH_BYTES_MAX)
		return -E2BIG;
	fake_batches[fake_nbatches++ % 512] = a->nops;
	for (i = 0; i < a->nops; i++)
		fake_apply_op(&ops[i]);
	a->seq = ++fake_seq;
	return 0;
}

/* At most three pairs a page; a full page says "more". */
static int fake_scan(struct betrkv_scan_args *a)
{
	const void *end = (const void *)(uintptr_t)a->end;
	bool bounded = !(a->flags & BETRKV_SCAN_TO_END);
	uint8_t *buf = (uint8_t *)(uintptr_t)a->buf;
	size_t i, pos = 0;

	if (a->size != sizeof(*a) || !a->start_len)
		return -EINVAL;
	if (!fake_scans_ok--)
		return -EIO;
	fake_scans++;
	i = fake_find((const void *)(uintptr_t)a->start, a->start_len,
		      a->flags & BETRKV_SCAN_AFTER);
	for (; i < fake_n && a->count < 3; i++) {
		if (bounded && key_order(fake_map[i].key, fake_map[i].key_len,
					 end, a->end_len) >= 0)
			break;
		pos += fake_put_rec(buf + pos, i);
		a->count++;
	}
	a->more = a->count == 3;
	return 0;
}

/* Counters: field i (in struct order, size and flags not counted) is 1000 + i. */
static int fake_stats(struct betrkv_stats_args *a)
{
	__u64 *u64 = &a->puts;
	uint64_t v = 1000;

	if (a->size != sizeof(*a))
		return -EINVAL;
	for (; u64 <= &a->durable_seq; u64++)
		*u64 = v++;
	a->height = v++;
	for (u64 = &a->nodes; u64 <= &a->itable_bytes_written; u64++)
		*u64 = v++;
	a->key_max = BETRKV_KEY_MAX;
	a->value_max = BETRKV_VALUE_MAX;
	for (u64 = &a->node_appends; u64 <= &a->bloom_skips; u64++)
		*u64 = v++;
	return 0;
}

static int fake_ioctl(unsigned long request, void *arg)
{
	if (fake_ret)
		return -fake_ret;
	switch (request) {
	case BETRKV_IOC_FORMAT:
		fake_format_seen = *(struct betrkv_format_args *)arg;
		memcpy(((struct betrkv_format_args *)arg)->uuid, fake_uuid, 16);
		return 0;
	case BETRKV_IOC_BIND:
		fake_bind_seen = *(struct betrkv_bind_args *)arg;
		((struct betrkv_bind_args *)arg)->index = 12;
		return 0;
	case BETRKV_IOC_UNBIND:
		return ((struct betrkv_unbind_args *)arg)->index == 12 ? 0 : -ENOENT;
	case BETRKV_IOC_LIST:
		return fake_list(arg);
	case BETRKV_IOC_STATUS:
		return fake_status(arg);
	case BETRKV_IOC_GET:
	case BETRKV_IOC_PUT:
	case BETRKV_IOC_DELETE:
		return fake_kv(request, arg);
	case BETRKV_IOC_BATCH:
		return fake_batch(arg);
	case BETRKV_IOC_SCAN:
		return fake_scan(arg);
	case BETRKV_IOC_SYNC:
		((struct betrkv_sync_args *)arg)->durable_seq = fake_seq;
		return 0;
	case BETRKV_IOC_STATS:
		return fake_stats(arg);
	}
	return -ENOTTY;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!fake_on || _IOC_TYPE(request) != BETRKV_IOCTL_TYPE)
		return syscall(SYS_ioctl, fd, request, arg);
	ret = fake_ioctl(request, arg);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

static void use_fake(void)
{
	setenv("BETRKV_CONTROL_PATH", "/dev/null", 1);
	fake_on = true;
}

/* ---- sizes ---- */

TEST(size_plain_and_suffixes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 }, { "1", 1 }, { "4096", 4096 }, { "007", 7 },
		{ "1B", 1 }, { "12b", 12 },
		{ "1K", 1024 }, { "1k", 1024 }, { "1KiB", 1024 }, { "1kib", 1024 },
		{ "256K", 256 << 10 }, { "64M", 64 << 20 }, { "64MiB", 64 << 20 },
		{ "1G", 1ull << 30 }, { "3GiB", 3ull << 30 }, { "2T", 2ull << 40 },
		{ "1TiB", 1ull << 40 }, { "5P", 5ull << 50 }, { "15E", 15ull << 60 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 },
	};
	uint64_t bytes;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bytes = 12345;
		EXPECT_EQ(0, cli_parse_size(good[i].text, &bytes))
			TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(good[i].bytes, bytes) TH_LOG("'%s'", good[i].text);
	}
}

TEST(size_rejects_garbage)
{
	static const char *const bad[] = {
		"", "K", "KiB", "abc", "-1", "+1", " 1", "1 ", "1 K", "1.5G",
		"0x10", "1e3", "1KB", "1MB", "1Ki", "1KiBB", "1iB", "1Q", "1KK",
		"1k\n", "١",
	};
	uint64_t bytes = 12345;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cli_parse_size(bad[i], &bytes))
			TH_LOG("'%s'", bad[i] ? bad[i] : "?");
	EXPECT_EQ(-EINVAL, cli_parse_size(NULL, &bytes));
	EXPECT_EQ(12345, bytes);
}

TEST(size_rejects_overflow)
{
	static const char *const big[] = {
		"18446744073709551616", "99999999999999999999999",
		"16E", "16384P", "16777216T", "17179869184G", "17592186044416M",
		"18014398509481984K", "18446744073709551615K",
	};
	uint64_t bytes = 12345;
	size_t i;

	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		EXPECT_EQ(-ERANGE, cli_parse_size(big[i], &bytes))
			TH_LOG("'%s'", big[i] ? big[i] : "?");
	/* Malformed beats too large. */
	EXPECT_EQ(-EINVAL, cli_parse_size("99999999999999999999999x", &bytes));
	EXPECT_EQ(12345, bytes);
}

/* ---- store references ---- */

TEST(store_references)
{
	static const struct {
		const char *text;
		uint32_t index;
	} good[] = {
		{ "0", 0 }, { "3", 3 }, { "63", 63 }, { "betrkv0", 0 },
		{ "betrkv3", 3 }, { "/dev/betrkv3", 3 }, { "/dev/betrkv12", 12 },
		{ "4294967295", UINT32_MAX }, { "betrkv4294967295", UINT32_MAX },
	};
	uint32_t index;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		index = 12345;
		EXPECT_EQ(0, cli_parse_store(good[i].text, &index))
			TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(good[i].index, index) TH_LOG("'%s'", good[i].text);
	}
}

TEST(store_references_rejected)
{
	static const char *const bad[] = {
		"", "betrkv", "/dev/betrkv", "-1", "+1", "3x", "03", "00",
		"betrkv03", "betrkv-3", "/dev/betrkv-control", "dev/betrkv3",
		"/dev/sda3", "/dev//betrkv3", "betrkv 3", " 3", "3 ", "Betrkv3",
		"betrkv3/", "/dev/betrkv3p1", "0x3",
	};
	uint32_t index = 12345;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cli_parse_store(bad[i], &index))
			TH_LOG("'%s'", bad[i] ? bad[i] : "?");
	EXPECT_EQ(-EINVAL, cli_parse_store(NULL, &index));
	EXPECT_EQ(-ERANGE, cli_parse_store("4294967296", &index));
	EXPECT_EQ(-ERANGE, cli_parse_store("betrkv99999999999999999999", &index));
	EXPECT_EQ(12345, index);
}

/* ---- text formats ---- */

TEST(uuid_text)
{
	static const uint8_t zero[16];
	static const uint8_t ones[16] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	char buf[CLI_UUID_LEN];

	EXPECT_STREQ("01234567-89ab-4def-8edc-ba9876543210",
		     cli_format_uuid(fake_uuid, buf));
	EXPECT_STREQ("00000000-0000-0000-0000-000000000000",
		     cli_format_uuid(zero, buf));
	EXPECT_STREQ("ffffffff-ffff-ffff-ffff-ffffffffffff",
		     cli_format_uuid(ones, buf));
	EXPECT_EQ(CLI_UUID_LEN - 1, strlen(buf));
}

TEST(bytes_text)
{
	char buf[CLI_BYTES_LEN];

	EXPECT_STREQ("0 B", cli_format_bytes(0, buf));
	EXPECT_STREQ("1023 B", cli_format_bytes(1023, buf));
	EXPECT_STREQ("1 KiB", cli_format_bytes(1024, buf));
	EXPECT_STREQ("1.5 KiB", cli_format_bytes(1536, buf));
	EXPECT_STREQ("256 KiB", cli_format_bytes(256 << 10, buf));
	EXPECT_STREQ("64 MiB", cli_format_bytes(64 << 20, buf));
	EXPECT_STREQ("1.0 GiB", cli_format_bytes((1ull << 30) + 1, buf));
	EXPECT_STREQ("3 TiB", cli_format_bytes(3ull << 40, buf));
	EXPECT_STREQ("16.0 EiB", cli_format_bytes(UINT64_MAX, buf));
}

static char *status_text(const struct betrkv_status_args *st, bool json)
{
	size_t len;
	char *text;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	if (json)
		cli_print_status_json(f, st);
	else
		cli_print_status(f, st);
	fclose(f);
	return text;
}

TEST(status_human_text)
{
	struct betrkv_status_args st = { .index = 12 };
	char *text;

	ASSERT_EQ(0, fake_status(&st));
	text = status_text(&st, false);
	EXPECT_STREQ("/dev/betrkv12:\n"
		     "  state:               read-only\n"
		     "  uuid:                01234567-89ab-4def-8edc-ba987654320c\n"
		     "  backing device:      vdc (259:300)\n"
		     "  device size:         1073741824 (1 GiB)\n"
		     "  logical block size:  512\n"
		     "  format version:      1\n"
		     "  generation:          42\n"
		     "  superblock slot:     1\n"
		     "  node size:           262144 (256 KiB)\n"
		     "  journal:             offset 8192, size 16777216 (16 MiB)\n"
		     "  indirection table:   offset 16785408, size 258048 (252 KiB)\n"
		     "  nodes:               offset 17301504, size 1056440320 (1007.5 MiB)\n"
		     "  cache:               67108864 (64 MiB)\n"
		     "  commit interval:     off\n"
		     "  salvaged:            yes (the state before a corrupt journal block)\n",
		     text);
	free(text);
}

TEST(status_json_text)
{
	struct betrkv_status_args st = { .index = 0 };
	char *text;

	ASSERT_EQ(0, fake_status(&st));
	text = status_text(&st, true);
	EXPECT_STREQ("{\"index\": 0, \"device\": \"/dev/betrkv0\", \"state\": \"live\", "
		     "\"uuid\": \"01234567-89ab-4def-8edc-ba9876543200\", "
		     "\"backing_name\": \"vdb\", \"backing_major\": 259, "
		     "\"backing_minor\": 300, \"device_bytes\": 1073741824, "
		     "\"logical_block_size\": 512, \"format_version\": 1, "
		     "\"generation\": 42, \"sb_slot\": 1, \"node_size\": 262144, "
		     "\"journal_offset\": 8192, \"journal_size\": 16777216, "
		     "\"itable_offset\": 16785408, \"itable_size\": 258048, "
		     "\"nodes_offset\": 17301504, \"nodes_size\": 1056440320, "
		     "\"cache_bytes\": 67108864, \"commit_ms\": 5000, "
		     "\"salvaged\": false}\n", text);
	free(text);
	/* A hostile name is escaped and never read past its 32 bytes. */
	memset(st.backing_name, '"', sizeof(st.backing_name));
	st.backing_name[0] = '\n';
	text = status_text(&st, true);
	EXPECT_NE(NULL, strstr(text, "\"backing_name\": \"\\u000a\\\"\\\"\\\""));
	EXPECT_NE(NULL, strstr(text, "\\\"\", \"backing_major\""));
	free(text);
	st.state = 99;
	text = status_text(&st, false);
	EXPECT_NE(NULL, strstr(text, "  state:               unknown\n"));
	free(text);
}

/* ---- command lines ---- */

TEST(no_command_is_usage_error)
{
	struct run r;

	run_cli(&r, NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_TRUE(starts_with(r.err, "Usage: betrkvctl COMMAND"));
	run_free(&r);
}

TEST(global_help_and_version)
{
	static const char *const forms[] = { "--help", "-h", "help" };
	struct run r;
	size_t i;

	for (i = 0; i < 3; i++) {
		run_cli(&r, forms[i], NULL);
		EXPECT_EQ(CLI_EXIT_OK, r.status);
		EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl COMMAND"));
		EXPECT_NE(NULL, strstr(r.out, "\n  dump-super DEVICE-OR-IMAGE\n"));
		EXPECT_NE(NULL, strstr(r.out, "\n  list\n"));
		EXPECT_NE(NULL, strstr(r.out, "\n  scan STORE [START [END]]\n"));
		EXPECT_NE(NULL, strstr(r.out, "\n  load STORE [FILE]\n"));
		EXPECT_STREQ("", r.err);
		run_free(&r);
	}
	run_cli(&r, "--version", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "betrkvctl "));
	run_free(&r);
}

TEST(command_help)
{
	struct run r;

	run_cli(&r, "help", "bind", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl bind DEVICE [OPTIONS]\n"));
	EXPECT_NE(NULL, strstr(r.out, "--read-only"));
	run_free(&r);
	run_cli(&r, "format", "--help", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl format DEVICE"));
	EXPECT_NE(NULL, strstr(r.out, "--yes"));
	run_free(&r);
	/* --help wins over everything else, before or after. */
	run_cli(&r, "status", "-h", "not-a-store", "extra", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl status STORE"));
	run_free(&r);
	run_cli(&r, "list", "--help", NULL);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl list [OPTIONS]\n"));
	run_free(&r);
	run_cli(&r, "help", "frob", NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("betrkvctl: no help for 'frob'\nTry 'betrkvctl --help'.\n", r.err);
	run_free(&r);
}

TEST(usage_errors)
{
	static const struct {
		const char *args[6];
		const char *err;
	} cases[] = {
		{ { "frob" }, "betrkvctl: unknown command 'frob'\nTry 'betrkvctl --help'.\n" },
		{ { "--frob" }, "betrkvctl: unknown command '--frob'\nTry 'betrkvctl --help'.\n" },
		{ { "format" }, "betrkvctl: format: missing DEVICE\nTry 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb" },
		  "betrkvctl: format: formatting destroys everything on /dev/vdb; add --yes to do it\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "/dev/vdc", "--yes" },
		  "betrkvctl: format: unexpected argument '/dev/vdc'\nTry 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--node-size", "3000" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "-n", "8M" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--node-size=8G" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--journal-size", "100K" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 2MiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "-j", "1000000" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 2MiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--journal-size", "2G" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 2MiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "bind", "/dev/vdb", "--cache" },
		  "betrkvctl: bind: option '--cache' needs a value\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--cache", "lots" },
		  "betrkvctl: bind: invalid size 'lots' for --cache (examples: 4096, 256K, 64MiB)\n"
		  "Try 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "-c", "20E" },
		  "betrkvctl: bind: size '20E' of --cache is too large\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--read-only=yes" },
		  "betrkvctl: bind: option '--read-only' takes no value\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--frob" },
		  "betrkvctl: bind: unknown option '--frob'\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "-ry" },
		  "betrkvctl: bind: unknown option '-ry'\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--read" },
		  "betrkvctl: bind: unknown option '--read'\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--salvage" },
		  "betrkvctl: bind: --salvage needs --read-only\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--commit-ms", "600001" },
		  "betrkvctl: bind: --commit-ms must be at most 600000 (0 = off)\n"
		  "Try 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--commit-ms", "5s" },
		  "betrkvctl: bind: invalid count '5s' for --commit-ms\nTry 'betrkvctl bind --help'.\n" },
		{ { "unbind" }, "betrkvctl: unbind: missing STORE\nTry 'betrkvctl unbind --help'.\n" },
		{ { "unbind", "sda" },
		  "betrkvctl: unbind: invalid store 'sda' (expected N, betrkvN or /dev/betrkvN)\n"
		  "Try 'betrkvctl unbind --help'.\n" },
		{ { "status", "/dev/betrkv03" },
		  "betrkvctl: status: invalid store '/dev/betrkv03' (expected N, betrkvN or /dev/betrkvN)\n"
		  "Try 'betrkvctl status --help'.\n" },
		{ { "status", "1", "2" },
		  "betrkvctl: status: unexpected argument '2'\nTry 'betrkvctl status --help'.\n" },
		{ { "list", "all" },
		  "betrkvctl: list: unexpected argument 'all'\nTry 'betrkvctl list --help'.\n" },
		{ { "dump-super" },
		  "betrkvctl: dump-super: missing DEVICE-OR-IMAGE\nTry 'betrkvctl dump-super --help'.\n" },
		{ { "dump-super", "x", "--software" },
		  "betrkvctl: dump-super: unknown option '--software'\nTry 'betrkvctl dump-super --help'.\n" },
		{ { "get", "12" }, "betrkvctl: get: missing STORE KEY\nTry 'betrkvctl get --help'.\n" },
		{ { "get", "x", "k" },
		  "betrkvctl: get: invalid store 'x' (expected N, betrkvN or /dev/betrkvN)\n"
		  "Try 'betrkvctl get --help'.\n" },
		{ { "get", "12", "" }, "betrkvctl: get: KEY is empty\nTry 'betrkvctl get --help'.\n" },
		{ { "get", "12", "a\\x4" },
		  "betrkvctl: get: invalid escape in KEY 'a\\x4' (\\xNN is a byte, \\\\ a backslash)\n"
		  "Try 'betrkvctl get --help'.\n" },
		{ { "get", "12", "k", "--json" },
		  "betrkvctl: get: unknown option '--json'\nTry 'betrkvctl get --help'.\n" },
		{ { "del", "12", "a\\" },
		  "betrkvctl: del: invalid escape in KEY 'a\\' (\\xNN is a byte, \\\\ a backslash)\n"
		  "Try 'betrkvctl del --help'.\n" },
		{ { "del", "12", "k", "v" },
		  "betrkvctl: del: unexpected argument 'v'\nTry 'betrkvctl del --help'.\n" },
		{ { "put", "12", "k" },
		  "betrkvctl: put: missing VALUE (or --value-file FILE)\nTry 'betrkvctl put --help'.\n" },
		{ { "put", "12", "k", "v", "-f", "file" },
		  "betrkvctl: put: give VALUE or --value-file, not both\nTry 'betrkvctl put --help'.\n" },
		{ { "put", "12", "k", "v", "w" },
		  "betrkvctl: put: unexpected argument 'w'\nTry 'betrkvctl put --help'.\n" },
		{ { "put", "12", "k", "\\n" },
		  "betrkvctl: put: invalid escape in VALUE '\\n' (\\xNN is a byte, \\\\ a backslash)\n"
		  "Try 'betrkvctl put --help'.\n" },
		{ { "put", "12", "", "v" }, "betrkvctl: put: KEY is empty\nTry 'betrkvctl put --help'.\n" },
		{ { "scan" }, "betrkvctl: scan: missing STORE [START [END]]\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "--limit", "x" },
		  "betrkvctl: scan: invalid count 'x' for --limit\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "-n", "-1" },
		  "betrkvctl: scan: invalid count '-1' for --limit\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "-n", "1K" },
		  "betrkvctl: scan: invalid count '1K' for --limit\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "--limit=" },
		  "betrkvctl: scan: invalid count '' for --limit\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "-n", "18446744073709551616" },
		  "betrkvctl: scan: invalid count '18446744073709551616' for --limit\n"
		  "Try 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "a", "b", "c" },
		  "betrkvctl: scan: unexpected argument 'c'\nTry 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "\\xzz" },
		  "betrkvctl: scan: invalid escape in START '\\xzz' (\\xNN is a byte, \\\\ a backslash)\n"
		  "Try 'betrkvctl scan --help'.\n" },
		{ { "scan", "12", "a", "\\x" },
		  "betrkvctl: scan: invalid escape in END '\\x' (\\xNN is a byte, \\\\ a backslash)\n"
		  "Try 'betrkvctl scan --help'.\n" },
		{ { "sync" }, "betrkvctl: sync: missing STORE\nTry 'betrkvctl sync --help'.\n" },
		{ { "stats", "12", "--hex" },
		  "betrkvctl: stats: unknown option '--hex'\nTry 'betrkvctl stats --help'.\n" },
		{ { "load", "12", "a", "b" },
		  "betrkvctl: load: unexpected argument 'b'\nTry 'betrkvctl load --help'.\n" },
		{ { "load" }, "betrkvctl: load: missing STORE [FILE]\nTry 'betrkvctl load --help'.\n" },
	};
	size_t i;

	use_fake();
	fake_ret = EIO;	/* nothing may reach the module */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;
		struct run r;

		run_cli(&r, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
		EXPECT_EQ(CLI_EXIT_USAGE, r.status) TH_LOG("case %zu", i);
		EXPECT_STREQ(cases[i].err, r.err) TH_LOG("case %zu", i);
		EXPECT_STREQ("", r.out) TH_LOG("case %zu", i);
		run_free(&r);
	}
}

TEST(module_not_loaded)
{
	struct run r;

	setenv("BETRKV_CONTROL_PATH", "/nonexistent/betrkv-control", 1);
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: list: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
	run_cli(&r, "bind", "/dev/vdb", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: bind: /dev/vdb: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
	run_cli(&r, "status", "/dev/betrkv3", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: status: betrkv3: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
}

TEST(format_prints_uuid)
{
	struct run r;

	use_fake();
	run_cli(&r, "format", "/dev/vdb", "--node-size", "512K",
		"--journal-size=8MiB", "--yes", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("01234567-89ab-4def-8edc-ba9876543210\n", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(512 << 10, fake_format_seen.node_size);
	EXPECT_EQ(8 << 20, fake_format_seen.journal_size);
	run_free(&r);
	/* Options may come first; "--" ends them. */
	run_cli(&r, "format", "-y", "--", "-odd-name", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("-odd-name", (const char *)(uintptr_t)fake_format_seen.path);
	EXPECT_EQ(0, fake_format_seen.node_size);
	EXPECT_EQ(0, fake_format_seen.journal_size);
	run_free(&r);
}

TEST(format_failure)
{
	struct run r;

	use_fake();
	fake_ret = ENOSPC;
	run_cli(&r, "format", "/dev/vdb", "-y", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: format: /dev/vdb: device is too small for a store\n",
		     r.err);
	run_free(&r);
}

TEST(bind_prints_device)
{
	struct run r;

	use_fake();
	run_cli(&r, "bind", "/dev/vdb", "--read-only", "--cache", "1G", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("/dev/betrkv12\n", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(BETRKV_BIND_RDONLY, fake_bind_seen.flags);
	EXPECT_EQ(1ull << 30, fake_bind_seen.cache_bytes);
	run_free(&r);
	run_cli(&r, "bind", "-c", "32M", "/dev/vdc", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(0, fake_bind_seen.flags);
	EXPECT_EQ(0, fake_bind_seen.commit_ms);
	EXPECT_EQ(32 << 20, fake_bind_seen.cache_bytes);
	run_free(&r);
	run_cli(&r, "bind", "/dev/vdc", "--commit-ms", "250", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(BETRKV_BIND_COMMIT_MS, fake_bind_seen.flags);
	EXPECT_EQ(250, fake_bind_seen.commit_ms);
	run_free(&r);
	run_cli(&r, "bind", "/dev/vdc", "--commit-ms=0", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(BETRKV_BIND_COMMIT_MS, fake_bind_seen.flags);
	EXPECT_EQ(0, fake_bind_seen.commit_ms);
	run_free(&r);
	run_cli(&r, "bind", "/dev/vdc", "--salvage", "-r", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(BETRKV_BIND_RDONLY | BETRKV_BIND_SALVAGE, fake_bind_seen.flags);
	run_free(&r);
}

TEST(bind_failures)
{
	static const struct {
		int err;
		const char *text;
	} cases[] = {
		{ ENODATA, "no betrkv store on the device (not formatted)" },
		{ EUCLEAN, "stored data is corrupt (checksum or structure check failed)" },
		{ EBUSY, "device or store is busy (claimed by someone else, or open)" },
		{ ENOENT, "No such file or directory" },
	};
	char want[256];
	struct run r;
	size_t i;

	use_fake();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_ret = cases[i].err;
		run_cli(&r, "bind", "/dev/vdb", NULL);
		snprintf(want, sizeof(want), "betrkvctl: bind: /dev/vdb: %s\n",
			 cases[i].text);
		EXPECT_EQ(CLI_EXIT_FAIL, r.status);
		EXPECT_STREQ(want, r.err);
		EXPECT_STREQ("", r.out);
		run_free(&r);
	}
}

TEST(cmd_unbind)
{
	struct run r;

	use_fake();
	run_cli(&r, "unbind", "betrkv12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "unbind", "/dev/betrkv5", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: unbind: betrkv5: no store bound at that index\n", r.err);
	run_free(&r);
	fake_ret = EBUSY;
	run_cli(&r, "unbind", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: unbind: betrkv12: device or store is busy (claimed by someone else, or open)\n",
		     r.err);
	run_free(&r);
	/* A store whose writes had failed: unbound, but not a success. */
	fake_ret = EIO;
	run_cli(&r, "unbind", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: unbind: betrkv12: unbound, but a write or the final checkpoint had failed (Input/output error): acknowledged mutations that no sync covered may be lost\n",
		     r.err);
	run_free(&r);
}

TEST(cmd_list)
{
	struct run r;

	use_fake();
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("betrkv0    live      01234567-89ab-4def-8edc-ba9876543200 vdb\n"
		     "betrkv12   read-only 01234567-89ab-4def-8edc-ba987654320c vdc\n",
		     r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	/* A store that went away between list and status is left out... */
	fake_status_ret = ENOENT;
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	/* ...other failures are reported, and fail the command. */
	fake_status_ret = EPERM;
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: list: betrkv0: operation needs CAP_SYS_ADMIN\n"
		     "betrkvctl: list: betrkv12: operation needs CAP_SYS_ADMIN\n", r.err);
	run_free(&r);
}

TEST(cmd_status)
{
	struct run r;

	use_fake();
	run_cli(&r, "status", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "/dev/betrkv12:\n  state:               read-only\n"));
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "status", "--json", "betrkv0", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "{\"index\": 0, "));
	run_free(&r);
	run_cli(&r, "status", "4", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: status: betrkv4: no store bound at that index\n", r.err);
	run_free(&r);
}

/* ---- keys and values as text ---- */

TEST(unescape)
{
	static const struct {
		const char *text;
		const char *bytes;
		size_t len;
	} good[] = {
		{ "", "", 0 }, { "abc", "abc", 3 }, { "a b", "a b", 3 },
		{ "\\\\", "\\", 1 }, { "\\x00", "\0", 1 }, { "\\xff", "\xff", 1 },
		{ "\\xFF\\xaB", "\xff\xab", 2 }, { "a\\x09b", "a\tb", 3 },
		{ "\\\\x41", "\\x41", 4 }, { "\\x5c\\x5C", "\\\\", 2 },
		{ "\t\n\x01\xff", "\t\n\x01\xff", 4 },	/* raw bytes stay */
	};
	static const char *const bad[] = {
		"\\", "a\\", "\\n", "\\t", "\\x", "\\x1", "\\xg0", "\\x0g",
		"\\X41", "\\\\\\", "ab\\x4",
	};
	uint8_t buf[16];
	size_t len, i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = 99;
		EXPECT_EQ(0, cli_unescape(good[i].text, strlen(good[i].text),
					  buf, sizeof(buf), &len))
			TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(good[i].len, len) TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(0, memcmp(buf, good[i].bytes, good[i].len))
			TH_LOG("'%s'", good[i].text);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 99;
		EXPECT_EQ(-EINVAL, cli_unescape(bad[i], strlen(bad[i]), buf,
						sizeof(buf), &len))
			TH_LOG("'%s'", bad[i]);
		EXPECT_EQ(99, len);
	}
	/* The length bounds the text: NULs are bytes, the end is not. */
	EXPECT_EQ(0, cli_unescape("a\0b", 3, buf, sizeof(buf), &len));
	EXPECT_EQ(3, len);
	EXPECT_EQ(-EINVAL, cli_unescape("\\x41", 3, buf, sizeof(buf), &len));
	/* The room. */
	EXPECT_EQ(0, cli_unescape("\\x41\\x42", 8, buf, 2, &len));
	EXPECT_EQ(2, len);
	EXPECT_EQ(-E2BIG, cli_unescape("\\x41\\x42c", 9, buf, 2, &len));
	EXPECT_EQ(-E2BIG, cli_unescape("a", 1, buf, 0, &len));
	EXPECT_EQ(0, cli_unescape("", 0, NULL, 0, &len));
	EXPECT_EQ(0, len);
}

static char *escaped(const void *data, size_t len)
{
	size_t text_len;
	char *text;
	FILE *f = open_memstream(&text, &text_len);

	if (!f)
		abort();
	cli_print_escaped(f, data, len);
	fclose(f);
	return text;
}

TEST(escape_round_trip)
{
	uint8_t all[256], back[256];
	size_t len;
	char *text;
	int i;

	text = escaped("a b\\c\td\n\0~\x7f\x80\xff", 13);
	EXPECT_STREQ("a b\\\\c\\x09d\\x0a\\x00~\\x7f\\x80\\xff", text);
	free(text);
	for (i = 0; i < 256; i++)
		all[i] = i;
	text = escaped(all, sizeof(all));
	EXPECT_FALSE(has(text, "\t"));
	EXPECT_FALSE(has(text, "\n"));
	EXPECT_TRUE(starts_with(text, "\\x00\\x01"));
	EXPECT_TRUE(has(text, "\\x1f !\"#"));
	EXPECT_TRUE(has(text, "[\\\\]"));
	EXPECT_TRUE(has(text, "}~\\x7f\\x80"));
	ASSERT_EQ(0, cli_unescape(text, strlen(text), back, sizeof(back), &len));
	EXPECT_EQ(256, len);
	EXPECT_EQ(0, memcmp(all, back, sizeof(all)));
	free(text);
	text = escaped("", 0);
	EXPECT_STREQ("", text);
	free(text);
}

/* ---- data commands ---- */

/* A directory for BETRKV_DEVICE_DIR where betrkv12 leads to /dev/null. */
FIXTURE(store) {
	char dir[64];
	char link[96];
};

FIXTURE_SETUP(store)
{
	strcpy(self->dir, "/tmp/betrkv-test-cli-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->link, sizeof(self->link), "%s/betrkv12", self->dir);
	ASSERT_EQ(0, symlink("/dev/null", self->link));
	setenv("BETRKV_DEVICE_DIR", self->dir, 1);
	use_fake();
}

FIXTURE_TEARDOWN(store)
{
	unlink(self->link);
	rmdir(self->dir);
}

static void put_pair(const char *key, size_t key_len, const char *value,
		     size_t value_len)
{
	fake_set(key, key_len, value, value_len);
}

static bool stored(const char *key, size_t key_len, const char *value,
		   size_t value_len)
{
	struct fake_pair *p = fake_lookup(key, key_len);

	return p && p->value_len == value_len &&
	       !memcmp(p->value, value, value_len);
}

TEST_F(store, put_and_get)
{
	struct run r;

	run_cli(&r, "put", "12", "greeting", "hello world", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_TRUE(stored("greeting", 8, "hello world", 11));
	run_free(&r);
	run_cli(&r, "get", "/dev/betrkv12", "greeting", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("hello world", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "get", "betrkv12", "greeting", "--hex", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("68656c6c6f20776f726c64\n", r.out);
	run_free(&r);
	/* An empty value. */
	run_cli(&r, "put", "12", "e", "", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(stored("e", 1, "", 0));
	run_free(&r);
	run_cli(&r, "get", "12", "e", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(0, r.out_len);
	run_free(&r);
	run_cli(&r, "get", "12", "e", "--hex", NULL);
	EXPECT_STREQ("\n", r.out);
	run_free(&r);
}

TEST_F(store, binary_keys_and_values)
{
	struct run r;

	run_cli(&r, "put", "12", "k\\x00\\xff", "a\\x00b\\\\c\\x0a", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_TRUE(stored("k\0\xff", 3, "a\0b\\c\n", 6));
	run_free(&r);
	run_cli(&r, "get", "12", "k\\x00\\xFF", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	ASSERT_EQ(6, r.out_len);
	EXPECT_EQ(0, memcmp(r.out, "a\0b\\c\n", 6));
	run_free(&r);
	run_cli(&r, "get", "12", "k\\x00\\xff", "--hex", NULL);
	EXPECT_STREQ("6100625c630a\n", r.out);
	run_free(&r);
	/* A key that starts with '-' after "--", or escaped. */
	run_cli(&r, "put", "12", "--", "-k", "-v", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(stored("-k", 2, "-v", 2));
	run_free(&r);
	run_cli(&r, "get", "12", "\\x2dk", NULL);
	EXPECT_STREQ("-v", r.out);
	run_free(&r);
	/* A VALUE of "-" itself, escaped. */
	run_cli(&r, "put", "12", "dash", "\\x2d", NULL);
	EXPECT_TRUE(stored("dash", 4, "-", 1));
	run_free(&r);
}

TEST_F(store, get_large_value)
{
	static char value[BETRKV_VALUE_MAX];
	struct run r;

	memset(value, 'v', sizeof(value));
	value[0] = 0;
	put_pair("big", 3, value, 4096);
	run_cli(&r, "get", "12", "big", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(4096, r.out_len);
	EXPECT_EQ(1, fake_gets);
	run_free(&r);
	/* Over 4 KiB: asked again with the length the store gave. */
	put_pair("big", 3, value, sizeof(value));
	run_cli(&r, "get", "12", "big", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	ASSERT_EQ(sizeof(value), r.out_len);
	EXPECT_EQ(0, memcmp(r.out, value, sizeof(value)));
	EXPECT_EQ(3, fake_gets);
	run_free(&r);
}

TEST_F(store, get_failures)
{
	struct run r;

	run_cli(&r, "get", "12", "absent", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: get: betrkv12: key not found\n", r.err);
	run_free(&r);
	run_cli(&r, "get", "5", "k", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: get: betrkv5: no store bound at that index\n", r.err);
	run_free(&r);
	fake_ret = EUCLEAN;
	run_cli(&r, "get", "12", "k", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: get: betrkv12: stored data is corrupt (checksum mismatch)\n",
		     r.err);
	run_free(&r);
	fake_ret = EIO;
	run_cli(&r, "get", "12", "k", NULL);
	EXPECT_STREQ("betrkvctl: get: betrkv12: Input/output error\n", r.err);
	run_free(&r);
	/* The kernel answers for /dev/null. */
	fake_on = false;
	run_cli(&r, "get", "12", "k", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: get: betrkv12: not a betrkv store device (ioctl not supported)\n",
		     r.err);
	run_free(&r);
}

TEST_F(store, put_value_from_input)
{
	char path[] = "/tmp/betrkv-test-cli-value-XXXXXX";
	struct run r;
	int fd;

	run_cli_in(&r, "raw \\x00 text\n", "put", "12", "k", "-", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_TRUE(stored("k", 1, "raw \\x00 text\n", 14));
	run_free(&r);
	run_cli_in(&r, "from stdin", "put", "12", "k2", "--value-file", "-", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(stored("k2", 2, "from stdin", 10));
	run_free(&r);
	/* Empty standard input: an empty value. */
	run_cli(&r, "put", "12", "k3", "-", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(stored("k3", 2, "", 0));
	run_free(&r);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "f\0i\nl", 5));
	close(fd);
	run_cli(&r, "put", "12", "k4", "-f", path, NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(stored("k4", 2, "f\0i\nl", 5));
	run_free(&r);
	unlink(path);
	run_cli(&r, "put", "12", "k5", "--value-file=/nonexistent/v", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: put: /nonexistent/v: No such file or directory\n",
		     r.err);
	run_free(&r);
	EXPECT_EQ(4, fake_puts);
}

TEST_F(store, put_value_too_long)
{
	char *input = malloc(BETRKV_VALUE_MAX + 2), *arg;
	struct run r;

	ASSERT_NE(NULL, input);
	memset(input, 'v', BETRKV_VALUE_MAX + 1);
	input[BETRKV_VALUE_MAX + 1] = '\0';
	run_cli_in(&r, input, "put", "12", "k", "-", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: put: standard input: value is longer than 65536 bytes\n",
		     r.err);
	run_free(&r);
	/* The same as an argument is a usage error. */
	run_cli(&r, "put", "12", "k", input, NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("betrkvctl: put: VALUE is longer than 65536 bytes\n"
		     "Try 'betrkvctl put --help'.\n", r.err);
	run_free(&r);
	EXPECT_EQ(0, fake_puts);
	/* The largest value and key. */
	input[BETRKV_VALUE_MAX] = '\0';
	run_cli_in(&r, input, "put", "12", "k", "-", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	run_free(&r);
	arg = input + BETRKV_VALUE_MAX - BETRKV_KEY_MAX;
	run_cli(&r, "put", "12", arg, "v", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	run_free(&r);
	run_cli(&r, "get", "12", arg - 1, NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("betrkvctl: get: KEY is longer than 1024 bytes\n"
		     "Try 'betrkvctl get --help'.\n", r.err);
	run_free(&r);
	EXPECT_EQ(2, fake_puts);
	EXPECT_EQ(0, fake_gets);
	free(input);
}

TEST_F(store, mutation_failures)
{
	static const struct {
		int err;
		const char *text;
	} cases[] = {
		{ EROFS, "store is read-only" },
		{ ENOSPC, "device is full" },
		{ EIO, "Input/output error" },
		{ EUCLEAN, "stored data is corrupt (checksum mismatch)" },
	};
	char want[128];
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_ret = cases[i].err;
		run_cli(&r, "put", "12", "k", "v", NULL);
		snprintf(want, sizeof(want), "betrkvctl: put: betrkv12: %s\n",
			 cases[i].text);
		EXPECT_EQ(CLI_EXIT_FAIL, r.status);
		EXPECT_STREQ(want, r.err);
		run_free(&r);
		run_cli(&r, "del", "12", "k", NULL);
		snprintf(want, sizeof(want), "betrkvctl: del: betrkv12: %s\n",
			 cases[i].text);
		EXPECT_EQ(CLI_EXIT_FAIL, r.status);
		EXPECT_STREQ(want, r.err);
		run_free(&r);
	}
}

TEST_F(store, del)
{
	struct run r;

	put_pair("a\0", 2, "1", 1);
	put_pair("a", 1, "2", 1);
	run_cli(&r, "del", "12", "a\\x00", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(1, fake_n);
	EXPECT_TRUE(stored("a", 1, "2", 1));
	run_free(&r);
	/* Absent: no error. */
	run_cli(&r, "del", "12", "a\\x00", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(1, fake_n);
	run_free(&r);
	run_cli(&r, "del", "13", "a", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: del: betrkv13: no store bound at that index\n", r.err);
	run_free(&r);
}

/* Pairs for scans, in key order, as scan prints them. */
static void put_scan_pairs(void)
{
	put_pair("\0", 1, "", 0);
	put_pair("\0\x01", 2, "nul", 3);
	put_pair("a", 1, "1", 1);
	put_pair("a\tb", 3, "x\ny", 3);
	put_pair("b", 1, "back\\slash", 10);
	put_pair("c", 1, "\x7f\x80\xff", 3);
	put_pair("d d", 3, "sp ace", 6);
	put_pair("\xff", 1, "last", 4);
}

#define SCAN_ALL	"\\x00\t\n"					\
			"\\x00\\x01\tnul\n"				\
			"a\t1\n"					\
			"a\\x09b\tx\\x0ay\n"				\
			"b\tback\\\\slash\n"				\
			"c\t\\x7f\\x80\\xff\n"				\
			"d d\tsp ace\n"					\
			"\\xff\tlast\n"

TEST_F(store, scan)
{
	struct run r;

	put_scan_pairs();
	run_cli(&r, "scan", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ(SCAN_ALL, r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(3, fake_scans);
	run_free(&r);
	/* An empty START and END are no bounds. */
	run_cli(&r, "scan", "12", "", "", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ(SCAN_ALL, r.out);
	run_free(&r);
	run_cli(&r, "scan", "12", "a\\x09b", NULL);
	EXPECT_STREQ("a\\x09b\tx\\x0ay\n"
		     "b\tback\\\\slash\n"
		     "c\t\\x7f\\x80\\xff\n"
		     "d d\tsp ace\n"
		     "\\xff\tlast\n", r.out);
	run_free(&r);
	run_cli(&r, "scan", "12", "a", "c", NULL);
	EXPECT_STREQ("a\t1\n"
		     "a\\x09b\tx\\x0ay\n"
		     "b\tback\\\\slash\n", r.out);
	run_free(&r);
	run_cli(&r, "scan", "12", "", "\\x00\\x01", NULL);
	EXPECT_STREQ("\\x00\t\n", r.out);
	run_free(&r);
	run_cli(&r, "scan", "12", "c", "c", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	run_free(&r);
}

TEST_F(store, scan_options)
{
	struct run r;

	put_scan_pairs();
	run_cli(&r, "scan", "12", "--keys-only", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("\\x00\n\\x00\\x01\na\na\\x09b\nb\nc\nd d\n\\xff\n", r.out);
	run_free(&r);
	run_cli(&r, "scan", "12", "-n", "2", "b", NULL);
	EXPECT_STREQ("b\tback\\\\slash\nc\t\\x7f\\x80\\xff\n", r.out);
	run_free(&r);
	fake_scans = 0;
	run_cli(&r, "scan", "12", "--limit=4", "-k", NULL);
	EXPECT_STREQ("\\x00\n\\x00\\x01\na\na\\x09b\n", r.out);
	EXPECT_EQ(2, fake_scans);
	run_free(&r);
	run_cli(&r, "scan", "12", "--limit", "0", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_EQ(2, fake_scans);
	run_free(&r);
}

TEST_F(store, scan_failures)
{
	struct run r;

	put_scan_pairs();
	run_cli(&r, "scan", "12", "b", "a", NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: scan: END is below START\nTry 'betrkvctl scan --help'.\n",
		     r.err);
	run_free(&r);
	EXPECT_EQ(0, fake_scans);
	/* What was printed stays printed. */
	fake_scans_ok = 1;
	run_cli(&r, "scan", "12", "-k", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("\\x00\n\\x00\\x01\na\n", r.out);
	EXPECT_STREQ("betrkvctl: scan: betrkv12: Input/output error\n", r.err);
	run_free(&r);
	run_cli(&r, "scan", "99", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: scan: betrkv99: no store bound at that index\n", r.err);
	run_free(&r);
}

TEST_F(store, sync)
{
	struct run r;

	run_cli(&r, "sync", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("0\n", r.out);
	run_free(&r);
	put_pair("k", 1, "v", 1);
	fake_seq = 18446744073709551615ull;
	run_cli(&r, "sync", "betrkv12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("18446744073709551615\n", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	fake_ret = EIO;
	run_cli(&r, "sync", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: sync: betrkv12: Input/output error\n", r.err);
	run_free(&r);
}

TEST_F(store, stats)
{
	struct run r;

	run_cli(&r, "stats", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("puts: 1000\n"
		     "deletes: 1001\n"
		     "batches: 1002\n"
		     "gets: 1003\n"
		     "scans: 1004\n"
		     "syncs: 1005\n"
		     "checkpoints: 1006\n"
		     "seq: 1007\n"
		     "durable_seq: 1008\n"
		     "height: 1009\n"
		     "nodes: 1010\n"
		     "slots_used: 1011\n"
		     "slots_total: 1012\n"
		     "node_size: 1013\n"
		     "cache_hits: 1014\n"
		     "cache_misses: 1015\n"
		     "cache_evictions: 1016\n"
		     "cache_bytes: 1017\n"
		     "cache_used: 1018\n"
		     "cache_high_water: 1019\n"
		     "node_reads: 1020\n"
		     "node_bytes_read: 1021\n"
		     "node_writes: 1022\n"
		     "node_bytes_written: 1023\n"
		     "journal_blocks_written: 1024\n"
		     "journal_bytes_written: 1025\n"
		     "journal_flushes: 1026\n"
		     "sb_writes: 1027\n"
		     "itable_bytes_written: 1028\n"
		     "key_max: 1024\n"
		     "value_max: 65536\n"
		     "node_appends: 1029\n"
		     "writebacks: 1030\n"
		     "cp_forced: 1031\n"
		     "bloom_skips: 1032\n", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "stats", "12", "--json", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("{\"puts\": 1000, \"deletes\": 1001, \"batches\": 1002, "
		     "\"gets\": 1003, \"scans\": 1004, \"syncs\": 1005, "
		     "\"checkpoints\": 1006, \"seq\": 1007, \"durable_seq\": 1008, "
		     "\"height\": 1009, \"nodes\": 1010, \"slots_used\": 1011, "
		     "\"slots_total\": 1012, \"node_size\": 1013, "
		     "\"cache_hits\": 1014, \"cache_misses\": 1015, "
		     "\"cache_evictions\": 1016, \"cache_bytes\": 1017, "
		     "\"cache_used\": 1018, \"cache_high_water\": 1019, "
		     "\"node_reads\": 1020, \"node_bytes_read\": 1021, "
		     "\"node_writes\": 1022, \"node_bytes_written\": 1023, "
		     "\"journal_blocks_written\": 1024, "
		     "\"journal_bytes_written\": 1025, \"journal_flushes\": 1026, "
		     "\"sb_writes\": 1027, \"itable_bytes_written\": 1028, "
		     "\"key_max\": 1024, \"value_max\": 65536, "
		     "\"node_appends\": 1029, \"writebacks\": 1030, "
		     "\"cp_forced\": 1031, \"bloom_skips\": 1032}\n", r.out);
	run_free(&r);
	fake_ret = ENOTTY;
	run_cli(&r, "stats", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: stats: betrkv12: not a betrkv store device (ioctl not supported)\n",
		     r.err);
	run_free(&r);
}

/* @n lines "key<i>\tvalue<i>\n", i from 0, in a malloc'd string. */
static char *numbered_lines(int n)
{
	size_t len;
	char *text;
	FILE *f = open_memstream(&text, &len);
	int i;

	if (!f)
		abort();
	for (i = 0; i < n; i++)
		fprintf(f, "key%06d\tvalue%d\n", i, i);
	fclose(f);
	return text;
}

TEST_F(store, load_in_batches)
{
	char *input = numbered_lines(600);
	struct run r;

	ASSERT_NE(NULL, input);
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	/* 600 * 9 key bytes + 10 * 6 + 90 * 7 + 500 * 8 value bytes */
	EXPECT_STREQ("loaded 600 pairs (9.9 KiB)\n", r.out);
	EXPECT_STREQ("", r.err);	/* not a terminal: no progress */
	run_free(&r);
	EXPECT_EQ(600, fake_n);
	EXPECT_TRUE(stored("key000000", 9, "value0", 6));
	EXPECT_TRUE(stored("key000599", 9, "value599", 8));
	ASSERT_EQ(3, fake_nbatches);
	EXPECT_EQ(256, fake_batches[0]);
	EXPECT_EQ(256, fake_batches[1]);
	EXPECT_EQ(88, fake_batches[2]);
	free(input);
}

TEST_F(store, load_round_trips_scan)
{
	struct run r, l;

	put_scan_pairs();
	put_pair("\\", 1, "\t\t", 2);
	run_cli(&r, "scan", "12", NULL);
	ASSERT_EQ(CLI_EXIT_OK, r.status);
	fake_clear();
	run_cli_in(&l, r.out, "load", "12", "-", NULL);
	EXPECT_EQ(CLI_EXIT_OK, l.status);
	EXPECT_STREQ("loaded 9 pairs (46 B)\n", l.out);
	EXPECT_STREQ("", l.err);
	run_free(&l);
	EXPECT_EQ(9, fake_n);
	EXPECT_TRUE(stored("a\tb", 3, "x\ny", 3));
	EXPECT_TRUE(stored("\\", 1, "\t\t", 2));
	EXPECT_TRUE(stored("\0", 1, "", 0));
	run_cli(&l, "scan", "12", NULL);
	EXPECT_STREQ(r.out, l.out);
	run_free(&l);
	run_free(&r);
	EXPECT_EQ(1, fake_nbatches);
}

TEST_F(store, load_stops_at_malformed_line)
{
	static const struct {
		const char *line;
		const char *why;
	} cases[] = {
		{ "no tab here\n", "no TAB between key and value" },
		{ "\n", "no TAB between key and value" },
		{ "\tvalue\n", "empty key" },
		{ "k\\q\tv\n", "invalid escape (\\xNN is a byte, \\\\ a backslash)" },
		{ "k\tv\\x4\n", "invalid escape (\\xNN is a byte, \\\\ a backslash)" },
	};
	char *good = numbered_lines(300), *input, want[160];
	struct run r;
	size_t i;

	ASSERT_NE(NULL, good);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_clear();
		fake_nbatches = 0;
		ASSERT_LE(0, asprintf(&input, "%s%safter\tthe error\n", good,
				      cases[i].line));
		run_cli_in(&r, input, "load", "12", NULL);
		EXPECT_EQ(CLI_EXIT_FAIL, r.status) TH_LOG("case %zu", i);
		EXPECT_STREQ("loaded 300 pairs (4.9 KiB)\n", r.out) TH_LOG("case %zu", i);
		snprintf(want, sizeof(want),
			 "betrkvctl: load: standard input: line 301: %s\n",
			 cases[i].why);
		EXPECT_STREQ(want, r.err) TH_LOG("case %zu", i);
		/* The lines before it are loaded, none after it. */
		EXPECT_EQ(300, fake_n) TH_LOG("case %zu", i);
		EXPECT_EQ(NULL, fake_lookup("after", 5)) TH_LOG("case %zu", i);
		EXPECT_EQ(2, fake_nbatches) TH_LOG("case %zu", i);
		EXPECT_EQ(44, fake_batches[1]) TH_LOG("case %zu", i);
		run_free(&r);
		free(input);
	}
	free(good);
}

TEST_F(store, load_rejects_long_keys_and_values)
{
	char *input = malloc(BETRKV_VALUE_MAX + 16);
	struct run r;

	ASSERT_NE(NULL, input);
	memset(input, 'k', BETRKV_KEY_MAX + 1);
	strcpy(input + BETRKV_KEY_MAX + 1, "\tv\n");
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("loaded 0 pairs (0 B)\n", r.out);
	EXPECT_STREQ("betrkvctl: load: standard input: line 1: key longer than 1024 bytes\n",
		     r.err);
	run_free(&r);
	/* 65537 bytes of value, the last one escaped. */
	input[0] = 'k';
	input[1] = '\t';
	memset(input + 2, 'v', BETRKV_VALUE_MAX);
	strcpy(input + 2 + BETRKV_VALUE_MAX, "\\x00");
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: load: standard input: line 1: value longer than 65536 bytes\n",
		     r.err);
	run_free(&r);
	EXPECT_EQ(0, fake_nbatches);
	/* 65536 bytes: the largest value, on a last line without newline. */
	input[2 + BETRKV_VALUE_MAX] = '\0';
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("loaded 1 pairs (64.0 KiB)\n", r.out);
	EXPECT_EQ(BETRKV_VALUE_MAX, fake_lookup("k", 1)->value_len);
	run_free(&r);
	free(input);
}

TEST_F(store, load_splits_batches_by_bytes)
{
	size_t line_len = 4 + BETRKV_VALUE_MAX + 1, i;
	char *input = malloc(20 * line_len + 1), *p = input;
	struct run r;

	ASSERT_NE(NULL, input);
	for (i = 0; i < 20; i++, p += line_len) {
		snprintf(p, 5, "k%02zu\t", i);
		memset(p + 4, 'a' + i, BETRKV_VALUE_MAX);
		p[line_len - 1] = '\n';
	}
	*p = '\0';
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	/* 15 pairs of 65539 bytes fit in 1 MiB, 16 do not. */
	ASSERT_EQ(2, fake_nbatches);
	EXPECT_EQ(15, fake_batches[0]);
	EXPECT_EQ(5, fake_batches[1]);
	EXPECT_EQ(20, fake_n);
	EXPECT_EQ('a' + 19, fake_lookup("k19", 3)->value[BETRKV_VALUE_MAX - 1]);
	run_free(&r);
	free(input);
}

TEST_F(store, load_failures)
{
	char path[] = "/tmp/betrkv-test-cli-load-XXXXXX";
	struct run r;
	int fd;

	fake_ret = EROFS;
	run_cli_in(&r, "a\t1\nb\t2\n", "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("loaded 0 pairs (0 B)\n", r.out);
	EXPECT_STREQ("betrkvctl: load: betrkv12: store is read-only\n", r.err);
	run_free(&r);
	fake_ret = 0;
	run_cli(&r, "load", "12", "/nonexistent/pairs", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: load: /nonexistent/pairs: No such file or directory\n",
		     r.err);
	run_free(&r);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(12, write(fd, "a\t1\nb\t2\nc 3\n", 12));
	close(fd);
	run_cli(&r, "load", "12", path, NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("loaded 2 pairs (4 B)\n", r.out);
	EXPECT_TRUE(has(r.err, ": line 3: no TAB between key and value\n"));
	EXPECT_TRUE(starts_with(r.err, "betrkvctl: load: /tmp/betrkv-test-cli-load-"));
	run_free(&r);
	unlink(path);
	run_cli(&r, "load", "7", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: load: betrkv7: no store bound at that index\n", r.err);
	run_free(&r);
	/* Nothing to load. */
	fake_nbatches = 0;
	run_cli(&r, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("loaded 0 pairs (0 B)\n", r.out);
	EXPECT_EQ(0, fake_nbatches);
	run_free(&r);
}

TEST_F(store, load_no_progress_off_a_terminal)
{
	char *input = numbered_lines(100100);
	struct run r;

	ASSERT_NE(NULL, input);
	run_cli_in(&r, input, "load", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("loaded 100100 pairs (1.8 MiB)\n", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(100100, fake_n);
	EXPECT_EQ(392, fake_nbatches);
	run_free(&r);
	free(input);
}

TEST_F(store, load_progress_on_a_terminal)
{
	char *input = numbered_lines(100100), *slave, text[4096];
	char *argv[] = { "betrkvctl", "load", "12", NULL };
	struct termios tio;
	size_t out_len, len = 0;
	FILE *in, *out, *err;
	char *out_text;
	int master, status;
	ssize_t n;

	ASSERT_NE(NULL, input);
	master = posix_openpt(O_RDWR | O_NOCTTY);
	ASSERT_LE(0, master);
	ASSERT_EQ(0, grantpt(master));
	ASSERT_EQ(0, unlockpt(master));
	slave = ptsname(master);
	ASSERT_NE(NULL, slave);
	err = fopen(slave, "w");
	ASSERT_NE(NULL, err);
	ASSERT_EQ(0, tcgetattr(fileno(err), &tio));
	cfmakeraw(&tio);
	ASSERT_EQ(0, tcsetattr(fileno(err), TCSANOW, &tio));
	in = fmemopen(input, strlen(input), "r");
	out = open_memstream(&out_text, &out_len);
	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, out);
	status = betrkvctl_main(3, argv, in, out, err);
	fclose(in);
	fclose(out);
	fclose(err);
	EXPECT_EQ(CLI_EXIT_OK, status);
	EXPECT_STREQ("loaded 100100 pairs (1.8 MiB)\n", out_text);
	ASSERT_EQ(0, fcntl(master, F_SETFL, O_NONBLOCK));
	while (len < sizeof(text) - 1 &&
	       (n = read(master, text + len, sizeof(text) - 1 - len)) > 0)
		len += n;
	text[len] = '\0';
	close(master);
	/* At least the line at 100,000 pairs (each second adds one). */
	EXPECT_TRUE(starts_with(text, "\rloaded ")) TH_LOG("%s", text);
	EXPECT_TRUE(has(text, "\rloaded 100096 pairs (1.8 MiB)")) TH_LOG("%s", text);
	EXPECT_EQ('\n', text[len - 1]);
	EXPECT_EQ(len - 1, strcspn(text, "\n"));	/* one newline, the last */
	EXPECT_EQ(100100, fake_n);
	free(out_text);
	free(input);
}

/* ---- dump-super ---- */

#define IMAGE_BYTES	(64ull << 20)

FIXTURE(image) {
	char path[64];
	struct betrkv_sb sb;
};

/* The superblock a format of a 64 MiB image would write, generation @gen. */
static void image_sb(struct betrkv_sb *sb, uint64_t gen)
{
	const char *why = NULL;

	memset(sb, 0, sizeof(*sb));
	if (betrkv_layout(&sb->geo, IMAGE_BYTES, 512, 0, 0, &why))
		abort();
	sb->format_version = BETRKV_FORMAT_VERSION;
	memcpy(sb->uuid, fake_uuid, sizeof(sb->uuid));
	sb->generation = gen;
	sb->format_time = 1700000000;
}

static void write_slot(const char *path, const struct betrkv_sb *sb,
		       unsigned int slot)
{
	char blk[BETRKV_BLOCK_SIZE];
	int fd = open(path, O_WRONLY);

	betrkv_sb_encode(sb, slot, blk);
	if (fd < 0 || pwrite(fd, blk, sizeof(blk), slot * sizeof(blk)) != sizeof(blk))
		abort();
	close(fd);
}

/* Flip one bit of block @slot at byte @off. */
static void corrupt(const char *path, unsigned int slot, unsigned int off)
{
	int fd = open(path, O_RDWR);
	off_t at = (off_t)slot * BETRKV_BLOCK_SIZE + off;
	unsigned char c;

	if (fd < 0 || pread(fd, &c, 1, at) != 1)
		abort();
	c ^= 0x10;
	if (pwrite(fd, &c, 1, at) != 1)
		abort();
	close(fd);
}

static void copy_block(const char *path, unsigned int from, unsigned int to)
{
	char blk[BETRKV_BLOCK_SIZE];
	int fd = open(path, O_RDWR);

	if (fd < 0 ||
	    pread(fd, blk, sizeof(blk), from * sizeof(blk)) != sizeof(blk) ||
	    pwrite(fd, blk, sizeof(blk), to * sizeof(blk)) != sizeof(blk))
		abort();
	close(fd);
}

FIXTURE_SETUP(image)
{
	int fd;

	strcpy(self->path, "/tmp/betrkv-test-cli-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, IMAGE_BYTES));
	close(fd);
	/* As a format leaves it: slot 0 generation 1, slot 1 generation 0. */
	image_sb(&self->sb, 0);
	write_slot(self->path, &self->sb, 1);
	image_sb(&self->sb, 1);
	write_slot(self->path, &self->sb, 0);
}

FIXTURE_TEARDOWN(image)
{
	unlink(self->path);
}

static void dump(struct run *r, const char *path)
{
	run_cli(r, "dump-super", path, "--software-crc", NULL);
}


TEST_F(image, valid)
{
	char want[256];
	struct run r;

	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	snprintf(want, sizeof(want), "%s: image file, %llu bytes\ncrc32c: ",
		 self->path, IMAGE_BYTES);
	EXPECT_EQ(0, strncmp(r.out, want, strlen(want)));
	EXPECT_TRUE(has(r.out, " (software, as asked)\n"));
	EXPECT_FALSE(has(r.out, "crc32c: kcapi"));
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): valid\n"
			"  format version:      5\n"
			"  uuid:                01234567-89ab-4def-8edc-ba9876543210\n"
			"  generation:          1\n"
			"  format time:         1700000000 (2023-11-14 22:13:20 UTC)\n"
			"  device size:         67108864 (64 MiB)\n"
			"  logical block size:  512\n"
			"  node size:           262144 (256 KiB)\n"
			"  journal:             offset 8192, size 4194304 (4 MiB)\n"));
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): valid\n"));
	EXPECT_TRUE(has(r.out, "  generation:          0\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint seq:      0\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint itable:   slot 0, 0 bytes, crc32c 0x00000000\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"device check: geometry matches\n"));
	run_free(&r);
}

TEST_F(image, newest_is_slot_1)
{
	struct run r;

	image_sb(&self->sb, 7);
	self->sb.cp.seq = 99;
	self->sb.cp.root = 3;
	self->sb.cp.next_node_id = 10;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 1 (generation 7)\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint seq:      99\n"));
	EXPECT_TRUE(has(r.out, "  root node:           3\n"));
	EXPECT_TRUE(has(r.out, "  next node id:        10\n"));
	run_free(&r);
}

TEST_F(image, tie_goes_to_slot_0)
{
	struct run r;

	image_sb(&self->sb, 1);
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	EXPECT_FALSE(has(r.out, "warning"));
	run_free(&r);
}

TEST_F(image, copies_of_different_stores)
{
	struct run r;

	image_sb(&self->sb, 0);
	self->sb.uuid[0] ^= 1;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"warning: the two copies belong to different stores\n"));
	run_free(&r);
}

TEST_F(image, one_copy_corrupt)
{
	struct run r;

	corrupt(self->path, 0, 100);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: checksum mismatch\n"
			"copy 1 (block 1): valid\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 1 (generation 0)\n"));
	run_free(&r);
}

TEST_F(image, copy_in_the_wrong_slot)
{
	struct run r;

	/* A valid slot-0 block written to block 1 (a misdirected write). */
	copy_block(self->path, 0, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): invalid: "));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	run_free(&r);
}

TEST_F(image, both_copies_corrupt)
{
	char want[256];
	struct run r;

	corrupt(self->path, 0, 40);
	corrupt(self->path, 1, 4000);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: checksum mismatch\n"
			"copy 1 (block 1): invalid: checksum mismatch\n"
			"newest: none\n"));
	snprintf(want, sizeof(want), "betrkvctl: dump-super: %s: no valid superblock copy\n",
		 self->path);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, zeroed)
{
	char want[256];
	struct run r;
	int fd = open(self->path, O_WRONLY | O_TRUNC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, IMAGE_BYTES));
	close(fd);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: no betrkv superblock magic\n"
			"copy 1 (block 1): invalid: no betrkv superblock magic\n"
			"newest: none\n"));
	snprintf(want, sizeof(want), "betrkvctl: dump-super: %s: no betrkv superblock (not formatted)\n",
		 self->path);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, short_file)
{
	struct run r;

	ASSERT_EQ(0, truncate(self->path, 100));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: short read (100 of 4096 bytes)\n"
			"copy 1 (block 1): invalid: short read (0 of 4096 bytes)\n"
			"newest: none\n"));
	EXPECT_TRUE(has(r.err, ": no valid superblock copy\n"));
	run_free(&r);
	ASSERT_EQ(0, truncate(self->path, 0));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "copy 0 (block 0): invalid: short read (0 of 4096 bytes)\n"));
	run_free(&r);
}

TEST_F(image, truncated_after_slot_0)
{
	struct run r;

	/* Slot 0 intact, slot 1 cut short, the geometry no longer fits. */
	ASSERT_EQ(0, truncate(self->path, 6000));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): valid\n"));
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): invalid: short read (1904 of 4096 bytes)\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"device check: mismatch: device size differs from the one the store was formatted on\n"));
	run_free(&r);
}

TEST_F(image, newer_format_version)
{
	char want[256];
	struct run r;

	image_sb(&self->sb, 5);
	self->sb.format_version = BETRKV_FORMAT_VERSION + 1;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	snprintf(want, sizeof(want),
		 "\ncopy 1 (block 1): intact, generation 5, but format version %u is not this tool's\n"
		 "newest: copy 1 (generation 5)\n", BETRKV_FORMAT_VERSION + 1);
	EXPECT_TRUE(has(r.out, want));
	snprintf(want, sizeof(want),
		 "betrkvctl: dump-super: %s: the newest copy has format version %u, not this tool's\n",
		 self->path, BETRKV_FORMAT_VERSION + 1);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, crc_backend)
{
	struct run r;

	/* The kernel's crc32c where AF_ALG offers it, else software. */
	run_cli(&r, "dump-super", self->path, NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncrc32c: kcapi\n") ||
		    has(r.out, " (software: kernel crypto API unavailable: "));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	run_free(&r);
	dump(&r, self->path);
	EXPECT_FALSE(has(r.out, "crc32c: kcapi"));
	run_free(&r);
}

TEST_F(image, formatted_by_the_core)
{
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	char uuid[CLI_UUID_LEN], want[128];
	struct run r;

	ASSERT_EQ(0, betrkv_user_dev_open(self->path, false, false, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 512 << 10, 2 << 20, &sb));
	betrkv_user_dev_close(dev);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	snprintf(want, sizeof(want), "  uuid:                %s\n",
		 cli_format_uuid(sb.uuid, uuid));
	EXPECT_TRUE(has(r.out, want));
	EXPECT_TRUE(has(r.out, "  node size:           524288 (512 KiB)\n"));
	EXPECT_TRUE(has(r.out, "  journal:             offset 8192, size 2097152 (2 MiB)\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\ndevice check: geometry matches\n"));
	run_free(&r);
}

TEST(dump_super_bad_paths)
{
	struct run r;

	dump(&r, "/nonexistent/image");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: dump-super: /nonexistent/image: No such file or directory\n",
		     r.err);
	run_free(&r);
	dump(&r, "/tmp");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: dump-super: /tmp: not a block device or regular file\n",
		     r.err);
	run_free(&r);
	dump(&r, "/dev/null");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: dump-super: /dev/null: not a block device or regular file\n",
		     r.err);
	run_free(&r);
}

TEST_HARNESS_MAIN
